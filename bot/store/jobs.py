"""Job records: one Redis hash per accepted request, its state, and the counters by state.

Vocabulary (rq-style): `JobState` and `Pool` are `str` enums; every key comes from
`bot.store.keys.Keys`; every state change goes through one script that also keeps
the per-state counters (`{p}:stats`), so `/metrics` reads them in O(1).
"""

from __future__ import annotations

import dataclasses
import json
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
    STARTING = "starting"  # admitted: holds a slot; images being fetched, create about to happen
    SUBMITTED = "submitted"  # Ark task exists (queued or running at Ark)
    FINISHED = "finished"  # Ark task ended; delivery pending
    DONE = "done"  # video delivered
    FAILED = "failed"  # ended with an explanation posted
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


class Pool(StrEnum):
    """Ark slots are held per pool, so jobs that may sit at Ark for hours never block the rest."""

    STANDARD = "standard"
    SLOW = "slow"  # flex tier, or an expiry beyond the default: may wait hours at Ark


class Reservation(StrEnum):
    """What happened to the video seconds a job reserved at acceptance."""

    HELD = "held"
    COMMITTED = "committed"  # delivered: the seconds stay used
    RELEASED = "released"  # failed or cancelled: the seconds were given back (exactly once)


@dataclass
class Job:
    """A user's request, from acceptance to delivery. Strings and numbers only: it lives in a hash."""

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
    pool: str = Pool.STANDARD.value
    accepted_at: float = 0.0
    admitted_at: float = 0.0
    creating_since: float = 0.0  # an Ark create attempt is outstanding; see bot.engine.creator
    attempt: str = ""  # JSON fingerprint of that attempt (bot.engine.fingerprint)
    submitted_at: float = 0.0
    running_at: float = 0.0  # first seen running (dated back to the look before)
    looked_at: float = 0.0  # the scheduler's latest look at the Ark task
    looks: int = 0  # looks made after the expected time passed (polling backoff)
    finished_at: float = 0.0
    task_id: str = ""
    task_status: str = ""
    cb_secret: str = ""
    card_id: str = ""  # the live job card's message_id
    card_patched_at: float = 0.0
    card_updates: int = 0  # patches sent (the first card, a reply, is not counted)
    error_code: str = ""
    error_message: str = ""
    error_fix: str = ""  # what to try, shown on the failed card
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
    reserved_seconds: int = 0  # video seconds reserved at acceptance
    reserved_day: str = ""  # the UTC day (YYYYMMDD) they were reserved on
    reservation: str = ""  # Reservation value ("" = nothing reserved)
    cancel_requested: int = 0
    attempts: int = 0  # Ark create attempts
    tries: int = 0  # transient failures retried in the current step (start or delivery)
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


JobKeys = Keys  # the engine's keys are built by the one `Keys` class


# Every state change: refuse on a missing record (never create a stub hash), keep the
# per-state counters, and leave the active/in-flight sets when the state is terminal.
# KEYS: job, active, stats, inflight(standard), inflight(slow)
# ARGV: new state, terminal ("1"/"0"), then field/value pairs. Returns the old state or false.
_SET_STATE = """
local old = redis.call('HGET', KEYS[1], 'state')
if not old then return false end
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
if old ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  redis.call('HINCRBY', KEYS[3], old, -1)
  redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
end
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[2], redis.call('HGET', KEYS[1], 'rid'))
  redis.call('ZREM', KEYS[4], redis.call('HGET', KEYS[1], 'rid'))
  redis.call('ZREM', KEYS[5], redis.call('HGET', KEYS[1], 'rid'))
end
return old
"""

# Update fields of an existing record only (a late writer never resurrects a deleted job).
# KEYS: job; ARGV: field/value pairs
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


class JobRecords:
    """Reads and writes of job records. Every method is safe to repeat."""

    def __init__(self, r: redis.Redis, keys: JobKeys) -> None:
        self.r = r
        self.keys = keys
        self._set_state = r.register_script(_SET_STATE)
        self._update = r.register_script(_UPDATE)

    def get(self, rid: str) -> Job | None:
        data = cast(dict[str, str], self.r.hgetall(self.keys.job(rid)))
        return Job.from_hash(data) if data.get("rid") else None

    def update(self, rid: str, **fields: Any) -> bool:
        """Set fields of an existing job; False (and nothing written) if the job is gone."""
        if not fields:
            return True
        args = [x for k, v in fields.items() for x in (k, str(v))]
        return bool(self._update(keys=[self.keys.job(rid)], args=args))

    def set_state(self, rid: str, state: JobState, **fields: Any) -> str | None:
        """Move a job to `state` (with extra fields). Returns the previous state, None if no job."""
        args = [state.value, "1" if state.terminal else "0", *(x for k, v in fields.items() for x in (k, str(v)))]
        old = self._set_state(keys=[self.keys.job(rid), self.keys.active, self.keys.stats,
                                    self.keys.inflight(Pool.STANDARD), self.keys.inflight(Pool.SLOW)], args=args)
        return cast(str | None, old) if old else None

    def field(self, rid: str, name: str) -> str | None:
        return cast(str | None, self.r.hget(self.keys.job(rid), name))

    def recent(self, chat_id: str, uid: str, limit: int = 10) -> list[str]:
        return cast(list[str], self.r.lrange(self.keys.recent(chat_id, uid), 0, limit - 1))

    def active_rids(self) -> list[str]:
        return cast(list[str], self.r.zrange(self.keys.active, 0, -1))

    def forget_active(self, rid: str) -> None:
        """Drop a rid from the active index whose record is gone (expired or never written)."""
        self.r.zrem(self.keys.active, rid)

    def stats(self) -> dict[str, int]:
        """Jobs per state (one HGETALL): the engine's gauges and totals."""
        return {k: int(v) for k, v in cast(dict[str, str], self.r.hgetall(self.keys.stats)).items()}

    # --- tasks and messages -------------------------------------------------------------
    def rid_for_task(self, task_id: str) -> str | None:
        return cast(str | None, self.r.get(self.keys.task(task_id)))

    def rids_for_tasks(self, task_ids: list[str]) -> list[str | None]:
        if not task_ids:
            return []
        return cast(list[str | None], self.r.mget([self.keys.task(t) for t in task_ids]))

    def index_message(self, message_id: str, rid: str) -> None:
        """Remember which job a bot message (card, video) belongs to, for replies to it."""
        self.r.set(self.keys.by_message(message_id), rid, ex=JOB_TTL)

    def rid_for_message(self, message_id: str) -> str | None:
        return cast(str | None, self.r.get(self.keys.by_message(message_id)))

    # --- delivery markers ---------------------------------------------------------------
    def is_sent(self, rid: str) -> bool:
        return bool(self.r.exists(self.keys.sent(rid)))

    def mark_sent(self, rid: str, what: str) -> None:
        self.r.set(self.keys.sent(rid), what, ex=DELIVERED_TTL)

    # --- user and chat defaults (/settings) ---------------------------------------------
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

    # --- what each queued card shows ---------------------------------------------------
    def shown_position(self, rid: str) -> str:
        return cast(str | None, self.r.hget(self.keys.card_positions, rid)) or ""

    def set_shown_position(self, rid: str, position: int) -> None:
        if position:
            self.r.hset(self.keys.card_positions, rid, str(position))
        else:
            self.r.hdel(self.keys.card_positions, rid)

    # --- small shared values --------------------------------------------------------------
    def cached_bot_open_id(self) -> str | None:
        return cast(str | None, self.r.get(self.keys.bot_open_id))

    def cache_bot_open_id(self, open_id: str) -> None:
        self.r.set(self.keys.bot_open_id, open_id, ex=86400)
