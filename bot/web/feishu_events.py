"""POST /feishu/events: the Feishu webhook. Verify first, parse second, hand off through Redis.

Every request goes through the same steps, and nothing is parsed before it is authenticated:

1. **Size**: the WSGI server (waitress/gunicorn) and Flask cap the body at
   ``max_body_bytes`` (413).
2. **Signature** (with an Encrypt Key): the three ``X-Lark-*`` headers, then
   ``sha256(timestamp + nonce + encrypt_key + raw body)`` compared in constant time on
   the raw bytes, then the timestamp's freshness (the SDK never checks it, so a captured
   delivery could be replayed forever). A body without those headers can only be the
   ``url_verification`` challenge, which Feishu sends unsigned: it is parsed only if it is
   small (``MAX_UNSIGNED_BYTES``) and shallow, and answered only if it is one.
3. **Parse** with `safe_json` (nesting ≤ 64 checked before ``json.loads``, finite numbers
   only, lone surrogates → U+FFFD), decrypt ``{"encrypt": …}`` with lark-oapi's
   AESCipher, parse the plaintext the same way.
4. **Token** (constant time), then route on ``header.event_type``.

Then `bot.web.intake` (shared with the long connection, ``FEISHU_CONNECTION=websocket``)
filters, deduplicates through `Ingress` and picks the answer; this module maps it to HTTP.
lark-oapi's `EventDispatcherHandler` is not used for requests: it parses (recursively,
unbounded) before it verifies, and answers every failure with HTTP 500, which Feishu
retries for hours.

=====================================================  ======  ==========================
situation                                              status  Feishu then
=====================================================  ======  ==========================
challenge (plain or encrypted, right token)            200     saves the URL
event accepted / duplicate                             200     stops
message from a bot, or a group message not for us      200     stops (counted, not stored)
event type we do not handle                            200     stops (counted, logged)
card click                                             200     shows the toast
body not JSON/UTF-8, too deep, undecryptable, bad ids  400     (would retry; it is junk)
missing signature headers, bad signature/token, stale  401     (would retry; it is forged)
body over ``max_body_bytes``                           413
inbox full, Redis down or out of memory                503     redelivers later: nothing lost
=====================================================  ======  ==========================

A refused request never reaches Redis, and the verification token is stripped from what
is stored. Logs carry the outcome and reason only: never a header value or a body.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request
from lark_oapi.core.utils import AESCipher
from werkzeug.exceptions import HTTPException

from bot.config import Settings
from bot.store.ingress import Ingress
from bot.web.intake import (
    SUCCESS,
    Answer,
    Deferred,
    FeishuIntake,
    Refusal,
    Refused,
    envelope_header,
    parse_envelope,
)

if TYPE_CHECKING:
    from bot.web.metrics import WebMetrics

log = logging.getLogger(__name__)

TS_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"
MAX_UNSIGNED_BYTES = 4096
"""An unsigned body (with an Encrypt Key set) can only be a challenge, ~100-250 bytes."""
MAX_CHALLENGE_LEN = 512

_DEFERRED_ANSWERS = {"inbox_full": "busy, retry later"}


class FeishuWebhook:
    """One app's webhook: verification, parsing, filtering, and one `Ingress` call."""

    def __init__(self, settings: Settings, ingress: Ingress, metrics: WebMetrics) -> None:
        self._encrypt_key = settings.feishu_encrypt_key.get_secret_value()
        self._token = settings.feishu_verification_token.get_secret_value()
        self._max_skew = settings.feishu_max_skew
        self._intake = FeishuIntake(settings, ingress, metrics)
        self._metrics = metrics
        self._cipher = AESCipher(self._encrypt_key) if self._encrypt_key else None

    # --- the view ------------------------------------------------------------------------------

    def view(self) -> Response:
        started = time.perf_counter()
        try:
            return self._handle()
        except HTTPException:
            raise  # 413 and friends: Flask's handlers answer them
        except Exception:
            # A bug of ours met by some input. 400, not 500: a 5xx makes Feishu redeliver
            # the same body for hours. The traceback (secrets redacted) says what to fix.
            log.exception("feishu: unexpected failure while handling a delivery; refused with 400")
            return self._refuse(Refusal(400, "internal"))
        finally:
            self._metrics.latency.labels("feishu").observe(time.perf_counter() - started)

    def _handle(self) -> Response:
        body = request.get_data(cache=False)  # over max_body_bytes: RequestEntityTooLarge → 413
        signed = False
        if self._encrypt_key:
            ts = request.headers.get(TS_HEADER)
            nonce = request.headers.get(NONCE_HEADER)
            sig = request.headers.get(SIGNATURE_HEADER)
            if ts and nonce and sig:
                refusal = self._verify_signature(body, ts, nonce, sig)
                if refusal is not None:
                    return self._refuse(refusal)
                signed = True
            elif ts or nonce or sig or len(body) > MAX_UNSIGNED_BYTES:
                return self._refuse(Refusal(401, "unsigned"))
        try:
            doc = self._open(body)
            if doc.get("type") == "url_verification":
                return self._challenge(doc)
            if self._encrypt_key and not signed:
                return self._refuse(Refusal(401, "unsigned"))
            return self._event(doc, signed)
        except Refused as exc:
            return self._refuse(exc.refusal)
        except Deferred as exc:  # nothing written: Feishu redelivers a 503 later
            return _json({"msg": _DEFERRED_ANSWERS.get(exc.reason, "temporarily unavailable, retry later")}, 503)

    def _refuse(self, refusal: Refusal) -> Response:
        self._metrics.rejected.labels(refusal.reason).inc()
        log.warning("feishu: refused %s (%s) from %s", refusal.status, refusal.reason, request.remote_addr)
        return _json({"msg": refusal.reason}, refusal.status)

    def _answer(self, outcome: str, body: Mapping[str, Any] = SUCCESS) -> Response:
        return _respond(self._intake.answer(outcome, body))

    # --- verification --------------------------------------------------------------------------

    def _verify_signature(self, body: bytes, ts: str, nonce: str, sig: str) -> Refusal | None:
        """feishu-api.md §2.2: hex(sha256(utf8(ts + nonce + encrypt_key) + raw body)), on the raw bytes."""
        expected = hashlib.sha256((ts + nonce + self._encrypt_key).encode("utf-8", "replace") + body).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), sig.encode("latin-1", "replace")):
            return Refusal(401, "bad_signature")
        return self._check_timestamp(ts)

    def _check_timestamp(self, ts: str) -> Refusal | None:
        try:
            sent = float(ts)
        except (ValueError, OverflowError):
            return Refusal(401, "bad_timestamp")
        if sent > 1e11:  # milliseconds (the docs do not pin the unit; seconds observed)
            sent /= 1000.0
        if not abs(time.time() - sent) <= self._max_skew:  # also catches nan and inf
            return Refusal(401, "stale")
        return None

    def _token_ok(self, token: object, *, signed: bool) -> bool:
        """The verification token, compared in constant time.

        Signed requests are already authenticated: there the token is checked when
        present (as lark-oapi does). Unsigned ones (token-only mode, the challenge)
        must carry it whenever one is configured.
        """
        if not self._token:
            return True  # key-only mode: the signature (or the decryption) authenticates
        if token is None and signed:
            return True
        return isinstance(token, str) and hmac.compare_digest(
            token.encode("utf-8", "replace"), self._token.encode("utf-8"))

    # --- parsing -------------------------------------------------------------------------------

    def _open(self, body: bytes) -> dict[str, Any]:
        """The envelope as a dict: parsed, decrypted when ``{"encrypt": …}``, parsed again."""
        doc = parse_envelope(body)
        if "encrypt" not in doc:
            return doc
        encrypted = doc["encrypt"]
        if not isinstance(encrypted, str) or not encrypted or self._cipher is None:
            raise Refused(400, "undecryptable")
        try:
            plaintext = self._cipher.decrypt_str(encrypted)
        except Exception:  # binascii.Error, ValueError (length, padding), UnicodeDecodeError
            raise Refused(400, "undecryptable") from None
        return parse_envelope(plaintext)

    # --- routing -------------------------------------------------------------------------------

    def _challenge(self, doc: Mapping[str, Any]) -> Response:
        """url_verification (§1.1): echo ``challenge`` if the token is ours."""
        if not self._token_ok(doc.get("token"), signed=False):
            return self._refuse(Refusal(401, "bad_token"))
        challenge = doc.get("challenge")
        if not isinstance(challenge, str) or not 0 < len(challenge) <= MAX_CHALLENGE_LEN:
            return self._refuse(Refusal(400, "bad_challenge"))
        return self._answer("challenge", {"challenge": challenge})

    def _event(self, doc: dict[str, Any], signed: bool) -> Response:
        schema = doc.get("schema")
        if schema is None:
            # Schema 1.0 (``uuid``, top-level ``token``) or a legacy card body: not handled.
            if not self._token_ok(doc.get("token"), signed=signed):
                return self._refuse(Refusal(401, "bad_token"))
            if isinstance(doc.get("uuid"), str):
                log.info("feishu: ignored a schema 1.0 event")
                return self._answer("ignored")
            return self._refuse(Refusal(400, "invalid"))
        header = envelope_header(doc)
        if not self._token_ok(header.get("token"), signed=signed):
            return self._refuse(Refusal(401, "bad_token"))
        return _respond(self._intake.route(doc, header))


def _respond(answer: Answer) -> Response:
    return _json(answer.body, 200)


def _json(body: Mapping[str, Any], status: int) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    return resp


def feishu_blueprint(settings: Settings, ingress: Ingress, metrics: WebMetrics) -> Blueprint:
    """A fresh blueprint per app, bound to that app's ingress and metrics."""
    hook = FeishuWebhook(settings, ingress, metrics)
    bp = Blueprint("feishu", __name__)
    bp.add_url_rule("/feishu/events", "events", hook.view, methods=["POST"])
    return bp
