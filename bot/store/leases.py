"""Leases: "this process is working on that job's step", with fencing tokens.

    {p}:lease:{name}:{rid}   STRING  the holder's token, with a TTL

A token is ``{node}|{random}``. A holder renews its lease while it works (a
keeper thread) and checks it still holds the token before the step's one
durable write (the scripts that take a token refuse a writer whose lease was
lost: fencing). A process knows the tokens it holds right now (`LeaseBook`);
a lease that carries this node's name but no token of the living process was
left by a predecessor that was killed (or by a thread that lost Redis) and is
taken over at once instead of waiting for it to expire. Several processes on
one host therefore need distinct node names (`BOT_NODE`).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import redis

from bot.store.jobs import JobKeys

log = logging.getLogger(__name__)

# KEYS: lease; ARGV: token, ttl ms, node prefix ("node|"), then live tokens of this process.
# Take the lease if free, or if it is held by this node under a token no live thread holds.
_TAKE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  if string.sub(cur, 1, string.len(ARGV[3])) ~= ARGV[3] then return 0 end
  for i = 4, #ARGV do
    if cur == ARGV[i] then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: lease; ARGV: token, ttl ms. Extend only while held.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: lease; ARGV: token. Drop only while held.
_DROP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """One held lease. `renew` and `held` answer False once it was lost (expired or taken)."""

    def __init__(self, book: LeaseBook, key: str, token: str, ttl: float) -> None:
        self.book = book
        self.key = key
        self.token = token
        self.ttl = ttl

    def renew(self, ttl: float | None = None) -> bool:
        try:
            return bool(self.book._renew(keys=[self.key], args=[self.token, int((ttl or self.ttl) * 1000)]))
        except redis.RedisError as exc:
            log.warning("could not renew lease %s: %s", self.key, exc)
            return False

    def held(self) -> bool:
        return self.book.r.get(self.key) == self.token

    def release(self) -> None:
        self.book._forget(self.token)
        try:
            self.book._drop(keys=[self.key], args=[self.token])
        except redis.RedisError as exc:  # it expires by itself
            log.warning("could not drop lease %s: %s", self.key, exc)

    @contextmanager
    def kept(self, every: float | None = None) -> Iterator[Lease]:
        """Renew the lease in the background while the block runs (a step of unknown length)."""
        done = threading.Event()
        interval = every or self.ttl / 3

        def keep() -> None:
            while not done.wait(interval):
                if not self.renew():
                    log.warning("lease %s lost while working", self.key)
                    return

        keeper = threading.Thread(target=keep, name=f"lease:{self.key[-30:]}", daemon=True)
        keeper.start()
        try:
            yield self
        finally:
            done.set()
            keeper.join()


class LeaseBook:
    """The leases of one process (its node name and the tokens its threads hold)."""

    def __init__(self, r: redis.Redis, keys: JobKeys, node: str) -> None:
        self.r = r
        self.keys = keys
        self.node = node
        self._live: set[str] = set()
        self._lock = threading.Lock()
        self._take = r.register_script(_TAKE)
        self._renew = r.register_script(_RENEW)
        self._drop = r.register_script(_DROP)

    def take(self, name: str, rid: str, ttl: float) -> Lease | None:
        """The lease on step `name` of `rid`, or None if another live holder has it."""
        token = f"{self.node}|{secrets.token_hex(8)}"
        key = self.keys.lease(name, rid)
        with self._lock:
            live = sorted(self._live)
        ok = self._take(keys=[key], args=[token, max(int(ttl * 1000), 1), f"{self.node}|", *live])
        if not ok:
            return None
        with self._lock:
            self._live.add(token)
        return Lease(self, key, token, ttl)

    def holder(self, name: str, rid: str) -> str | None:
        return cast(str | None, self.r.get(self.keys.lease(name, rid)))

    def is_free(self, name: str, rid: str) -> bool:
        """No one holds the lease, or only a dead predecessor of this node does."""
        cur = self.holder(name, rid)
        if cur is None:
            return True
        with self._lock:
            return cur.startswith(f"{self.node}|") and cur not in self._live

    def _forget(self, token: str) -> None:
        with self._lock:
            self._live.discard(token)
