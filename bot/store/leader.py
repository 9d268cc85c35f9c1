"""The scheduler's leader lock: one active scheduler per deployment (scale.md §1.4).

A lease in Redis, renewed by its holder; a standby blocks on it and takes over
within the lease time when the holder dies or stops renewing.
"""

from __future__ import annotations

import logging

import redis

from bot.store.keys import Keys

log = logging.getLogger(__name__)


class LeaderLock:
    def __init__(self, r: redis.Redis, keys: Keys, *, lease: float) -> None:
        self._lock = r.lock(keys.leader, timeout=lease, thread_local=False)

    def acquire(self, wait: float) -> bool:
        """Try for up to `wait` seconds. False when another holder has it (or Redis is away)."""
        try:
            return bool(self._lock.acquire(blocking=True, blocking_timeout=wait))
        except redis.RedisError as exc:
            log.warning("scheduler: cannot reach Redis for the leader lock: %s", exc)
            return False

    def renew(self) -> bool:
        """Extend the lease; False when it was lost (expired, taken) or Redis is away."""
        try:
            return bool(self._lock.reacquire())
        except (redis.RedisError, redis.exceptions.LockError) as exc:
            log.error("scheduler: lease renewal failed: %s", exc)
            return False

    def release(self) -> None:
        try:
            self._lock.release()
        except (redis.RedisError, redis.exceptions.LockError):  # expired already, or Redis away
            pass
