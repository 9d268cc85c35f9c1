"""FEISHU_CONNECTION=websocket end to end: the bot (separate processes) receives events and card clicks
over lark-oapi's long connection to the Feishu simulator, never over the webhook.

The simulator runs with ``--delivery websocket`` (it never POSTs to the webhook, and counts it if it
did), the bot has no Encrypt Key, no verification token and no BOT_PUBLIC_URL (Ark is polled).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from chat import actions
from stack import Stack, free_port, wait_until

pytestmark = pytest.mark.slow

WAIT = 90.0
ALICE = {"open_id": "ou_alice", "name": "Alice"}
LEASE_KEY = "{bot}:feishu:connection"
CONNECT_NAMES = {"local-connect-connect": "bot-connect", "local-connect-2-connect": "bot-connect-2"}


@pytest.fixture
def ws_stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    s = Stack(workdir=tmp_path, redis_url=redis_url, callbacks=False, feishu_delivery="websocket",
              # Feishu re-pushes at 15 s, 5 min, …; quicker here, and long enough to outlast a takeover.
              feishu_args=["--retry-schedule", "1,2,4,8,16,32"],
              bot_env={"FEISHU_CONNECTION": "websocket"},
              bot_env_unset={"FEISHU_ENCRYPT_KEY", "FEISHU_VERIFICATION_TOKEN"})
    try:
        s.start_simulators()
        yield s
    finally:
        s.stop()
        s.print_logs(("bot-serve", "bot-web", "bot-worker", "bot-scheduler", "bot-connect", "bot-connect-2"), 3000)


def replies(stack: Stack, source_id: str, msg_type: str | None = None) -> list[dict[str, Any]]:
    return [m for m in stack.bot_messages(msg_type) if source_id in (m.get("parent_id"), m.get("root_id"))]


def connected(stack: Stack) -> list[dict[str, Any]]:
    return list(stack.longconn()["connections"])


def no_webhook_used(stack: Stack) -> None:
    state = stack.longconn()
    assert state["stats"]["webhook_posts"] == 0, state["stats"]
    deliveries = requests.get(f"{stack.feishu_url}/__sim__/deliveries", timeout=10).json()["deliveries"]
    assert deliveries and all(a.get("via") == "websocket" for d in deliveries for a in d["attempts"])


def test_the_three_chat_flows_over_the_long_connection_with_no_webhook(ws_stack: Stack) -> None:
    s = ws_stack
    s.start_bot()  # serve: web (healthz, metrics), worker, scheduler and the long connection
    wait_until(lambda: connected(s), 30, what="the bot's long connection")
    assert requests.post(f"{s.bot_url}/feishu/events", data=b"{}", timeout=10).status_code == 404

    # 1. text: /video in a group ends as one video in the message's thread.
    text_src = s.send("/video a kitten yawning")["message_id"]
    wait_until(lambda: replies(s, text_src, "media"), WAIT, what="the video of the text request")

    # 2. a photo with a caption: the photo becomes the first frame.
    image = s.user_image(1280, 720)
    photo_src = s.send("/video the cat turns its head", images=[image])["message_id"]
    wait_until(lambda: replies(s, photo_src, "media"), WAIT, what="the video of the photo")
    photo_task = s.ark_tasks()[-1]
    assert any(c.get("role") == "first_frame" for c in photo_task["body"]["content"])

    # The simulator drops the socket (like a network failure); the bot reconnects by itself.
    handshakes = s.longconn()["stats"]["handshakes"]
    s.longconn(drop="abort")
    wait_until(lambda: s.longconn()["stats"]["handshakes"] > handshakes and connected(s), 30,
               what="the reconnection")

    # 3. /draft, then the Approve button: the click and its toast travel over the connection too.
    draft_src = s.send("/draft a flower blooming")["message_id"]
    wait_until(lambda: replies(s, draft_src, "media"), WAIT, what="the draft video")
    card = wait_until(lambda: next((m for m in replies(s, draft_src, "interactive")
                                    if "approve_720p" in actions(m["content"])), None), WAIT, what="the draft card")
    click = s.click(card["message_id"], {"a": "approve_720p"}, user=ALICE)
    assert click["status"] == 200 and click["toast"]["type"] == "info", click
    wait_until(lambda: len(replies(s, draft_src, "media")) == 2, WAIT, what="the approved final video")

    tasks = s.ark_tasks()
    assert len(tasks) == 4  # video, photo, draft, final: nothing lost, nothing twice
    assert [len(replies(s, src, "media")) for src in (text_src, photo_src, draft_src)] == [1, 1, 2]
    no_webhook_used(s)


def test_exactly_once_through_a_redelivered_frame_and_a_killed_connection_holder(ws_stack: Stack) -> None:
    s = ws_stack
    ports = {"bot-connect": free_port(), "bot-connect-2": free_port()}
    s.start_bot(("web", "worker", "scheduler", "connect", "connect-2"), distinct_nodes=True,
                env_of={"connect": {"BOT_HEALTH_PORT": str(ports["bot-connect"])},
                        "connect-2": {"BOT_HEALTH_PORT": str(ports["bot-connect-2"])}})
    r = redis.Redis.from_url(s.redis_url, decode_responses=True)
    wait_until(lambda: connected(s), 30, what="one long connection")

    def holder() -> str | None:
        value = r.get(LEASE_KEY)
        return CONNECT_NAMES.get(value.rsplit("|", 1)[0]) if value else None

    def metrics(name: str) -> str:
        return requests.get(f"http://127.0.0.1:{ports[name]}/metrics", timeout=10).text

    first = holder()
    assert first is not None and len(connected(s)) == 1  # one connection for the deployment
    standby = next(n for n in ports if n != first)
    # Each connect role's /metrics: which one holds the connection, and what came over it.
    wait_until(lambda: "bot_feishu_connection_open 1.0" in metrics(first), 30, what="the holder's metrics")
    assert "bot_feishu_connection_held 1.0" in metrics(first)
    assert "bot_feishu_connection_open 0.0" in metrics(standby) and "bot_feishu_connection_held 0.0" in metrics(standby)

    # A frame whose answer is lost: Feishu pushes it again, and it is accepted once.
    s.longconn(ack_drop=1)
    video = s.send("/video a lighthouse in a storm")
    assert video["error"] == "timeout"
    wait_until(lambda: replies(s, video["message_id"], "media"), WAIT, what="the video")
    assert len(s.ark_tasks()) == 1

    # The holder accepts a message, its answer is lost, and it is SIGKILLed before the re-push: the
    # standby takes the lease and the connection, gets the re-push (a duplicate) and what was sent meanwhile.
    s.longconn(ack_drop=1)
    lost = s.send("/whoami")
    assert lost["error"] == "timeout"
    s.kill(first, signal.SIGKILL)
    during = [s.send("/whoami")["message_id"] for _ in range(2)]
    wait_until(lambda: holder() not in (None, first) and connected(s), 40, what="the standby to take over")
    after = [s.send("/whoami")["message_id"] for _ in range(2)]
    sources = [lost["message_id"], *during, *after]
    wait_until(lambda: all(replies(s, m) for m in sources), WAIT, what="an answer to every message")
    s.check_running()

    def acknowledged_attempts() -> list[dict[str, Any]] | None:
        deliveries = requests.get(f"{s.feishu_url}/__sim__/deliveries", timeout=10).json()["deliveries"]
        tried = next(d["attempts"] for d in deliveries if d["event_id"] == lost["event_id"])
        return tried if any(a["status"] == 200 for a in tried) else None

    # The reply may come first (the holder put the message in Redis before it died); Feishu's
    # re-push comes on its own schedule, and the standby answers it.
    pushed = wait_until(acknowledged_attempts, WAIT, what="the lost frame's re-push acknowledged")
    acked_by = {a["connection"] for a in pushed if a["status"] == 200}
    assert pushed[0]["error"] == "timeout" and len(acked_by) == 1 and pushed[0]["connection"] not in acked_by
    assert [len(replies(s, m)) for m in sources] == [1] * len(sources)  # none lost, none doubled
    assert len(replies(s, video["message_id"], "media")) == 1 and len(s.ark_tasks()) == 1
    assert "bot_feishu_connection_open 1.0" in metrics(standby)
    assert re.search(r'^bot_feishu_events_total\{outcome="accepted"\} [1-9]', metrics(standby), re.M), \
        "the connection's counters on the connect role's own /metrics"
    no_webhook_used(s)
