"""Spending is bounded by default and exact under concurrency.

Real processes (the simulators and the bot, split into roles where it matters) on a real
Redis; what was spent is read from the Ark simulator (one task per video made, with its
length in seconds and service-clock timestamps), what people were told from the Feishu
simulator. "Nothing was created" is proved after the `settled()` barrier.

Each spending test prints one `SPEND ...` line with its figures (run with `-s` or `-rP`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest
import redis
import requests
from chat import (
    ALICE,
    BOB,
    WAIT,
    actions,
    ark_config,
    header,
    job_cards,
    prompt_of,
    replies,
    settled,
    strings,
    tasks_with,
    thread,
    wait_card,
    wait_info_card,
    wait_text,
)
from stack import Stack, wait_until

from bot.store.jobs import JobKeys, JobRecords, message_rid

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-spend")]


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    """One stack for the module (e2e/conftest.py), reset before each test: each starts its own bot."""
    return shared_stack

CHAT_A = "oc_spend_team_a"
CHAT_B = "oc_spend_team_b"
_TAG = re.compile(r"\b(?P<tag>[a-z]+-\d{2})\b")

DAILY_REFUSAL = re.compile(
    r"That would go over your daily video budget: (?P<used>\d+) of (?P<limit>\d+) seconds used today, "
    r"and this request needs up to (?P<need>\d+) s\. It resets at 00:00 UTC "
    r"\(in (?P<h>\d+) h (?P<m>\d+) min\); see /quota\. Nothing was charged\.")
TOTAL_REFUSAL = re.compile(
    r"The team's daily video budget is used up: (?P<used>\d+) of (?P<limit>\d+) seconds today, and this "
    r"request needs up to (?P<need>\d+) s\. It resets at 00:00 UTC \(in (?P<h>\d+) h (?P<m>\d+) min\)\.")
QUEUE_REFUSAL = re.compile(
    r"You already have (?P<running>\d+) videos generating and (?P<queued>\d+) waiting, the most one person "
    r"may have \((?P<max_running>\d+) generating \+ (?P<max_queued>\d+) waiting\)\.")


# --- what the simulators recorded ---------------------------------------------------------------------


def tag_of(task: dict[str, Any]) -> str:
    m = _TAG.search(prompt_of(task))
    assert m is not None, prompt_of(task)
    return m["tag"]


def answer(stack: Stack, src: str) -> tuple[str, dict[str, Any]] | None:
    """The bot's first answer to a request: ("card", job card) or ("text", the refusal)."""
    cards = job_cards(stack, src)
    if cards:
        return "card", cards[0]
    texts = replies(stack, src, "text")
    return ("text", texts[0]) if texts else None


def answers(stack: Stack, sources: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Wait until every request (tag -> source message id) has its answer."""
    def look() -> dict[str, tuple[str, dict[str, Any]]] | None:
        got = {t: answer(stack, src) for t, src in sources.items()}
        return {t: a for t, a in got.items() if a is not None} if all(got.values()) else None

    return dict(wait_until(look, WAIT, what=f"an answer to each of {len(sources)} requests"))


def seconds_made(tasks: list[dict[str, Any]]) -> int:
    return sum(int(t["seconds"]) for t in tasks)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Largest number of [start, end) intervals covering one instant (ends sort before starts)."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = cur = 0
    for _, delta in points:
        cur += delta
        best = max(best, cur)
    return best


def reset_in(now: float) -> tuple[int, int]:
    """(hours, minutes) until the next 00:00 UTC, as the refusal words it."""
    left = int((int(now) // 86400 + 1) * 86400 - now)
    return left // 3600, (left % 3600) // 60


@contextmanager
def sampling_at_ark(stack: Stack) -> Iterator[dict[str, int]]:
    """While the block runs, sample the Ark simulator: most tasks per requester queued or running
    there at one time (`{"<user>": n}`, users told apart by the prompt tag's word)."""
    seen: dict[str, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                tasks = stack.ark_tasks()
            except requests.RequestException:
                continue
            now: dict[str, int] = {}
            for t in tasks:
                if t["status"] in ("queued", "running"):
                    who = tag_of(t).split("-")[0]
                    now[who] = now.get(who, 0) + 1
            for who, n in now.items():
                seen[who] = max(seen.get(who, 0), n)
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join(10)


def send_burst(stack: Stack, requests_: list[tuple[str, dict[str, str], str]]) -> dict[str, str]:
    """Send (tag, user, chat) requests all at once from threads; returns tag -> source message id."""
    def one(req: tuple[str, dict[str, str], str]) -> tuple[str, str]:
        tag, user, chat = req
        sent = stack.send(f"/video a paper lantern rising {tag} --duration 4 --resolution 480p",
                          user=user, chat_id=chat)
        return tag, str(sent["message_id"])

    with ThreadPoolExecutor(len(requests_)) as pool:
        return dict(pool.map(one, requests_))


def assert_each_accepted_made_one_video(stack: Stack, accepted: dict[str, str]) -> list[dict[str, Any]]:
    """Every accepted request ends in exactly one task and one video; nothing else reached Ark."""
    wait_until(lambda: all(thread(stack, src, "media") for src in accepted.values()), WAIT,
               what=f"the videos of {len(accepted)} accepted requests")
    settled(stack)
    tasks = stack.ark_tasks()
    assert sorted(tag_of(t) for t in tasks) == sorted(accepted), "exactly one Ark task per accepted request"
    assert all(t["status"] == "succeeded" for t in tasks), [t["status"] for t in tasks]
    for src in accepted.values():
        assert len(thread(stack, src, "media")) == 1
    return tasks


def assert_refused_cleanly(stack: Stack, refused: dict[str, str], pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """Each refused request got exactly one message (matching `pattern`), no card, no task."""
    found = []
    for tag, src in refused.items():
        texts = replies(stack, src, "text")
        assert len(texts) == 1, (tag, [m.get("text") for m in texts])
        m = pattern.search(texts[0].get("text") or "")
        assert m is not None, texts[0].get("text")
        found.append(m)
        assert not job_cards(stack, src), f"{tag}: a refused request has no job card"
        assert not thread(stack, src, "media")
        assert not tasks_with(stack, tag), f"{tag}: a refused request made no Ark task"
    return found


def _shows(words: str, card: dict[str, Any]) -> bool:
    return words in strings(card)


def ark_intervals(tasks: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return [(float(t["created_at"]), float(t["finished_at"])) for t in tasks]


# --- 1. the default budget ---------------------------------------------------------------------------------


def test_default_daily_budget_stops_one_user_at_120_seconds(stack: Stack) -> None:
    # The suites' stack turns the per-user budget off; this test runs with the bot's own default.
    stack.bot_env_unset.add("BOT_USER_DAILY_SECONDS")
    assert "BOT_USER_DAILY_SECONDS" not in stack.bot_environment()
    stack.start_bot()

    accepted: dict[str, str] = {}
    refusal: dict[str, Any] | None = None
    for i in range(1, 20):  # far more than 120 s worth of 12 s videos
        tag = f"kite-{i:02d}"
        before = time.time()
        src = stack.send(f"/video a paper kite over the dunes {tag} --duration 12 --resolution 480p")["message_id"]
        kind, msg = wait_until(partial(answer, stack, src), WAIT, what=f"the answer to {tag}")
        if kind == "card":
            accepted[tag] = src
            continue
        refusal = {"tag": tag, "src": src, "text": msg.get("text") or "", "before": before, "after": time.time()}
        break
    assert refusal is not None, "the default budget never refused"
    assert len(accepted) == 10, f"120 s of 12 s videos is 10 videos, got {len(accepted)}"

    # The documented message: what was used, the limit, what the request needs, when it resets.
    m = DAILY_REFUSAL.search(refusal["text"])
    assert m is not None, refusal["text"]
    assert (m["used"], m["limit"], m["need"]) == ("120", "120", "12"), refusal["text"]
    assert (int(m["h"]), int(m["m"])) in {reset_in(refusal["before"]), reset_in(refusal["after"])}, refusal

    # A shorter request (the default 5 s) does not squeeze in either.
    small = stack.send("/video one more little kite kite-99")["message_id"]
    small_text = wait_text(stack, small, r".", "the refusal of a 5 s request")["text"]
    m = DAILY_REFUSAL.search(small_text)
    assert m is not None and (m["used"], m["limit"], m["need"]) == ("120", "120", "5"), small_text

    tasks = assert_each_accepted_made_one_video(stack, accepted)
    assert_refused_cleanly(stack, {refusal["tag"]: refusal["src"], "kite-99": small}, DAILY_REFUSAL)
    made = seconds_made(tasks)
    assert made == 120, made  # never beyond the default 120 s, and the budget fully usable

    quota = stack.send("/quota")["message_id"]
    card = wait_info_card(stack, quota, r"Left today", "the quota card")
    assert "120/120 s" in strings(card["content"]) and "**0 s**" in strings(card["content"])
    print(f"SPEND default budget: requests={len(accepted) + 2} accepted={len(accepted)} refused=2 "
          f"(quota_daily) seconds={made}/120 (BOT_USER_DAILY_SECONDS unset: default 120)")


# --- 2. a burst from one user, two worker processes ---------------------------------------------------------


def test_burst_from_one_user_across_two_worker_processes_keeps_every_cap(stack: Stack) -> None:
    budget, cap, n = 40, 2, 30
    stack.bot_env.update({"BOT_USER_MAX_JOBS": str(cap), "BOT_USER_DAILY_SECONDS": str(budget)})
    roles = ("web", "worker", "worker-2", "scheduler")  # the conftest prints the others' logs
    try:
        stack.start_bot(roles, distinct_nodes=True)  # two worker processes, 4 threads each
        with sampling_at_ark(stack) as seen:
            sources = send_burst(stack, [(f"alice-{i:02d}", ALICE, CHAT_A) for i in range(n)])
            got = answers(stack, sources)
            accepted = {t: sources[t] for t, (kind, _) in got.items() if kind == "card"}
            refused = {t: sources[t] for t, (kind, _) in got.items() if kind == "text"}
            tasks = assert_each_accepted_made_one_video(stack, accepted)
    except BaseException:
        print(f"----- bot-worker-2 log (tail) -----\n{stack.log('bot-worker-2')[-4000:]}")
        raise

    # Exact under concurrency: the budget is used to the second and never beyond.
    assert len(accepted) == budget // 4 and len(refused) == n - budget // 4, (len(accepted), len(refused))
    made = seconds_made(tasks)
    assert made == budget, made
    for m in assert_refused_cleanly(stack, refused, DAILY_REFUSAL):
        assert (m["used"], m["limit"], m["need"]) == (str(budget), str(budget), "4"), m.group(0)
    # The running cap: never more than 2 of Alice's tasks at Ark, sampled live and from the
    # tasks' own service-clock timestamps afterwards.
    assert 1 <= seen.get("alice", 0) <= cap, seen
    overlap = max_overlap(ark_intervals(tasks))
    assert overlap == cap, overlap
    print(f"SPEND burst: requests={n} accepted={len(accepted)} refused={len(refused)} (quota_daily) "
          f"max_concurrent_seen={seen.get('alice', 0)} max_overlap_at_ark={overlap} (cap {cap}) "
          f"seconds={made}/{budget} processes=web+2 workers+scheduler")


# --- 3. the deployment's budget, shared by two users --------------------------------------------------------


def test_deployment_budget_is_shared_exactly_by_two_users(stack: Stack) -> None:
    total, cap, n = 24, 2, 10
    stack.bot_env.update({"BOT_DAILY_SECONDS": str(total), "BOT_USER_MAX_JOBS": str(cap)})
    stack.start_bot()
    with sampling_at_ark(stack) as seen:
        wanted = [x for i in range(n) for x in ((f"alice-{i:02d}", ALICE, CHAT_A), (f"bob-{i:02d}", BOB, CHAT_B))]
        sources = send_burst(stack, wanted)
        got = answers(stack, sources)
        accepted = {t: sources[t] for t, (kind, _) in got.items() if kind == "card"}
        refused = {t: sources[t] for t, (kind, _) in got.items() if kind == "text"}
        tasks = assert_each_accepted_made_one_video(stack, accepted)

    made = seconds_made(tasks)
    assert made == total and len(accepted) == total // 4, (made, sorted(accepted))
    for m in assert_refused_cleanly(stack, refused, TOTAL_REFUSAL):
        assert (m["used"], m["limit"], m["need"]) == (str(total), str(total), "4"), m.group(0)
    by_user = {u: [t for t in tasks if tag_of(t).startswith(u)] for u in ("alice", "bob")}
    for u, mine in by_user.items():
        assert max_overlap(ark_intervals(mine)) <= cap, u
        assert seen.get(u, 0) <= cap, seen
    print(f"SPEND deployment budget: requests={2 * n} (2 users) accepted={len(accepted)} "
          f"(alice {len(by_user['alice'])}, bob {len(by_user['bob'])}) refused={len(refused)} (quota_total) "
          f"max_concurrent_seen={max(seen.values(), default=0)} per user (cap {cap}) seconds={made}/{total}")


# --- 4. the queue: positions, the bound, cancel while queued ------------------------------------------------


def test_jobs_over_the_running_cap_queue_with_their_position_and_the_bound_refuses(stack: Stack) -> None:
    stack.bot_env.update({"BOT_USER_MAX_JOBS": "2", "BOT_USER_MAX_QUEUED": "2"})
    stack.start_bot()
    ark_config(stack, speed=0)  # the first two tasks hold Alice's two running slots

    src: dict[str, str] = {}
    for tag in ("queue-01", "queue-02"):
        src[tag] = stack.send(f"/video a river at dawn {tag}")["message_id"]
        wait_card(stack, src[tag], lambda c: "Task" in strings(c), f"{tag} at Ark")
    # Beyond the running cap: queued, its place on the card, nothing created.
    for pos, tag in enumerate(("queue-03", "queue-04"), 1):
        src[tag] = stack.send(f"/video a river at dawn {tag}")["message_id"]
        shown = f"Position in queue: **{pos}**"
        card = wait_card(stack, src[tag], partial(_shows, shown), f"{tag} queued at position {pos}")
        assert header(card["content"]).startswith("⏳") and "cancel" in actions(card["content"])
    # Beyond the queue bound: refused, saying what is running and waiting and the limits.
    src["queue-05"] = stack.send("/video a river at dawn queue-05")["message_id"]
    text = wait_text(stack, src["queue-05"], r".", "the queue-bound refusal")["text"]
    m = QUEUE_REFUSAL.search(text)
    assert m is not None and m.groups() == ("2", "2", "2", "2"), text
    assert "/cancel" in text
    settled(stack)
    assert sorted(tag_of(t) for t in stack.ark_tasks()) == ["queue-01", "queue-02"]
    assert not job_cards(stack, src["queue-05"])

    # Cancel while queued: the card says so, the one behind moves up; nothing is ever created.
    card3 = job_cards(stack, src["queue-03"])[0]
    stack.click(card3["message_id"], {"a": "cancel"})
    wait_card(stack, src["queue-03"], lambda c: "cancelled" in header(c).lower(), "queue-03 cancelled")
    wait_card(stack, src["queue-04"], lambda c: "Position in queue: **1**" in strings(c), "queue-04 moved up")

    # A slot frees: the queued job starts then, and only then.
    ark_config(stack, speed=stack.speed)
    for tag in ("queue-01", "queue-02", "queue-04"):
        wait_until(partial(thread, stack, src[tag], "media"), WAIT, what=f"the video of {tag}")
    settled(stack)
    tasks = {tag_of(t): t for t in stack.ark_tasks()}
    assert sorted(tasks) == ["queue-01", "queue-02", "queue-04"]
    first_end = min(float(tasks[t]["finished_at"]) for t in ("queue-01", "queue-02"))
    assert float(tasks["queue-04"]["created_at"]) >= first_end, "the queued job started when a slot freed"
    assert not thread(stack, src["queue-03"], "media")


# --- 5. a cancel racing the start -------------------------------------------------------------------------


def _feishu(stack: Stack, method: str, path: str, body: Any = None) -> dict[str, Any]:
    resp = requests.request(method, f"{stack.feishu_url}{path}", json=body, timeout=30)
    resp.raise_for_status()
    return dict(resp.json())


def test_cancel_racing_the_start_creates_no_task(stack: Stack) -> None:
    """The job has been admitted (it holds a slot and is starting: fetching its photo) when the
    cancel lands. The cancel wins outright: the start stands down before any create."""
    stack.start_bot()
    records = JobRecords(redis.Redis.from_url(stack.redis_url, decode_responses=True), JobKeys("bot"))
    # Feishu rate-limits every photo download (429, "retry in 1 s"): the start is held mid-way.
    _feishu(stack, "POST", "/__sim__/config", {"ratelimit_reset": 1})
    _feishu(stack, "POST", "/__sim__/faults", {"op": "resource", "status": 429, "rate": 1.0})
    photo = stack.user_image()
    src = stack.send("/video the photo comes alive race-01", images=[photo])["message_id"]
    rid = message_rid(src)
    card = wait_card(stack, src, lambda c: "cancel" in actions(c), "the job card")

    def resource_requests() -> list[dict[str, Any]]:
        return list(_feishu(stack, "GET", "/__sim__/requests?op=resource")["requests"])

    def held_in_start() -> bool:
        job = records.get(rid)
        held = any(r.get("status") == 429 for r in resource_requests())
        return bool(job and job.state == "starting" and not job.creating_since and not job.task_id and held)

    wait_until(held_in_start, WAIT, what="the job admitted and starting, its photo download held")
    stack.click(card["message_id"], {"a": "cancel"})
    wait_card(stack, src, lambda c: "cancelled" in header(c).lower(), "the cancelled card")
    _feishu(stack, "DELETE", "/__sim__/faults")

    # The start goes on (the photo now downloads) and stands down: nothing reaches Ark.
    wait_until(lambda: any(r.get("status") == 200 for r in resource_requests()), WAIT,
               what="the held start to fetch the photo after all")
    settled(stack)
    assert stack.ark_tasks() == [], "a cancel that beat the create leaves no task at Ark"
    job = records.get(rid)
    assert job is not None and job.state == "cancelled" and job.reservation == "released", job
    texts = [m.get("text") or "" for m in replies(stack, src, "text")]
    assert not any("can't stop" in t for t in texts), texts  # never the "already running" answer
    assert not thread(stack, src, "media")
    # The slot it held is free again: the next request goes straight through.
    nxt = stack.send("/video a calm sea race-02")["message_id"]
    wait_until(lambda: thread(stack, nxt, "media"), WAIT, what="the next video")
    assert [tag_of(t) for t in stack.ark_tasks()] == ["race-02"]
