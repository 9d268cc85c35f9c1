"""Job state in Redis: one hash per accepted request, a fair queue, the in-flight set.

Vocabulary (rq-style): `JobState` is a str Enum; every key comes from `JobKeys`;
writers are idempotent so that a redelivered stream entry can replay any step.

    {p}:job:{rid}        HASH   the job record (fields of `Job`)
    {p}:q:user:{uid}     LIST   queued rids of one user (FIFO)
    {p}:q:rr             LIST   users with queued work, round-robin order
    {p}:inflight         ZSET   rids holding an Ark slot, scored by admission time
    {p}:task:{task_id}   STRING rid of an Ark task (also the set of task ids we know)
    {p}:sent:{rid}       STRING delivered-marker (the video or failure reply was posted)
    {p}:recent:{chat}:{uid} LIST most recent rids of a user in a chat (for /status etc.)
    {p}:bymsg:{message_id} STRING rid of the job a bot message (card, video) belongs to
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import redis

from bot.store.keys import Keys

DELIVERED_TTL = 7 * 86400
JOB_TTL = 30 * 86400  # job records outlive Ark's 7-day task history, then go


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
    running_at: float = 0.0
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

    def task(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"

    def sent(self, rid: str) -> str:
        return f"{self.prefix}:sent:{rid}"

    def recent(self, chat_id: str, uid: str) -> str:
        return f"{self.prefix}:recent:{chat_id}:{uid}"

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



# Admission: pop the next rid round-robin across users, if a slot is free.
# KEYS: rr, inflight; ARGV: cap, now, user-queue prefix. Returns rid or nil.
_ADMIT = """
local cap = tonumber(ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= cap then return nil end
local n = redis.call('LLEN', KEYS[1])
for i = 1, n do
  local uid = redis.call('LPOP', KEYS[1])
  if not uid then return nil end
  local q = ARGV[3] .. uid
  local rid = redis.call('LPOP', q)
  if redis.call('LLEN', q) > 0 then redis.call('RPUSH', KEYS[1], uid) end
  if rid then
    redis.call('ZADD', KEYS[2], ARGV[2], rid)
    return rid
  end
end
return nil
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


class JobStore:
    """All reads and writes of job state. Every method is safe to repeat."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r = r
        self.keys = JobKeys(prefix)
        self._admit = r.register_script(_ADMIT)
        self._enqueue = r.register_script(_ENQUEUE)

    # --- records -----------------------------------------------------------------
    def create(self, job: Job) -> bool:
        """Store a new job unless one with this rid exists (redelivery). True if created."""
        key = self.keys.job(job.rid)
        if not self.r.hsetnx(key, "rid", job.rid):
            return False
        pipe = self.r.pipeline()
        pipe.hset(key, mapping=job.to_hash())  # type: ignore[arg-type]
        pipe.expire(key, JOB_TTL)
        pipe.zadd(self.keys.active, {job.rid: job.accepted_at or time.time()})
        recent = self.keys.recent(job.chat_id, job.user)
        pipe.lpush(recent, job.rid)
        pipe.ltrim(recent, 0, 49)
        pipe.expire(recent, JOB_TTL)
        pipe.execute()
        return True

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
        """Take the next queued rid (round-robin across users) if fewer than `cap` are in flight."""
        rid = self._admit(keys=[self.keys.rr, self.keys.inflight],
                          args=[cap, time.time(), self.keys.user_queue("")])
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
        return bool(self.r.set(self.keys.lease(name, rid), owner, nx=True, px=int(seconds * 1000)))

    def drop_lease(self, name: str, rid: str) -> None:
        self.r.delete(self.keys.lease(name, rid))

    def index_message(self, message_id: str, rid: str) -> None:
        """Remember which job a bot message (card, video) belongs to, for replies to it."""
        self.r.set(self.keys.by_message(message_id), rid, ex=JOB_TTL)

    def rid_for_message(self, message_id: str) -> str | None:
        return cast(str | None, self.r.get(self.keys.by_message(message_id)))

    def set_callback(self, secret: str, rid: str) -> None:
        self.r.set(self.keys.callback(secret), rid, ex=JOB_TTL)
