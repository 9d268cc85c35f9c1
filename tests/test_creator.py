"""Exactly one Ark task per job (bot/engine/creator.py), against the simulator's worst days.

Real Redis, the Ark simulator as a real HTTP server (`fixtures_ark`) with its fault one-shots
(lost create answers: `lost-500`, `lost-drop`, `lost-delay`; plain `500`/`drop` rejections), the
real `ArkClient`. Tasks are counted through the simulator's `/__sim__/tasks`, which shows each
task's prompt, parameters and whether its create answer was lost. Every test tries to make a job
end with no task, two tasks, or somebody else's task:

(a) a lost answer adopts exactly the task made; (b) strangers creating look-alike tasks with the
same API key at the same moment are never adopted (nor cancelled); (c) two of our own jobs, one
failed before Ark created anything and one whose answer was lost, each end with their own task;
(d) a task that does not show its fields yet is waited for, not guessed; (e) a create whose lease
was taken over mid-flight: the surplus task is cancelled at Ark, or nothing is when both holders
found the same task; (f) a cancel against the start; (g) the bound on create attempts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from enginekit import (
    MODEL,
    admit,
    ark_client,
    ark_requests,
    assert_stats_exact,
    bot_replies,
    holding_proxy,
    inject,
    make_engine,
    new_job,
    sim_tasks,
    tasks_with_prompt,
    user_message,
    wait_until,
)

from bot.engine import lifecycle
from bot.engine.creator import MAX_ATTEMPTS, Outcome, Result, TaskCreator
from bot.engine.engine import Engine
from bot.engine.fingerprint import Fingerprint
from bot.errors import ArkError
from bot.store.quotas import CancelOutcome
from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator

pytest_plugins = ["fixtures_ark", "fixtures_feishu"]
SimFactory = Callable[..., ArkSimulator]


@pytest.fixture
def feishu(feishu_sim_factory: Callable[..., FeishuSimulator]) -> FeishuSimulator:
    return feishu_sim_factory()


def make_sim(factory: Callable[..., ArkSimulator], **kw: Any) -> ArkSimulator:
    """Tasks stay queued (so a surplus one can still be cancelled); timestamps on the wall clock."""
    options: dict[str, Any] = {"speed": 1.0, "wall_clock_timestamps": True, "concurrency": 0}
    options.update(kw)
    return factory(**options)


def run_creator(engine: Engine, rid: str) -> Result:
    """What `lifecycle.start` does around the creator: the start lease, kept while it runs."""
    job = engine.records.get(rid)
    assert job is not None
    lease = engine.leases.take("start", rid, engine.settings.ark_timeout + 20)
    assert lease is not None
    try:
        with lease.kept():
            return TaskCreator(engine).run(job, lease, lambda: lifecycle.build_body(engine, job))
    finally:
        lease.release()


def live(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tasks if t["status"] != "cancelled" and not t["deleted"]]


def attempt_of(engine: Engine, rid: str) -> Fingerprint:
    fp = Fingerprint.from_json(engine.records.field(rid, "attempt") or "")
    assert fp is not None
    return fp


# --- the plain case ---------------------------------------------------------------------------------------


def test_create_binds_one_task_carrying_the_fingerprint(redis_url: str, ark_sim_factory: SimFactory,
                                                        feishu: FeishuSimulator) -> None:
    sim = make_sim(ark_sim_factory, queued_fields="full")
    e = make_engine(redis_url, sim.base_url, feishu)
    admit(e, new_job("m-1", prompt="a kitten"))
    result = run_creator(e, "m-1")
    assert result.outcome == Outcome.CREATED
    [task] = sim_tasks(sim)
    assert result.task_id == task["id"] and task["prompt"] == "a kitten"
    job = e.records.get("m-1")
    assert job is not None and (job.state, job.task_id, job.creating_since, job.attempts) == \
        ("submitted", task["id"], 0.0, 1)
    assert e.records.rid_for_task(task["id"]) == "m-1"
    fp = attempt_of(e, "m-1")
    params = task["params"]
    assert (params["execution_expires_after"], params["seed"], params["safety_identifier"]) == \
        (fp.expires, fp.seed, fp.safety_identifier)
    assert fp.seed_is_random and fp.expires % 60
    again = run_creator(e, "m-1")  # a replayed start entry
    assert again == Result(Outcome.BOUND, task["id"])
    assert len(sim_tasks(sim)) == 1 and len(ark_requests(sim, kind="create")) == 1
    assert_stats_exact(e)


def test_a_rejected_create_clears_the_attempt_and_creates_nothing(redis_url: str, feishu: FeishuSimulator,
                                                                  ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    e = make_engine(redis_url, sim.base_url, feishu)
    admit(e, new_job("m-1", prompt="a forbidden thing [[sensitive]]"))
    with pytest.raises(ArkError) as info:
        run_creator(e, "m-1")
    assert info.value.status == 400
    job = e.records.get("m-1")
    assert job is not None and job.creating_since == 0.0 and job.attempt == "" and not job.task_id
    assert job.attempts == 0, "a certain rejection is no lost answer: it does not count towards the bound"
    assert sim_tasks(sim) == []


# --- (a) lost answers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lost-500", "lost-drop", "lost-delay"])
def test_a_lost_create_answer_adopts_exactly_the_task_made(mode: str, redis_url: str, feishu: FeishuSimulator,
                                                           ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    e = make_engine(redis_url, sim.base_url, feishu, ark_timeout=0.5)
    admit(e, new_job("m-1", prompt="lost answer"))
    inject(sim, "create", mode, delay=1.0 if mode == "lost-delay" else None)
    result = run_creator(e, "m-1")
    assert result.outcome == Outcome.ADOPTED
    [task] = sim_tasks(sim)
    assert task["lost"] and task["lost_mode"] == mode.removeprefix("lost-")
    assert result.task_id == task["id"] and task["status"] == "queued", "adopted, never cancelled"
    # (the simulator logs a request once its answer is written: a held answer shows up late)
    wait_until(lambda: ark_requests(sim, kind="create"), what="the create in the request log")
    assert len(ark_requests(sim, kind="create")) == 1, "the create was never resent"
    assert len(ark_requests(sim, kind="delete")) == 0
    job = e.records.get("m-1")
    assert job is not None and job.task_id == task["id"] and job.attempts == 1 and job.creating_since == 0.0
    assert e.records.rid_for_task(task["id"]) == "m-1"
    assert_stats_exact(e)


def test_lifecycle_start_with_a_lost_answer_ends_submitted_and_watched(redis_url: str, feishu: FeishuSimulator,
                                                                       ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    e = make_engine(redis_url, sim.base_url, feishu)
    msg = user_message(feishu)
    job = new_job("m-1", prompt="lost then found", reply_to=msg["message_id"])
    e.budgets.accept(job, 4, e.limits_for(job.user), now=e.clock())
    inject(sim, "create", "lost-drop")
    assert lifecycle.admit_and_start(e) == 1
    [task] = sim_tasks(sim)
    got = e.records.get("m-1")
    assert got is not None and got.state == "submitted" and got.task_id == task["id"]
    assert e.polls.planned("m-1") is not None, "the scheduler will look at it"
    assert len(bot_replies(feishu, msg["message_id"], "interactive")) == 1, "one live card"
    assert_stats_exact(e)


# --- (b) strangers with the same API key ---------------------------------------------------------------------


def _stranger_bodies(n: int, fp: Fingerprint | None, fields: str) -> list[dict[str, Any]]:
    """Look-alike create bodies: same model, resolution and duration; whole-minute expiries (what
    people send) and, once our attempt's values can be read, expiries and seeds close to ours."""
    base = {"model": MODEL, "resolution": "480p", "duration": 4, "generate_audio": False}
    out = [dict(base, execution_expires_after=e) for e in (21600, 21540, 21660, 3600, 86400, 172800)]
    out.append(dict(base))  # the default expiry
    out.append(dict(base, seed=12345))
    if fp is not None:
        near = [fp.expires + d for d in (-61, -60, -59, -1, 1, 59, 60, 61)]
        out += [dict(base, execution_expires_after=x, seed=fp.seed) for x in near]
        out += [dict(base, execution_expires_after=x, safety_identifier=fp.safety_identifier) for x in near]
        if fields == "full":  # their expiry equal to ours, told apart by the other echoed values
            out.append(dict(base, execution_expires_after=fp.expires, seed=(fp.seed or 0) + 1))
            out.append(dict(base, execution_expires_after=fp.expires, safety_identifier="theirs"))
            out.append(dict(base, execution_expires_after=fp.expires))  # Ark draws a seed: not ours
    for i, b in enumerate(out):
        b["content"] = [{"type": "text", "text": f"stranger {n}-{i}"}]
    return out


@pytest.mark.parametrize("fields", ["doc", "full"])
def test_strangers_sharing_the_key_are_never_adopted_nor_cancelled(fields: str, redis_url: str,
                                                                   feishu: FeishuSimulator,
                                                                   ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory, queued_fields=fields, queue_cap=100_000)
    e = make_engine(redis_url, sim.base_url, feishu, ark_timeout=0.6)
    admit(e, new_job("m-1", prompt="ours", resolution="480p", duration=4))
    stranger = ark_client(sim.base_url)  # another script of the team, same key
    for b in _stranger_bodies(0, None, fields):  # made just before our attempt
        stranger.create(b, retries=0)

    inject(sim, "create", "lost-delay", delay=3.0)
    result: list[Result] = []
    ours = threading.Thread(target=lambda: result.append(run_creator(e, "m-1")))
    ours.start()
    wait_until(lambda: tasks_with_prompt(sim, "ours"), what="our create to reach Ark")
    fp = attempt_of(e, "m-1")
    made = [0]

    def strangers(n: int) -> None:  # while our answer is lost and until we have resolved
        rounds = 0
        while ours.is_alive() or rounds == 0:
            for b in _stranger_bodies(n * 100 + rounds, fp, fields):
                stranger.create(b, retries=0)
                made[0] += 1
            rounds += 1

    crowd = [threading.Thread(target=strangers, args=(n,)) for n in range(3)]
    for t in crowd:
        t.start()
    ours.join(timeout=30)
    for t in crowd:
        t.join(timeout=30)

    assert result and result[0].outcome == Outcome.ADOPTED
    [mine] = tasks_with_prompt(sim, "ours")
    assert result[0].task_id == mine["id"] and e.records.field("m-1", "task_id") == mine["id"]
    others = [t for t in sim_tasks(sim) if t["prompt"] != "ours"]
    assert len(others) >= made[0] > 0
    window_start = fp.since - 120
    close = [t for t in others if abs(t["params"]["execution_expires_after"] - fp.expires) <= 61
             and t["api"]["created_at"] >= window_start]
    assert close, "strangers really made look-alikes inside our window"
    assert all(t["status"] == "queued" and not t["deleted"] for t in others), "no stranger's task was cancelled"
    assert len(ark_requests(sim, kind="delete")) == 0
    assert e.records.rids_for_tasks([t["id"] for t in others]) == [None] * len(others)


def test_a_crowd_that_pushes_our_task_off_the_first_page_does_not_hide_it(
        redis_url: str, feishu: FeishuSimulator, ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory, queue_cap=100_000)
    with holding_proxy(sim) as proxy:
        e = make_engine(redis_url, proxy.base_url(), feishu)
        admit(e, new_job("m-1", prompt="ours", resolution="480p", duration=4))
        inject(sim, "create", "lost-drop")
        proxy.hold(skip=1)  # the create goes through; the look at recent tasks that follows waits
        result: list[Result] = []
        t = threading.Thread(target=lambda: result.append(run_creator(e, "m-1")))
        t.start()
        assert proxy.arrived.wait(10)
        stranger = ark_client(sim.base_url)

        def crowd(n: int) -> None:
            for i in range(63):
                stranger.create({"model": MODEL, "content": [{"type": "text", "text": f"crowd {n}-{i}"}],
                                 "resolution": "480p", "duration": 4, "generate_audio": False}, retries=0)

        makers = [threading.Thread(target=crowd, args=(n,)) for n in range(4)]
        for m in makers:
            m.start()
        for m in makers:
            m.join()
        proxy.release()
        t.join(timeout=30)
    assert result and result[0].outcome == Outcome.ADOPTED
    [mine] = tasks_with_prompt(sim, "ours")
    assert result[0].task_id == mine["id"] and len(sim_tasks(sim)) == 253
    pages = {r["query"].split("page_num=")[1].split("&")[0] for r in ark_requests(sim, kind="list")}
    assert pages == {"1", "2", "3"}, "252 newer tasks: ours is on the third page of 100"
    assert ark_requests(sim, kind="delete") == []


def test_when_ark_cannot_list_the_attempt_waits_and_never_creates_anew(
        redis_url: str, feishu: FeishuSimulator, ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    e = make_engine(redis_url, sim.base_url, feishu)
    admit(e, new_job("m-1", prompt="ours"))
    inject(sim, "create", "lost-500")
    inject(sim, "list", "500", count=2)  # the client's one retry fails too
    assert run_creator(e, "m-1").outcome == Outcome.WAIT
    assert len(sim_tasks(sim)) == 1 and len(ark_requests(sim, kind="create")) == 1
    result = run_creator(e, "m-1")
    assert result.outcome == Outcome.ADOPTED and result.task_id == sim_tasks(sim)[0]["id"]
    assert len(ark_requests(sim, kind="create")) == 1


# --- (c) two of our own jobs at once ----------------------------------------------------------------------------


@pytest.mark.parametrize(("reject", "fields"), [("500", "doc"), ("drop", "full")])
def test_a_job_that_created_nothing_never_adopts_anothers_lost_task(reject: str, fields: str, redis_url: str,
                                                                    feishu: FeishuSimulator,
                                                                    ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory, queued_fields=fields)
    worker_c = make_engine(redis_url, sim.base_url, feishu, node="worker-c", ark_timeout=1.0)
    worker_a = make_engine(redis_url, sim.base_url, feishu, node="worker-a", ark_timeout=1.0)
    # Same user, same model, resolution and duration: only the fingerprint tells them apart.
    admit(worker_a, new_job("m-A", prompt="job A"))
    admit(worker_a, new_job("m-C", prompt="job C"))

    inject(sim, "create", "lost-delay", delay=3.0)  # C's create reaches Ark; its answer is lost
    c_result: list[Result] = []
    c = threading.Thread(target=lambda: c_result.append(run_creator(worker_c, "m-C")))
    c.start()
    wait_until(lambda: tasks_with_prompt(sim, "job C"), what="C's task at Ark")
    inject(sim, "create", reject)  # A's create fails before Ark makes anything
    a_result = run_creator(worker_a, "m-A")
    # A resolved first, while C's task was at Ark with no owner yet.
    assert worker_a.records.field("m-C", "task_id") == "" and c.is_alive()
    assert a_result.outcome == Outcome.CREATED, "A found nothing of its own and created anew"
    c.join(timeout=30)
    assert c_result and c_result[0].outcome == Outcome.ADOPTED

    [task_a] = tasks_with_prompt(sim, "job A")
    [task_c] = tasks_with_prompt(sim, "job C")
    assert a_result.task_id == task_a["id"] and c_result[0].task_id == task_c["id"]
    assert worker_a.records.rid_for_task(task_a["id"]) == "m-A"
    assert worker_a.records.rid_for_task(task_c["id"]) == "m-C"
    assert len(live(sim_tasks(sim))) == 2 and len(sim_tasks(sim)) == 2
    a = worker_a.records.get("m-A")
    assert a is not None and a.attempts == 2, "A's ambiguous attempt counted, then one create"
    assert_stats_exact(worker_a)


# --- (d) a task that hides its fields while queued ---------------------------------------------------------------


def test_a_task_not_showing_its_fingerprint_is_waited_for_then_adopted(redis_url: str, feishu: FeishuSimulator,
                                                                       ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory, queued_fields="bare", speed=0.0, concurrency=10)
    e = make_engine(redis_url, sim.base_url, feishu)
    admit(e, new_job("m-1", prompt="bare"))
    stranger = ark_client(sim.base_url)
    stranger.create({"model": MODEL, "content": [{"type": "text", "text": "stranger"}], "resolution": "480p",
                     "duration": 4, "generate_audio": False}, retries=0)
    inject(sim, "create", "lost-500")
    assert run_creator(e, "m-1").outcome == Outcome.WAIT
    assert run_creator(e, "m-1").outcome == Outcome.WAIT, "still can't tell: no guess, no second create"
    assert len(ark_requests(sim, kind="create")) == 2  # the stranger's and ours
    job = e.records.get("m-1")
    assert job is not None and job.creating_since > 0 and not job.task_id and job.attempts == 1
    # The lifecycle schedules another look instead of failing or creating.
    lifecycle.start(e, "m-1")
    assert e.polls.later_count() == 1 and e.records.field("m-1", "state") == "starting"

    sim.advance(100_000)  # both tasks succeed: a finished task shows every field
    result = run_creator(e, "m-1")
    assert result.outcome == Outcome.ADOPTED
    [mine] = tasks_with_prompt(sim, "bare")
    assert result.task_id == mine["id"] and len(sim_tasks(sim)) == 2
    assert len(ark_requests(sim, kind="create")) == 2 and len(ark_requests(sim, kind="delete")) == 0


# --- (e) a lease lost while the create was in flight ------------------------------------------------------------


def test_a_late_binder_cancels_its_surplus_task_when_the_job_moved_on(redis_url: str, feishu: FeishuSimulator,
                                                                      ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    with holding_proxy(sim) as proxy:
        stalled = make_engine(redis_url, proxy.base_url(), feishu, node="node-1")
        admit(stalled, new_job("m-1", prompt="contended"))
        proxy.hold()  # the first holder's create leaves it but is slow to reach Ark
        first: list[Result] = []
        t = threading.Thread(target=lambda: first.append(run_creator(stalled, "m-1")))
        t.start()
        assert proxy.arrived.wait(10)
        # The node is restarted under the same name while its old process hangs: the new one sees a
        # lease held by no live thread of its own, takes it over and resolves the attempt.
        restarted = make_engine(redis_url, sim.base_url, feishu, node="node-1")
        second = run_creator(restarted, "m-1")
        assert second.outcome == Outcome.CREATED, "nothing at Ark yet: the attempt was cleared, one create"
        proxy.release()
        t.join(timeout=30)
    assert first and first[0].outcome == Outcome.LOST
    tasks = sim_tasks(sim)
    assert len(tasks) == 2
    [kept] = live(tasks)
    [surplus] = [x for x in tasks if x["id"] != kept["id"]]
    assert kept["id"] == second.task_id == restarted.records.field("m-1", "task_id")
    assert surplus["status"] == "cancelled", "the late task was cancelled while still queued"
    assert [r["task_id"] for r in ark_requests(sim, kind="delete")] == [surplus["id"]]
    assert restarted.records.rid_for_task(surplus["id"]) is None
    assert_stats_exact(restarted)


def test_a_create_whose_begin_redis_forgot_binds_its_task_instead_of_making_another(
        redis_url: str, feishu: FeishuSimulator, ark_sim_factory: SimFactory) -> None:
    """Redis is SIGKILLed and restarted from its AOF while a create is on the wire; the write that
    began the attempt was acknowledged but not yet in the AOF, so the job comes back `starting`
    with no attempt. The task that create made is the job's only one: it is bound (found in a
    chaos run: it was called surplus, could not be cancelled once running, and a second was made)."""
    sim = make_sim(ark_sim_factory)
    with holding_proxy(sim) as proxy:
        e = make_engine(redis_url, proxy.base_url(), feishu)
        admit(e, new_job("m-1", prompt="forgotten begin"))
        proxy.hold()
        result: list[Result] = []
        t = threading.Thread(target=lambda: result.append(run_creator(e, "m-1")))
        t.start()
        assert proxy.arrived.wait(10)
        assert e.records.field("m-1", "attempt"), "the attempt was begun before the call"
        e.redis.hset(e.keys.job("m-1"), mapping={"attempt": "", "creating_since": "0"})  # what the AOF lost
        proxy.release()
        t.join(timeout=30)
    [task] = sim_tasks(sim)
    assert result and result[0].outcome == Outcome.CREATED and result[0].task_id == task["id"]
    assert e.records.field("m-1", "task_id") == task["id"] and e.records.field("m-1", "state") == "submitted"
    assert ark_requests(sim, kind="delete") == [], "nothing called surplus"
    assert_stats_exact(e)


def test_a_late_binder_cancels_nothing_when_the_other_holder_adopted_its_task(
        redis_url: str, feishu: FeishuSimulator, ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    stalled = make_engine(redis_url, sim.base_url, feishu, node="node-1", ark_timeout=8.0)
    admit(stalled, new_job("m-1", prompt="contended"))
    inject(sim, "create", "lost-delay", delay=0.8)  # made at once, answered late (within the budget)
    first: list[Result] = []
    t = threading.Thread(target=lambda: first.append(run_creator(stalled, "m-1")))
    t.start()
    wait_until(lambda: tasks_with_prompt(sim, "contended"), what="the task at Ark")
    restarted = make_engine(redis_url, sim.base_url, feishu, node="node-1")
    second = run_creator(restarted, "m-1")
    assert second.outcome == Outcome.ADOPTED
    t.join(timeout=30)
    [task] = sim_tasks(sim)
    assert first and first[0] == Result(Outcome.CREATED, task["id"]), "its late answer found the same task bound"
    assert second.task_id == task["id"] and task["status"] == "queued"
    assert ark_requests(sim, kind="delete") == []
    assert_stats_exact(restarted)


# --- (f) cancel against the start --------------------------------------------------------------------------------


def test_a_cancel_that_wins_against_starting_creates_nothing(redis_url: str, feishu: FeishuSimulator,
                                                             ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    e = make_engine(redis_url, sim.base_url, feishu)
    job = admit(e, new_job("m-1", prompt="never"))
    assert e.budgets.cancel(job, now=e.clock()) == CancelOutcome.CANCELLED
    lifecycle.start(e, "m-1")
    assert sim_tasks(sim) == [] and ark_requests(sim) == []
    assert e.queue.in_flight() == [] and e.budgets.spent_today(now=e.clock()) == 0
    # A start that already holds its lease and meets the cancel at its first write makes nothing either.
    job2 = admit(e, new_job("m-2", prompt="never either"))
    lease = e.leases.take("start", "m-2", 30)
    assert lease is not None
    assert e.budgets.cancel(job2, now=e.clock()) == CancelOutcome.CANCELLED
    assert TaskCreator(e).run(job2, lease, lambda: lifecycle.build_body(e, job2)).outcome == Outcome.LOST
    lease.release()
    assert sim_tasks(sim) == []
    assert_stats_exact(e)


def test_a_cancel_during_the_create_is_requested_then_carried_out_at_ark(
        redis_url: str, feishu: FeishuSimulator, ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    with holding_proxy(sim) as proxy:
        e = make_engine(redis_url, proxy.base_url(), feishu)
        msg = user_message(feishu)
        job = admit(e, new_job("m-1", prompt="cancel me", reply_to=msg["message_id"]))
        proxy.hold()
        t = threading.Thread(target=lifecycle.start, args=(e, "m-1"))
        t.start()
        assert proxy.arrived.wait(10)
        assert float(e.records.field("m-1", "creating_since") or 0) > 0
        assert e.budgets.cancel(job, now=e.clock()) == CancelOutcome.REQUESTED
        proxy.release()
        t.join(timeout=30)
    [task] = sim_tasks(sim)
    assert task["status"] == "cancelled", "the task made anyway was cancelled while queued"
    got = e.records.get("m-1")
    assert got is not None and got.state == "cancelled" and got.reservation == "released"
    assert e.queue.in_flight() == [] and e.budgets.spent_today(now=e.clock()) == 0
    assert_stats_exact(e)


def test_cancels_racing_starts_end_every_job_cancelled_with_at_most_one_task(
        redis_url: str, feishu: FeishuSimulator, ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    e = make_engine(redis_url, sim.base_url, feishu, ark_max_in_flight=20)
    rids = [f"m-{i}" for i in range(8)]
    for rid in rids:
        admit(e, new_job(rid, prompt=f"race {rid}"))
    go = threading.Event()

    def start(rid: str) -> None:
        go.wait()
        lifecycle.start(e, rid)

    def cancel(rid: str) -> None:  # what the Cancel button's handler does
        go.wait()
        job = e.records.get(rid)
        assert job is not None
        if e.budgets.cancel(job, now=e.clock()) == CancelOutcome.REQUESTED:
            fresh = e.records.get(rid)
            if fresh is not None and fresh.task_id:
                lifecycle.cancel_at_ark(e, fresh)

    threads = [threading.Thread(target=f, args=(rid,)) for rid in rids for f in (start, cancel)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(timeout=30)
    for rid in rids:
        made = tasks_with_prompt(sim, f"race {rid}")
        assert len(made) <= 1
        assert all(t["status"] == "cancelled" for t in made), made
        assert e.records.field(rid, "state") == "cancelled"
    assert e.queue.in_flight() == [] and e.budgets.spent_today(now=e.clock()) == 0
    assert_stats_exact(e)


# --- (g) the bound on attempts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("failures", [MAX_ATTEMPTS - 1, MAX_ATTEMPTS])
def test_create_attempts_are_bounded(failures: int, redis_url: str, feishu: FeishuSimulator,
                                     ark_sim_factory: SimFactory) -> None:
    sim = make_sim(ark_sim_factory)
    e = make_engine(redis_url, sim.base_url, feishu)
    msg = user_message(feishu)
    admit(e, new_job("m-1", prompt="unlucky", reply_to=msg["message_id"]))
    inject(sim, "create", "500", count=failures)  # each answer ambiguous, and nothing made
    lifecycle.start(e, "m-1")
    job = e.records.get("m-1")
    assert job is not None
    creates = ark_requests(sim, kind="create")
    if failures < MAX_ATTEMPTS:
        assert job.state == "submitted" and len(sim_tasks(sim)) == 1 and len(creates) == MAX_ATTEMPTS
    else:
        assert job.state == "failed" and job.error_code == "CreateUnresolved"
        assert sim_tasks(sim) == [] and len(creates) == MAX_ATTEMPTS, "never one attempt more"
        assert len(bot_replies(feishu, msg["message_id"], "text")) == 1
        assert e.queue.in_flight() == [] and e.budgets.spent_today(now=e.clock()) == 0
    assert_stats_exact(e)
