"""POST /feishu/events: the Feishu webhook, a thin adapter between Flask, lark-oapi and `Ingress`.

lark-oapi does the cryptography (AES decrypt, SHA-256 signature, token,
url_verification). This module adds what the SDK leaves out and maps its
single "HTTP 500 for everything" onto answers Feishu and operators can act on:

=====================================================  ======  ==========================
situation                                              status  Feishu then
=====================================================  ======  ==========================
challenge (plain or encrypted)                         200     saves the URL
event accepted / duplicate / bot sender dropped        200     stops
event type we do not handle                            200     stops (logged)
card click                                             200     shows the toast
body not JSON/undecryptable/unparseable, no event id  400     (would retry; it is junk)
missing signature headers, bad signature/token, stale  401     (would retry; it is forged)
body over ``max_body_bytes``                           413
our failure (Redis down while enqueueing)              503     redelivers later: nothing lost
=====================================================  ======  ==========================

A refused request never reaches Redis. Processors do only: pick the ids, one
`Ingress` call, return. The SDK turns every exception into 500, so a processor
records its own failure in `flask.g` and the view translates.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

import lark_oapi as lark
from flask import Blueprint, Response, g, jsonify, request
from lark_oapi.adapter.flask import parse_req
from lark_oapi.core.utils import AESCipher
from lark_oapi.event.callback.model.p2_card_action_trigger import (
    P2CardActionTrigger,
    P2CardActionTriggerResponse,
)
from lark_oapi.event.custom import CustomizedEvent
from redis import RedisError

from bot.config import Settings
from bot.store.ingress import Ingress

if TYPE_CHECKING:
    from bot.web.app import WebMetrics

log = logging.getLogger(__name__)

MESSAGE_EVENT = "im.message.receive_v1"
TS_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"
MAX_ID_LEN = 128  # ids become Redis key names; Feishu's are ~32-40 chars

_OUTCOME = "feishu_outcome"  # flask.g attribute a processor sets

TOASTS: dict[str, tuple[str, str]] = {
    # code: (English, Chinese)
    "working": ("Working on it…", "处理中…"),
    "not_owner": ("Only {name} can use these buttons.", "只有{name}可以使用这些按钮。"),
    "requester": ("the person who made this request", "发起这个请求的人"),
    "stale_button": ("This button no longer works.", "这个按钮已失效。"),
}


def _toast(kind: str, code: str, lang: str, **params: str) -> P2CardActionTriggerResponse:
    """A toast in the button's language, plus both languages so the client can pick its own."""
    en, zh = TOASTS[code]
    if code == "not_owner":
        en = en.format(name=params.get("name") or TOASTS["requester"][0])
        zh = zh.format(name=params.get("name") or TOASTS["requester"][1])
    return P2CardActionTriggerResponse({"toast": {
        "type": kind,
        "content": zh if lang == "zh" else en,
        "i18n": {"zh_cn": zh, "en_us": en},
    }})


@dataclass(frozen=True)
class Refusal:
    """Why a request is turned away before (or by) the SDK."""

    status: int
    reason: str


def _valid_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LEN


class FeishuWebhook:
    """One app's webhook: the lark dispatcher plus the checks the SDK lacks."""

    def __init__(self, settings: Settings, ingress: Ingress, metrics: WebMetrics) -> None:
        self._encrypt_key = settings.feishu_encrypt_key.get_secret_value()
        self._max_skew = settings.feishu_max_skew
        self._admins = settings.admin_ids
        self._ingress = ingress
        self._metrics = metrics
        self._cipher = AESCipher(self._encrypt_key) if self._encrypt_key else None
        self._handler = (
            lark.EventDispatcherHandler.builder(
                self._encrypt_key, settings.feishu_verification_token.get_secret_value()
            )
            # Raw dict, not the typed model: typed models drop fields they do not declare.
            .register_p2_customized_event(MESSAGE_EVENT, self.on_message)
            .register_p2_card_action_trigger(self.on_card)
            .build()
        )

    # --- the view ------------------------------------------------------------------------------

    def view(self) -> Response:
        started = time.perf_counter()
        try:
            return self._handle()
        finally:
            self._metrics.latency.labels("feishu").observe(time.perf_counter() - started)

    def _handle(self) -> Response:
        body = request.get_data(cache=True)  # cached, so parse_req() sees the same raw bytes
        refusal = self._precheck(body)
        if refusal is not None:
            return self._refuse(refusal)
        setattr(g, _OUTCOME, None)
        raw = self._handler.do(parse_req())
        outcome: str | None = getattr(g, _OUTCOME, None)
        content = raw.content or b""

        if outcome == "error":
            self._metrics.errors.labels("feishu").inc()
            return _json({"msg": "temporarily unavailable, retry later"}, 503)
        if outcome == "malformed":
            return self._refuse(Refusal(400, "malformed"))
        if raw.status_code == 200:
            self._metrics.events.labels(outcome or "challenge").inc()
            return Response(content, status=200, mimetype="application/json")
        return self._translate_sdk_failure(content)

    def _translate_sdk_failure(self, content: bytes) -> Response:
        """The SDK answered 500 and no processor of ours ran: unknown type, or verification failed."""
        try:
            message = str(json.loads(content).get("msg", ""))
        except (ValueError, AttributeError):
            message = ""
        if message.startswith("processor not found"):
            # Authentic (the signature was checked first) but not a type we subscribe to.
            # 200 so Feishu does not retry it for 7 hours.
            log.info("feishu: ignored event: %s", message)
            self._metrics.events.labels("ignored").inc()
            return _json({"msg": "success"}, 200)
        if "signature" in message:
            return self._refuse(Refusal(401, "bad_signature"))
        if "verification_token" in message:
            return self._refuse(Refusal(401, "bad_token"))
        return self._refuse(Refusal(400, "invalid"))

    def _refuse(self, refusal: Refusal) -> Response:
        self._metrics.rejected.labels(refusal.reason).inc()
        log.warning("feishu: refused %s (%s) from %s", refusal.status, refusal.reason, request.remote_addr)
        return _json({"msg": refusal.reason}, refusal.status)

    # --- checks the SDK does not make ---------------------------------------------------------

    def _precheck(self, body: bytes) -> Refusal | None:
        """Cheap checks first: JSON shape, signature headers present, timestamp fresh.

        With an encrypt key every event is signed, so a missing header means
        forged — except the url_verification challenge, which Feishu sends
        unsigned and wants echoed within 1 s. The SDK never checks freshness,
        so without the skew check a captured delivery could be replayed forever.
        """
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Refusal(400, "bad_body")
        if not isinstance(doc, dict):
            return Refusal(400, "bad_body")
        if not self._encrypt_key:
            return None  # token-only mode: the SDK checks header.token
        ts = request.headers.get(TS_HEADER)
        nonce = request.headers.get(NONCE_HEADER)
        sig = request.headers.get(SIGNATURE_HEADER)
        if not (ts and nonce and sig):
            challenge = self._is_challenge(doc)
            if challenge is None:
                return Refusal(400, "undecryptable")
            return None if challenge else Refusal(401, "unsigned")
        return self._check_timestamp(ts)

    def _check_timestamp(self, ts: str) -> Refusal | None:
        try:
            sent = float(ts)
        except ValueError:
            return Refusal(401, "bad_timestamp")
        if sent > 1e11:  # milliseconds (the docs do not pin the unit; seconds observed)
            sent /= 1000.0
        if not abs(time.time() - sent) <= self._max_skew:  # also catches nan
            return Refusal(401, "stale")
        return None

    def _is_challenge(self, doc: Mapping[str, Any]) -> bool | None:
        """Whether an unsigned body is a url_verification; None if it cannot be decrypted.

        Decrypts with the SDK's own AESCipher only to classify; the SDK decrypts
        again and does the real verification (token) itself.
        """
        encrypted = doc.get("encrypt")
        if encrypted is None:
            return doc.get("type") == "url_verification"
        if not isinstance(encrypted, str) or self._cipher is None:
            return None
        try:
            inner = json.loads(self._cipher.decrypt_str(encrypted))
        except Exception:  # binascii.Error, ValueError (padding), UnicodeDecodeError
            return None
        return isinstance(inner, dict) and inner.get("type") == "url_verification"

    # --- processors (run inside handler.do, in the request thread) ---------------------------

    def on_message(self, data: CustomizedEvent) -> None:
        """im.message.receive_v1 → one inbox entry (kind "message"), unless seen or sent by a bot."""
        header = data.header
        event = data.event if isinstance(data.event, dict) else {}
        event_id = getattr(header, "event_id", None)
        message = event.get("message")
        message_id = message.get("message_id") if isinstance(message, dict) else None
        if not _valid_id(event_id) or not _valid_id(message_id):
            setattr(g, _OUTCOME, "malformed")
            return
        sender = event.get("sender")
        if not isinstance(sender, dict) or sender.get("sender_type") != "user":
            # Our own replies (and other bots') must never become requests: no loops.
            setattr(g, _OUTCOME, "dropped")
            return
        eid, mid = event_id, message_id
        payload = {"schema": data.schema, "header": _header_dict(header), "event": event}
        self._enqueue(lambda: self._ingress.accept_event(eid, mid, "message", payload))

    def on_card(self, data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        """card.action.trigger → toast within 3 s; only the requester (or an admin) may act.

        Our buttons carry ``{"a": action, "rid": request id, "owner": open_id,
        "lang": "zh"|"en"}`` (optionally ``"owner_name"`` for the refusal text).
        """
        event_id = getattr(data.header, "event_id", None)
        ev = data.event
        value = ev.action.value if ev is not None and ev.action is not None else None
        operator = ev.operator.open_id if ev is not None and ev.operator is not None else None
        if not _valid_id(event_id):
            setattr(g, _OUTCOME, "malformed")
            return P2CardActionTriggerResponse({})
        if not isinstance(value, dict):
            value = {}
        lang = "zh" if value.get("lang") == "zh" else "en"
        if not (_valid_id(value.get("a")) and _valid_id(value.get("rid")) and _valid_id(value.get("owner"))):
            setattr(g, _OUTCOME, "refused")
            return _toast("error", "stale_button", lang)
        if operator != value["owner"] and operator not in self._admins:
            setattr(g, _OUTCOME, "refused")
            name = value.get("owner_name")
            if isinstance(name, str) and 0 < len(name) <= 64:
                return _toast("error", "not_owner", lang, name=name)
            return _toast("error", "not_owner", lang)
        eid = event_id
        payload = json.loads(lark.JSON.marshal(data) or "{}")
        self._enqueue(lambda: self._ingress.accept_card_action(eid, payload))
        return _toast("info", "working", lang)

    def _enqueue(self, accept: Callable[[], bool]) -> None:
        """Run one Ingress call; record accepted/duplicate, or our failure (→ 503) and re-raise."""
        try:
            fresh = accept()
        except RedisError as exc:
            setattr(g, _OUTCOME, "error")
            log.error("feishu: could not enqueue (%s); answering 503 so Feishu redelivers",
                      type(exc).__name__)
            raise
        except Exception:
            setattr(g, _OUTCOME, "error")
            log.exception("feishu: processor failed; answering 503")
            raise
        setattr(g, _OUTCOME, "accepted" if fresh else "duplicate")


def _header_dict(header: Any) -> dict[str, Any]:
    """The SDK's EventHeader back to the envelope's plain dict (its six documented fields)."""
    if header is None:
        return {}
    return {k: v for k, v in vars(header).items() if v is not None and not k.startswith("_")}


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
