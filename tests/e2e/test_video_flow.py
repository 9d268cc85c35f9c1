"""`/video a kitten yawning` in a group ends as one playable video in that message's thread."""

from __future__ import annotations

import io

import av
import pytest
from stack import Stack, wait_until

pytestmark = pytest.mark.slow


def _media_replies(stack: Stack) -> list[dict]:
    return stack.bot_messages("media")


def test_kitten_group_message_becomes_one_media_reply_in_thread(stack: Stack) -> None:
    stack.start_bot()
    sent = stack.send("/video a kitten yawning")
    source_id = sent["message_id"]

    media = wait_until(lambda: _media_replies(stack), 90, what="a media reply")
    assert len(media) == 1
    reply = media[0]
    assert reply["parent_id"] == source_id or reply["root_id"] == source_id
    content = reply["content"]
    data = stack.file(content["file_key"])
    with av.open(io.BytesIO(data)) as container:
        v = container.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (1280, 720)
    tasks = stack.ark_tasks()
    assert len(tasks) == 1
    # The card shows the finished job.
    cards = stack.bot_messages("interactive")
    assert cards, "a job card was posted"
