"""Create attempts on a job record: begin under the lease, bind by compare-and-set, clear.

The three writes `bot.engine.creator` builds exactly-once creation on; each is
one script, so a crash or a racing holder never leaves a half-written attempt.
"""

from __future__ import annotations

from typing import cast

import redis

from bot.store.jobs import JOB_TTL
from bot.store.keys import Keys
from bot.store.leases import Lease

# Begin an attempt: only the lease holder, only while starting, not cancelled, no task, no attempt.
# KEYS: job, lease, callback key; ARGV: token, now, attempt JSON, secret, ttl
_BEGIN = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'fenced' end
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'starting' then return 'state:' .. tostring(st) end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return 'cancelled' end
if (redis.call('HGET', KEYS[1], 'task_id') or '') ~= '' then return 'bound' end
if (tonumber(redis.call('HGET', KEYS[1], 'creating_since') or '0') or 0) ~= 0 then return 'pending' end
redis.call('HSET', KEYS[1], 'creating_since', ARGV[2], 'attempt', ARGV[3], 'cb_secret', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('SET', KEYS[3], redis.call('HGET', KEYS[1], 'rid'), 'EX', ARGV[5])
return 'ok'
"""

# Bind a task to the attempt that made it (compare-and-set on the attempt, not on the lease:
# a holder whose lease lapsed may still bind if nobody moved the job on meanwhile). No attempt on
# record at all (a Redis restart lost the begin's write, acknowledged but not yet in the AOF; or a
# holder that found nothing at Ark cleared it) is no one else's attempt either: the task made is
# the job's only one, so it is bound rather than left to run unposted while another is created.
# KEYS: job, task key, stats; ARGV: task id, attempt JSON, now, ttl
_BIND = """
local cur = redis.call('HGET', KEYS[1], 'task_id') or ''
if cur == ARGV[1] then return 'same' end
if cur ~= '' then return 'other' end
local att = redis.call('HGET', KEYS[1], 'attempt') or ''
if att ~= ARGV[2] and att ~= '' then return 'other' end
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'starting' then return 'other' end
redis.call('SET', KEYS[2], redis.call('HGET', KEYS[1], 'rid'), 'EX', ARGV[4])
redis.call('HSET', KEYS[1], 'task_id', ARGV[1], 'creating_since', '0', 'state', 'submitted',
           'submitted_at', ARGV[3], 'task_status', 'queued')
redis.call('HINCRBY', KEYS[3], st, -1)
redis.call('HINCRBY', KEYS[3], 'submitted', 1)
return 'ok'
"""

# Clear an attempt known to have created nothing (only if it is still the current one).
# KEYS: job; ARGV: attempt JSON, "1" when the create was certainly refused or never sent (a 429,
# a 4xx, no connection): that attempt does not count towards MAX_ATTEMPTS, which bounds lost answers.
_CLEAR = """
if (redis.call('HGET', KEYS[1], 'attempt') or '') ~= ARGV[1] then return 0 end
if (redis.call('HGET', KEYS[1], 'task_id') or '') ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'creating_since', '0', 'attempt', '')
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', -1) end
return 1
"""



class Attempts:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.keys = keys
        self._begin = r.register_script(_BEGIN)
        self._bind = r.register_script(_BIND)
        self._clear = r.register_script(_CLEAR)

    def begin(self, rid: str, lease: Lease, attempt: str, secret: str, *, now: float) -> str:
        """Record an attempt before the call: "ok", or why not ("fenced", "cancelled", "bound",
        "pending", "state:…")."""
        k = self.keys
        return cast(str, self._begin(keys=[k.job(rid), lease.key, k.callback(secret)],
                                     args=[lease.token, now, attempt, secret, JOB_TTL]))

    def bind(self, rid: str, task_id: str, attempt: str, *, now: float) -> str:
        """Bind the task of `attempt`: "ok", "same" (already bound to it) or "other" (moved on)."""
        k = self.keys
        return cast(str, self._bind(keys=[k.job(rid), k.task(task_id), k.stats],
                                    args=[task_id, attempt, now, JOB_TTL]))

    def clear(self, rid: str, attempt: str, *, refused: bool = False) -> bool:
        """Forget `attempt` if it is still current and made nothing (`refused`: it doesn't count)."""
        return bool(self._clear(keys=[self.keys.job(rid)], args=[attempt, "1" if refused else "0"]))
