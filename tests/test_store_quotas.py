"""Budgets (bot/store/quotas.py): acceptance, ending and cancelling, exact under concurrency.

`accept` from many threads and several OS processes for the same user never passes the daily
seconds, the open-jobs bound or the deployment's daily seconds; `finish` commits or releases a
reservation exactly once whatever races it (commit against release, repeats), refunds at the
charged length, and never recreates an expired day counter; `cancel` settles against admission
and the start of a create; every key a job writes expires.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from bot.store.jobs import JOB_TTL, Job, JobKeys, JobRecords, JobState, Pool
from bot.store.queue import FairQueue
from bot.store.quotas import SPENT_TTL, Acceptance, Budgets, CancelOutcome, Limits, day_of, next_reset

PREFIX = "t"
ROOT = Path(__file__).resolve().parents[1]
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
def b(r: redis.Redis, keys: JobKeys) -> Budgets:
    return Budgets(r, keys)


def job(rid: str, user: str = "ou_a", pool: Pool = Pool.STANDARD) -> Job:
    return Job(rid=rid, kind="video", chat_id="oc_1", user=user, reply_to=f"om_{rid}", spec="{}",
               pool=pool.value)


def spent(r: redis.Redis, keys: JobKeys, user: str | None = None) -> int:
    day = day_of(time.time())
    return int(r.get(keys.user_day(user, day) if user else keys.total_day(day)) or 0)


def stats(r: redis.Redis, keys: JobKeys) -> dict[str, int]:
    return {k: v for k, v in JobRecords(r, keys).stats().items() if v}


# --- accept -----------------------------------------------------------------------------------------------


def test_accept_reserves_stores_and_queues_in_one_step(b: Budgets, r: redis.Redis, keys: JobKeys) -> None:
    assert b.accept(job("m-1"), 8, NO_LIMITS, now=time.time()) == Acceptance.OK
    got = JobRecords(r, keys).get("m-1")
    assert got is not None and (got.state, got.reservation, got.reserved_seconds) == ("queued", "held", 8)
    assert got.reserved_day == day_of(time.time())
    assert spent(r, keys, "ou_a") == 8 and spent(r, keys) == 8
    assert r.smembers(keys.open_jobs("ou_a")) == {"m-1"}
    assert r.lrange(keys.user_queue(Pool.STANDARD, "ou_a"), 0, -1) == ["m-1"]
    assert stats(r, keys) == {"queued": 1}
    assert b.accept(job("m-1"), 8, NO_LIMITS, now=time.time()) == Acceptance.EXISTS
    assert spent(r, keys, "ou_a") == 8 and stats(r, keys) == {"queued": 1}, "a redelivery reserves nothing"


@pytest.mark.parametrize(("limits", "outcome"), [
    (Limits(user_daily=10, total_daily=0, max_open=0, admin=False), Acceptance.QUOTA_DAILY),
    (Limits(user_daily=0, total_daily=10, max_open=0, admin=False), Acceptance.QUOTA_TOTAL),
    (Limits(user_daily=0, total_daily=0, max_open=1, admin=False), Acceptance.QUEUE_FULL),
])
def test_a_refused_request_leaves_no_trace(b: Budgets, r: redis.Redis, keys: JobKeys, limits: Limits,
                                           outcome: Acceptance) -> None:
    assert b.accept(job("m-1"), 6, limits, now=time.time()) == Acceptance.OK
    before = {k: r.dump(k) for k in r.keys("*")}
    assert b.accept(job("m-2"), 6, limits, now=time.time()) == outcome
    assert {k: r.dump(k) for k in r.keys("*")} == before


def test_admins_skip_their_own_limits_but_not_the_deployments(b: Budgets, r: redis.Redis, keys: JobKeys) -> None:
    admin = Limits(user_daily=5, total_daily=20, max_open=1, admin=True)
    assert b.accept(job("m-1", "ADMIN"), 8, admin, now=time.time()) == Acceptance.OK
    assert b.accept(job("m-2", "ADMIN"), 8, admin, now=time.time()) == Acceptance.OK
    assert b.accept(job("m-3", "ADMIN"), 8, admin, now=time.time()) == Acceptance.QUOTA_TOTAL


def test_a_full_redis_refuses_new_work(b: Budgets, r: redis.Redis) -> None:
    before = str(r.config_get("maxmemory")["maxmemory"])
    r.config_set("maxmemory", 1)
    try:
        assert b.accept(job("m-1"), 5, NO_LIMITS, now=time.time()) == Acceptance.FULL
    finally:
        r.config_set("maxmemory", before)
    assert not r.exists(JobKeys(PREFIX).job("m-1"))


# One accepting process: waits for the go key, then accepts its share of requests.
_ACCEPT = """
import sys, time
import redis
from bot.store.jobs import Job, JobKeys
from bot.store.quotas import Budgets, Limits

url, prefix, name, n, users, secs, user_daily, total_daily, max_open = sys.argv[1:10]
r = redis.Redis.from_url(url, decode_responses=True)
b = Budgets(r, JobKeys(prefix))
limits = Limits(user_daily=int(user_daily), total_daily=int(total_daily), max_open=int(max_open), admin=False)
users = users.split(",")
r.incr(prefix + ":test:ready")
while not r.exists(prefix + ":test:go"):
    time.sleep(0.002)
for i in range(int(n)):
    user = users[i % len(users)]
    j = Job(rid=f"{name}-{i}", kind="video", chat_id="oc", user=user, reply_to="om", spec="{}")
    r.rpush(prefix + ":test:outcomes", f"{user}|" + b.accept(j, int(secs), limits, now=time.time()).value)
"""


def _race_accept(redis_url: str, r: redis.Redis, *, users: list[str], secs: int, limits: Limits,
                 per_worker: int = 40, threads: int = 6, processes: int = 3) -> Counter[tuple[str, str]]:
    """Accept `per_worker` requests in each of `threads` threads and `processes` processes at once."""
    args = [redis_url, PREFIX, "", str(per_worker), ",".join(users), str(secs), str(limits.user_daily),
            str(limits.total_daily), str(limits.max_open)]
    procs = [subprocess.Popen([sys.executable, "-c", _ACCEPT, *args[:2], f"p{i}", *args[3:]], cwd=ROOT)
             for i in range(processes)]

    def worker(name: str) -> None:
        own = redis.Redis.from_url(redis_url, decode_responses=True)
        ob = Budgets(own, JobKeys(PREFIX))
        while not own.exists(f"{PREFIX}:test:go"):
            time.sleep(0.002)
        for i in range(per_worker):
            user = users[i % len(users)]
            outcome = ob.accept(job(f"{name}-{i}", user), secs, limits, now=time.time())
            own.rpush(f"{PREFIX}:test:outcomes", f"{user}|{outcome.value}")

    ts = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(threads)]
    for t in ts:
        t.start()
    deadline = time.monotonic() + 30
    while int(r.get(f"{PREFIX}:test:ready") or 0) < processes:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r.set(f"{PREFIX}:test:go", "1")
    for p in procs:
        assert p.wait(timeout=60) == 0
    for t in ts:
        t.join()
    out: Counter[tuple[str, str]] = Counter()
    for item in cast(list[str], r.lrange(f"{PREFIX}:test:outcomes", 0, -1)):
        user, outcome = item.split("|")
        out[(user, outcome)] += 1
    assert sum(out.values()) == per_worker * (threads + processes)
    return out


def test_concurrent_accepts_never_pass_the_users_daily_seconds(redis_url: str, r: redis.Redis,
                                                               keys: JobKeys) -> None:
    out = _race_accept(redis_url, r, users=["ou_a"], secs=7, limits=Limits(100, 0, 0, False))
    assert out[("ou_a", "ok")] == 14, out  # 14 x 7 = 98 <= 100 < 105
    assert spent(r, keys, "ou_a") == 98 == spent(r, keys)
    assert stats(r, keys) == {"queued": 14}
    assert r.scard(keys.open_jobs("ou_a")) == 14 == r.llen(keys.user_queue(Pool.STANDARD, "ou_a"))


def test_concurrent_accepts_never_pass_the_open_jobs_bound(redis_url: str, r: redis.Redis, keys: JobKeys) -> None:
    out = _race_accept(redis_url, r, users=["ou_a", "ou_b"], secs=5, limits=Limits(0, 0, 9, False))
    assert out[("ou_a", "ok")] == 9 and out[("ou_b", "ok")] == 9, out
    assert r.scard(keys.open_jobs("ou_a")) == 9 and r.scard(keys.open_jobs("ou_b")) == 9
    assert spent(r, keys) == 90


def test_concurrent_accepts_never_pass_the_deployments_daily_seconds(redis_url: str, r: redis.Redis,
                                                                    keys: JobKeys) -> None:
    users = [f"ou_{i}" for i in range(12)]
    out = _race_accept(redis_url, r, users=users, secs=4, limits=Limits(0, 50, 0, False))
    assert sum(n for (_, o), n in out.items() if o == "ok") == 12, out  # 12 x 4 = 48 <= 50
    assert spent(r, keys) == 48 == sum(spent(r, keys, u) for u in users)
    assert {o for (_, o) in out} == {"ok", "quota_total"}


# --- finish --------------------------------------------------------------------------------------------------


def test_finish_commits_at_the_charged_length(b: Budgets, r: redis.Redis, keys: JobKeys) -> None:
    b.accept(job("m-1"), 12, NO_LIMITS, now=time.time())
    b.accept(job("m-2"), 5, NO_LIMITS, now=time.time())
    assert b.finish("m-1", JobState.DONE, charge=True, charged_seconds=4, tokens=9) == "queued"
    assert spent(r, keys, "ou_a") == 9 == spent(r, keys), "12 reserved, 4 delivered: 8 back"
    got = JobRecords(r, keys).get("m-1")
    assert got is not None and (got.reservation, got.reserved_seconds, got.tokens) == ("committed", 4, 9)
    assert b.finish("m-2", JobState.DONE, charge=True, charged_seconds=6) == "queued"
    assert spent(r, keys) == 10, "a longer video than reserved is charged in full"
    assert r.scard(keys.open_jobs("ou_a")) == 0


def test_finish_releases_and_is_idempotent(b: Budgets, r: redis.Redis, keys: JobKeys) -> None:
    b.accept(job("m-1"), 6, NO_LIMITS, now=time.time())
    assert FairQueue(r, keys).admit(Pool.STANDARD, 3) == "m-1"
    assert b.finish("m-1", JobState.FAILED, charge=False, error_code="x") == "starting"
    assert spent(r, keys) == 0 and FairQueue(r, keys).in_flight() == []
    for state, charge in ((JobState.FAILED, False), (JobState.DONE, True), (JobState.CANCELLED, False)):
        assert b.finish("m-1", state, charge=charge, error_code="later") == "failed"
    got = JobRecords(r, keys).get("m-1")
    assert got is not None and (got.state, got.reservation, got.error_code) == ("failed", "released", "x")
    assert spent(r, keys) == 0 and stats(r, keys) == {"failed": 1}
    assert b.finish("m-gone", JobState.DONE, charge=True) is None
    with pytest.raises(ValueError):
        b.finish("m-1", JobState.FINISHED, charge=True)


def test_commit_and_release_racing_settle_exactly_once(redis_url: str, r: redis.Redis, keys: JobKeys) -> None:
    b = Budgets(r, keys)
    rids = [f"m-{i}" for i in range(40)]
    for i, rid in enumerate(rids):
        assert b.accept(job(rid, f"ou_{i % 3}"), 10, NO_LIMITS, now=time.time()) == Acceptance.OK
    go = threading.Event()

    def ender(kind: int) -> None:
        own = Budgets(redis.Redis.from_url(redis_url, decode_responses=True), keys)
        go.wait()
        order = rids[:]
        random.Random(kind).shuffle(order)
        for rid in order:
            if kind % 2:
                own.finish(rid, JobState.DONE, charge=True, charged_seconds=3)
            else:
                own.finish(rid, JobState.FAILED, charge=False)

    ts = [threading.Thread(target=ender, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join()
    records = JobRecords(r, keys)
    ended = Counter(records.get(rid).state for rid in rids)  # type: ignore[union-attr]
    assert sum(ended.values()) == 40 and set(ended) <= {"done", "failed"}
    assert spent(r, keys) == 3 * ended["done"], "each commit charged 3 s once, each release gave back all"
    assert stats(r, keys) == dict(ended)
    for rid in rids:
        got = records.get(rid)
        assert got is not None
        assert got.reservation == ("committed" if got.state == "done" else "released")


def test_a_refund_after_the_day_counter_expired_creates_no_key(b: Budgets, r: redis.Redis, keys: JobKeys) -> None:
    b.accept(job("m-1"), 6, NO_LIMITS, now=time.time())
    day = day_of(time.time())
    r.delete(keys.user_day("ou_a", day), keys.total_day(day))  # the counters expired (3 days later)
    b.finish("m-1", JobState.FAILED, charge=False)
    assert not r.exists(keys.user_day("ou_a", day)) and not r.exists(keys.total_day(day)), \
        "no negative counter without a TTL appears"


def test_every_key_a_job_leaves_behind_expires(b: Budgets, r: redis.Redis, keys: JobKeys) -> None:
    q = FairQueue(r, keys)
    for i in range(3):
        b.accept(job(f"m-{i}", f"ou_{i}", Pool.SLOW if i == 2 else Pool.STANDARD), 5, NO_LIMITS, now=time.time())
    for pool in Pool:
        while (rid := q.admit(pool, 5)) is not None:
            JobRecords(r, keys).set_state(rid, JobState.SUBMITTED)
    b.finish("m-0", JobState.DONE, charge=True)
    b.finish("m-1", JobState.FAILED, charge=False)
    b.finish("m-2", JobState.CANCELLED, charge=False)
    forever = {k for k in r.keys("*") if r.ttl(k) == -1}
    # What stays without a TTL: the per-state counters and the fair queue's memory of who was served.
    assert forever == {keys.stats, keys.served(Pool.STANDARD), keys.served(Pool.SLOW)}, forever
    assert all(0 < r.ttl(k) <= max(JOB_TTL, SPENT_TTL) for k in r.keys("*") if k not in forever)
    assert r.ttl(keys.total_day(day_of(time.time()))) <= SPENT_TTL


# --- cancel ----------------------------------------------------------------------------------------------------


def test_cancel_settles_against_each_state(b: Budgets, r: redis.Redis, keys: JobKeys) -> None:
    records, q = JobRecords(r, keys), FairQueue(r, keys)
    for rid in ("q", "s", "c", "sub", "fin"):
        b.accept(job(rid), 5, NO_LIMITS, now=time.time())
    now = time.time()
    # queued: cancelled outright and taken off the queue
    assert b.cancel(records.get("q"), now=now) == CancelOutcome.CANCELLED  # type: ignore[arg-type]
    assert "q" not in q.queued_of(Pool.STANDARD, "ou_a", 10)
    admitted = [q.admit(Pool.STANDARD, 10) for _ in range(4)]
    assert admitted == ["s", "c", "sub", "fin"]
    # starting, no create begun: cancelled outright, slot freed
    assert b.cancel(records.get("s"), now=now) == CancelOutcome.CANCELLED  # type: ignore[arg-type]
    assert "s" not in q.in_flight()
    # starting with a create under way: only requested (the create may make a task)
    records.update("c", creating_since=now)
    assert b.cancel(records.get("c"), now=now) == CancelOutcome.REQUESTED  # type: ignore[arg-type]
    got = records.get("c")
    assert got is not None and got.cancel_requested == 1 and got.state == "starting" and "c" in q.in_flight()
    records.set_state("sub", JobState.SUBMITTED, task_id="cgt-1")
    assert b.cancel(records.get("sub"), now=now) == CancelOutcome.REQUESTED  # type: ignore[arg-type]
    records.set_state("fin", JobState.FINISHED)
    assert b.cancel(records.get("fin"), now=now) == CancelOutcome.TOO_LATE  # type: ignore[arg-type]
    assert b.cancel(records.get("q"), now=now) == CancelOutcome.TOO_LATE  # type: ignore[arg-type]
    r.delete(keys.job("q"))
    assert b.cancel(job("q"), now=now) == CancelOutcome.GONE
    assert spent(r, keys) == 5 * 3, "two cancelled outright gave their seconds back, once"
    assert stats(r, keys) == {"cancelled": 2, "starting": 1, "submitted": 1, "finished": 1}


def test_cancel_racing_admission_never_leaves_a_cancelled_job_holding_a_slot(redis_url: str, r: redis.Redis,
                                                                             keys: JobKeys) -> None:
    b = Budgets(r, keys)
    rids = [f"m-{i}" for i in range(60)]
    for i, rid in enumerate(rids):
        b.accept(job(rid, f"ou_{i % 4}"), 5, NO_LIMITS, now=time.time())
    go = threading.Event()
    results: dict[str, CancelOutcome] = {}

    def canceller() -> None:
        own = Budgets(redis.Redis.from_url(redis_url, decode_responses=True), keys)
        go.wait()
        for rid in rids[::-1]:
            results[rid] = own.cancel(job(rid, f"ou_{int(rid[2:]) % 4}"), now=time.time())

    def admitter() -> None:
        own = FairQueue(redis.Redis.from_url(redis_url, decode_responses=True), keys)
        go.wait()
        while own.admit(Pool.STANDARD, 1000) is not None:
            pass

    ts = [threading.Thread(target=canceller), threading.Thread(target=admitter), threading.Thread(target=admitter)]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join()
    assert set(results.values()) == {CancelOutcome.CANCELLED}, "no create had begun: every cancel wins outright"
    assert FairQueue(r, keys).in_flight() == [] and spent(r, keys) == 0
    assert stats(r, keys) == {"cancelled": 60}
    assert all(r.llen(keys.user_queue(Pool.STANDARD, f"ou_{i}")) == 0 for i in range(4))


def test_status_reports_running_queued_and_seconds(b: Budgets, r: redis.Redis, keys: JobKeys) -> None:
    now = time.time()
    for rid in ("m-1", "m-2", "m-3"):
        b.accept(job(rid), 5, NO_LIMITS, now=now)
    assert FairQueue(r, keys).admit(Pool.STANDARD, 1) == "m-1"
    queued = FairQueue(r, keys).queued_of(Pool.STANDARD, "ou_a", 10)
    st = b.status("ou_a", now=now, max_running=1, max_queued=5, daily=60, queue=queued)
    assert (st.running, st.queued, st.used_seconds, st.remaining_seconds) == (1, 2, 15, 45)
    assert st.resets_at == next_reset(now) and b.spent_today(now=now) == 15
