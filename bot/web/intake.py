"""A Feishu delivery, whatever carried it: event envelope → filter → one `Ingress` call → the answer.

Two transports bring Feishu's events and card clicks (``FEISHU_CONNECTION``):

* the webhook (`bot.web.feishu_events`): Feishu POSTs them; the webhook verifies the signature
  and token and decrypts, then hands the envelope here;
* the long connection (`bot.web.longconn`): lark-oapi's WebSocket client receives them over a
  connection the bot opened itself (authenticated by the app secret: plaintext, unsigned),
  and hands each frame's envelope here.

Everything after that is this module, so both transports filter, deduplicate and answer alike:
``im.message.receive_v1`` from a person (and, in a group, addressed to the bot) becomes one
inbox entry through `Ingress.accept_event` (deduplicated on event_id and message_id);
``card.action.trigger`` is checked against `bot.permissions` and answered with a toast within
Feishu's 3 s, and accepted clicks go through `Ingress.accept_card_action`. What this module
raises tells the transport what to do:

* `Refused`: the envelope is malformed (an id missing or absurd): not worth a redelivery;
* `Deferred`: Redis cannot take it now (inbox full, out of memory, unreachable): nothing was
  written, so the transport must make Feishu deliver it again (webhook: 503; long connection:
  the frame is left unacknowledged).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

from prometheus_client import Counter, Histogram

from bot.config import Settings
from bot.i18n import t
from bot.parsing.normalize import IME_SLASH, SLASHES
from bot.permissions import Access, Press
from bot.store.connection import DataError, StoreError, is_out_of_memory
from bot.store.ingress import InboxFull, Ingress
from bot.web import safe_json

log = logging.getLogger(__name__)

MESSAGE_EVENT = "im.message.receive_v1"
CARD_EVENT = "card.action.trigger"
MAX_ID_LEN = 128  # ids become Redis key names; Feishu's are ~32-40 chars
BOT_ID_CACHE_SECONDS = 300.0
COMMAND_MARKS = SLASHES + IME_SLASH

_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_LEN}}}")  # printable ASCII, no spaces
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

SUCCESS: Mapping[str, Any] = {"msg": "success"}


class IntakeMetrics(Protocol):
    """What a transport and the intake count (`bot.web.app.WebMetrics` has it)."""

    @property
    def events(self) -> Counter: ...

    @property
    def rejected(self) -> Counter: ...

    @property
    def errors(self) -> Counter: ...

    @property
    def deferred(self) -> Counter: ...

    @property
    def latency(self) -> Histogram: ...


@dataclass(frozen=True)
class Refusal:
    """Why a delivery is turned away (webhook: 4xx); `reason` is a metric label and a log word."""

    status: int
    reason: str


class Refused(Exception):
    """The delivery is malformed or forged: refused before anything reaches Redis."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.refusal = Refusal(status, reason)


class Deferred(Exception):
    """Redis could not take the delivery now; nothing was written. Feishu must deliver it again.

    `reason` is the label of ``bot_feishu_deferred``: inbox_full, redis_oom or redis_error.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    """A delivery handled: the ``bot_feishu_events`` outcome and what Feishu gets back.

    `callback`: the body is a card callback's answer (a toast) the user must see; for events the
    body is only the webhook's ``{"msg": "success"}``.
    """

    outcome: str
    body: Mapping[str, Any]
    callback: bool = False


def toast(kind: str, code: str, lang: str, *, name: str = "") -> dict[str, Any]:
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


def valid_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _mention_open_id(mention: Mapping[str, Any]) -> str:
    """Events carry ``id`` as an object of ids; API responses as a string (feishu-api.md §1.3)."""
    ident = mention.get("id")
    if isinstance(ident, dict):
        ident = ident.get("open_id")
    return ident if isinstance(ident, str) else ""


def stored(doc: Mapping[str, Any], header: Mapping[str, Any]) -> dict[str, Any]:
    """What the inbox keeps: the envelope, minus the verification token (a secret)."""
    return {"schema": doc.get("schema"), "header": {k: v for k, v in header.items() if k != "token"},
            "event": doc.get("event")}


def parse_envelope(data: bytes | str) -> dict[str, Any]:
    """A delivery's JSON object, parsed by `safe_json` (bounded nesting); `Refused` (400) otherwise."""
    try:
        doc = safe_json.loads(data)
    except safe_json.BadJson as exc:
        raise Refused(400, "too_deep" if "deep" in exc.reason else "bad_body") from None
    if not isinstance(doc, dict):
        raise Refused(400, "bad_body")
    return doc


def envelope_header(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``header`` of a schema 2.0 envelope; `Refused` (400 malformed) when the shape is wrong."""
    header = doc.get("header")
    if not isinstance(doc.get("schema"), str) or not isinstance(header, dict):
        raise Refused(400, "malformed")
    return header


class FeishuIntake:
    """One app's deliveries after their transport authenticated them: filter, route, one `Ingress` call."""

    def __init__(self, settings: Settings, ingress: Ingress, metrics: IntakeMetrics) -> None:
        self._inbox_max = settings.inbox_max
        self._access = Access(admins=settings.admin_ids, allowlist=settings.allowlist_ids)
        self._ingress = ingress
        self._metrics = metrics
        self._bot_id: str | None = None
        self._bot_id_until = 0.0

    @property
    def metrics(self) -> IntakeMetrics:
        return self._metrics

    def answer(self, outcome: str, body: Mapping[str, Any] = SUCCESS, *, callback: bool = False) -> Answer:
        self._metrics.events.labels(outcome).inc()
        return Answer(outcome, body, callback)

    def route(self, doc: Mapping[str, Any], header: Mapping[str, Any]) -> Answer:
        """A schema 2.0 envelope (already authenticated) → an `Answer`; raises `Refused` or `Deferred`."""
        event_type = header.get("event_type")
        if event_type == MESSAGE_EVENT:
            return self._message(doc, header)
        if event_type == CARD_EVENT:
            return self._card(doc, header)
        if not isinstance(event_type, str):
            raise Refused(400, "malformed")
        # Authentic but not a type we subscribe to: acknowledged, or Feishu retries it for 7 hours.
        shown = event_type if _EVENT_TYPE.fullmatch(event_type) else "(unusual name)"
        log.info("feishu: ignored event type %s", shown)
        return self.answer("ignored")

    # --- chat messages ---------------------------------------------------------------------------

    def _message(self, doc: Mapping[str, Any], header: Mapping[str, Any]) -> Answer:
        """im.message.receive_v1 → one inbox entry (kind "message"), if it is for the bot."""
        event = _dict(doc.get("event"))
        message = _dict(event.get("message"))
        event_id, message_id = header.get("event_id"), message.get("message_id")
        if not valid_id(event_id) or not valid_id(message_id):
            raise Refused(400, "malformed")
        sender = event.get("sender")
        if not isinstance(sender, dict) or sender.get("sender_type") != "user":
            # Our own replies (and other bots') must never become requests: no loops.
            return self.answer("dropped")
        if message.get("chat_type") != "p2p" and not self._addressed(message):
            return self.answer("unaddressed")
        payload = stored(doc, header)
        return self._enqueue(lambda: self._ingress.accept_event(event_id, message_id, "message", payload),
                             SUCCESS, callback=False)

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
        except StoreError:
            return None  # the enqueue that follows will fail too, and be deferred
        if found:
            self._bot_id, self._bot_id_until = found, now + BOT_ID_CACHE_SECONDS
        return found

    # --- card clicks -------------------------------------------------------------------------------

    def _card(self, doc: Mapping[str, Any], header: Mapping[str, Any]) -> Answer:
        """card.action.trigger → toast within 3 s; only the requester (or an admin) may act.

        Our buttons carry ``{"a": action, "rid": request id, "owner": open_id,
        "lang": "zh"|"en"}`` (optionally ``"owner_name"`` for the refusal text).
        Clicks are always kept (no chat filter): they only ever come from our cards.
        """
        event_id = header.get("event_id")
        if not valid_id(event_id):
            raise Refused(400, "malformed")
        event = _dict(doc.get("event"))
        value = _dict(event.get("action")).get("value")
        operator = _dict(event.get("operator")).get("open_id")
        if not isinstance(operator, str):
            operator = None
        if not isinstance(value, dict):
            value = {}
        lang = "zh" if value.get("lang") == "zh" else "en"
        if not (valid_id(value.get("a")) and valid_id(value.get("rid")) and valid_id(value.get("owner"))):
            return self.answer("refused", toast("error", "stale_button", lang), callback=True)
        chat = _dict(event.get("context")).get("open_chat_id")
        verdict = self._access.may_press(operator, chat if isinstance(chat, str) else None, value["owner"])
        if verdict == Press.NOT_ALLOWED:
            return self.answer("refused", toast("error", "not_allowed", lang), callback=True)
        if verdict == Press.NOT_OWNER:
            name = value.get("owner_name")
            if isinstance(name, str) and 0 < len(name) <= 64:
                return self.answer("refused", toast("error", "not_owner", lang, name=name), callback=True)
            return self.answer("refused", toast("error", "not_owner", lang), callback=True)
        payload = stored(doc, header)
        return self._enqueue(lambda: self._ingress.accept_card_action(event_id, payload),
                             toast("info", "working", lang), callback=True)

    # --- the one write -----------------------------------------------------------------------------

    def _enqueue(self, accept: Callable[[], bool], ok: Mapping[str, Any], *, callback: bool) -> Answer:
        """One Ingress call → accepted/duplicate, or `Deferred` when Redis cannot take it now."""
        try:
            fresh = accept()
        except InboxFull:
            self._metrics.deferred.labels("inbox_full").inc()
            log.warning("feishu: inbox full (%d unprocessed entries, BOT_INBOX_MAX): not accepted now, "
                        "Feishu redelivers later; are the workers running?", self._inbox_max)
            raise Deferred("inbox_full") from None
        except DataError:
            raise  # a bug of ours (a value Redis cannot take), not an outage: the transport logs it
        except StoreError as exc:
            self._metrics.errors.labels("feishu").inc()
            if is_out_of_memory(exc):
                self._metrics.deferred.labels("redis_oom").inc()
                log.error("feishu: Redis is out of memory (maxmemory reached, noeviction refuses writes): "
                          "not accepted now, Feishu redelivers later; free memory or raise maxmemory")
                raise Deferred("redis_oom") from None
            self._metrics.deferred.labels("redis_error").inc()
            log.error("feishu: could not enqueue (%s); not accepted now, Feishu redelivers", type(exc).__name__)
            raise Deferred("redis_error") from None
        return self.answer("accepted" if fresh else "duplicate", ok, callback=callback)
