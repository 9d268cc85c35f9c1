"""FEISHU_CONNECTION=websocket in one process: the bot's long connection (bot.web.longconn) against the
Feishu simulator's long-connection endpoint, and a real Redis.

What the webhook promises, over the connection: the inbox holds what the webhook would have stored;
a re-pushed frame is accepted once; a frame Redis cannot take is left unanswered (Feishu pushes it
again) and then accepted once; card clicks get the same permission check and toast. And what only
the connection has: one holder per deployment (a lease; a standby takes over), reconnection after a
drop, and an app without the webhook route.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

from bot.config import MissingSettingError, Settings
from bot.runtime import run_roles
from bot.store.connection import connect
from bot.store.keys import Keys
from bot.store.leader import LeaderLock
from bot.web import create_app
from bot.web.intake import stored
from bot.web.longconn import LongConnection, Unacknowledged, long_connection
from bot.web.metrics import WebMetrics
from sim.feishu import FeishuSimulator
from sim.stack import wait_until

wait_for = partial(wait_until, timeout=15.0, interval=0.02)

PREFIX = "lc"
KEYS = Keys(PREFIX)
APP_ID = "cli_lc_app"
APP_SECRET = "lc-secret"
ALICE = {"open_id": "ou_alice", "name": "Alice"}
BOB = {"open_id": "ou_bob", "name": "Bob"}


def make_settings(redis_url: str | None, origin: str = "http://127.0.0.1:9", **overrides: Any) -> Settings:
    values: dict[str, Any] = {"feishu_app_id": APP_ID, "feishu_app_secret": APP_SECRET, "feishu_domain": origin,
                              "feishu_connection": "websocket", "redis_url": redis_url, "redis_prefix": PREFIX}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def sim() -> Iterator[FeishuSimulator]:
    with FeishuSimulator(app_id=APP_ID, app_secret=APP_SECRET, delivery="websocket", ack_timeout=1.0,
                         retry_schedule=(0.3, 0.5, 1.0, 2.0, 4.0)) as s:
        yield s


@pytest.fixture
def rds(redis_url: str) -> redis.Redis:
    return connect(redis_url)


def start_link(sim: FeishuSimulator, redis_url: str, node: str = "node-a", **overrides: Any) -> LongConnection:
    link = long_connection(make_settings(redis_url, sim.origin, **overrides), connect(redis_url), node=node)
    link.start()
    return link


@pytest.fixture
def link(sim: FeishuSimulator, redis_url: str) -> Iterator[LongConnection]:
    lc = start_link(sim, redis_url)
    try:
        assert lc.connected.wait(15), "the long connection did not open"
        wait_for(sim.longconn.connected, what="the simulator to see the connection")
        yield lc
    finally:
        lc.stop()


def inbox(r: redis.Redis) -> list[dict[str, Any]]:
    return [{**fields, "payload": json.loads(fields["payload"])} for _, fields in r.xrange(KEYS.inbox)]


def counter(metrics: Any, name: str, **labels: str) -> float:
    """A sample of the connection's metrics (a `WebMetrics`, made by `long_connection`)."""
    assert isinstance(metrics, WebMetrics)
    registry: CollectorRegistry = metrics.registry
    return registry.get_sample_value(name, labels) or 0.0


def add_card(sim: FeishuSimulator, owner: str = "ou_alice") -> str:
    value = {"a": "approve_720p", "rid": "req_0123456789abcdef", "owner": owner, "lang": "en"}
    card = {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": [
        {"tag": "button", "text": {"tag": "plain_text", "content": "Approve 720p"},
         "behaviors": [{"type": "callback", "value": value}]}]}}
    sent = sim.create_message("chat_id", {"receive_id": "oc_lc_group", "msg_type": "interactive",
                                          "content": json.dumps(card)})
    return str(sent["message_id"])


# --- what a frame becomes ---------------------------------------------------------------------------------


def test_a_message_lands_in_the_inbox_exactly_as_the_webhook_would_store_it(
        sim: FeishuSimulator, link: LongConnection, rds: redis.Redis) -> None:
    sent = sim.send(text="/video a kitten yawning", user=ALICE, chat_id="oc_lc_group")
    assert sent["status"] == 200 and sent["error"] is None
    [entry] = inbox(rds)
    assert entry["kind"] == "message"
    assert entry["payload"] == stored(sent["event"], sent["event"]["header"])  # same as the webhook's
    assert "token" not in entry["payload"]["header"]
    assert rds.exists(KEYS.event(sent["event_id"])) and rds.exists(KEYS.message(sent["message_id"]))
    assert sim.longconn.state()["stats"]["webhook_posts"] == 0


def test_a_re_pushed_frame_is_accepted_once(sim: FeishuSimulator, link: LongConnection, rds: redis.Redis) -> None:
    sim.longconn.configure({"ack_drop": 1})  # the bot's answer is lost: Feishu pushes it again
    sent = sim.send(text="/video twice pushed", user=ALICE)
    assert sent["error"] == "timeout"
    assert sim.wait_idle(15)
    again = sim.redeliver(sent["event_id"])  # and once more, by hand
    assert again["status"] == 200
    fresh_envelope = sim.send(message_id=sent["message_id"])  # same message, a new event_id
    assert fresh_envelope["status"] == 200
    [delivery, *_] = sim.deliveries()
    assert [a["status"] for a in delivery["attempts"]] == [None, 200, 200]
    assert len(inbox(rds)) == 1
    assert counter(link._metrics, "bot_feishu_events_total", outcome="duplicate") == 3


def test_a_frame_redis_cannot_take_is_left_unanswered_then_accepted_once(
        sim: FeishuSimulator, redis_url: str, rds: redis.Redis) -> None:
    for _ in range(10):
        rds.xadd(KEYS.inbox, {"kind": "filler", "payload": "{}"})
    lc = start_link(sim, redis_url, inbox_max=10)
    try:
        assert lc.connected.wait(15)
        wait_for(sim.longconn.connected)
        sent = sim.send(text="/video while full", user=ALICE)
        # Not `{"code": 500}`: no answer at all, which Feishu re-pushes after its deadline.
        assert sent["error"] == "timeout" and sent["status"] is None
        assert not rds.exists(KEYS.event(sent["event_id"]))
        for entry_id, _ in rds.xrange(KEYS.inbox):
            rds.xdel(KEYS.inbox, entry_id)  # the workers catch up
        assert sim.wait_idle(15)
        attempts = sim.deliveries()[0]["attempts"]
        assert attempts[-1]["status"] == 200 and all(a["status"] is None for a in attempts[:-1])
        assert [e["payload"]["header"]["event_id"] for e in inbox(rds)] == [sent["event_id"]]
        assert counter(lc._metrics, "bot_feishu_deferred_total", reason="inbox_full") >= 1
    finally:
        lc.stop()


def test_card_clicks_are_checked_and_answered_with_a_toast_in_the_response_frame(
        sim: FeishuSimulator, link: LongConnection, rds: redis.Redis) -> None:
    card = add_card(sim)
    refused = sim.click(card, "Approve 720p", user=BOB)
    assert refused["status"] == 200 and refused["toast"]["type"] == "error"
    assert inbox(rds) == []
    pressed = sim.click(card, "Approve 720p", user=ALICE)
    assert pressed["status"] == 200 and pressed["toast"]["type"] == "info"
    [entry] = inbox(rds)
    assert entry["kind"] == "card"
    assert entry["payload"]["event"]["action"]["value"]["a"] == "approve_720p"
    assert entry["payload"]["event"]["operator"]["open_id"] == "ou_alice"


def test_malformed_frames_are_acknowledged_and_counted_and_bots_are_dropped(link: LongConnection) -> None:
    assert link.handle(b"[1, 2]") is None
    assert link.handle(b'{"schema": "2.0", "header": {"event_type": "im.message.receive_v1"}}') is None
    assert counter(link._metrics, "bot_feishu_rejected_total", reason="bad_body") == 1
    assert counter(link._metrics, "bot_feishu_rejected_total", reason="malformed") == 1
    from_bot = {"schema": "2.0", "header": {"event_id": "ev_1", "event_type": "im.message.receive_v1"},
                "event": {"sender": {"sender_type": "app"}, "message": {"message_id": "om_1", "chat_type": "p2p"}}}
    assert link.handle(json.dumps(from_bot).encode()) is None
    assert counter(link._metrics, "bot_feishu_events_total", outcome="dropped") == 1


def test_redis_away_means_the_frame_is_not_answered(redis_url: str) -> None:
    dead = connect("redis://127.0.0.1:1/0", socket_timeout=0.2, connect_timeout=0.2, retries=0)
    lc = long_connection(make_settings(redis_url), dead, node="n")
    event = {"schema": "2.0", "header": {"event_id": "ev_2", "event_type": "im.message.receive_v1"},
             "event": {"sender": {"sender_type": "user"},
                       "message": {"message_id": "om_2", "chat_type": "p2p", "content": "{}"}}}
    with pytest.raises(Unacknowledged):
        lc.handle(json.dumps(event).encode())
    assert not isinstance(Unacknowledged("x"), Exception)  # gets past lark-oapi's `except Exception`


# --- one connection per deployment, reconnection -----------------------------------------------------------


def test_one_holder_per_deployment_and_a_standby_takes_over(sim: FeishuSimulator, redis_url: str,
                                                           rds: redis.Redis) -> None:
    a = start_link(sim, redis_url, node="node-a")
    b = start_link(sim, redis_url, node="node-b")
    try:
        holder = wait_for(lambda: a if a.connected.is_set() else b if b.connected.is_set() else None,
                          what="one of them to connect")
        standby = b if holder is a else a
        time.sleep(1.5)  # the standby keeps trying for the lease meanwhile
        assert not standby.holding.is_set() and len(sim.longconn.state()["connections"]) == 1
        lease = LeaderLock(rds, KEYS, lease=10, key=KEYS.feishu_connection)
        assert lease.holder() == holder.node
        first = sim.send(text="/video one", user=ALICE)
        assert first["status"] == 200
        holder.stop()  # gives the lease up: the standby connects at once
        assert standby.connected.wait(15)
        wait_for(sim.longconn.connected)
        second = sim.send(text="/video two", user=ALICE)
        assert second["status"] == 200
        assert len(sim.longconn.state()["connections"]) == 1
        assert lease.holder() == standby.node
        assert [e["payload"]["header"]["event_id"] for e in inbox(rds)] == [first["event_id"], second["event_id"]]
    finally:
        a.stop()
        b.stop()


def test_reconnects_with_backoff_after_the_server_drops_the_socket(sim: FeishuSimulator, link: LongConnection,
                                                                   rds: redis.Redis) -> None:
    assert link.opened == 1
    sim.longconn.drop(abort=True)  # like a network failure: no close frame
    wait_for(lambda: link.opened == 2 and link.connected.is_set() and sim.longconn.connected(),
             what="the reconnection")
    sent = sim.send(text="/video after the drop", user=ALICE)
    assert sent["status"] == 200
    assert len(inbox(rds)) == 1
    sim.longconn.drop()  # a clean close (code 1001) too
    wait_for(lambda: link.opened == 3 and sim.longconn.connected(), what="the second reconnection")


def test_a_lost_lease_closes_the_connection(sim: FeishuSimulator, link: LongConnection, rds: redis.Redis) -> None:
    rds.delete(KEYS.feishu_connection)  # as if it expired while this holder was stuck
    wait_for(lambda: link.opened >= 2, what="the connection to be given up and opened again")
    assert len(sim.longconn.state()["connections"]) <= 1


# --- configuration ---------------------------------------------------------------------------------------


def test_websocket_mode_needs_no_encrypt_key_and_serves_no_webhook(redis_url: str, rds: redis.Redis) -> None:
    app = create_app(make_settings(redis_url), redis=rds)  # no Encrypt Key, no token: fine here
    client = app.test_client()
    assert client.post("/feishu/events", data=b"{}").status_code == 404
    assert client.get("/healthz").status_code == 200
    with pytest.raises(MissingSettingError):
        create_app(make_settings(redis_url, feishu_connection="webhook"), redis=rds)


def test_the_connection_needs_the_app_credentials_and_websocket_mode(redis_url: str, rds: redis.Redis) -> None:
    with pytest.raises(MissingSettingError, match="FEISHU_APP_SECRET"):
        long_connection(make_settings(redis_url, feishu_app_secret=""), rds, node="n")
    with pytest.raises(MissingSettingError, match="FEISHU_CONNECTION=websocket"):
        run_roles(make_settings(redis_url, feishu_connection="webhook"), web=False, worker=False, scheduler=False,
                  connect=True)
