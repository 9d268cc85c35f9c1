"""Job records and the per-state counters, plus the polling schedule and the hand-off streams.

Real Redis (`redis_url`); the records are written the only way production writes them
(`Budgets.accept`), and the counters are checked against a count of the records after every
kind of transition, including many threads moving jobs at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import cast

import pytest
import redis

from bot.store.jobs import DELIVERED_TTL, JOB_TTL, Job, JobKeys, JobRecords, JobState, Pool, message_rid
from bot.store.polls import Polls
from bot.store.queue import FairQueue
from bot.store.quotas import Acceptance, Budgets, Limits
from bot.store.streams import Streams

PREFIX = "t"
NO_LIMITS = Limits(user_daily=0, total_daily=0, max_open=0, admin=False)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def keys() -> JobKeys:
    return JobKeys(PREFIX)


@pytest.fixture
def records(r: redis.Redis, keys: JobKeys) -> JobRecords:
    return JobRecords(r, keys)


def job(rid: str, user: str = "ou_a", **fields: object) -> Job:
    return Job(rid=rid, kind="video", chat_id="oc_1", user=user, reply_to=f"om_{rid}",
               spec='{"prompt": "a kitten"}', accepted_at=1_800_000_000.5, **fields)  # type: ignore[arg-type]


def accept(r: redis.Redis, keys: JobKeys, *jobs: Job) -> None:
    budgets = Budgets(r, keys)
    for j in jobs:
        assert budgets.accept(j, 5, NO_LIMITS, now=time.time()) == Acceptance.OK


def counted(r: redis.Redis, keys: JobKeys) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in r.scan_iter(match=f"{keys.job_prefix}*"):
        state = r.hget(key, "state")
        if state:
            out[str(state)] = out.get(str(state), 0) + 1
    return out


def nonzero(stats: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in stats.items() if v}


# --- records ----------------------------------------------------------------------------------------


def test_record_round_trips_every_field_type(r: redis.Redis, keys: JobKeys, records: JobRecords) -> None:
    original = job("m-1", lang="zh", in_thread=1, duration=8, seed=-1, tokens=108900, attempts=2,
                   creating_since=1_800_000_000.25, extra='{"looks_after": 3}', pool=Pool.SLOW.value)
    accept(r, keys, original)
    got = records.get("m-1")
    assert got is not None
    # accept() stores the reservation with the record; everything else is as given.
    assert got.reservation == "held" and got.reserved_seconds == 5 and got.reserved_day
    assert got.to_hash() | {"reservation": "", "reserved_seconds": "0", "reserved_day": ""} == original.to_hash()
    assert got.job_state is JobState.QUEUED and got.extra_dict() == {"looks_after": 3}
    assert got.spec_dict() == {"prompt": "a kitten"}
    assert 0 < r.ttl(keys.job("m-1")) <= JOB_TTL
    assert records.get("m-unknown") is None
    assert message_rid("om_x") == "m-om_x"


def test_update_and_set_state_never_create_a_stub_record(r: redis.Redis, keys: JobKeys,
                                                         records: JobRecords) -> None:
    assert records.update("m-gone", task_id="cgt-1") is False
    assert records.set_state("m-gone", JobState.DONE, tokens=3) is None
    assert not r.exists(keys.job("m-gone")), "a late writer must not resurrect a deleted job"
    assert records.stats() == {}, "no counter moved for a job that does not exist"
    assert records.update("m-gone") is True, "nothing to write is a no-op"


def test_set_state_keeps_the_counters_through_every_transition(r: redis.Redis, keys: JobKeys,
                                                               records: JobRecords) -> None:
    accept(r, keys, job("m-1"), job("m-2"), job("m-3"))
    assert nonzero(records.stats()) == {"queued": 3}
    chain = [JobState.STARTING, JobState.SUBMITTED, JobState.FINISHED, JobState.DONE]
    for state in chain:
        before = records.field("m-1", "state")
        assert records.set_state("m-1", state, looked_at=1.5) == before
        assert nonzero(records.stats()) == counted(r, keys)
    assert records.set_state("m-1", JobState.DONE) == "done", "a repeat returns the same state"
    assert records.set_state("m-2", JobState.FAILED, error_code="x") == "queued"
    assert records.set_state("m-3", JobState.CANCELLED) == "queued"
    assert nonzero(records.stats()) == {"done": 1, "failed": 1, "cancelled": 1} == counted(r, keys)
    assert records.field("m-2", "error_code") == "x"


def test_a_terminal_state_leaves_the_active_index_and_both_pools(r: redis.Redis, keys: JobKeys,
                                                                 records: JobRecords) -> None:
    accept(r, keys, job("m-1"), job("m-2", pool=Pool.SLOW.value))
    q = FairQueue(r, keys)
    assert q.admit(Pool.STANDARD, 3) == "m-1"
    assert q.admit(Pool.SLOW, 3) == "m-2"
    assert set(records.active_rids()) == {"m-1", "m-2"}
    records.set_state("m-1", JobState.SUBMITTED)
    assert q.in_flight() == ["m-1", "m-2"], "a non-terminal state keeps the slot"
    records.set_state("m-1", JobState.FAILED)
    records.set_state("m-2", JobState.DONE)
    assert q.in_flight() == [] and records.active_rids() == []
    assert q.counts() == {"standard": 0, "slow": 0}


def test_counters_stay_exact_when_many_threads_move_jobs_at_once(r: redis.Redis, keys: JobKeys,
                                                                 records: JobRecords, redis_url: str) -> None:
    jobs = [job(f"m-{i}", user=f"ou_{i % 7}") for i in range(60)]
    accept(r, keys, *jobs)
    states = [JobState.STARTING, JobState.SUBMITTED, JobState.FINISHED, JobState.DONE, JobState.FAILED,
              JobState.CANCELLED, JobState.QUEUED]
    go = threading.Event()

    def mover(seed: int) -> None:
        own = JobRecords(redis.Redis.from_url(redis_url, decode_responses=True), keys)
        go.wait()
        for n in range(300):
            j = jobs[(seed * 31 + n * 7) % len(jobs)]
            own.set_state(j.rid, states[(seed + n) % len(states)])

    threads = [threading.Thread(target=mover, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    stats = nonzero(records.stats())
    assert sum(stats.values()) == 60
    assert stats == counted(r, keys)


def test_task_and_message_indexes_and_the_sent_marker(r: redis.Redis, keys: JobKeys,
                                                      records: JobRecords) -> None:
    r.set(keys.task("cgt-1"), "m-1")
    assert records.rid_for_task("cgt-1") == "m-1"
    assert records.rids_for_tasks(["cgt-2", "cgt-1"]) == [None, "m-1"]
    assert records.rids_for_tasks([]) == []
    records.index_message("om_card", "m-1")
    assert records.rid_for_message("om_card") == "m-1" and 0 < r.ttl(keys.by_message("om_card")) <= JOB_TTL
    assert not records.is_sent("m-1")
    records.mark_sent("m-1", "om_video")
    assert records.is_sent("m-1") and 0 < r.ttl(keys.sent("m-1")) <= DELIVERED_TTL


def test_settings_and_shown_positions(records: JobRecords) -> None:
    records.set_prefs("user", "ou_a", {"model": "1.5", "ratio": "9:16"})
    records.set_prefs("user", "ou_a", {"ratio": None, "duration": "8"})
    assert records.prefs("user", "ou_a") == {"model": "1.5", "duration": "8"}
    records.set_prefs("user", "ou_a", {"resolution": "720p"}, reset=True)
    assert records.prefs("user", "ou_a") == {"resolution": "720p"}
    records.set_shown_position("m-1", 3)
    assert records.shown_position("m-1") == "3"
    records.set_shown_position("m-1", 0)
    assert records.shown_position("m-1") == "" and not records.r.exists(records.keys.card_positions)


# --- polling schedule and delayed work ---------------------------------------------------------------


def test_polls_plan_pull_forward_and_due(r: redis.Redis, keys: JobKeys) -> None:
    polls = Polls(r, keys)
    polls.plan("m-1", 100.0)
    polls.plan("m-2", 50.0)
    polls.pull_forward("m-1", 200.0)
    assert polls.planned("m-1") == 100.0, "a hint never postpones a look"
    polls.pull_forward("m-1", 10.0)
    assert polls.planned("m-1") == 10.0
    polls.plan("m-1", 300.0)
    assert polls.planned("m-1") == 300.0, "a plan replaces the earlier one"
    assert polls.due(60.0, 10) == ["m-2"] and polls.due(1000.0, 1) == ["m-2"]
    polls.drop("m-2")
    assert polls.count() == 1 and polls.planned("m-2") is None


def test_delayed_work_moves_once_and_only_into_this_deployments_streams(r: redis.Redis, keys: JobKeys) -> None:
    polls = Polls(r, keys)
    polls.later(keys.deliver, {"rid": "m-1"}, 10.0)
    polls.later(keys.deliver, {"rid": "m-1"}, 12.0)  # the same content: one entry, rescheduled
    polls.later(keys.inbox, {"kind": "start", "payload": json.dumps({"rid": "m-2"})}, 20.0)
    polls.later("other:inbox", {"kind": "start"}, 5.0)  # not under this prefix: dropped, never emitted
    assert polls.later_count() == 3
    assert polls.move_due(11.0) == 0 and polls.later_count() == 2
    assert not r.exists("other:inbox")
    assert polls.move_due(15.0) == 1
    assert [f for _, f in xrange(r, keys.deliver)] == [{"rid": "m-1"}]
    assert polls.move_due(15.0) == 0, "moved exactly once"
    assert polls.move_due(100.0) == 1 and polls.later_count() == 0
    assert [f["kind"] for _, f in xrange(r, keys.inbox)] == ["start"]


def xrange(r: redis.Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    return cast(list[tuple[str, dict[str, str]]], r.xrange(stream))


# --- streams -------------------------------------------------------------------------------------------


def test_streams_group_read_done_and_claim(r: redis.Redis, keys: JobKeys) -> None:
    s = Streams(r)
    s.ensure_group(keys.inbox, "g")
    s.ensure_group(keys.inbox, "g")  # BUSYGROUP is fine
    s.emit(keys.inbox, kind="admit", payload={"a": 1})
    got = s.read("g", "c1", {keys.inbox: ">"}, count=10)
    [(stream, [(entry_id, fields)])] = got
    assert stream == keys.inbox and fields == {"kind": "admit", "payload": '{"a": 1}'}
    assert s.pending(keys.inbox, "g") == 1 and s.deliveries(keys.inbox, "g", entry_id) == 1
    assert s.claim_idle(keys.inbox, "g", "c2", 0) == 1, "an idle entry goes to another consumer"
    assert s.deliveries(keys.inbox, "g", entry_id) == 1, "claiming is not a delivery ..."
    [(_, [(again, _fields)])] = s.read("g", "c2", {keys.inbox: "0"}, count=10)
    assert again == entry_id and s.deliveries(keys.inbox, "g", entry_id) == 2, "... reading it is: once"
    s.done(keys.inbox, "g", entry_id)
    assert s.pending(keys.inbox, "g") == 0 and s.length(keys.inbox) == 0, "acknowledged entries are deleted"
    assert s.pending("{t}:nothing", "g") == 0
