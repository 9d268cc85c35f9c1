"""Chaos faults of both simulators, over real loopback HTTP.

Ark: lost create answers (the task exists, the client does not learn it) as a rate and as
one-shots, rejecting one-shots on every task route, counters. Feishu: per-operation faults
(before/after, one-shots and rates), the outbound request log, 429 headers.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator
from sim.stack import wait_until

pytest_plugins = ["fixtures_ark", "fixtures_feishu"]

KEY = "test-key"
PRO10 = "seedance-1-0-pro-250528"
PRO15 = "seedance-1-5-pro-251215"
ArkFactory = Callable[..., ArkSimulator]


# --- Ark helpers ------------------------------------------------------------------------------------


class Ark:
    """Plain HTTP against the Ark simulator: the API and its /__sim__ controls."""

    def __init__(self, sim: ArkSimulator, key: str = KEY) -> None:
        self.base = sim.base_url
        self.origin = sim.base_url.removesuffix("/api/v3")
        self.s = requests.Session()
        self.s.trust_env = False
        self.s.headers["Authorization"] = f"Bearer {key}"

    def create(self, prompt: str = "a cat yawns", timeout: float = 30, **params: Any) -> requests.Response:
        body = {"model": params.pop("model", PRO10), "content": [{"type": "text", "text": prompt}], **params}
        return self.s.post(f"{self.base}/contents/generations/tasks", json=body, timeout=timeout)

    def get(self, task_id: str) -> requests.Response:
        return self.s.get(f"{self.base}/contents/generations/tasks/{task_id}", timeout=30)

    def list(self, params: list[tuple[str, Any]] | None = None) -> requests.Response:
        return self.s.get(f"{self.base}/contents/generations/tasks", params=params or [], timeout=30)

    def delete(self, task_id: str) -> requests.Response:
        return self.s.delete(f"{self.base}/contents/generations/tasks/{task_id}", json={}, timeout=30)

    def sim(self, method: str, path: str, body: Any = None) -> Any:
        r = self.s.request(method, f"{self.origin}/__sim__/{path}", json=body, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def faults(self, *specs: dict[str, Any]) -> dict[str, Any]:
        return dict(self.sim("POST", "faults", list(specs)))

    def tasks(self) -> list[dict[str, Any]]:
        return list(self.sim("GET", "tasks"))


def envelope(r: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message", "param", "type"} and err["code"] == code
    assert err["message"].endswith(f"Request id: {r.headers['X-Request-Id']}")
    return dict(err)


def wait_for(pred: Callable[[], Any], timeout: float = 15.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("condition not reached")


# --- Ark: lost create answers ------------------------------------------------------------------------


def test_lost_500_creates_a_task_the_client_does_not_learn(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0)
    ark = Ark(sim)
    state = ark.faults({"op": "create", "mode": "lost-500", "count": 1})
    assert state["pending"] == [{"op": "create", "mode": "lost-500", "count": 1}]
    err = envelope(ark.create("lost one"), 500, "InternalServiceError")
    assert err["type"] == "InternalServerError"
    listed = ark.list().json()
    assert listed["total"] == 1  # it exists and is listed ...
    tid = listed["items"][0]["id"]
    sim.advance(1000)
    assert ark.get(tid).json()["status"] == "succeeded"  # ... runs ...
    [task] = ark.tasks()
    assert task["id"] == tid and task["prompt"] == "lost one"
    assert task["lost"] is True and task["lost_mode"] == "500" and task["billed_tokens"] > 0  # ... is billed
    ok = ark.create("answered")
    assert ok.status_code == 200  # a one-shot: the next create is answered
    state = ark.sim("GET", "faults")
    assert state["counts"] == {"create": {"lost-500": 1}} and state["total"] == 1
    assert state["pending"] == [] and state["lost_tasks"] == [tid]
    assert state["log"][0]["task_id"] == tid and state["log"][0]["source"] == "one-shot"
    assert ark.sim("GET", "config")["faults"] == {"create": {"lost-500": 1}}
    log = sim.requests_log()
    assert [(r["status"], r["fault"], r["task_id"]) for r in log[:1]] == [(500, "lost-500", tid)]


def test_lost_drop_closes_the_connection_without_a_response(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0)
    ark = Ark(sim)
    ark.faults({"op": "create", "mode": "lost-drop"})
    with pytest.raises(requests.ConnectionError) as info:
        ark.create("dropped")
    assert "without response" in str(info.value) or "Connection aborted" in str(info.value)
    [task] = ark.tasks()
    assert task["lost_mode"] == "drop" and task["status"] == "running"
    assert ark.list().json()["items"][0]["id"] == task["id"]
    # The server logs a request when its handler returns, which the dropped client cannot wait for.
    [req] = wait_until(lambda: [r for r in sim.requests_log() if r["fault"]], 10, what="the dropped create logged")
    assert req["status"] is None and req["dropped"] is True and req["fault"] == "lost-drop"
    assert ark.create("next").status_code == 200  # the server is fine afterwards


def test_lost_delay_answers_after_the_client_gave_up(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0)
    ark = Ark(sim)
    other = Ark(sim)
    ark.faults({"op": "create", "mode": "lost-delay", "delay": 1.5})
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        ark.create("late", timeout=0.3)
    # The task is visible while its answer is still being held back.
    assert time.monotonic() - started < 1.5
    assert other.list().json()["total"] == 1
    assert ark.tasks()[0]["lost_mode"] == "delay"
    # Without a client timeout the delayed answer does arrive, with the id.
    ark.faults({"op": "create", "mode": "lost-delay", "delay": 0.2})
    r = ark.create("patient")
    assert r.status_code == 200 and r.json()["id"] == ark.tasks()[1]["id"]
    assert ark.sim("GET", "faults")["counts"] == {"create": {"lost-delay": 2}}


def test_rejecting_create_faults_create_nothing(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0, fault_retry_after=7)
    ark = Ark(sim)
    ark.faults({"op": "create", "mode": "500", "count": 2}, {"op": "create", "mode": 429})
    envelope(ark.create(), 500, "InternalServiceError")
    envelope(ark.create(), 500, "InternalServiceError")
    limited = ark.create()
    err = envelope(limited, 429, "RateLimitExceeded.EndpointRPMExceeded")
    assert err["type"] == "TooManyRequests" and limited.headers["Retry-After"] == "7"
    ark.faults({"op": "create", "mode": "drop"})
    with pytest.raises(requests.ConnectionError):
        ark.create()
    assert sim.create_count == 0 and ark.list().json()["total"] == 0
    assert ark.sim("GET", "faults")["counts"] == {"create": {"429": 1, "500": 2, "drop": 1}}
    assert ark.create().status_code == 200


def test_lost_one_shot_waits_for_a_create_that_creates(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0)
    ark = Ark(sim)
    ark.faults({"op": "create", "mode": "lost-500"}, {"op": "create", "mode": "429"})
    # A create refused by validation has nothing to lose: the one-shot stays queued.
    envelope(ark.create(duration=99), 400, "InvalidParameter")
    envelope(ark.create(), 500, "InternalServiceError")
    assert sim.create_count == 1
    envelope(ark.create(), 429, "RateLimitExceeded.EndpointRPMExceeded")
    assert sim.create_count == 1
    assert ark.create().status_code == 200


def test_one_shots_on_get_list_and_delete(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=0)
    ark = Ark(sim)
    tid = ark.create().json()["id"]
    ark.faults(
        {"op": "get", "mode": "500"},
        {"op": "get", "mode": "429"},
        {"op": "list", "mode": "429", "count": 2},
        {"op": "delete", "mode": "500"},
        {"op": "list", "mode": "drop"},
    )
    envelope(ark.get(tid), 500, "InternalServiceError")
    assert "Retry-After" in envelope_headers(ark.get(tid), 429)
    assert ark.get(tid).json()["status"] == "queued"
    envelope(ark.list(), 429, "RateLimitExceeded.EndpointRPMExceeded")
    envelope(ark.list(), 429, "RateLimitExceeded.EndpointRPMExceeded")
    with pytest.raises(requests.ConnectionError):
        ark.list()
    assert ark.list().json()["total"] == 1
    envelope(ark.delete(tid), 500, "InternalServiceError")
    assert ark.get(tid).json()["status"] == "queued"  # the failed DELETE did nothing
    assert ark.delete(tid).status_code == 200 and ark.get(tid).json()["status"] == "cancelled"
    counts = ark.sim("GET", "faults")["counts"]
    assert counts == {"delete": {"500": 1}, "get": {"429": 1, "500": 1}, "list": {"429": 2, "drop": 1}}
    cleared = ark.sim("DELETE", "faults")
    assert cleared["counts"] == {} and cleared["pending"] == [] and cleared["total"] == 0


def envelope_headers(r: requests.Response, status: int) -> dict[str, str]:
    assert r.status_code == status, r.text
    return dict(r.headers)


def test_fault_endpoint_rejects_bad_specs_atomically(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0)
    ark = Ark(sim)
    url = f"{ark.origin}/__sim__/faults"
    for bad in (
        {"op": "get", "mode": "lost-500"},
        {"op": "upload", "mode": "500"},
        {"op": "create", "mode": "418"},
        {"op": "create", "mode": "500", "count": 0},
        {"op": "create", "mode": "500", "delay": 3},
        {"op": "create", "mode": "500", "when": "after"},
        {"mode": "500"},
        [{"op": "get", "mode": "500"}, {"op": "get", "mode": "nope"}],
    ):
        r = ark.s.post(url, json=bad, timeout=10)
        assert r.status_code == 400 and r.json()["error"], bad
    assert ark.sim("GET", "faults")["pending"] == []


def test_lost_create_rate_and_modes_at_run_time(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0, rng_seed=5)
    ark = Ark(sim)
    cfg = ark.sim("POST", "config", {"lost_create_rate": 1.0, "lost_create_mode": "500"})
    assert cfg["lost_create_rate"] == 1.0 and cfg["lost_create_mode"] == "500"
    for i in range(3):
        envelope(ark.create(f"r{i}"), 500, "InternalServiceError")
    assert sim.create_count == 3 and all(t["lost_mode"] == "500" for t in ark.tasks())
    ark.sim("POST", "config", {"lost_create_mode": "mixed", "lost_create_delay": 0.05})
    outcomes: list[str] = []
    for i in range(24):
        try:
            r = ark.create(f"m{i}", timeout=10)
            outcomes.append("500" if r.status_code == 500 else "delay")
            assert r.status_code in (200, 500)
        except requests.ConnectionError:
            outcomes.append("drop")
    assert set(outcomes) == {"500", "drop", "delay"}
    assert sim.create_count == 27  # every lost create made exactly one task
    counts = ark.sim("GET", "faults")["counts"]["create"]
    assert sum(counts.values()) == 27
    assert counts["lost-drop"] == outcomes.count("drop") and counts["lost-delay"] == outcomes.count("delay")
    assert all(x["source"] == "lost_create_rate" for x in ark.sim("GET", "faults")["log"])
    ark.sim("POST", "config", {"lost_create_rate": 0})
    assert ark.create().status_code == 200
    for bad in ({"lost_create_mode": "sometimes"}, {"lost_create_rate": 2}, {"queued_fields": "most"},
                {"lost_create_delay": -1}, {"wall_clock_timestamps": "maybe"}):
        r = ark.s.post(f"{ark.origin}/__sim__/config", json=bad, timeout=10)
        assert r.status_code == 400, bad
    assert ark.sim("GET", "config")["lost_create_mode"] == "mixed"


def test_error_rate_faults_are_counted_per_op(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0, error_rate=1.0)
    ark = Ark(sim)
    for _ in range(6):
        assert ark.list().status_code in (429, 500)
    limited = next(r for r in (ark.list() for _ in range(20)) if r.status_code == 429)
    assert limited.headers["Retry-After"] == "1"
    counts = ark.sim("GET", "faults")["counts"]["list"]
    assert sum(counts.values()) >= 7 and set(counts) <= {"429", "500"}


def test_sim_tasks_map_tasks_to_requests(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0, api_key=None)  # any bearer key: two callers
    ark = Ark(sim)
    tid = ark.create(
        "rid-42 a kitten", model=PRO15, seed=11, safety_identifier="user-hash-1",
        execution_expires_after=7200, service_tier="flex",
    ).json()["id"]
    [task] = ark.tasks()
    assert task["id"] == tid and task["prompt"] == "rid-42 a kitten"
    assert task["safety_identifier"] == "user-hash-1" and task["lost"] is False and task["lost_mode"] is None
    p = task["params"]
    assert (p["seed"], p["requested_seed"], p["execution_expires_after"], p["service_tier"]) == (
        11, 11, 7200, "flex")
    assert p["safety_identifier"] == "user-hash-1" and p["resolution"] == "720p" and p["duration"] == 5
    assert task["body"]["seed"] == 11 and task["body"]["safety_identifier"] == "user-hash-1"
    assert task["api_key_id"].startswith("key-") and KEY not in json.dumps(task)
    assert task["request_id"] == sim.requests_log()[0]["request_id"]
    other = Ark(sim, key="another-key").create("x").json()["id"]
    ids = {t["id"]: t["api_key_id"] for t in ark.tasks()}
    assert ids[other] != ids[tid]


def test_cli_lost_create_and_queued_fields_flags(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "seedance-bot"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.cli"]
    env = {**os.environ, "NO_PROXY": "127.0.0.1"}
    bad = subprocess.run([*cmd, "sim", "ark", "--port", "0", "--lost-create-mode", "often"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode != 0
    proc = subprocess.Popen(
        [*cmd, "sim", "ark", "--port", "0", "--speed", "0", "--api-key", "k", "--lost-create-rate", "1",
         "--lost-create-mode", "500", "--queued-fields", "bare", "--fault-retry-after", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip().split()[-1]
        with requests.Session() as s:
            s.trust_env = False
            s.headers["Authorization"] = "Bearer k"
            r = s.post(f"{base}/contents/generations/tasks", timeout=10,
                       json={"model": PRO10, "content": [{"type": "text", "text": "x"}]})
            assert r.status_code == 500
            [item] = s.get(f"{base}/contents/generations/tasks", timeout=10).json()["items"]
            assert set(item) == {"id", "model", "status", "created_at", "updated_at"}
            cfg = s.get(base.removesuffix("/api/v3") + "/__sim__/config", timeout=10).json()
            assert cfg["queued_fields"] == "bare" and cfg["fault_retry_after"] == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_sdk_retrying_a_lost_create_makes_a_duplicate(ark_sim_factory: ArkFactory) -> None:
    """ark-api.md §4.4's danger, reproduced: the SDK re-POSTs a create whose answer was a 5xx."""
    sdk = pytest.importorskip("volcenginesdkarkruntime")
    sim = ark_sim_factory(speed=0)
    Ark(sim).faults({"op": "create", "mode": "lost-500"})
    c = sdk.Ark(base_url=sim.base_url, api_key=KEY, max_retries=1, timeout=30)
    got = c.content_generation.tasks.create(model=PRO10, content=[{"type": "text", "text": "once"}])
    tasks = sim.tasks()
    assert len(tasks) == 2 and [t["lost"] for t in tasks] == [True, False]
    assert got.id == tasks[1]["id"] and {t["prompt"] for t in tasks} == {"once"}


def test_concurrent_one_shots_are_each_used_once(ark_sim_factory: ArkFactory) -> None:
    sim = ark_sim_factory(speed=0)
    ark = Ark(sim)
    ark.faults({"op": "get", "mode": "500", "count": 5})
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        r = Ark(sim).get("cgt-20260101000000-aaaaa")
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(500) == 5 and statuses.count(404) == 7


# --- Feishu helpers -----------------------------------------------------------------------------------


class Feishu:
    """Raw Open API calls (statuses and headers matter here) plus the /__sim__ controls."""

    def __init__(self, sim: FeishuSimulator) -> None:
        self.sim = sim
        self.origin = sim.origin
        self.s = requests.Session()
        self.s.trust_env = False
        self.token = self.token_call().json()["tenant_access_token"]
        self.s.headers["Authorization"] = f"Bearer {self.token}"

    def token_call(self) -> requests.Response:
        return self.s.post(f"{self.origin}/open-apis/auth/v3/tenant_access_token/internal", timeout=10,
                           data=json.dumps({"app_id": self.sim.app_id, "app_secret": self.sim.app_secret}))

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.s.request(method, f"{self.origin}/open-apis{path}", timeout=10, **kw)

    def reply(self, message_id: str, text: str = "ok", uuid: str | None = None, **extra: Any) -> requests.Response:
        body = {"msg_type": "text", "content": json.dumps({"text": text}), **extra}
        if uuid:
            body["uuid"] = uuid
        return self.call("POST", f"/im/v1/messages/{message_id}/reply", json=body)

    def send(self, chat_id: str = "oc_chaos", text: str = "hi", uuid: str | None = None,
             msg_type: str = "text", content: Any = None) -> requests.Response:
        body = {"receive_id": chat_id, "msg_type": msg_type,
                "content": json.dumps(content if content is not None else {"text": text})}
        if uuid:
            body["uuid"] = uuid
        return self.call("POST", "/im/v1/messages", params={"receive_id_type": "chat_id"}, json=body)

    def upload_image(self) -> requests.Response:
        return self.call("POST", "/im/v1/images", data={"image_type": "message"},
                         files={"image": ("c.png", png_bytes(), "image/png")})

    def upload_file(self) -> requests.Response:
        return self.call("POST", "/im/v1/files", data={"file_type": "stream", "file_name": "a.bin"},
                         files={"file": ("a.bin", b"\x00payload", "application/octet-stream")})

    def control(self, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
        r = self.s.request(method, f"{self.origin}/__sim__/{path}", json=body, timeout=10, **kw)
        assert r.status_code == status, r.text
        return r.json()

    def faults(self, *specs: dict[str, Any]) -> dict[str, Any]:
        return dict(self.control("POST", "faults", list(specs)))

    def requests_log(self, op: str | None = None) -> list[dict[str, Any]]:
        params = {"op": op} if op else None
        return list(self.control("GET", "requests", params=params)["requests"])


def png_bytes(w: int = 32, h: int = 24) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def feishu_error(r: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["msg"] and body["error"]["log_id"] == r.headers["X-Tt-Logid"]
    return dict(body)


FeishuFactory = Callable[..., FeishuSimulator]


@pytest.fixture
def fs(feishu_sim_factory: FeishuFactory) -> Feishu:
    return Feishu(feishu_sim_factory(chat_qps=0))


# --- Feishu: before/after faults on message-creating calls ------------------------------------------


def test_reply_fault_after_posts_once_and_a_uuid_retry_does_not_post_again(fs: Feishu) -> None:
    src = fs.sim.send(text="/video a kitten", deliver=False)["message_id"]
    state = fs.faults({"op": "reply", "status": 500, "count": 1, "when": "after"})
    assert state["pending"] == [{"op": "reply", "status": 500, "when": "after", "count": 1}]
    lost = fs.reply(src, "your video", uuid="rid-1-media")
    body = feishu_error(lost, 500, 2200)
    assert "data" not in body
    posted = fs.sim.messages(sender="bot")
    assert len(posted) == 1 and posted[0]["uuid"] == "rid-1-media"  # the reply WAS posted
    retry = fs.reply(src, "your video", uuid="rid-1-media")
    assert retry.status_code == 200 and retry.json()["data"]["message_id"] == posted[0]["message_id"]
    assert len(fs.sim.messages(sender="bot")) == 1  # ... and only once
    assert fs.sim.messages(sender="bot")[0]["requests"] == 2
    log = fs.requests_log("reply")
    assert [(r["status"], r["created"], r["deduplicated"]) for r in log] == [(500, True, False),
                                                                            (200, False, True)]
    assert log[0]["fault"] == {"status": 500, "when": "after", "source": "one-shot"}
    assert log[1]["fault"] is None and log[0]["code"] == 2200 and log[1]["code"] == 0
    assert {r["result_message_id"] for r in log} == {posted[0]["message_id"]}
    assert all(r["uuid"] == "rid-1-media" and r["message_id"] == src and r["msg_type"] == "text"
               and r["chat_id"] == "oc_sim_group" for r in log)
    assert sum(1 for r in log if r["created"]) == 1  # "exactly one reply per request"
    assert fs.control("GET", "faults")["counts"] == {"reply": {"500:after": 1}}


def test_reply_fault_before_posts_nothing(fs: Feishu) -> None:
    src = fs.sim.send(text="hi", deliver=False)["message_id"]
    fs.faults({"op": "reply", "status": 503, "when": "before"})
    feishu_error(fs.reply(src, uuid="u-1"), 503, 2200)
    assert fs.sim.messages(sender="bot") == []
    assert fs.reply(src, uuid="u-1").status_code == 200
    log = fs.requests_log("reply")
    assert [(r["status"], r["created"]) for r in log] == [(503, False), (200, True)]
    assert log[0]["fault"]["when"] == "before" and log[0]["result_message_id"] is None


def test_send_fault_after_without_uuid_lets_a_retry_post_twice(fs: Feishu) -> None:
    fs.faults({"op": "send", "status": 502, "when": "after"})
    feishu_error(fs.send("oc_room", "hello"), 502, 2200)
    assert fs.send("oc_room", "hello").status_code == 200
    assert [m["text"] for m in fs.sim.messages(sender="bot")] == ["hello", "hello"]
    log = fs.requests_log("send")
    assert [r["created"] for r in log] == [True, True] and {r["chat_id"] for r in log} == {"oc_room"}
    assert log[0]["receive_id"] == "oc_room" and log[0]["receive_id_type"] == "chat_id"
    assert log[0]["result_message_id"] != log[1]["result_message_id"]


def test_sdk_sees_the_lost_reply_and_its_uuid_retry_succeeds(feishu_sim_factory: FeishuFactory) -> None:
    lark = pytest.importorskip("lark_oapi")
    from lark_oapi.api.im.v1 import ReplyMessageRequest, ReplyMessageRequestBody

    sim = feishu_sim_factory()
    client = (lark.Client.builder().app_id(sim.app_id).app_secret(sim.app_secret).domain(sim.origin)
              .log_level(lark.LogLevel.ERROR).build())
    src = sim.send(text="hi", deliver=False)["message_id"]
    sim.inject_fault("reply", 500, when="after")

    def reply() -> Any:
        body = (ReplyMessageRequestBody.builder().msg_type("text").content(json.dumps({"text": "ok"}))
                .uuid("sdk-1").build())
        return client.im.v1.message.reply(
            ReplyMessageRequest.builder().message_id(src).request_body(body).build())

    first = reply()
    assert not first.success() and first.code == 2200 and first.raw.status_code == 500
    second = reply()
    assert second.success() and len(sim.messages(sender="bot")) == 1
    assert second.data.message_id == sim.messages(sender="bot")[0]["message_id"]


# --- Feishu: every operation, 429 headers, rates -------------------------------------------------------


def test_every_operation_can_be_faulted(fs: Feishu) -> None:
    img = fs.upload_image().json()["data"]["image_key"]
    user_img = fs.sim.upload_user_image(width=64, height=48)["image_key"]
    photo = fs.sim.send(images=[user_img], deliver=False)["message_id"]
    card = fs.send("oc_chaos", msg_type="interactive", content={
        "schema": "2.0", "config": {"update_multi": True}, "body": {"elements": []}}).json()["data"]["message_id"]
    calls: dict[str, Callable[[], requests.Response]] = {
        "token": fs.token_call,
        "bot_info": lambda: fs.call("GET", "/bot/v3/info"),
        "send": lambda: fs.send(),
        "reply": lambda: fs.reply(photo),
        "patch": lambda: fs.call("PATCH", f"/im/v1/messages/{card}", json={"content": json.dumps(
            {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": []}})}),
        "get_message": lambda: fs.call("GET", f"/im/v1/messages/{photo}"),
        "upload_file": fs.upload_file,
        "upload_image": fs.upload_image,
        "resource": lambda: fs.call("GET", f"/im/v1/messages/{photo}/resources/{user_img}",
                                    params={"type": "image"}),
        "reaction": lambda: fs.call("POST", f"/im/v1/messages/{photo}/reactions",
                                    json={"reaction_type": {"emoji_type": "OnIt"}}),
    }
    assert img
    for op, call in calls.items():
        fs.faults({"op": op, "status": 502})
        failed = call()
        assert failed.status_code == 502, (op, failed.text)
        assert failed.json()["code"] == 2200 and failed.json()["msg"] == "bad gateway"
        if op == "token":
            assert set(failed.json()) == {"code", "msg"}  # the token call has no error/data wrapper
        ok = call()
        assert ok.status_code in (200, 206), (op, ok.text)
    counts = fs.control("GET", "faults")["counts"]
    assert counts == {op: {"502": 1} for op in calls}
    assert {r["op"] for r in fs.requests_log()} >= set(calls)


def test_429_carries_the_gateway_headers_and_uploads_nothing(feishu_sim_factory: FeishuFactory) -> None:
    fs = Feishu(feishu_sim_factory(ratelimit_reset=3))
    fs.faults({"op": "upload_file", "status": 429, "count": 2})
    for _ in range(2):
        r = fs.upload_file()
        feishu_error(r, 429, 99991400)
        assert r.headers["x-ogw-ratelimit-reset"] == "3" and r.headers["x-ogw-ratelimit-limit"]
    assert fs.sim.files() == []
    assert fs.upload_file().status_code == 200 and len(fs.sim.files()) == 1
    fs.control("POST", "config", {"ratelimit_reset": 7})
    fs.faults({"op": "send", "status": 429, "code": 11232})
    r = fs.send()
    assert r.status_code == 429 and r.json()["code"] == 11232 and r.headers["x-ogw-ratelimit-reset"] == "7"


def test_upload_fault_after_stores_the_file_but_loses_the_key(fs: Feishu) -> None:
    fs.faults({"op": "upload_image", "status": 500, "when": "after"})
    feishu_error(fs.upload_image(), 500, 2200)
    [entry] = fs.requests_log("upload_image")
    assert entry["image_key"].startswith("img_") and entry["status"] == 500
    assert fs.sim.image(entry["image_key"]).owner == "bot"


def test_fault_rates_per_op_and_from_the_constructor(feishu_sim_factory: FeishuFactory) -> None:
    fs = Feishu(feishu_sim_factory(chat_qps=0, faults=["reply:503:1.0:after"], seed=3))
    src = fs.sim.send(text="hi", deliver=False)["message_id"]
    for i in range(3):
        feishu_error(fs.reply(src, uuid=f"r-{i}"), 503, 2200)
    assert len(fs.sim.messages(sender="bot")) == 3  # posted, answers lost
    fs.faults({"op": "reply", "status": 503, "rate": 0, "when": "after"})  # rate 0 removes the rule
    assert fs.control("GET", "faults")["rules"] == []
    fs.faults({"op": "get_message", "status": 500, "rate": 0.5})
    statuses = [fs.call("GET", f"/im/v1/messages/{src}").status_code for _ in range(40)]
    assert set(statuses) == {200, 500} and fs.send().status_code == 200
    state = fs.control("GET", "faults")
    assert state["rules"] == [{"op": "get_message", "status": 500, "when": "before", "rate": 0.5}]
    assert state["counts"]["get_message"] == {"500": statuses.count(500)}
    assert state["counts"]["reply"] == {"503:after": 3}
    assert all(x["source"] == "rate" for x in state["log"])


def test_legacy_any_op_faults_and_fault_rate_still_work(fs: Feishu) -> None:
    fs.control("POST", "faults", {"count": 2, "status": 500})  # the old shape: no op
    assert fs.token_call().status_code == 200  # "*" never hits the token call
    assert fs.call("GET", "/bot/v3/info").status_code == 500
    assert fs.send().status_code == 500
    assert fs.send().status_code == 200
    assert fs.control("GET", "faults")["counts"] == {"bot_info": {"500": 1}, "send": {"500": 1}}
    cfg = fs.control("POST", "config", {"fault_rate": 1.0, "fault_statuses": [503]})
    assert cfg["fault_rate"] == 1.0 and cfg["fault_statuses"] == [503]
    assert fs.call("GET", "/bot/v3/info").status_code == 503 and fs.token_call().status_code == 200
    assert fs.control("GET", "faults")["log"][-1]["source"] == "fault_rate"


def test_fault_control_validation_and_clearing(fs: Feishu) -> None:
    for bad in (
        {"op": "reply", "status": 429, "when": "after"},
        {"op": "upload", "status": 500},
        {"op": "reply", "status": 404},
        {"op": "reply", "status": 500, "count": 1, "rate": 0.5},
        {"op": "reply", "status": 500, "when": "during"},
        {"op": "reply", "status": 500, "count": 0},
        {"op": "reply", "status": 500, "colour": "red"},
    ):
        assert "error" in fs.control("POST", "faults", bad, status=400), bad
    fs.faults({"op": "reply", "status": 500, "count": 3}, {"op": "send", "status": 500, "rate": 0.2})
    assert fs.send().status_code in (200, 500)
    cleared = fs.control("DELETE", "faults")
    assert cleared["pending"] == [] and cleared["rules"] == [] and cleared["counts"] == {}
    assert fs.control("POST", "config", {"nope": 1}, status=400)["error"]
    cfg = fs.control("GET", "config")
    assert {"app_qps", "ratelimit_reset", "chat_qps", "fault_rate", "faults"} <= set(cfg)


def test_app_rate_limit_is_a_429_with_ogw_headers(feishu_sim_factory: FeishuFactory) -> None:
    fs = Feishu(feishu_sim_factory(chat_qps=0, app_qps=2))
    results = [fs.send(f"oc_{i}") for i in range(6)]
    limited = [r for r in results if r.status_code == 429]
    assert limited, [r.status_code for r in results]
    for r in limited:
        assert r.json()["code"] == 99991400 and r.headers["x-ogw-ratelimit-limit"] == "2"
        assert int(r.headers["x-ogw-ratelimit-reset"]) >= 1
    assert len(fs.sim.messages(sender="bot")) == 6 - len(limited)
    assert fs.call("GET", "/bot/v3/info").status_code == 200  # only send/reply are limited


def test_request_log_filters_and_reset(fs: Feishu) -> None:
    src = fs.sim.send(text="hi", deliver=False)["message_id"]
    fs.reply(src, uuid="a", reply_in_thread=True)
    fs.send("oc_x", uuid="b")
    fs.upload_file()
    fs.call("GET", f"/im/v1/messages/{src}")
    assert [r["op"] for r in fs.requests_log("reply,send")] == ["reply", "send"]
    everything = fs.requests_log()
    assert [r["op"] for r in everything] == ["token", "reply", "send", "upload_file", "get_message"]
    assert [r["seq"] for r in everything] == [1, 2, 3, 4, 5]
    assert everything[1]["reply_in_thread"] is True and everything[3]["file_key"].startswith("file_")
    fs.control("POST", "reset")
    assert fs.requests_log() == []


def test_cli_fault_flags(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "seedance-bot"
    if not exe.exists():
        pytest.skip("console script not installed")
    bad = subprocess.run([str(exe), "sim", "feishu", "--port", "0", "--fault", "reply:500"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    proc = subprocess.Popen(
        [str(exe), "sim", "feishu", "--port", "0", "--fault", "reply:500:1:after", "--fault", "send:429:1",
         "--ratelimit-reset", "4", "--app-qps", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        origin = proc.stdout.readline().split(" listening on ")[1].split()[0]
        with requests.Session() as s:
            s.trust_env = False
            state = s.get(f"{origin}/__sim__/faults", timeout=10).json()
            assert {(r["op"], r["status"], r["when"], r["rate"]) for r in state["rules"]} == {
                ("reply", 500, "after", 1.0), ("send", 429, "before", 1.0)}
            assert s.get(f"{origin}/__sim__/config", timeout=10).json()["app_qps"] == 50
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
