"""FeishuClient against real HTTP servers on loopback.

Two fakes, both written from shared/reference/feishu-api.md:
  * `Stub` below: a tiny Flask app following §6.7, with scripted faults (429 + x-ogw-ratelimit-reset,
    5xx, 230020, 99991663, non-JSON gateway pages, slow answers) that are awkward to stage elsewhere;
  * the project's `sim.feishu.FeishuSimulator` (tests at the end; skipped while it does not exist).
Backoff sleeps go through the client's injectable `sleep`, so retries are asserted, not timed.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from bot.clients.feishu import BotInfo, FeishuClient, MessageInfo, SentMessage
from bot.config import MissingSettingError, Settings
from bot.errors import DownloadError, FeishuError

pytest_plugins = ["fixtures_feishu"]  # feishu_sim_factory (tests/ is on sys.path)

APP_ID = "cli_stub_app"
APP_SECRET = "stub-secret-do-not-log"


# --------------------------------------------------------------------------------------------------
# The stub Feishu OpenAPI
# --------------------------------------------------------------------------------------------------
@dataclass
class Fault:
    status: int = 400
    code: int | None = None
    msg: str = "injected"
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a non-JSON body (gateway page)
    delay: float = 0.0  # sleep before answering (to trigger client timeouts)
    passthrough: bool = False  # after the delay, handle the request normally


class Stub:
    """A minimal Feishu OpenAPI (§6.7): envelope {code,msg,data}, X-Tt-Logid on every answer."""

    def __init__(self, app_id: str = APP_ID, app_secret: str = APP_SECRET, token_expire: int = 7200) -> None:
        self.app_id, self.app_secret, self.token_expire = app_id, app_secret, token_expire
        self.tokens: set[str] = set()
        self.token_calls = 0
        self.auth_failures = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (route, details) of authorised calls
        self.faults: dict[str, list[Fault]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.by_uuid: dict[str, str] = {}
        self.uploads: list[dict[str, Any]] = []
        self.resources: dict[tuple[str, str], tuple[bytes, str, str]] = {}
        self.reactions: dict[str, dict[str, Any]] = {}
        self.log_ids: list[str] = []
        self.lock = threading.RLock()
        self.app = self._build()
        self._server: Any = None
        self.origin = ""

    # --- lifecycle ---
    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        serve = self._server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self._server.server_port}"
        return self.origin

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def inject(self, route: str, *faults: Fault) -> None:
        self.faults.setdefault(route, []).extend(faults)

    def count(self, route: str) -> int:
        return sum(1 for r, _ in self.calls if r == route)

    def add_message(self, message_id: str, **fields: Any) -> None:
        self.messages[message_id] = {"message_id": message_id, **fields}

    # --- helpers ---
    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        lid = f"lid-{secrets.token_hex(6)}"
        with self.lock:
            self.log_ids.append(lid)
        r = Response(json.dumps(body), status=status, mimetype="application/json")
        r.headers["X-Tt-Logid"] = lid
        for k, v in (headers or {}).items():
            r.headers[k] = v
        return r

    def ok(self, data: dict[str, Any] | None = None) -> Response:
        return self._reply(200, {"code": 0, "msg": "success", "data": data or {}})

    def err(self, status: int, code: int, msg: str) -> Response:
        return self._reply(status, {"code": code, "msg": msg})

    def _fault(self, route: str) -> Response | None:
        with self.lock:
            queue = self.faults.get(route)
            f = queue.pop(0) if queue else None
        if f is None:
            return None
        if f.delay:
            time.sleep(f.delay)
        if f.passthrough:
            return None
        if f.raw is not None:
            r = Response(f.raw, status=f.status, mimetype="text/html")
            r.headers["X-Tt-Logid"] = "lid-gateway"
            return r
        code = f.code if f.code is not None else f.status
        return self._reply(f.status, {"code": code, "msg": f.msg}, f.headers)

    def _authorised(self) -> Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            with self.lock:
                self.auth_failures += 1
            return self.err(400, 99991663, "Invalid access token for authorization. Please make a new request with token attached.")  # noqa: E501
        return None

    def _guard(self, route: str, details: dict[str, Any] | None = None) -> Response | None:
        """Scripted fault first (a gateway answers before auth), then the token check, then record."""
        resp = self._fault(route) or self._authorised()
        if resp is None:
            with self.lock:
                self.calls.append((route, details or {}))
        return resp

    def _message_obj(self, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": m["message_id"], "root_id": m.get("root_id"), "parent_id": m.get("parent_id"),
            "thread_id": m.get("thread_id"), "msg_type": m["msg_type"], "chat_id": m.get("chat_id"),
            "create_time": "1700000000000", "update_time": "1700000000000", "deleted": False,
            "updated": False, "upper_message_id": m.get("parent_id"),
            "sender": m.get("sender") or {"id": self.app_id, "id_type": "app_id", "sender_type": "app",
                                          "tenant_key": "t_stub"},
            "body": {"content": m["content"]},
        }

    def _create(self, body: dict[str, Any], *, chat_id: str | None,
                parent: dict[str, Any] | None) -> Response:
        msg_type, content = body.get("msg_type"), body.get("content")
        if not isinstance(content, str):
            return self.err(400, 230001, "content must be a string")
        try:
            parsed = json.loads(content)
        except ValueError:
            return self.err(400, 230001, "content is not JSON")
        if msg_type == "media" and not (parsed.get("file_key") and parsed.get("image_key")):
            return self.err(400, 230001, "invalid_argument: media needs file_key and image_key")
        uuid = body.get("uuid")
        with self.lock:
            if uuid and uuid in self.by_uuid:
                return self.ok(self._message_obj(self.messages[self.by_uuid[uuid]]))
            mid = f"om_{secrets.token_hex(8)}"
            m: dict[str, Any] = {"message_id": mid, "msg_type": msg_type, "content": content,
                                 "chat_id": chat_id, "uuid": uuid}
            if parent is not None:
                m["chat_id"] = parent.get("chat_id")
                m["parent_id"] = parent["message_id"]
                m["root_id"] = parent.get("root_id") or parent["message_id"]
                thread = parent.get("thread_id")
                if body.get("reply_in_thread") and not thread:
                    thread = parent["thread_id"] = f"omt_{secrets.token_hex(6)}"
                m["thread_id"] = thread
                m["reply_in_thread"] = bool(body.get("reply_in_thread"))
            self.messages[mid] = m
            if uuid:
                self.by_uuid[uuid] = mid
        return self.ok(self._message_obj(m))

    def _build(self) -> Flask:
        app = Flask("feishu-stub")

        @app.post("/open-apis/auth/v3/tenant_access_token/internal")
        def token() -> Response:
            fault = self._fault("token")
            if fault is not None:
                return fault
            body = request.get_json(force=True, silent=True) or {}
            if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
                return self._reply(400, {"code": 99991543, "msg": "app_id or app_secret is invalid"})
            tok = f"t-{secrets.token_hex(12)}"
            with self.lock:
                self.token_calls += 1
                self.tokens.add(tok)
            return self._reply(200, {"code": 0, "msg": "ok", "tenant_access_token": tok,
                                     "expire": self.token_expire})

        @app.get("/open-apis/bot/v3/info")
        def bot_info() -> Response:
            return self._guard("bot_info") or self._reply(
                200, {"code": 0, "msg": "ok", "bot": {"open_id": "ou_bot_stub", "app_name": "StubBot",
                                                      "activate_status": 2}})

        @app.post("/open-apis/im/v1/messages")
        def send() -> Response:
            body = request.get_json(force=True)
            details = {"query": dict(request.args), "body": body}
            return self._guard("send", details) or self._create(
                body, chat_id=body.get("receive_id"), parent=None)

        @app.post("/open-apis/im/v1/messages/<mid>/reply")
        def reply(mid: str) -> Response:
            body = request.get_json(force=True)
            guarded = self._guard("reply", {"message_id": mid, "body": body})
            if guarded is not None:
                return guarded
            parent = self.messages.get(mid)
            if parent is None:
                return self.err(400, 230011, "message not found or recalled")
            return self._create(body, chat_id=None, parent=parent)

        @app.get("/open-apis/im/v1/messages/<mid>")
        def get_message(mid: str) -> Response:
            guarded = self._guard("get_message", {"message_id": mid})
            if guarded is not None:
                return guarded
            m = self.messages.get(mid)
            if m is None:
                return self.err(400, 230011, "message not found")
            return self.ok({"items": [self._message_obj(m)]})

        @app.patch("/open-apis/im/v1/messages/<mid>")
        def patch(mid: str) -> Response:
            body = request.get_json(force=True)
            guarded = self._guard("patch", {"message_id": mid, "body": body})
            if guarded is not None:
                return guarded
            m = self.messages.get(mid)
            if m is None or m["msg_type"] != "interactive":
                return self.err(400, 230001, "only interactive messages can be patched")
            m["content"] = body["content"]
            return self.ok({})

        @app.post("/open-apis/im/v1/messages/<mid>/reactions")
        def add_reaction(mid: str) -> Response:
            body = request.get_json(force=True)
            guarded = self._guard("add_reaction", {"message_id": mid, "body": body})
            if guarded is not None:
                return guarded
            rid = f"r_{secrets.token_hex(6)}"
            emoji = body["reaction_type"]["emoji_type"]
            self.reactions[rid] = {"message_id": mid, "emoji_type": emoji}
            return self.ok({"reaction_id": rid,
                            "operator": {"operator_id": self.app_id, "operator_type": "app"},
                            "action_time": "1700000000000", "reaction_type": {"emoji_type": emoji}})

        @app.delete("/open-apis/im/v1/messages/<mid>/reactions/<rid>")
        def delete_reaction(mid: str, rid: str) -> Response:
            guarded = self._guard("delete_reaction", {"message_id": mid, "reaction_id": rid})
            if guarded is not None:
                return guarded
            r = self.reactions.pop(rid, None)
            if r is None:
                return self.err(400, 231003, "reaction not found")
            return self.ok({"reaction_id": rid, "reaction_type": {"emoji_type": r["emoji_type"]}})

        def _upload_part(name: str) -> tuple[bytes | None, str | None]:
            if name in request.files:
                f = request.files[name]
                return f.read(), f.filename
            if name in request.form:  # a part without filename lands in form (§5.5)
                return request.form[name].encode("latin-1", "replace"), None
            return None, None

        @app.post("/open-apis/im/v1/files")
        def upload_file() -> Response:
            guarded = self._guard("upload_file")
            if guarded is not None:
                return guarded
            data, filename = _upload_part("file")
            if not data:
                return self.err(400, 234001, "file is empty")
            if len(data) > 30 * 1024 * 1024:
                return self.err(400, 234006, "file too large")
            key = f"file_v3_{secrets.token_hex(6)}"
            self.uploads.append({"kind": "file", "key": key, "data": data, "filename": filename,
                                 "file_type": request.form.get("file_type"),
                                 "file_name": request.form.get("file_name"),
                                 "duration": request.form.get("duration")})
            return self.ok({"file_key": key})

        @app.post("/open-apis/im/v1/images")
        def upload_image() -> Response:
            guarded = self._guard("upload_image")
            if guarded is not None:
                return guarded
            data, filename = _upload_part("image")
            if not data or request.form.get("image_type") not in ("message", "avatar"):
                return self.err(400, 234001, "bad image upload")
            key = f"img_v3_{secrets.token_hex(6)}"
            self.uploads.append({"kind": "image", "key": key, "data": data, "filename": filename,
                                 "image_type": request.form.get("image_type")})
            return self.ok({"image_key": key})

        @app.get("/open-apis/im/v1/messages/<mid>/resources/<key>")
        def resource(mid: str, key: str) -> Response:
            details = {"message_id": mid, "key": key, "type": request.args.get("type")}
            guarded = self._guard("resource", details)
            if guarded is not None:
                return guarded
            found = self.resources.get((mid, key))
            if found is None or found[2] != request.args.get("type"):
                return self.err(400, 234003, "file not found or not in this message")
            data, name, _ = found
            r = Response(data, status=200, mimetype="application/octet-stream")
            r.headers["Content-Disposition"] = f'attachment; filename="{name}"'
            r.headers["X-Tt-Logid"] = "lid-download"
            return r

        return app


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    s.start()
    yield s
    s.stop()


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    def __call__(self, d: float) -> None:
        self.delays.append(d)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sleeps: Sleeps) -> Callable[..., FeishuClient]:
    def make(origin: str, **kw: Any) -> FeishuClient:
        kw.setdefault("sleep", sleeps)
        kw.setdefault("backoff", 0.01)
        kw.setdefault("timeout", 5)
        return FeishuClient(kw.pop("app_id", APP_ID), kw.pop("app_secret", APP_SECRET), base_url=origin, **kw)

    return make


@pytest.fixture
def client(stub: Stub, make_client: Callable[..., FeishuClient]) -> FeishuClient:
    return make_client(stub.origin)


def seed(stub: Stub, mid: str = "om_user_1", chat: str = "oc_chat_1", **kw: Any) -> str:
    stub.add_message(mid, msg_type="text", content=json.dumps({"text": "/video a cat"}), chat_id=chat,
                     sender={"id": "ou_user_1", "id_type": "open_id", "sender_type": "user",
                             "tenant_key": "t_stub"}, **kw)
    return mid


# --------------------------------------------------------------------------------------------------
# construction, repr, settings, domains
# --------------------------------------------------------------------------------------------------
def test_repr_never_shows_the_secret(stub: Stub, client: FeishuClient) -> None:
    assert APP_SECRET not in repr(client)
    assert APP_SECRET not in str(vars(client))
    assert APP_ID in repr(client)


@pytest.mark.parametrize(
    ("domain", "expected"),
    [("feishu", "https://open.feishu.cn"), ("lark", "https://open.larksuite.com"),
     ("LARK", "https://open.larksuite.com"), ("https://open.example.com/", "https://open.example.com")],
)
def test_from_settings_domain_selection(domain: str, expected: str) -> None:
    s = Settings(FEISHU_APP_ID="cli_x", FEISHU_APP_SECRET="sek", FEISHU_DOMAIN=domain)  # type: ignore[call-arg]
    c = FeishuClient.from_settings(s)
    assert c.base_url == expected
    assert c._sdk.config.domain == expected  # the SDK really points there
    assert "sek" not in repr(c)


def test_from_settings_custom_loopback_domain_talks_to_that_server(stub: Stub) -> None:
    s = Settings(FEISHU_APP_ID=APP_ID, FEISHU_APP_SECRET=APP_SECRET, FEISHU_DOMAIN=stub.origin)  # type: ignore[call-arg]
    assert FeishuClient.from_settings(s).bot_info() == BotInfo("ou_bot_stub", "StubBot")


def test_from_settings_without_credentials_says_what_is_missing() -> None:
    with pytest.raises(MissingSettingError, match="FEISHU_APP_ID"):
        FeishuClient.from_settings(Settings())


def test_bad_base_url_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="base URL"):
        FeishuClient(APP_ID, APP_SECRET, base_url="http://10.0.0.5:8080")
    with pytest.raises(ValueError, match="base URL"):
        FeishuClient(APP_ID, APP_SECRET, base_url="https://open.feishu.cn/open-apis")


# --------------------------------------------------------------------------------------------------
# happy paths
# --------------------------------------------------------------------------------------------------
def test_bot_info_reads_top_level_bot(stub: Stub, client: FeishuClient) -> None:
    assert client.bot_info() == BotInfo(open_id="ou_bot_stub", app_name="StubBot")


def test_reply_in_thread_with_uuid(stub: Stub, client: FeishuClient) -> None:
    mid = seed(stub)
    sent = client.reply_text(mid, "On it", reply_in_thread=True, uuid="job-1-ack")
    assert isinstance(sent, SentMessage)
    assert sent.parent_id == mid and sent.root_id == mid and sent.chat_id == "oc_chat_1"
    assert sent.thread_id and sent.thread_id.startswith("omt_")
    _, details = stub.calls[-1]
    body = details["body"]
    assert body["msg_type"] == "text" and body["reply_in_thread"] is True and body["uuid"] == "job-1-ack"
    assert isinstance(body["content"], str) and json.loads(body["content"]) == {"text": "On it"}
    again = client.reply_text(mid, "On it", reply_in_thread=True, uuid="job-1-ack")
    assert again.message_id == sent.message_id
    assert sum(1 for m in stub.messages.values() if m.get("uuid") == "job-1-ack") == 1


def test_reply_accepts_a_json_string_but_not_plain_text(stub: Stub, client: FeishuClient) -> None:
    mid = seed(stub)
    client.reply(mid, "text", '{"text":"hi"}')
    with pytest.raises(ValueError):
        client.reply(mid, "text", "hi")
    with pytest.raises(ValueError):
        client.reply(mid, "text", {"text": "x"}, uuid="u" * 51)


def test_oversize_card_is_refused_locally(stub: Stub, client: FeishuClient) -> None:
    with pytest.raises(FeishuError, match="at most"):
        client.send_card("oc_1", {"schema": "2.0", "body": {"elements": [{"tag": "markdown",
                                                                          "content": "x" * 40_000}]}})
    assert stub.calls == []


def test_send_card_patch_and_get(stub: Stub, client: FeishuClient) -> None:
    card = {"schema": "2.0", "config": {"update_multi": True},
            "body": {"elements": [{"tag": "markdown", "content": "queued"}]}}
    sent = client.send_card("oc_chat_1", card, uuid="card-1")
    route, details = stub.calls[-1]
    assert route == "send" and details["query"] == {"receive_id_type": "chat_id"}
    assert details["body"]["receive_id"] == "oc_chat_1" and details["body"]["msg_type"] == "interactive"
    card["body"]["elements"][0]["content"] = "running 40 %"  # type: ignore[index]
    client.patch_card(sent.message_id, card)
    info = client.get_message(sent.message_id)
    assert isinstance(info, MessageInfo)
    assert info.msg_type == "interactive" and info.content == card and info.chat_id == "oc_chat_1"
    assert info.sender_id == APP_ID


def test_get_message_parses_user_message(stub: Stub, client: FeishuClient) -> None:
    mid = seed(stub, thread_id="omt_t1", root_id="om_root", parent_id="om_root")
    info = client.get_message(mid)
    assert info == MessageInfo(message_id=mid, msg_type="text", content={"text": "/video a cat"},
                               chat_id="oc_chat_1", thread_id="omt_t1", parent_id="om_root",
                               root_id="om_root", sender_id="ou_user_1")


def test_reactions(stub: Stub, client: FeishuClient) -> None:
    mid = seed(stub)
    rid = client.add_reaction(mid, "OnIt")
    assert stub.reactions[rid] == {"message_id": mid, "emoji_type": "OnIt"}
    client.delete_reaction(mid, rid)
    assert rid not in stub.reactions


def test_upload_video_streams_a_named_part(stub: Stub, client: FeishuClient, tmp_path: Path) -> None:
    from sim.media import make_mp4

    mp4 = make_mp4(tmp_path / "clip.mp4", 64, 64, 1.0, fps=8)
    key = client.upload_video(mp4, duration_ms=1000)
    up = stub.uploads[-1]
    assert up["key"] == key and up["data"] == mp4.read_bytes()
    assert up["filename"] == "clip.mp4" and up["file_name"] == "clip.mp4"
    assert up["file_type"] == "mp4" and up["duration"] == "1000"
    key2 = client.upload_video(mp4, duration_ms=1000, file_name="视频.mp4")
    assert key2 != key and stub.uploads[-1]["file_name"] == "视频.mp4"


def test_upload_video_local_checks(stub: Stub, client: FeishuClient, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(FeishuError, match="empty"):
        client.upload_video(empty, duration_ms=1000)
    big = tmp_path / "big.mp4"
    with big.open("wb") as fh:
        fh.truncate(30 * 1024 * 1024 + 1)  # sparse
    with pytest.raises(FeishuError, match="at most 30 MB"):
        client.upload_video(big, duration_ms=1000)
    with pytest.raises(FeishuError, match="cannot read"):
        client.upload_video(tmp_path / "missing.mp4", duration_ms=1000)
    assert stub.token_calls == 0 and stub.uploads == []  # nothing went out


def test_upload_image_bytes_and_path(stub: Stub, client: FeishuClient, tmp_path: Path) -> None:
    from sim.media import make_png

    png = make_png(tmp_path / "cover.png", 32, 32)
    k1 = client.upload_image(png.read_bytes())
    k2 = client.upload_image(png)
    assert k1 != k2
    assert [u["image_type"] for u in stub.uploads] == ["message", "message"]
    assert stub.uploads[0]["data"] == stub.uploads[1]["data"] == png.read_bytes()
    assert stub.uploads[0]["filename"] == "image.png" and stub.uploads[1]["filename"] == "cover.png"
    with pytest.raises(FeishuError, match="at most 10 MB"):
        client.upload_image(b"\x89PNG" + b"\0" * (10 * 1024 * 1024))
    with pytest.raises(FeishuError, match="empty"):
        client.upload_image(b"")


def test_reply_media_has_both_keys(stub: Stub, client: FeishuClient) -> None:
    mid = seed(stub)
    sent = client.reply_media(mid, "file_v3_x", "img_v3_y", reply_in_thread=True, uuid="job-1-video")
    m = stub.messages[sent.message_id]
    assert m["msg_type"] == "media" and json.loads(m["content"]) == {"file_key": "file_v3_x",
                                                                     "image_key": "img_v3_y"}
    with pytest.raises(ValueError):
        client.reply_media(mid, "file_v3_x", "")


def test_download_resource(stub: Stub, client: FeishuClient) -> None:
    mid = seed(stub)
    stub.resources[(mid, "img_v3_a")] = (b"\x89PNG-bytes", "a.png", "image")
    assert client.download_resource(mid, "img_v3_a", type="image", max_bytes=1000) == b"\x89PNG-bytes"
    assert stub.calls[-1][1]["type"] == "image"
    with pytest.raises(DownloadError) as ei:
        client.download_resource(mid, "img_v3_a", type="image", max_bytes=4)
    assert ei.value.reason == "too_large"
    with pytest.raises(FeishuError) as fe:
        client.download_resource(mid, "img_v3_missing", type="image", max_bytes=1000)
    assert fe.value.code == 234003 and fe.value.log_id and not fe.value.retryable


# --------------------------------------------------------------------------------------------------
# errors and retries
# --------------------------------------------------------------------------------------------------
def test_non_retryable_error_raises_at_once_with_log_id(stub: Stub, client: FeishuClient,
                                                        sleeps: Sleeps) -> None:
    mid = seed(stub)
    stub.inject("reply", Fault(status=400, code=230002, msg="Bot is not in the chat"))
    with pytest.raises(FeishuError) as ei:
        client.reply_text(mid, "hi", uuid="u-230002")
    e = ei.value
    assert e.code == 230002 and e.status == 400 and not e.retryable
    assert e.log_id == stub.log_ids[-1]
    assert "Bot is not in the chat" in str(e)
    assert sleeps.delays == [] and stub.count("reply") == 0


def test_429_honours_ratelimit_reset(stub: Stub, client: FeishuClient, sleeps: Sleeps) -> None:
    mid = seed(stub)
    stub.inject("reply", Fault(status=429, code=99991400, msg="request trigger frequency limit",
                               headers={"x-ogw-ratelimit-reset": "2"}))
    sent = client.reply_text(mid, "hi")  # no uuid: a 429 was never processed, so retrying is safe
    assert sent.message_id and sleeps.delays == [2.0]
    assert stub.count("reply") == 1


def test_ratelimit_reset_is_capped(stub: Stub, make_client: Callable[..., FeishuClient],
                                   sleeps: Sleeps) -> None:
    c = make_client(stub.origin, max_delay=0.5)
    stub.inject("bot_info", Fault(status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "3600"}))
    c.bot_info()
    assert sleeps.delays == [0.5]


def test_chat_rate_limit_230020_is_retried_even_without_uuid(stub: Stub, client: FeishuClient,
                                                            sleeps: Sleeps) -> None:
    stub.inject("send", Fault(status=400, code=230020, msg="chat rate limit"),
                Fault(status=400, code=11232, msg="tenant rate limit"))
    sent = client.send_text("oc_chat_1", "hello")
    assert sent.message_id and len(sleeps.delays) == 2
    # backoff 0.01 · 2^n with 50-100 % jitter
    assert 0.005 <= sleeps.delays[0] <= 0.01 and 0.01 <= sleeps.delays[1] <= 0.02
    assert len(stub.messages) == 1


def test_5xx_retried_for_idempotent_calls(stub: Stub, client: FeishuClient, sleeps: Sleeps) -> None:
    mid = seed(stub)
    stub.inject("reply", Fault(status=500, code=500, msg="internal error"))
    sent = client.reply_text(mid, "hi", uuid="u-500")
    assert sent.message_id and len(sleeps.delays) == 1


def test_5xx_not_retried_for_send_without_uuid(stub: Stub, client: FeishuClient, sleeps: Sleeps) -> None:
    mid = seed(stub)
    stub.inject("reply", Fault(status=503, code=503, msg="unavailable"))
    with pytest.raises(FeishuError) as ei:
        client.reply_text(mid, "hi")
    assert ei.value.status == 503 and not ei.value.retryable and "outcome unknown" in str(ei.value)
    assert sleeps.delays == []


def test_retries_exhausted(stub: Stub, make_client: Callable[..., FeishuClient], sleeps: Sleeps) -> None:
    c = make_client(stub.origin, max_retries=2)
    stub.inject("get_message", *[Fault(status=502, code=502, msg="bad gateway")] * 3)
    with pytest.raises(FeishuError) as ei:
        c.get_message("om_x")
    assert ei.value.retryable and ei.value.status == 502 and len(sleeps.delays) == 2


def test_non_json_gateway_page_is_retried_when_idempotent(stub: Stub, client: FeishuClient,
                                                         sleeps: Sleeps) -> None:
    mid = seed(stub)
    stub.inject("get_message", Fault(status=502, raw="<html>502 Bad Gateway</html>"))
    assert client.get_message(mid).message_id == mid
    assert len(sleeps.delays) == 1
    stub.inject("send", Fault(status=502, raw="<html>502 Bad Gateway</html>"))
    with pytest.raises(FeishuError, match="unparseable"):
        client.send_text("oc_chat_1", "x")


def test_expired_token_is_refreshed_once(stub: Stub, client: FeishuClient, sleeps: Sleeps) -> None:
    mid = seed(stub)
    client.bot_info()
    assert stub.token_calls == 1
    stub.tokens.clear()  # the server forgets every token: the cached one now gets 99991663
    client.reply_text(mid, "hi")  # no uuid: a rejected token means nothing was sent
    assert stub.token_calls == 2 and stub.auth_failures == 1 and sleeps.delays == []
    assert stub.count("reply") == 1


def test_injected_99991663_refreshes_then_gives_up(stub: Stub, client: FeishuClient) -> None:
    stub.inject("bot_info", *[Fault(status=400, code=99991663, msg="invalid token")] * 2)
    with pytest.raises(FeishuError) as ei:
        client.bot_info()
    assert ei.value.code == 99991663 and stub.token_calls == 2  # one refresh, then the error


def test_bad_secret(stub: Stub, make_client: Callable[..., FeishuClient], sleeps: Sleeps) -> None:
    c = make_client(stub.origin, app_secret="wrong-secret")
    with pytest.raises(FeishuError) as ei:
        c.bot_info()
    assert ei.value.code == 99991543 and "wrong-secret" not in str(ei.value) and sleeps.delays == []


def test_token_endpoint_rate_limit_is_retried(stub: Stub, client: FeishuClient, sleeps: Sleeps) -> None:
    stub.inject("token", Fault(status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "1"}))
    assert client.send_text("oc_chat_1", "hi").message_id  # the send itself was never attempted
    assert sleeps.delays == [1.0]


def test_connection_refused_is_retried_then_reported(make_client: Callable[..., FeishuClient],
                                                     sleeps: Sleeps) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = make_client(f"http://127.0.0.1:{port}", max_retries=2)
    with pytest.raises(FeishuError) as ei:
        c.send_text("oc_1", "hi")
    assert ei.value.retryable and "transport error" in str(ei.value) and len(sleeps.delays) == 2


def test_read_timeout_send_without_uuid_is_not_retried(stub: Stub, make_client: Callable[..., FeishuClient],
                                                       sleeps: Sleeps) -> None:
    c = make_client(stub.origin, timeout=0.3)
    c.bot_info()  # token cached
    stub.inject("send", Fault(delay=0.8, passthrough=True))
    with pytest.raises(FeishuError) as ei:
        c.send_text("oc_chat_1", "hi")
    assert not ei.value.retryable and "outcome unknown" in str(ei.value) and sleeps.delays == []
    time.sleep(0.7)  # the stub still records the late request: exactly the duplicate risk we avoided
    assert stub.count("send") == 1


def test_read_timeout_with_uuid_is_retried_and_deduped(stub: Stub, make_client: Callable[..., FeishuClient],
                                                       sleeps: Sleeps) -> None:
    c = make_client(stub.origin, timeout=0.3)
    c.bot_info()
    stub.inject("send", Fault(delay=0.5, passthrough=True))
    sent = c.send_text("oc_chat_1", "hi", uuid="job-9-ack")
    time.sleep(0.4)
    assert len(sleeps.delays) == 1 and sent.message_id
    same = [m["message_id"] for m in stub.messages.values() if m.get("uuid") == "job-9-ack"]
    assert same == [sent.message_id]


def test_upload_retry_resends_the_whole_file(stub: Stub, client: FeishuClient, tmp_path: Path) -> None:
    f = tmp_path / "v.mp4"
    f.write_bytes(b"\0\0\0\x18ftypmp42" + bytes(range(256)) * 100)
    stub.inject("upload_file", Fault(status=500, code=500))
    client.upload_video(f, duration_ms=500)
    assert stub.uploads[-1]["data"] == f.read_bytes()


# --------------------------------------------------------------------------------------------------
# token isolation (the SDK's TokenManager cache is process-global)
# --------------------------------------------------------------------------------------------------
def test_two_clients_same_app_id_do_not_share_tokens(make_client: Callable[..., FeishuClient]) -> None:
    import lark_oapi as lark
    from lark_oapi.core.cache import LocalCache
    from lark_oapi.core.token import TokenManager

    saved = TokenManager.cache
    a, b = Stub(), Stub()
    a.start()
    b.start()
    try:
        # Even a poisoned SDK-global cache entry for this app_id must not be used.
        TokenManager.cache = LocalCache()
        TokenManager.cache.set(f"self_tenant_token:{APP_ID}", "t-poison", int(time.time()) + 3600)
        ca, cb = make_client(a.origin), make_client(b.origin)
        for _ in range(3):
            ca.bot_info()
            cb.bot_info()
        # A client built with a custom SDK cache replaces the SDK global (that is what `.cache()` does)…
        lark.Client.builder().app_id(APP_ID).app_secret("x").cache(_DictCache()).build()
        assert isinstance(TokenManager.cache, _DictCache)
        ca.bot_info()  # …and ours are unaffected.
        cb.bot_info()
        assert (a.token_calls, b.token_calls) == (1, 1)
        assert a.auth_failures == b.auth_failures == 0
    finally:
        TokenManager.cache = saved
        a.stop()
        b.stop()


class _DictCache:
    def __init__(self) -> None:
        self.d: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.d.get(key)

    def set(self, key: str, value: str, expire: int) -> None:
        self.d[key] = value


def test_short_lived_token_is_refetched(make_client: Callable[..., FeishuClient]) -> None:
    s = Stub(token_expire=1)
    s.start()
    try:
        c = make_client(s.origin)
        c.bot_info()
        time.sleep(0.6)  # past half of the 1 s life
        c.bot_info()
        assert s.token_calls == 2 and s.auth_failures == 0
    finally:
        s.stop()


def test_no_secret_or_token_in_logs(stub: Stub, client: FeishuClient,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    stub.inject("bot_info", Fault(status=400, code=99991663), Fault(status=500, code=500))
    client.bot_info()
    stub.inject("send", Fault(status=400, code=230002))
    with pytest.raises(FeishuError):
        client.send_text("oc_1", "hi")
    text = caplog.text
    assert APP_SECRET not in text
    assert not any(t in text for t in stub.tokens)
    assert "log_id=lid-" in text


# --------------------------------------------------------------------------------------------------
# against the project's simulator (sim.feishu), a fake written separately from the same document
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def sim(feishu_sim_factory: Callable[..., Any]) -> Any:
    """A plain simulator (no encryption: these tests never push events to a webhook)."""
    return feishu_sim_factory()


@pytest.fixture
def sim_client(sim: Any, make_client: Callable[..., FeishuClient]) -> FeishuClient:
    return make_client(sim.origin, app_id=sim.app_id, app_secret=sim.app_secret)


def user_says(sim: Any, text: str, **kw: Any) -> str:
    """A user message in the simulator's group (not pushed to any webhook); returns its message_id."""
    kw.setdefault("chat_id", "oc_sim_group")
    return str(sim.send(chat_type="group", user={"open_id": "ou_alice", "name": "Alice"}, text=text,
                        deliver=False, **kw)["message_id"])


def test_sim_bot_info(sim: Any, sim_client: FeishuClient) -> None:
    assert sim_client.bot_info() == BotInfo(open_id=sim.bot_open_id, app_name=sim.bot_name)


def test_sim_reply_in_thread_uuid_idempotent(sim: Any, sim_client: FeishuClient) -> None:
    mid = user_says(sim, "/video a cat")
    a = sim_client.reply_text(mid, "On it", reply_in_thread=True, uuid="sim-ack-1")
    b = sim_client.reply_text(mid, "On it", reply_in_thread=True, uuid="sim-ack-1")
    assert a == b and a.thread_id and a.parent_id == mid and a.chat_id == "oc_sim_group"
    replies = [m for m in sim.messages() if m["uuid"] == "sim-ack-1"]
    assert len(replies) == 1
    assert replies[0]["msg_type"] == "text" and replies[0]["content"] == {"text": "On it"}
    assert replies[0]["thread_id"] == a.thread_id
    # a later reply to the same user message lands in the same thread
    c = sim_client.reply_text(mid, "Done", reply_in_thread=True, uuid="sim-done-1")
    assert c.thread_id == a.thread_id


def test_sim_card_send_patch_and_reaction(sim: Any, sim_client: FeishuClient) -> None:
    mid = user_says(sim, "/video a dog")
    card: dict[str, Any] = {"schema": "2.0", "config": {"update_multi": True},
                            "header": {"title": {"tag": "plain_text", "content": "Job"}},
                            "body": {"elements": [{"tag": "markdown", "content": "queued"}]}}
    sent = sim_client.reply_card(mid, card, reply_in_thread=True, uuid="sim-card-1")
    card["body"]["elements"][0]["content"] = "done"
    sim_client.patch_card(sent.message_id, card)
    rec = sim.message(sent.message_id)
    assert rec["msg_type"] == "interactive" and rec["content"] == card and rec["patch_count"] == 1
    rid = sim_client.add_reaction(mid, "OnIt")
    assert sim.message(mid)["reactions"] == ["OnIt"]
    sim_client.delete_reaction(mid, rid)
    assert sim.message(mid)["reactions"] == []
    sent2 = sim_client.send_card("oc_sim_group", card, uuid="sim-card-2")
    assert sim.message(sent2.message_id)["msg_type"] == "interactive"
    info = sim_client.get_message(sent.message_id)
    assert info.msg_type == "interactive" and info.sender_id == sim.app_id


def test_sim_patch_of_a_user_message_is_not_retried(sim: Any, sim_client: FeishuClient,
                                                    sleeps: Sleeps) -> None:
    mid = user_says(sim, "hello")
    card = {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": []}}
    with pytest.raises(FeishuError) as ei:
        sim_client.patch_card(mid, card)
    assert ei.value.code != 0 and ei.value.log_id and not ei.value.retryable and sleeps.delays == []


def test_sim_video_reply_is_media_with_both_keys(sim: Any, sim_client: FeishuClient, tmp_path: Path) -> None:
    from sim.media import make_mp4, make_png

    mid = user_says(sim, "/video waves")
    mp4 = make_mp4(tmp_path / "out.mp4", 64, 64, 1.0, fps=8)
    cover = make_png(tmp_path / "cover.png", 64, 64)
    fkey = sim_client.upload_video(mp4, duration_ms=1000)
    ikey = sim_client.upload_image(cover)
    sent = sim_client.reply_media(mid, fkey, ikey, reply_in_thread=True, uuid="sim-video-1")
    rec = sim.message(sent.message_id)
    assert rec["msg_type"] == "media"
    assert rec["content"]["file_key"] == fkey and rec["content"]["image_key"] == ikey
    stored = sim.file(fkey)
    assert stored.data == mp4.read_bytes() and stored.file_type == "mp4" and stored.duration == 1000
    assert stored.file_name == "out.mp4"
    assert sim.image(ikey).data == cover.read_bytes()


def test_sim_download_image_from_a_post(sim: Any, sim_client: FeishuClient, tmp_path: Path) -> None:
    from sim.media import make_png

    png = make_png(tmp_path / "in.png", 48, 32).read_bytes()
    key = sim.upload_user_image(png)["image_key"]
    mid = user_says(sim, "/video make it dance", images=[key])
    info = sim_client.get_message(mid)
    assert info.msg_type == "post" and info.sender_id == "ou_alice"
    paragraphs = info.content.get("content", [])
    keys = [el["image_key"] for para in paragraphs for el in para if el.get("tag") == "img"]
    assert keys == [key]
    assert sim_client.download_resource(mid, key, type="image", max_bytes=10_000_000) == png
    with pytest.raises(DownloadError):
        sim_client.download_resource(mid, key, type="image", max_bytes=len(png) - 1)
    with pytest.raises(FeishuError) as ei:
        sim_client.download_resource(mid, "img_v3_not_here", type="image", max_bytes=10_000_000)
    assert not ei.value.retryable and ei.value.log_id


def test_sim_gateway_faults_and_token_expiry(sim: Any, sim_client: FeishuClient, sleeps: Sleeps) -> None:
    mid = user_says(sim, "/video rain")
    sim.inject_faults(1, 429)
    sim_client.reply_text(mid, "a")  # no uuid, but a 429 was never processed
    assert sleeps.delays == [1.0]  # the simulator's x-ogw-ratelimit-reset
    sim.inject_faults(1, 500)
    sim_client.reply_text(mid, "b", uuid="sim-b")
    assert len(sleeps.delays) == 2
    sim.expire_tokens()
    sim_client.reply_text(mid, "c")
    assert len(sleeps.delays) == 2  # a token refresh does not back off
    assert [m["content"]["text"] for m in sim.messages(sender="bot")] == ["a", "b", "c"]


def test_sim_chat_rate_limit_is_absorbed(sim: Any, make_client: Callable[..., FeishuClient]) -> None:
    waits: list[float] = []

    def sleep(d: float) -> None:  # really wait: the simulator's window is 1 s of wall time
        waits.append(d)
        time.sleep(d)

    c = make_client(sim.origin, app_id=sim.app_id, app_secret=sim.app_secret, backoff=0.3, max_retries=5,
                    sleep=sleep)
    sent = [c.send_text("oc_sim_burst", f"n{i}") for i in range(sim.chat_qps + 2)]  # no uuid: 230020 is safe
    assert len({s.message_id for s in sent}) == sim.chat_qps + 2 and waits
    assert len(sim.messages(chat_id="oc_sim_burst")) == sim.chat_qps + 2


def test_sim_lark_and_feishu_clients_are_isolated(make_client: Callable[..., FeishuClient]) -> None:
    """Same app_id on two "clouds" (two simulators): each client keeps its own token."""
    from sim.feishu import FeishuSimulator

    with FeishuSimulator() as feishu, FeishuSimulator() as lark_sim:
        s1 = Settings(FEISHU_APP_ID=feishu.app_id, FEISHU_APP_SECRET=feishu.app_secret,  # type: ignore[call-arg]
                      FEISHU_DOMAIN=feishu.origin)
        s2 = Settings(FEISHU_APP_ID=lark_sim.app_id, FEISHU_APP_SECRET=lark_sim.app_secret,  # type: ignore[call-arg]
                      FEISHU_DOMAIN=lark_sim.origin)
        c1, c2 = FeishuClient.from_settings(s1, max_retries=0), FeishuClient.from_settings(s2, max_retries=0)
        for _ in range(2):
            assert c1.bot_info().open_id == feishu.bot_open_id
            assert c2.bot_info().open_id == lark_sim.bot_open_id


# --------------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------------
def _feishu_calls(client: FeishuClient, op: str, code: str) -> float:
    """A count in the client's own metrics (a private `ProcessMetrics`: none was passed)."""
    return client.metrics.registry.get_sample_value("bot_feishu_calls_total", {"op": op, "code": code}) or 0.0


def test_every_attempt_is_counted_by_operation_and_a_bounded_code(stub: Stub, client: FeishuClient) -> None:
    """bot_feishu_calls_total{op, code}: 0 for success, known codes as themselves, the rest a bucket."""
    from bot.clients.feishu import code_label

    keys = [("send", "230020"), ("send", "0"), ("reply", "230002"), ("reply", "server_error"), ("reply", "0"),
            ("bot_info", "other")]
    before = {k: _feishu_calls(client, *k) for k in keys}
    stub.inject("send", Fault(status=400, code=230020, msg="chat rate limit"))
    client.send_text("oc_chat_1", "hello")  # retried: one 230020, then one success
    mid = seed(stub)
    stub.inject("reply", Fault(status=400, code=230002, msg="Bot is not in the chat"))
    with pytest.raises(FeishuError):
        client.reply_text(mid, "hi", uuid="u-metrics-1")
    stub.inject("reply", Fault(status=502, code=777777, msg="bad gateway"))
    client.reply_text(mid, "hi", uuid="u-metrics-2")  # a 5xx with an unknown code, retried
    stub.inject("bot_info", Fault(status=400, code=1234567, msg="something new"))
    with pytest.raises(FeishuError):
        client.bot_info()
    after = {k: _feishu_calls(client, *k) for k in keys}
    assert {k: after[k] - before[k] for k in keys} == dict.fromkeys(keys, 1.0)
    assert code_label(99991663) == "99991663" and code_label(-1) == "-1"
    assert code_label(424242, 400) == "other" and code_label(424242, 503) == "server_error"
