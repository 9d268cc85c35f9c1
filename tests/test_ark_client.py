"""ArkClient against real HTTP servers on loopback.

Two servers: a scripted one (this file; answers exactly what each test queues,
so retry and ambiguity rules are checked deterministically) and the Ark
simulator `sim.ark.ArkSimulator` (built independently to ark-api.md).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from bot.clients.ark import ArkClient, Task, TaskPage, error_from_response
from bot.errors import ArkAmbiguousError, ArkError
from bot.spec import ImageInput, VideoSpec, resolve

pytest_plugins = ["fixtures_ark"]  # ark_sim_factory; tests/ is on sys.path (rootdir conftest)

KEY = "sk-test-SECRET-0123456789"


# ----------------------------------------------------------------------------- scripted server


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)  # dict/list → JSON; bytes/str → as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering (after reading the request)


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


class Scripted:
    """A loopback HTTP server that answers from a queue; an empty queue answers 599."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with outer.lock:
                    outer.seen.append(Seen(self.command, parts.path, parse_qsl(parts.query),
                                           {k.lower(): v for k, v in self.headers.items()}, body))
                    reply = (outer.replies.pop(0) if outer.replies
                             else Reply(599, {"error": {"code": "NoScript"}}))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                raw = reply.body if isinstance(reply.body, bytes) else (
                    reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode())
                self.send_response(reply.status)
                ctype = "application/json" if not isinstance(reply.body, (bytes, str)) else "text/html"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v3"

    def queue(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.stop()


class SleepRecorder:
    """Stands in for time.sleep inside the client's retry loop: records, doesn't wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_client(base_url: str, **kw: Any) -> tuple[ArkClient, SleepRecorder]:
    client = ArkClient(base_url, KEY, **kw)
    rec = SleepRecorder()
    client._sleep = rec
    return client, rec


SUCCEEDED = {
    "id": "cgt-20260521120000-abcde", "model": "seedance-1-5-pro-251215", "status": "succeeded",
    "error": None,
    "content": {"video_url": "https://tos.example.com/v.mp4?X-Tos-Expires=86400&X-Tos-Signature=s",
                "last_frame_url": "https://tos.example.com/last.png?sig=1"},
    "usage": {"completion_tokens": 108900, "total_tokens": 108900},
    "created_at": 1779348818, "updated_at": 1779348874,
    "seed": 78674, "resolution": "720p", "ratio": "16:9", "duration": 5, "framespersecond": 24,
    "service_tier": "default", "execution_expires_after": 172800, "generate_audio": True, "draft": False,
    "priority": 0, "some_future_field": {"x": 1},
}


def err_body(code: str, message: str = "nope", param: str = "", etype: str = "BadRequest") -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{message}. Request id: 0217abc123def", "param": param,
                      "type": etype}}


# ----------------------------------------------------------------------------- wire format


def test_create_wire_format(scripted: Scripted) -> None:
    scripted.queue(Reply(200, {"id": "cgt-20260101000000-aaaaa"}))
    client, _ = make_client(scripted.base_url)
    body = {"model": "seedance-1-5-pro-251215", "content": [{"type": "text", "text": "小猫 yawning"}]}
    assert client.create(body) == "cgt-20260101000000-aaaaa"
    (req,) = scripted.seen
    assert (req.method, req.path) == ("POST", "/api/v3/contents/generations/tasks")
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["accept"] == "application/json"
    assert req.headers["user-agent"].startswith("seedance-bot/")
    assert re.fullmatch(r"\d{14}[A-Za-z0-9]{20}", req.headers["x-client-request-id"])
    assert json.loads(req.body) == body


def test_get_parses_task(scripted: Scripted) -> None:
    scripted.queue(Reply(200, SUCCEEDED))
    client, _ = make_client(scripted.base_url)
    t = client.get("cgt-20260521120000-abcde")
    assert scripted.seen[0].path == "/api/v3/contents/generations/tasks/cgt-20260521120000-abcde"
    assert scripted.seen[0].method == "GET"
    assert t.id == "cgt-20260521120000-abcde" and t.status == "succeeded" and t.is_terminal
    assert t.video_url and t.video_url.startswith("https://tos.example.com/v.mp4")
    assert t.last_frame_url == "https://tos.example.com/last.png?sig=1"
    assert (t.seed, t.resolution, t.ratio, t.duration, t.framespersecond) == (78674, "720p", "16:9", 5, 24)
    assert (t.completion_tokens, t.total_tokens, t.generate_audio, t.draft) == (108900, 108900, True, False)
    assert (t.service_tier, t.execution_expires_after, t.created_at) == ("default", 172800, 1779348818)
    assert t.error_code is None and t.frames is None and t.draft_task_id is None
    assert t.raw["some_future_field"] == {"x": 1}


def test_task_parsing_nulls_and_failures() -> None:
    queued = Task.from_json({"id": "cgt-1", "status": "queued", "content": None, "usage": None,
                             "error": None, "seed": None, "created_at": 5})
    assert not queued.is_terminal and queued.video_url is None and queued.seed is None
    failed = Task.from_json({"id": "cgt-2", "status": "failed",
                             "error": {"code": "OutputVideoSensitiveContentDetected", "message": "m"}})
    assert failed.is_terminal and failed.error_code == "OutputVideoSensitiveContentDetected"
    for status in ("succeeded", "failed", "expired", "cancelled"):
        assert Task.from_json({"id": "x", "status": status}).is_terminal
    for status in ("queued", "running"):
        assert not Task.from_json({"id": "x", "status": status}).is_terminal
    with pytest.raises(ArkError):
        Task.from_json({"status": "queued"})
    with pytest.raises(ArkError):
        Task.from_json(["not", "an", "object"])


def test_list_query_and_parsing(scripted: Scripted) -> None:
    scripted.queue(Reply(200, {"total": 3, "items": [SUCCEEDED, {**SUCCEEDED, "id": "cgt-2"}]}))
    client, _ = make_client(scripted.base_url)
    page = client.list(page_num=2, page_size=2, status="succeeded", task_ids=["a", "b"],
                       model="ep-123", service_tier="default")
    assert isinstance(page, TaskPage) and page.total == 3 and [t.id for t in page.items][1] == "cgt-2"
    req = scripted.seen[0]
    assert req.path == "/api/v3/contents/generations/tasks"
    assert req.query == [("page_num", "2"), ("page_size", "2"), ("filter.status", "succeeded"),
                         ("filter.task_ids", "a"), ("filter.task_ids", "b"), ("filter.model", "ep-123"),
                         ("filter.service_tier", "default")]


def test_list_rejects_bad_arguments_locally(scripted: Scripted) -> None:
    client, _ = make_client(scripted.base_url)
    with pytest.raises(ValueError):
        client.list(page_size=501)
    with pytest.raises(ValueError):
        client.list(status="done")
    with pytest.raises(ValueError):
        client.get("../../etc")
    assert scripted.seen == []


def test_iter_recent_walks_pages(scripted: Scripted) -> None:
    items = [{"id": f"cgt-{i}", "status": "succeeded"} for i in range(5)]
    scripted.queue(*(Reply(200, {"total": 5, "items": items[i:i + 2]}) for i in (0, 2, 4)))
    client, _ = make_client(scripted.base_url)
    assert [t.id for t in client.iter_recent(page_size=2)] == [f"cgt-{i}" for i in range(5)]
    assert [dict(s.query)["page_num"] for s in scripted.seen] == ["1", "2", "3"]


def test_delete(scripted: Scripted) -> None:
    scripted.queue(Reply(200, {}))
    client, _ = make_client(scripted.base_url)
    assert client.delete("cgt-20260101000000-aaaaa") is None
    assert (scripted.seen[0].method, scripted.seen[0].path) == (
        "DELETE", "/api/v3/contents/generations/tasks/cgt-20260101000000-aaaaa")


# ----------------------------------------------------------------------------- errors


def test_error_envelope_parsed(scripted: Scripted) -> None:
    scripted.queue(Reply(400, err_body("InvalidParameter", "The parameter `content` specified in the "
                                       "request is not valid: role must be specified", param="content")))
    client, rec = make_client(scripted.base_url)
    with pytest.raises(ArkError) as exc:
        client.create({"model": "m", "content": []})
    e = exc.value
    assert not isinstance(e, ArkAmbiguousError)
    assert (e.status, e.code, e.param, e.type) == (400, "InvalidParameter", "content", "BadRequest")
    assert e.request_id == "0217abc123def"
    assert not e.retryable and rec.calls == [] and len(scripted.seen) == 1
    assert "400 InvalidParameter" in str(e)


def test_request_id_from_header_when_message_has_none(scripted: Scripted) -> None:
    scripted.queue(Reply(404, {"error": {"code": "NotFound", "message": "task not found"}},
                         headers={"X-Client-Request-Id": "hdr-req-1"}))
    client, _ = make_client(scripted.base_url)
    with pytest.raises(ArkError) as exc:
        client.get("cgt-missing")
    assert exc.value.request_id == "hdr-req-1" and exc.value.status == 404 and not exc.value.retryable


def test_non_json_error_body_is_still_clear(scripted: Scripted) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    scripted.queue(*[Reply(502, html) for _ in range(4)])
    client, rec = make_client(scripted.base_url)
    with pytest.raises(ArkError) as exc:
        client.get("cgt-1")
    e = exc.value
    assert e.status == 502 and e.retryable and "502" in str(e) and "Bad Gateway" in str(e)
    assert len(scripted.seen) == 4 and len(rec.calls) == 3  # 1 + max_retries


def test_key_never_leaks(scripted: Scripted, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    scripted.queue(Reply(401, {"error": {"code": "AuthenticationError",
                                         "message": f"the API key {KEY} format is invalid"}}))
    client, _ = make_client(scripted.base_url)
    assert KEY not in repr(client) and KEY not in str(client)
    assert KEY not in repr(vars(client))
    with pytest.raises(ArkError) as exc:
        client.get("cgt-1")
    assert KEY not in str(exc.value) and KEY not in exc.value.message and KEY not in repr(exc.value)
    assert KEY not in caplog.text


# ----------------------------------------------------------------------------- retries: reads


def test_get_retries_5xx_then_succeeds(scripted: Scripted) -> None:
    scripted.queue(Reply(500, err_body("InternalServiceError", etype="InternalServerError")),
                   Reply(503, b"busy"), Reply(200, SUCCEEDED))
    client, rec = make_client(scripted.base_url)
    assert client.get("cgt-20260521120000-abcde").succeeded
    assert len(scripted.seen) == 3 and len(rec.calls) == 2
    ids = {s.headers["x-client-request-id"] for s in scripted.seen}
    assert len(ids) == 3  # a fresh request id per attempt
    assert rec.calls[1] > rec.calls[0] * 1.2  # exponential


def test_get_respects_retry_after(scripted: Scripted) -> None:
    scripted.queue(Reply(429, err_body("RateLimitExceeded.EndpointRPMExceeded", etype="TooManyRequests"),
                         headers={"Retry-After": "3"}), Reply(200, SUCCEEDED))
    client, rec = make_client(scripted.base_url)
    assert client.get("cgt-x").succeeded
    assert rec.calls and rec.calls[0] >= 3


def test_quota_429_not_retried(scripted: Scripted) -> None:
    scripted.queue(Reply(429, err_body("QuotaExceeded", etype="TooManyRequests")))
    client, rec = make_client(scripted.base_url)
    with pytest.raises(ArkError) as exc:
        client.get("cgt-x")
    assert exc.value.code == "QuotaExceeded" and not exc.value.retryable
    assert len(scripted.seen) == 1 and rec.calls == []


def test_should_retry_header_false_is_honoured(scripted: Scripted) -> None:
    scripted.queue(Reply(500, err_body("InternalServiceError"), headers={"x-should-retry": "false"}))
    client, _ = make_client(scripted.base_url)
    with pytest.raises(ArkError):
        client.get("cgt-x")
    assert len(scripted.seen) == 1


def test_get_retries_read_timeout_and_dropped_connection(scripted: Scripted) -> None:
    scripted.queue(Reply(200, SUCCEEDED, delay=1.0), Reply(drop=True), Reply(200, SUCCEEDED))
    client, rec = make_client(scripted.base_url, timeout=(2.0, 0.3))
    assert client.get("cgt-x").succeeded
    assert len(rec.calls) == 2


def test_connection_refused_is_retryable_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client, rec = make_client(f"http://127.0.0.1:{port}/api/v3", max_retries=2)
    with pytest.raises(ArkError) as exc:
        client.get("cgt-x")
    assert exc.value.retryable and exc.value.code == "ConnectionError" and len(rec.calls) == 2


# ----------------------------------------------------------------------------- retries: create / delete


def test_create_not_retried_on_5xx(scripted: Scripted) -> None:
    scripted.queue(Reply(500, err_body("InternalServiceError", etype="InternalServerError")),
                   Reply(200, {"id": "cgt-dup"}))
    client, rec = make_client(scripted.base_url)
    with pytest.raises(ArkAmbiguousError) as exc:
        client.create({"model": "m", "content": [{"type": "text", "text": "x"}]})
    assert len(scripted.seen) == 1 and rec.calls == []  # never re-POSTed: a duplicate is a duplicate bill
    assert exc.value.status == 500 and not exc.value.retryable and exc.value.code == "InternalServiceError"


def test_create_not_retried_after_read_timeout(scripted: Scripted) -> None:
    scripted.queue(Reply(200, {"id": "cgt-late"}, delay=1.0), Reply(200, {"id": "cgt-dup"}))
    client, _ = make_client(scripted.base_url, timeout=(2.0, 0.3))
    with pytest.raises(ArkAmbiguousError):
        client.create({"model": "m", "content": []})
    time.sleep(0.8)  # let the slow handler finish before counting
    assert len([s for s in scripted.seen if s.method == "POST"]) == 1


def test_create_not_retried_after_connection_lost(scripted: Scripted) -> None:
    scripted.queue(Reply(drop=True), Reply(200, {"id": "cgt-dup"}))
    client, _ = make_client(scripted.base_url)
    with pytest.raises(ArkAmbiguousError):
        client.create({"model": "m", "content": []})
    assert len(scripted.seen) == 1


def test_create_retried_on_rate_limit(scripted: Scripted) -> None:
    scripted.queue(Reply(429, err_body("RateLimitExceeded.EndpointRPMExceeded", etype="TooManyRequests")),
                   Reply(429, err_body("ServerOverloaded", etype="TooManyRequests")),
                   Reply(200, {"id": "cgt-ok"}))
    client, rec = make_client(scripted.base_url)
    assert client.create({"model": "m", "content": []}) == "cgt-ok"
    assert len(scripted.seen) == 3 and len(rec.calls) == 2


def test_create_quota_not_retried(scripted: Scripted) -> None:
    scripted.queue(Reply(429, err_body("SetLimitExceeded", etype="TooManyRequests")))
    client, _ = make_client(scripted.base_url)
    with pytest.raises(ArkError) as exc:
        client.create({"model": "m", "content": []})
    assert not isinstance(exc.value, ArkAmbiguousError) and len(scripted.seen) == 1


def test_create_retried_when_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client, rec = make_client(f"http://127.0.0.1:{port}/api/v3", max_retries=2)
    with pytest.raises(ArkError) as exc:
        client.create({"model": "m", "content": []})
    assert not isinstance(exc.value, ArkAmbiguousError)  # never reached the service: safe to resend
    assert len(rec.calls) == 2


def test_create_2xx_without_id_is_ambiguous(scripted: Scripted) -> None:
    scripted.queue(Reply(200, {"status": "queued"}))
    client, _ = make_client(scripted.base_url)
    with pytest.raises(ArkAmbiguousError):
        client.create({"model": "m", "content": []})


def test_delete_retry_policy(scripted: Scripted) -> None:
    scripted.queue(Reply(429, err_body("RateLimitExceeded", etype="TooManyRequests")), Reply(200, {}))
    client, _ = make_client(scripted.base_url)
    client.delete("cgt-1")
    assert len(scripted.seen) == 2
    scripted.seen.clear()
    scripted.queue(Reply(500, err_body("InternalServiceError")), Reply(200, {}))
    with pytest.raises(ArkError) as exc:
        client.delete("cgt-1")
    assert not isinstance(exc.value, ArkAmbiguousError) and len(scripted.seen) == 1


def test_create_spec_inlines_local_images(scripted: Scripted, tmp_path: Any) -> None:
    from PIL import Image

    img = tmp_path / "first.png"
    Image.new("RGB", (640, 480), (1, 2, 3)).save(img)
    scripted.queue(Reply(200, {"id": "cgt-spec"}))
    client, _ = make_client(scripted.base_url)
    spec = resolve(VideoSpec(prompt="smile", images=(ImageInput(str(img), "first_frame"),
                                                     ImageInput("https://example.com/l.jpg", "last_frame"))))
    assert client.create_spec(spec) == "cgt-spec"
    sent = json.loads(scripted.seen[0].body)
    assert sent["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert sent["content"][2]["image_url"]["url"] == "https://example.com/l.jpg"


def test_error_from_response_standalone() -> None:
    import requests

    resp = requests.Response()
    resp.status_code = 503
    resp._content = b""
    resp.reason = "Service Unavailable"
    e = error_from_response(resp, "mine-1")
    assert e.status == 503 and e.retryable and e.request_id == "mine-1" and e.code == "ServiceUnavailable"


# ----------------------------------------------------------------------------- against the simulator

SIM_KEY = "test-key"


@pytest.fixture
def sim(ark_sim_factory: Any) -> Any:
    """The Ark simulator on loopback (tests/fixtures_ark.py): 60× real time, rng seed 1, key "test-key"."""
    return ark_sim_factory(api_key=SIM_KEY, speed=60, rng_seed=1)


def sim_client(sim: Any, **kw: Any) -> tuple[ArkClient, SleepRecorder]:
    client = ArkClient(sim.base_url, SIM_KEY, **kw)
    rec = SleepRecorder()
    client._sleep = rec
    return client, rec


def api_requests(sim: Any, method: str | None = None) -> list[dict[str, Any]]:
    return [r for r in sim.requests_log()
            if r["path"].startswith("/api/v3/") and (method is None or r["method"] == method)]


def wait_terminal(client: ArkClient, task_id: str, limit: float = 30.0) -> Task:
    deadline = time.monotonic() + limit
    while True:
        task = client.get(task_id)
        if task.is_terminal or time.monotonic() > deadline:
            return task
        time.sleep(0.1)


def text_body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": "seedance-1-5-pro-251215", "content": [{"type": "text", "text": prompt}], **extra}


def test_sim_lifecycle(sim: Any) -> None:
    client, _ = sim_client(sim)
    tid = client.create(text_body("A kitten yawning at the camera", return_last_frame=True))
    assert re.fullmatch(r"cgt-\d{14}-[A-Za-z0-9]{5}", tid)
    first = client.get(tid)
    assert first.id == tid and first.status in ("queued", "running", "succeeded")
    done = wait_terminal(client, tid)
    assert done.status == "succeeded" and done.video_url and done.last_frame_url
    assert (done.resolution, done.ratio, done.duration) == ("720p", "16:9", 5)
    assert done.total_tokens and done.total_tokens > 0 and done.generate_audio is True
    page = client.list(task_ids=[tid, "cgt-20990101000000-zzzzz"])
    assert [t.id for t in page.items] == [tid] and page.total == 1
    assert tid in [t.id for t in client.list(status="succeeded", page_size=50).items]
    client.delete(tid)
    with pytest.raises(ArkError) as exc:
        client.get(tid)
    assert exc.value.status == 404 and not exc.value.retryable and exc.value.request_id
    assert sim.create_count == 1


def test_sim_cancel_queued_and_refuse_running(sim: Any) -> None:
    sim.configure(concurrency=1, speed=1)
    client, _ = sim_client(sim)
    running = client.create(text_body("first"))
    queued = client.create(text_body("second"))
    assert client.get(queued).status == "queued"
    client.delete(queued)
    assert client.get(queued).status == "cancelled"
    with pytest.raises(ArkError) as exc:
        client.delete(running)  # running tasks can't be cancelled
    assert exc.value.status == 400 and not isinstance(exc.value, ArkAmbiguousError)


def test_sim_error_envelopes(sim: Any) -> None:
    client, rec = sim_client(sim)
    with pytest.raises(ArkError) as exc:
        client.create(text_body("a [[sensitive]] prompt"))
    e = exc.value
    assert (e.status, e.code, e.type) == (400, "InputTextSensitiveContentDetected", "BadRequest")
    assert e.request_id and not e.retryable and rec.calls == []
    with pytest.raises(ArkError) as exc:
        client.create({"model": "seedance-1-0-pro-250528", "content": [{"type": "text", "text": "x"}],
                       "draft": True})
    assert exc.value.code.startswith("InvalidParameter") and exc.value.param == "draft"
    with pytest.raises(ArkError) as exc:
        client.create(text_body("x") | {"model": "no-such-model-1"})
    assert exc.value.status == 404
    bad = ArkClient(sim.base_url, "wrong-key")
    with pytest.raises(ArkError) as exc:
        bad.get("cgt-20260101000000-aaaaa")
    assert exc.value.status == 401 and exc.value.code == "AuthenticationError"
    assert "wrong-key" not in str(exc.value)
    assert sim.create_count == 0


def test_sim_task_failure(sim: Any) -> None:
    client, _ = sim_client(sim)
    tid = client.create(text_body("a storm [[failvideo]]"))
    task = wait_terminal(client, tid)
    assert task.status == "failed" and task.error_code and task.video_url is None


def test_sim_reads_retried_through_injected_errors(sim: Any) -> None:
    client, rec = sim_client(sim, max_retries=10)
    tid = client.create(text_body("retry me"))
    sim.configure(error_rate=0.5)
    for _ in range(5):
        assert client.get(tid).id == tid
        assert client.list(task_ids=[tid]).items[0].id == tid
    sim.configure(error_rate=0.0)
    statuses = [r["status"] for r in api_requests(sim, "GET")]
    assert {429, 500} <= set(statuses) and statuses.count(200) == 10
    assert len(rec.calls) == len(statuses) - 10


def test_sim_reads_give_up_after_max_retries(sim: Any) -> None:
    client, rec = sim_client(sim, max_retries=3)
    sim.configure(error_rate=1.0)
    with pytest.raises(ArkError) as exc:
        client.get("cgt-20260101000000-aaaaa")
    assert exc.value.retryable and exc.value.status in (429, 500)
    assert len(api_requests(sim, "GET")) == 4 and len(rec.calls) == 3


def test_sim_create_never_blindly_retried_on_500(sim: Any) -> None:
    client, rec = sim_client(sim, max_retries=50)
    sim.configure(error_rate=1.0)  # every request: 429 or 500 (no task is created either way)
    with pytest.raises(ArkAmbiguousError) as exc:
        client.create(text_body("never twice"))
    sim.configure(error_rate=0.0)
    posts = [r["status"] for r in api_requests(sim, "POST")]
    # 429s (certain rejections) were retried; the first 500 stopped the client at once.
    assert posts[-1] == 500 and all(s == 429 for s in posts[:-1])
    assert len(rec.calls) == len(posts) - 1 and exc.value.status == 500
    assert sim.create_count == 0


def test_sim_slow_create_is_ambiguous_and_not_resent(sim: Any) -> None:
    client, rec = sim_client(sim, timeout=(5.0, 0.3))
    sim.configure(slow_rate=1.0, slow_seconds=1.0)
    with pytest.raises(ArkAmbiguousError):
        client.create(text_body("slow answer"))
    sim.configure(slow_rate=0.0)
    time.sleep(1.0)
    # The service did create the task: a blind retry would have made (and billed) a second one.
    assert sim.create_count == 1 and len(api_requests(sim, "POST")) == 1 and rec.calls == []
    recent = [t for t in client.iter_recent() if t.status in ("queued", "running", "succeeded")]
    assert len(recent) == 1


def test_sim_reads_local_image_and_first_last(sim: Any, tmp_path: Any) -> None:
    from PIL import Image

    first = tmp_path / "first.jpg"
    last = tmp_path / "last.png"
    Image.new("RGB", (1080, 1920), (10, 20, 30)).save(first)
    Image.new("RGB", (1080, 1920), (200, 20, 30)).save(last)
    client, _ = sim_client(sim)
    spec = resolve(VideoSpec(prompt="A flower blooming", images=(ImageInput(str(first), "first_frame"),
                                                                 ImageInput(str(last), "last_frame"))))
    tid = client.create_spec(spec)
    task = wait_terminal(client, tid)
    assert task.status == "succeeded" and task.ratio == "9:16"
    body = sim.tasks()[-1]["body"]
    assert [c.get("role") for c in body["content"]] == [None, "first_frame", "last_frame"]


# ----------------------------------------------------------------------------- metrics


def _ark_calls(client: ArkClient, op: str, code: str) -> float:
    """A count in the client's own metrics (a private `ProcessMetrics`: none was passed)."""
    return client.metrics.registry.get_sample_value("bot_ark_calls_total", {"op": op, "code": code}) or 0.0


def test_every_attempt_is_counted_by_operation_and_a_bounded_code(scripted: Scripted) -> None:
    """bot_ark_calls_total{op, code}: retries count, known codes keep their family, the rest a bucket."""
    from bot.clients.ark import code_label

    client, _ = make_client(scripted.base_url)
    before = {(op, code): _ark_calls(client, op, code) for op, code in (
        ("create", "ok"), ("get", "rate_limited"), ("get", "ok"), ("list", "InvalidParameter"),
        ("delete", "server_error"), ("get", "client_error"))}
    scripted.queue(Reply(200, {"id": "cgt-20260101000000-aaaaa"}),
                   Reply(429, err_body("SomethingNew", "slow down")), Reply(200, SUCCEEDED),
                   Reply(400, err_body("InvalidParameter.Whatever", "bad")),
                   Reply(500, err_body("GatewayHiccup", "oops")), Reply(404, err_body("NotFound", "gone")))
    client.create({"model": "m", "content": []})
    client.get("cgt-20260101000000-aaaaa")  # a 429 (unknown code), retried, then 200
    with pytest.raises(ArkError):
        client.list(retries=0)
    with pytest.raises(ArkError):
        client.delete("cgt-20260101000000-aaaaa")
    with pytest.raises(ArkError):
        client.get("cgt-20260101000000-aaaaa", retries=0)
    after = {key: _ark_calls(client, *key) for key in before}
    assert {key: after[key] - before[key] for key in before} == dict.fromkeys(before, 1.0)
    assert code_label("InternalServiceError.Busy", 500) == "InternalServiceError"  # a known family
    assert code_label("Timeout") == "Timeout" and code_label("", None) == "other"
    assert code_label(f"Random{time.time()}", 418) == "client_error", "never an unbounded label"
