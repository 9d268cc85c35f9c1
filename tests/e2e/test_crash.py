"""Crash safety, with real processes and real signals.

"Killing any process with SIGKILL at any point, or restarting Redis (AOF on),
loses no accepted request and duplicates nothing: after restart every request
ends in exactly one video or one clear failure message. SIGTERM drains
gracefully."

Every test starts the simulators and the bot as separate processes
(`tests/stack.py`), sends real `/video` messages through the Feishu simulator,
kills bot processes (or redis-server) with real signals at chosen moments —
chosen by looking at Redis and at the simulators, never by sleeping — restarts
them and then checks what users and the provider see:

* every source message has exactly one `media` reply, one job card, no failure
  reply, and no reply `uuid` appears on two messages;
* counted as requests, not messages (Feishu keeps one message per reply uuid, so a second
  POST is invisible among the messages): exactly one media POST created each reply, and a
  repeated POST (same uuid, deduplicated) only where a kill could have landed between a
  reply and its delivered-marker;
* the Ark simulator holds exactly one task per request (mapped by a tag in the
  prompt): no create was repeated.

All of it is judged once the bot is at rest (`Stack.at_rest`: no open job, no entry waiting
in any stream, no lease held, no retry planned), so a duplicate cannot land afterwards. The
simulator runs slowly only where a kill must find tasks running at Ark, and fast again for
the rest. Nothing here asserts timing; waits only bound how long a test may hang.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from chat import prompt_of
from exactly_once import ark_statuses, assert_exactly_once, delivered, wait_all_delivered
from stack import Stack, free_port, wait_until

from sim.redis_server import RedisServer

pytestmark = pytest.mark.slow

PREFIX = "{bot}"  # REDIS_PREFIX default, hash-tagged
USERS = [{"open_id": f"ou_user{i}", "name": f"User {i}"} for i in range(5)]  # ≤ 3 running jobs each
CHATS = ["oc_crash_a", "oc_crash_b"]
BIG = "[[minbytes:20000000]]"  # the Ark simulator pads this task's mp4 to 20 MB: delivery takes a moment
FINAL_WAIT = 150.0  # an upper bound against hangs, not a performance claim
BOT_PROCS = ("bot-serve", "bot-web", "bot-worker", "bot-worker2", "bot-scheduler")
FAST = 120.0  # the simulator's speed once nothing needs tasks to stay running


# --- the deployment ------------------------------------------------------------------------------------


@contextmanager
def running(tmp: Path, redis_url: str, **kw: Any) -> Iterator[Stack]:
    # Ark's created_at on the wall clock (as the real service): the bot compares it with its own clock
    # to adopt the task of a create that a kill interrupted (bot.engine.creator).
    kw.setdefault("ark_args", ["--wall-clock-timestamps"])
    stack = Stack(workdir=tmp, redis_url=redis_url, **kw)
    try:
        stack.start_simulators()
        yield stack
    finally:
        stack.stop()
        stack.print_logs(BOT_PROCS, 5000)


def speed_up(stack: Stack, speed: float = FAST) -> None:
    """Ark runs fast from now on, and bot processes started from now on keep in step with it."""
    stack.speed = speed
    stack.ark_config(speed=speed)


def kill_bot(stack: Stack, name: str = "bot-serve", sig: int = signal.SIGKILL) -> int:
    """Send `sig` to a bot process, wait for it to exit, return its exit code."""
    proc = stack.procs[name]
    stack.kill(name, sig)
    return int(proc.returncode)


def spawn_worker(stack: Stack, name: str, node: str) -> None:
    """An extra `seedance-bot worker` process with its own stable identity (`BOT_NODE`)."""
    stack.spawn(name, ["worker"], {**stack.bot_environment(), "BOT_NODE": node})


def client(url: str) -> Any:  # decode_responses=True: str replies (the stubs cannot say so)
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)


# --- requests and what came of them ------------------------------------------------------------------


def tag(i: int) -> str:
    return f"crashreq{i:02d}"


def send_one(stack: Stack, i: int, extra: str = "") -> tuple[str, str]:
    sent = stack.send(f"/video a paper boat on a pond {tag(i)} {extra}".strip(),
                      user=USERS[i % len(USERS)], chat_id=CHATS[i % len(CHATS)])
    return str(sent["message_id"]), tag(i)


def send_requests(stack: Stack, ids: range, *, extra: str = "", parallel: bool = False) -> dict[str, str]:
    """Send one `/video` per index (several users and chats); returns {source message_id: tag}."""
    if parallel:
        with ThreadPoolExecutor(len(ids)) as pool:
            pairs = list(pool.map(lambda i: send_one(stack, i, extra), ids))
    else:
        pairs = [send_one(stack, i, extra) for i in ids]
    return dict(pairs)


# --- Redis probes (read-only; the bot's state after a kill is frozen) ----------------------------------


def delivery_leases(r: Any) -> dict[str, str]:
    """{rid: holder} of deliveries in progress right now."""
    out: dict[str, str] = {}
    for key in r.scan_iter(f"{PREFIX}:lease:deliver:*"):
        holder = r.get(key)
        if holder:
            out[str(key).rsplit(":", 1)[1]] = str(holder)
    return out


def unhandled_messages(r: Any) -> int:
    """Chat events in the inbox that no worker has acknowledged (pending or never read)."""
    stream = f"{PREFIX}:inbox"
    if not r.exists(stream):
        return 0
    groups = {g["name"]: g for g in r.xinfo_groups(stream)}
    if "workers" not in groups:
        return int(r.xlen(stream))
    pending = r.xpending_range(stream, "workers", min="-", max="+", count=1000)
    ids = [p["message_id"] for p in pending]
    last = str(groups["workers"]["last-delivered-id"])
    unread = r.xrange(stream, min=f"({last}", max="+")
    kinds = [fields.get("kind") for _, fields in unread]
    for entry_id in ids:
        kinds += [fields.get("kind") for _, fields in r.xrange(stream, min=entry_id, max=entry_id)]
    return sum(1 for k in kinds if k == "message")


def job_states(r: Any) -> Counter[str]:
    return Counter(str(r.hget(k, "state")) for k in r.scan_iter(f"{PREFIX}:job:*"))


# --- 1. the acceptance case ---------------------------------------------------------------------------


def test_sigkill_serve_with_ten_requests_in_flight_then_restart_delivers_each_exactly_once(
        tmp_path: Path, redis_url: str) -> None:
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=12.0, max_in_flight=4) as stack:
        stack.start_bot()
        sources = send_requests(stack, range(10))
        # Accepted: a card for each; some tasks running at Ark, the rest still in our fair queue.
        wait_until(lambda: len(stack.bot_messages("interactive")) >= 10, 60, what="10 job cards")
        wait_until(lambda: ark_statuses(stack)["running"] >= 2, 60, what="tasks running at Ark")
        kill_bot(stack)
        at_kill = ark_statuses(stack)
        assert sum(at_kill.values()) < 10, f"every task already existed: {at_kill}"
        assert len(delivered(stack, sources)) < 10
        speed_up(stack)
        stack.start_bot()
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=1)


# --- 2. SIGKILL at different moments, repeated --------------------------------------------------------


def test_sigkill_right_after_the_webhook_accepted_events(tmp_path: Path, redis_url: str) -> None:
    """(a) Events are in the inbox (200 given to Feishu) but not yet handled when serve dies."""
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=FAST, max_in_flight=4) as stack:
        sources: dict[str, str] = {}
        caught = 0
        kills = 0
        for round_ in range(3):
            stack.start_bot()
            batch = send_requests(stack, range(5 * round_, 5 * round_ + 5), parallel=True)
            kill_bot(stack)  # the moment the last event was acknowledged to Feishu
            kills += 1
            caught += unhandled_messages(r)
            sources.update(batch)
            if caught and round_ >= 1:
                break
        assert caught, "the kills never caught an accepted event before a worker handled it"
        stack.start_bot()
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=kills)


def more_tasks_and_one_running(stack: Stack, than: int) -> bool:
    return len(stack.ark_tasks()) > than and ark_statuses(stack)["running"] >= 1


def test_sigkill_repeatedly_while_tasks_run_at_ark(tmp_path: Path, redis_url: str) -> None:
    """(b) Two kills while Ark tasks are running; the restarted bot creates more before the second."""
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=12.0, max_in_flight=3) as stack:
        stack.start_bot()
        sources = send_requests(stack, range(6))
        created = 0
        for kill in range(2):
            wait_until(partial(more_tasks_and_one_running, stack, created), 90,
                       what="a new task created and tasks running at Ark")
            kill_bot(stack)
            assert ark_statuses(stack)["running"] >= 1  # still running at Ark while the bot is dead
            created = len(stack.ark_tasks())
            if kill == 1:
                speed_up(stack)
            stack.start_bot()
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=2)


def test_sigkill_during_delivery_of_large_videos_repeated(tmp_path: Path, redis_url: str) -> None:
    """(c) Killed twice while a 20 MB video was being downloaded/uploaded/replied."""
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=60.0, max_in_flight=4) as stack:
        stack.start_bot()
        sources = send_requests(stack, range(4), extra=BIG)
        interrupted: set[str] = set()
        for _ in range(2):
            leases = wait_until(lambda: delivery_leases(r), 120, interval=0.01, what="a delivery in progress")
            kill_bot(stack)
            # Unfinished at the kill: no delivered-marker (the dead process can no longer set it).
            interrupted |= {rid for rid in leases if not r.exists(f"{PREFIX}:sent:{rid}")}
            stack.start_bot()
        assert interrupted, "no kill landed inside a delivery"
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=2)
        for rid in interrupted:  # the interrupted deliveries were finished by the restarted process
            assert r.hget(f"{PREFIX}:job:{rid}", "state") == "done"


def _ark_config(stack: Stack, **changes: Any) -> None:
    origin = stack.ark_url.rsplit("/api/v3", 1)[0]
    requests.post(f"{origin}/__sim__/config", json=changes, timeout=10).raise_for_status()


def test_sigkill_between_ark_create_and_saving_the_task_id_adopts_the_task(tmp_path: Path,
                                                                          redis_url: str) -> None:
    """(d) The create reached Ark but the bot died before storing the task id: no second task."""
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=30.0, max_in_flight=4) as stack:
        stack.start_bot()
        _ark_config(stack, slow_rate=1.0, slow_seconds=3.0)  # Ark answers every call 3 s late
        sources = send_requests(stack, range(3))

        def create_in_the_air() -> str | None:
            tagged = {t for task in stack.ark_tasks() for t in sources.values() if t in prompt_of(task)}
            for mid, t in sources.items():
                job = r.hgetall(f"{PREFIX}:job:m-{mid}")
                if t in tagged and float(job.get("creating_since") or 0) and not job.get("task_id"):
                    return t
            return None

        orphaned = wait_until(create_in_the_air, 60, interval=0.05, what="a task created but not yet saved")
        kill_bot(stack)
        in_the_air = [str(t["id"]) for t in stack.ark_tasks() if orphaned in prompt_of(t)]
        _ark_config(stack, slow_rate=0.0)
        stack.start_bot()
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=1)
        # The task made before the kill is the one the job carries: it was adopted, not made again.
        mid = next(m for m, t in sources.items() if t == orphaned)
        assert r.hget(f"{PREFIX}:job:m-{mid}", "task_id") == in_the_air[0], (orphaned, in_the_air)
        assert "adopted task" in stack.log("bot-serve"), f"{orphaned}'s task was not adopted"


# --- 3. split roles -------------------------------------------------------------------------------------


def node_a_delivering(stack: Stack, r: Any) -> dict[str, str]:
    """Wait until worker node-a holds a delivery; node-b is paused (SIGSTOP) meanwhile so that
    node-a is the one that takes it, and resumed (SIGCONT) before returning."""
    survivor = stack.procs["bot-worker2"]
    survivor.send_signal(signal.SIGSTOP)
    try:
        return dict(wait_until(
            lambda: {k: v for k, v in delivery_leases(r).items() if v.startswith("node-a-")},
            120, interval=0.01, what="a delivery held by worker node-a"))
    finally:
        survivor.send_signal(signal.SIGCONT)


def test_sigkill_one_worker_mid_delivery_survivor_continues_restarted_worker_finishes(
        tmp_path: Path, redis_url: str) -> None:
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=30.0, max_in_flight=6) as stack:
        stack.start_bot(("web", "scheduler"))
        spawn_worker(stack, "bot-worker", "node-a")
        spawn_worker(stack, "bot-worker2", "node-b")
        sources = send_requests(stack, range(6), extra=BIG)
        # Kill node-a while it holds a delivery; node-b keeps working.
        leases = node_a_delivering(stack, r)
        kill_bot(stack, "bot-worker")
        more = send_requests(stack, range(6, 9))  # new work while node-a is dead
        wait_until(lambda: delivered(stack, more) == set(more), FINAL_WAIT,
                   what="the survivor to deliver requests sent after the kill")
        # node-a comes back under the same name: it replays its pending entries, finishing the
        # interrupted delivery at once instead of waiting for the lease to expire.
        spawn_worker(stack, "bot-worker", "node-a")
        sources.update(more)
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=1)
        for rid in leases:
            assert r.hget(f"{PREFIX}:job:{rid}", "state") == "done"


def pending_on(r: Any, stream: str, consumer_prefix: str) -> list[str]:
    """Entry ids of `stream` delivered to a consumer named `consumer_prefix…` and not acknowledged."""
    key = f"{PREFIX}:{stream}"
    if not r.exists(key):
        return []
    pending = r.xpending_range(key, "workers", min="-", max="+", count=1000)
    return [str(p["message_id"]) for p in pending if str(p["consumer"]).startswith(consumer_prefix)]


def test_sigkill_a_worker_that_never_comes_back(tmp_path: Path, redis_url: str) -> None:
    """node-a dies while handling an accepted chat message (and delivering a video) and never returns:
    the survivor claims its pending entries (XAUTOCLAIM once idle for the claim time: 60 service
    seconds, a few real ones here) and finishes them. The survivor may deliver every video first,
    through the scheduler's admit and re-emitted deliveries, before it claims node-a's entries; the
    replay of those entries is what this test judges, so it waits for it (state, not time)."""
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=30.0, max_in_flight=4) as stack:
        stack.start_bot(("web", "scheduler"))
        spawn_worker(stack, "bot-worker", "node-a")
        spawn_worker(stack, "bot-worker2", "node-b")
        sources = send_requests(stack, range(3), extra=BIG)
        survivor = stack.procs["bot-worker2"]
        survivor.send_signal(signal.SIGSTOP)  # node-a alone takes the next entries
        try:
            wait_until(lambda: any(v.startswith("node-a-") for v in delivery_leases(r).values()), 120,
                       interval=0.01, what="a delivery held by worker node-a")
            sources.update(send_requests(stack, range(3, 4), extra=BIG))
            held = wait_until(lambda: pending_on(r, "inbox", "node-a-"), 30, interval=0.005,
                              what="worker node-a handling a chat message")
            kill_bot(stack, "bot-worker")
            # Read while the survivor is still stopped: once it runs it may claim them at any moment.
            at_kill = set(pending_on(r, "inbox", "node-a-"))
        finally:
            survivor.send_signal(signal.SIGCONT)
        # Still node-a's when it died (it may have taken more entries, e.g. an `admit`, before the kill).
        assert set(held) <= at_kill
        wait_all_delivered(stack, sources, timeout=240)
        wait_until(lambda: not pending_on(r, "inbox", "node-a-") and not pending_on(r, "deliver", "node-a-"),
                   FINAL_WAIT, interval=0.1, what="the survivor to claim and finish node-a's entries")
        assert_exactly_once(stack, sources, r, interruptions=1)


def test_sigkill_scheduler_leader_standby_takes_over(tmp_path: Path, redis_url: str) -> None:
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=30.0, max_in_flight=4) as stack:
        stack.start_bot(("web", "worker", "scheduler"))
        stack.spawn("bot-scheduler2", ["scheduler"], {**stack.bot_environment(), "BOT_NODE": "standby"})
        sources = send_requests(stack, range(6))
        wait_until(lambda: ark_statuses(stack)["running"] >= 2, 90, what="tasks running at Ark")
        leader = stack.procs["bot-scheduler"]
        kill_bot(stack, "bot-scheduler")
        assert leader.returncode == -signal.SIGKILL
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=1)
        assert "scheduler: leader" in stack.log("bot-scheduler2")


# --- 4. Redis restart -----------------------------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_sigkill_redis_with_jobs_in_flight_and_restart_from_aof(tmp_path: Path, own_redis: RedisServer) -> None:
    r = client(own_redis.url)
    with running(tmp_path, own_redis.url, speed=12.0, max_in_flight=4) as stack:
        stack.feishu_config(retry_schedule=[0.5, 1, 1, 2, 2, 3, 5])  # Feishu pushes a refused event again
        stack.start_bot()
        sources = send_requests(stack, range(6))
        wait_until(lambda: ark_statuses(stack)["running"] >= 2, 90, what="tasks running at Ark")
        before = job_states(r)
        own_redis.kill(signal.SIGKILL)
        # Requests sent while Redis is down are refused (503) and pushed again by Feishu later.
        during = [stack.send(f"/video a paper boat on a pond {tag(i)}", user=USERS[i % len(USERS)],
                             chat_id=CHATS[i % len(CHATS)]) for i in (6, 7)]
        assert all(d["status"] != 200 for d in during), [d["status"] for d in during]
        own_redis.start()  # a short outage: as long as it took to refuse those two
        assert sum(job_states(r).values()) >= sum(before.values())  # the AOF kept the jobs
        speed_up(stack)
        sources.update({str(d["message_id"]): tag(i) for i, d in zip((6, 7), during, strict=True)})
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=1)
        assert stack.procs["bot-serve"].poll() is None, "serve died during the Redis outage"


def test_long_redis_outage_scheduler_recovers(tmp_path: Path, own_redis: RedisServer) -> None:
    """An outage longer than redis-py's retries: the scheduler must notice and lead again."""
    r = client(own_redis.url)
    with running(tmp_path, own_redis.url, speed=12.0, max_in_flight=4) as stack:
        stack.start_bot()
        sources = send_requests(stack, range(4))
        wait_until(lambda: ark_statuses(stack)["running"] >= 2, 90, what="tasks running at Ark")
        own_redis.kill(signal.SIGKILL)
        # Down until the scheduler has given its leadership up (its lease can no longer be renewed),
        # which outlasts redis-py's retries and many turns of APScheduler's own loop against the dead
        # server (an unguarded APScheduler thread dies there: scale.md OBS G).
        wait_until(lambda: "scheduler: lost leadership" in stack.log("bot-serve"), FINAL_WAIT, interval=0.2,
                   what="the scheduler to give up its leadership during the outage")
        own_redis.start()
        speed_up(stack)
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=1)
        # The same process recovered: its scheduler gave up leadership during the outage and led again.
        assert stack.procs["bot-serve"].poll() is None
        assert stack.log("bot-serve").count("scheduler: leader") >= 2


# --- 5. SIGTERM drains ----------------------------------------------------------------------------------


def test_sigterm_drains_then_restart_delivers_everything_once(tmp_path: Path, redis_url: str) -> None:
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=60.0, max_in_flight=4) as stack:
        stack.start_bot()
        sources = send_requests(stack, range(6), extra=BIG)
        in_hand = wait_until(lambda: delivery_leases(r), 120, interval=0.01, what="a delivery in progress")
        serve = stack.procs.pop("bot-serve")
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(FINAL_WAIT)  # a bound against a hang, not a timing claim
        assert code == 0, f"serve exited {code} on SIGTERM"
        assert "signal 15: draining" in stack.log("bot-serve")
        # The delivery in hand at SIGTERM was finished during the drain, not abandoned.
        for rid in in_hand:
            assert r.exists(f"{PREFIX}:sent:{rid}"), f"{rid} was in hand at SIGTERM and not finished"
        assert not delivery_leases(r)
        log = stack.log("bot-serve")
        drain = log.index("signal 15: draining")
        assert any(log.find(f"delivered {rid} ", drain) > 0 for rid in in_hand), "nothing finished while draining"
        stack.start_bot()
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, r, interruptions=1)


# --- 6. Feishu redelivery storm ---------------------------------------------------------------------------


def _sim_config(stack: Stack, **changes: Any) -> None:
    requests.post(f"{stack.feishu_url}/__sim__/config", json=changes, timeout=10).raise_for_status()


def _redeliver(stack: Stack, event_id: str) -> dict[str, Any]:
    resp = requests.post(f"{stack.feishu_url}/__sim__/redeliver", json={"event_id": event_id}, timeout=30)
    resp.raise_for_status()
    return dict(resp.json())


def test_feishu_redelivery_storm_makes_one_job_per_message(tmp_path: Path, redis_url: str) -> None:
    r = client(redis_url)
    with running(tmp_path, redis_url, speed=60.0, max_in_flight=4) as stack:
        # 1. The bot is down: Feishu's first push fails and it re-pushes the same event_id.
        # Re-pushes for longer than the bot may take to start on a loaded machine (~15-30 s seen).
        _sim_config(stack, retry_schedule=[0.5, 1, 1, 2, 2, 3, 5, 10, 15, 20, 30])
        offline = stack.send(f"/video a lighthouse at dusk {tag(0)}", user=USERS[0], chat_id=CHATS[0])
        assert offline["status"] is None  # nobody answered
        stack.start_bot()
        # 2. Every ack counts as late: Feishu re-pushes events the bot already accepted.
        _sim_config(stack, ack_timeout=0.001)
        slow = stack.send(f"/video a lighthouse at dusk {tag(1)}", user=USERS[1], chat_id=CHATS[1])
        _sim_config(stack, ack_timeout=3.0)
        # 3. A storm: one event pushed 20 times at once, and the same message in 5 new envelopes.
        normal = stack.send(f"/video a lighthouse at dusk {tag(2)}", user=USERS[2], chat_id=CHATS[0])
        with ThreadPoolExecutor(10) as pool:
            storm = list(pool.map(lambda _: _redeliver(stack, normal["event_id"]), range(20)))
            envelopes = list(pool.map(
                lambda _: stack.send(message_id=normal["message_id"]), range(5)))
        assert all(s["status"] == 200 for s in storm + envelopes), storm + envelopes
        assert len({e["event_id"] for e in envelopes} | {normal["event_id"]}) == 6
        sources = {offline["message_id"]: tag(0), slow["message_id"]: tag(1), normal["message_id"]: tag(2)}
        wait_all_delivered(stack, sources)
        # 4. Redelivered again after the video was posted, and after a SIGKILL + restart.
        kill_bot(stack)
        stack.start_bot()
        for s in (offline, slow, normal):
            assert _redeliver(stack, s["event_id"])["status"] == 200
            assert stack.send(message_id=s["message_id"])["status"] == 200
        # What Feishu pushed: the storm really happened (same event_id many times, many envelopes).
        deliveries = requests.get(f"{stack.feishu_url}/__sim__/deliveries", timeout=10).json()["deliveries"]
        pushes = {d["event_id"]: len(d["attempts"]) for d in deliveries}
        assert pushes[offline["event_id"]] >= 3, pushes  # refused, re-pushed, re-pushed after restart
        assert pushes[slow["event_id"]] >= 3, pushes  # late acks are re-pushed
        assert pushes[normal["event_id"]] >= 22, pushes
        envelopes_of_normal = [d for d in deliveries if d["message_id"] == normal["message_id"]]
        assert len(envelopes_of_normal) >= 7, envelopes_of_normal
        assert_exactly_once(stack, sources, r, interruptions=1)


_ = json
