"""The job engine under load and split into processes: exactly once, fair, capped, fail-over.

Every part is a separate process sharing one real redis-server; assertions read
the Ark simulator's task records (create bodies and service-clock timestamps)
and the messages the Feishu simulator holds.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from stack import Stack, wait_until

from bot.store.jobs import JobKeys, JobRecords, Pool
from bot.store.queue import FairQueue

pytestmark = pytest.mark.slow

_TAG = re.compile(r"\bclip-(?P<user>u\d+)-(?P<n>\d+)\b")


def _prompt(user: str, n: int) -> str:
    return f"/video a lantern floating up, clip-{user}-{n}"


def _tag_of_task(task: dict[str, Any]) -> tuple[str, int]:
    text = " ".join(c.get("text", "") for c in task["body"]["content"] if c.get("type") == "text")
    m = _TAG.search(text)
    assert m is not None, text
    return m["user"], int(m["n"])


def _media_by_source(stack: Stack) -> Counter[str]:
    out: Counter[str] = Counter()
    for m in stack.bot_messages("media"):
        out[m.get("parent_id") or m.get("root_id") or ""] += 1
    return out


def _send_all(stack: Stack, requests_: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Send the requests concurrently; returns (user, n) -> source message id."""

    def one(req: tuple[str, int]) -> tuple[tuple[str, int], str]:
        user, n = req
        sent = stack.send(_prompt(user, n), user={"open_id": f"ou_{user}", "name": user})
        return req, str(sent["message_id"])

    with ThreadPoolExecutor(len(requests_)) as pool:
        return dict(pool.map(one, requests_))


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Largest number of [start, end) intervals covering one instant."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = cur = 0
    for _, delta in points:  # at equal times, ends (-1) sort before starts (+1)
        cur += delta
        best = max(best, cur)
    return best


def _assert_delivered_once(stack: Stack, sources: dict[tuple[str, int], str], timeout: float) -> None:
    wait_until(lambda: all(_media_by_source(stack)[s] >= 1 for s in sources.values()), timeout,
               what=f"{len(sources)} media replies")
    time.sleep(2)  # a duplicate would show up now
    counts = _media_by_source(stack)
    assert {s: counts[s] for s in sources.values()} == {s: 1 for s in sources.values()}
    assert sum(counts.values()) == len(sources), "no media reply to anything else"


def _assert_one_task_per_request(stack: Stack, sources: dict[tuple[str, int], str]) -> list[dict[str, Any]]:
    tasks = stack.ark_tasks()
    tags = [_tag_of_task(t) for t in tasks]
    assert len(tasks) == len(set(t["id"] for t in tasks)) == len(sources)
    assert sorted(tags) == sorted(sources), "exactly one Ark task per request"
    return tasks


# --- 5: many users, a small cap --------------------------------------------------------------------


def test_twenty_requests_five_users_fair_and_capped(stack: Stack) -> None:
    stack.max_in_flight = 3
    stack.bot_env["BOT_USER_MAX_JOBS"] = "0"  # the per-user limit is not what this test is about
    stack.start_bot()
    users = [f"u{i}" for i in range(1, 6)]
    # Ark's clock stands still while the requests come in, so every request is queued before
    # the first slot frees and the order of admissions is the fair queue's alone.
    stack.ark_config(speed=0)
    # User-major order: each user's burst arrives together, the hardest case for fairness.
    wanted = [(u, n) for u in users for n in range(1, 5)]
    sources = _send_all(stack, wanted)
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    records, queue = JobRecords(r, JobKeys("bot")), FairQueue(r, JobKeys("bot"))
    wait_until(lambda: len(records.active_rids()) == 20, 60, what="20 accepted jobs")
    wait_until(lambda: len(stack.ark_tasks()) == 3, 30, what="3 tasks at Ark")
    time.sleep(1)
    assert len(stack.ark_tasks()) == 3, "no more than ARK_MAX_IN_FLIGHT tasks while none has finished"
    queued = sum(len(queue.queued_of(Pool.STANDARD, u, 100)) for u in queue.queued_users(Pool.STANDARD))
    assert len(queue.in_flight()) == 3 and queued == 17
    first_three = {_tag_of_task(t) for t in stack.ark_tasks()}
    stack.ark_config(speed=stack.speed)

    _assert_delivered_once(stack, sources, 120)
    tasks = _assert_one_task_per_request(stack, sources)
    assert all(t["status"] == "succeeded" for t in tasks)

    # The cap: at no service instant were more than 3 of our tasks queued or running at Ark.
    intervals = [(float(t["created_at"]), float(t["finished_at"])) for t in tasks]
    assert _max_overlap(intervals) == 3

    # Fairness: no user had all 4 jobs started before another user's first job started.
    starts: dict[str, list[float]] = defaultdict(list)
    for t in tasks:
        user, _ = _tag_of_task(t)
        starts[user].append(float(t["running_at"]))
    for u in users:
        for v in users:
            if u != v:
                assert max(starts[u]) > min(starts[v]), (
                    f"all of {u}'s jobs started before {v}'s first one", dict(starts))
    # Round-robin: once slots free up, every user still waiting for a first video gets one
    # before anybody gets another.
    order = [_tag_of_task(t) for t in sorted(tasks, key=lambda t: (t["created_at_real"], t["created_at"]))]
    assert set(order[:3]) == first_three
    served = {u for u, _ in first_three}
    newcomers = [u for u, _ in order[3:3 + len(users) - len(served)]]
    assert sorted(newcomers) == sorted(set(users) - served), order


# --- 6: split roles, two workers, two schedulers, fail-over ------------------------------------------


def _leader(stack: Stack, names: tuple[str, ...]) -> str:
    def find() -> str | None:
        leaders = [n for n in names if "scheduler: leader" in stack.log(f"bot-{n}")]
        return leaders[0] if len(leaders) == 1 else None

    return str(wait_until(find, 30, what="exactly one scheduler leader"))


def test_split_roles_deliver_once_and_standby_scheduler_takes_over(stack: Stack) -> None:
    schedulers = ("scheduler", "scheduler-2")
    roles = ("web", "worker", "worker-2", *schedulers)
    try:
        stack.start_bot(roles, distinct_nodes=True)  # two workers, two schedulers: one identity each
        leader = _leader(stack, schedulers)
        standby = next(n for n in schedulers if n != leader)

        first = _send_all(stack, [("u1", 1), ("u2", 1), ("u1", 2), ("u3", 1), ("u2", 2)])
        _assert_delivered_once(stack, first, 60)
        _assert_one_task_per_request(stack, first)
        assert "scheduler: leader" not in stack.log(f"bot-{standby}"), "the standby stayed standby"
        worked = [w for w in ("worker", "worker-2") if "delivered" in stack.log(f"bot-{w}")]
        assert worked, "the workers delivered the videos"

        # One request in flight while the active scheduler dies.
        inflight = _send_all(stack, [("u4", 1)])
        wait_until(lambda: len(stack.ark_tasks()) == 6, 30, what="the in-flight request's task")
        stack.kill(f"bot-{leader}", signal.SIGKILL)
        wait_until(lambda: "scheduler: leader" in stack.log(f"bot-{standby}"), 30,
                   what="the standby scheduler to take over")

        later = _send_all(stack, [("u5", 1), ("u1", 3)])
        everything = {**first, **inflight, **later}
        _assert_delivered_once(stack, everything, 60)
        _assert_one_task_per_request(stack, everything)
        assert "ended succeeded" in stack.log(f"bot-{standby}"), "the new leader watched the tasks"
    finally:
        for name in roles:
            text = stack.log(f"bot-{name}")
            if text:
                print(f"----- bot-{name} log (tail) -----\n{text[-3000:]}")
