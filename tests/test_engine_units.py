"""The job engine's parts on their own: job records, the fair queue, crash-safe create, poll timing.

Real Redis (`redis_url`), the Ark simulator as a real HTTP server in this
process (`fixtures_ark`), the real `ArkClient`; nothing of ours is mocked.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from bot.clients.ark import ArkClient
from bot.config import DEFAULT_MODEL
from bot.engine.creator import CLOCK_SKEW, TaskCreator
from bot.engine.jobs import Job, JobState, JobStore
from bot.engine.polling import CALLBACK_SAFETY_GAP, MAX_GAP, MIN_GAP, QUEUED_GAP, PollPolicy
from bot.errors import ArkAmbiguousError, ArkError
from bot.redis_conn import connect
from bot.sim.ark import ArkSimulator

pytest_plugins = ["fixtures_ark"]

PREFIX = "t"


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = connect(redis_url)
    yield client
    client.close()


@pytest.fixture
def store(r: redis.Redis) -> JobStore:
    return JobStore(r, PREFIX)


def make_job(rid: str, user: str = "ou_a", **fields: object) -> Job:
    return Job(rid=rid, kind="video", chat_id="oc_1", user=user, reply_to=f"om_{rid}",
               spec='{"prompt": "a kitten"}', accepted_at=time.time(), **fields)  # type: ignore[arg-type]


def queue(store: JobStore, *items: tuple[str, str]) -> None:
    """Accept and enqueue (rid, user) pairs in this order."""
    for rid, user in items:
        assert store.create(make_job(rid, user))
        assert store.enqueue(rid, user)


def admit_all(store: JobStore, cap: int) -> list[str]:
    out: list[str] = []
    while (rid := store.admit(cap)) is not None:
        out.append(rid)
    return out


# --- JobStore --------------------------------------------------------------------------------------


def test_job_record_round_trip(store: JobStore) -> None:
    job = make_job("m-1", lang="zh", in_thread=1, duration=8, seed=-1, tokens=108900, attempts=2,
                   creating_since=1_800_000_000.25, extra='{"looks_after": 3}')
    assert store.create(job)
    got = store.get("m-1")
    assert got == job
    assert got is not None and got.job_state is JobState.QUEUED
    assert got.extra_dict() == {"looks_after": 3}
    assert got.spec_dict() == {"prompt": "a kitten"}
    assert store.get("m-unknown") is None


def test_create_is_once_per_rid(store: JobStore) -> None:
    assert store.create(make_job("m-1"))
    store.update("m-1", card_id="om_card")
    assert not store.create(make_job("m-1", user="ou_other")), "a redelivery finds the first record"
    got = store.get("m-1")
    assert got is not None and got.user == "ou_a" and got.card_id == "om_card"
    assert store.active_rids() == ["m-1"]
    assert store.recent("oc_1", "ou_a") == ["m-1"]


def test_bind_task_and_terminal_state(store: JobStore) -> None:
    queue(store, ("m-1", "ou_a"))
    assert store.admit(3) == "m-1"
    store.update("m-1", creating_since=time.time())
    store.bind_task("m-1", "cgt-1", submitted_at=123.5)
    got = store.get("m-1")
    assert got is not None
    assert (got.task_id, got.creating_since, got.state, got.submitted_at) == ("cgt-1", 0.0, "submitted", 123.5)
    assert store.rid_for_task("cgt-1") == "m-1" and store.knows_task("cgt-1")
    assert not store.knows_task("cgt-2")
    store.set_state("m-1", JobState.DONE)
    assert store.in_flight() == [] and store.active_rids() == [], "a terminal job frees its slot"


def test_sent_marker_and_leases(store: JobStore) -> None:
    assert not store.is_sent("m-1")
    store.mark_sent("m-1", "om_video")
    assert store.is_sent("m-1")
    assert store.take_lease("deliver", "m-1", 5, "node-a")
    assert not store.take_lease("deliver", "m-1", 5, "node-b")
    store.drop_lease("deliver", "m-1")
    assert store.take_lease("deliver", "m-1", 5, "node-b")


# --- the fair queue --------------------------------------------------------------------------------


def test_admission_is_round_robin_across_users_and_capped(store: JobStore) -> None:
    queue(store, ("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("c1", "C"), ("b2", "B"))
    assert admit_all(store, cap=3) == ["a1", "b1", "c1"]
    assert store.admit(3) is None, "the cap holds"
    assert store.queued_count() == 3, "a refused admission takes nothing off the queue"
    store.release("b1")
    assert store.admit(3) == "b2", "B holds no slot now; A and C hold one each"
    assert store.admit(3) is None
    store.release("a1")
    assert store.admit(3) == "a2"
    store.release("c1")
    assert store.admit(3) == "a3"
    assert store.queued_count() == 0
    assert store.admit(10) is None


def test_a_burst_does_not_keep_the_next_slot_from_waiting_users(store: JobStore) -> None:
    # A asks three times while nobody else is waiting: A gets every slot.
    for rid in ("a1", "a2", "a3"):
        queue(store, (rid, "A"))
        assert store.admit(3) == rid
    # Then A asks again, and B and C ask for the first time.
    queue(store, ("a4", "A"), ("b1", "B"), ("c1", "C"))
    store.release("a1")
    assert store.admit(3) == "b1", "B holds no slot; A holds two"
    store.release("a2")
    store.release("a3")
    # A and C hold nothing now: C, never served, goes before A's fourth.
    assert admit_all(store, cap=3) == ["c1", "a4"]


def test_enqueue_is_idempotent(store: JobStore) -> None:
    assert store.create(make_job("a1", "A"))
    assert store.enqueue("a1", "A")
    assert not store.enqueue("a1", "A"), "already queued"
    assert store.queued_count() == 1
    assert store.admit(3) == "a1"
    assert not store.enqueue("a1", "A"), "already in flight"
    assert store.queued_count() == 0
    assert store.admit(3) is None


def test_dequeue_removes_a_queued_job(store: JobStore) -> None:
    queue(store, ("a1", "A"), ("b1", "B"), ("b2", "B"))
    assert store.queue_position("b2", "B") >= 2
    assert store.dequeue("a1", "A")
    assert not store.dequeue("a1", "A"), "only once"
    assert store.queue_position("a1", "A") == 0
    assert admit_all(store, cap=5) == ["b1", "b2"]
    assert store.r.llen(store.keys.rr) == 0, "users without queued work leave the rotation"


# --- TaskCreator -----------------------------------------------------------------------------------


@pytest.fixture
def sim(ark_sim_factory: Callable[..., ArkSimulator]) -> ArkSimulator:
    # Real-time service clock: the creator compares Ark's created_at with its own clock.
    return ark_sim_factory(speed=1.0)


@pytest.fixture
def ark(sim: ArkSimulator) -> Iterator[ArkClient]:
    client = ArkClient(sim.base_url, "test-key", timeout=10, max_retries=0)
    yield client
    client.close()


def make_creator(store: JobStore, ark: ArkClient, *, create: Callable[[dict[str, object]], str] | None = None,
                 request_timeout: float = 10.0) -> TaskCreator:
    def list_recent(page: int, size: int) -> list[tuple[str, float]]:
        return [(t.id, float(t.created_at or 0)) for t in ark.list(page_num=page, page_size=size).items]

    return TaskCreator(store, store.r, create=create or ark.create, list_recent=list_recent,
                       request_timeout=request_timeout)


def body(prompt: str = "a kitten yawning") -> dict[str, object]:
    return {"model": DEFAULT_MODEL, "content": [{"type": "text", "text": prompt}], "duration": 5}


def admitted(store: JobStore, rid: str) -> Job:
    queue(store, (rid, "ou_a"))
    assert store.admit(3) == rid
    job = store.get(rid)
    assert job is not None
    return job


def test_create_binds_the_new_task(store: JobStore, ark: ArkClient, sim: ArkSimulator) -> None:
    job = admitted(store, "m-1")
    outcome = make_creator(store, ark).create(job, body())
    assert outcome.task_id and not outcome.adopted
    assert sim.create_count == 1 and sim.tasks()[0]["id"] == outcome.task_id
    got = store.get("m-1")
    assert got is not None
    assert (got.task_id, got.state, got.creating_since, got.attempts) == (outcome.task_id, "submitted", 0.0, 1)
    assert store.rid_for_task(outcome.task_id) == "m-1"
    # Asking again (a replayed stream entry) returns the bound task and creates nothing.
    again = make_creator(store, ark).create(job, body())
    assert (again.task_id, again.adopted) == (outcome.task_id, True)
    assert sim.create_count == 1


def test_crash_between_create_and_save_adopts_the_task(store: JobStore, ark: ArkClient,
                                                       sim: ArkSimulator) -> None:
    job = admitted(store, "m-1")
    # A previous worker marked the attempt, sent the create, and died before saving the answer.
    store.update("m-1", creating_since=time.time() - 0.5)
    orphan = ark.create(body())
    assert store.get("m-1").task_id == ""  # type: ignore[union-attr]

    outcome = make_creator(store, ark).create(job, body())
    assert (outcome.task_id, outcome.adopted) == (orphan, True)
    assert sim.create_count == 1, "no second task for the same request"
    got = store.get("m-1")
    assert got is not None and got.task_id == orphan and got.creating_since == 0.0
    assert store.rid_for_task(orphan) == "m-1"


def test_ambiguous_create_is_not_resent_and_is_adopted_later(store: JobStore, ark: ArkClient,
                                                             sim: ArkSimulator) -> None:
    job = admitted(store, "m-1")

    def create_then_time_out(b: dict[str, object]) -> str:
        ark.create(b)  # the service got it ...
        raise ArkAmbiguousError("read timed out", code="Timeout")  # ... but the answer was lost

    with pytest.raises(ArkAmbiguousError):
        make_creator(store, ark, create=create_then_time_out).create(job, body())
    pending = store.get("m-1")
    assert pending is not None and pending.creating_since > 0 and not pending.task_id

    outcome = make_creator(store, ark).create(job, body())
    assert outcome.adopted and outcome.task_id == sim.tasks()[0]["id"]
    assert sim.create_count == 1


def test_interrupted_attempt_with_no_task_creates_exactly_one(store: JobStore, ark: ArkClient,
                                                              sim: ArkSimulator) -> None:
    # Another job's task exists and is known: it must not be adopted by this one.
    other = admitted(store, "m-other")
    known = make_creator(store, ark).create(other, body("someone else's video")).task_id
    job = admitted(store, "m-1")
    store.update("m-1", creating_since=time.time() - 0.5)  # died before the create was sent

    outcome = make_creator(store, ark).create(job, body())
    assert outcome.task_id and outcome.task_id != known and not outcome.adopted
    assert sim.create_count == 2
    texts = {t["id"]: t["body"]["content"][0]["text"] for t in sim.tasks()}
    assert texts[outcome.task_id] == "a kitten yawning"
    got = store.get("m-1")
    assert got is not None and got.task_id == outcome.task_id and got.attempts == 1


def test_unknown_task_outside_the_attempts_window_is_not_adopted(store: JobStore, ark: ArkClient,
                                                                 sim: ArkSimulator) -> None:
    stray = ark.create(body("created long before the attempt"))
    job = admitted(store, "m-1")
    # The interrupted attempt started well after the stray task was created.
    store.update("m-1", creating_since=time.time() + CLOCK_SKEW + 30)
    outcome = make_creator(store, ark, request_timeout=5).create(job, body())
    assert outcome.task_id != stray and not outcome.adopted
    assert sim.create_count == 2


def test_rejected_create_clears_the_attempt(store: JobStore, ark: ArkClient, sim: ArkSimulator) -> None:
    job = admitted(store, "m-1")
    with pytest.raises(ArkError) as info:
        make_creator(store, ark).create(job, body("a forbidden thing [[sensitive]]"))
    assert not isinstance(info.value, ArkAmbiguousError) and info.value.status == 400
    got = store.get("m-1")
    assert got is not None and got.creating_since == 0.0 and not got.task_id
    assert sim.create_count == 0
    # Nothing exists at Ark, so a retry creates (it does not look for something to adopt).
    outcome = make_creator(store, ark).create(job, body())
    assert outcome.task_id and not outcome.adopted and sim.create_count == 1


# --- PollPolicy ------------------------------------------------------------------------------------


@pytest.mark.parametrize("expected", [30.0, 60.0, 90.0, 300.0])
def test_first_look_comes_just_before_the_expected_time(expected: float) -> None:
    first = PollPolicy().first_delay(expected)
    assert 0.85 * expected <= first <= expected


def test_first_look_never_comes_immediately() -> None:
    assert PollPolicy().first_delay(0.5) >= MIN_GAP


def test_looks_while_running_aim_at_the_expected_end() -> None:
    policy = PollPolicy()
    for running_for in (0.0, 10.0, 40.0, 55.0):
        delay = policy.next_delay(status="running", expected=60.0, running_for=running_for, looks_after=0)
        assert delay >= MIN_GAP
        assert running_for + delay <= 60.0 or delay == MIN_GAP


def test_gaps_after_the_expected_time_grow_and_are_capped() -> None:
    policy = PollPolicy()
    gaps = [policy.next_delay(status="running", expected=60.0, running_for=60.0 + i, looks_after=i)
            for i in range(40)]
    assert gaps[0] == pytest.approx(MIN_GAP)
    assert all(b >= a for a, b in itertools.pairwise(gaps)), gaps
    assert gaps[5] > gaps[0]
    assert max(gaps) == pytest.approx(MAX_GAP) and gaps[-1] == pytest.approx(MAX_GAP)


def test_a_task_queued_at_ark_is_looked_at_rarely() -> None:
    policy = PollPolicy()
    assert policy.next_delay(status="queued", expected=60.0, running_for=None, looks_after=0) >= QUEUED_GAP
    assert policy.next_delay(status="queued", expected=400.0, running_for=None, looks_after=0) >= 100.0


def test_time_factor_scales_every_delay() -> None:
    real, fast = PollPolicy(), PollPolicy(time_factor=1 / 60)
    assert fast.first_delay(90.0) == pytest.approx(real.first_delay(90.0) / 60)
    for running_for, looks in ((20.0, 0), (70.0, 3)):
        r_delay = real.next_delay(status="running", expected=60.0, running_for=running_for, looks_after=looks)
        f_delay = fast.next_delay(status="running", expected=60.0, running_for=running_for / 60, looks_after=looks)
        assert f_delay == pytest.approx(r_delay / 60)


def test_with_callbacks_polling_is_only_a_safety_net() -> None:
    policy = PollPolicy(callbacks=True)
    assert policy.first_delay(60.0) >= max(60.0, CALLBACK_SAFETY_GAP)
    assert policy.next_delay(status="running", expected=60.0, running_for=80.0, looks_after=2) == CALLBACK_SAFETY_GAP
