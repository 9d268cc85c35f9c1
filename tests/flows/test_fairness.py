"""Many users, a small cap: every request delivered once, never more than the cap at Ark, fair turns.

The in-process tier (tests/flows/conftest.py). The fair queue decides who is admitted next; the
worker threads that then create the tasks race each other, so the order in which creates reach
Ark is not the admission order when two slots free up together. So this test frees one slot at a
time: Ark's service clock stands still and the test moves it on to the end of exactly one running
task, then waits for that task's video and the one admission it makes room for. Admissions are
then one after another by construction, and Ark's create order *is* the fair queue's order.
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial

from chat import clip_of_task, posts, send_clips
from stack import Stack, wait_until

from bot.store.jobs import JobKeys, JobRecords, Pool
from bot.store.queue import FairQueue

WAIT = 60.0


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Largest number of [start, end) intervals covering one instant."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = cur = 0
    for _, delta in points:  # at equal times, ends (-1) sort before starts (+1)
        cur += delta
        best = max(best, cur)
    return best


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
    sources = send_clips(stack, wanted)
    r = stack.redis_client()
    records, queue = JobRecords(r, JobKeys("bot")), FairQueue(r, JobKeys("bot"))
    wait_until(lambda: len(records.active_rids()) == 20, WAIT, what="20 accepted jobs")
    wait_until(lambda: len(stack.ark_tasks()) == 3, WAIT, what="3 tasks at Ark")
    stack.settled()  # every request handled: whatever could be admitted has been
    assert len(stack.ark_tasks()) == 3, "no more than ARK_MAX_IN_FLIGHT tasks while none has finished"
    queued = sum(len(queue.queued_of(Pool.STANDARD, u, 100)) for u in queue.queued_users(Pool.STANDARD))
    assert len(queue.in_flight()) == 3 and queued == 17

    # One slot at a time: move Ark's clock to the end of the running task that ends first, then wait
    # for its video and for the task of the one job admitted in its place.
    for step in range(20):
        tasks = stack.ark_tasks()
        running = [t for t in tasks if t["status"] == "running"]
        assert len(running) == min(3, 20 - step), [t["status"] for t in tasks]
        first = min(running, key=lambda t: float(t["running_at"]) + float(t["run_seconds"]))
        now = float(stack.ark_config()["now"])
        stack.ark_advance(max(float(first["running_at"]) + float(first["run_seconds"]) - now, 0.0) + 0.001)
        source, made = sources[clip_of_task(first)], len(tasks)
        wait_until(partial(posts, stack, source, "media"), WAIT, what=f"the video of {clip_of_task(first)}")
        if made < 20:
            wait_until(lambda n=made: len(stack.ark_tasks()) == n + 1, WAIT, what=f"task {made + 1} at Ark")
            stack.settled(cards=False)  # (the queued cards' new positions may still be on their way)
            assert len(stack.ark_tasks()) == made + 1, "one slot freed, one job admitted"

    stack.at_rest()
    tasks = stack.ark_tasks()
    assert sorted(clip_of_task(t) for t in tasks) == sorted(sources), "exactly one Ark task per request"
    assert all(t["status"] == "succeeded" for t in tasks)
    assert {tag: posts(stack, src, "media") for tag, src in sources.items()} == dict.fromkeys(sources, 1)
    assert len(stack.bot_messages("media")) == 20, "no media reply to anything else"

    # The cap: at no service instant were more than 3 of our tasks queued or running at Ark.
    assert _max_overlap([(float(t["created_at"]), float(t["finished_at"])) for t in tasks]) == 3

    # Admission order = create order (one admission at a time). Fairness: no user had all 4 jobs
    # started before another user's first job started.
    order = [clip_of_task(t) for t in sorted(tasks, key=lambda t: (t["created_at_real"], t["created_at"]))]
    position: dict[str, list[int]] = defaultdict(list)
    for i, (user, _) in enumerate(order):
        position[user].append(i)
    for u in users:
        for v in users:
            if u != v:
                assert max(position[u]) > min(position[v]), (f"all of {u}'s jobs before {v}'s first", order)
    # Round-robin: once slots free up, every user still waiting for a first video gets one before
    # anybody gets another.
    served = {u for u, _ in order[:3]}
    newcomers = [u for u, _ in order[3:3 + len(users) - len(served)]]
    assert sorted(newcomers) == sorted(set(users) - served), order
