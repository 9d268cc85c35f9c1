"""What `/metrics` reports about the engine: one pipelined round trip of O(1) reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis

from bot.store.jobs import Pool
from bot.store.keys import Keys


@dataclass(frozen=True)
class EngineSnapshot:
    states: dict[str, int]  # jobs per state (terminal states: totals since the start)
    slots: dict[str, int]  # Ark slots held per pool
    inbox: int  # events not yet handled by a worker
    deliveries: int  # finished tasks waiting for delivery
    watched: int  # Ark tasks with a planned look


def snapshot(r: redis.Redis, keys: Keys) -> EngineSnapshot:
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(keys.stats)
    for pool in Pool:
        pipe.zcard(keys.inflight(pool))
    pipe.xlen(keys.inbox)
    pipe.xlen(keys.deliver)
    pipe.zcard(keys.polls)
    stats, *rest = pipe.execute()
    n = len(Pool)
    return EngineSnapshot(
        states={s: int(v) for s, v in cast(dict[str, str], stats).items()},
        slots=dict(zip([p.value for p in Pool], (int(x) for x in rest[:n]), strict=True)),
        inbox=int(rest[n]), deliveries=int(rest[n + 1]), watched=int(rest[n + 2]),
    )
