"""Exactly-once, counted: what the crash and failover suites assert after every run.

A request is one source message (its tag in the prompt); each gets one media reply, one card and
one Ark task of its own, and its job record points at both. Counted in Feishu *requests* as well as
messages (Feishu keeps one message per reply uuid, so a repeated POST shows only in the request log).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from chat import prompt_of
from stack import Stack, wait_until

PREFIX = "{bot}"  # REDIS_PREFIX default, hash-tagged
FINAL_WAIT = 150.0  # an upper bound against hangs, not a performance claim
WORKER_THREADS = 4  # entries one worker process may have in hand at a kill (bot.runtime)


def media_by_source(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m in stack.bot_messages("media"):
        out.setdefault(str(m.get("parent_id") or ""), []).append(m)
    return out


def delivered(stack: Stack, sources: dict[str, str]) -> set[str]:
    got = media_by_source(stack)
    return {mid for mid in sources if got.get(mid)}


def ark_statuses(stack: Stack) -> Counter[str]:
    return Counter(str(t["status"]) for t in stack.ark_tasks())


def wait_all_delivered(stack: Stack, sources: dict[str, str], timeout: float = FINAL_WAIT) -> None:
    try:
        wait_until(lambda: delivered(stack, sources) == set(sources), timeout, interval=0.25,
                   what="a media reply to every request")
    except AssertionError:
        missing = sorted(sources[mid] for mid in set(sources) - delivered(stack, sources))
        texts = [(m.get("parent_id"), m.get("text")) for m in stack.bot_messages("text")]
        raise AssertionError(f"not delivered: {missing}; bot texts: {texts}; "
                             f"ark: {dict(ark_statuses(stack))}") from None


def assert_exactly_once(stack: Stack, sources: dict[str, str], r: Any = None, interruptions: int = 0) -> None:
    """One media reply and one card per source message, one Ark task per request, no uuid twice,
    and each request's video is its own task's. `interruptions`: kills (of a bot process or of
    Redis) or failovers that could each have cut a delivery between its reply and its
    delivered-marker. `r`: a client of the bot's Redis (default: the stack's)."""
    stack.at_rest()  # nothing left that could still post (no open job, entry, lease or retry)
    by_source = media_by_source(stack)
    counts = {sources[mid]: len(by_source.get(mid, [])) for mid in sources}
    assert all(c == 1 for c in counts.values()), f"media replies per request: {counts}"
    assert set(by_source) <= set(sources), f"media replies to unknown messages: {set(by_source) - set(sources)}"
    for mid, (reply,) in ((m, by_source[m]) for m in sources):
        assert reply["uuid"] == f"v-m-{mid}"[:50], reply  # the video of *this* request
        assert reply["content"].get("file_key") and reply["content"].get("image_key"), reply
    # Requests, not messages: one POST made each reply; a repeat (same uuid: deduplicated by Feishu
    # within the hour, a duplicate after it) only where a kill interrupted a delivery after its POST.
    created: Counter[str] = Counter()
    repeated: Counter[str] = Counter()
    for req in stack.feishu_requests("reply"):
        if req.get("msg_type") == "media" and (req.get("created") or req.get("deduplicated")):
            (created if req.get("created") else repeated)[str(req.get("message_id"))] += 1
    assert {sources[mid]: created[mid] for mid in sources} == dict.fromkeys(sources.values(), 1), created
    assert sum(repeated.values()) <= interruptions * WORKER_THREADS, \
        f"media POSTs repeated {dict(repeated)} with {interruptions} interruptions"
    # Feishu (and the simulator) keep one message per uuid, so also check the bot never posted one
    # logical reply under two uuids: per source, one card and no failure text.
    bot = stack.bot_messages()
    uuids = Counter(m.get("uuid") for m in bot if m.get("uuid"))
    assert all(c == 1 for c in uuids.values()), f"uuid on two messages: {[u for u, c in uuids.items() if c > 1]}"
    failures = [m.get("text") for m in bot if m.get("msg_type") == "text" and m.get("parent_id") in sources]
    assert not failures, f"text replies (failures) to requests: {failures}"
    cards = Counter(str(m.get("parent_id")) for m in bot if m.get("msg_type") == "interactive")
    assert {mid: cards.get(mid, 0) for mid in sources} == dict.fromkeys(sources, 1), cards
    # The provider's side: exactly one task per request, none created twice.
    tags = list(sources.values())
    per_tag: dict[str, list[str]] = {t: [] for t in tags}
    for task in stack.ark_tasks():
        hits = [t for t in tags if t in prompt_of(task)]
        assert len(hits) == 1, f"task {task['id']} matches {hits}: {prompt_of(task)!r}"
        per_tag[hits[0]].append(str(task["id"]))
    wrong = {t: ids for t, ids in per_tag.items() if len(ids) != 1}
    assert not wrong, f"Ark tasks per request not exactly one: {wrong}"
    # The bot's record of each request: done, bound to that request's own task, and pointing at
    # the media reply (an adopted task must not be another request's).
    client = r if r is not None else stack.redis_client()
    try:
        for mid, t in sources.items():
            job = client.hgetall(f"{PREFIX}:job:m-{mid}")
            assert job.get("state") == "done", (t, job.get("state"))
            assert job.get("task_id") == per_tag[t][0], f"{t}: job has {job.get('task_id')}, its task is {per_tag[t]}"
            assert job.get("video_message_id") == by_source[mid][0]["message_id"], t
    finally:
        if r is None:
            client.close()
