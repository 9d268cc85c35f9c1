"""Redis Sentinel: the bot's roles follow the master through a failover and lose nothing.

A real master, one replica and three sentinels (`sim.redis_sentinel.SentinelGroup`: redis-server
processes, the sentinels in sentinel mode), both simulators, and the bot as separate web, worker
and scheduler processes that know only the sentinels (REDIS_SENTINELS, no REDIS_URL). `/video`
requests go in through the Feishu simulator, the master changes mid-run (tasks running at Ark),
more requests come during and after the change, and once the bot is at rest (`Stack.at_rest`):

* every request has exactly one media reply, created by exactly one POST (requests, not messages:
  Feishu keeps one message per reply uuid, so a repeated POST shows only among the requests; a
  repeat is allowed only where the switch could cut a delivery between its POST and its marker);
* the Ark simulator holds exactly one task per request (no create was repeated);
* no failure text, no uuid on two messages, one job card per request;
* every process is still running and the requests sent after the switch were handled by the same
  processes, on the new master (the scheduler holds its lease there).

What each test guarantees, and why it is not simply "SENTINEL FAILOVER": Redis replication is
asynchronous, and Sentinel does not stop the old master taking writes while it promotes the
replica. It announces the new master about a second later and turns the old one into a replica
only about ten seconds after that; whatever a client wrote there meanwhile is discarded (measured
with Redis 6.2 and 7.0). The bot asks Sentinel every second (`bot.store.connection.MasterPool`),
which narrows that window to a second or two, not to nothing. So:

* `test_planned_switchover_...`: the operator's lossless procedure. The old master is fenced first
  (it refuses every write: `min-replicas-to-write` above its replica count), the replica catches
  up (equal replication offsets), then SENTINEL FAILOVER. Nothing the old master acknowledged can
  be lost, by design. The bot sees its writes refused (NOREPLICAS, then READONLY) until Sentinel
  names the new master, and follows it.
* `test_master_sigkill_...`: an unplanned failover. The master is SIGKILLed while tasks run at Ark,
  right after its replica acknowledged everything it had (equal offsets), with no user request in
  flight; the sentinels (down-after 1 s) promote the replica. A write of the roles' own loops that
  lands between that check and the kill may be lost, as in any Redis crash: the bot re-derives it
  (polls, leases, reconcile). Requests sent while there is no master are refused (503) and pushed
  again by Feishu.

Waits bound how long a test may hang; nothing waits on a fixed sleep.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from stack import Stack, wait_until

from bot.config import Settings
from bot.doctor.checks import Context, check_redis
from sim.redis_sentinel import SentinelGroup, SentinelUnavailable

pytestmark = pytest.mark.slow

PREFIX = "{bot}"  # REDIS_PREFIX default, hash-tagged
ROLES = ("web", "worker", "scheduler")
NAMES = tuple(f"bot-{role}" for role in ROLES)
USERS = [{"open_id": f"ou_sentinel{i}", "name": f"Sentinel {i}"} for i in range(4)]
CHATS = ["oc_sentinel_a", "oc_sentinel_b"]
FINAL_WAIT = 150.0  # an upper bound against hangs, not a performance claim
WORKER_THREADS = 4  # entries one worker may have in hand when the switch cuts a delivery (bot.runtime)
# Feishu pushes a refused event again (503 while no master takes writes) on this schedule.
RETRY_SCHEDULE = [0.5, 1, 1, 2, 2, 3, 5, 8, 10]


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    g = SentinelGroup(tmp_path / "redis")
    try:
        try:
            g.start()
        except SentinelUnavailable as exc:
            pytest.skip(f"no Redis Sentinel here: {exc}")
        yield g
    finally:
        g.stop()


@contextmanager
def running(tmp: Path, group: SentinelGroup, **kw: Any) -> Iterator[Stack]:
    # Ark's created_at on the wall clock: the bot adopts the task of a create whose record was lost.
    kw.setdefault("ark_args", ["--wall-clock-timestamps"])
    stack = Stack(workdir=tmp / "stack", redis_sentinels=group.addresses, **kw)
    try:
        stack.start_simulators()
        stack.feishu_config(retry_schedule=RETRY_SCHEDULE)
        stack.start_bot(ROLES, distinct_nodes=True)
        yield stack
    finally:
        stack.stop()
        for name in NAMES:
            text = stack.log(name)
            if text:
                print(f"----- {name} log (tail) -----\n{text[-5000:]}")


# --- requests and what came of them ------------------------------------------------------------------


def tag(i: int) -> str:
    return f"sentinelreq{i:02d}"


def send(stack: Stack, ids: range) -> dict[str, str]:
    """One `/video` per index (several users and chats); {source message_id: tag}."""
    out = {}
    for i in ids:
        sent = stack.send(f"/video a lighthouse in the fog {tag(i)}", user=USERS[i % len(USERS)],
                          chat_id=CHATS[i % len(CHATS)])
        out[str(sent["message_id"])] = tag(i)
    return out


def prompt_of(task: dict[str, Any]) -> str:
    content = (task.get("body") or {}).get("content") or []
    return " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))


def running_at_ark(stack: Stack) -> int:
    return sum(1 for t in stack.ark_tasks() if t["status"] == "running")


def media_by_source(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m in stack.bot_messages("media"):
        out.setdefault(str(m.get("parent_id") or ""), []).append(m)
    return out


def wait_all_delivered(stack: Stack, sources: dict[str, str]) -> None:
    def missing() -> set[str]:
        got = media_by_source(stack)
        return {sources[mid] for mid in sources if not got.get(mid)}

    try:
        wait_until(lambda: not missing(), FINAL_WAIT, interval=0.25, what="a media reply to every request")
    except AssertionError:
        texts = [(m.get("parent_id"), m.get("text")) for m in stack.bot_messages("text")]
        raise AssertionError(f"not delivered: {sorted(missing())}; bot texts: {texts}") from None


def assert_exactly_once(stack: Stack, sources: dict[str, str], interruptions: int) -> None:
    """One media reply, one card and one Ark task per request, each reply created by one POST;
    `interruptions`: switches that could each cut deliveries between their POST and their marker."""
    stack.at_rest()  # nothing left that could still post (no open job, entry, lease or retry)
    by_source = media_by_source(stack)
    counts = {sources[mid]: len(by_source.get(mid, [])) for mid in sources}
    assert all(c == 1 for c in counts.values()), f"media replies per request: {counts}"
    assert set(by_source) <= set(sources), f"media replies to unknown messages: {set(by_source) - set(sources)}"
    created: Counter[str] = Counter()
    repeated: Counter[str] = Counter()
    for req in stack.feishu_requests("reply"):
        if req.get("msg_type") == "media" and (req.get("created") or req.get("deduplicated")):
            (created if req.get("created") else repeated)[str(req.get("message_id"))] += 1
    assert {sources[mid]: created[mid] for mid in sources} == dict.fromkeys(sources.values(), 1), created
    assert sum(repeated.values()) <= interruptions * WORKER_THREADS, f"media POSTs repeated: {dict(repeated)}"
    bot = stack.bot_messages()
    uuids = Counter(m.get("uuid") for m in bot if m.get("uuid"))
    assert all(c == 1 for c in uuids.values()), f"uuid on two messages: {[u for u, c in uuids.items() if c > 1]}"
    failures = [m.get("text") for m in bot if m.get("msg_type") == "text" and m.get("parent_id") in sources]
    assert not failures, f"text replies (failures) to requests: {failures}"
    cards = Counter(str(m.get("parent_id")) for m in bot if m.get("msg_type") == "interactive")
    assert {mid: cards.get(mid, 0) for mid in sources} == dict.fromkeys(sources, 1), cards
    per_tag: dict[str, list[str]] = {t: [] for t in sources.values()}
    for task in stack.ark_tasks():
        hits = [t for t in per_tag if t in prompt_of(task)]
        assert len(hits) == 1, f"task {task['id']} matches {hits}: {prompt_of(task)!r}"
        per_tag[hits[0]].append(str(task["id"]))
    wrong = {t: ids for t, ids in per_tag.items() if len(ids) != 1}
    assert not wrong, f"Ark tasks per request not exactly one: {wrong}"
    r = stack.redis_client()
    try:
        for mid, t in sources.items():
            job = r.hgetall(f"{PREFIX}:job:m-{mid}")
            assert job.get("state") == "done", (t, job.get("state"))
            assert job.get("task_id") == per_tag[t][0], f"{t}: job has {job.get('task_id')}, its task is {per_tag[t]}"
    finally:
        r.close()


def assert_roles_follow(stack: Stack, group: SentinelGroup, new: int) -> None:
    """The same processes, still running, now on the new master: the scheduler's lease is there."""
    stack.check_running()
    leader = group.client(new).get(f"{PREFIX}:scheduler:leader")
    assert leader, "no scheduler holds its lease on the new master"
    assert "scheduler: leader" in stack.log("bot-scheduler")


# --- the tests -----------------------------------------------------------------------------------------


def test_doctor_names_the_master_the_sentinels_agree_on(group: SentinelGroup) -> None:
    settings = Settings(_env_file=None, REDIS_SENTINELS=group.addresses)  # type: ignore[call-arg]
    checks = {c.id: c for c in check_redis(Context(settings=settings, timeout=2.0))}
    sentinel = checks["redis.sentinel"]
    assert sentinel.ok, sentinel.message
    assert f"127.0.0.1:{group.agreed_master()}" in sentinel.message and "3 of 3" in sentinel.message
    assert checks["redis.reachable"].ok and checks["redis.aof"].ok  # INFO of the master, through Sentinel
    group.sentinel_procs[group.sentinel_ports[2]].kill()
    group.sentinel_procs[group.sentinel_ports[2]].wait(10)
    sentinel = {c.id: c for c in check_redis(Context(settings=settings, timeout=2.0))}["redis.sentinel"]
    assert not sentinel.ok and sentinel.severity == "warning", sentinel
    assert f"127.0.0.1:{group.sentinel_ports[2]}" in sentinel.message


def test_planned_switchover_mid_run_loses_and_duplicates_nothing(tmp_path: Path, group: SentinelGroup) -> None:
    with running(tmp_path, group, speed=12.0, max_in_flight=4) as stack:
        sources = send(stack, range(6))
        wait_until(lambda: running_at_ark(stack) >= 2, 90, what="tasks running at Ark")
        old = group.agreed_master()
        assert old is not None
        group.fence(old)  # from here the old master refuses every write ...
        wait_until(lambda: group.caught_up(old), 30, interval=0.02, what="the replica to catch up")
        sources.update(send(stack, range(6, 8)))  # ... so these are refused (503) and pushed again later
        new = group.failover()
        group.fence(old, on=False)  # a replica now: nothing to refuse
        sources.update(send(stack, range(8, 10)))
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, interruptions=1)
        assert_roles_follow(stack, group, new)
        assert group.role(old) == "slave"


def test_master_sigkill_mid_run_sentinels_promote_the_replica_and_nothing_is_lost(
        tmp_path: Path, group: SentinelGroup) -> None:
    with running(tmp_path, group, speed=12.0, max_in_flight=4) as stack:
        sources = send(stack, range(6))
        wait_until(lambda: running_at_ark(stack) >= 2, 90, what="tasks running at Ark")
        stack.settled(cards=False)  # every request handed over: none is in flight at the kill
        old = group.agreed_master()
        assert old is not None
        wait_until(lambda: group.caught_up(old), 30, interval=0.005, what="the replica to catch up")
        group.kill_master()
        sources.update(send(stack, range(6, 8)))  # no master yet: refused (503) and pushed again later
        new = group.wait_new_master(old)
        sources.update(send(stack, range(8, 10)))
        wait_all_delivered(stack, sources)
        assert_exactly_once(stack, sources, interruptions=1)
        assert_roles_follow(stack, group, new)
