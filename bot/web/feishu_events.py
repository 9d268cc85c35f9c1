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
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from flask import Blueprint, Response, jsonify, request
from lark_oapi.core.utils import AESCipher
from redis import DataError, OutOfMemoryError, RedisError
from werkzeug.exceptions import HTTPException

from bot.config import Settings
from bot.i18n import t
from bot.parsing.normalize import IME_SLASH, SLASHES
from bot.permissions import Access, Press
from bot.store.ingress import InboxFull, Ingress
from bot.web import safe_json

if TYPE_CHECKING:
    from bot.web.app import WebMetrics

log = logging.getLogger(__name__)

MESSAGE_EVENT = "im.message.receive_v1"
CARD_EVENT = "card.action.trigger"
TS_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"
MAX_ID_LEN = 128  # ids become Redis key names; Feishu's are ~32-40 chars
MAX_UNSIGNED_BYTES = 4096
"""An unsigned body (with an Encrypt Key set) can only be a challenge, ~100-250 bytes."""
MAX_CHALLENGE_LEN = 512
BOT_ID_CACHE_SECONDS = 300.0
COMMAND_MARKS = SLASHES + IME_SLASH

_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_LEN}}}")  # printable ASCII, no spaces
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

SUCCESS = {"msg": "success"}


def _toast(kind: str, code: str, lang: str, *, name: str = "") -> dict[str, Any]:
    """A toast (`toast.<code>` of the catalogue) in the button's language, plus both languages so
    the client can pick its own."""

    def render(in_lang: str) -> str:
        if code == "not_owner":
            return t("toast.not_owner", in_lang, name=name or t("toast.requester", in_lang))
        return t(f"toast.{code}", in_lang)

    en, zh = render("en"), render("zh")
    return {"toast": {
        "type": kind,
        "content": zh if lang == "zh" else en,
        "i18n": {"zh_cn": zh, "en_us": en},
    }}


@dataclass(frozen=True)
class Refusal:
    """Why a request is turned away (4xx); `reason` is a metric label and a log word."""

    status: int
    reason: str


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.refusal = Refusal(status, reason)


def _valid_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _mention_open_id(mention: Mapping[str, Any]) -> str:
    """Events carry ``id`` as an object of ids; API responses as a string (feishu-api.md §1.3)."""
    ident = mention.get("id")
    if isinstance(ident, dict):
        ident = ident.get("open_id")
    return ident if isinstance(ident, str) else ""


def _is_oom(exc: RedisError) -> bool:
    return isinstance(exc, OutOfMemoryError) or str(exc).startswith("OOM")


class FeishuWebhook:
    """One app's webhook: verification, parsing, filtering, and one `Ingress` call."""

    def __init__(self, settings: Settings, ingress: Ingress, metrics: WebMetrics) -> None:
        self._encrypt_key = settings.feishu_encrypt_key.get_secret_value()
        self._token = settings.feishu_verification_token.get_secret_value()
        self._max_skew = settings.feishu_max_skew
        self._inbox_max = settings.inbox_max
        self._access = Access(admins=settings.admin_ids, allowlist=settings.allowlist_ids)
        self._ingress = ingress
        self._metrics = metrics
        self._cipher = AESCipher(self._encrypt_key) if self._encrypt_key else None
        self._bot_id: str | None = None
        self._bot_id_until = 0.0

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
        except _Refused as exc:
            return self._refuse(exc.refusal)

    def _refuse(self, refusal: Refusal) -> Response:
        self._metrics.rejected.labels(refusal.reason).inc()
        log.warning("feishu: refused %s (%s) from %s", refusal.status, refusal.reason, request.remote_addr)
        return _json({"msg": refusal.reason}, refusal.status)

    def _answer(self, outcome: str, body: Mapping[str, Any] = SUCCESS) -> Response:
        self._metrics.events.labels(outcome).inc()
        return _json(body, 200)

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
        doc = _parse(body)
        if "encrypt" not in doc:
            return doc
        encrypted = doc["encrypt"]
        if not isinstance(encrypted, str) or not encrypted or self._cipher is None:
            raise _Refused(400, "undecryptable")
        try:
            plaintext = self._cipher.decrypt_str(encrypted)
        except Exception:  # binascii.Error, ValueError (length, padding), UnicodeDecodeError
            raise _Refused(400, "undecryptable") from None
        return _parse(plaintext)

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
        header = doc.get("header")
        if not isinstance(schema, str) or not isinstance(header, dict):
            return self._refuse(Refusal(400, "malformed"))
        if not self._token_ok(header.get("token"), signed=signed):
            return self._refuse(Refusal(401, "bad_token"))
        event_type = header.get("event_type")
        if event_type == MESSAGE_EVENT:
            return self._message(doc, header)
        if event_type == CARD_EVENT:
            return self._card(doc, header)
        if not isinstance(event_type, str):
            return self._refuse(Refusal(400, "malformed"))
        # Authentic but not a type we subscribe to: 200, or Feishu retries it for 7 hours.
        shown = event_type if _EVENT_TYPE.fullmatch(event_type) else "(unusual name)"
        log.info("feishu: ignored event type %s", shown)
        return self._answer("ignored")

    def _message(self, doc: Mapping[str, Any], header: Mapping[str, Any]) -> Response:
        """im.message.receive_v1 → one inbox entry (kind "message"), if it is for the bot."""
        event = _dict(doc.get("event"))
        message = _dict(event.get("message"))
        event_id, message_id = header.get("event_id"), message.get("message_id")
        if not _valid_id(event_id) or not _valid_id(message_id):
            return self._refuse(Refusal(400, "malformed"))
        sender = event.get("sender")
        if not isinstance(sender, dict) or sender.get("sender_type") != "user":
            # Our own replies (and other bots') must never become requests: no loops.
            return self._answer("dropped")
        if message.get("chat_type") != "p2p" and not self._addressed(message):
            return self._answer("unaddressed")
        payload = _stored(doc, header)
        return self._enqueue(lambda: self._ingress.accept_event(event_id, message_id, "message", payload),
                             SUCCESS)

    def _addressed(self, message: Mapping[str, Any]) -> bool:
        """Whether a group message is for the bot: it @mentions the bot (feishu-api.md §1.3, §1.5).

        The bot's open_id is what the workers cached from GET /bot/v3/info. Until they
        have, keep any message that mentions someone or holds a slash: the worker's
        parser makes the final call, and losing a command is worse than storing a chat line.
        """
        raw = message.get("mentions")
        mentions = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
        bot_id = self._bot_open_id()
        if bot_id:
            return any(_mention_open_id(m) == bot_id for m in mentions)
        if mentions:
            return True
        content = message.get("content")
        return isinstance(content, str) and any(mark in content for mark in COMMAND_MARKS)

    def _bot_open_id(self) -> str | None:
        now = time.monotonic()
        if self._bot_id and now < self._bot_id_until:
            return self._bot_id
        try:
            found = self._ingress.bot_open_id()
        except RedisError:
            return None  # the enqueue that follows will fail too, and answer 503
        if found:
            self._bot_id, self._bot_id_until = found, now + BOT_ID_CACHE_SECONDS
        return found

    def _card(self, doc: Mapping[str, Any], header: Mapping[str, Any]) -> Response:
        """card.action.trigger → toast within 3 s; only the requester (or an admin) may act.

        Our buttons carry ``{"a": action, "rid": request id, "owner": open_id,
        "lang": "zh"|"en"}`` (optionally ``"owner_name"`` for the refusal text).
        Clicks are always kept (no chat filter): they only ever come from our cards.
        """
        event_id = header.get("event_id")
        if not _valid_id(event_id):
            return self._refuse(Refusal(400, "malformed"))
        event = _dict(doc.get("event"))
        value = _dict(event.get("action")).get("value")
        operator = _dict(event.get("operator")).get("open_id")
        if not isinstance(operator, str):
            operator = None
        if not isinstance(value, dict):
            value = {}
        lang = "zh" if value.get("lang") == "zh" else "en"
        if not (_valid_id(value.get("a")) and _valid_id(value.get("rid")) and _valid_id(value.get("owner"))):
            return self._answer("refused", _toast("error", "stale_button", lang))
        chat = _dict(event.get("context")).get("open_chat_id")
        verdict = self._access.may_press(operator, chat if isinstance(chat, str) else None, value["owner"])
        if verdict == Press.NOT_ALLOWED:
            return self._answer("refused", _toast("error", "not_allowed", lang))
        if verdict == Press.NOT_OWNER:
            name = value.get("owner_name")
            if isinstance(name, str) and 0 < len(name) <= 64:
                return self._answer("refused", _toast("error", "not_owner", lang, name=name))
            return self._answer("refused", _toast("error", "not_owner", lang))
        payload = _stored(doc, header)
        return self._enqueue(lambda: self._ingress.accept_card_action(event_id, payload),
                             _toast("info", "working", lang))

    def _enqueue(self, accept: Callable[[], bool], ok: Mapping[str, Any]) -> Response:
        """One Ingress call → 200 (accepted/duplicate), or 503 when Redis cannot take it now."""
        try:
            fresh = accept()
        except InboxFull:
            self._metrics.deferred.labels("inbox_full").inc()
            log.warning("feishu: inbox full (%d unprocessed entries, BOT_INBOX_MAX): answering 503, "
                        "Feishu redelivers later; are the workers running?", self._inbox_max)
            return _json({"msg": "busy, retry later"}, 503)
        except DataError:
            raise  # a bug of ours (a value Redis cannot take), not an outage: see view()
        except RedisError as exc:
            self._metrics.errors.labels("feishu").inc()
            if _is_oom(exc):
                self._metrics.deferred.labels("redis_oom").inc()
                log.error("feishu: Redis is out of memory (maxmemory reached, noeviction refuses writes): "
                          "answering 503, Feishu redelivers later; free memory or raise maxmemory")
            else:
                self._metrics.deferred.labels("redis_error").inc()
                log.error("feishu: could not enqueue (%s); answering 503 so Feishu redelivers",
                          type(exc).__name__)
            return _json({"msg": "temporarily unavailable, retry later"}, 503)
        return self._answer("accepted" if fresh else "duplicate", ok)


def _parse(data: bytes | str) -> dict[str, Any]:
    try:
        doc = safe_json.loads(data)
    except safe_json.BadJson as exc:
        raise _Refused(400, "too_deep" if "deep" in exc.reason else "bad_body") from None
    if not isinstance(doc, dict):
        raise _Refused(400, "bad_body")
    return doc


def _stored(doc: Mapping[str, Any], header: Mapping[str, Any]) -> dict[str, Any]:
    """What the inbox keeps: the envelope, minus the verification token (a secret)."""
    return {"schema": doc.get("schema"), "header": {k: v for k, v in header.items() if k != "token"},
            "event": doc.get("event")}


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
