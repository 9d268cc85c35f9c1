"""A job's way through the engine: start, look, deliver, fail, retry; the worker's give-up; metrics.

Real Redis, both simulators as real HTTP servers in this process, the real clients (Feishu's with
no retries of its own, so an injected fault reaches the engine's retry logic). The scheduler and
worker loops are not run: each test drives the steps they would run (`admit_and_start`, `tick`,
`deliver`, moving due retries into their streams) and waits on conditions, never on time.

Checked throughout: one message per outcome in the chat (the Feishu simulator's messages), the
budget committed at the delivered length or released, slots freed, the per-state counters exact.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from enginekit import (
    PREFIX,
    accept,
    ark_client,
    ark_requests,
    assert_stats_exact,
    bot_replies,
    feishu_fault,
    inject,
    make_engine,
    new_job,
    sim_tasks,
    user_message,
    wait_until,
)
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr

from bot import i18n
from bot.clients.ark import Task
from bot.engine import delivery, lifecycle, poller, scheduler
from bot.engine.creator import MAX_ATTEMPTS as MAX_CREATE_ATTEMPTS
from bot.engine.engine import Engine
from bot.engine.metrics import EngineCollector
from bot.engine.polling import CALLBACK_SAFETY_GAP, MAX_GAP, MIN_GAP, QUEUED_GAP, PollPolicy
from bot.engine.worker import GROUP, MAX_ATTEMPTS, WorkerRole
from bot.errors import Busy
from bot.retry import STEP_RETRY
from bot.spec import ImageInput, VideoSpec, resolve
from bot.store.connection import Unavailable
from bot.store.jobs import Job, JobState, Pool, message_rid
from bot.store.stats import snapshot
from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator
from sim.redis_server import RedisServer, free_port

pytest_plugins = ["fixtures_ark", "fixtures_feishu"]


@pytest.fixture
def feishu(feishu_sim_factory: Callable[..., FeishuSimulator]) -> FeishuSimulator:
    return feishu_sim_factory()


@pytest.fixture
def sim(ark_sim_factory: Callable[..., ArkSimulator]) -> ArkSimulator:
    """A frozen service clock: tasks move only when a test advances it."""
    return ark_sim_factory(speed=0.0, wall_clock_timestamps=True)


@pytest.fixture
def e(redis_url: str, sim: ArkSimulator, feishu: FeishuSimulator) -> Engine:
    return make_engine(redis_url, sim.base_url, feishu, ark_max_in_flight=20)


def submit(e: Engine, feishu: FeishuSimulator, rid: str, *, seconds: int = 4, **job: Any) -> dict[str, Any]:
    """A user's message and its accepted job, started at Ark. Returns the message."""
    msg = user_message(feishu, user=job.get("user", "ou_alice"))
    accept(e, new_job(rid, reply_to=msg["message_id"], **job), seconds)
    lifecycle.admit_and_start(e)
    assert e.records.field(rid, "state") == "submitted", e.records.get(rid)
    return msg


def tick_until(e: Engine, rid: str, state: str) -> None:
    def looked() -> bool:
        poller.tick(e)
        return e.records.field(rid, "state") == state
    wait_until(looked, what=f"{rid} to be {state}")


def take(e: Engine, stream: str) -> list[dict[str, str]]:
    """Everything handed out on `stream` so far (as a worker would read it), emptied."""
    entries = [cast(dict[str, str], fields) for _, fields in cast(list[Any], e.redis.xrange(stream))]
    e.redis.delete(stream)
    return entries


def finish_at_ark(e: Engine, sim: ArkSimulator, rid: str) -> str:
    """Let Ark finish the task, let the scheduler see it; returns the snapshot handed to delivery."""
    sim.advance(1000)
    tick_until(e, rid, "finished")
    [entry] = [x for x in take(e, e.keys.deliver) if x["rid"] == rid]
    return entry["task"]


def run_due(e: Engine) -> list[dict[str, str]]:
    """Move every delayed retry into its stream now (as the tick does once they are due); the
    retries handed out (start entries on the inbox, deliveries)."""
    e.polls.move_due(time.time() + 10**7)
    return [x for x in take(e, e.keys.inbox) if x.get("kind") == "start"] + take(e, e.keys.deliver)


def spent(e: Engine) -> int:
    return e.budgets.spent_today(now=e.clock())


# --- the happy path ------------------------------------------------------------------------------------------


def test_a_job_is_delivered_once_and_charged_at_the_videos_length(e: Engine, sim: ArkSimulator,
                                                                  feishu: FeishuSimulator) -> None:
    msg = submit(e, feishu, "m-1", seconds=12, duration=4)
    assert spent(e) == 12, "12 s reserved at acceptance"
    snapshot = finish_at_ark(e, sim, "m-1")
    assert json.loads(snapshot)["status"] == "succeeded"
    delivery.deliver(e, "m-1", snapshot)
    delivery.deliver(e, "m-1", snapshot)  # a replayed entry
    job = e.records.get("m-1")
    assert job is not None and job.state == "done" and job.reservation == "committed"
    assert [m["msg_type"] for m in bot_replies(feishu, msg["message_id"])] == ["interactive", "media"]
    assert spent(e) == 4 and job.reserved_seconds == 4, "charged at the delivered length"
    assert ark_requests(sim, kind="get") == [], "the scheduler's snapshot was used, no second read"
    assert e.queue.in_flight() == [] and e.polls.count() == 0
    assert_stats_exact(e)


# --- start: unexpected errors, transient errors, a busy service ---------------------------------------------------


def test_an_unexpected_error_in_start_ends_the_job_with_one_plain_message(e: Engine, sim: ArkSimulator,
                                                                          feishu: FeishuSimulator) -> None:
    msg = user_message(feishu)
    broken = resolve(VideoSpec(prompt="a kitten", model="seedance-1-5-pro-251215", resolution="480p", duration=4))
    broken = broken.replace(execution_expires_after="soon")  # a record an older version wrote
    accept(e, new_job("m-1", reply_to=msg["message_id"], spec=broken), 4)
    lifecycle.admit_and_start(e)
    lifecycle.start(e, "m-1")  # a replayed entry
    job = e.records.get("m-1")
    assert job is not None and job.state == "failed" and job.error_code == "internal"
    [reply] = bot_replies(feishu, msg["message_id"], "text")
    assert reply["text"].startswith(i18n.t("start_failed", "en"))
    assert "Traceback" not in reply["text"] and "ValueError" not in reply["text"]
    assert e.queue.in_flight() == [] and spent(e) == 0 and job.reservation == "released"
    assert sim_tasks(sim) == []
    assert_stats_exact(e)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_failure_message_that_could_not_be_posted_is_posted_later_once(when: str, e: Engine,
                                                                         feishu: FeishuSimulator) -> None:
    msg = user_message(feishu)
    accept(e, new_job("m-1", reply_to=msg["message_id"], prompt="a forbidden thing [[sensitive]]"), 4)
    feishu_fault(feishu, "reply", 500, when=when)
    lifecycle.admit_and_start(e)
    assert e.records.field("m-1", "state") == "failed" and spent(e) == 0
    [entry] = run_due(e)
    delivery.deliver(e, entry["rid"], entry.get("task", ""))
    delivery.deliver(e, entry["rid"], entry.get("task", ""))
    assert len(bot_replies(feishu, msg["message_id"], "text")) == 1
    assert e.records.is_sent("m-1")
    assert_stats_exact(e)


def image_job(e: Engine, feishu: FeishuSimulator, rid: str) -> dict[str, Any]:
    key = feishu.upload_user_image(width=640, height=480)["image_key"]
    msg = feishu.send(text="/video make it move", images=[key], user={"open_id": "ou_alice"}, deliver=False)
    spec = resolve(VideoSpec(prompt="make it move", model="seedance-1-5-pro-251215", resolution="480p", duration=4,
                             images=(ImageInput(f"feishu-image:{msg['message_id']}/{key}", "first_frame"),)))
    accept(e, new_job(rid, reply_to=msg["message_id"], spec=spec), 4)
    return msg


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_transient_image_download_failure_is_retried(status: int, e: Engine, sim: ArkSimulator,
                                                       feishu: FeishuSimulator) -> None:
    msg = image_job(e, feishu, "m-1")
    feishu_fault(feishu, "resource", status)
    lifecycle.admit_and_start(e)
    job = e.records.get("m-1")
    assert job is not None and job.state == "starting" and job.tries == 1 and sim_tasks(sim) == []
    [entry] = run_due(e)
    assert entry["kind"] == "start" and json.loads(entry["payload"]) == {"rid": "m-1"}
    lifecycle.start(e, "m-1")
    job = e.records.get("m-1")
    assert job is not None and job.state == "submitted" and job.tries == 0
    [task] = sim_tasks(sim)
    assert task["body"]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert bot_replies(feishu, msg["message_id"], "text") == []


def test_start_retries_back_off_and_are_bounded(redis_url: str, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    e = make_engine(redis_url, sim.base_url, feishu, expected_time_factor=1.0)  # real backoff delays (not waited)
    msg = image_job(e, feishu, "m-1")
    feishu_fault(feishu, "resource", 500, count=STEP_RETRY.tries + 1)
    lifecycle.admit_and_start(e)
    delays = []
    for _ in range(STEP_RETRY.tries):
        [(item, at)] = cast(list[tuple[str, float]], e.redis.zrange(e.keys.later, 0, -1, withscores=True))
        delays.append(at - time.time())
        assert json.loads(item)["fields"]["kind"] == "start"
        run_due(e)
        lifecycle.start(e, "m-1")
    for n, d in enumerate(delays):
        base = min(STEP_RETRY.base * 2**n, STEP_RETRY.cap)
        assert 0.74 * base <= d <= base + 0.5, (n, d, delays)
    job = e.records.get("m-1")
    assert job is not None and job.state == "failed" and job.error_code == "image_fetch"
    assert len(bot_replies(feishu, msg["message_id"], "text")) == 1
    assert e.polls.later_count() == 0 and e.queue.in_flight() == [] and spent(e) == 0
    assert sim_tasks(sim) == []
    assert_stats_exact(e)


def test_a_429_at_create_puts_the_job_back_first_in_the_queue(redis_url: str, sim: ArkSimulator,
                                                              feishu: FeishuSimulator) -> None:
    e = make_engine(redis_url, sim.base_url, feishu, ark_max_in_flight=1)
    for rid in ("a1", "a2"):
        accept(e, new_job(rid, prompt=rid, reply_to=user_message(feishu)["message_id"]))
    inject(sim, "create", "429")
    assert lifecycle.admit_and_start(e) == 1
    assert e.queue.queued_of(Pool.STANDARD, "ou_alice", 5) == ["a1", "a2"]
    assert e.records.field("a1", "state") == "queued" and e.queue.in_flight() == []
    assert e.queue.admissions_paused() and lifecycle.admit_and_start(e) == 0, "the service gets a breather"
    assert sim_tasks(sim) == [] and spent(e) == 8, "still reserved: it will run"
    assert_stats_exact(e)
    wait_until(lambda: not e.queue.admissions_paused(), what="the pause to end")
    assert lifecycle.admit_and_start(e) == 1
    assert e.records.field("a1", "state") == "submitted" and e.records.field("a2", "state") == "queued"
    assert_stats_exact(e)


def test_a_busy_service_never_fails_a_job(redis_url: str, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    """429 is a certain rejection: however often it comes, the job waits its turn and then runs."""
    e = make_engine(redis_url, sim.base_url, feishu, ark_max_in_flight=1)
    msg = user_message(feishu)
    accept(e, new_job("m-1", reply_to=msg["message_id"]))
    inject(sim, "create", "429", count=MAX_CREATE_ATTEMPTS + 2)
    for _ in range(MAX_CREATE_ATTEMPTS + 3):
        wait_until(lambda: not e.queue.admissions_paused(), what="the pause to end")
        lifecycle.admit_and_start(e)
        if e.records.field("m-1", "state") != "queued":
            break
    job = e.records.get("m-1")
    assert job is not None and job.state == "submitted", (job.state if job else None, job and job.error_code)
    assert len(sim_tasks(sim)) == 1 and bot_replies(feishu, msg["message_id"], "text") == []


# --- the poller ---------------------------------------------------------------------------------------------------


def test_one_list_call_looks_at_many_tasks_and_hands_finished_ones_over(e: Engine, sim: ArkSimulator,
                                                                        feishu: FeishuSimulator) -> None:
    rids = [f"m-{i}" for i in range(12)]
    for rid in rids:
        submit(e, feishu, rid, prompt=f"p {rid}", user=f"ou_{rid}")
    wait_until(lambda: len(e.polls.due(time.time(), 100)) == 12, what="the first looks to be due")
    before = len(ark_requests(sim))
    assert poller.tick(e) == 12
    looks = ark_requests(sim)[before:]
    assert [r["method"] for r in looks] == ["GET"] and looks[0]["path"].endswith("/tasks")
    assert looks[0]["query"].count("filter.task_ids=") == 12
    assert all(e.records.field(rid, "state") == "submitted" for rid in rids)
    assert all(e.records.field(rid, "task_status") in ("queued", "running") for rid in rids)

    sim.advance(1000)
    for rid in rids:
        e.polls.plan(rid, 0)  # due now (the scheduler would wait for the planned look)
    before = len(ark_requests(sim))
    assert poller.tick(e) == 12
    assert len(ark_requests(sim)[before:]) == 1 and ark_requests(sim, kind="get") == []
    handed = take(e, e.keys.deliver)
    assert sorted(x["rid"] for x in handed) == sorted(rids)
    for x in handed:
        task = json.loads(x["task"])
        assert task["status"] == "succeeded" and task["content"]["video_url"]
        assert task["id"] == e.records.field(x["rid"], "task_id")
    assert e.queue.in_flight() == [] and e.polls.count() == 0, "slots freed, no more looks"
    assert len(take(e, e.keys.inbox)) >= 1, "admissions are nudged"
    assert_stats_exact(e)


def test_a_task_missing_from_the_list_is_read_alone_and_a_vanished_one_ends_plainly(
        e: Engine, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    keep_msg = submit(e, feishu, "m-keep", prompt="keep")
    gone_msg = submit(e, feishu, "m-gone", prompt="gone")
    sim.advance(1000)
    ark_client(sim.base_url).delete(e.records.field("m-gone", "task_id") or "")  # someone deleted it
    inject(sim, "get", "500", count=2)  # and Ark stumbles on the first read of it
    for rid in ("m-keep", "m-gone"):
        e.polls.plan(rid, 0)
    poller.tick(e)
    assert e.records.field("m-keep", "state") == "finished"
    assert e.records.field("m-gone", "state") == "submitted", "a failed read is not a vanished task"
    e.polls.plan("m-gone", 0)
    poller.tick(e)
    job = e.records.get("m-gone")
    assert job is not None and job.state == "finished" and job.task_status == "missing"
    gets = ark_requests(sim, kind="get")
    assert {r["path"].rsplit("/", 1)[1] for r in gets} == {job.task_id}, "only the missing task was read alone"
    for x in take(e, e.keys.deliver):
        delivery.deliver(e, x["rid"], x["task"])
    assert e.records.field("m-gone", "state") == "failed"
    assert len(bot_replies(feishu, gone_msg["message_id"], "text")) == 1
    assert [m["msg_type"] for m in bot_replies(feishu, keep_msg["message_id"])] == ["interactive", "media"]
    assert_stats_exact(e)


def test_a_failed_batched_look_is_retried_soon(e: Engine, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    submit(e, feishu, "m-1")
    sim.advance(1000)
    e.polls.plan("m-1", 0)
    inject(sim, "list", "500", count=2)  # the client's one retry fails too
    assert poller.tick(e) == 0
    assert e.records.field("m-1", "state") == "submitted"
    planned = e.polls.planned("m-1")
    assert planned is not None and planned > time.time() - 1
    tick_until(e, "m-1", "finished")
    assert len(ark_requests(sim, kind="list")) == 3
    assert_stats_exact(e)


# --- delivery ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "status", "when"), [("upload_file", 500, "before"), ("upload_image", 429, "before"),
                                                    ("reply", 500, "after"), ("reply", 503, "before")])
def test_a_transient_delivery_failure_is_retried_and_posts_once(op: str, status: int, when: str, e: Engine,
                                                                sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    msg = submit(e, feishu, "m-1")
    snapshot = finish_at_ark(e, sim, "m-1")
    feishu_fault(feishu, op, status, when=when)
    delivery.deliver(e, "m-1", snapshot)
    job = e.records.get("m-1")
    assert job is not None and job.state == "finished" and job.tries == 1
    [entry] = run_due(e)
    delivery.deliver(e, entry["rid"], entry.get("task", ""))
    job = e.records.get("m-1")
    assert job is not None and job.state == "done"
    assert [m["msg_type"] for m in bot_replies(feishu, msg["message_id"])] == ["interactive", "media"]
    assert len([f for f in feishu.files() if f["file_type"] == "mp4"]) == 1, "uploaded once"
    assert len(ark_requests(sim, kind="get")) == 1, "the retry read the task afresh"
    assert_stats_exact(e)


def test_delivery_reads_the_task_when_the_snapshot_is_missing_and_retries_an_ark_5xx(
        e: Engine, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    msg = submit(e, feishu, "m-1")
    finish_at_ark(e, sim, "m-1")
    inject(sim, "get", "500", count=2)  # the client's retry too
    delivery.deliver(e, "m-1", "")
    assert e.records.field("m-1", "state") == "finished" and e.records.field("m-1", "tries") == "1"
    [entry] = run_due(e)
    delivery.deliver(e, entry["rid"], "")
    assert e.records.field("m-1", "state") == "done"
    assert len(bot_replies(feishu, msg["message_id"], "media")) == 1


def _refused_url(snapshot: str) -> str:
    """The snapshot with its video URL's signature spoiled: the store answers 403, as for an expired URL."""
    task = json.loads(snapshot)
    task["content"]["video_url"] = task["content"]["video_url"].replace("X-Tos-Signature=", "X-Tos-Signature=0")
    return json.dumps(task)


def test_delivery_reads_the_task_again_only_when_the_snapshots_url_is_refused(
        e: Engine, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    msg = submit(e, feishu, "m-1")
    snapshot = _refused_url(finish_at_ark(e, sim, "m-1"))
    delivery.deliver(e, "m-1", snapshot)
    assert e.records.field("m-1", "state") == "done"
    assert len(bot_replies(feishu, msg["message_id"], "media")) == 1
    assert len(ark_requests(sim, kind="get")) == 1, "one fresh read for a fresh URL"


def test_a_refused_url_after_a_fresh_read_ends_the_job_with_one_message(
        e: Engine, sim: ArkSimulator, feishu: FeishuSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    msg = submit(e, feishu, "m-1")
    snapshot = _refused_url(finish_at_ark(e, sim, "m-1"))
    get = e.ark.get
    monkeypatch.setattr(e.ark, "get", lambda *a, **kw: Task.from_json(json.loads(_refused_url(
        json.dumps(dict(get(*a, **kw).raw))))))
    delivery.deliver(e, "m-1", snapshot)
    job = e.records.get("m-1")
    assert job is not None and job.state == "failed" and job.error_code == "url_expired"
    assert len(bot_replies(feishu, msg["message_id"], "text")) == 1
    assert bot_replies(feishu, msg["message_id"], "media") == []
    assert len(ark_requests(sim, kind="get")) == 1, "read once more, not in a loop"


def test_delivery_gives_up_after_bounded_retries_with_one_message(e: Engine, sim: ArkSimulator,
                                                                  feishu: FeishuSimulator) -> None:
    msg = submit(e, feishu, "m-1")
    snapshot = finish_at_ark(e, sim, "m-1")
    feishu_fault(feishu, "upload_file", 502, count=STEP_RETRY.tries + 1)
    delivery.deliver(e, "m-1", snapshot)
    for _ in range(STEP_RETRY.tries):
        [entry] = run_due(e)
        delivery.deliver(e, entry["rid"], "")
    job = e.records.get("m-1")
    assert job is not None and job.state == "failed" and job.error_code == "delivery_retries"
    [reply] = bot_replies(feishu, msg["message_id"], "text")
    assert job.task_id in reply["text"], "the explanation says which task to fetch"
    assert bot_replies(feishu, msg["message_id"], "media") == []
    assert spent(e) == 0 and job.reservation == "released"
    assert run_due(e) == []
    assert_stats_exact(e)


def test_a_failed_task_is_explained_once(e: Engine, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    msg = submit(e, feishu, "m-1", prompt="a cat [[failvideo]]")
    snapshot = finish_at_ark(e, sim, "m-1")
    assert json.loads(snapshot)["status"] == "failed"
    delivery.deliver(e, "m-1", snapshot)
    delivery.deliver(e, "m-1", snapshot)
    job = e.records.get("m-1")
    assert job is not None and job.state == "failed" and job.error_code.startswith("OutputVideoSensitive")
    assert len(bot_replies(feishu, msg["message_id"], "text")) == 1 and spent(e) == 0


def test_a_cancelled_job_whose_task_already_runs_is_never_posted(e: Engine, sim: ArkSimulator,
                                                                  feishu: FeishuSimulator) -> None:
    msg = submit(e, feishu, "m-1")
    job = e.records.get("m-1")
    assert job is not None and sim_tasks(sim)[0]["status"] == "running"
    assert e.budgets.cancel(job, now=e.clock()).value == "requested"
    assert not lifecycle.cancel_at_ark(e, job), "Ark cannot cancel a running task"
    snapshot = finish_at_ark(e, sim, "m-1")
    delivery.deliver(e, "m-1", snapshot)
    got = e.records.get("m-1")
    assert got is not None and got.state == "cancelled" and got.reservation == "released" and spent(e) == 0
    assert bot_replies(feishu, msg["message_id"], "media") == []
    assert_stats_exact(e)


# --- the worker's give-up ---------------------------------------------------------------------------------------


def _boom(_engine: Engine, _payload: dict[str, Any]) -> None:
    raise RuntimeError("handler keeps failing")


def handle_until_gone(worker: WorkerRole, e: Engine, stream: str) -> int:
    """Hand the stream's entry to a worker again and again the way `WorkerRole._loop` redelivers
    an entry that failed: another consumer claims it once idle, then reads its backlog ("0").
    Returns how many times the handler ran."""
    e.streams.ensure_group(stream, GROUP)
    handled = 0
    consumer = "c0"
    resp = e.streams.read(GROUP, consumer, {stream: ">"}, count=10)
    while resp and any(entries for _, entries in resp):
        for s, entries in resp:
            for entry_id, fields in entries:
                worker._handle(s, entry_id, fields)
                handled += 1
        consumer = f"c{handled}"
        e.streams.claim_idle(stream, GROUP, consumer, 0)
        resp = e.streams.read(GROUP, consumer, {stream: "0"}, count=10)
        assert handled <= MAX_ATTEMPTS + 1
    return handled


def test_a_message_that_keeps_failing_gets_one_apology(e: Engine, feishu: FeishuSimulator) -> None:
    worker = WorkerRole(e, threads=1, on_message=_boom, on_card=_boom)
    sent = feishu.send(text="/video a kitten", chat_type="p2p", user={"open_id": "ou_alice"}, deliver=False)
    e.emit(e.keys.inbox, kind="message", payload=json.dumps(sent["event"]))
    assert handle_until_gone(worker, e, e.keys.inbox) == MAX_ATTEMPTS
    [reply] = bot_replies(feishu, sent["message_id"])
    assert reply["text"] == i18n.t("message_failed", "en")
    worker._give_up(e.keys.inbox, {"kind": "message", "payload": json.dumps(sent["event"])}, RuntimeError("x"))
    assert len(bot_replies(feishu, sent["message_id"])) == 1, "a replayed give-up says nothing twice"

    # When a job exists for the message, its card and reconcile speak for it: no apology.
    other = feishu.send(text="/video a puppy", chat_type="p2p", user={"open_id": "ou_alice"}, deliver=False)
    accept(e, Job(rid=message_rid(other["message_id"]), kind="video", chat_id="oc", user="ou_alice",
                  reply_to=other["message_id"], spec="{}"))
    e.emit(e.keys.inbox, kind="message", payload=json.dumps(other["event"]))
    assert handle_until_gone(worker, e, e.keys.inbox) == MAX_ATTEMPTS
    assert bot_replies(feishu, other["message_id"]) == []


def test_an_entry_waiting_on_a_dead_holders_lease_is_never_given_up(e: Engine, feishu: FeishuSimulator) -> None:
    """A SIGKILLed worker leaves its submit lease behind; the request's redeliveries meet it (Busy)
    more times than MAX_ATTEMPTS before it runs out. They are waits, not failures: no apology."""
    calls: list[str] = []

    def busy_then_ok(_engine: Engine, payload: dict[str, Any]) -> None:
        calls.append(json.dumps(payload)[:20])
        if len(calls) <= MAX_ATTEMPTS + 2:
            raise Busy("request is being submitted by another worker")

    worker = WorkerRole(e, threads=1, on_message=busy_then_ok, on_card=_boom)
    sent = feishu.send(text="/video a kitten", chat_type="p2p", user={"open_id": "ou_alice"}, deliver=False)
    e.emit(e.keys.inbox, kind="message", payload=json.dumps(sent["event"]))
    e.streams.ensure_group(e.keys.inbox, GROUP)
    resp = e.streams.read(GROUP, "c0", {e.keys.inbox: ">"}, count=10)
    for round_ in range(MAX_ATTEMPTS + 5):
        for s, entries in resp:
            for entry_id, fields in entries:
                worker._handle(s, entry_id, fields)
        e.streams.claim_idle(e.keys.inbox, GROUP, f"c{round_ + 1}", 0)
        resp = e.streams.read(GROUP, f"c{round_ + 1}", {e.keys.inbox: "0"}, count=10)
        if not any(entries for _, entries in resp):
            break
    assert len(calls) == MAX_ATTEMPTS + 3, "handled until the holder was gone, then acknowledged"
    assert bot_replies(feishu, sent["message_id"]) == [], "no apology for a wait"


def test_a_job_entry_that_keeps_failing_ends_the_job_with_one_message(e: Engine, feishu: FeishuSimulator) -> None:
    worker = WorkerRole(e, threads=1, on_message=_boom, on_card=_boom)
    msg = user_message(feishu)
    accept(e, new_job("m-1", reply_to=msg["message_id"]))
    e.emit(e.keys.inbox, kind="card", payload=json.dumps({"rid": "m-1"}))
    assert handle_until_gone(worker, e, e.keys.inbox) == MAX_ATTEMPTS
    job = e.records.get("m-1")
    assert job is not None and job.state == "failed" and spent(e) == 0
    assert len(bot_replies(feishu, msg["message_id"], "text")) == 1
    assert_stats_exact(e)


# --- reconcile ------------------------------------------------------------------------------------------------------


def test_reconcile_recreates_what_a_crash_lost(e: Engine, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    submit(e, feishu, "m-sub")
    e.polls.drop("m-sub")  # its planned look was lost
    accept(e, new_job("m-start", reply_to=user_message(feishu)["message_id"]))
    assert e.queue.admit(Pool.STANDARD, 10) == "m-start"
    e.records.update("m-start", admitted_at=time.time() - 3600)  # admitted, then the worker died
    accept(e, new_job("m-q", reply_to=user_message(feishu)["message_id"]))
    e.redis.delete(e.keys.user_queue(Pool.STANDARD, "ou_alice"))  # its queue entry was lost
    take(e, e.keys.inbox)
    scheduler.reconcile(e)
    assert e.polls.planned("m-sub") is not None
    kinds = [(x["kind"], json.loads(x["payload"]).get("rid")) for x in take(e, e.keys.inbox)]
    assert ("start", "m-start") in kinds and ("admit", None) in kinds
    assert e.queue.queued_of(Pool.STANDARD, "ou_alice", 5) == ["m-q"]
    lifecycle.start(e, "m-start")
    assert e.records.field("m-start", "state") == "submitted" and len(sim_tasks(sim)) == 2


# --- metrics --------------------------------------------------------------------------------------------------------


class CountingConnection(redis.Connection):
    """Counts writes to the socket: a pipeline is one write."""

    writes = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.writes += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def counting_redis(redis_url: str) -> Iterator[redis.Redis]:
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=CountingConnection, decode_responses=True)
    client = redis.Redis(connection_pool=pool)
    client.ping()
    yield client
    client.close()


def test_the_collector_reports_exact_numbers_in_one_round_trip(e: Engine, feishu: FeishuSimulator,
                                                                counting_redis: redis.Redis) -> None:
    for i in range(6):
        accept(e, new_job(f"m-{i}", user=f"ou_{i % 2}", pool=Pool.SLOW if i == 5 else Pool.STANDARD))
    assert e.queue.admit(Pool.STANDARD, 2) == "m-0"
    assert e.queue.admit(Pool.STANDARD, 2) == "m-1"
    assert e.queue.admit(Pool.SLOW, 2) == "m-5"
    e.records.set_state("m-1", JobState.SUBMITTED)
    e.budgets.finish("m-0", JobState.DONE, charge=True)
    e.budgets.finish("m-2", JobState.FAILED, charge=False)
    e.emit(e.keys.inbox, kind="admit", payload="{}")
    e.emit(e.keys.deliver, rid="m-x")
    e.polls.plan("m-1", 0)

    collector = EngineCollector(counting_redis, PREFIX)
    e.redis.config_resetstat()
    CountingConnection.writes = 0
    data = snapshot(counting_redis, e.keys)
    assert CountingConnection.writes == 1, "one pipelined round trip"
    calls = {k: v["calls"] for k, v in e.redis.info("commandstats").items()
             if k.removeprefix("cmdstat_") in ("hgetall", "zcard", "xlen", "scan", "keys", "hget", "zrange")}
    assert calls == {"cmdstat_hgetall": 1, "cmdstat_zcard": 3, "cmdstat_xlen": 2}, "O(1): no scans"
    assert data.states == {"queued": 2, "starting": 1, "submitted": 1, "done": 1, "failed": 1}
    assert data.slots == {"standard": 1, "slow": 1}
    assert (data.inbox, data.deliveries, data.watched) == (1, 1, 1)

    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    for line in ('bot_jobs_queued 2.0', 'bot_jobs_in_flight{pool="standard"} 1.0',
                 'bot_jobs_in_flight{pool="slow"} 1.0',
                 'bot_jobs_active{state="starting"} 1.0', 'bot_jobs_active{state="submitted"} 1.0',
                 'bot_jobs_ended_total{state="done"} 1.0', 'bot_jobs_ended_total{state="failed"} 1.0',
                 'bot_jobs_ended_total{state="cancelled"} 0.0', 'bot_inbox_length 1.0',
                 'bot_deliveries_waiting 1.0', 'bot_tasks_watched 1.0'):
        assert line in text, line


def test_the_collector_costs_the_same_with_many_jobs(e: Engine, counting_redis: redis.Redis) -> None:
    for i in range(300):
        accept(e, new_job(f"m-{i}", user=f"ou_{i}"))
    e.redis.config_resetstat()
    CountingConnection.writes = 0
    assert snapshot(counting_redis, e.keys).states == {"queued": 300}
    assert CountingConnection.writes == 1
    total = sum(v["calls"] for k, v in e.redis.info("commandstats").items()
                if not k.startswith(("cmdstat_config", "cmdstat_info")))  # INFO counts itself on some versions
    assert total == 6, "six reads, whatever the number of jobs"


def test_metrics_route_shows_the_engine_gauges(e: Engine) -> None:
    """What the old engine-metrics test covered: /metrics of the web role reads the same counters."""
    from bot.web.app import create_app

    for i, user in enumerate(["ou_a", "ou_a", "ou_b"]):
        accept(e, new_job(f"m-{i}", user=user))
    assert e.queue.admit(Pool.STANDARD, 1) == "m-0"
    app = create_app(e.settings.model_copy(update={"feishu_encrypt_key": SecretStr("k")}), redis=e.redis)
    body = app.test_client().get("/metrics").get_data(as_text=True)
    for line in ("bot_jobs_queued 2.0", 'bot_jobs_in_flight{pool="standard"} 1.0',
                 'bot_jobs_active{state="queued"} 2.0', 'bot_jobs_active{state="starting"} 1.0'):
        assert line in body, line


# --- poll timing (bot/engine/polling.py) ------------------------------------------------------------------------


@pytest.mark.parametrize("expected", [30.0, 60.0, 90.0, 300.0])
def test_first_look_comes_at_the_expected_time(expected: float) -> None:
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


def test_nearly_full_reads_maxmemory_and_an_unanswering_redis_raises(
        tmp_path: Path, sim: ArkSimulator, feishu: FeishuSimulator) -> None:
    """Full past the high-water mark → refuse; a Redis that does not answer raises (the worker
    redoes the entry later) instead of answering "not full" and accepting blind."""
    maxmemory = 16 * 1024 * 1024
    server = RedisServer(tmp_path / "redis", free_port(), extra_args=("--maxmemory", str(maxmemory)))
    server.start()
    try:
        eng = make_engine(server.url, sim.base_url, feishu, redis_high_water=0.8)
        assert eng.redis_nearly_full() is False
        r = redis.Redis.from_url(server.url)
        i = 0
        while int(r.info("memory")["used_memory"]) < maxmemory * 0.85:
            r.set(f"junk:{i}", b"x" * 256 * 1024)
            i += 1
        assert eng.redis_nearly_full() is True
    finally:
        server.stop()
    with pytest.raises(Unavailable):
        eng.redis_nearly_full()
