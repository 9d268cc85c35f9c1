"""The fair queue and the Ark slots, per pool.

    {p}:q:{pool}:user:{uid}  LIST  queued rids of one user (FIFO)
    {p}:q:{pool}:rr          LIST  users with queued work, round-robin order
    {p}:q:{pool}:served      HASH  uid -> turn of the user's latest admission ('#turn' = counter)
    {p}:inflight:{pool}      ZSET  rids holding a slot of the pool, scored by admission time

Admission is one script: it checks the pool's cap, skips users who already run
their allowed number of jobs (across both pools), picks the fairest user, pops
their oldest job, takes the slot and moves the job to STARTING — so two workers
(or two processes) can never admit past a cap, and a crash cannot leave a job
holding a slot in the wrong state.
"""

from __future__ import annotations

import time
from typing import cast

import redis

from bot.store.jobs import JobKeys, Pool

# Among users with queued work in the pool (and below their running cap), the one holding the
# fewest slots of the pool goes first, then the one served longest ago (never = first), then
# queue order: a user whose burst filled every free slot before anyone else asked does not also
# get the next slot ahead of users still waiting for their first.
# KEYS: rr, inflight(pool), served, inflight(other pool), stats
# ARGV: cap, now, user-queue prefix, job prefix, user cap (0 = none), admin open_ids...
# Returns the admitted rid, or nil when nothing can be admitted.
_ADMIT = """
local cap = tonumber(ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= cap then return nil end
local ucap = tonumber(ARGV[5])
local admins = {}
for i = 6, #ARGV do admins[ARGV[i]] = true end
local held, running = {}, {}
for _, r in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local u = redis.call('HGET', ARGV[4] .. r, 'user')
  if u then held[u] = (held[u] or 0) + 1; running[u] = (running[u] or 0) + 1 end
end
for _, r in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local u = redis.call('HGET', ARGV[4] .. r, 'user')
  if u then running[u] = (running[u] or 0) + 1 end
end
local best, bheld, bturn = nil, 0, 0
for _, uid in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('LLEN', ARGV[3] .. uid) == 0 then
    redis.call('LREM', KEYS[1], 0, uid)
    if not held[uid] then redis.call('HDEL', KEYS[3], uid) end  -- forget idle users (bounded memory)
  elseif ucap <= 0 or admins[uid] or (running[uid] or 0) < ucap then
    local h = held[uid] or 0
    local t = tonumber(redis.call('HGET', KEYS[3], uid) or 0)
    if best == nil or h < bheld or (h == bheld and t < bturn) then
      best, bheld, bturn = uid, h, t
    end
  end
end
if not best then return nil end
redis.call('LREM', KEYS[1], 0, best)
local q = ARGV[3] .. best
local rid = redis.call('LPOP', q)
if redis.call('LLEN', q) > 0 then redis.call('RPUSH', KEYS[1], best) end
redis.call('HSET', KEYS[3], best, redis.call('HINCRBY', KEYS[3], '#turn', 1))
local jk = ARGV[4] .. rid
local old = redis.call('HGET', jk, 'state')
if old ~= 'queued' then return '' end
redis.call('ZADD', KEYS[2], ARGV[2], rid)
redis.call('HSET', jk, 'state', 'starting', 'admitted_at', ARGV[2])
redis.call('HINCRBY', KEYS[5], old, -1)
redis.call('HINCRBY', KEYS[5], 'starting', 1)
return rid
"""

# Enqueue once: only if the rid is queued and not already in the queue.
# KEYS: user queue, rr, job; ARGV: rid, uid
_ENQUEUE = """
if redis.call('HGET', KEYS[3], 'state') ~= 'queued' then return 0 end
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
if not redis.call('LPOS', KEYS[2], ARGV[2]) then redis.call('RPUSH', KEYS[2], ARGV[2]) end
return 1
"""

# Give an admitted job's slot back and put it first in its user's queue (the service was busy).
# KEYS: job, inflight(pool), user queue, rr, stats; ARGV: rid, uid
_REQUEUE_FRONT = """
local old = redis.call('HGET', KEYS[1], 'state')
if old == 'submitted' then return 0 end  -- another holder bound its task meanwhile: the slot is its
redis.call('ZREM', KEYS[2], ARGV[1])
if old ~= 'starting' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'queued', 'admitted_at', '0')
redis.call('HINCRBY', KEYS[5], old, -1)
redis.call('HINCRBY', KEYS[5], 'queued', 1)
if not redis.call('LPOS', KEYS[3], ARGV[1]) then redis.call('LPUSH', KEYS[3], ARGV[1]) end
if not redis.call('LPOS', KEYS[4], ARGV[2]) then redis.call('LPUSH', KEYS[4], ARGV[2]) end
return 1
"""


class FairQueue:
    """Round-robin queues per user and capped slot pools."""

    def __init__(self, r: redis.Redis, keys: JobKeys) -> None:
        self.r = r
        self.keys = keys
        self._admit = r.register_script(_ADMIT)
        self._enqueue = r.register_script(_ENQUEUE)
        self._requeue = r.register_script(_REQUEUE_FRONT)

    def enqueue(self, rid: str, uid: str, pool: str) -> bool:
        """Put a queued job back in its queue if a crash left it out. True if it was added."""
        k = self.keys
        return bool(self._enqueue(keys=[k.user_queue(pool, uid), k.rr(pool), k.job(rid)], args=[rid, uid]))

    def admit(self, pool: str, cap: int, *, user_cap: int = 0, admins: frozenset[str] = frozenset()) -> str | None:
        """Take the next queued job of `pool` if a slot is free; it is STARTING when this returns."""
        k = self.keys
        other = Pool.SLOW if pool == Pool.STANDARD else Pool.STANDARD
        while True:
            rid = self._admit(keys=[k.rr(pool), k.inflight(pool), k.served(pool), k.inflight(other), k.stats],
                              args=[cap, time.time(), k.user_queue(pool, ""), k.job_prefix, user_cap,
                                    *sorted(admins)])
            if rid != "":
                return cast(str | None, rid)
            # '' = the popped rid was no longer queued (its record expired): try the next one.

    def requeue_front(self, rid: str, uid: str, pool: str) -> bool:
        k = self.keys
        return bool(self._requeue(keys=[k.job(rid), k.inflight(pool), k.user_queue(pool, uid), k.rr(pool), k.stats],
                                  args=[rid, uid]))

    def release_slot(self, rid: str) -> None:
        """The job's Ark task ended (or never will start): its slot goes to the next job."""
        pipe = self.r.pipeline()
        for pool in Pool:
            pipe.zrem(self.keys.inflight(pool), rid)
        pipe.execute()

    def in_flight(self, pool: str | None = None) -> list[str]:
        pools = [pool] if pool else list(Pool)
        out: list[str] = []
        for p in pools:
            out += cast(list[str], self.r.zrange(self.keys.inflight(p), 0, -1))
        return out

    def slot_since(self, rid: str, pool: str) -> float | None:
        score = self.r.zscore(self.keys.inflight(pool), rid)
        return float(score) if score is not None else None

    def counts(self) -> dict[str, int]:
        """Slots held per pool (one round trip)."""
        pipe = self.r.pipeline()
        for pool in Pool:
            pipe.zcard(self.keys.inflight(pool))
        return {pool.value: int(n) for pool, n in zip(Pool, pipe.execute(), strict=True)}

    def queue_position(self, rid: str, uid: str, pool: str) -> int:
        """1-based estimate of how many jobs of the pool start before this one (round-robin aware)."""
        mine = cast(list[str], self.r.lrange(self.keys.user_queue(pool, uid), 0, -1))
        if rid not in mine:
            return 0
        idx = mine.index(rid)
        ahead = idx
        for other in cast(list[str], self.r.lrange(self.keys.rr(pool), 0, -1)):
            if other != uid:
                ahead += min(int(self.r.llen(self.keys.user_queue(pool, other))), idx + 1)
        return ahead + 1

    def queued_users(self, pool: str) -> list[str]:
        return cast(list[str], self.r.lrange(self.keys.rr(pool), 0, -1))

    def queued_of(self, pool: str, uid: str, limit: int) -> list[str]:
        return cast(list[str], self.r.lrange(self.keys.user_queue(pool, uid), 0, limit - 1))

    def pause_admissions(self, seconds: float) -> None:
        """After a 429 at create: let the service breathe before the next admission."""
        self.r.set(self.keys.admit_pause, "1", px=max(int(seconds * 1000), 1))

    def admissions_paused(self) -> bool:
        return bool(self.r.exists(self.keys.admit_pause))
