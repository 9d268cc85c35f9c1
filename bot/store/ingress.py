"""The web role's only Redis writes: deduplicate a delivery and hand it to the next role.

Each public method is a single Lua script, so "is this new?" and "enqueue it"
happen atomically: two web processes racing on the same Feishu redelivery can
never both enqueue it, and a crash between the check and the XADD cannot lose
the event or mark it seen without enqueueing it.

Stream entries written here (all values are strings):

``{prefix}:inbox`` (consumed by workers; never trimmed here: at ``inbox_max`` unprocessed
entries the webhook answers 503 and Feishu redelivers later)
    ``kind``         ``"message"`` (``im.message.receive_v1``) or ``"card"`` (``card.action.trigger``)
    ``payload``      the decrypted event envelope as JSON: ``{"schema", "header", "event"}``, without
                     ``header.token`` (the verification token is a secret), lone surrogates as U+FFFD
    ``received_at``  Unix time in milliseconds when the web process accepted it

``{prefix}:watch`` (consumed by the scheduler)
    ``rid``          the request id the callback secret belongs to
    ``reason``       ``"callback"``
    ``status``       optional: the task status Ark claimed in the callback body (a hint only)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import redis

from bot.store.keys import DEDUP_TTL, INBOX_MAX, STREAM_MAXLEN, Keys

# KEYS[1] = stream, KEYS[2..n] = dedup markers (event id, then message id when given)
# ARGV = ttl, inbox cap, then the entry's field/value pairs
# Order matters, and the script stops at the first error:
#   1. any marker present -> duplicate: write nothing (even when the inbox is full, a
#      redelivery of something already queued is answered 200);
#   2. XLEN >= cap -> return 0: write nothing, the caller answers 503 and Feishu redelivers;
#   3. XADD (never trimmed: entries leave the inbox only when a worker XDELs them after XACK);
#   4. the markers, last, so a failed XADD (OOM under noeviction) leaves no marker behind.
#      Redis checks maxmemory only before a script's first write, so once the XADD is in,
#      the SETs are too.
_ACCEPT_LUA = """
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return false end
end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], id, 'EX', ARGV[1])
end
return id
"""

# KEYS[1] = callback secret key, KEYS[2] = watch stream; ARGV = maxlen, extra field/value pairs
_CALLBACK_LUA = """
local rid = redis.call('GET', KEYS[1])
if not rid then return false end
local fields = {'rid', rid, 'reason', 'callback'}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
"""

ARK_STATUSES = frozenset({"queued", "running", "succeeded", "failed", "expired", "cancelled"})
"""Task statuses copied from a callback body into the watch entry; anything else is dropped."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _storable(text: str) -> str:
    """`text` with lone surrogates (from ``"\\ud800"`` escapes) replaced by U+FFFD.

    Redis values travel as UTF-8, which has no encoding for a lone surrogate: left
    in, the write fails on every redelivery (a poison message) and readers choke.
    """
    return _SURROGATE.sub("\ufffd", text)


class InboxFull(Exception):
    """The inbox holds `inbox_max` unprocessed entries: nothing was written; answer 503."""


class Ingress:
    """Dedup + hand-off for the webhook. Redis errors propagate: the caller answers 503."""

    def __init__(self, redis_client: redis.Redis, keys: Keys, *, dedup_ttl: int = DEDUP_TTL,
                 inbox_max: int = INBOX_MAX) -> None:
        self._redis = redis_client
        self._keys = keys
        self._ttl = dedup_ttl
        self._inbox_max = inbox_max
        self._accept = redis_client.register_script(_ACCEPT_LUA)
        self._callback = redis_client.register_script(_CALLBACK_LUA)

    @property
    def keys(self) -> Keys:
        return self._keys

    def bot_open_id(self) -> str | None:
        """The bot's own open_id as cached by the workers (`Keys.bot_open_id`), or None if not yet."""
        value = self._redis.get(self._keys.bot_open_id)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return value or None

    def has_room(self) -> bool:
        """Whether a new event would be enqueued now: the inbox is below its bound (readiness).

        Redis errors propagate: unreachable is not ready either.
        """
        return int(self._redis.xlen(self._keys.inbox)) < self._inbox_max

    def accept_event(
        self, event_id: str, message_id: str | None, kind: str, payload: Mapping[str, Any]
    ) -> bool:
        """Enqueue ``payload`` on the inbox unless ``event_id`` or ``message_id`` was seen in the last day.

        Both ids are marked, because Feishu may redeliver a message in a fresh
        envelope (new ``event_id``, same ``message_id``). Returns False for a
        duplicate, which leaves Redis untouched. Raises `InboxFull` (nothing
        written) when the inbox already holds ``inbox_max`` entries, and Redis
        errors (e.g. OOM) as they come, also with nothing written.
        """
        if not event_id:
            raise ValueError("event_id is required")
        markers = [self._keys.event(_storable(event_id))]
        if message_id:
            markers.append(self._keys.message(_storable(message_id)))
        body = _storable(json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
        args: list[str | int] = [self._ttl, self._inbox_max,
                                 "kind", _storable(kind), "payload", body, "received_at", _now_ms()]
        result = self._accept(keys=[self._keys.inbox, *markers], args=args)
        if result == 0:
            raise InboxFull(f"inbox holds {self._inbox_max} unprocessed entries")
        return result is not None

    def accept_card_action(self, event_id: str, payload: Mapping[str, Any]) -> bool:
        """Enqueue a card click (kind ``"card"``) once per ``event_id``.

        Clicks have no message id of their own: two clicks are two events, and
        whether the second one still means something is the worker's decision.
        """
        return self.accept_event(event_id, None, "card", payload)

    def ark_callback(self, secret: str, body: Mapping[str, Any] | None = None) -> bool:
        """Turn an Ark status push into a watch hint for the request that owns ``secret``.

        False if the secret is unknown (expired, forged, or never issued). The
        body is not trusted: only a recognised ``status`` string is copied, and
        the scheduler confirms the real state with a GET.
        """
        extra: list[str] = []
        status = body.get("status") if isinstance(body, Mapping) else None
        if isinstance(status, str) and status in ARK_STATUSES:
            extra = ["status", status]
        args: list[str | int] = [STREAM_MAXLEN, *extra]
        return self._callback(keys=[self._keys.callback(secret), self._keys.watch], args=args) is not None
