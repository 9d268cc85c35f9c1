"""A full Redis: new work is refused with a clear answer; every accepted job still finishes.

Redis runs with a `maxmemory` and `noeviction` (nothing is ever evicted). When its use
passes the bot's high-water mark (`BOT_REDIS_HIGH_WATER` of maxmemory), a new request gets
"I'm at capacity" and nothing is created, while the jobs already accepted go on to their
videos on the headroom left. Once memory is freed, requests are taken again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from chat import ark_config, strings, tasks_with, thread, wait_card, wait_text
from stack import Stack, free_port, wait_until

from sim.redis_server import RedisServer

pytestmark = pytest.mark.slow

WAIT = 90.0
JUNK = "junk-not-the-bot"


def fill(r: redis.Redis, target: int) -> None:
    """Write junk (under another prefix) until Redis uses `target` bytes."""
    i = 0
    blob = "x" * 256 * 1024
    while int(r.info("memory")["used_memory"]) < target:
        r.set(f"{JUNK}:{i}", blob)
        i += 1


def test_a_full_redis_refuses_new_requests_and_finishes_accepted_ones(tmp_path: Path) -> None:
    maxmemory = 48 * 1024 * 1024
    rp = RedisServer(tmp_path / "redis", free_port(), extra_args=("--maxmemory", str(maxmemory)))
    rp.start()
    stack = Stack(workdir=tmp_path, redis_url=rp.url, bot_env={"BOT_REDIS_HIGH_WATER": "0.8"})
    r = redis.Redis.from_url(rp.url, decode_responses=True)
    try:
        stack.start_simulators()
        stack.start_bot()
        ark_config(stack, speed=0.05)  # hold the first job at Ark while Redis fills up
        accepted = stack.send("/video a lighthouse in the fog")["message_id"]
        wait_card(stack, accepted, lambda c: "Task" in strings(c), "the accepted job at Ark")

        fill(r, int(maxmemory * 0.9))
        refused = stack.send("/video a second lighthouse")["message_id"]
        msg = wait_text(stack, refused, r".", "the capacity answer")
        assert "at capacity" in msg["text"] and "nothing was charged" in msg["text"], msg["text"]
        assert not tasks_with(stack, "a second lighthouse")
        assert not r.exists(f"{{bot}}:job:m-{refused}")

        ark_config(stack, speed=600)
        wait_until(lambda: thread(stack, accepted, "media"), WAIT, what="the accepted job's video")

        for key in list(r.scan_iter(f"{JUNK}:*", count=1000)):
            r.delete(key)
        again = stack.send("/video a third lighthouse")["message_id"]
        wait_until(lambda: thread(stack, again, "media"), WAIT, what="a video once memory is free")
    finally:
        stack.stop()
        rp.stop()
