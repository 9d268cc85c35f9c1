"""The chat playground's server side: its page and assets, and its API over the Feishu simulator.

What the page does goes through the simulator's users' side, so the bot's webhook gets real
Feishu events and card callbacks; what the page shows is the store, streamed as server-sent events
with every version of a card. (tests/test_playground_browser.py drives the page itself.)
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.serving import make_server

from sim import feishu_events as ev
from sim.feishu import FeishuSimulator
from sim.playground import ALICE, BOB, GROUP_CHAT_ID, PEOPLE

CARD: dict[str, Any] = {
    "schema": "2.0",
    "config": {"update_multi": True},
    "header": {"title": {"tag": "plain_text", "content": "⏳ Queued"}, "template": "blue"},
    "body": {"elements": [
        {"tag": "markdown", "content": "**Prompt:** a kitten"},
        {"tag": "button", "text": {"tag": "plain_text", "content": "Cancel"}, "type": "danger",
         "behaviors": [{"type": "callback", "value": {"a": "cancel", "rid": "r1"}}]},
        {"tag": "column_set", "columns": [{"tag": "column", "elements": [
            {"tag": "button", "text": {"tag": "plain_text", "content": "Approve"}, "type": "primary",
             "behaviors": [{"type": "callback", "value": {"a": "approve", "rid": "r1"}}]}]}]},
    ]},
}


def _titled(title: str) -> dict[str, Any]:
    return {**CARD, "header": {**CARD["header"], "title": {"tag": "plain_text", "content": title}}}


class Webhook:
    """The bot's side, reduced to recording what Feishu pushes and answering with `answer`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answer: dict[str, Any] = {}
        app = Flask("webhook")

        @app.post("/feishu/events")
        def events() -> Any:
            self.received.append(json.loads(request.get_data()))
            return self.answer

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/feishu/events"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture
def sim(webhook: Webhook) -> Iterator[FeishuSimulator]:
    # No encrypt key: the events arrive in plain JSON, easy to read here (encryption is the simulator's
    # own business, tested in test_sim_feishu.py; the page never sees it).
    s = FeishuSimulator(encrypt_key="", webhook_url=webhook.url, retry_schedule=())
    yield s
    s.stop()


@pytest.fixture
def client(sim: FeishuSimulator) -> FlaskClient:
    return sim.app.test_client()


def _jpeg(width: int = 800, height: int = 600) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def test_the_page_and_its_assets_are_served_from_the_package(client: FlaskClient) -> None:
    for path in ("/playground", "/playground/"):
        page = client.get(path)
        assert page.status_code == 200 and page.content_type.startswith("text/html")
        html = page.get_data(as_text=True)
        assert '<script src="/playground/app.js"' in html and 'href="/playground/app.css"' in html
    assert client.get("/playground/app.js").content_type.startswith("text/javascript")
    assert client.get("/playground/app.css").content_type.startswith("text/css")
    assert client.get("/playground/nothing.js").status_code == 400
    # Package data (pyproject: [tool.setuptools.package-data]), and nothing fetched from elsewhere.
    for name in ("index.html", "app.css", "app.js"):
        text = resources.files("sim.playground").joinpath(name).read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", text), name


def test_config_names_the_bot_the_people_and_the_chats(client: FlaskClient, sim: FeishuSimulator) -> None:
    cfg = client.get("/playground/api/config").get_json()
    assert cfg["bot"] == {"name": sim.bot_name, "open_id": sim.bot_open_id, "app_id": sim.app_id}
    assert [p["name"] for p in cfg["people"]] == ["Alice", "Bob", "Carol"]
    assert cfg["people"][0]["p2p_chat_id"] == ev.p2p_chat_id(ALICE["open_id"])
    assert cfg["group"]["chat_id"] == GROUP_CHAT_ID
    assert {s["name"] for s in cfg["samples"]} == {"sunset", "flower", "city"}


def test_a_message_from_the_page_reaches_the_bot_as_a_feishu_event(
        client: FlaskClient, webhook: Webhook) -> None:
    r = client.post("/playground/api/send", json={
        "user": BOB["open_id"], "chat_id": GROUP_CHAT_ID, "text": "/video a kitten yawning", "mention_bot": True,
        "mentions": [ALICE["open_id"]]})
    assert r.status_code == 200, r.get_json()
    sent = r.get_json()
    assert sent["status"] == 200 and sent["error"] is None
    event = webhook.received[-1]
    assert event["header"]["event_type"] == "im.message.receive_v1"
    msg = event["event"]["message"]
    assert event["event"]["sender"]["sender_id"]["open_id"] == BOB["open_id"]
    assert (msg["chat_id"], msg["chat_type"], msg["message_id"]) == (GROUP_CHAT_ID, "group", sent["message_id"])
    assert json.loads(msg["content"])["text"] == "@_user_1 @_user_2 /video a kitten yawning"
    assert [m["name"] for m in msg["mentions"]] == ["VideoBot", "Alice"]
    shown = client.get("/playground/api/messages").get_json()["messages"]
    assert [(m["sender_name"], m["sender_id"], m["from_bot"]) for m in shown] == [("Bob", BOB["open_id"], False)]


def test_the_private_chat_needs_no_mention_and_is_private(client: FlaskClient, webhook: Webhook) -> None:
    own = ev.p2p_chat_id(ALICE["open_id"])
    r = client.post("/playground/api/send", json={
        "user": ALICE["open_id"], "chat_id": own, "text": "/help", "mention_bot": True})
    assert r.status_code == 200
    msg = webhook.received[-1]["event"]["message"]
    assert (msg["chat_id"], msg["chat_type"], json.loads(msg["content"])["text"]) == (own, "p2p", "/help")
    assert "mentions" not in msg
    bobs = ev.p2p_chat_id(BOB["open_id"])
    refused = client.post("/playground/api/send", json={"user": ALICE["open_id"], "chat_id": bobs, "text": "hi"})
    assert refused.status_code == 400 and "someone else's" in refused.get_json()["error"]
    stranger = client.post("/playground/api/send", json={"user": "ou_nobody", "text": "hi"})
    assert stranger.status_code == 400
    empty = client.post("/playground/api/send", json={"user": ALICE["open_id"], "text": "  "})
    assert empty.status_code == 400


def test_a_photo_with_a_caption_is_a_post_with_the_image(client: FlaskClient, webhook: Webhook) -> None:
    up = client.post("/playground/api/images", data=_jpeg(), content_type="image/jpeg").get_json()
    assert (up["width"], up["height"], up["format"]) == (800, 600, "JPEG")
    sample = client.post("/playground/api/images/sample/sunset").get_json()
    assert sample["width"] >= 300 and sample["height"] >= 300
    assert client.post("/playground/api/images", data=b"not a picture").status_code == 400
    assert client.post("/playground/api/images/sample/nope").status_code == 400
    r = client.post("/playground/api/send", json={
        "user": ALICE["open_id"], "text": "/video she smiles", "images": [up["image_key"], sample["image_key"]],
        "mention_bot": True})
    assert r.status_code == 200
    msg = webhook.received[-1]["event"]["message"]
    assert msg["message_type"] == "post"
    keys = [e["image_key"] for row in json.loads(msg["content"])["content"] for e in row if e["tag"] == "img"]
    assert keys == [up["image_key"], sample["image_key"]]
    assert client.get(f"/__sim__/images/{up['image_key']}").data == _jpeg()


def _bot_card(sim: FeishuSimulator, card: dict[str, Any]) -> tuple[str, str]:
    src = sim.send(text="/video a kitten", user=dict(ALICE), chat_id=GROUP_CHAT_ID)["message_id"]
    reply = sim.reply(src, {"msg_type": "interactive", "content": json.dumps(card)})
    return str(src), str(reply["message_id"])


def test_a_button_press_is_a_signed_card_callback_and_its_toast_comes_back(
        client: FlaskClient, sim: FeishuSimulator, webhook: Webhook) -> None:
    src, card_id = _bot_card(sim, CARD)
    shown = {m["message_id"]: m for m in client.get("/playground/api/messages").get_json()["messages"]}
    card = shown[card_id]
    assert (card["from_bot"], card["parent_id"], card["root_id"]) == (True, src, src)
    buttons = [e for e in card["content"]["body"]["elements"] if e["tag"] == "button"]
    nested = card["content"]["body"]["elements"][2]["columns"][0]["elements"][0]
    assert [buttons[0]["_pg_button"], nested["_pg_button"]] == [0, 1]  # the simulator's numbering
    assert card["states"] == ["⏳ Queued"] and card["replay"] == []

    webhook.answer = {"toast": {"type": "error", "content": "Only Alice can use these buttons."}}
    r = client.post("/playground/api/click", json={"user": BOB["open_id"], "message_id": card_id, "button": 1})
    assert r.status_code == 200
    answer = r.get_json()
    assert answer["status"] == 200 and answer["toast"]["content"] == "Only Alice can use these buttons."
    event = webhook.received[-1]
    assert event["header"]["event_type"] == "card.action.trigger"
    assert event["event"]["operator"]["open_id"] == BOB["open_id"]
    assert event["event"]["action"]["value"] == {"a": "approve", "rid": "r1"}
    assert event["event"]["context"]["open_message_id"] == card_id
    bad = client.post("/playground/api/click", json={"user": BOB["open_id"], "message_id": card_id, "button": "x"})
    assert bad.status_code == 400


def _events(chunks: Iterator[bytes], count: int) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    buf = ""
    while len(out) < count:
        buf += next(chunks).decode()
        while "\n\n" in buf:
            block, buf = buf.split("\n\n", 1)
            lines = [line for line in block.splitlines() if ": " in line and not line.startswith(":")]
            fields = dict(line.split(": ", 1) for line in lines)
            if "event" in fields:
                out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_the_event_stream_sends_a_snapshot_then_every_state_of_a_card(
        client: FlaskClient, sim: FeishuSimulator) -> None:
    sim.send(text="hello", user=dict(ALICE), chat_id=GROUP_CHAT_ID)
    resp = client.get("/playground/api/events", buffered=False)
    assert resp.content_type.startswith("text/event-stream")
    chunks = iter(resp.response)
    try:
        [(kind, snap)] = _events(chunks, 1)
        assert kind == "snapshot" and [m["content"]["text"] for m in snap["messages"]] == ["@_user_1 hello"]
        # A card created and patched twice faster than the stream looks: no state is lost.
        _src, card_id = _bot_card(sim, CARD)
        sim.patch_message(card_id, {"content": json.dumps(_titled("🎬 Generating"))})
        sim.patch_message(card_id, {"content": json.dumps(_titled("✅ Video ready"))})
        seen: list[str] = []
        while not seen or seen[-1] != "✅ Video ready":
            [(kind, upd)] = _events(chunks, 1)
            assert kind == "update"
            for m in upd["messages"]:
                if m["message_id"] == card_id:
                    seen += [c["header"]["title"]["content"] for c in [*m["replay"], m["content"]]]
                    assert m["states"][: len(seen)] == seen
        assert seen == ["⏳ Queued", "🎬 Generating", "✅ Video ready"]
        # A reset (the simulator forgot everything) comes as a new, empty snapshot.
        sim.reset()
        [(kind, snap)] = _events(chunks, 1)
        assert kind == "snapshot" and snap["messages"] == []
    finally:
        resp.close()


def test_the_people_are_the_demos() -> None:
    from sim import demo

    assert demo.ALICE in PEOPLE and demo.CHAT_ID == GROUP_CHAT_ID
