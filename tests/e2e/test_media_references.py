"""A chat video as a Seedance 2.0 reference across processes: the worker downloads and checks it and
puts it under BOT_DATA_DIR/media, the separate web process serves it at the signed URL, and the Ark
simulator (a process of its own) fetches it while creating the task. (The combinations, limits and
the missing-public-URL answer: tests/flows/test_media_references.py.)
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from chat import thread
from stack import Stack, wait_until

pytestmark = pytest.mark.slow


def test_the_web_process_serves_what_the_worker_process_staged(stack: Stack) -> None:
    stack.start_bot(("web", "worker", "scheduler"))
    clip = stack.user_video(seconds=3)
    video_msg = stack.send(files=[clip])["message_id"]
    src = stack.send("/video --ref --model 2.0 the same scene at night", parent_id=video_msg)["message_id"]

    wait_until(lambda: thread(stack, src, "media"), 90, what="the video made from the reference")
    stack.at_rest()
    [task] = stack.ark_tasks()
    [fetched] = task["media"]
    assert fetched["url"].startswith(f"{stack.bot_url}/media/")
    assert fetched["bytes"] == len(stack.file(clip))
    staged = [p for p in (stack.data_dir / "media").iterdir() if p.is_file() and p.suffix != ".json"]
    assert len(staged) == 1 and staged[0].read_bytes() == stack.file(clip)
    sig = parse_qs(urlsplit(fetched["url"]).query)["sig"][0]
    for name in ("bot-web", "bot-worker", "bot-scheduler"):  # the URL's signature is in no log
        assert sig not in stack.log(name), name
