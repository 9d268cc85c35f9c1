"""Redis key builders: the one place that spells the ingress's key names.

Every key is ``f"{prefix}:..."`` so several deployments (or tests) can share one
Redis without colliding. Readers in other roles (worker, scheduler) build the
same names through this class instead of formatting strings themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

DEDUP_TTL = 86_400
"""Seconds a dedup marker lives (24 h).

Feishu re-pushes an unanswered event at 15 s, 5 min, 1 h and 6 h, so copies can
arrive for ~7.1 h (feishu-api.md §3); the marker must outlive that window with
margin for clock skew and a slow first delivery.
"""

STREAM_MAXLEN = 100_000
"""Approximate cap (``MAXLEN ~``) of the watch stream, so a stalled consumer cannot fill Redis.

The inbox is never trimmed (that would drop unprocessed chat messages); it is bounded
by `INBOX_MAX` instead: the webhook refuses new events with 503 while it is full.
"""

INBOX_MAX = 10_000
"""Default bound on unprocessed inbox entries (``settings.inbox_max``, BOT_INBOX_MAX)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one deployment prefix (``settings.redis_prefix``)."""

    prefix: str

    def event(self, event_id: str) -> str:
        """Dedup marker for a Feishu ``header.event_id`` (redelivery of the same envelope)."""
        return f"{self.prefix}:evt:{event_id}"

    def message(self, message_id: str) -> str:
        """Dedup marker for a Feishu ``message_id`` (the same message in a new envelope)."""
        return f"{self.prefix}:msg:{message_id}"

    @property
    def inbox(self) -> str:
        """Stream of accepted chat events and card clicks, consumed by the workers."""
        return f"{self.prefix}:inbox"

    @property
    def watch(self) -> str:
        """Stream of hints that an Ark task may have changed state, consumed by the scheduler."""
        return f"{self.prefix}:watch"

    @property
    def bot_open_id(self) -> str:
        """String key: the bot's own open_id, cached by the workers (GET /bot/v3/info).

        Read by the webhook to keep only group messages that @mention the bot.
        """
        return f"{self.prefix}:bot:open_id"

    def callback(self, secret: str) -> str:
        """String key: per-task Ark callback secret → request id (written by the engine)."""
        return f"{self.prefix}:cb:{secret}"
