"""The Feishu simulator speaks Feishu's wire format: proven with the official SDK (lark-oapi) on
both sides, the Open API client and the webhook EventDispatcherHandler, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import collections
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import av
import lark_oapi as lark
import pytest
import requests
from flask import Flask
from lark_oapi.adapter.flask import parse_req, parse_resp
from lark_oapi.api.im.v1 import (
    CreateFileRequest,
    CreateFileRequestBody,
    CreateImageRequest,
    CreateImageRequestBody,
    CreateMessageReactionRequest,
    CreateMessageReactionRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    DeleteMessageReactionRequest,
    Emoji,
    GetMessageRequest,
    GetMessageResourceRequest,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.event.callback.model.p2_card_action_trigger import (
    P2CardActionTrigger,
    P2CardActionTriggerResponse,
)
from PIL import Image
from werkzeug.serving import make_server

from sim import feishu_events as ev
from sim.feishu import FeishuSimulator, SimUsageError

pytest_plugins = ["fixtures_feishu"]  # feishu_sim, feishu_sim_factory (a no-op if conftest registers it too)

TEST_ENCRYPT_KEY = "test-encrypt-key"  # what the feishu_sim fixture uses
TEST_VERIFICATION_TOKEN = "test-verification-token"
FAST_RETRIES = (0.05, 0.05, 0.05, 0.05)

APPROVE_CARD: dict[str, Any] = {
    "schema": "2.0",
    "config": {"update_multi": True},
    "header": {"title": {"tag": "plain_text", "content": "Draft ready"}, "template": "blue"},
    "body": {
        "elements": [
            {"tag": "markdown", "content": "**Prompt:** a kitten yawning"},
            {
                "tag": "column_set",
                "columns": [
                    {
                        "tag": "column",
                        "elements": [
                            {
                                "tag": "button",
                                "text": {"tag": "plain_text", "content": "Approve draft"},
                                "type": "primary",
                                "behaviors": [
                                    {"type": "callback", "value": {"action": "approve", "draft_id": "d42"}}
                                ],
                            }
                        ],
                    },
                    {
                        "tag": "column",
                        "elements": [
                            {
                                "tag": "button",
                                "text": {"tag": "plain_text", "content": "Discard"},
                                "type": "danger",
                                "behaviors": [
                                    {"type": "callback", "value": {"action": "discard", "draft_id": "d42"}}
                                ],
                            }
                        ],
                    },
                ],
            },
        ]
    },
}


# --- helpers ---------------------------------------------------------------------------------------


def sdk_client(sim: FeishuSimulator) -> lark.Client:
    return (
        lark.Client.builder()
        .app_id(sim.app_id)
        .app_secret(sim.app_secret)
        .domain(sim.origin)
        .log_level(lark.LogLevel.ERROR)
        .build()
    )


def tiny_mp4() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_image(Image.new("RGB", (16, 16), (i * 40, 10, 10)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def png_bytes(w: int = 32, h: int = 24) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def reply_text(client: lark.Client, message_id: str, text: str, **opts: Any) -> Any:
    body = ReplyMessageRequestBody.builder().msg_type("text").content(json.dumps({"text": text}))
    if "reply_in_thread" in opts:
        body = body.reply_in_thread(opts["reply_in_thread"])
    if "uuid" in opts:
        body = body.uuid(opts["uuid"])
    return client.im.v1.message.reply(
        ReplyMessageRequest.builder().message_id(message_id).request_body(body.build()).build()
    )


def create_message(
    client: lark.Client, chat_id: str, msg_type: str, content: Any, uuid: str | None = None
) -> Any:
    body = (
        CreateMessageRequestBody.builder()
        .receive_id(chat_id)
        .msg_type(msg_type)
        .content(content if isinstance(content, str) else json.dumps(content))
    )
    if uuid:
        body = body.uuid(uuid)
    return client.im.v1.message.create(
        CreateMessageRequest.builder().receive_id_type("chat_id").request_body(body.build()).build()
    )


def patch_card(client: lark.Client, message_id: str, card: Any) -> Any:
    return client.im.v1.message.patch(
        PatchMessageRequest.builder()
        .message_id(message_id)
        .request_body(PatchMessageRequestBody.builder().content(json.dumps(card)).build())
        .build()
    )


def upload_mp4(client: lark.Client, data: bytes) -> Any:
    return client.im.v1.file.create(
        CreateFileRequest.builder()
        .request_body(
            CreateFileRequestBody.builder()
            .file_type("mp4")
            .file_name("out.mp4")
            .duration(500)
            .file(io.BytesIO(data))
            .build()
        )
        .build()
    )


def upload_image(client: lark.Client, data: bytes) -> Any:
    return client.im.v1.image.create(
        CreateImageRequest.builder()
        .request_body(CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(data)).build())
        .build()
    )


def api(
    sim: FeishuSimulator, method: str, path: str, token: str | None = None, **kw: Any
) -> requests.Response:
    """A raw Open API call (for what the SDK hides: HTTP status, headers, missing auth)."""
    headers = kw.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, sim.origin + path, headers=headers, timeout=10, **kw)


def tenant_token(sim: FeishuSimulator) -> str:
    r = requests.post(
        sim.origin + "/open-apis/auth/v3/tenant_access_token/internal",
        data=json.dumps({"app_id": sim.app_id, "app_secret": sim.app_secret}),
        timeout=10,
    )
    return str(r.json()["tenant_access_token"])


class WebhookBot:
    """A minimal real bot endpoint: lark-oapi's EventDispatcherHandler behind Flask on loopback.

    `statuses` overrides the next responses' HTTP status (after the handler ran, so the event is
    recorded either way); `delays` sleeps before answering.
    """

    def __init__(self, encrypt_key: str, verification_token: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.cards: list[dict[str, Any]] = []
        self.statuses: collections.deque[int] = collections.deque()
        self.delays: collections.deque[float] = collections.deque()
        self.card_response: dict[str, Any] = {}
        self.raw_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        handler = (
            lark.EventDispatcherHandler.builder(encrypt_key, verification_token, lark.LogLevel.ERROR)
            .register_p2_im_message_receive_v1(self._on_message)
            .register_p2_card_action_trigger(self._on_card)
            .build()
        )
        app = Flask("webhook_bot")

        @app.post("/webhook/event")
        def event() -> Any:
            from flask import request

            with self._lock:
                delay = self.delays.popleft() if self.delays else 0.0
                status = self.statuses.popleft() if self.statuses else None
                self.raw_requests.append({"headers": dict(request.headers), "body": request.get_data()})
            resp = parse_resp(handler.do(parse_req()))
            if delay:
                time.sleep(delay)
            if status is not None:
                resp.status_code = status
            return resp

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhook/event"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _on_message(self, data: lark.im.v1.P2ImMessageReceiveV1) -> None:
        with self._lock:
            self.messages.append(json.loads(lark.JSON.marshal(data)))

    def _on_card(self, data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        with self._lock:
            self.cards.append(json.loads(lark.JSON.marshal(data)))
        return P2CardActionTriggerResponse(self.card_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def bot_factory() -> Iterator[Callable[..., WebhookBot]]:
    bots: list[WebhookBot] = []

    def make(
        encrypt_key: str = TEST_ENCRYPT_KEY, verification_token: str = TEST_VERIFICATION_TOKEN
    ) -> WebhookBot:
        b = WebhookBot(encrypt_key, verification_token)
        bots.append(b)
        return b

    yield make
    for b in bots:
        b.stop()


@pytest.fixture
def wired(
    feishu_sim_factory: Callable[..., FeishuSimulator], bot_factory: Callable[..., WebhookBot]
) -> tuple[FeishuSimulator, WebhookBot]:
    """An encrypting simulator pushing to a real lark-oapi webhook."""
    bot = bot_factory()
    sim = feishu_sim_factory(
        encrypt_key=TEST_ENCRYPT_KEY,
        verification_token=TEST_VERIFICATION_TOKEN,
        webhook_url=bot.url,
        retry_schedule=FAST_RETRIES,
    )
    return sim, bot


# --- Open API through the official SDK ----------------------------------------------------------------


def test_token_endpoint_needs_no_content_type_and_has_no_data_wrapper(feishu_sim: FeishuSimulator) -> None:
    r = requests.post(
        feishu_sim.origin + "/open-apis/auth/v3/tenant_access_token/internal",
        data=json.dumps({"app_id": "cli_sim_app", "app_secret": "sim-secret"}),
        timeout=10,
    )
    body = r.json()
    assert r.status_code == 200 and body["code"] == 0 and body["msg"] == "ok"
    assert body["tenant_access_token"].startswith("t-") and body["expire"] == 7200 and "data" not in body
    assert r.headers["X-Tt-Logid"]
    bad = requests.post(
        feishu_sim.origin + "/open-apis/auth/v3/tenant_access_token/internal",
        json={"app_id": "cli_sim_app", "app_secret": "wrong"},
        timeout=10,
    )
    assert bad.json()["code"] != 0 and "tenant_access_token" not in bad.json()


def test_bot_info_through_sdk_raw_request(feishu_sim: FeishuSimulator) -> None:
    client = sdk_client(feishu_sim)
    r = client.request(
        lark.BaseRequest.builder()
        .http_method(lark.HttpMethod.GET)
        .uri("/open-apis/bot/v3/info")
        .token_types({lark.AccessTokenType.TENANT})
        .build()
    )
    assert r.success(), r.msg
    bot = json.loads(r.raw.content)["bot"]
    assert bot == {
        "activate_status": 2,
        "app_name": "VideoBot",
        "avatar_url": "",
        "ip_white_list": [],
        "open_id": "ou_bot_sim",
    }


def test_reply_in_thread_is_threaded_and_uuid_idempotent(feishu_sim: FeishuSimulator) -> None:
    client = sdk_client(feishu_sim)
    user_msg = feishu_sim.send(text="/video a kitten yawning", deliver=False)
    src = user_msg["message_id"]

    first = reply_text(client, src, "Working on it", reply_in_thread=True, uuid="job-1")
    assert first.success(), first.msg
    assert first.get_log_id()
    d = first.data
    assert d.thread_id.startswith("omt_") and d.root_id == src and d.parent_id == src
    assert d.upper_message_id == src and d.msg_type == "text" and d.sender.id_type == "app_id"
    assert d.chat_id == "oc_sim_group" and json.loads(d.body.content) == {"text": "Working on it"}

    again = reply_text(client, src, "Working on it", reply_in_thread=True, uuid="job-1")
    assert again.success() and again.data.message_id == d.message_id
    assert len(feishu_sim.messages(sender="bot")) == 1

    # a reply to a message inside a thread stays in that thread, even without reply_in_thread
    nested = reply_text(client, d.message_id, "Done", uuid="job-2")
    assert nested.success()
    assert nested.data.thread_id == d.thread_id and nested.data.root_id == src
    assert feishu_sim.message(src)["thread_id"] == d.thread_id

    plain = reply_text(client, feishu_sim.send(text="hi", deliver=False)["message_id"], "plain reply")
    assert plain.success() and plain.data.thread_id is None


def test_create_and_get_message_render_mentions_like_feishu(feishu_sim: FeishuSimulator) -> None:
    client = sdk_client(feishu_sim)
    r = create_message(
        client, "oc_room", "text", {"text": '<at user_id="ou_alice">Alice</at> your video'}, "u-1"
    )
    assert r.success(), r.msg
    assert r.data.mentions[0].id == "ou_alice" and r.data.mentions[0].id_type == "open_id"
    assert json.loads(r.data.body.content) == {"text": "@_user_1 your video"}
    again = create_message(client, "oc_room", "text", {"text": "different"}, "u-1")
    assert again.data.message_id == r.data.message_id

    got = client.im.v1.message.get(GetMessageRequest.builder().message_id(r.data.message_id).build())
    assert got.success() and got.data.items[0].message_id == r.data.message_id

    user_msg = feishu_sim.send(text="/video x", user={"open_id": "ou_bob", "name": "Bob"}, deliver=False)
    got = client.im.v1.message.get(GetMessageRequest.builder().message_id(user_msg["message_id"]).build())
    item = got.data.items[0]
    assert item.sender.id == "ou_bob" and item.sender.sender_type == "user"
    assert item.mentions[0].id == "ou_bot_sim" and item.mentions[0].key == "@_user_1"
    assert json.loads(item.body.content) == {"text": "@_user_1 /video x"}


def test_upload_video_and_cover_then_reply_media(feishu_sim: FeishuSimulator) -> None:
    client = sdk_client(feishu_sim)
    mp4 = tiny_mp4()
    up = upload_mp4(client, mp4)  # BytesIO: a part without filename (request.form on the server)
    assert up.success(), up.msg
    assert up.data.file_key.startswith("file_v3_")
    stored = feishu_sim.file(up.data.file_key)
    assert stored.data == mp4 and stored.content_type == "video/mp4" and stored.duration == 500

    cover = upload_image(client, png_bytes())
    assert cover.success(), cover.msg
    assert cover.data.image_key.startswith("img_v3_")
    assert feishu_sim.image(cover.data.image_key).data == png_bytes()

    src = feishu_sim.send(text="/video a kitten", deliver=False)["message_id"]
    content = json.dumps({"file_key": up.data.file_key, "image_key": cover.data.image_key})
    r = client.im.v1.message.reply(
        ReplyMessageRequest.builder()
        .message_id(src)
        .request_body(
            ReplyMessageRequestBody.builder()
            .msg_type("media")
            .content(content)
            .reply_in_thread(True)
            .uuid("v1")
            .build()
        )
        .build()
    )
    assert r.success(), r.msg
    media = feishu_sim.message(r.data.message_id)
    assert media["msg_type"] == "media" and media["uuid"] == "v1" and media["thread_id"]

    # uploads with a real filename part (request.files) work too, and so does the resource download
    files = {"file": ("clip.mp4", mp4, "video/mp4")}
    raw = api(
        feishu_sim,
        "POST",
        "/open-apis/im/v1/files",
        tenant_token(feishu_sim),
        data={"file_type": "mp4", "file_name": "clip.mp4"},
        files=files,
    )
    assert raw.json()["code"] == 0
    dl = client.im.v1.message_resource.get(
        GetMessageResourceRequest.builder()
        .message_id(r.data.message_id)
        .file_key(up.data.file_key)
        .type("file")
        .build()
    )
    assert dl.success() and dl.file.read() == mp4 and dl.file_name == "out.mp4"


def test_async_sdk_paths(feishu_sim: FeishuSimulator) -> None:
    """lark-oapi's a* methods go through httpx (file part named `upload`), not requests."""
    client = sdk_client(feishu_sim)
    mp4 = tiny_mp4()
    src = feishu_sim.send(text="/video async", deliver=False)["message_id"]

    async def run() -> tuple[Any, Any]:
        up = await client.im.v1.file.acreate(
            CreateFileRequest.builder()
            .request_body(
                CreateFileRequestBody.builder()
                .file_type("mp4")
                .file_name("a.mp4")
                .file(io.BytesIO(mp4))
                .build()
            )
            .build()
        )
        body = (
            ReplyMessageRequestBody.builder().msg_type("text").content(json.dumps({"text": "async"})).build()
        )
        rep = await client.im.v1.message.areply(
            ReplyMessageRequest.builder().message_id(src).request_body(body).build()
        )
        return up, rep

    up, rep = asyncio.run(run())
    assert up.success() and feishu_sim.file(up.data.file_key).data == mp4
    assert rep.success() and rep.data.parent_id == src


def test_media_and_upload_validation(feishu_sim_factory: Callable[..., FeishuSimulator]) -> None:
    sim = feishu_sim_factory(file_limit=4096, image_limit=4096)
    client = sdk_client(sim)
    token = tenant_token(sim)
    too_big = upload_mp4(client, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 5000)
    assert not too_big.success() and too_big.code == 234006 and too_big.raw.status_code == 400
    not_mp4 = upload_mp4(client, b"this is not a video at all")
    assert not not_mp4.success() and not_mp4.code != 0
    assert not upload_image(client, b"not an image").success()
    empty = api(
        sim,
        "POST",
        "/open-apis/im/v1/images",
        token,
        data={"image_type": "message"},
        files={"image": ("a.png", b"", "image/png")},
    )
    assert empty.status_code == 400 and empty.json()["code"] != 0
    bad_type = api(
        sim,
        "POST",
        "/open-apis/im/v1/files",
        token,
        data={"file_type": "mov", "file_name": "a.mov"},
        files={"file": ("a.mov", b"abc")},
    )
    assert bad_type.json()["code"] != 0

    pdf = api(
        sim,
        "POST",
        "/open-apis/im/v1/files",
        token,
        data={"file_type": "pdf", "file_name": "a.pdf"},
        files={"file": ("a.pdf", b"%PDF-1.4")},
    ).json()["data"]["file_key"]
    cover = upload_image(client, png_bytes()).data.image_key
    src = sim.send(text="hi", deliver=False)["message_id"]
    for content in (
        {"file_key": pdf, "image_key": cover},  # not an mp4 upload
        {"file_key": "file_v3_unknown", "image_key": cover},
        {"file_key": pdf},  # no cover
    ):
        r = client.im.v1.message.reply(
            ReplyMessageRequest.builder()
            .message_id(src)
            .request_body(
                ReplyMessageRequestBody.builder().msg_type("media").content(json.dumps(content)).build()
            )
            .build()
        )
        assert not r.success() and r.raw.status_code == 400, content
    for msg_type, content in (
        ("image", '{"image_key":"img_v3_nope"}'),
        ("interactive", "{not json"),
        ("text", {"text": "x" * (150 * 1024 + 1)}),
        ("video", {"text": "bad msg_type"}),
        ("interactive", {"schema": "2.0", "body": {"elements": []}, "elements": []}),
        ("post", {"title": "", "content": [[{"tag": "text", "text": "no locale"}]]}),
    ):
        assert not create_message(client, "oc_room", msg_type, content).success(), msg_type
    assert not create_message(client, "oc_room", "text", {"text": "x"}, uuid="u" * 51).success()
    assert create_message(
        client, "oc_room", "post", {"zh_cn": {"title": "", "content": [[{"tag": "img", "image_key": cover}]]}}
    ).success()


def test_resource_download_of_post_image_with_range(feishu_sim: FeishuSimulator) -> None:
    client = sdk_client(feishu_sim)
    photo = feishu_sim.upload_user_image(width=64, height=48)
    post = feishu_sim.send(text="/video make it dance", images=[photo["image_key"]], deliver=False)
    r = client.im.v1.message_resource.get(
        GetMessageResourceRequest.builder()
        .message_id(post["message_id"])
        .file_key(photo["image_key"])
        .type("image")
        .build()
    )
    assert r.success(), r.msg
    data = r.file.read()
    assert data == feishu_sim.image(photo["image_key"]).data and r.file_name.endswith(".jpg")
    assert Image.open(io.BytesIO(data)).size == (64, 48)

    other = feishu_sim.upload_user_image()
    wrong = client.im.v1.message_resource.get(
        GetMessageResourceRequest.builder()
        .message_id(post["message_id"])
        .file_key(other["image_key"])
        .type("image")
        .build()
    )
    assert not wrong.success() and wrong.code == 234003

    token = tenant_token(feishu_sim)
    path = f"/open-apis/im/v1/messages/{post['message_id']}/resources/{photo['image_key']}?type=image"
    part = api(feishu_sim, "GET", path, token, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == data[:10]
    assert part.headers["Content-Range"] == f"bytes 0-9/{len(data)}"
    assert (
        part.headers["Content-Type"] == "image/jpeg" and "attachment" in part.headers["Content-Disposition"]
    )


def test_patch_card_rules_and_history(
    feishu_sim: FeishuSimulator, fresh_lark_tokens: Callable[[], None]
) -> None:
    client = sdk_client(feishu_sim)
    sent = create_message(client, "oc_room", "interactive", APPROVE_CARD)
    assert sent.success(), sent.msg
    new_card = {**APPROVE_CARD, "body": {"elements": [{"tag": "markdown", "content": "Approved"}]}}
    r = patch_card(client, sent.data.message_id, new_card)
    assert r.success(), r.msg
    record = feishu_sim.message(sent.data.message_id)
    assert record["patch_count"] == 1 and record["content"] == new_card
    assert [v["source"] for v in record["versions"]] == ["create", "patch"]

    old_style = {
        "config": {"wide_screen_mode": True},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "x"}}],
    }
    card1 = create_message(client, "oc_room", "interactive", old_style)
    assert card1.success()
    refused = patch_card(client, card1.data.message_id, new_card)  # 1.0 card without update_multi
    assert not refused.success() and refused.raw.status_code == 400

    text = create_message(client, "oc_room", "text", {"text": "hi"})
    assert not patch_card(client, text.data.message_id, new_card).success()
    user_msg = feishu_sim.send(text="hi", deliver=False)["message_id"]
    assert not patch_card(client, user_msg, new_card).success()

    feishu_sim.advance_clock(15 * 24 * 3600)
    feishu_sim.expire_tokens()  # tokens issued before the jump would have expired anyway
    fresh_lark_tokens()
    late = patch_card(sdk_client(feishu_sim), sent.data.message_id, new_card)
    assert not late.success() and late.code != 0


def test_patch_rate_limit_per_message(feishu_sim_factory: Callable[..., FeishuSimulator]) -> None:
    sim = feishu_sim_factory(patch_qps=1)
    client = sdk_client(sim)
    mid = create_message(client, "oc_room", "interactive", APPROVE_CARD).data.message_id
    codes = [patch_card(client, mid, APPROVE_CARD).code for _ in range(4)]
    assert codes[0] == 0 and 230020 in codes


def test_reactions(feishu_sim: FeishuSimulator) -> None:
    client = sdk_client(feishu_sim)
    src = feishu_sim.send(text="/video x", deliver=False)["message_id"]
    r = client.im.v1.message_reaction.create(
        CreateMessageReactionRequest.builder()
        .message_id(src)
        .request_body(
            CreateMessageReactionRequestBody.builder()
            .reaction_type(Emoji.builder().emoji_type("OnIt").build())
            .build()
        )
        .build()
    )
    assert r.success(), r.msg
    assert r.data.reaction_type.emoji_type == "OnIt" and r.data.operator.operator_type == "app"
    assert feishu_sim.reactions()[0]["message_id"] == src
    assert feishu_sim.message(src)["reactions"] == ["OnIt"]
    d = client.im.v1.message_reaction.delete(
        DeleteMessageReactionRequest.builder().message_id(src).reaction_id(r.data.reaction_id).build()
    )
    assert d.success() and feishu_sim.reactions() == []
    bad = client.im.v1.message_reaction.create(
        CreateMessageReactionRequest.builder()
        .message_id(src)
        .request_body(
            CreateMessageReactionRequestBody.builder()
            .reaction_type(Emoji.builder().emoji_type("ONIT").build())
            .build()
        )
        .build()
    )
    assert not bad.success()


def test_auth_errors(feishu_sim: FeishuSimulator) -> None:
    missing = api(feishu_sim, "GET", "/open-apis/bot/v3/info")
    assert missing.status_code == 400 and missing.json()["code"] == 99991661 and missing.headers["X-Tt-Logid"]
    bogus = api(feishu_sim, "GET", "/open-apis/bot/v3/info", "t-bogus")
    assert bogus.status_code == 400 and bogus.json()["code"] == 99991663

    client = sdk_client(feishu_sim)
    src = feishu_sim.send(text="hi", deliver=False)["message_id"]
    assert reply_text(client, src, "ok").success()
    feishu_sim.expire_tokens()  # the SDK keeps using its cached token and does not refresh
    stale = reply_text(client, src, "again")
    assert not stale.success() and stale.code == 99991663 and stale.raw.status_code == 400


def test_chat_rate_limit(feishu_sim_factory: Callable[..., FeishuSimulator]) -> None:
    sim = feishu_sim_factory(chat_qps=2)
    client = sdk_client(sim)
    results = [create_message(client, "oc_busy", "text", {"text": f"n{i}"}) for i in range(6)]
    limited = [r for r in results if not r.success()]
    assert limited and all(r.code == 230020 and r.raw.status_code == 400 for r in limited)
    assert create_message(client, "oc_other", "text", {"text": "other chats are not limited"}).success()


def test_fault_injection(feishu_sim: FeishuSimulator) -> None:
    token = tenant_token(feishu_sim)
    feishu_sim.inject_faults(1, 429)
    feishu_sim.inject_faults(1, 500)
    r1 = api(feishu_sim, "GET", "/open-apis/bot/v3/info", token)
    assert r1.status_code == 429 and r1.headers["x-ogw-ratelimit-reset"] and r1.json()["code"] == 99991400
    r2 = api(feishu_sim, "GET", "/open-apis/bot/v3/info", token)
    assert r2.status_code == 500 and r2.json()["code"] != 0
    assert api(feishu_sim, "GET", "/open-apis/bot/v3/info", token).status_code == 200


def test_fault_rate(feishu_sim_factory: Callable[..., FeishuSimulator]) -> None:
    sim = feishu_sim_factory(fault_rate=1.0, fault_statuses=(503,), seed=1)
    token = tenant_token(sim)  # the token endpoint is never faulted
    assert api(sim, "GET", "/open-apis/bot/v3/info", token).status_code == 503


# --- events and callbacks through lark-oapi's EventDispatcherHandler --------------------------------------


def test_text_event_is_encrypted_signed_and_documented(wired: tuple[FeishuSimulator, WebhookBot]) -> None:
    sim, bot = wired
    res = sim.send(
        text="/video a kitten yawning",
        chat_id="oc_team",
        user={"open_id": "ou_alice", "name": "Alice"},
    )
    assert res["status"] == 200 and res["error"] is None
    raw = bot.raw_requests[0]
    assert set(json.loads(raw["body"])) == {"encrypt"}
    for h in ("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature"):
        assert raw["headers"][h]
    assert len(raw["headers"]["X-Lark-Request-Timestamp"]) == 10  # unix seconds

    (got,) = bot.messages
    h = got["header"]
    assert h["event_id"] == res["event_id"] and len(h["event_id"]) == 32
    assert h["event_type"] == "im.message.receive_v1" and h["token"] == TEST_VERIFICATION_TOKEN
    assert h["app_id"] == "cli_sim_app" and h["tenant_key"] == "sim_tenant" and len(h["create_time"]) == 13
    assert got["schema"] == "2.0"
    sender = got["event"]["sender"]
    assert sender["sender_type"] == "user" and sender["sender_id"]["open_id"] == "ou_alice"
    assert sender["sender_id"]["union_id"].startswith("on_") and sender["tenant_key"] == "sim_tenant"
    m = got["event"]["message"]
    assert m["message_id"] == res["message_id"] and m["chat_id"] == "oc_team" and m["chat_type"] == "group"
    assert m["message_type"] == "text" and "root_id" not in m and "thread_id" not in m
    assert json.loads(m["content"]) == {"text": "@_user_1 /video a kitten yawning"}
    (mention,) = m["mentions"]
    assert mention["key"] == "@_user_1" and mention["name"] == "VideoBot"
    assert mention["id"]["open_id"] == "ou_bot_sim" and mention["tenant_key"] == "sim_tenant"

    p2p = sim.send(text="/help", chat_type="p2p", user={"open_id": "ou_alice", "name": "Alice"})
    m2 = bot.messages[-1]["event"]["message"]
    assert p2p["status"] == 200 and m2["chat_type"] == "p2p" and "mentions" not in m2
    assert json.loads(m2["content"]) == {"text": "/help"}


@pytest.mark.parametrize("form", ["direct", "zh_cn", "post"])
def test_post_photo_with_caption_in_each_form(wired: tuple[FeishuSimulator, WebhookBot], form: str) -> None:
    sim, bot = wired
    photo = sim.upload_user_image(width=1024, height=768)
    res = sim.send(text="/video make it dance", images=[photo["image_key"]], post_form=form)
    assert res["status"] == 200
    m = bot.messages[-1]["event"]["message"]
    assert m["message_type"] == "post"
    content = json.loads(m["content"])
    body = {"direct": content, "zh_cn": content.get("zh_cn"), "post": content.get("post", {}).get("zh_cn")}[
        form
    ]
    assert body == {
        "title": "",
        "content": [
            [
                {"tag": "at", "user_id": "@_user_1", "user_name": "VideoBot"},
                {"tag": "text", "text": " /video make it dance"},
            ],
            [{"tag": "img", "image_key": photo["image_key"], "width": 1024, "height": 768}],
        ],
    }
    assert ev.unwrap_post(content) == body
    assert m["mentions"][0]["id"]["open_id"] == "ou_bot_sim"


def test_bare_photo_is_an_image_message(wired: tuple[FeishuSimulator, WebhookBot]) -> None:
    sim, bot = wired
    photo = sim.upload_user_image()
    res = sim.send(images=[photo["image_key"]])
    m = bot.messages[-1]["event"]["message"]
    assert res["status"] == 200 and m["message_type"] == "image"
    assert json.loads(m["content"]) == {"image_key": photo["image_key"]}
    with pytest.raises(SimUsageError):
        sim.send(images=["img_v3_never_uploaded"])


def test_reply_event_in_bot_thread(wired: tuple[FeishuSimulator, WebhookBot]) -> None:
    sim, bot = wired
    client = sdk_client(sim)
    src = sim.send(text="/video a kitten")["message_id"]
    bot_reply = reply_text(client, src, "Here is your draft", reply_in_thread=True)
    assert bot_reply.success()
    res = sim.send(text="/video again but longer", parent_id=bot_reply.data.message_id)
    m = bot.messages[-1]["event"]["message"]
    assert res["status"] == 200
    assert m["parent_id"] == bot_reply.data.message_id and m["root_id"] == src
    assert m["thread_id"] == bot_reply.data.thread_id and m["chat_id"] == "oc_sim_group"


def test_card_click_callback_and_card_update(wired: tuple[FeishuSimulator, WebhookBot]) -> None:
    sim, bot = wired
    client = sdk_client(sim)
    card_msg = create_message(client, "oc_team", "interactive", APPROVE_CARD)
    assert card_msg.success()
    approved = {**APPROVE_CARD, "body": {"elements": [{"tag": "markdown", "content": "Approved ✅"}]}}
    bot.card_response = {
        "toast": {"type": "success", "content": "Draft approved"},
        "card": {"type": "raw", "data": approved},
    }
    res = sim.click(card_msg.data.message_id, "Approve draft", user={"open_id": "ou_alice", "name": "Alice"})
    assert res["status"] == 200 and res["toast"] == {"type": "success", "content": "Draft approved"}
    assert res["card_updated"] and sim.message(card_msg.data.message_id)["content"] == approved

    (cb,) = bot.cards
    assert (
        cb["header"]["event_type"] == "card.action.trigger"
        and cb["header"]["token"] == TEST_VERIFICATION_TOKEN
    )
    e = cb["event"]
    assert e["action"]["value"] == {"action": "approve", "draft_id": "d42"} and e["action"]["tag"] == "button"
    assert e["operator"]["open_id"] == "ou_alice" and e["operator"]["tenant_key"] == "sim_tenant"
    assert e["token"].startswith("c-") and e["host"] == "im_message"
    assert e["context"] == {
        "open_message_id": card_msg.data.message_id,
        "open_chat_id": "oc_team",
        "url": "",
        "preview_token": "",
    }
    versions = sim.message(card_msg.data.message_id)["versions"]
    assert [v["source"] for v in versions] == ["create", "callback"]

    # the new card has no buttons left
    with pytest.raises(SimUsageError):
        sim.click(card_msg.data.message_id, 0)


def test_click_selectors_and_card_1_0(wired: tuple[FeishuSimulator, WebhookBot]) -> None:
    sim, bot = wired
    client = sdk_client(sim)
    mid = create_message(client, "oc_team", "interactive", APPROVE_CARD).data.message_id
    assert sim.click(mid, {"action": "discard"})["status"] == 200
    assert sim.click(mid, 1)["status"] == 200
    assert [c["event"]["action"]["value"]["action"] for c in bot.cards] == ["discard", "discard"]
    assert not sim.click(mid, 0)["card_updated"]  # an empty response leaves the card alone

    card_1_0 = {
        "config": {"update_multi": True},
        "elements": [
            {"tag": "div", "text": {"tag": "lark_md", "content": "old style"}},
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": "Retry"},
                        "value": {"action": "retry"},
                    }
                ],
            },
        ],
    }
    old = create_message(client, "oc_team", "interactive", card_1_0).data.message_id
    assert sim.click(old, "retry")["status"] == 200  # labels match case-insensitively
    assert bot.cards[-1]["event"]["action"]["value"] == {"action": "retry"}

    form_card = {
        "schema": "2.0",
        "body": {
            "elements": [
                {
                    "tag": "form",
                    "name": "f",
                    "elements": [
                        {"tag": "input", "name": "prompt", "default_value": "a cat"},
                        {
                            "tag": "button",
                            "name": "go",
                            "text": {"tag": "plain_text", "content": "Go"},
                            "form_action_type": "submit",
                            "behaviors": [{"type": "callback", "value": {"action": "submit"}}],
                        },
                    ],
                }
            ]
        },
    }
    fid = create_message(client, "oc_team", "interactive", form_card).data.message_id
    sim.click(fid, "Go", form_value={"prompt": "a dog"})
    act = bot.cards[-1]["event"]["action"]
    assert (
        act["name"] == "go"
        and act["form_value"] == {"prompt": "a dog"}
        and act["value"] == {"action": "submit"}
    )


def test_url_verification_plain_and_encrypted(
    feishu_sim_factory: Callable[..., FeishuSimulator], bot_factory: Callable[..., WebhookBot]
) -> None:
    bot = bot_factory()
    sim = feishu_sim_factory(
        encrypt_key=TEST_ENCRYPT_KEY, verification_token=TEST_VERIFICATION_TOKEN, webhook_url=bot.url
    )
    enc = sim.challenge("ajls384kdjx98XX")
    assert enc["ok"] and enc["body"] == {"challenge": "ajls384kdjx98XX"}
    assert set(json.loads(bot.raw_requests[-1]["body"])) == {"encrypt"}
    plain = sim.challenge(encrypt=False)
    assert plain["ok"] and json.loads(bot.raw_requests[-1]["body"])["type"] == "url_verification"
    assert not sim.challenge(token="wrong-token")["ok"]


def test_plaintext_unsigned_events_without_encrypt_key(
    feishu_sim_factory: Callable[..., FeishuSimulator], bot_factory: Callable[..., WebhookBot]
) -> None:
    bot = bot_factory(encrypt_key="", verification_token="plain-token")
    sim = feishu_sim_factory(verification_token="plain-token", webhook_url=bot.url)
    res = sim.send(text="/video plain")
    assert res["status"] == 200
    raw = bot.raw_requests[-1]
    assert json.loads(raw["body"])["header"]["event_id"] == res["event_id"]
    assert "X-Lark-Signature" not in raw["headers"]


def test_wrong_key_is_refused_by_the_sdk(
    feishu_sim_factory: Callable[..., FeishuSimulator], bot_factory: Callable[..., WebhookBot]
) -> None:
    bot = bot_factory(encrypt_key="another-key")
    sim = feishu_sim_factory(
        encrypt_key=TEST_ENCRYPT_KEY,
        verification_token=TEST_VERIFICATION_TOKEN,
        webhook_url=bot.url,
        retry_schedule=(),
    )
    assert sim.send(text="/video x")["status"] == 500 and bot.messages == []


def test_redelivery_after_500s_repeats_the_same_event(wired: tuple[FeishuSimulator, WebhookBot]) -> None:
    sim, bot = wired
    bot.statuses.extend([500, 500])
    res = sim.send(text="/video retry me")
    assert res["status"] == 500
    assert sim.wait_idle(30)
    (delivery,) = sim.deliveries()
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["acked"] and not delivery["pending"]
    assert [m["header"]["event_id"] for m in bot.messages] == [res["event_id"]] * 3
    assert len({m["event"]["message"]["message_id"] for m in bot.messages}) == 1


def test_slow_ack_gets_redelivered(
    feishu_sim_factory: Callable[..., FeishuSimulator], bot_factory: Callable[..., WebhookBot]
) -> None:
    bot = bot_factory()
    sim = feishu_sim_factory(
        encrypt_key=TEST_ENCRYPT_KEY,
        verification_token=TEST_VERIFICATION_TOKEN,
        webhook_url=bot.url,
        retry_schedule=FAST_RETRIES,
        ack_timeout=0.3,
    )
    bot.delays.append(1.0)
    res = sim.send(text="/video slow")
    assert res["status"] is None and res["error"] == "timeout"
    assert sim.wait_idle(30)
    attempts = sim.deliveries()[0]["attempts"]
    assert attempts[-1]["status"] == 200 and len(attempts) >= 2
    deadline = time.monotonic() + 10
    while len(bot.messages) < 2 and time.monotonic() < deadline:  # the slow handler finishes late
        time.sleep(0.02)
    assert {m["header"]["event_id"] for m in bot.messages} == {res["event_id"]} and len(bot.messages) >= 2


def test_forced_redelivery_and_new_envelope_for_same_message(
    wired: tuple[FeishuSimulator, WebhookBot],
) -> None:
    sim, bot = wired
    first = sim.send(text="/video once")
    again = sim.send(event_id=first["event_id"])
    assert again["event_id"] == first["event_id"] and again["message_id"] == first["message_id"]
    fresh = sim.send(message_id=first["message_id"])
    assert fresh["event_id"] != first["event_id"] and fresh["message_id"] == first["message_id"]
    assert [m["header"]["event_id"] for m in bot.messages] == [first["event_id"]] * 2 + [fresh["event_id"]]
    stale_ts = int(time.time()) - 3600  # for the bot's replay (timestamp skew) checks
    assert sim.send(text="/video stale", timestamp=stale_ts)["status"] == 200  # the SDK itself does not check
    assert bot.raw_requests[-1]["headers"]["X-Lark-Request-Timestamp"] == str(stale_ts)


# --- the /__sim__ HTTP surface and the CLI ---------------------------------------------------------------


def test_sim_http_routes(wired: tuple[FeishuSimulator, WebhookBot]) -> None:
    sim, bot = wired
    base = sim.origin + "/__sim__"
    img = requests.post(base + "/images", json={"width": 320, "height": 240}, timeout=10).json()
    assert img["image_key"].startswith("img_v3_") and (img["width"], img["height"]) == (320, 240)
    assert (
        requests.get(f"{base}/images/{img['image_key']}", timeout=10).headers["Content-Type"] == "image/jpeg"
    )
    sent = requests.post(
        base + "/send",
        json={
            "chat_id": "oc_x",
            "chat_type": "group",
            "user": {"open_id": "ou_alice", "name": "Alice"},
            "text": "/video a kitten yawning",
            "mention_bot": True,
            "images": [img["image_key"]],
        },
        timeout=10,
    ).json()
    assert sent["status"] == 200 and sent["message_id"].startswith("om_")
    assert requests.post(base + "/send", json={"txt": "typo"}, timeout=10).status_code == 400

    client = sdk_client(sim)
    card = create_message(client, "oc_x", "interactive", APPROVE_CARD).data.message_id
    click = requests.post(base + "/click", json={"message_id": card, "button": "Discard"}, timeout=10).json()
    assert click["status"] == 200 and bot.cards[-1]["event"]["action"]["value"]["action"] == "discard"

    msgs = requests.get(base + "/messages", params={"chat_id": "oc_x"}, timeout=10).json()["messages"]
    assert [m["msg_type"] for m in msgs] == ["post", "interactive"]
    assert msgs[0]["sender"]["id"] == "ou_alice" and msgs[0]["text"].startswith("@VideoBot /video")
    deliveries = requests.get(base + "/deliveries", timeout=10).json()["deliveries"]
    assert {d["event_type"] for d in deliveries} == {"im.message.receive_v1", "card.action.trigger"}
    ch = requests.post(base + "/challenge", json={"challenge": "abc"}, timeout=10).json()
    assert ch["ok"]

    up = upload_mp4(client, tiny_mp4()).data.file_key
    f = requests.get(f"{base}/files/{up}", timeout=10)
    assert f.headers["Content-Type"] == "video/mp4" and f.content[4:8] == b"ftyp"
    assert requests.post(base + "/reset", timeout=10).json() == {"ok": True}
    assert requests.get(base + "/messages", timeout=10).json()["messages"] == []
    assert reply_text(
        client, sim.send(text="x", deliver=False)["message_id"], "token survives reset"
    ).success()


def test_cli_runs_in_foreground_until_sigterm(tmp_path: Any) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "seedance-bot")
    if not os.path.exists(exe):
        pytest.skip("console script not installed")
    proc = subprocess.Popen(
        [exe, "sim", "feishu", "--port", "0", "--webhook", "http://127.0.0.1:9/none", "--app-id", "cli_cli"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        origin = line.split(" listening on ")[1].split()[0]
        health = requests.get(origin + "/__sim__/health", timeout=10).json()
        assert health["app_id"] == "cli_cli" and health["webhook_url"] == "http://127.0.0.1:9/none"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
