"""The job engine split into processes: exactly once and fail-over with two workers and two schedulers.

Every part is a separate process sharing one real redis-server; assertions read
the Ark simulator's task records and the replies the bot POSTed to the Feishu simulator
(requests, not messages), counted once the bot is at rest. (Fairness and the cap under
load: tests/flows/test_fairness.py.)
"""

from __future__ import annotations

import signal
from collections import Counter
from typing import Any

import pytest
from chat import clip_of_task, send_clips
from stack import Stack, wait_until

pytestmark = pytest.mark.slow

def _media_by_source(stack: Stack) -> Counter[str]:
    out: Counter[str] = Counter()
    for m in stack.bot_messages("media"):
        out[m.get("parent_id") or m.get("root_id") or ""] += 1
    return out




def _assert_delivered_once(stack: Stack, sources: dict[tuple[str, int], str], timeout: float) -> None:
    wait_until(lambda: all(_media_by_source(stack)[s] >= 1 for s in sources.values()), timeout,
               what=f"{len(sources)} media replies")
    stack.at_rest()  # nothing left that could still post a duplicate
    counts = _media_by_source(stack)
    assert {s: counts[s] for s in sources.values()} == {s: 1 for s in sources.values()}
    assert sum(counts.values()) == len(sources), "no media reply to anything else"
    posted = stack.media_posts()
    assert {s: posted[s] for s in sources.values()} == {s: 1 for s in sources.values()}, "one POST each"
    assert sum(posted.values()) == len(sources)


def _assert_one_task_per_request(stack: Stack, sources: dict[tuple[str, int], str]) -> list[dict[str, Any]]:
    tasks = stack.ark_tasks()
    tags = [clip_of_task(t) for t in tasks]
    assert len(tasks) == len(set(t["id"] for t in tasks)) == len(sources)
    assert sorted(tags) == sorted(sources), "exactly one Ark task per request"
    return tasks


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

        first = send_clips(stack, [("u1", 1), ("u2", 1), ("u1", 2), ("u3", 1), ("u2", 2)])
        _assert_delivered_once(stack, first, 60)
        _assert_one_task_per_request(stack, first)
        assert "scheduler: leader" not in stack.log(f"bot-{standby}"), "the standby stayed standby"
        worked = [w for w in ("worker", "worker-2") if "delivered" in stack.log(f"bot-{w}")]
        assert worked, "the workers delivered the videos"

        # One request in flight while the active scheduler dies.
        inflight = send_clips(stack, [("u4", 1)])
        wait_until(lambda: len(stack.ark_tasks()) == 6, 30, what="the in-flight request's task")
        stack.kill(f"bot-{leader}", signal.SIGKILL)
        wait_until(lambda: "scheduler: leader" in stack.log(f"bot-{standby}"), 30,
                   what="the standby scheduler to take over")

        later = send_clips(stack, [("u5", 1), ("u1", 3)])
        everything = {**first, **inflight, **later}
        _assert_delivered_once(stack, everything, 60)
        _assert_one_task_per_request(stack, everything)
        assert "ended succeeded" in stack.log(f"bot-{standby}"), "the new leader watched the tasks"
    finally:
        stack.print_logs([f"bot-{name}" for name in roles], 3000)
