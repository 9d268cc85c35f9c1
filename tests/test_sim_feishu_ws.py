"""The Feishu simulator's long-connection endpoint (sim.feishu_ws), driven by lark-oapi's own `lark.ws.Client`.

The SDK's client runs exactly as an app would run it (``start()``: discovery, handshake, pings,
its own reconnect loop), on a loop of its own in a thread; the handler records what arrives.
The frame codec is checked against the SDK's generated protobuf, and the handshake refusals and
pings with a bare WebSocket client.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as lark_ws_client
import pytest
from conftest import free_port
from lark_oapi.ws.pb.pbbp2_pb2 import Frame as PbFrame
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from sim.feishu import FeishuSimulator
from sim.feishu_ws import Frame
from sim.stack import wait_until

wait_for = partial(wait_until, timeout=10.0, interval=0.02)

APP_ID = "cli_ws_app"
APP_SECRET = "ws-secret"
BOB = {"open_id": "ou_bob", "name": "Bob"}
CARD: dict[str, Any] = {
    "schema": "2.0",
    "config": {"update_multi": True},
    "body": {"elements": [
        {"tag": "markdown", "content": "Draft ready"},
        {"tag": "button", "text": {"tag": "plain_text", "content": "Approve"},
         "behaviors": [{"type": "callback", "value": {"a": "approve_720p", "rid": "r1", "owner": "ou_sim_user"}}]},
    ]},
}
APPROVED: dict[str, Any] = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": "Approved"}]}}


class Recorder(lark.EventDispatcherHandler):
    """What lark-oapi's ws client hands each frame to: records it; answers card clicks with a toast."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []
        self.fail_next = 0
        self._lock = threading.Lock()

    def _do_without_validation(self, payload: bytes) -> Any:
        doc = json.loads(payload)
        with self._lock:
            self.seen.append(doc)
            fail = self.fail_next > 0
            self.fail_next -= int(fail)
        if fail:
            raise RuntimeError("the handler failed")
        if doc["header"]["event_type"] == "card.action.trigger":
            return {"toast": {"type": "success", "content": "Approved"}, "card": {"type": "raw", "data": APPROVED}}
        return None

    def event_ids(self) -> list[str]:
        with self._lock:
            return [d["header"]["event_id"] for d in self.seen]


@contextmanager
def lark_client(origin: str, handler: Recorder, secret: str = APP_SECRET) -> Iterator[None]:
    """`lark.ws.Client(...).start()` in a thread, on a loop of its own (the SDK's module loop, swapped)."""
    loop = asyncio.new_event_loop()
    saved = lark_ws_client.loop
    lark_ws_client.loop = loop

    def run() -> None:
        asyncio.set_event_loop(loop)
        client = lark.ws.Client(APP_ID, secret, event_handler=handler, domain=origin, log_level=lark.LogLevel.ERROR)
        try:
            client.start()  # blocks until the loop is stopped below
        except Exception:
            pass
        finally:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    thread = threading.Thread(target=run, name="lark-ws-test", daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        lark_ws_client.loop = saved


@pytest.fixture(scope="module")
def sim() -> Iterator[FeishuSimulator]:
    # A webhook nobody listens on: a push that went there would fail, and be counted.
    s = FeishuSimulator(app_id=APP_ID, app_secret=APP_SECRET, webhook_url=f"http://127.0.0.1:{free_port()}/x",
                        retry_schedule=(0.2, 0.5, 1.0), ack_timeout=1.0)
    s.longconn.client_config.update(ReconnectNonce=0, ReconnectInterval=1)
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def recorder(sim: FeishuSimulator) -> Iterator[Recorder]:
    handler = Recorder()
    with lark_client(sim.origin, handler):
        wait_for(sim.longconn.connected, what="lark's client to connect")
        yield handler


@pytest.fixture
def fresh(sim: FeishuSimulator, recorder: Recorder) -> FeishuSimulator:
    sim.reset()
    sim.longconn.configure({"delivery": "auto", "fragment_size": 0})
    recorder.fail_next = 0
    wait_for(sim.longconn.connected, what="a connection")
    return sim


def _card(sim: FeishuSimulator) -> str:
    sent = sim.create_message("chat_id", {"receive_id": "oc_sim_group", "msg_type": "interactive",
                                          "content": json.dumps(CARD)})
    return str(sent["message_id"])


# --- the frame codec --------------------------------------------------------------------------------------


def test_frame_codec_agrees_with_the_sdks_protobuf() -> None:
    ours = Frame(seq_id=7, log_id=9, service=33554678, method=1, payload=b'{"schema":"2.0"}',
                 headers=[("type", "event"), ("message_id", "m1"), ("sum", "1"), ("seq", "0"), ("trace_id", "t")])
    theirs = PbFrame()
    theirs.ParseFromString(ours.encode())
    assert (theirs.SeqID, theirs.LogID, theirs.service, theirs.method) == (7, 9, 33554678, 1)
    assert [(h.key, h.value) for h in theirs.headers] == ours.headers
    assert theirs.payload == ours.payload
    header = theirs.headers.add()
    header.key, header.value = "biz_rt", "3"
    theirs.payload_type = "json"
    back = Frame.decode(theirs.SerializeToString())
    assert back.headers[-1] == ("biz_rt", "3") and back.payload_type == "json" and back.service == 33554678


# --- discovery and handshake ------------------------------------------------------------------------------


def test_discovery_gives_a_url_and_client_config_only_for_the_apps_credentials(sim: FeishuSimulator) -> None:
    client = sim.app.test_client()
    ok = client.post("/callback/ws/endpoint", json={"AppID": APP_ID, "AppSecret": APP_SECRET}).get_json()
    assert ok["code"] == 0
    assert ok["data"]["URL"].startswith("ws://127.0.0.1:") and "device_id=" in ok["data"]["URL"]
    assert set(ok["data"]["ClientConfig"]) == {"ReconnectCount", "ReconnectInterval", "ReconnectNonce",
                                               "PingInterval"}
    bad = client.post("/callback/ws/endpoint", json={"AppID": APP_ID, "AppSecret": "nope"}).get_json()
    assert bad["code"] not in (0, 1, 1000040343)  # a client error: the SDK gives up


def _url(sim: FeishuSimulator) -> str:
    return str(sim.app.test_client().post(
        "/callback/ws/endpoint", json={"AppID": APP_ID, "AppSecret": APP_SECRET}).get_json()["data"]["URL"])


def test_handshake_needs_a_fresh_ticket_and_answers_pings_with_the_client_config(sim: FeishuSimulator) -> None:
    url = _url(sim)
    with ws_connect(url) as ws:
        ping = Frame(service=1, method=0, headers=[("type", "ping")])
        ws.send(ping.encode())
        pong = Frame.decode(ws.recv(timeout=5))  # type: ignore[arg-type]
        assert pong.method == 0 and pong.header("type") == "pong"
        assert json.loads(pong.payload) == sim.longconn.client_config
    with pytest.raises(InvalidStatus) as refused:  # a ticket is good for one connection
        ws_connect(url)
    headers = refused.value.response.headers
    assert headers["Handshake-Status"] == "514" and headers["Handshake-Autherrcode"] != "1000040350"


def test_connections_beyond_the_limit_are_refused_as_feishu_does(sim: FeishuSimulator) -> None:
    sim.longconn.configure({"max_connections": 0})
    try:
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(_url(sim))
        assert refused.value.response.headers["Handshake-Autherrcode"] == "1000040350"  # the SDK gives up
    finally:
        sim.longconn.configure({"max_connections": 50})


# --- events and card clicks through lark's client -----------------------------------------------------------


def test_an_event_reaches_lark_client_over_the_connection_not_the_webhook(fresh: FeishuSimulator,
                                                                           recorder: Recorder) -> None:
    posts = fresh.longconn.state()["stats"]["webhook_posts"]
    sent = fresh.send(text="/video a kitten yawning")
    assert sent["status"] == 200 and sent["error"] is None
    assert sent["event_id"] in recorder.event_ids()
    got = next(d for d in recorder.seen if d["header"]["event_id"] == sent["event_id"])
    assert got == sent["event"]  # the plaintext envelope, as the webhook would carry it decrypted
    [delivery] = fresh.deliveries()
    assert [a["via"] for a in delivery["attempts"]] == ["websocket"] and delivery["acked"]
    assert fresh.longconn.state()["stats"]["webhook_posts"] == posts


def test_a_card_click_gets_its_toast_and_card_back_in_the_response_frame(fresh: FeishuSimulator,
                                                                         recorder: Recorder) -> None:
    card = _card(fresh)
    click = fresh.click(card, "Approve")
    assert click["status"] == 200 and click["toast"] == {"type": "success", "content": "Approved"}
    assert click["card_updated"] and fresh.message(card)["content"] == APPROVED
    assert click["event_id"] in recorder.event_ids()


def test_a_failed_handler_answers_500_and_the_event_is_pushed_again(fresh: FeishuSimulator,
                                                                    recorder: Recorder) -> None:
    recorder.fail_next = 1
    sent = fresh.send(text="/video second try")
    assert sent["status"] == 500 and sent["error"] == "code 500"
    assert fresh.wait_idle(10)
    [delivery] = fresh.deliveries()
    assert [a["status"] for a in delivery["attempts"]] == [500, 200] and delivery["acked"]
    assert recorder.event_ids().count(sent["event_id"]) == 2  # the SDK does not dedupe: the bot must


def test_an_answer_lost_on_the_way_means_the_same_event_again(fresh: FeishuSimulator, recorder: Recorder) -> None:
    fresh.longconn.configure({"ack_drop": 1})
    sent = fresh.send(text="/video lost answer")
    assert sent["error"] == "timeout"
    assert fresh.wait_idle(10)
    assert recorder.event_ids().count(sent["event_id"]) == 2
    assert fresh.longconn.state()["stats"]["ack_drops"] >= 1


def test_a_large_event_in_fragments_is_reassembled_by_the_sdk(fresh: FeishuSimulator, recorder: Recorder) -> None:
    fresh.longconn.configure({"fragment_size": 100})
    sent = fresh.send(text="/video " + "a very long prompt " * 30)
    assert sent["status"] == 200
    got = next(d for d in recorder.seen if d["header"]["event_id"] == sent["event_id"])
    assert got == sent["event"]


def test_lark_client_reconnects_by_itself_after_the_server_drops_it(fresh: FeishuSimulator,
                                                                   recorder: Recorder) -> None:
    before = fresh.longconn.state()["stats"]["handshakes"]
    assert fresh.longconn.drop(abort=True) == 1
    wait_for(lambda: fresh.longconn.state()["stats"]["handshakes"] > before and fresh.longconn.connected(),
             what="the SDK's reconnect")
    sent = fresh.send(text="/video after the drop")
    assert sent["status"] == 200 and sent["event_id"] in recorder.event_ids()


def test_delivery_modes(fresh: FeishuSimulator, recorder: Recorder) -> None:
    fresh.longconn.configure({"delivery": "webhook"})
    sent = fresh.send(text="/video to the webhook")
    assert sent["error"] and sent["event_id"] not in recorder.event_ids()  # nobody listens there
    assert fresh.deliveries()[-1]["attempts"][0]["via"] == "webhook"
    fresh.longconn.configure({"delivery": "websocket"})
    sent = fresh.send(text="/video over the connection")
    assert sent["status"] == 200 and sent["event_id"] in recorder.event_ids()


def test_websocket_delivery_without_a_client_fails_and_retries() -> None:
    with FeishuSimulator(app_id=APP_ID, app_secret=APP_SECRET, retry_schedule=(0.1,), delivery="websocket") as s:
        sent = s.send(text="/video nobody home")
        assert sent["error"] == "no long connection"
        assert s.wait_idle(5)
        attempts = s.deliveries()[0]["attempts"]
        assert len(attempts) == 2 and all(a["error"] == "no long connection" for a in attempts)
