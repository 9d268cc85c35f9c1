"""Per-user limits: concurrent jobs and a daily budget of video seconds.

The budget is reserved when a request is accepted and released when it fails or
is cancelled, so failures are never charged. Days are UTC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from bot.engine.context import Engine
    from bot.engine.jobs import Job

DAY = 86400


@dataclass(frozen=True)
class QuotaStatus:
    running: int
    max_running: int
    used_seconds: int
    daily_seconds: int  # 0 = unlimited

    @property
    def remaining_seconds(self) -> int | None:
        return None if not self.daily_seconds else max(self.daily_seconds - self.used_seconds, 0)


def _day_key(engine: Engine, uid: str, now: float) -> str:
    return f"{engine.settings.redis_prefix}:quota:{uid}:{time.strftime('%Y%m%d', time.gmtime(now))}"


def _running_key(engine: Engine, uid: str) -> str:
    return f"{engine.settings.redis_prefix}:running:{uid}"


def status(engine: Engine, uid: str) -> QuotaStatus:
    s = engine.settings
    used = int(cast(str, engine.redis.get(_day_key(engine, uid, engine.clock()))) or 0)
    running = int(engine.redis.scard(_running_key(engine, uid)))
    return QuotaStatus(running, s.user_max_jobs, used, s.user_daily_seconds)


def is_admin(engine: Engine, uid: str) -> bool:
    return uid in engine.settings.admin_ids


def reserve(engine: Engine, job: Job, seconds: int) -> str | None:
    """Reserve `seconds` of today's budget and a running slot. Returns a refusal code or None."""
    s = engine.settings
    r = engine.redis
    if is_admin(engine, job.user):
        r.sadd(_running_key(engine, job.user), job.rid)
        return None
    running_key = _running_key(engine, job.user)
    if r.sismember(running_key, job.rid):
        return None  # already reserved (redelivery)
    if s.user_max_jobs and int(r.scard(running_key)) >= s.user_max_jobs:
        return "quota_concurrent"
    day = _day_key(engine, job.user, engine.clock())
    if s.user_daily_seconds:
        used = int(r.incrby(day, seconds))
        r.expire(day, 2 * DAY)
        if used > s.user_daily_seconds:
            r.decrby(day, seconds)
            return "quota_daily"
    else:
        r.incrby(day, seconds)
        r.expire(day, 2 * DAY)
    r.sadd(running_key, job.rid)
    r.expire(running_key, 30 * DAY)
    engine.store.update(job.rid, reserved_seconds=seconds)
    return None


def release(engine: Engine, job: Job) -> None:
    """Give back what a failed or cancelled job reserved (once)."""
    r = engine.redis
    r.srem(_running_key(engine, job.user), job.rid)
    fresh = engine.store.get(job.rid)
    seconds = fresh.reserved_seconds if fresh else job.reserved_seconds
    if seconds and r.hsetnx(engine.store.keys.job(job.rid), "refunded", "1"):
        r.decrby(_day_key(engine, job.user, job.accepted_at or engine.clock()), seconds)


def finish(engine: Engine, job: Job) -> None:
    """A delivered job keeps its budget and frees its running slot."""
    engine.redis.srem(_running_key(engine, job.user), job.rid)
