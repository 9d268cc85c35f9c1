"""The fair queue and the Ark slot pools (bot/store/queue.py).

Fair admission per pool (round robin, fewest slots held first, never-served first), the pool
caps, a user's running cap across BOTH pools, the admin bypass, `requeue_front` after a 429, and
the atomicity of admission: many threads and several OS processes admitting and finishing at
once never put a pool over its cap or a user over theirs, and never admit a job twice.
"""

from __future__ import annotations

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

from bot.store.jobs import Job, JobKeys, JobRecords, JobState, Pool
from bot.store.queue import FairQueue
from bot.store.quotas import Acceptance, Budgets, Limits

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
def q(r: redis.Redis, keys: JobKeys) -> FairQueue:
    return FairQueue(r, keys)


@pytest.fixture
def budgets(r: redis.Redis, keys: JobKeys) -> Budgets:
    return Budgets(r, keys)


def queue(budgets: Budgets, *items: tuple[str, str], pool: Pool = Pool.STANDARD) -> None:
    """Accept (rid, user) pairs in this order: each is queued in its user's queue of `pool`."""
    for rid, user in items:
        j = Job(rid=rid, kind="video", chat_id="oc_1", user=user, reply_to=f"om_{rid}", spec="{}",
                pool=pool.value)
        assert budgets.accept(j, 5, NO_LIMITS, now=time.time()) == Acceptance.OK


def admit_all(q: FairQueue, cap: int, pool: Pool = Pool.STANDARD, **kw: object) -> list[str]:
    out: list[str] = []
    while (rid := q.admit(pool, cap, **kw)) is not None:  # type: ignore[arg-type]
        out.append(rid)
    return out


def done(budgets: Budgets, rid: str) -> None:
    assert budgets.finish(rid, JobState.DONE, charge=True) is not None


# --- fairness -------------------------------------------------------------------------------------------


def test_admission_is_round_robin_across_users_and_capped(q: FairQueue, budgets: Budgets,
                                                          r: redis.Redis, keys: JobKeys) -> None:
    queue(budgets, ("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("c1", "C"), ("b2", "B"))
    assert admit_all(q, cap=3) == ["a1", "b1", "c1"]
    assert q.admit(Pool.STANDARD, 3) is None, "the cap holds"
    assert len(q.queued_of(Pool.STANDARD, "A", 10)) == 2, "a refused admission takes nothing off the queue"
    done(budgets, "b1")
    assert q.admit(Pool.STANDARD, 3) == "b2", "B holds no slot now; A and C hold one each"
    assert q.admit(Pool.STANDARD, 3) is None
    done(budgets, "a1")
    assert q.admit(Pool.STANDARD, 3) == "a2"
    done(budgets, "c1")
    assert q.admit(Pool.STANDARD, 3) == "a3"
    assert q.admit(Pool.STANDARD, 10) is None
    assert r.llen(keys.rr(Pool.STANDARD)) == 0, "users without queued work leave the rotation"
    stats = JobRecords(r, keys).stats()
    assert stats["starting"] == 3 and stats["done"] == 3 and stats["queued"] == 0


def test_a_burst_does_not_keep_the_next_slot_from_waiting_users(q: FairQueue, budgets: Budgets) -> None:
    for rid in ("a1", "a2", "a3"):  # A asks three times while nobody else waits: A gets every slot
        queue(budgets, (rid, "A"))
        assert q.admit(Pool.STANDARD, 3) == rid
    queue(budgets, ("a4", "A"), ("b1", "B"), ("c1", "C"))
    done(budgets, "a1")
    assert q.admit(Pool.STANDARD, 3) == "b1", "B holds no slot; A holds two"
    done(budgets, "a2")
    done(budgets, "a3")
    assert admit_all(q, cap=3) == ["c1", "a4"], "C, never served, goes before A's fourth"


def test_pools_are_separate(q: FairQueue, budgets: Budgets) -> None:
    queue(budgets, ("s1", "A"), ("s2", "B"), pool=Pool.SLOW)
    queue(budgets, ("n1", "A"), ("n2", "B"), ("n3", "C"))
    assert admit_all(q, cap=1, pool=Pool.SLOW) == ["s1"]
    assert admit_all(q, cap=3) == ["n1", "n2", "n3"], "slow jobs holding their slots never block standard ones"
    assert q.counts() == {"standard": 3, "slow": 1}
    assert q.slot_since("s1", Pool.SLOW) is not None and q.slot_since("s1", Pool.STANDARD) is None


def test_running_cap_counts_both_pools(q: FairQueue, budgets: Budgets) -> None:
    queue(budgets, ("s1", "A"), ("s2", "A"), pool=Pool.SLOW)
    queue(budgets, ("n1", "A"), ("n2", "A"), ("b1", "B"))
    assert admit_all(q, cap=5, pool=Pool.SLOW, user_cap=2) == ["s1", "s2"]
    assert admit_all(q, cap=5, user_cap=2) == ["b1"], "A already runs two jobs in the slow pool"
    done(budgets, "s1")
    assert admit_all(q, cap=5, user_cap=2) == ["n1"]
    assert admit_all(q, cap=5, pool=Pool.SLOW, user_cap=2) == []


def test_admins_bypass_the_running_cap_but_not_the_pool_cap(q: FairQueue, budgets: Budgets) -> None:
    queue(budgets, ("a1", "ADMIN"), ("a2", "ADMIN"), ("a3", "ADMIN"), ("a4", "ADMIN"), ("u1", "U"), ("u2", "U"))
    got = admit_all(q, cap=5, user_cap=1, admins=frozenset({"ADMIN"}))
    assert Counter(rid[0] for rid in got) == {"a": 4, "u": 1}
    assert q.admit(Pool.STANDARD, 5, user_cap=1, admins=frozenset({"ADMIN"})) is None


def test_enqueue_is_idempotent_and_only_for_queued_jobs(q: FairQueue, budgets: Budgets) -> None:
    queue(budgets, ("a1", "A"))
    assert not q.enqueue("a1", "A", Pool.STANDARD), "already queued"
    assert q.admit(Pool.STANDARD, 3) == "a1"
    assert not q.enqueue("a1", "A", Pool.STANDARD), "in flight: never queued again"
    assert q.admit(Pool.STANDARD, 3) is None


def test_a_crash_that_lost_the_queue_entry_is_repaired_by_enqueue(q: FairQueue, budgets: Budgets,
                                                                  r: redis.Redis, keys: JobKeys) -> None:
    queue(budgets, ("a1", "A"))
    r.delete(keys.user_queue(Pool.STANDARD, "A"), keys.rr(Pool.STANDARD))
    assert q.admit(Pool.STANDARD, 3) is None
    assert q.enqueue("a1", "A", Pool.STANDARD)
    assert q.admit(Pool.STANDARD, 3) == "a1"


def test_a_queued_job_whose_record_expired_is_skipped(q: FairQueue, budgets: Budgets, r: redis.Redis,
                                                      keys: JobKeys) -> None:
    queue(budgets, ("a1", "A"), ("a2", "A"))
    r.delete(keys.job("a1"))
    assert q.admit(Pool.STANDARD, 3) == "a2"
    assert q.in_flight() == ["a2"]


def test_queue_position_is_an_upper_estimate_that_grows_down_a_users_queue(q: FairQueue, budgets: Budgets) -> None:
    queue(budgets, ("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("c1", "C"))
    order = admit_all_dry(q, budgets)
    positions = {rid: q.queue_position(rid, rid[0].upper(), Pool.STANDARD) for rid in order}
    assert positions["a1"] < positions["a2"] < positions["a3"]
    assert all(positions[rid] >= order.index(rid) + 1 for rid in order), (positions, order)
    assert q.queue_position("zz", "A", Pool.STANDARD) == 0


def admit_all_dry(q: FairQueue, budgets: Budgets) -> list[str]:
    """The order admission will take (computed on a copy of the queue under another prefix)."""
    keys = JobKeys("dry")
    dq, db = FairQueue(q.r, keys), Budgets(q.r, keys)
    for pool_user in q.queued_users(Pool.STANDARD):
        for rid in q.queued_of(Pool.STANDARD, pool_user, 100):
            j = Job(rid=rid, kind="video", chat_id="oc_1", user=pool_user, reply_to="om", spec="{}")
            assert db.accept(j, 1, NO_LIMITS, now=time.time()) == Acceptance.OK
    return admit_all(dq, cap=100)


# --- requeue after a 429 ----------------------------------------------------------------------------------


def test_requeue_front_gives_the_slot_back_and_goes_first(q: FairQueue, budgets: Budgets, r: redis.Redis,
                                                          keys: JobKeys) -> None:
    queue(budgets, ("a1", "A"), ("a2", "A"), ("b1", "B"))
    assert q.admit(Pool.STANDARD, 1) == "a1"
    assert q.requeue_front("a1", "A", Pool.STANDARD)
    assert q.in_flight() == []
    assert q.queued_of(Pool.STANDARD, "A", 5) == ["a1", "a2"], "back at the front of its user's queue"
    assert JobRecords(r, keys).get("a1").state == "queued"  # type: ignore[union-attr]
    assert not q.requeue_front("a1", "A", Pool.STANDARD), "only a STARTING job is requeued"
    assert q.queued_of(Pool.STANDARD, "A", 5) == ["a1", "a2"], "and never twice"
    stats = JobRecords(r, keys).stats()
    assert stats["queued"] == 3 and stats["starting"] == 0
    got = admit_all(q, cap=3)
    assert got[0] in ("a1", "b1") and got.index("a1") < got.index("a2")


def test_requeue_front_of_a_job_that_moved_on_keeps_its_slot(q: FairQueue, budgets: Budgets, r: redis.Redis,
                                                             keys: JobKeys) -> None:
    """A late 429 handler must not take the slot of a job another worker already submitted:
    the pool would then admit one job too many."""
    queue(budgets, ("a1", "A"))
    assert q.admit(Pool.STANDARD, 1) == "a1"
    JobRecords(r, keys).set_state("a1", JobState.SUBMITTED, task_id="cgt-1")
    assert not q.requeue_front("a1", "A", Pool.STANDARD)
    assert q.in_flight() == ["a1"], "a SUBMITTED job keeps its slot"


def test_pause_admissions(q: FairQueue) -> None:
    assert not q.admissions_paused()
    q.pause_admissions(0.05)
    assert q.admissions_paused()
    deadline = time.monotonic() + 5
    while q.admissions_paused():
        assert time.monotonic() < deadline
        time.sleep(0.01)


# --- concurrency: threads and processes ----------------------------------------------------------------------

# Inflight members of both pools with their users, read atomically.
_SNAPSHOT = """
local out = {}
for i = 1, 2 do
  for _, rid in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
    out[#out + 1] = i .. '|' .. (redis.call('HGET', ARGV[1] .. rid, 'user') or '?')
  end
end
return out
"""

# One churning worker process: admit from both pools, check the invariants, finish; until all are done.
_CHURN = """
import random, sys, time
import redis
from bot.store.jobs import JobKeys, JobState, Pool
from bot.store.queue import FairQueue
from bot.store.quotas import Budgets

url, prefix, caps, user_cap, admins, total, snapshot = sys.argv[1:8]
r = redis.Redis.from_url(url, decode_responses=True)
keys = JobKeys(prefix)
q, b = FairQueue(r, keys), Budgets(r, keys)
std_cap, slow_cap = (int(x) for x in caps.split(","))
admins = frozenset(a for a in admins.split(",") if a)
check = r.register_script(snapshot)
r.incr(prefix + ":test:ready")
while not r.exists(prefix + ":test:go"):
    time.sleep(0.005)
idle = 0
while int(r.hget(keys.stats, "done") or 0) < int(total):
    got = False
    for pool, cap in ((Pool.STANDARD, std_cap), (Pool.SLOW, slow_cap)):
        rid = q.admit(pool, cap, user_cap=int(user_cap), admins=admins)
        if rid is None:
            continue
        got = True
        r.rpush(prefix + ":test:admitted", rid)
        r.hincrby(prefix + ":test:by", "process", 1)
        r.rpush(prefix + ":test:snapshots", "\\n".join(check(keys=[keys.inflight(Pool.STANDARD),
                                                                    keys.inflight(Pool.SLOW)],
                                                              args=[keys.job_prefix])))
        time.sleep(random.random() / 500)
        b.finish(rid, JobState.DONE, charge=True)
    idle = 0 if got else idle + 1
    if idle > 20000:
        sys.exit("stuck")
"""


def _violations(snapshot: list[str], caps: dict[int, int], user_cap: int, admins: set[str]) -> list[str]:
    per_pool: Counter[int] = Counter()
    per_user: Counter[str] = Counter()
    for item in snapshot:
        if not item:
            continue
        pool, user = item.split("|", 1)
        per_pool[int(pool)] += 1
        per_user[user] += 1
    bad = [f"pool {p}: {n} > {caps[p]}" for p, n in per_pool.items() if n > caps[p]]
    bad += [f"user {u}: {n} > {user_cap}" for u, n in per_user.items() if n > user_cap and u not in admins]
    return bad


def test_admission_under_threads_and_processes_never_exceeds_a_cap(redis_url: str, r: redis.Redis,
                                                                   keys: JobKeys, budgets: Budgets) -> None:
    # Two admins (no running cap) keep the pools full; three users may run one job each, across pools.
    users = [f"U{i}" for i in range(5)]
    admins = {"U3", "U4"}
    for u in users:
        queue(budgets, *[(f"{u}-n{i}", u) for i in range(40)])
        queue(budgets, *[(f"{u}-s{i}", u) for i in range(20)], pool=Pool.SLOW)
    total = len(users) * 60
    caps, user_cap = {1: 3, 2: 2}, 1
    argv = [redis_url, PREFIX, f"{caps[1]},{caps[2]}", str(user_cap), ",".join(admins), str(total), _SNAPSHOT]
    procs = [subprocess.Popen([sys.executable, "-c", _CHURN, *argv], cwd=ROOT) for _ in range(3)]
    # ... and threads of this process doing the same, one client each.
    check = r.register_script(_SNAPSHOT)
    stop = threading.Event()
    seen: list[list[str]] = []

    def sampler() -> None:
        while not stop.is_set():
            seen.append(check(keys=[keys.inflight(Pool.STANDARD), keys.inflight(Pool.SLOW)], args=[keys.job_prefix]))

    def churn() -> None:
        own = redis.Redis.from_url(redis_url, decode_responses=True)
        oq, ob = FairQueue(own, keys), Budgets(own, keys)
        while not own.exists(f"{PREFIX}:test:go"):
            time.sleep(0.005)
        while int(own.hget(keys.stats, "done") or 0) < total:
            for pool, cap in ((Pool.STANDARD, caps[1]), (Pool.SLOW, caps[2])):
                rid = oq.admit(pool, cap, user_cap=user_cap, admins=frozenset(admins))
                if rid is not None:
                    own.rpush(f"{PREFIX}:test:admitted", rid)
                    own.hincrby(f"{PREFIX}:test:by", "thread", 1)
                    ob.finish(rid, JobState.DONE, charge=True)

    threads = [threading.Thread(target=churn) for _ in range(4)] + [threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while int(r.get(f"{PREFIX}:test:ready") or 0) < len(procs):  # the processes have imported
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r.set(f"{PREFIX}:test:go", "1")
    for p in procs:
        assert p.wait(timeout=60) == 0
    for t in threads[:-1]:
        t.join(timeout=60)
    stop.set()
    threads[-1].join()

    admitted = r.lrange(f"{PREFIX}:test:admitted", 0, -1)
    assert len(admitted) == total and len(set(admitted)) == total, "every job admitted exactly once"
    by = r.hgetall(f"{PREFIX}:test:by")
    assert int(by.get("process", 0)) > 0 and int(by.get("thread", 0)) > 0, by
    snapshots = [s.split("\n") for s in cast(list[str], r.lrange(f"{PREFIX}:test:snapshots", 0, -1))] + seen
    assert len(snapshots) > total
    bad = [v for s in snapshots for v in _violations(s, caps, user_cap, admins)]
    assert not bad, bad[:5]
    full = [s for s in snapshots if len([x for x in s if x.startswith("1|")]) == caps[1]]
    assert full, "the standard pool was seen full: the caps were really contended"
    stats = JobRecords(r, keys).stats()
    assert stats["done"] == total and stats["queued"] == 0 and stats["starting"] == 0
    assert q_empty(r, keys)


def q_empty(r: redis.Redis, keys: JobKeys) -> bool:
    return all(not r.exists(keys.inflight(p)) and not r.exists(keys.rr(p)) for p in Pool)
