"""Hostile input at the webhook, in-process (Flask test client) against a real Redis.

One test per fix: verify-before-parse, bounded nesting, no poison messages, no secret in
Redis, the inbox filter and bound, OOM, /metrics protection, token-only refusal, the
waitress limits (body size, slowloris). The seeded corpus of tests/hostile.py runs here
too; tests/e2e/test_fuzz.py sends it to a real `serve` process.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from builders import (
    BOT_OPEN_ID,
    ENCRYPT_KEY,
    TOKEN,
    USER_OPEN_ID,
    card_action,
    delivery,
    encrypt,
    generic_event,
    mention_bot,
    message_event,
    sign,
    url_verification,
)
from conftest import free_port, redis_server_binary
from flask import Flask
from flask.testing import FlaskClient
from hostile import corpus, deep, summary

from bot.config import MissingSettingError, Settings
from bot.store.connection import connect
from bot.store.ingress import InboxFull, Ingress
from bot.store.keys import Keys
from bot.web import create_app, safe_json
from bot.web.server import InProcessServer, MetricsServer

PREFIX = "h"
KEYS = Keys(PREFIX)
OTHER_USER = "ou_someone_else_000000000000000000"


def make_settings(redis_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "feishu_encrypt_key": ENCRYPT_KEY,
        "feishu_verification_token": TOKEN,
        "redis_url": redis_url,
        "redis_prefix": PREFIX,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def rds(redis_url: str) -> redis.Redis:
    return connect(redis_url)


@pytest.fixture
def app(redis_url: str, rds: redis.Redis) -> Flask:
    return create_app(make_settings(redis_url), redis=rds)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post(client: FlaskClient, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post("/feishu/events", data=body, headers=headers or {})


def push(client: FlaskClient, event: dict[str, Any] | str, **kw: Any) -> Any:
    if isinstance(event, str):  # raw JSON text (NaN, lone surrogates, duplicate keys stay as written)
        raw = event.encode("utf-8", "surrogatepass")
        if kw.pop("encrypted", True):
            raw = json.dumps(encrypt(raw, ENCRYPT_KEY)).encode()
        return post(client, raw, sign(str(int(time.time())), "n-raw", ENCRYPT_KEY, raw))
    body, headers = delivery(event, **kw)
    return post(client, body, headers)


def inbox(rds: redis.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in rds.xrange(KEYS.inbox)]


def counter(app: Flask, name: str, **labels: str) -> float:
    registry = app.extensions["seedance_bot"]["metrics"].registry
    return float(registry.get_sample_value(name, labels) or 0.0)


# --- 1. verify before anything else ---------------------------------------------------------------


@pytest.mark.parametrize("levels", [65, 1000, 100_000])
def test_deep_nesting_signed_is_400_not_recursion(client: FlaskClient, rds: redis.Redis, levels: int) -> None:
    for text in (deep(levels), '{"a":' * levels + "1" + "}" * levels):
        for encrypted in (False, True):
            r = push(client, text, encrypted=encrypted)
            assert r.status_code == 400, (levels, encrypted, r.status_code)
            assert r.json == {"msg": "too_deep"}
    assert rds.dbsize() == 0


def test_nesting_within_the_limit_is_parsed() -> None:
    assert safe_json.loads(deep(64)) == json.loads(deep(64))
    with pytest.raises(safe_json.BadJson):
        safe_json.loads(deep(65))
    # brackets inside strings do not count; an unterminated string stops the scan
    assert safe_json.loads(json.dumps({"s": "[" * 10_000})) == {"s": "[" * 10_000}
    assert not safe_json.too_deep('"' + "[" * 100)


def test_deep_nesting_unsigned_is_refused_without_recursion(client: FlaskClient) -> None:
    assert post(client, deep(100_000).encode()).status_code == 401  # over 4 KiB unsigned: never parsed
    assert post(client, deep(1500).encode()).status_code == 400  # small enough to be a challenge: pre-scan
    challenge = f'{{"type":"url_verification","token":"{TOKEN}","challenge":{deep(1000)}}}'
    assert post(client, challenge.encode()).status_code == 400


def test_signature_is_checked_before_any_parse(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = safe_json.loads

    def spy(data: Any, **kw: Any) -> Any:
        calls.append(len(data))
        return real(data, **kw)

    monkeypatch.setattr(safe_json, "loads", spy)
    body, headers = delivery(message_event(), signing_key="attacker-key")
    assert post(client, body, headers).status_code == 401
    body = deep(100_000).encode()
    assert post(client, body, sign(str(int(time.time())), "n", "attacker", body)).status_code == 401
    body, headers = delivery(message_event(), timestamp=time.time() - 3600)
    assert post(client, body, headers).status_code == 401  # stale: refused before parsing too
    big_unsigned = json.dumps(message_event("x" * 5000)).encode()
    assert post(client, big_unsigned).status_code == 401
    assert calls == []
    # an unsigned small body is parsed, but only to see whether it is the challenge
    assert post(client, json.dumps(url_verification("c1")).encode()).json == {"challenge": "c1"}
    assert len(calls) == 1


def test_challenge_echo_is_json_even_for_odd_challenges(client: FlaskClient) -> None:
    odd = 'a"b\\c</script>\u2028'
    r = post(client, json.dumps(url_verification(odd)).encode())
    assert r.status_code == 200
    assert r.json == {"challenge": odd}
    r = post(client, json.dumps({**url_verification(), "challenge": ["x"]}).encode())
    assert r.status_code == 400


# --- 2. never 5xx on bad input, never a poison message --------------------------------------------


def test_lone_surrogates_are_stored_as_replacement_characters(client: FlaskClient, rds: redis.Redis,
                                                              redis_url: str) -> None:
    doc = json.dumps(message_event("SURR", chat_type="p2p")).replace("SURR", "cat \\ud800 dog \\udfff")
    r = push(client, doc)  # the surrogates sit in the event's JSON, around the content string
    assert r.status_code == 200
    [entry] = inbox(rds)
    payload = json.loads(entry["payload"])
    content = payload["event"]["message"]["content"]
    assert "\ufffd" in content or "\\ufffd" in content
    raw = redis.Redis.from_url(redis_url).xrange(KEYS.inbox)
    raw[0][1][b"payload"].decode("utf-8")  # strict UTF-8 in Redis: readable by any client
    # and a surrogate in plain event text (not inside the content string)
    doc2 = json.dumps(message_event(chat_type="p2p", extra_message_fields={"note": "N"})).replace(
        '"note": "N"', '"note": "a\\ud800b"')
    assert push(client, doc2).status_code == 200
    assert json.loads(inbox(rds)[1]["payload"])["event"]["message"]["note"] == "a\ufffdb"


def test_lone_surrogate_in_a_key_and_in_ids(client: FlaskClient, rds: redis.Redis) -> None:
    doc = message_event(chat_type="p2p")
    text = json.dumps(doc).replace('"message":', '"\\ud800key": "\\udc00", "message":', 1)
    assert push(client, text).status_code == 200
    bad_id = json.dumps(message_event(chat_type="p2p", message_id="SURRID")).replace("SURRID", "om_\\ud800")
    assert push(client, bad_id).status_code == 400  # ids become key names: printable ASCII only
    assert len(inbox(rds)) == 1


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000])
def test_non_finite_numbers_are_refused(client: FlaskClient, rds: redis.Redis, value: str) -> None:
    text = json.dumps(message_event(chat_type="p2p")).replace('"schema": "2.0"', f'"n": {value}, "schema": "2.0"')
    assert push(client, text).status_code == 400
    assert rds.dbsize() == 0


def test_duplicate_keys_last_wins_and_is_storable(client: FlaskClient, rds: redis.Redis) -> None:
    text = json.dumps(message_event(chat_type="p2p")).replace('"schema": "2.0"', '"schema": 1, "schema": "2.0"')
    assert push(client, text).status_code == 200
    assert json.loads(inbox(rds)[0]["payload"])["schema"] == "2.0"


@pytest.mark.parametrize("body", [b"\xff\xfe\x00", "{\"k\": \"é\"}".encode("latin-1"),
                                  json.dumps({"a": 1}).encode("utf-16"), b"\xef\xbb\xbf{}"])
def test_non_utf8_bodies_are_400(client: FlaskClient, body: bytes) -> None:
    assert post(client, body, sign(str(int(time.time())), "n", ENCRYPT_KEY, body)).status_code == 400


@pytest.mark.parametrize("field, value", [
    ("header", None), ("header", []), ("header", "h"), ("event", None), ("event", [1]), ("event", "e"),
    ("message", None), ("message", 5), ("sender", "user"), ("sender", None), ("mentions", "x"),
    ("mentions", [None, 1, "a", {"id": 5}, {"id": ["x"]}]), ("content", 5), ("content", None),
    ("content", {"text": "obj"}), ("message_type", ["text"]), ("chat_type", {"p2p": 1}),
    ("message_id", 5), ("message_id", "x" * 200), ("message_id", "om with space"), ("event_id", None),
])
def test_wrong_types_anywhere_are_2xx_or_4xx(client: FlaskClient, rds: redis.Redis, field: str,
                                             value: Any) -> None:
    doc = message_event(chat_type="p2p")
    msg = doc["event"]["message"]
    if field in ("header", "event"):
        doc[field] = value
    elif field in ("message", "sender"):
        doc["event"][field] = value
    elif field == "event_id":
        doc["header"]["event_id"] = value
    else:
        msg[field] = value
    r = push(client, doc)
    assert r.status_code in (200, 400), r.status_code
    for entry in inbox(rds):
        json.loads(entry["payload"])  # whatever was stored reads back


def test_content_not_matching_message_type_is_stored_raw(client: FlaskClient, rds: redis.Redis) -> None:
    doc = message_event(chat_type="p2p", extra_message_fields={"message_type": "image", "content": "not json"})
    assert push(client, doc).status_code == 200
    assert json.loads(inbox(rds)[0]["payload"])["event"]["message"]["content"] == "not json"


def test_the_seeded_corpus_in_process(app: Flask, client: FlaskClient, rds: redis.Redis) -> None:
    cases = corpus(encrypt_key=ENCRYPT_KEY, token=TOKEN, bot_open_id=BOT_OPEN_ID,
                   max_body=app.extensions["seedance_bot"]["settings"].max_body_bytes)
    assert len(cases) >= 500
    results = []
    for case in cases:
        status = post(client, case.body, case.headers).status_code
        results.append((case, status))
    print(summary(results))
    wrong = [(c.category, c.note, s) for c, s in results if s not in c.expect]
    assert not wrong, wrong[:20]
    assert counter(app, "bot_feishu_rejected_total", reason="internal") == 0
    for entry in inbox(rds):
        payload = json.loads(entry["payload"])
        assert TOKEN not in entry["payload"]
        assert payload["header"].get("token") is None


# --- 3. no secrets in Redis ------------------------------------------------------------------------


def test_verification_token_is_not_stored(client: FlaskClient, rds: redis.Redis) -> None:
    assert push(client, message_event(chat_type="p2p")).status_code == 200
    assert push(client, card_action({"a": "approve", "rid": "req_1", "owner": USER_OPEN_ID})).status_code == 200
    entries = inbox(rds)
    assert [e["kind"] for e in entries] == ["message", "card"]
    for e in entries:
        assert TOKEN not in e["payload"]
        assert "token" not in json.loads(e["payload"])["header"]


# --- 5. inbox keeps only what the bot needs ----------------------------------------------------------


def test_p2p_messages_are_kept(client: FlaskClient, rds: redis.Redis) -> None:
    assert push(client, message_event("hello", chat_type="p2p")).status_code == 200
    assert len(inbox(rds)) == 1


def test_group_messages_are_kept_only_when_they_mention_the_bot(app: Flask, client: FlaskClient,
                                                                rds: redis.Redis) -> None:
    rds.set(KEYS.bot_open_id, BOT_OPEN_ID)
    other = mention_bot(open_id=OTHER_USER, name="Bob")
    other["mentioned_type"] = "user"
    assert push(client, message_event("@_user_1 hi")).status_code == 200  # mentions the bot: kept
    assert push(client, message_event("just chatting", mentions=[])).status_code == 200
    assert push(client, message_event("@_user_1 /video x", mentions=[other])).status_code == 200
    assert push(client, message_event("/video no mention", mentions=[])).status_code == 200
    assert len(inbox(rds)) == 1
    assert counter(app, "bot_feishu_events_total", outcome="unaddressed") == 3


def test_without_a_cached_bot_id_mentions_or_slashes_are_kept(app: Flask, client: FlaskClient,
                                                             rds: redis.Redis) -> None:
    other = mention_bot(open_id=OTHER_USER, name="Bob")
    assert push(client, message_event("@_user_1 hi", mentions=[other])).status_code == 200  # mentions someone
    assert push(client, message_event("/video a cat", mentions=[])).status_code == 200  # a slash command
    assert push(client, message_event("、视频 小猫", mentions=[])).status_code == 200  # IME slash
    assert push(client, message_event("lunch?", mentions=[])).status_code == 200  # neither: dropped
    assert len(inbox(rds)) == 3
    assert counter(app, "bot_feishu_events_total", outcome="unaddressed") == 1


def test_card_actions_are_always_kept_and_other_events_dropped(app: Flask, client: FlaskClient,
                                                               rds: redis.Redis) -> None:
    rds.set(KEYS.bot_open_id, BOT_OPEN_ID)
    assert push(client, card_action({"a": "approve", "rid": "req_1", "owner": USER_OPEN_ID})).status_code == 200
    assert push(client, generic_event("im.chat.member.bot.added_v1", {"chat_id": "oc_1"})).status_code == 200
    assert [e["kind"] for e in inbox(rds)] == ["card"]
    assert counter(app, "bot_feishu_events_total", outcome="ignored") == 1


# --- 6. inbox bound, OOM --------------------------------------------------------------------------


def test_full_inbox_answers_503_and_writes_nothing(redis_url: str, rds: redis.Redis) -> None:
    app = create_app(make_settings(redis_url, inbox_max=10), redis=rds)
    client = app.test_client()
    events = [message_event(chat_type="p2p") for _ in range(11)]
    assert [push(client, e).status_code for e in events[:10]] == [200] * 10
    r = push(client, events[10])
    assert r.status_code == 503
    refused = events[10]
    assert not rds.exists(KEYS.event(refused["header"]["event_id"]))
    assert not rds.exists(KEYS.message(refused["event"]["message"]["message_id"]))
    assert rds.xlen(KEYS.inbox) == 10
    assert push(client, events[3]).status_code == 200  # a redelivery of a queued one: still a duplicate
    assert counter(app, "bot_feishu_deferred_total", reason="inbox_full") == 1
    # a worker XDELs an entry after XACK: room again, and Feishu's redelivery gets in
    first_id = rds.xrange(KEYS.inbox, count=1)[0][0]
    rds.xdel(KEYS.inbox, first_id)
    assert push(client, refused).status_code == 200
    assert rds.xlen(KEYS.inbox) == 10


def test_inbox_is_never_trimmed(rds: redis.Redis) -> None:
    ingress = Ingress(rds, KEYS, inbox_max=50_000)
    pipe_events = 300
    for i in range(pipe_events):
        ingress.accept_event(f"e{i}", None, "message", {"i": i})
    assert rds.xlen(KEYS.inbox) == pipe_events
    small = Ingress(rds, KEYS, inbox_max=pipe_events)
    with pytest.raises(InboxFull):
        small.accept_event("e-over", "om-over", "message", {})
    assert not rds.exists(KEYS.event("e-over")) and not rds.exists(KEYS.message("om-over"))


@pytest.fixture
def tiny_redis(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
                             str(tmp_path), "--save", "", "--appendonly", "no",
                             "--maxmemory-policy", "noeviction"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_redis_out_of_memory_is_503_with_a_clear_log_and_no_marker(
    tiny_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    r = connect(tiny_redis)
    app = create_app(make_settings(tiny_redis), redis=r)
    client = app.test_client()
    assert push(client, message_event(chat_type="p2p")).status_code == 200
    r.config_set("maxmemory", "1")  # anything in use is over: every write is refused with OOM
    event = message_event(chat_type="p2p")
    with caplog.at_level(logging.ERROR, logger="bot.web.feishu_events"):
        resp = push(client, event)
    assert resp.status_code == 503
    assert "Redis is out of memory" in caplog.text
    assert not r.exists(KEYS.event(event["header"]["event_id"]))
    assert not r.exists(KEYS.message(event["event"]["message"]["message_id"]))
    assert r.xlen(KEYS.inbox) == 1
    assert counter(app, "bot_feishu_deferred_total", reason="redis_oom") == 1
    r.config_set("maxmemory", "0")
    assert push(client, event).status_code == 200  # Feishu's redelivery gets through


# --- 7. /metrics ----------------------------------------------------------------------------------


def test_metrics_need_the_bearer_token_when_set(redis_url: str, rds: redis.Redis) -> None:
    client = create_app(make_settings(redis_url, metrics_token="m-secret-123"), redis=rds).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "m-secret-123"}).status_code == 401
    r = client.get("/metrics", headers={"Authorization": "Bearer m-secret-123"})
    assert r.status_code == 200
    assert b"bot_feishu_events" in r.data


def test_metrics_are_public_without_a_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200


def test_metrics_port_moves_metrics_off_the_main_port(redis_url: str, rds: redis.Redis) -> None:
    port = free_port()
    app = create_app(make_settings(redis_url, metrics_port=port, metrics_token="m-secret-123"), redis=rds)
    assert app.test_client().get("/metrics").status_code == 404
    server = InProcessServer(app, host="127.0.0.1", port=0, threads=2)
    server.start()
    try:
        assert server.metrics is not None
        url = f"http://127.0.0.1:{server.metrics.port}"
        assert requests.get(url + "/metrics", timeout=5).status_code == 401
        r = requests.get(url + "/metrics", headers={"Authorization": "Bearer m-secret-123"}, timeout=5)
        assert r.status_code == 200 and "bot_feishu_events" in r.text
        assert requests.get(url + "/feishu/events", timeout=5).status_code == 404
        assert requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).status_code == 404
    finally:
        server.close()


def test_metrics_server_alone(redis_url: str, rds: redis.Redis) -> None:
    app = create_app(make_settings(redis_url), redis=rds)
    server = MetricsServer(app, host="127.0.0.1", port=0)
    server.start()
    try:
        r = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
        assert r.status_code == 200
        assert requests.post(f"http://127.0.0.1:{server.port}/metrics", timeout=5).status_code == 405
    finally:
        server.close()


# --- 8. token-only mode ---------------------------------------------------------------------------


def test_token_only_mode_is_refused_at_start_up(redis_url: str) -> None:
    with pytest.raises(MissingSettingError) as info:
        create_app(make_settings(redis_url, feishu_encrypt_key=""))
    text = str(info.value)
    assert "FEISHU_ENCRYPT_KEY" in text and "FEISHU_ALLOW_TOKEN_ONLY=true" in text and "forge" in text
    assert TOKEN not in text


def test_token_only_mode_when_allowed_requires_the_token_everywhere(redis_url: str, rds: redis.Redis) -> None:
    client = create_app(make_settings(redis_url, feishu_encrypt_key="", feishu_allow_token_only=True),
                        redis=rds).test_client()
    ok = message_event(chat_type="p2p")
    no_token = message_event(chat_type="p2p")
    del no_token["header"]["token"]
    assert push(client, ok, key=None).status_code == 200
    assert push(client, no_token, key=None).status_code == 401
    assert push(client, message_event(chat_type="p2p", token="nope"), key=None).status_code == 401
    assert push(client, message_event(chat_type="p2p"), key=ENCRYPT_KEY).status_code == 400  # cannot decrypt
    assert post(client, deep(100_000).encode()).status_code == 400


# --- Ark callback -----------------------------------------------------------------------------------


def test_ark_callback_with_deep_nesting_is_still_a_hint(client: FlaskClient, rds: redis.Redis) -> None:
    rds.set(KEYS.callback("s3cr3t-0123456789abcdef"), "rid-1")
    r = client.post("/ark/callback/s3cr3t-0123456789abcdef", data=deep(30_000).encode())
    assert r.status_code == 200
    r = client.post("/ark/callback/s3cr3t-0123456789abcdef", data=b'{"status": NaN, "x": "\\ud800"}')
    assert r.status_code == 200
    assert [f for _, f in rds.xrange(KEYS.watch)] == [{"rid": "rid-1", "reason": "callback"}] * 2


# --- 4. the waitress server: body limit, header limit, slow clients ---------------------------------


@pytest.fixture
def waitress_app(redis_url: str, rds: redis.Redis) -> Iterator[tuple[str, InProcessServer]]:
    app = create_app(make_settings(redis_url, max_body_bytes=64 * 1024), redis=rds)
    server = InProcessServer(app, host="127.0.0.1", port=0, threads=4)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", server
    finally:
        server.close()


def test_waitress_caps_the_body_at_max_body_bytes(waitress_app: tuple[str, InProcessServer],
                                                  rds: redis.Redis) -> None:
    url, _ = waitress_app
    r = requests.post(url + "/feishu/events", data=b"x" * (70 * 1024), timeout=10)
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"y" * 1024

    r = requests.post(url + "/feishu/events", data=chunks(), timeout=10)  # chunked, no Content-Length
    assert r.status_code == 413
    # the limit is waitress's own, not only Flask's: a server capped below the app's limit refuses first
    tight = InProcessServer(waitress_app[1].app, host="127.0.0.1", port=0,
                            threads=2, max_body_bytes=4096)
    tight.start()
    try:
        r = requests.post(f"http://127.0.0.1:{tight.port}/feishu/events", data=b"{" + b" " * 10_000 + b"}",
                          timeout=10)
        assert r.status_code == 413
    finally:
        tight.close()
    big_header = {"X-Big": "z" * (40 * 1024)}
    assert requests.post(url + "/feishu/events", data=b"{}", headers=big_header, timeout=10).status_code in (400, 431)
    assert rds.dbsize() == 0


def test_slow_clients_do_not_hold_the_threads(waitress_app: tuple[str, InProcessServer],
                                              rds: redis.Redis) -> None:
    url, server = waitress_app
    slow: list[socket.socket] = []
    stop = threading.Event()
    try:
        for _ in range(50):  # more than the 4 threads, each sending a header line now and then
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"POST /feishu/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n")
            slow.append(s)

        def drip() -> None:
            while not stop.wait(0.5):
                for s in slow:
                    try:
                        s.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        pass

        threading.Thread(target=drip, daemon=True).start()
        time.sleep(0.5)
        body, headers = delivery(message_event(chat_type="p2p"))
        r = requests.post(url + "/feishu/events", data=body, headers=headers, timeout=10)  # generous bound
        assert r.status_code == 200
        assert rds.xlen(KEYS.inbox) == 1
    finally:
        stop.set()
        for s in slow:
            s.close()


# --- gunicorn (`seedance-bot web`): header limits, /metrics on BOT_METRICS_PORT from the master ----


def test_gunicorn_web_limits_and_metrics_port(redis_url: str, tmp_path: Path) -> None:
    import os
    import signal
    import sys

    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "REDIS_", "BOT_"))}
    env.update(REDIS_URL=redis_url, REDIS_PREFIX=PREFIX, FEISHU_ENCRYPT_KEY=ENCRYPT_KEY,
               FEISHU_VERIFICATION_TOKEN=TOKEN, BOT_PORT=str(port), WEB_CONCURRENCY="1",
               BOT_METRICS_PORT=str(metrics_port), BOT_METRICS_TOKEN="m-secret-123", LOG_LEVEL="WARNING")
    cli = str(Path(sys.executable).parent / "seedance-bot")
    proc = subprocess.Popen([cli, "web"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                pytest.fail(f"seedance-bot web exited: {proc.stdout.read().decode() if proc.stdout else ''}")
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert requests.get(base + "/metrics", timeout=5).status_code == 404
        murl = f"http://127.0.0.1:{metrics_port}/metrics"
        assert requests.get(murl, timeout=5).status_code == 401
        # An unsigned POST is refused and counted in a gunicorn worker; the master's port shows it
        # (multiprocess mode: a labelled counter has no sample before its first count).
        assert requests.post(base + "/feishu/events", data=b"{}", timeout=5).status_code in (400, 401)
        r = requests.get(murl, headers={"Authorization": "Bearer m-secret-123"}, timeout=5)
        assert r.status_code == 200 and "bot_feishu_rejected_total{" in r.text, r.text
        r = requests.post(base + "/feishu/events", data=b"{}", headers={"X-Big": "z" * 9000}, timeout=5)
        assert r.status_code in (400, 431)  # limit_request_field_size
        r = requests.post(base + "/feishu/events", data=deep(100_000).encode(), timeout=5)
        assert r.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out = proc.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert ENCRYPT_KEY not in out and TOKEN not in out and "m-secret-123" not in out
