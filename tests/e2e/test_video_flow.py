"""`/video a kitten yawning` in a group ends as one playable video in that message's thread.

The smoke test of the full-stack tier: the simulators and `seedance-bot serve` as processes of the
console script. (Every mode, failure and conversation: the in-process tier, tests/flows.)
"""

from __future__ import annotations

import io

import av
import pytest
from chat import header, job_cards, posts, strings, wait_card
from stack import Stack, wait_until

pytestmark = pytest.mark.slow


def test_kitten_group_message_becomes_one_media_reply_in_thread(stack: Stack) -> None:
    stack.start_bot()
    sent = stack.send("/video a kitten yawning")
    source_id = sent["message_id"]

    media = wait_until(lambda: stack.bot_messages("media"), 90, what="a media reply")
    # The job card ends done, with the task: the one card of this request.
    card = wait_card(stack, source_id, lambda c: header(c).startswith("✅"), "the job card done")
    stack.at_rest()
    media = stack.bot_messages("media")
    assert len(media) == 1 and posts(stack, source_id, "media") == 1, "one video, posted once"
    reply = media[0]
    assert reply["parent_id"] == source_id  # a reply to the request, in its thread
    assert reply["uuid"] == f"v-m-{source_id}"[:50]
    content = reply["content"]
    data = stack.file(content["file_key"])
    with av.open(io.BytesIO(data)) as container:
        v = container.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (1280, 720)
    [task] = stack.ark_tasks()
    assert task["status"] == "succeeded"
    assert [c["message_id"] for c in job_cards(stack, source_id)] == [card["message_id"]]
    assert task["id"] in strings(card["content"])
    assert posts(stack, source_id, "interactive") == 1, "one card, posted once (then patched)"
