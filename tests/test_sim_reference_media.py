"""The simulators' side of Seedance 2.0 references: users send videos and voice messages (Feishu), the
bot streams them down (`FeishuClient.download_file`), and Ark fetches `video_url` / `audio_url` at
create like the service, refusing what it can't fetch or what breaks the documented limits."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any, ClassVar

import pytest
import requests

from bot.clients.feishu import FeishuClient
from bot.errors import DownloadError, FeishuError
from bot.parsing import content_attachments, parse_message_event
from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator
from sim.media import user_audio_bytes, user_video_bytes

pytest_plugins = ["fixtures_ark", "fixtures_feishu"]

V20 = "dreamina-seedance-2-0-260128"
KEY = "test-key"


# --- Feishu: users send videos and voice messages ----------------------------------------------------


def test_a_user_sends_a_video_a_voice_message_and_a_post_with_a_video(feishu_sim: FeishuSimulator) -> None:
    clip = feishu_sim.upload_user_file(user_video_bytes(3), file_name="clip.mp4", kind="video")
    assert clip["duration"] == 3000 and clip["image_key"]  # as a client states it; a cover like Feishu's
    sent = feishu_sim.send(files=[clip["file_key"]], deliver=False)
    event = sent["event"]["event"]["message"]
    assert event["message_type"] == "media" and "mentions" not in event
    content = json.loads(event["content"])
    assert content == {"file_key": clip["file_key"], "image_key": clip["image_key"], "file_name": "clip.mp4",
                       "duration": 3000}
    voice = feishu_sim.upload_user_file(user_audio_bytes(4), file_name="voice.ogg", kind="audio")
    said = feishu_sim.send(files=[voice["file_key"]], deliver=False)["event"]
    parsed = parse_message_event(said)
    assert parsed is not None and parsed.message_type == "audio"
    [attached] = parsed.attachments
    assert (attached.kind, attached.file_key) == ("audio", voice["file_key"])
    assert abs(attached.duration_ms - 4000) < 50  # what the Ogg container says
    post = feishu_sim.send(text="/video --ref --model 2.0 x", files=[clip["file_key"]], deliver=False)["event"]
    msg = post["event"]["message"]
    assert msg["message_type"] == "post"
    assert [a.kind for a in content_attachments("post", msg["content"])] == ["video"]
    with pytest.raises(ValueError, match="post can carry videos"):
        feishu_sim.send(text="x", files=[voice["file_key"]], deliver=False)
    with pytest.raises(ValueError, match="unknown file"):
        feishu_sim.send(files=["file_nope"], deliver=False)


def test_the_bot_streams_a_users_file_down(feishu_sim: FeishuSimulator, tmp_path: Path) -> None:
    data = user_video_bytes(3)
    clip = feishu_sim.upload_user_file(data, file_name="clip.mp4", kind="video")
    mid = feishu_sim.send(files=[clip["file_key"]], deliver=False)["message_id"]
    client = FeishuClient(feishu_sim.app_id, feishu_sim.app_secret, base_url=feishu_sim.origin, max_retries=0)
    dest = tmp_path / "clip.mp4"
    assert client.download_file(mid, clip["file_key"], dest, max_bytes=10_000_000, timeout=30) == len(data)
    assert dest.read_bytes() == data
    with pytest.raises(DownloadError) as exc:
        client.download_file(mid, clip["file_key"], tmp_path / "small", max_bytes=1000, timeout=30)
    assert exc.value.reason == "too_large" and not (tmp_path / "small").exists()
    other = feishu_sim.upload_user_file(data, file_name="other.mp4", kind="video")
    with pytest.raises(FeishuError):  # the key is not of that message: refused, not retried forever
        client.download_file(mid, other["file_key"], tmp_path / "x", max_bytes=10_000_000, timeout=30)


def test_made_up_files_over_http(feishu_sim: FeishuSimulator) -> None:
    with requests.Session() as s:
        s.trust_env = False
        r = s.post(f"{feishu_sim.origin}/__sim__/files", json={"kind": "audio", "seconds": 2, "format": "mp3"},
                   timeout=30)
        assert r.status_code == 200 and r.json()["file_name"] == "voice.mp3" and abs(r.json()["duration"] - 2000) < 60
        r = s.post(f"{feishu_sim.origin}/__sim__/files",
                   json={"kind": "file", "file_name": "a.pdf", "data_b64": base64.b64encode(b"%PDF").decode()},
                   timeout=30)
        assert r.status_code == 200 and r.json()["duration"] is None
        assert s.post(f"{feishu_sim.origin}/__sim__/files", json={"kind": "file"}, timeout=30).status_code == 400


# --- Ark: video_url / audio_url fetched at create ------------------------------------------------------


class _Files(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        data = self.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def files() -> Iterator[tuple[str, dict[str, bytes], list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    _Files.files, _Files.hits = {}, []
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Files.files, _Files.hits
    finally:
        server.shutdown()
        server.server_close()


def _create(sim: ArkSimulator, content: list[dict[str, Any]]) -> requests.Response:
    with requests.Session() as s:
        s.trust_env = False
        return s.post(f"{sim.base_url}/contents/generations/tasks", json={"model": V20, "content": content},
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=60)


def video_item(url: str) -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def audio_item(url: str) -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


def test_ark_fetches_reference_media_at_create(ark_sim_factory: Callable[..., ArkSimulator],
                                               files: tuple[str, dict[str, bytes], list[str]]) -> None:
    sim = ark_sim_factory(speed=0)
    base, served, hits = files
    served["/v.mp4"] = user_video_bytes(3)
    served["/a.mp3"] = user_audio_bytes(4, "mp3")
    r = _create(sim, [{"type": "text", "text": "x"}, video_item(f"{base}/v.mp4"), audio_item(f"{base}/a.mp3")])
    assert r.status_code == 200, r.text
    assert hits == ["/v.mp4", "/a.mp3"]
    with requests.Session() as s:
        s.trust_env = False
        tasks = s.get(f"{sim.base_url.rsplit('/api/v3', 1)[0]}/__sim__/tasks", timeout=30).json()
    [task] = tasks["tasks"] if isinstance(tasks, dict) else tasks
    assert task["id"] == r.json()["id"]
    assert [(m["kind"], m["bytes"]) for m in task["media"]] == [
        ("video_url", len(served["/v.mp4"])), ("audio_url", len(served["/a.mp3"]))]
    assert abs(task["media"][1]["seconds"] - 4.0) < 0.1


@pytest.mark.parametrize(
    ("path", "data", "words"),
    [
        ("/missing.mp4", None, "HTTP 404"),
        ("/long.mp4", lambda: user_video_bytes(16), "lasts 16.0s"),
        ("/small.mp4", lambda: user_video_bytes(3, 640, 480), "pixels"),
        ("/voice.ogg", lambda: user_audio_bytes(3, "opus"), "wav or mp3"),
        ("/text.mp4", lambda: b"not a video", "cannot be decoded"),
    ],
)
def test_ark_refuses_what_it_cannot_fetch_or_use(ark_sim_factory: Callable[..., ArkSimulator],
                                                 files: tuple[str, dict[str, bytes], list[str]], path: str,
                                                 data: Any, words: str) -> None:
    sim = ark_sim_factory(speed=0)
    base, served, _ = files
    if data is not None:
        served[path] = data()
    item = audio_item(f"{base}{path}") if path.endswith(".ogg") else video_item(f"{base}{path}")
    content = [{"type": "text", "text": "x"}, item]
    if path.endswith(".ogg"):
        served["/v.mp4"] = user_video_bytes(3)
        content.insert(1, video_item(f"{base}/v.mp4"))
    r = _create(sim, content)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "InvalidParameter" and err["param"] == "content" and words in err["message"], err


def test_ark_refuses_an_unreachable_url(ark_sim_factory: Callable[..., ArkSimulator]) -> None:
    sim = ark_sim_factory(speed=0, fetch_timeout=2.0)
    r = _create(sim, [{"type": "text", "text": "x"}, video_item("http://127.0.0.1:9/v.mp4")])
    assert r.status_code == 400 and "fetching resource" in r.json()["error"]["message"]
