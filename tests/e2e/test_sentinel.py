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

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from exactly_once import assert_exactly_once, wait_all_delivered
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
        stack.print_logs(NAMES, 5000)


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
