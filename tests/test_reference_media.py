"""Reference videos and audios: the local checks on real files (PyAV), the media directory and its
signed URLs, and GET /media/<id> (valid, expired, tampered, traversal, Range)."""

from __future__ import annotations

import json
import os
import time
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import av
import pytest
import redis
from flask import Flask

from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.references import sweep
from bot.errors import MediaError
from bot.reference_media import inspect_audio, inspect_video, prepare_audio
from bot.shared_media import MediaStore, signing_key
from bot.web.media import media_blueprint
from sim.media import make_mp4, user_audio_bytes


def video(tmp_path: Path, name: str = "v.mp4", seconds: float = 3.0, width: int = 864, height: int = 496,
          fps: int = 24) -> Path:
    return make_mp4(tmp_path / name, width, height, seconds, fps, audio=True)


def encode(path: Path, fmt: str, codec: str, width: int = 864, height: int = 496, frames: int = 72,
           fps: int = 24) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        stream: Any = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def code(exc: pytest.ExceptionInfo[MediaError]) -> str:
    return exc.value.code


# --- videos ------------------------------------------------------------------------------------------


def test_a_good_clip_passes_with_what_it_is(tmp_path: Path) -> None:
    meta = inspect_video(video(tmp_path))
    assert (meta.format, meta.content_type, meta.codec) == ("mp4", "video/mp4", "H.264")
    assert (meta.width, meta.height, round(meta.fps)) == (864, 496, 24)
    assert meta.seconds == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize(
    ("kw", "expected", "words"),
    [
        ({"seconds": 16.0}, "ref_video_length", "16.0 s"),
        ({"seconds": 1.5}, "ref_video_length", "1.5 s"),
        ({"width": 640, "height": 480}, "ref_video_pixels", "307200 pixels"),  # 480p 4:3: too few pixels
        ({"width": 1600, "height": 400}, "ref_video_aspect", "aspect 4.00"),
        ({"width": 2000, "height": 290}, "ref_video_sides", "2000×290"),
        ({"fps": 15}, "ref_video_fps", "15 frames"),
    ],
)
def test_limits_name_what_is_wrong(tmp_path: Path, kw: dict[str, Any], expected: str, words: str) -> None:
    with pytest.raises(MediaError) as exc:
        inspect_video(video(tmp_path, **kw), number=2)
    assert code(exc) == expected
    text = exc.value.render("en")
    assert words in text and "Video 2" in text, text
    assert "视频2" in exc.value.render("zh")


def test_other_containers_and_codecs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as exc:
        inspect_video(encode(tmp_path / "v.webm", "webm", "libvpx"))
    assert code(exc) == "ref_video_format" and "Matroska" in exc.value.render("en")  # WebM's demuxer
    with pytest.raises(MediaError) as exc:
        inspect_video(encode(tmp_path / "v.mp4", "mp4", "mpeg4"))
    assert code(exc) == "ref_video_codec" and "MPEG4" in exc.value.render("en")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError) as exc:
        inspect_video(junk)
    assert code(exc) == "ref_video_unreadable"
    sound = tmp_path / "a.mp3"
    sound.write_bytes(user_audio_bytes(3, "mp3"))
    with pytest.raises(MediaError) as exc:
        inspect_video(sound)
    assert code(exc) == "ref_video_unreadable" and "no video track" in exc.value.render("en")


def test_a_mov_is_served_as_quicktime(tmp_path: Path) -> None:
    meta = inspect_video(encode(tmp_path / "v.mov", "mov", "libx264"))
    assert (meta.format, meta.content_type) == ("mov", "video/quicktime")


# --- audio -------------------------------------------------------------------------------------------


def test_mp3_and_wav_are_sent_as_they_are(tmp_path: Path) -> None:
    for fmt, ctype in (("mp3", "audio/mpeg"), ("wav", "audio/wav")):
        src = tmp_path / f"a.{fmt}"
        src.write_bytes(user_audio_bytes(3, fmt))
        served, meta = prepare_audio(src, tmp_path)
        assert served == src and meta.content_type == ctype and meta.seconds == pytest.approx(3, abs=0.1)


def test_a_voice_message_is_converted_to_wav(tmp_path: Path) -> None:
    src = tmp_path / "voice.ogg"
    src.write_bytes(user_audio_bytes(4, "opus"))
    served, meta = prepare_audio(src, tmp_path)
    assert served != src and served.exists() and meta.content_type == "audio/wav" and meta.format == "wav"
    assert meta.seconds == pytest.approx(4, abs=0.1)
    with av.open(str(served)) as c:
        assert c.format.name == "wav" and c.streams.audio[0].codec_context.name == "pcm_s16le"


def test_audio_limits(tmp_path: Path) -> None:
    long = tmp_path / "long.ogg"
    long.write_bytes(user_audio_bytes(16, "opus"))
    with pytest.raises(MediaError) as exc:
        prepare_audio(long, tmp_path, number=3)
    assert code(exc) == "ref_audio_length" and "Audio 3 is 16.0 s" in exc.value.render("en")
    assert not list(tmp_path.glob("*.wav"))  # refused by its length before any conversion
    big = tmp_path / "big.wav"  # 10 s, but 8 channels at 96 kHz: 15.4 MB
    with wave.open(str(big), "wb") as w:
        w.setnchannels(8)
        w.setsampwidth(2)
        w.setframerate(96000)
        w.writeframes(b"\0" * (96000 * 16 * 10))
    with pytest.raises(MediaError) as exc:
        inspect_audio(big)
    assert code(exc) == "ref_audio_bytes" and "15.4 MB" in exc.value.render("en")
    text = tmp_path / "a.txt"
    text.write_text("not audio")
    with pytest.raises(MediaError) as exc:
        prepare_audio(text, tmp_path)
    assert code(exc) == "ref_audio_unreadable"


# --- the media directory and its signed URLs -----------------------------------------------------------


def store(tmp_path: Path, secret: str = "s3cret") -> MediaStore:
    key = signing_key(secret, "")
    assert key is not None
    return MediaStore(tmp_path / "media", key)


def put(s: MediaStore, tmp_path: Path, data: bytes, *, expires_at: float, ctype: str = "video/mp4") -> str:
    media_id = s.media_id("rid-1", "video", "feishu-file:om/f")
    part = s.new_incoming(media_id)
    part.write_bytes(data)
    s.put(media_id, part, content_type=ctype, expires_at=expires_at, seconds=3.0)
    return media_id


def test_keys_ids_and_signatures(tmp_path: Path) -> None:
    assert signing_key("", "") is None
    assert signing_key("a", "app") == signing_key("a", "other")  # BOT_MEDIA_SECRET wins
    assert signing_key("", "app") != signing_key("app", "")  # the fallback is a different derivation
    s = store(tmp_path)
    media_id = s.media_id("rid-1", "video", "src")
    assert media_id == s.media_id("rid-1", "video", "src") != s.media_id("rid-2", "video", "src")
    assert len(media_id) == 32
    exp = int(time.time()) + 60
    url = s.url("https://bot.example.com/", media_id, exp)
    assert url.startswith(f"https://bot.example.com/media/{media_id}?exp={exp}&sig=")
    sig = url.rsplit("sig=", 1)[1]
    assert s.verify(media_id, str(exp), sig) == "ok"
    assert s.verify(media_id, str(exp + 1), sig) == "bad"  # a longer life is not for the asking
    assert s.verify(media_id, str(exp), sig[:-1] + ("A" if sig[-1] != "A" else "B")) == "bad"
    assert store(tmp_path, "other").verify(media_id, str(exp), sig) == "bad"
    assert s.verify(media_id, str(exp), sig, now=exp + 1) == "expired"
    assert s.verify("../../etc/passwd", str(exp), sig) == "bad"
    assert s.verify(media_id, "12abc", sig) == "bad"
    assert repr(s) == f"MediaStore(root={str(s.root)!r})"  # never the key


def test_sweep_removes_expired_files_only(tmp_path: Path) -> None:
    s = store(tmp_path)
    now = time.time()
    kept = put(s, tmp_path, b"x" * 10, expires_at=now + 3600)
    gone_id = s.media_id("rid-2")
    part = s.new_incoming(gone_id)
    part.write_bytes(b"y")
    s.put(gone_id, part, content_type="audio/wav", expires_at=now - 1)
    stale = s.new_incoming("old")
    old = now - 7 * 3600
    os.utime(stale, (old, old))
    assert s.sweep(now=now) == 1
    assert s.get(kept) is not None and s.get(gone_id) is None
    assert not (s.root / gone_id).exists() and not (s.root / f"{gone_id}.json").exists()
    assert not stale.exists()
    found = s.get(kept)
    assert found is not None and s.extend(found, now + 7200).expires_at == now + 7200


def test_each_engine_keeps_its_own_sweep_schedule(tmp_path: Path) -> None:
    """`bot.engine.references.sweep` runs at most every SWEEP_EVERY per directory and engine: the time of
    the last sweep lives on the engine (one per process), so two engines of one test process don't share it."""
    settings = Settings(_env_file=None, bot_data_dir=str(tmp_path), media_secret="s3cret")  # type: ignore[call-arg]

    def engine() -> Engine:
        return Engine(settings=settings, redis=redis.Redis(), ark=Mock(), feishu=Mock())

    media = MediaStore.from_settings(settings)
    assert media is not None

    def expired(rid: str) -> None:
        part = media.new_incoming(media.media_id(rid))
        part.write_bytes(b"x")
        media.put(media.media_id(rid), part, content_type="audio/wav", expires_at=time.time() - 1)

    first, second = engine(), engine()
    expired("rid-1")
    assert sweep(first) == 1
    expired("rid-2")
    assert sweep(first) == 0, "swept moments ago: not again yet"
    assert sweep(second) == 1, "another engine's sweep is not this one's"
    expired("rid-3")
    assert sweep(first, force=True) == 1


# --- GET /media/<id> -----------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> tuple[Any, MediaStore, str, bytes]:
    settings = Settings(_env_file=None, BOT_DATA_DIR=str(tmp_path), FEISHU_APP_SECRET="app-secret")  # type: ignore[call-arg]
    s = MediaStore.from_settings(settings)
    assert s is not None
    data = bytes(range(256)) * 40
    media_id = put(s, tmp_path, data, expires_at=time.time() + 3600)
    app = Flask(__name__)
    app.register_blueprint(media_blueprint(settings))
    return app.test_client(), s, media_id, data


def test_a_signed_url_serves_the_file(served: tuple[Any, MediaStore, str, bytes]) -> None:
    client, s, media_id, data = served
    url = s.url("", media_id, int(time.time()) + 600)
    r = client.get(url)
    assert r.status_code == 200 and r.data == data
    assert r.headers["Content-Type"] == "video/mp4" and r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Cache-Control"] == "private, no-store"
    head = client.head(url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)


def test_range_requests(served: tuple[Any, MediaStore, str, bytes]) -> None:
    client, s, media_id, data = served
    url = s.url("", media_id, int(time.time()) + 600)
    r = client.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.data == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == data[-10:]
    assert client.get(url, headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416


def test_tampered_expired_unknown_and_traversal(served: tuple[Any, MediaStore, str, bytes],
                                                tmp_path: Path) -> None:
    client, s, media_id, _ = served
    exp = int(time.time()) + 600
    good = s.url("", media_id, exp)
    assert client.get(good.replace(f"exp={exp}", f"exp={exp + 100}")).status_code == 403
    assert client.get(good[:-2] + "xx").status_code == 403
    assert client.get(f"/media/{media_id}").status_code == 403  # no signature at all
    assert client.get(s.url("", media_id, int(time.time()) - 1)).status_code == 404  # the URL expired
    other = s.media_id("never stored")
    assert client.get(s.url("", other, exp)).status_code == 404
    for path in ("/media/..%2f..%2fetc%2fpasswd", "/media/../../etc/passwd", f"/media/{media_id}.json",
                 "/media/.incoming"):
        assert client.get(f"{path}?exp={exp}&sig=x").status_code in (403, 404), path
    (tmp_path / "secret.txt").write_text("no")
    assert client.get(f"/media/..%2Fsecret.txt?exp={exp}&sig=x").status_code in (403, 404)


def test_a_file_past_its_own_expiry_is_404_and_removed(served: tuple[Any, MediaStore, str, bytes]) -> None:
    client, s, media_id, _ = served
    side = s.root / f"{media_id}.json"
    meta = json.loads(side.read_text())
    meta["expires_at"] = time.time() - 1
    side.write_text(json.dumps(meta))
    assert client.get(s.url("", media_id, int(time.time()) + 600)).status_code == 404
    assert not (s.root / media_id).exists()


def test_without_any_secret_nothing_is_served(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, BOT_DATA_DIR=str(tmp_path))  # type: ignore[call-arg]
    assert MediaStore.from_settings(settings) is None
    app = Flask(__name__)
    app.register_blueprint(media_blueprint(settings))
    assert app.test_client().get("/media/" + "a" * 32 + "?exp=1&sig=x").status_code == 404
