"""The webhook over real HTTP on loopback against a real Redis.

Events are built and encrypted/signed by `builders` (pycryptodome, independent
of the bot), posted with `requests` to the app served by werkzeug in a thread,
and one test goes through the real `seedance-bot web` gunicorn process.
No timing assertions: latency is measured in bench/ack_latency.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from builders import (
    ENCRYPT_KEY,
    TOKEN,
    USER_OPEN_ID,
    card_action,
    delivery,
    encrypt,
    generic_event,
    message_event,
    post_event,
    sender_user,
    sign,
    url_verification,
)
from conftest import free_port
from werkzeug.serving import BaseWSGIServer, make_server

from bot.config import MissingSettingError, Settings
from bot.store.connection import connect
from bot.store.keys import DEDUP_TTL, Keys
from bot.web import create_app

PREFIX = "t"
KEYS = Keys(PREFIX)
ADMIN = "ou_admin000000000000000000000000000"
OTHER = "ou_other000000000000000000000000000"
RID = "req_0123456789abcdef"


def make_settings(redis_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "feishu_encrypt_key": ENCRYPT_KEY,
        "feishu_verification_token": TOKEN,
        "redis_url": redis_url,
        "redis_prefix": PREFIX,
        "bot_admins": ADMIN,
        "max_body_bytes": 64 * 1024,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Live:
    """An app served on a loopback port in a thread."""

    url: str
    server: BaseWSGIServer
    redis: redis.Redis

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(self.url + path, data=body, headers=headers or {}, timeout=10)

    def push(self, event: dict[str, Any], **kw: Any) -> requests.Response:
        body, headers = delivery(event, **kw)
        return self.post("/feishu/events", body, headers)

    def inbox(self) -> list[dict[str, str]]:
        return [fields for _, fields in self.redis.xrange(KEYS.inbox)]

    def watch(self) -> list[dict[str, str]]:
        return [fields for _, fields in self.redis.xrange(KEYS.watch)]


def serve(app: Any, client: redis.Redis) -> Live:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return Live(f"http://127.0.0.1:{server.server_port}", server, client)


@pytest.fixture
def rds(redis_url: str) -> redis.Redis:
    return connect(redis_url)


@pytest.fixture
def live(redis_url: str, rds: redis.Redis) -> Iterator[Live]:
    srv = serve(create_app(make_settings(redis_url), redis=rds), rds)
    yield srv
    srv.server.shutdown()


@pytest.fixture
def live_token_only(redis_url: str, rds: redis.Redis) -> Iterator[Live]:
    settings = make_settings(redis_url, feishu_encrypt_key="", feishu_allow_token_only=True)
    srv = serve(create_app(settings, redis=rds), rds)
    yield srv
    srv.server.shutdown()


# --- url_verification -----------------------------------------------------------------------------


def test_plain_challenge_is_echoed_without_signature_headers(live: Live) -> None:
    r = live.post("/feishu/events", json.dumps(url_verification("c-plain-1")).encode(),
                  {"Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json() == {"challenge": "c-plain-1"}
    assert live.redis.dbsize() == 0


def test_encrypted_challenge_is_echoed_without_signature_headers(live: Live) -> None:
    r = live.push(url_verification("c-enc-2"), signed=False)
    assert r.status_code == 200
    assert r.json() == {"challenge": "c-enc-2"}


def test_challenge_with_wrong_token_is_refused(live: Live) -> None:
    r = live.push(url_verification("c-3", token="not-the-token"), signed=False)
    assert r.status_code == 401


def test_challenge_encrypted_with_another_key_is_refused(live: Live) -> None:
    r = live.push(url_verification("c-4"), key="another-key", signed=False)
    assert r.status_code == 400


# --- accepted events ------------------------------------------------------------------------------


def test_signed_message_lands_once_in_the_inbox_with_the_raw_event(live: Live) -> None:
    event = message_event(extra_message_fields={"brand_new_field": {"kept": True}})
    r = live.push(event)
    assert r.status_code == 200
    assert r.json() == {"msg": "success"}
    entries = live.inbox()
    assert len(entries) == 1
    entry = entries[0]
    assert set(entry) == {"kind", "payload", "received_at"}
    assert entry["kind"] == "message"
    assert int(entry["received_at"]) > 1_600_000_000_000  # ms
    payload = json.loads(entry["payload"])
    assert payload["event"] == event["event"]  # raw: unknown fields survive
    assert payload["header"] == {k: v for k, v in event["header"].items() if k != "token"}
    assert TOKEN not in entry["payload"]  # the verification token is a secret: never stored
    assert payload["schema"] == "2.0"
    ttl = live.redis.ttl(KEYS.event(event["header"]["event_id"]))
    assert 0 < ttl <= DEDUP_TTL
    assert live.redis.ttl(KEYS.message(event["event"]["message"]["message_id"])) > 0


def test_redelivery_of_the_same_event_is_acknowledged_but_enqueued_once(live: Live) -> None:
    event = message_event()
    codes = [live.push(event).status_code for _ in range(6)]  # Feishu's push + 5 redeliveries
    assert codes == [200] * 6
    assert len(live.inbox()) == 1


def test_same_message_in_a_new_envelope_is_enqueued_once(live: Live) -> None:
    first = message_event(message_id="om_same_message_0001")
    second = message_event(message_id="om_same_message_0001")
    assert first["header"]["event_id"] != second["header"]["event_id"]
    assert live.push(first).status_code == 200
    assert live.push(second).status_code == 200
    assert len(live.inbox()) == 1
    # the duplicate changed nothing: no marker for the second envelope's id
    assert not live.redis.exists(KEYS.event(second["header"]["event_id"]))


def test_photo_with_caption_post_is_accepted(live: Live) -> None:
    event = post_event(image_keys=("img_v3_a", "img_v3_b"))
    assert live.push(event).status_code == 200
    [entry] = live.inbox()
    assert json.loads(entry["payload"])["event"]["message"]["message_type"] == "post"


def test_plaintext_signed_event_is_accepted_too(live: Live) -> None:
    # Feishu encrypts when a key is set, but the signature is what authenticates (feishu-api.md §6.8 #8).
    assert live.push(message_event(), key=None, signing_key=ENCRYPT_KEY).status_code == 200
    assert len(live.inbox()) == 1


def test_millisecond_timestamps_are_understood(live: Live) -> None:
    event = message_event()
    body, _ = delivery(event)
    headers = sign(str(int(time.time() * 1000)), "n-ms", ENCRYPT_KEY, body)
    assert live.post("/feishu/events", body, headers).status_code == 200


def test_p2p_message_is_accepted(live: Live) -> None:
    assert live.push(message_event("/video hi", chat_type="p2p")).status_code == 200
    assert len(live.inbox()) == 1


# --- dropped or ignored, still 200 ----------------------------------------------------------------


def test_message_sent_by_a_bot_is_dropped(live: Live) -> None:
    r = live.push(message_event(sender=sender_user("ou_somebot", sender_type="bot")))
    assert r.status_code == 200
    assert live.inbox() == []


def test_unknown_event_type_is_acknowledged_and_ignored(live: Live) -> None:
    r = live.push(generic_event("im.chat.member.bot.added_v1", {"chat_id": "oc_x"}))
    assert r.status_code == 200
    assert live.inbox() == []
    assert live.redis.dbsize() == 0


# --- refused: 4xx, nothing written --------------------------------------------------------------


def _refused(live: Live, r: requests.Response, *codes: int) -> None:
    assert r.status_code in codes, (r.status_code, r.text)
    assert live.redis.dbsize() == 0


def test_forged_signature_is_refused(live: Live) -> None:
    _refused(live, live.push(message_event(), signing_key="attacker-key"), 401)


def test_tampered_signature_is_refused(live: Live) -> None:
    body, headers = delivery(message_event())
    headers["X-Lark-Signature"] = "0" * 64
    _refused(live, live.post("/feishu/events", body, headers), 401)


def test_missing_signature_headers_are_refused(live: Live) -> None:
    _refused(live, live.push(message_event(), signed=False), 401)


def test_one_missing_header_is_refused(live: Live) -> None:
    body, headers = delivery(message_event())
    del headers["X-Lark-Request-Nonce"]
    _refused(live, live.post("/feishu/events", body, headers), 401)


def test_wrong_verification_token_is_refused(live: Live) -> None:
    _refused(live, live.push(message_event(token="wrong-token")), 401)


def test_event_encrypted_and_signed_with_another_key_is_refused(live: Live) -> None:
    _refused(live, live.push(message_event(), key="another-key"), 401, 400)


def test_event_encrypted_with_another_key_but_signed_with_ours_is_refused(live: Live) -> None:
    body = json.dumps(encrypt(message_event(), "another-key")).encode()
    headers = sign(str(int(time.time())), "n1", ENCRYPT_KEY, body)
    _refused(live, live.post("/feishu/events", body, headers), 400)


@pytest.mark.parametrize("age", [3600, -3600, 301])
def test_stale_or_future_timestamp_is_refused(live: Live, age: int) -> None:
    _refused(live, live.push(message_event(), timestamp=time.time() - age), 401)


def test_non_numeric_timestamp_is_refused(live: Live) -> None:
    body, _ = delivery(message_event())
    _refused(live, live.post("/feishu/events", body, sign("yesterday", "n", ENCRYPT_KEY, body)), 401)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2,3]", b'"str"', b"\xff\xfe", b'{"encrypt": 12}',
                                  b'{"encrypt": "!!!notbase64"}'])
def test_garbage_body_is_refused(live: Live, body: bytes) -> None:
    _refused(live, live.post("/feishu/events", body, sign(str(int(time.time())), "n", ENCRYPT_KEY, body)),
             400, 401)
    _refused(live, live.post("/feishu/events", body), 400, 401)


def test_oversize_body_is_refused(live: Live) -> None:
    event = message_event("x" * 70_000)  # over the app's 64 KiB max_body_bytes
    _refused(live, live.push(event), 413)


def test_legacy_card_payload_is_refused(live: Live) -> None:
    legacy = {"open_id": USER_OPEN_ID, "open_message_id": "om_1", "token": "c-legacy",
              "action": {"value": {"a": "x"}, "tag": "button"}}
    _refused(live, live.push(legacy), 401, 400)


def test_get_is_not_allowed(live: Live) -> None:
    assert requests.get(live.url + "/feishu/events", timeout=5).status_code == 405


# --- token-only mode (no encrypt key) -------------------------------------------------------------


def test_token_only_mode_accepts_plain_events_with_the_token(live_token_only: Live) -> None:
    assert live_token_only.push(message_event(), key=None).status_code == 200
    assert len(live_token_only.inbox()) == 1


def test_token_only_mode_refuses_a_wrong_token(live_token_only: Live) -> None:
    _refused(live_token_only, live_token_only.push(message_event(token="nope"), key=None), 401)


# --- card callbacks -------------------------------------------------------------------------------


def _button(owner: str = USER_OPEN_ID, lang: str = "en", **extra: str) -> dict[str, str]:
    return {"a": "approve", "rid": RID, "owner": owner, "lang": lang, **extra}


def test_card_click_by_the_owner_is_enqueued_with_a_toast(live: Live) -> None:
    event = card_action(_button())
    r = live.push(event)
    assert r.status_code == 200
    toast = r.json()["toast"]
    assert toast["type"] == "info"
    assert toast["content"] == "Working on it…"
    assert toast["i18n"] == {"zh_cn": "处理中…", "en_us": "Working on it…"}
    [entry] = live.inbox()
    assert entry["kind"] == "card"
    payload = json.loads(entry["payload"])
    assert payload["header"]["event_id"] == event["header"]["event_id"]
    assert payload["event"]["action"]["value"] == _button()
    assert payload["event"]["operator"]["open_id"] == USER_OPEN_ID
    assert payload["event"]["context"]["open_message_id"] == event["event"]["context"]["open_message_id"]


def test_card_click_redelivered_is_enqueued_once(live: Live) -> None:
    event = card_action(_button(lang="zh"))
    toasts = [live.push(event).json()["toast"]["content"] for _ in range(3)]
    assert toasts == ["处理中…"] * 3
    assert len(live.inbox()) == 1


def test_card_click_by_someone_else_is_refused_with_a_toast(live: Live) -> None:
    r = live.push(card_action(_button(), operator=OTHER))
    assert r.status_code == 200
    toast = r.json()["toast"]
    assert toast["type"] == "error"
    assert toast["content"] == "Only the person who made this request can use these buttons."
    assert live.redis.dbsize() == 0


def test_card_refusal_names_the_owner_in_their_language(live: Live) -> None:
    r = live.push(card_action(_button(lang="zh", owner_name="张三"), operator=OTHER))
    assert r.json()["toast"]["content"] == "只有张三可以使用这些按钮。"
    assert r.json()["toast"]["i18n"]["en_us"] == "Only 张三 can use these buttons."
    assert live.inbox() == []


def test_card_click_by_an_admin_is_enqueued(live: Live) -> None:
    r = live.push(card_action(_button(), operator=ADMIN))
    assert r.json()["toast"]["type"] == "info"
    assert len(live.inbox()) == 1


def test_card_without_our_value_gets_an_error_toast(live: Live) -> None:
    r = live.push(card_action({"action": "approve_draft", "draft_id": "d42"}))
    assert r.status_code == 200
    assert r.json()["toast"]["type"] == "error"
    assert live.redis.dbsize() == 0


def test_forged_card_click_is_refused(live: Live) -> None:
    _refused(live, live.push(card_action(_button()), signing_key="attacker"), 401)


# --- Ark callback ---------------------------------------------------------------------------------

SECRET = "s3cr3t-0123456789abcdef"


def test_ark_callback_with_known_secret_is_a_watch_hint(live: Live) -> None:
    live.redis.set(KEYS.callback(SECRET), RID)
    body = json.dumps({"id": "cgt-2025", "status": "succeeded", "content": {"video_url": "https://x"}})
    r = live.post(f"/ark/callback/{SECRET}", body.encode(), {"Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json() == {}
    assert live.watch() == [{"rid": RID, "reason": "callback", "status": "succeeded"}]


def test_ark_callback_with_odd_body_is_still_a_hint(live: Live) -> None:
    live.redis.set(KEYS.callback(SECRET), RID)
    r = live.post(f"/ark/callback/{SECRET}", b"not json")
    assert r.status_code == 200
    assert live.watch() == [{"rid": RID, "reason": "callback"}]


@pytest.mark.parametrize("secret", ["unknown-secret-0000000", "short", "bad$chars$0123456789"])
def test_ark_callback_with_unknown_secret_is_404(live: Live, secret: str) -> None:
    r = live.post(f"/ark/callback/{secret}", b'{"status":"succeeded"}')
    assert r.status_code == 404
    assert live.watch() == []


def test_ark_callback_body_is_capped(live: Live) -> None:
    live.redis.set(KEYS.callback(SECRET), RID)
    r = live.post(f"/ark/callback/{SECRET}", b"{" + b" " * 60_000 + b"}")  # 60 KB: under the 64 KiB cap
    assert r.status_code == 200
    r = live.post(f"/ark/callback/{SECRET}", b" " * 70_000)
    assert r.status_code == 413


# --- Redis down, health, metrics ------------------------------------------------------------------


@pytest.fixture
def live_no_redis() -> Iterator[Live]:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = connect(url, socket_timeout=0.5, connect_timeout=0.5, retries=0)
    srv = serve(create_app(make_settings(url), redis=client), client)
    yield srv
    srv.server.shutdown()


def test_redis_down_means_503_so_feishu_redelivers(live_no_redis: Live) -> None:
    assert live_no_redis.push(message_event()).status_code == 503
    assert live_no_redis.push(card_action(_button())).status_code == 503
    r = live_no_redis.post(f"/ark/callback/{SECRET}", b"{}")
    assert r.status_code == 503
    assert requests.get(live_no_redis.url + "/healthz", timeout=5).status_code == 503


def test_redis_down_still_refuses_forgeries_with_4xx(live_no_redis: Live) -> None:
    assert live_no_redis.push(message_event(), signing_key="attacker").status_code == 401
    assert live_no_redis.push(message_event(), signed=False).status_code == 401


def test_redis_down_does_not_block_challenge(live_no_redis: Live) -> None:
    assert live_no_redis.push(url_verification("c-5"), signed=False).json() == {"challenge": "c-5"}


def test_redis_stopped_mid_flight_means_503_then_recovers(tmp_path: Path) -> None:
    from conftest import redis_server_binary

    port = free_port()
    args = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
            "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = connect(url, socket_timeout=0.5, connect_timeout=0.5, retries=1)
    try:
        _wait_for_redis(client)
        srv = serve(create_app(make_settings(url), redis=client), client)
        assert srv.push(message_event()).status_code == 200
        proc.terminate()
        proc.wait(10)
        event = message_event()
        assert srv.push(event).status_code == 503
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        _wait_for_redis(client)
        assert srv.push(event).status_code == 200  # Feishu's redelivery gets through
        srv.server.shutdown()
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_for_redis(client: redis.Redis) -> None:
    for _ in range(200):
        try:
            client.ping()
            return
        except redis.RedisError:
            time.sleep(0.02)
    raise RuntimeError("redis did not start")


def test_healthz_ok(live: Live) -> None:
    r = requests.get(live.url + "/healthz", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"ok": True}


def test_metrics_count_outcomes(live: Live) -> None:
    event = message_event()
    live.push(event)
    live.push(event)
    live.push(message_event(), signing_key="attacker")
    text = requests.get(live.url + "/metrics", timeout=5).text
    assert 'bot_feishu_events_total{outcome="accepted"} 1.0' in text
    assert 'bot_feishu_events_total{outcome="duplicate"} 1.0' in text
    assert 'bot_feishu_rejected_total{reason="bad_signature"} 1.0' in text
    assert "bot_web_handling_seconds_bucket" in text


# --- configuration --------------------------------------------------------------------------------


def test_create_app_without_redis_url_names_the_variable() -> None:
    with pytest.raises(MissingSettingError, match="REDIS_URL"):
        create_app(make_settings(None))


def test_create_app_without_any_feishu_secret_refuses_to_start(redis_url: str) -> None:
    with pytest.raises(MissingSettingError, match="FEISHU_ENCRYPT_KEY"):
        create_app(make_settings(redis_url, feishu_encrypt_key="", feishu_verification_token=""))


def test_two_apps_in_one_process_have_separate_metrics(redis_url: str, rds: redis.Redis) -> None:
    a = create_app(make_settings(redis_url), redis=rds)
    b = create_app(make_settings(redis_url), redis=rds)
    registries = [x.extensions["seedance_bot"]["metrics"].registry for x in (a, b)]
    assert registries[0] is not registries[1]


# --- the real `seedance-bot web` under gunicorn ---------------------------------------------------


def _bot_env(redis_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "REDIS_", "BOT_"))}
    env.update(REDIS_URL=redis_url, REDIS_PREFIX=PREFIX, FEISHU_ENCRYPT_KEY=ENCRYPT_KEY,
               FEISHU_VERIFICATION_TOKEN=TOKEN, BOT_PORT=str(port), WEB_CONCURRENCY="2",
               LOG_LEVEL="WARNING")
    return env


def _cli() -> str:
    return str(Path(sys.executable).parent / "seedance-bot")


def test_seedance_bot_web_under_gunicorn(redis_url: str, rds: redis.Redis, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([_cli(), "web"], env=_bot_env(redis_url, port), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
        else:
            pytest.fail("seedance-bot web did not come up")
        body, headers = delivery(url_verification("c-gunicorn"), signed=False)
        assert requests.post(base + "/feishu/events", data=body, headers=headers, timeout=5).json() == {
            "challenge": "c-gunicorn"}
        event = message_event()
        for _ in range(3):
            body, headers = delivery(event)
            r = requests.post(base + "/feishu/events", data=body, headers=headers, timeout=5)
            assert r.status_code == 200
        body, headers = delivery(message_event(), signing_key="attacker")
        r = requests.post(base + "/feishu/events", data=body, headers=headers, timeout=5)
        assert r.status_code == 401
        assert rds.xlen(KEYS.inbox) == 1
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful shutdown
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0


def test_seedance_bot_web_without_redis_url_says_which_variable(tmp_path: Path) -> None:
    env = _bot_env("", free_port())
    del env["REDIS_URL"]
    r = subprocess.run([_cli(), "web"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "REDIS_URL" in r.stderr
