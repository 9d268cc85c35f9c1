"""Leader locks: one active holder per deployment (scale.md §1.4).

The scheduler's (``{p}:scheduler:leader``) and the Feishu long connection's
(``{p}:feishu:connection``): a lease in Redis, renewed by its holder; a standby blocks on it
and takes over within the lease time when the holder dies or stops renewing. With an
``owner`` the lease's value is ``owner|random``, so an operator (or a test) can see which
node holds it (`holder`).
"""

from __future__ import annotations

import logging
import secrets

import redis

from bot.store.keys import Keys

log = logging.getLogger(__name__)


class LeaderLock:
    def __init__(self, r: redis.Redis, keys: Keys, *, lease: float, key: str | None = None,
                 owner: str = "", what: str = "scheduler") -> None:
        self._r = r
        self._key = key or keys.leader
        self._owner = owner
        self._what = what
        self._lock = r.lock(self._key, timeout=lease, thread_local=False)

    def acquire(self, wait: float) -> bool:
        """Try for up to `wait` seconds. False when another holder has it (or Redis is away)."""
        token = f"{self._owner}|{secrets.token_hex(8)}" if self._owner else None
        try:
            return bool(self._lock.acquire(blocking=True, blocking_timeout=wait, token=token))
        except redis.RedisError as exc:
            log.warning("%s: cannot reach Redis for the leader lock: %s", self._what, exc)
            return False

    def renew(self) -> bool:
        """Extend the lease; False when it was lost (expired, taken) or Redis is away."""
        try:
            return bool(self._lock.reacquire())
        except (redis.RedisError, redis.exceptions.LockError) as exc:
            log.error("%s: lease renewal failed: %s", self._what, exc)
            return False

    def release(self) -> None:
        try:
            self._lock.release()
        except (redis.RedisError, redis.exceptions.LockError):  # expired already, or Redis away
            pass

    def holder(self) -> str | None:
        """The owner name of whoever holds the lease now ("" without one), None when free."""
        value = self._r.get(self._key)
        if value is None:
            return None
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        return text.rsplit("|", 1)[0] if "|" in text else ""
