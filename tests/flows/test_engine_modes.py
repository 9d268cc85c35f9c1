"""The job engine end to end, per generation mode and failure path.

The in-process tier (tests/flows/conftest.py): the bot's roles as threads of this process, both
simulators on loopback, a real Redis; the assertions read what the simulators recorded: the create
bodies Ark received, the messages Feishu holds and the replies the bot POSTed. "Exactly one" is
counted once the bot is at rest (no open job, no waiting entry, no lease, no planned retry), never
after a sleep.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import av
import requests
from chat import posts
from PIL import Image
from stack import Stack, wait_until

WAIT = 60  # seconds; an upper bound against hangs (a video takes well under a second here)

_SHRUNK = re.compile(r"^(?P<head>.*)\.\.\.\((?P<n>\d+) chars\)$", re.S)


# --- helpers ---------------------------------------------------------------------------------------


def replies_to(stack: Stack, source_id: str, msg_type: str | None = None) -> list[dict[str, Any]]:
    """The bot's messages answering `source_id` (direct replies or in its thread)."""
    return [m for m in stack.bot_messages(msg_type) if source_id in (m.get("parent_id"), m.get("root_id"))]


def wait_media(stack: Stack, source_id: str) -> dict[str, Any]:
    media = wait_until(lambda: replies_to(stack, source_id, "media"), WAIT, what=f"a media reply to {source_id}")
    return media[0]


def settle(stack: Stack) -> None:
    """Before counting replies: the bot is at rest, so nothing it could still post is pending."""
    stack.at_rest()


def video_size(stack: Stack, media_reply: dict[str, Any]) -> tuple[int, int]:
    data = stack.file(media_reply["content"]["file_key"])
    with av.open(io.BytesIO(data)) as container:
        v = container.streams.video[0]
        return int(v.codec_context.width), int(v.codec_context.height)


def the_task(stack: Stack) -> dict[str, Any]:
    tasks = stack.ark_tasks()
    assert len(tasks) == 1, [t["id"] for t in tasks]
    return tasks[0]


def image_items(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in task["body"]["content"] if c.get("type") == "image_url"]


def assert_data_url_of(url: str, original: bytes) -> None:
    """`url` is the data: URL of exactly `original` (the simulator keeps the first 128 characters
    of long data: URLs and their total length; both must match the URL built from the photo)."""
    expected = f"data:image/jpeg;base64,{base64.b64encode(original).decode('ascii')}"
    m = _SHRUNK.match(url)
    if m is None:  # short enough to be kept whole
        assert url == expected
        return
    assert int(m["n"]) == len(expected), "the data: URL has the length of the photo's bytes"
    assert expected.startswith(m["head"]), "the data: URL starts like the photo's bytes"
    assert len(m["head"]) >= 100


def photo(stack: Stack, width: int, height: int) -> tuple[str, bytes]:
    key = stack.user_image(width, height)
    data = stack.image(key)
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (width, height)
    return key, data


def card_of(stack: Stack, source_id: str) -> dict[str, Any]:
    cards = replies_to(stack, source_id, "interactive")
    assert len(cards) == 1, "one live job card per request"
    return cards[0]


# --- image modes -----------------------------------------------------------------------------------


def test_photo_with_caption_becomes_first_frame_video(stack: Stack) -> None:
    stack.start_bot()
    key, original = photo(stack, 1024, 768)
    sent = stack.send("/video make it dance", images=[key])
    source = sent["message_id"]

    reply = wait_media(stack, source)
    task = the_task(stack)
    assert task["mode"] == "first_frame"
    items = image_items(task)
    assert len(items) == 1
    assert items[0]["role"] == "first_frame"
    assert_data_url_of(items[0]["image_url"]["url"], original)
    assert task["body"].get("ratio") == "adaptive"
    # Adaptive: the service picks the photo's ratio (4:3), and the delivered video has it.
    assert task["ratio"] == "4:3"
    w, h = video_size(stack, reply)
    assert (w, h) == (task["width"], task["height"])
    assert abs(w / h - 4 / 3) < 0.02
    settle(stack)
    assert len(replies_to(stack, source, "media")) == 1 and posts(stack, source, "media") == 1
    assert len(stack.ark_tasks()) == 1


def test_two_photos_become_first_and_last_frame(stack: Stack) -> None:
    stack.start_bot()
    first_key, first = photo(stack, 1024, 768)
    last_key, last = photo(stack, 1280, 960)
    assert len(first) != len(last)  # so the recorded lengths tell the two apart
    sent = stack.send("/video day turns into night", images=[first_key, last_key])
    source = sent["message_id"]

    wait_media(stack, source)
    task = the_task(stack)
    assert task["mode"] == "first_last"
    items = image_items(task)
    assert [i["role"] for i in items] == ["first_frame", "last_frame"]
    assert_data_url_of(items[0]["image_url"]["url"], first)
    assert_data_url_of(items[1]["image_url"]["url"], last)
    settle(stack)
    assert len(replies_to(stack, source, "media")) == 1 and posts(stack, source, "media") == 1


def test_reply_to_an_image_uses_the_parents_image_as_first_frame(stack: Stack) -> None:
    stack.start_bot()
    key, original = photo(stack, 1024, 768)
    user = {"open_id": "ou_bob", "name": "Bob"}
    image_msg = stack.send(images=[key], chat_type="p2p", user=user, mention_bot=False)
    image_id = image_msg["message_id"]
    hint = wait_until(lambda: replies_to(stack, image_id, "text"), WAIT, what="the image-only hint")
    assert len(hint) == 1
    assert not stack.ark_tasks(), "an image alone starts nothing"

    sent = stack.send("/video the waves roll in", parent_id=image_id, chat_type="p2p", user=user,
                      mention_bot=False)
    reply = wait_media(stack, sent["message_id"])
    task = the_task(stack)
    assert task["mode"] == "first_frame"
    items = image_items(task)
    assert len(items) == 1 and items[0]["role"] == "first_frame"
    assert_data_url_of(items[0]["image_url"]["url"], original)
    assert reply["chat_type"] == "p2p"
    settle(stack)
    assert len(replies_to(stack, sent["message_id"], "media")) == 1 and posts(stack, sent["message_id"], "media") == 1
    assert posts(stack, image_id, "text") == 1, "one hint for the image alone"


# --- failures --------------------------------------------------------------------------------------


def _failed_request(stack: Stack, prompt: str) -> tuple[str, dict[str, Any]]:
    """Send `prompt`, wait for its one text explanation; returns (source message id, explanation)."""
    stack.start_bot()
    sent = stack.send(prompt)
    source = sent["message_id"]
    wait_until(lambda: replies_to(stack, source, "text"), WAIT, what="an explanation reply")
    settle(stack)
    texts = replies_to(stack, source, "text")
    assert len(texts) == 1, [t["text"] for t in texts]
    assert posts(stack, source, "text") == 1, "one explanation, posted once"
    assert not replies_to(stack, source, "media")
    assert not stack.bot_messages("media")
    return source, texts[0]


def _card_failed(stack: Stack, source: str) -> dict[str, Any]:
    def failed() -> dict[str, Any] | None:
        card = card_of(stack, source)
        return card if card["content"].get("header", {}).get("template") == "red" else None

    return dict(wait_until(failed, WAIT, what="the job card shown as failed"))


def test_task_failing_at_ark_gets_one_plain_explanation(stack: Stack) -> None:
    source, text = _failed_request(stack, "/video a dragon over the city [[failvideo]]")
    assert "content check" in text["text"]
    task = the_task(stack)
    assert task["status"] == "failed"
    assert task["error"]["code"] == "OutputVideoSensitiveContentDetected"
    _card_failed(stack, source)


def test_request_rejected_at_create_gets_one_explanation(stack: Stack) -> None:
    source, text = _failed_request(stack, "/video a forbidden thing [[sensitive]]")
    assert "prompt" in text["text"].lower()
    assert stack.ark_tasks() == [], "a rejected create leaves no task"
    _card_failed(stack, source)


def test_audio_flagged_suggests_audio_off(stack: Stack) -> None:
    source, text = _failed_request(stack, "/video a rock concert [[failaudio]] --audio on")
    assert "--audio off" in text["text"]
    task = the_task(stack)
    assert task["status"] == "failed"
    assert task["error"]["code"] == "OutputAudioSensitiveContentDetected"
    _card_failed(stack, source)


# --- polling only ----------------------------------------------------------------------------------


def test_without_callbacks_polling_alone_delivers(stack: Stack) -> None:
    stack.callbacks = False  # no BOT_PUBLIC_URL: no callback_url in create bodies
    stack.start_bot()
    assert "BOT_PUBLIC_URL" not in stack.bot_environment()
    sent = [stack.send(f"/video a paper boat number {i}") for i in range(2)]
    for s in sent:
        reply = wait_media(stack, s["message_id"])
        assert video_size(stack, reply) == (1280, 720)
    tasks = stack.ark_tasks()
    assert len(tasks) == 2
    assert all(not t["callback_url"] and "callback_url" not in t["body"] for t in tasks)
    callbacks = requests.get(f"{stack.ark_url.rsplit('/api/v3', 1)[0]}/__sim__/callbacks", timeout=30).json()
    assert callbacks == [], "Ark sent no callbacks: the videos were found by polling"
    settle(stack)
    assert len(stack.bot_messages("media")) == 2
    assert [posts(stack, s["message_id"], "media") for s in sent] == [1, 1]
