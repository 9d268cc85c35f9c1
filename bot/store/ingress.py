"""The web role's only Redis writes: deduplicate a delivery and hand it to the next role.

Each public method is a single Lua script, so "is this new?" and "enqueue it"
happen atomically: two web processes racing on the same Feishu redelivery can
never both enqueue it, and a crash between the check and the XADD cannot lose
the event or mark it seen without enqueueing it.

Stream entries written here (all values are strings):

``{prefix}:inbox`` (consumed by workers)
    ``kind``         ``"message"`` (``im.message.receive_v1``) or ``"card"`` (``card.action.trigger``)
    ``payload``      the decrypted event envelope as JSON: ``{"schema", "header", "event"}``
    ``received_at``  Unix time in milliseconds when the web process accepted it

``{prefix}:watch`` (consumed by the scheduler)
    ``rid``          the request id the callback secret belongs to
    ``reason``       ``"callback"``
    ``status``       optional: the task status Ark claimed in the callback body (a hint only)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis

from bot.store.keys import DEDUP_TTL, STREAM_MAXLEN, Keys

# KEYS[1] = stream, KEYS[2..n] = dedup markers (event id, then message id when given)
# ARGV = ttl, maxlen, then the entry's field/value pairs
# Check every marker first and write nothing on a duplicate; XADD before the
# SETs so a failed XADD (e.g. OOM under noeviction) leaves no marker behind.
_ACCEPT_LUA = """
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return false end
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
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


def _now_ms() -> str:
    return str(int(time.time() * 1000))


class Ingress:
    """Dedup + hand-off for the webhook. Redis errors propagate: the caller answers 503."""

    def __init__(self, redis_client: redis.Redis, keys: Keys, *, dedup_ttl: int = DEDUP_TTL) -> None:
        self._redis = redis_client
        self._keys = keys
        self._ttl = dedup_ttl
        self._accept = redis_client.register_script(_ACCEPT_LUA)
        self._callback = redis_client.register_script(_CALLBACK_LUA)

    @property
    def keys(self) -> Keys:
        return self._keys

    def accept_event(
        self, event_id: str, message_id: str | None, kind: str, payload: Mapping[str, Any]
    ) -> bool:
        """Enqueue ``payload`` on the inbox unless ``event_id`` or ``message_id`` was seen in the last day.

        Both ids are marked, because Feishu may redeliver a message in a fresh
        envelope (new ``event_id``, same ``message_id``). Returns False for a
        duplicate, which leaves Redis untouched.
        """
        if not event_id:
            raise ValueError("event_id is required")
        markers = [self._keys.event(event_id)]
        if message_id:
            markers.append(self._keys.message(message_id))
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        args: list[str | int] = [self._ttl, STREAM_MAXLEN,
                                 "kind", kind, "payload", body, "received_at", _now_ms()]
        return self._accept(keys=[self._keys.inbox, *markers], args=args) is not None

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
