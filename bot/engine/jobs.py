"""Job state in Redis: one hash per accepted request, a fair queue, the in-flight set.

Vocabulary (rq-style): `JobState` is a str Enum; every key comes from `JobKeys`;
writers are idempotent so that a redelivered stream entry can replay any step.

    {p}:job:{rid}        HASH   the job record (fields of `Job`)
    {p}:q:user:{uid}     LIST   queued rids of one user (FIFO)
    {p}:q:rr             LIST   users with queued work, round-robin order
    {p}:q:served         HASH   uid -> turn of the user's latest admission (fair-queue memory)
    {p}:inflight         ZSET   rids holding an Ark slot, scored by admission time
    {p}:task:{task_id}   STRING rid of an Ark task (also the set of task ids we know)
    {p}:sent:{rid}       STRING delivered-marker (the video or failure reply was posted)
    {p}:recent:{chat}:{uid} LIST most recent rids of a user in a chat (for /status etc.)
    {p}:settings:{scope}:{id} HASH /settings defaults of a user or a chat
    {p}:bymsg:{message_id} STRING rid of the job a bot message (card, video) belongs to
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import redis

from bot.store.keys import Keys

DELIVERED_TTL = 7 * 86400
JOB_TTL = 30 * 86400  # job records outlive Ark's 7-day task history, then go


def message_rid(message_id: str) -> str:
    """The request id of a job asked for by a chat message: redeliveries of it find the same job."""
    return f"m-{message_id}"


class JobState(StrEnum):
    """Where a request is. Terminal states: DONE, FAILED, CANCELLED."""

    QUEUED = "queued"  # accepted, waiting for an Ark slot (our fair queue)
    STARTING = "starting"  # admitted: images being fetched, create call about to happen
    SUBMITTED = "submitted"  # Ark task exists (queued or running at Ark)
    FINISHED = "finished"  # Ark task ended; delivery pending
    DONE = "done"  # video delivered
    FAILED = "failed"  # ended with an explanation posted
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass
class Job:
    """A user's request, from acceptance to delivery. Strings and ints only: it lives in a hash."""

    rid: str
    kind: str  # video | draft | final | extend | reroll
    chat_id: str
    user: str  # requester open_id
    reply_to: str  # message_id to reply to (keeps the thread)
    spec: str  # JSON of the VideoSpec fields (image sources still feishu-image:...)
    lang: str = "en"
    chat_type: str = "group"
    thread_id: str = ""
    in_thread: int = 0  # reply with reply_in_thread
    parent_rid: str = ""  # for final / reroll / extend
    state: str = JobState.QUEUED.value
    accepted_at: float = 0.0
    admitted_at: float = 0.0
    creating_since: float = 0.0  # set just before the create call; see bot.engine.creator
    submitted_at: float = 0.0
    running_at: float = 0.0  # first seen running (dated back to the look before; see watch.check_task)
    looked_at: float = 0.0  # the scheduler's latest GET of the Ark task
    finished_at: float = 0.0
    task_id: str = ""
    task_status: str = ""
    cb_secret: str = ""
    card_id: str = ""  # the live job card's message_id
    card_patched_at: float = 0.0
    error_code: str = ""
    error_message: str = ""
    model: str = ""
    resolution: str = ""
    ratio: str = ""
    duration: int = 0
    seed: int = -1
    tokens: int = 0
    video_message_id: str = ""
    last_frame_url: str = ""
    delivered_at: float = 0.0
    file_key: str = ""
    image_key: str = ""
    reserved_seconds: int = 0  # quota reserved at submission, released on failure
    cancel_requested: int = 0
    attempts: int = 0
    extra: str = "{}"  # JSON for feature-specific fields

    def spec_dict(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.spec or "{}"))

    def extra_dict(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.extra or "{}"))

    @property
    def job_state(self) -> JobState:
        return JobState(self.state)

    def to_hash(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> Job:
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            if f.type in ("int", int):
                kwargs[f.name] = int(float(raw or 0))
            elif f.type in ("float", float):
                kwargs[f.name] = float(raw or 0)
            else:
                kwargs[f.name] = raw
        return cls(**kwargs)


@dataclass(frozen=True)
class JobKeys(Keys):
    """The ingress's keys plus the engine's."""

    def job(self, rid: str) -> str:
        return f"{self.prefix}:job:{rid}"

    def user_queue(self, uid: str) -> str:
        return f"{self.prefix}:q:user:{uid}"

    @property
    def rr(self) -> str:
        return f"{self.prefix}:q:rr"

    @property
    def inflight(self) -> str:
        return f"{self.prefix}:inflight"

    @property
    def served(self) -> str:
        """HASH uid → turn of the user's latest admission (fair-queue memory; see `_ADMIT`)."""
        return f"{self.prefix}:q:served"

    def task(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"

    def sent(self, rid: str) -> str:
        return f"{self.prefix}:sent:{rid}"

    def recent(self, chat_id: str, uid: str) -> str:
        return f"{self.prefix}:recent:{chat_id}:{uid}"

    def prefs(self, scope: str, ident: str) -> str:
        """HASH of /settings defaults; scope is "user" (open_id) or "chat" (chat_id)."""
        return f"{self.prefix}:settings:{scope}:{ident}"

    def by_message(self, message_id: str) -> str:
        return f"{self.prefix}:bymsg:{message_id}"

    def lease(self, name: str, rid: str) -> str:
        return f"{self.prefix}:lease:{name}:{rid}"

    @property
    def create_lock(self) -> str:
        return f"{self.prefix}:lock:create"

    @property
    def active(self) -> str:
        """ZSET of non-terminal rids scored by acceptance time (for reconcile)."""
        return f"{self.prefix}:active"

    @property
    def deliver(self) -> str:
        return f"{self.prefix}:deliver"



# Admission: pop the next rid, if a slot is free. Among users with queued work, the one
# holding the fewest slots goes first, then the one served longest ago (never = first), then
# queue order: a user whose burst filled every free slot before anyone else asked does not
# also get the next slot ahead of users still waiting for their first
# (tests/e2e/test_engine_scale.py). The turn of each user's latest admission is kept in the
# `served` hash (one field per user, plus the '#turn' counter).
# KEYS: rr, inflight, served; ARGV: cap, now, user-queue prefix, job-record prefix. Returns rid or nil.
_ADMIT = """
local cap = tonumber(ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= cap then return nil end
local held = {}
for _, r in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local u = redis.call('HGET', ARGV[4] .. r, 'user')
  if u then held[u] = (held[u] or 0) + 1 end
end
local best, bheld, bturn = nil, 0, 0
for _, uid in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('LLEN', ARGV[3] .. uid) == 0 then
    redis.call('LREM', KEYS[1], 0, uid)
  else
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
redis.call('ZADD', KEYS[2], ARGV[2], rid)
return rid
"""

# Enqueue once: only if the rid is not already queued/in flight.
# KEYS: user queue, rr, inflight; ARGV: rid, uid
_ENQUEUE = """
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
if not redis.call('LPOS', KEYS[2], ARGV[2]) then redis.call('RPUSH', KEYS[2], ARGV[2]) end
return 1
"""


# KEYS: job, active, recent; ARGV: ttl, score, rid, then the record's field/value pairs.
_CREATE = """
if redis.call('HEXISTS', KEYS[1], 'rid') == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], 0, 49)
redis.call('EXPIRE', KEYS[3], ARGV[1])
return 1
"""

# Delete KEYS[1] only if it still holds one of ARGV (identities of a killed predecessor).
_RELEASE_IF_HELD_BY = """
local v = redis.call('GET', KEYS[1])
for i = 1, #ARGV do
  if v == ARGV[i] then return redis.call('DEL', KEYS[1]) end
end
return 0
"""

_lease_identity = threading.local()


def set_lease_identity(name: str | None) -> None:
    """Give the calling thread a stable identity (a worker's consumer name) for leases.

    Leases (and the create lock) taken by this thread then record that name, so that
    a worker restarted under the same names after a SIGKILL can free what its
    predecessor held (`JobStore.release_held_by`) instead of waiting for them to
    expire (2 min for a start, 90 s for the create lock, during which every create
    waits). Names must be unique among live processes: several workers on one host
    need distinct `BOT_NODE`s.
    """
    _lease_identity.name = name


def lease_identity() -> str | None:
    return cast(str | None, getattr(_lease_identity, "name", None))


class JobStore:
    """All reads and writes of job state. Every method is safe to repeat."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r = r
        self.keys = JobKeys(prefix)
        self._admit = r.register_script(_ADMIT)
        self._enqueue = r.register_script(_ENQUEUE)

    # --- records -----------------------------------------------------------------
    def create(self, job: Job) -> bool:
        """Store a new job unless one with this rid exists (redelivery). True if created.

        One script, all or nothing: claiming the rid (HSETNX) and writing the record in two
        steps left, after a SIGKILL in between, a hash holding only `rid` that no reader could
        load, and the request was lost.
        """
        fields = [x for kv in job.to_hash().items() for x in kv]
        keys = [self.keys.job(job.rid), self.keys.active, self.keys.recent(job.chat_id, job.user)]
        return bool(self.r.eval(_CREATE, len(keys), *keys, JOB_TTL, job.accepted_at or time.time(), job.rid,
                                *fields))

    def discard(self, job: Job) -> None:
        """Forget a job that was refused before it was queued (e.g. over quota): no trace left."""
        pipe = self.r.pipeline()
        pipe.delete(self.keys.job(job.rid))
        pipe.zrem(self.keys.active, job.rid)
        pipe.lrem(self.keys.recent(job.chat_id, job.user), 0, job.rid)
        pipe.execute()

    # --- user and chat defaults (/settings) -------------------------------------------
    def prefs(self, scope: str, ident: str) -> dict[str, str]:
        return cast(dict[str, str], self.r.hgetall(self.keys.prefs(scope, ident)))

    def set_prefs(self, scope: str, ident: str, changes: dict[str, str | None], *, reset: bool = False) -> None:
        """Apply /settings changes; a None value removes that key, `reset` removes them all first."""
        key = self.keys.prefs(scope, ident)
        pipe = self.r.pipeline()
        if reset:
            pipe.delete(key)
        for name, value in changes.items():
            if value is None:
                pipe.hdel(key, name)
            else:
                pipe.hset(key, name, value)
        pipe.execute()

    def get(self, rid: str) -> Job | None:
        data = cast(dict[str, str], self.r.hgetall(self.keys.job(rid)))
        return Job.from_hash(data) if data.get("rid") else None

    def update(self, rid: str, **fields: Any) -> None:
        self.r.hset(self.keys.job(rid), mapping={k: str(v) for k, v in fields.items()})

    def set_state(self, rid: str, state: JobState, **fields: Any) -> None:
        pipe = self.r.pipeline()
        pipe.hset(self.keys.job(rid), mapping={"state": state.value, **{k: str(v) for k, v in fields.items()}})
        if state.terminal:
            pipe.zrem(self.keys.active, rid)
            pipe.zrem(self.keys.inflight, rid)
        pipe.execute()

    def recent(self, chat_id: str, uid: str, limit: int = 10) -> list[str]:
        return cast(list[str], self.r.lrange(self.keys.recent(chat_id, uid), 0, limit - 1))

    def active_rids(self) -> list[str]:
        return cast(list[str], self.r.zrange(self.keys.active, 0, -1))

    # --- tasks -------------------------------------------------------------------
    def bind_task(self, rid: str, task_id: str, **fields: Any) -> None:
        """Record the Ark task of a job: the one write that makes a create durable."""
        pipe = self.r.pipeline()
        pipe.set(self.keys.task(task_id), rid, ex=JOB_TTL)
        pipe.hset(
            self.keys.job(rid),
            mapping={"task_id": task_id, "creating_since": "0", "state": JobState.SUBMITTED.value,
                     **{k: str(v) for k, v in fields.items()}},
        )
        pipe.execute()

    def rid_for_task(self, task_id: str) -> str | None:
        return cast(str | None, self.r.get(self.keys.task(task_id)))

    def knows_task(self, task_id: str) -> bool:
        return bool(self.r.exists(self.keys.task(task_id)))

    # --- fair queue and slots --------------------------------------------------------
    def enqueue(self, rid: str, uid: str) -> bool:
        return bool(self._enqueue(keys=[self.keys.user_queue(uid), self.keys.rr, self.keys.inflight],
                                  args=[rid, uid]))

    def admit(self, cap: int) -> str | None:
        """Take the next queued rid if fewer than `cap` are in flight: users holding fewer slots
        first, then the one served longest ago (round-robin across users)."""
        rid = self._admit(keys=[self.keys.rr, self.keys.inflight, self.keys.served],
                          args=[cap, time.time(), self.keys.user_queue(""), self.keys.job("")])
        return cast(str | None, rid)

    def release(self, rid: str) -> None:
        self.r.zrem(self.keys.inflight, rid)

    def dequeue(self, rid: str, uid: str) -> bool:
        """Remove a queued rid (cancel before admission). True if it was still queued."""
        return bool(self.r.lrem(self.keys.user_queue(uid), 0, rid))

    def in_flight(self) -> list[str]:
        return cast(list[str], self.r.zrange(self.keys.inflight, 0, -1))

    def queue_position(self, rid: str, uid: str) -> int:
        """1-based estimate of how many jobs run before this one starts (round-robin aware)."""
        mine = cast(list[str], self.r.lrange(self.keys.user_queue(uid), 0, -1))
        if rid not in mine:
            return 0
        idx = mine.index(rid)
        ahead = idx
        for other in cast(list[str], self.r.lrange(self.keys.rr, 0, -1)):
            if other != uid:
                ahead += min(int(self.r.llen(self.keys.user_queue(other))), idx + 1)
        return ahead + 1

    def queued_count(self) -> int:
        total = 0
        for uid in cast(list[str], self.r.lrange(self.keys.rr, 0, -1)):
            total += int(self.r.llen(self.keys.user_queue(uid)))
        return total

    # --- delivery markers and leases -------------------------------------------------
    def is_sent(self, rid: str) -> bool:
        return bool(self.r.exists(self.keys.sent(rid)))

    def mark_sent(self, rid: str, what: str) -> None:
        self.r.set(self.keys.sent(rid), what, ex=DELIVERED_TTL)

    def take_lease(self, name: str, rid: str, seconds: float, owner: str) -> bool:
        owner = lease_identity() or owner  # a worker thread's stable name (see set_lease_identity)
        return bool(self.r.set(self.keys.lease(name, rid), owner, nx=True, px=int(seconds * 1000)))

    def release_held_by(self, owners: list[str]) -> int:
        """Free the leases and the create lock held under `owners`: the stable names of a worker
        that was killed and is starting again, so nothing alive holds them. Returns how many."""
        if not owners:
            return 0
        keys = [*self.r.scan_iter(match=f"{self.keys.prefix}:lease:*", count=1000), self.keys.create_lock]
        return sum(int(cast(int, self.r.eval(_RELEASE_IF_HELD_BY, 1, key, *owners))) for key in keys)

    def drop_lease(self, name: str, rid: str) -> None:
        self.r.delete(self.keys.lease(name, rid))

    def index_message(self, message_id: str, rid: str) -> None:
        """Remember which job a bot message (card, video) belongs to, for replies to it."""
        self.r.set(self.keys.by_message(message_id), rid, ex=JOB_TTL)

    def rid_for_message(self, message_id: str) -> str | None:
        return cast(str | None, self.r.get(self.keys.by_message(message_id)))

    def set_callback(self, secret: str, rid: str) -> None:
        self.r.set(self.keys.callback(secret), rid, ex=JOB_TTL)
