"""The hand-off streams between roles: emit, read as a consumer group, acknowledge.

    {p}:inbox    chat events and card clicks (web -> workers), plus internal kinds
                 ("admit", "start") that any worker may pick up
    {p}:deliver  jobs whose Ark task ended (scheduler -> workers)
    {p}:watch    hints that a task changed (Ark callbacks -> scheduler)

Entries are deleted once acknowledged, so a stream's length is the work not yet
done (the web role refuses new events above a bound instead of trimming).
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

StreamEntries = list[tuple[str, list[tuple[str, dict[str, str]]]]]


class Streams:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def emit(self, stream: str, **fields: Any) -> str:
        """Append one entry (values that are not strings are JSON-encoded)."""
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        return cast(str, self.r.xadd(stream, data))  # type: ignore[arg-type]

    def ensure_group(self, stream: str, group: str) -> None:
        try:
            self.r.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, group: str, consumer: str, streams: dict[str, str], *, count: int,
             block: int | None = None) -> StreamEntries:
        """XREADGROUP, typed for a `decode_responses=True` client ("0" = my pending, ">" = new)."""
        resp = self.r.xreadgroup(group, consumer, streams, count=count, block=block)  # type: ignore[arg-type]
        return cast(StreamEntries, resp or [])

    def done(self, stream: str, group: str, entry_id: str) -> None:
        """Acknowledge and delete an entry whose effect is stored."""
        pipe = self.r.pipeline()
        pipe.xack(stream, group, entry_id)
        pipe.xdel(stream, entry_id)
        pipe.execute()

    def claim_idle(self, stream: str, group: str, consumer: str, idle_ms: int, count: int = 10) -> int:
        """Take over entries idle that long in other consumers' hands; how many were claimed.

        JUSTID: claiming does not count as a delivery; the claimer's backlog read ("0") does, so
        each redelivery counts once (`deliveries`, the worker's MAX_ATTEMPTS)."""
        try:
            resp = self.r.xautoclaim(stream, group, consumer, min_idle_time=idle_ms, start_id="0-0", count=count,
                                     justid=True)
        except redis.ResponseError:
            return 0
        return len(resp or [])  # with JUSTID, redis-py returns just the claimed ids

    def deliveries(self, stream: str, group: str, entry_id: str) -> int:
        """How many times an entry was handed out (1 on its first delivery)."""
        try:
            info = self.r.xpending_range(stream, group, min=entry_id, max=entry_id, count=1)
            return int(info[0]["times_delivered"]) if info else 1
        except redis.RedisError:
            return 1

    def length(self, stream: str) -> int:
        return int(self.r.xlen(stream))

    def pending(self, stream: str, group: str) -> int:
        try:
            info = self.r.xpending(stream, group)
        except redis.ResponseError:
            return 0
        return int(info.get("pending", 0))
