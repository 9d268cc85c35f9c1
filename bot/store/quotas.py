"""Budgets: a request is accepted, and a job ends, in one atomic step each.

    {p}:open:{uid}             SET     a user's unfinished rids (queued or holding a slot)
    {p}:spent:{day}:u:{uid}    STRING  video seconds reserved/used by a user on a UTC day
    {p}:spent:{day}:all        STRING  the same for the whole deployment

`accept` is the only way a job record comes into being: the queue bound, the
user's daily seconds and the deployment's daily seconds are checked, the seconds
reserved, the record written and the job queued — all or nothing, so several
worker threads and processes can never overspend, and a refused request leaves
no trace. `finish` is the only way a job ends: the reservation is committed
(delivered, charged at the real length) or released (failed, cancelled) exactly
once, whatever replays. `cancel` settles a cancel against admission and start
atomically (a job whose create has not begun is cancelled outright).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

import redis

from bot.store.connection import is_out_of_memory
from bot.store.jobs import JOB_TTL, Job, JobKeys, JobState, Pool

DAY = 86400
SPENT_TTL = 3 * DAY  # a day's counters outlive the day (refunds of late failures still land)


def day_of(ts: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(ts))


def next_reset(ts: float) -> float:
    """When the UTC day of `ts` ends (budgets reset then)."""
    return (int(ts) // DAY + 1) * DAY


class Acceptance(StrEnum):
    OK = "ok"
    EXISTS = "exists"  # a redelivery: the job was accepted before
    QUEUE_FULL = "queue_full"  # the user has too many unfinished jobs
    QUOTA_DAILY = "quota_daily"  # the user's daily seconds would be exceeded
    QUOTA_TOTAL = "quota_total"  # the deployment's daily seconds would be exceeded
    FULL = "full"  # Redis is out of memory: nothing new is taken (accepted jobs go on)


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # nothing was (or ever will be) created at Ark
    REQUESTED = "requested"  # a create may be under way or the task exists: settle at Ark
    TOO_LATE = "too_late"  # already finished or ended
    GONE = "gone"


@dataclass(frozen=True)
class Limits:
    """What one acceptance is checked against (0 = no limit)."""

    user_daily: int
    total_daily: int
    max_open: int  # running cap + queue bound per user
    admin: bool


# KEYS: job, active, recent, open(uid), user_day, total_day, user queue(pool), rr(pool), stats
# ARGV: ttl, now, rid, uid, seconds, user daily, total daily, max open, admin, day, then field/value pairs
_ACCEPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
local secs = tonumber(ARGV[5])
if ARGV[9] ~= '1' then
  local max_open = tonumber(ARGV[8])
  if max_open > 0 and redis.call('SCARD', KEYS[4]) >= max_open then return 'queue_full' end
  local ul = tonumber(ARGV[6])
  if ul > 0 and tonumber(redis.call('GET', KEYS[5]) or '0') + secs > ul then return 'quota_daily' end
end
local tl = tonumber(ARGV[7])
if tl > 0 and tonumber(redis.call('GET', KEYS[6]) or '0') + secs > tl then return 'quota_total' end
redis.call('HSET', KEYS[1], unpack(ARGV, 11))
redis.call('HSET', KEYS[1], 'state', 'queued', 'reservation', 'held', 'reserved_seconds', secs,
           'reserved_day', ARGV[10])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[5], secs)
redis.call('EXPIRE', KEYS[5], @SPENT_TTL@)
redis.call('INCRBY', KEYS[6], secs)
redis.call('EXPIRE', KEYS[6], @SPENT_TTL@)
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], 0, 49)
redis.call('EXPIRE', KEYS[3], ARGV[1])
redis.call('RPUSH', KEYS[7], ARGV[3])
if not redis.call('LPOS', KEYS[8], ARGV[4]) then redis.call('RPUSH', KEYS[8], ARGV[4]) end
redis.call('HINCRBY', KEYS[9], 'queued', 1)
return 'ok'
"""

# The end of a job, once. KEYS: job, stats, active, inflight(standard), inflight(slow), polls,
# open(uid), user_day(reserved day), total_day(reserved day)
# ARGV: rid, state, charge ('1' = commit, '0' = release), charged seconds (-1 = as reserved),
# then field/value pairs. Returns the previous state (unchanged if it was already terminal).
_FINISH_FN = """
local function finish(rid, state, charge, charged, first_field)
  local old = redis.call('HGET', KEYS[1], 'state')
  if not old then return false end
  if old == 'done' or old == 'failed' or old == 'cancelled' then return old end
  if #ARGV >= first_field then redis.call('HSET', KEYS[1], unpack(ARGV, first_field)) end
  redis.call('HSET', KEYS[1], 'state', state)
  redis.call('HINCRBY', KEYS[2], old, -1)
  redis.call('HINCRBY', KEYS[2], state, 1)
  redis.call('ZREM', KEYS[3], rid)
  redis.call('ZREM', KEYS[4], rid)
  redis.call('ZREM', KEYS[5], rid)
  redis.call('ZREM', KEYS[6], rid)
  redis.call('SREM', KEYS[7], rid)
  if redis.call('HGET', KEYS[1], 'reservation') == 'held' then
    local secs = tonumber(redis.call('HGET', KEYS[1], 'reserved_seconds') or '0') or 0
    local back = secs
    if charge then
      redis.call('HSET', KEYS[1], 'reservation', 'committed')
      back = 0
      if charged >= 0 then
        back = secs - charged
        redis.call('HSET', KEYS[1], 'reserved_seconds', charged)
      end
    else
      redis.call('HSET', KEYS[1], 'reservation', 'released')
    end
    if back ~= 0 then
      if redis.call('EXISTS', KEYS[8]) == 1 then redis.call('DECRBY', KEYS[8], back) end
      if redis.call('EXISTS', KEYS[9]) == 1 then redis.call('DECRBY', KEYS[9], back) end
    end
  end
  return old
end
"""

_FINISH = _FINISH_FN + """
return finish(ARGV[1], ARGV[2], ARGV[3] == '1', tonumber(ARGV[4]), 5)
"""

# Cancel, settled atomically against admission and the start of a create.
# KEYS: the finish keys, then the user's queue of the job's pool; ARGV: rid, now
_CANCEL = _FINISH_FN + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'gone' end
if state == 'done' or state == 'failed' or state == 'cancelled' or state == 'finished' then
  return 'too_late'
end
if state == 'queued' then
  redis.call('LREM', KEYS[10], 0, ARGV[1])
  finish(ARGV[1], 'cancelled', false, -1, 99)
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[2])
  return 'cancelled'
end
if state == 'starting' and (tonumber(redis.call('HGET', KEYS[1], 'creating_since') or '0') or 0) == 0
   and (redis.call('HGET', KEYS[1], 'task_id') or '') == '' then
  finish(ARGV[1], 'cancelled', false, -1, 99)
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[2])
  return 'cancelled'
end
redis.call('HSET', KEYS[1], 'cancel_requested', '1')
return 'requested'
"""


@dataclass(frozen=True)
class QuotaStatus:
    running: int  # the user's jobs holding a slot
    queued: int  # the user's jobs waiting in the queue
    max_running: int  # 0 = unlimited
    max_queued: int  # 0 = unlimited
    used_seconds: int
    daily_seconds: int  # 0 = unlimited
    resets_at: float  # when today's budget resets (UTC midnight)

    @property
    def remaining_seconds(self) -> int | None:
        return None if not self.daily_seconds else max(self.daily_seconds - self.used_seconds, 0)


class Budgets:
    """Acceptance, ending and cancelling of jobs, with their budgets (see the module docstring)."""

    def __init__(self, r: redis.Redis, keys: JobKeys) -> None:
        self.r = r
        self.keys = keys
        self._accept = r.register_script(_ACCEPT.replace("@SPENT_TTL@", str(SPENT_TTL)))
        self._finish = r.register_script(_FINISH)
        self._cancel = r.register_script(_CANCEL)

    def accept(self, job: Job, seconds: int, limits: Limits, *, now: float) -> Acceptance:
        """Reserve `seconds`, store `job` and queue it — or refuse, leaving nothing behind."""
        k = self.keys
        day = day_of(now)
        fields = [x for kv in job.to_hash().items() for x in kv]
        keys = [k.job(job.rid), k.active, k.recent(job.chat_id, job.user), k.open_jobs(job.user),
                k.user_day(job.user, day), k.total_day(day), k.user_queue(job.pool, job.user), k.rr(job.pool),
                k.stats]
        args = [JOB_TTL, now, job.rid, job.user, max(seconds, 0), limits.user_daily, limits.total_daily,
                limits.max_open, "1" if limits.admin else "0", day, *fields]
        try:
            return Acceptance(cast(str, self._accept(keys=keys, args=args)))
        except redis.RedisError as exc:
            if is_out_of_memory(exc):
                return Acceptance.FULL
            raise

    def _finish_keys(self, rid: str) -> list[str] | None:
        user, day = cast(list[str | None], self.r.hmget(self.keys.job(rid), ["user", "reserved_day"]))
        if user is None:
            return None
        k = self.keys
        day = day or "-"
        return [k.job(rid), k.stats, k.active, k.inflight(Pool.STANDARD), k.inflight(Pool.SLOW), k.polls,
                k.open_jobs(user), k.user_day(user, day), k.total_day(day)]

    def finish(self, rid: str, state: JobState, *, charge: bool, charged_seconds: int = -1,
               **fields: object) -> str | None:
        """End a job in a terminal `state`: commit (at `charged_seconds` if given) or release its
        reservation. Idempotent: a job already ended is left as it is. Returns the previous state."""
        if not state.terminal:
            raise ValueError(f"{state} is not a terminal state")
        keys = self._finish_keys(rid)
        if keys is None:
            return None
        args = [rid, state.value, "1" if charge else "0", charged_seconds,
                *(x for k, v in fields.items() for x in (k, str(v)))]
        return cast(str | None, self._finish(keys=keys, args=args) or None)

    def cancel(self, job: Job, *, now: float) -> CancelOutcome:
        keys = self._finish_keys(job.rid)
        if keys is None:
            return CancelOutcome.GONE
        keys.append(self.keys.user_queue(job.pool, job.user))
        return CancelOutcome(cast(str, self._cancel(keys=keys, args=[job.rid, now])))

    def status(self, uid: str, *, now: float, max_running: int, max_queued: int, daily: int,
               queue: list[str]) -> QuotaStatus:
        """The user's running and queued jobs and today's seconds (`queue`: their queued rids)."""
        pipe = self.r.pipeline()
        pipe.get(self.keys.user_day(uid, day_of(now)))
        pipe.smembers(self.keys.open_jobs(uid))
        used, open_rids = pipe.execute()
        queued = len(set(cast(set[str], open_rids)) & set(queue))
        return QuotaStatus(running=len(open_rids) - queued, queued=queued, max_running=max_running,
                           max_queued=max_queued, used_seconds=int(used or 0), daily_seconds=daily,
                           resets_at=next_reset(now))

    def spent_today(self, *, now: float) -> int:
        return int(cast(str | None, self.r.get(self.keys.total_day(day_of(now)))) or 0)
