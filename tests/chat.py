"""Talking to the bot through the simulators, for the flow and end-to-end tests: who says what,
and reading what the simulators recorded (messages and card versions in Feishu, tasks and create
bodies in Ark). Every wait is on a condition; "nothing happened" is read after `settled()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from stack import Stack, wait_until

ALICE = {"open_id": "ou_alice", "name": "Alice"}
BOB = {"open_id": "ou_bob", "name": "Bob"}
ADA = {"open_id": "ou_ada", "name": "Ada"}  # an admin where BOT_ADMINS says so
WAIT = 90.0


# --- reading what the simulators recorded ------------------------------------------------------------


def ark_config(stack: Stack, **changes: Any) -> dict[str, Any]:
    base = stack.ark_url.rsplit("/api/v3", 1)[0]
    resp = requests.post(f"{base}/__sim__/config", json=changes, timeout=30)
    resp.raise_for_status()
    return dict(resp.json())


def in_thread(message: dict[str, Any], source_id: str) -> bool:
    return source_id in (message.get("parent_id"), message.get("root_id"))


def thread(stack: Stack, source_id: str, msg_type: str | None = None) -> list[dict[str, Any]]:
    """The bot's messages in the thread of `source_id`, oldest first."""
    return [m for m in stack.bot_messages(msg_type) if in_thread(m, source_id)]


def replies(stack: Stack, message_id: str, msg_type: str | None = None) -> list[dict[str, Any]]:
    """The bot's direct replies to one message."""
    return [m for m in stack.bot_messages(msg_type) if m.get("parent_id") == message_id]


def strings(card: Any) -> str:
    """Every text of a card (header, markdown, button labels), one per line."""
    out: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "content" and isinstance(v, str):
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(x, list):
            for item in x:
                walk(item)

    walk(card)
    return "\n".join(out)


def header(card: dict[str, Any]) -> str:
    return str(((card.get("header") or {}).get("title") or {}).get("content", ""))


def button_values(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if x.get("tag") == "button":
                for b in x.get("behaviors") or []:
                    if isinstance(b, dict) and b.get("type") == "callback":
                        found.append(dict(b.get("value") or {}))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for item in x:
                walk(item)

    walk(card)
    return found


def actions(card: Any) -> list[str]:
    return [str(v.get("a")) for v in button_values(card)]


def message(stack: Stack, message_id: str) -> dict[str, Any]:
    return next(m for m in stack.messages() if m["message_id"] == message_id)


def job_cards(stack: Stack, source_id: str) -> list[dict[str, Any]]:
    """Job cards answering `source_id` (the first interactive reply per job), oldest first."""
    return [m for m in replies(stack, source_id, "interactive")]


def wait_card(stack: Stack, source_id: str, check: Callable[[dict[str, Any]], bool], what: str,
              index: int = 0, timeout: float = WAIT) -> dict[str, Any]:
    """Wait until the `index`-th card replying to `source_id` satisfies `check` (on its latest content)."""
    def look() -> dict[str, Any] | None:
        cards = job_cards(stack, source_id)
        if len(cards) > index and check(cards[index]["content"]):
            return cards[index]
        return None

    return dict(wait_until(look, timeout, what=what))


def wait_text(stack: Stack, source_id: str, pattern: str, what: str) -> dict[str, Any]:
    rx = re.compile(pattern, re.S)
    return dict(wait_until(lambda: next((m for m in replies(stack, source_id, "text")
                                         if rx.search(m.get("text") or "")), None), WAIT, what=what))


def wait_info_card(stack: Stack, source_id: str, pattern: str, what: str) -> dict[str, Any]:
    rx = re.compile(pattern, re.S)
    return dict(wait_until(lambda: next((m for m in replies(stack, source_id, "interactive")
                                         if rx.search(strings(m["content"]))), None), WAIT, what=what))


def settled(stack: Stack, timeout: float = 60.0) -> None:
    """Barrier: the workers have acknowledged every entry of the inbox (nothing unread or pending),
    so a "nothing happened" read after it cannot run before a worker has even seen the entry."""
    stack.settled(timeout)


def texts_of(content: list[dict[str, Any]]) -> list[str]:
    return [str(c.get("text")) for c in content if c.get("type") == "text"]


def first_frames(content: list[dict[str, Any]]) -> list[str]:
    return [str(c["image_url"]["url"]) for c in content
            if c.get("type") == "image_url" and c.get("role") == "first_frame"]


def prompt_of(task: dict[str, Any]) -> str:
    return " ".join(texts_of(task["body"].get("content") or []))


def tasks_with(stack: Stack, words: str) -> list[dict[str, Any]]:
    return [t for t in stack.ark_tasks() if words in prompt_of(t)]


def restart_worker(stack: Stack) -> None:
    stack.spawn("bot-worker", ["worker"], stack.bot_environment())


def make_video(stack: Stack, text: str, user: dict[str, str] = ALICE, **kw: Any) -> tuple[str, dict[str, Any]]:
    """Send a request and wait for its video; returns (source message id, the media reply)."""
    src = stack.send(text, user=user, **kw)["message_id"]
    media = wait_until(lambda: thread(stack, src, "media"), WAIT, what=f"the video of {text!r}")
    return src, media[0]




def posts(stack: Stack, source_id: str, msg_type: str) -> int:
    """Replies of `msg_type` the bot POSTed successfully to `source_id`: requests, not messages
    (Feishu keeps one message per reply uuid, so a repeated POST shows only in the request log)."""
    return sum(1 for req in stack.feishu_requests("reply")
               if req.get("message_id") == source_id and req.get("msg_type") == msg_type
               and req.get("status") == 200)


CLIP_TAG = re.compile(r"\bclip-(?P<user>u\d+)-(?P<n>\d+)\b")


def clip_prompt(user: str, n: int) -> str:
    """A request whose Ark task can be traced back to (user, n) by its prompt."""
    return f"/video a lantern floating up, clip-{user}-{n}"


def send_clips(stack: Stack, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Send `clip_prompt(user, n)` for each (user, n) at once, each from its user; -> source message id."""

    def one(req: tuple[str, int]) -> tuple[tuple[str, int], str]:
        user, n = req
        sent = stack.send(clip_prompt(user, n), user={"open_id": f"ou_{user}", "name": user})
        return req, str(sent["message_id"])

    with ThreadPoolExecutor(len(wanted)) as pool:
        return dict(pool.map(one, wanted))


def clip_of_task(task: dict[str, Any]) -> tuple[str, int]:
    """The (user, n) of a task made from `clip_prompt`."""
    text = " ".join(c.get("text", "") for c in task["body"]["content"] if c.get("type") == "text")
    m = CLIP_TAG.search(text)
    assert m is not None, text
    return m["user"], int(m["n"])
