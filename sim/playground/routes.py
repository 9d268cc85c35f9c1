"""The playground's routes: the page, its assets, and a small JSON/SSE API over the simulator.

Everything a person does in the page goes through the simulator's own users' side
(`FeishuUsers.upload_user_image`, `send`, `click`), so the bot receives exactly what Feishu would
send: encrypted, signed `im.message.receive_v1` events and signed `card.action.trigger`
callbacks. What the page shows is read from the simulator's message store: every message, the
card JSON the bot really sent (and each version it PATCHed in), reactions. Videos and photos are
the simulator's `/__sim__/files/<key>` (with HTTP Range) and `/__sim__/images/<key>`.

    GET  /playground                  the page (index.html, app.css, app.js: no build step, no CDN)
    GET  /playground/api/config       the bot, the people one can be, the group chat, sample photos
    GET  /playground/api/messages     every message, as the page renders it
    GET  /playground/api/events       server-sent events: a snapshot, then every change
    POST /playground/api/images       a photo (raw bytes in the body) → {image_key, width, height}
    POST /playground/api/images/sample/<name>   a sample photo → {image_key, …}
    POST /playground/api/send         {user, chat_id, text, images, parent_id, mention_bot, mentions}
    POST /playground/api/click        {user, message_id, button}: a card button press
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sim import feishu_events as ev
from sim.feishu_store import SimUsageError
from sim.feishu_users import FeishuUsers
from sim.playground.samples import SAMPLES

JSON = dict[str, Any]

# Who one can be in the playground (the demo's conversation is Alice's), and the group they share.
ALICE: dict[str, str] = {"open_id": "ou_demo_alice", "name": "Alice"}
BOB: dict[str, str] = {"open_id": "ou_demo_bob", "name": "Bob"}
CAROL: dict[str, str] = {"open_id": "ou_demo_carol", "name": "Carol"}
PEOPLE: tuple[dict[str, str], ...] = (ALICE, BOB, CAROL)
GROUP_CHAT_ID = "oc_demo_group"
GROUP_NAME = "Video team"

PATH = "/playground"
ASSETS = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
STREAM_SECONDS = 300.0  # an event stream ends after this; EventSource reconnects on its own
TICK_SECONDS = 0.1  # how often a stream looks for changes
KEEPALIVE_SECONDS = 15.0


def _asset(name: str) -> bytes:
    return resources.files("sim.playground").joinpath(name).read_bytes()


def _title(card: Any) -> str:
    """A card's header title (2.0 or 1.0, i18n_header too), "" when it has none."""
    if not isinstance(card, dict):
        return ""
    header = card.get("header")
    if not isinstance(header, dict) and isinstance(card.get("i18n_header"), dict):
        header = next(iter(card["i18n_header"].values()), None)
    title = header.get("title") if isinstance(header, dict) else None
    if isinstance(title, dict):
        return str(title.get("content", ""))
    return ""


def _numbered(card: Any) -> Any:
    """The card with `_pg_button: i` on each button: i is what `FeishuUsers.click` calls button i."""
    for i, (button, _form) in enumerate(ev.iter_buttons(card)):
        button["_pg_button"] = i
    return card


def _revision(sim: FeishuUsers) -> tuple[Any, ...]:
    """Changes whenever a message is added or patched, a reaction comes or goes, or on reset."""
    with sim._lock:
        return (
            id(sim._messages),
            len(sim._messages),
            sum(len(m.versions) for m in sim._messages.values()),
            tuple(sim._reactions),
        )


def ui_message(m: JSON, replay_from: int | None = None) -> JSON:
    """A store message (`FeishuState.messages()`) as the page renders it.

    Cards carry their current JSON plus `replay`: the versions between `replay_from` and the
    current one, which the page shows in turn so no state of a fast card is skipped, and `states`:
    the header title of every version so far.
    """
    sender = m.get("sender") or {}
    out: JSON = {
        "message_id": m["message_id"],
        "chat_id": m["chat_id"],
        "chat_type": m["chat_type"],
        "parent_id": m.get("parent_id"),
        "root_id": m.get("root_id"),
        "thread_id": m.get("thread_id"),
        "from_bot": bool(m.get("from_bot")),
        "sender_id": str(sender.get("id", "")),
        "sender_name": m.get("sender_name") or "",
        "msg_type": m["msg_type"],
        "content": m["content"],
        "mentions": [
            {"key": x.get("key"), "name": x.get("name"), "open_id": (x.get("id") or {}).get("open_id")}
            for x in m.get("mentions") or []
        ],
        "create_time": m["create_time"],
        "update_time": m["update_time"],
        "reactions": list(m.get("reactions") or []),
        "version": len(m.get("versions") or []) or 1,
    }
    if m["msg_type"] == "interactive":
        versions = [v["content"] for v in m.get("versions") or []] or [m["content"]]
        out["content"] = _numbered(versions[-1])
        start = len(versions) - 1 if replay_from is None else max(0, min(replay_from, len(versions) - 1))
        out["replay"] = [_numbered(v) for v in versions[start:-1]]
        out["states"] = [_title(v) for v in versions]
    return out


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def playground_blueprint(sim: FeishuUsers) -> Blueprint:
    """The playground on this simulator (registered by `sim.feishu_app.build_app`)."""
    bp = Blueprint("playground", __name__, url_prefix=PATH)
    people = {p["open_id"]: dict(p) for p in PEOPLE}

    def body() -> JSON:
        data = request.get_json(force=True, silent=True)
        if not isinstance(data, dict):
            raise SimUsageError("request body must be a JSON object")
        return data

    def person(open_id: Any) -> dict[str, str]:
        if open_id not in people:
            raise SimUsageError(f"unknown person {open_id!r}; the playground's people: {sorted(people)}")
        return dict(people[open_id])

    def page() -> Response:
        resp = Response(_asset("index.html"), content_type="text/html; charset=utf-8")
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    bp.add_url_rule("", "page", page)
    bp.add_url_rule("/", "page_slash", page)

    @bp.get("/<name>")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            raise SimUsageError(f"no playground file {name!r}")
        resp = Response(_asset(name), content_type=ASSETS[name])
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @bp.get("/api/config")
    def config() -> Any:
        return jsonify({
            "bot": {"name": sim.bot_name, "open_id": sim.bot_open_id, "app_id": sim.app_id},
            "people": [{**p, "p2p_chat_id": ev.p2p_chat_id(p["open_id"])} for p in PEOPLE],
            "group": {"chat_id": GROUP_CHAT_ID, "name": GROUP_NAME},
            "samples": [{"name": k, "title": title} for k, (title, _) in SAMPLES.items()],
            "webhook_url": sim.webhook_url,
        })

    @bp.get("/api/messages")
    def messages() -> Any:
        return jsonify({"messages": [ui_message(m) for m in sim.messages()]})

    @bp.get("/api/events")
    def events() -> Response:
        def stream() -> Iterator[str]:
            sent: dict[str, tuple[Any, ...]] = {}  # message_id -> (versions, update_time, reactions) sent
            last: tuple[Any, ...] | None = None
            first = True
            beat = end = time.monotonic()
            end += STREAM_SECONDS
            yield "retry: 1000\n\n"
            while True:
                rev = _revision(sim)
                if rev != last:
                    last = rev
                    msgs = sim.messages()
                    reset = bool(set(sent) - {m["message_id"] for m in msgs})
                    if reset:
                        sent.clear()
                    changed = []
                    for m in msgs:
                        key = (len(m["versions"]), m["update_time"], tuple(m["reactions"]))
                        before = sent.get(m["message_id"])
                        if before == key:
                            continue
                        replay_from = None if first or reset else (before[0] if before else 0)
                        changed.append(ui_message(m, replay_from))
                        sent[m["message_id"]] = key
                    if first or reset:
                        yield _sse("snapshot", {"messages": changed})
                    elif changed:
                        yield _sse("update", {"messages": changed})
                    first = False
                    beat = time.monotonic()
                elif time.monotonic() - beat > KEEPALIVE_SECONDS:
                    beat = time.monotonic()
                    yield ": keep-alive\n\n"
                if sim._stopping.wait(TICK_SECONDS) or time.monotonic() > end:
                    return

        resp = Response(stream(), content_type="text/event-stream; charset=utf-8")
        resp.headers["Cache-Control"] = "no-cache"
        resp.headers["X-Accel-Buffering"] = "no"
        return resp

    @bp.post("/api/images")
    def upload() -> Any:
        data = request.get_data()
        if not data:
            raise SimUsageError("send the photo's bytes as the request body")
        return jsonify(sim.upload_user_image(data))

    @bp.post("/api/images/sample/<name>")
    def sample(name: str) -> Any:
        if name not in SAMPLES:
            raise SimUsageError(f"no sample photo {name!r}; samples: {sorted(SAMPLES)}")
        return jsonify(sim.upload_user_image(SAMPLES[name][1]()))

    @bp.post("/api/send")
    def send() -> Any:
        b = body()
        user = person(b.get("user"))
        text = str(b.get("text") or "").strip()
        images = [str(k) for k in b.get("images") or []]
        if not text and not images:
            raise SimUsageError("nothing to send: write something or attach a photo")
        parent_id = str(b["parent_id"]) if b.get("parent_id") else None
        chat_id = str(b.get("chat_id") or GROUP_CHAT_ID)
        own_p2p = ev.p2p_chat_id(user["open_id"])
        other_p2p = {ev.p2p_chat_id(p) for p in people} - {own_p2p}
        if chat_id in other_p2p:
            raise SimUsageError("that is someone else's private chat with the bot")
        chat_type = "p2p" if chat_id == own_p2p else "group"
        mentions = [person(x) for x in b.get("mentions") or [] if x != user["open_id"]]
        r = sim.send(
            text=text or None, chat_id=chat_id, chat_type=chat_type, user=user, images=images,
            parent_id=parent_id, mention_bot=chat_type == "group" and bool(b.get("mention_bot")),
            mentions=mentions if chat_type == "group" else [],
        )
        return jsonify({k: r.get(k) for k in ("message_id", "event_id", "status", "error", "latency_ms")})

    @bp.post("/api/click")
    def click() -> Any:
        b = body()
        user = person(b.get("user"))
        button = b.get("button", 0)
        if not isinstance(button, int) or isinstance(button, bool):
            raise SimUsageError("button is the button's number in the card (its _pg_button)")
        r = sim.click(str(b.get("message_id", "")), button, user=user)
        return jsonify({k: r.get(k) for k in ("event_id", "status", "error", "toast", "card_updated")})

    return bp


__all__ = [
    "ALICE", "BOB", "CAROL", "GROUP_CHAT_ID", "GROUP_NAME", "PATH", "PEOPLE", "playground_blueprint",
    "ui_message",
]
