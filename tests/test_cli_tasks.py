"""The seed's CLI (`seedance-bot create|status|wait|list|delete`) against the Ark simulator on loopback,
plus the streaming downloader it uses.

Every example of the seed skill is run for real: the simulator validates the
body, runs the task on a fast clock and serves a playable mp4 whose size is
checked with PyAV. Invalid combinations must exit 2 without a single request.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import pytest
import requests
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.tasks import EXIT_API, EXIT_TASK, EXIT_USAGE, normalise_args, poll_delays
from bot.config import ARK_KEY_HELP
from bot.download import download_to_file
from bot.errors import DownloadError

pytest_plugins = ["fixtures_ark"]  # ark_sim_factory; tests/ is on sys.path (rootdir conftest)

SIM_KEY = "test-key"
SPEED = 60
PRO15 = "seedance-1-5-pro-251215"
LITE_I2V = "seedance-1-0-lite-i2v-250428"
TASK_ID = re.compile(r"Task created: (cgt-[\w-]+)")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def sim(ark_sim_factory: Any) -> Any:
    """The Ark simulator on loopback (tests/fixtures_ark.py), sped up `SPEED` times."""
    return ark_sim_factory(api_key=SIM_KEY, speed=SPEED, rng_seed=3)


@pytest.fixture
def env(sim: Any) -> dict[str, str]:
    return {
        "ARK_API_KEY": SIM_KEY,
        "ARK_BASE_URL": sim.base_url,
        "SEEDANCE_EXPECTED_TIME_FACTOR": str(1 / SPEED),
        "BOT_DOWNLOAD_TIMEOUT": "60",
    }


def run(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def api_requests(sim: Any, method: str | None = None) -> list[dict[str, Any]]:
    return [r for r in sim.requests_log()
            if r["path"].startswith("/api/v3/") and (method is None or r["method"] == method)]


def task_id_of(output: str) -> str:
    m = TASK_ID.search(output)
    assert m, output
    return m.group(1)


def video_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert container.duration and container.duration > 0
        return stream.width, stream.height


def image(path: Path, size: tuple[int, int], fmt: str | None = None) -> Path:
    Image.new("RGB", size, (90, 140, 200)).save(path, format=fmt)
    return path


def text_file(path: Path) -> Path:
    path.write_text("not an image")
    return path


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain static HTTP server on loopback (stands in for 'https://example.com/image.jpg')."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


# ----------------------------------------------------------------------------- pure helpers


def test_normalise_args_seed_forms() -> None:
    assert normalise_args(["--ref-images", "a.jpg", "b.jpg", "--model", "m"]) == [
        "--ref-images", "a.jpg", "--ref-images", "b.jpg", "--model", "m"]
    assert normalise_args(["--draft", "--wait"]) == ["--draft", "true", "--wait"]
    assert normalise_args(["--draft", "TRUE"]) == ["--draft", "TRUE"]
    assert normalise_args(["--watermark"]) == ["--watermark", "true"]
    assert normalise_args(["--no-generate-audio"]) == ["--generate-audio", "false"]
    assert normalise_args(["--draft=off", "--seed", "-1"]) == ["--draft=off", "--seed", "-1"]
    assert normalise_args(["--prompt", "--draft"]) == ["--prompt", "--draft", "true"]  # click reports it
    assert normalise_args(["--draft", "maybe"]) == ["--draft", "maybe"]  # parse_bool reports it


def test_poll_schedule() -> None:
    gen = poll_delays(50.0)
    delays = [next(gen) for _ in range(12)]
    assert delays[0] == 5.0  # an early look
    assert sum(delays[:2]) == pytest.approx(40.0)  # then near the expected time
    assert all(b >= a for a, b in itertools.pairwise(delays[2:]))  # then growing
    assert max(delays[2:]) == 15.0  # capped
    fast = poll_delays(0.5)
    assert all(next(fast) <= 15 for _ in range(5))
    assert next(poll_delays(0.0)) > 0


# ----------------------------------------------------------------------------- the seed's examples


def test_text_to_video_wait_download_real_binary(sim: Any, env: dict[str, str], tmp_path: Path) -> None:
    """`create --prompt "A kitten yawning at the camera" --wait --download DIR` via the console script."""
    exe = Path(sys.executable).with_name("seedance-bot")
    out_dir = tmp_path / "Desktop"
    proc = subprocess.run(
        [str(exe), "create", "--prompt", "A kitten yawning at the camera", "--wait",
         "--download", str(out_dir)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc.stdout)
    video = out_dir / f"seedance_{tid}.mp4"
    assert f"Video saved to: {video}" in proc.stdout
    assert video_size(video) == (1280, 720)  # 1.5 Pro, 720p, 16:9 by default
    body = sim.tasks()[-1]["body"]
    assert body["model"] == PRO15 and body["generate_audio"] is True
    assert (body["ratio"], body["duration"], body["resolution"]) == ("16:9", 5, "720p")
    assert [p.name for p in out_dir.iterdir()] == [video.name]  # no temp files left behind


def test_image_to_video_local_file(sim: Any, env: dict[str, str], tmp_path: Path) -> None:
    photo = image(tmp_path / "photo.jpg", (1080, 1920))
    r = run(env, "create", "--prompt", "The person slowly turns and smiles", "--image", str(photo),
            "--wait", "--download", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    tid = task_id_of(r.stdout)
    assert video_size(tmp_path / "out" / f"seedance_{tid}.mp4") == (720, 1280)  # adaptive → 9:16
    body = sim.tasks()[-1]["body"]
    assert body["ratio"] == "adaptive"
    assert body["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert body["content"][1]["role"] == "first_frame"


def test_image_to_video_url(sim: Any, env: dict[str, str], tmp_path: Path,
                            file_server: tuple[str, Path]) -> None:
    base, root = file_server
    image(root / "image.jpg", (1600, 1200))
    url = f"{base}/image.jpg"
    r = run(env, "create", "--prompt", "The landscape slowly zooms in", "--image", url,
            "--wait", "--download", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    tid = task_id_of(r.stdout)
    assert video_size(tmp_path / "out" / f"seedance_{tid}.mp4") == (1112, 834)  # 4:3
    assert sim.tasks()[-1]["body"]["content"][1]["image_url"]["url"] == url


def test_first_and_last_frame(sim: Any, env: dict[str, str], tmp_path: Path) -> None:
    first = image(tmp_path / "first.jpg", (1280, 720))
    last = image(tmp_path / "last.jpg", (1280, 720))
    r = run(env, "create", "--prompt", "A flower blooming from bud to full bloom", "--image", str(first),
            "--last-frame", str(last), "--wait", "--download", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    tid = task_id_of(r.stdout)
    assert video_size(tmp_path / "out" / f"seedance_{tid}.mp4") == (1280, 720)
    roles = [c.get("role") for c in sim.tasks()[-1]["body"]["content"]]
    assert roles == [None, "first_frame", "last_frame"]


def test_reference_images_with_lite_alias(sim: Any, env: dict[str, str], tmp_path: Path) -> None:
    ref1 = image(tmp_path / "ref1.jpg", (800, 800))
    ref2 = image(tmp_path / "ref2.png", (900, 600), "PNG")
    r = run(env, "create", "--prompt", "[Image 1] person is dancing", "--ref-images", str(ref1), str(ref2),
            "--model", "seedance-1-0-lite-i2v-250219", "--wait", "--download", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    assert "old name" in r.stderr and LITE_I2V in r.stderr  # the alias rewrite is shown
    tid = task_id_of(r.stdout)
    assert video_size(tmp_path / "out" / f"seedance_{tid}.mp4") == (1248, 704)  # 1.0 720p 16:9
    body = sim.tasks()[-1]["body"]
    assert body["model"] == LITE_I2V and body["ratio"] == "16:9"
    assert [c.get("role") for c in body["content"][1:]] == ["reference_image", "reference_image"]
    assert body["content"][2]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "generate_audio" not in body


def test_custom_parameters(sim: Any, env: dict[str, str], tmp_path: Path) -> None:
    r = run(env, "create", "--prompt", "City night scene time-lapse", "--ratio", "21:9", "--duration", "8",
            "--resolution", "1080p", "--generate-audio", "false", "--wait", "--download", str(tmp_path))
    assert r.exit_code == 0, r.output
    tid = task_id_of(r.stdout)
    assert video_size(tmp_path / f"seedance_{tid}.mp4") == (2206, 946)
    body = sim.tasks()[-1]["body"]
    assert (body["ratio"], body["duration"], body["resolution"], body["generate_audio"]) == (
        "21:9", 8, "1080p", False)


def test_draft_then_final(sim: Any, env: dict[str, str], tmp_path: Path) -> None:
    r = run(env, "create", "--prompt", "Waves crashing on the beach", "--draft", "true", "--wait",
            "--download", str(tmp_path))
    assert r.exit_code == 0, r.output
    draft_id = task_id_of(r.stdout)
    assert video_size(tmp_path / f"seedance_{draft_id}.mp4") == (864, 496)  # drafts are 480p
    assert sim.tasks()[-1]["body"]["draft"] is True

    r2 = run(env, "create", "--draft-task-id", draft_id, "--resolution", "720p", "--wait",
             "--download", str(tmp_path))
    assert r2.exit_code == 0, r2.output
    final_id = task_id_of(r2.stdout)
    assert video_size(tmp_path / f"seedance_{final_id}.mp4") == (1280, 720)
    body = sim.tasks()[-1]["body"]
    assert body["content"] == [{"type": "draft_task", "draft_task": {"id": draft_id}}]
    assert body["resolution"] == "720p"


def test_bare_boolean_flags(sim: Any, env: dict[str, str]) -> None:
    r = run(env, "create", "--prompt", "Waves", "--draft", "--watermark", "--camera-fixed", "yes")
    assert r.exit_code == 0, r.output
    body = sim.tasks()[-1]["body"]
    assert body["draft"] is True and body["watermark"] is True and body["camera_fixed"] is True
    assert "seedance-bot status" in r.stdout  # no --wait: says how to check later


def test_status_wait_list_delete(sim: Any, env: dict[str, str], tmp_path: Path) -> None:
    r = run(env, "create", "--prompt", "A lighthouse at dusk", "--return-last-frame", "true",
            "--seed", "11", "--expires-after", "3600", "--service-tier", "flex")
    assert r.exit_code == 0, r.output
    tid = task_id_of(r.stdout)
    body = sim.tasks()[-1]["body"]
    assert (body["seed"], body["execution_expires_after"], body["service_tier"]) == (11, 3600, "flex")

    st = run(env, "status", tid)
    assert st.exit_code == 0 and re.search(r"status:\s+(queued|running|succeeded)", st.stdout), st.output

    w = run(env, "wait", tid, "--download", str(tmp_path))
    assert w.exit_code == 0, w.output
    assert (tmp_path / f"seedance_{tid}.mp4").stat().st_size > 0
    frame = tmp_path / f"seedance_{tid}_last_frame.png"
    assert f"Last frame saved to: {frame}" in w.stdout
    with Image.open(frame) as im:
        assert im.size == (1280, 720)

    js = run(env, "status", tid, "--json")
    assert js.exit_code == 0 and json.loads(js.stdout)["status"] == "succeeded"

    lst = run(env, "list", "--status", "succeeded")
    assert lst.exit_code == 0 and tid in lst.stdout, lst.output
    lj = json.loads(run(env, "list", "--status", "succeeded", "--page", "1", "--page-size", "5",
                        "--json").stdout)
    assert lj["total"] >= 1 and tid in [t["id"] for t in lj["items"]]
    q = [r for r in api_requests(sim, "GET") if r["path"].endswith("/tasks")][-1]["query"]
    assert "filter.status=succeeded" in q and "page_size=5" in q

    d = run(env, "delete", tid)
    assert d.exit_code == 0 and f"Task {tid} deleted" in d.stdout, d.output
    gone = run(env, "status", tid)
    assert gone.exit_code == EXIT_API and "7 days" in gone.stderr


def test_wait_without_download_prints_urls(sim: Any, env: dict[str, str]) -> None:
    tid = task_id_of(run(env, "create", "--prompt", "A red kite").stdout)
    w = run(env, "wait", tid)
    assert w.exit_code == 0, w.output
    assert "Video URL: http" in w.stdout and "24 h" in w.stdout


def test_delete_queued_cancels(sim: Any, env: dict[str, str]) -> None:
    sim.configure(concurrency=1, speed=1)
    run(env, "create", "--prompt", "one")
    tid = task_id_of(run(env, "create", "--prompt", "two").stdout)
    d = run(env, "delete", tid)
    assert d.exit_code == 0 and "cancelled" in d.stdout, d.output
    again = run(env, "delete", tid)
    assert again.exit_code == EXIT_API and "cancelled" in again.stderr


# ----------------------------------------------------------------------------- failures


def test_failed_task_exit_4_with_hint(sim: Any, env: dict[str, str]) -> None:
    r = run(env, "create", "--prompt", "A storm [[failvideo]]", "--wait")
    assert r.exit_code == EXIT_TASK, r.output
    assert "failed" in r.stderr and "moderation" in r.stderr and "Rephrase" in r.stderr


def test_failed_audio_suggests_no_audio(sim: Any, env: dict[str, str]) -> None:
    r = run(env, "create", "--prompt", "A choir [[failaudio]]", "--wait")
    assert r.exit_code == EXIT_TASK, r.output
    assert "--generate-audio false" in r.stderr


def test_rejected_prompt_exit_3(sim: Any, env: dict[str, str]) -> None:
    r = run(env, "create", "--prompt", "something [[sensitive]]")
    assert r.exit_code == EXIT_API, r.output
    assert "InputTextSensitiveContentDetected" in r.stderr and "rephrase" in r.stderr
    assert "request id" in r.stderr


def test_api_unreachable_exit_3(env: dict[str, str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run({**env, "ARK_BASE_URL": f"http://127.0.0.1:{port}/api/v3", "ARK_TIMEOUT": "2"}, "status",
            "cgt-20260101000000-aaaaa")
    assert r.exit_code == EXIT_API and "connection" in r.stderr.lower()


def test_expired_link_download_fails_clearly(sim: Any, env: dict[str, str], tmp_path: Path) -> None:
    r = run(env, "create", "--prompt", "A quiet pond", "--wait")
    assert r.exit_code == 0, r.output
    tid = task_id_of(r.stdout)
    sim.advance(86400 + 60)  # the presigned URL's 24 h are over
    out = tmp_path / "out"
    w = run(env, "wait", tid, "--download", str(out))
    assert w.exit_code == EXIT_API and "expired" in w.stderr, w.output
    assert not out.exists() or not list(out.iterdir())  # nothing half-written


def test_missing_key(sim: Any, env: dict[str, str]) -> None:
    r = run({k: v for k, v in env.items() if k != "ARK_API_KEY"}, "create", "--prompt", "x")
    assert r.exit_code == EXIT_USAGE and ARK_KEY_HELP in r.stderr
    assert api_requests(sim) == []


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--prompt", "x", "--draft", "true", "--model", "seedance-1-0-pro-250528"], "draft"),
        (["--prompt", "x", "--resolution", "1080p", "--draft", "true"], "480p"),
        (["--prompt", "x", "--duration", "-1", "--model", "seedance-1-0-pro-250528"], "2-12"),
        (["--prompt", "x", "--model", "dreamina-seedance-2-0-260128", "--service-tier", "flex"], "flex"),
        (["--prompt", "x", "--model", "dreamina-seedance-2-0-260128", "--seed", "5"], "seed"),
        (["--prompt", "x", "--service-tier", "turbo"], "default or flex"),
        (["--prompt", "x", "--ratio", "2:1"], "21:9"),
        (["--prompt", "x", "--expires-after", "60"], "3600"),
        (["--prompt", "x", "--draft", "true", "--return-last-frame", "true"], "last frame"),
        (["--prompt", "x", "--draft", "maybe"], "not a boolean"),
        (["--prompt", "x", "--generate-audio", "perhaps"], "not a boolean"),
        (["--prompt", "x", "--model", "seedance-1-0-lite-t2v-250428", "--image", "IMG"], "can't do"),
        (["--prompt", "x", "--ref-images", "IMG"], "can't do"),  # 1.5 Pro has no reference mode
        (["--prompt", "x", "--model", LITE_I2V, "--ref-images", "IMG", "IMG", "IMG", "IMG", "IMG"], "1 to 4"),
        (["--prompt", "x", "--model", LITE_I2V, "--ref-images", "IMG", "--camera-fixed", "true"], "camera"),
        (["--prompt", "x", "--image", "IMG", "--ref-images", "IMG"], "Reference images"),
        (["--prompt", "x", "--last-frame", "IMG"], "first frame"),
        (["--prompt", "x", "--image", "WIDE"], "between 0.4 and 2.5"),
        (["--prompt", "x", "--image", "SMALL"], "more than 300"),
        (["--prompt", "x", "--image", "HUGE"], "under 6000"),
        (["--prompt", "x", "--image", "TEXT"], "format"),
        (["--prompt", "x", "--image", "/no/such/photo.jpg"], "not found"),
        (["--draft-task-id", "cgt-20260101000000-aaaaa", "--image", "IMG"], "draft"),
        (["--prompt", ""], "describe"),
        ([], "describe"),
    ],
)
def test_invalid_combinations_exit_2_without_requests(
    sim: Any, env: dict[str, str], tmp_path: Path, args: list[str], expect: str
) -> None:
    makers = {
        "IMG": lambda: image(tmp_path / "ok.jpg", (800, 600)),
        "WIDE": lambda: image(tmp_path / "wide.jpg", (2000, 500)),  # 4:1
        "SMALL": lambda: image(tmp_path / "small.jpg", (200, 200)),
        "HUGE": lambda: image(tmp_path / "huge.jpg", (7000, 3500)),
        "TEXT": lambda: text_file(tmp_path / "notes.jpg"),
    }
    argv = ["create", *[str(makers[a]()) if a in makers else a for a in args]]
    r = run(env, *argv)
    assert r.exit_code == EXIT_USAGE, r.output
    assert expect in r.output, r.output
    assert api_requests(sim) == []


def test_usage_errors_exit_2_without_requests(sim: Any, env: dict[str, str]) -> None:
    for argv in (["status", "../etc/passwd"], ["list", "--status", "done"], ["list", "--page", "0"],
                 ["delete", "bad id"], ["wait"], ["create", "--bogus"]):
        r = run(env, *argv)
        assert r.exit_code == EXIT_USAGE, (argv, r.output)
    assert api_requests(sim) == []


def test_help_documents_exit_codes(env: dict[str, str]) -> None:
    for cmd in ("create", "wait"):
        r = run(env, cmd, "--help")
        flat = " ".join(r.output.split())
        assert "Exit codes" in flat and "4 task failed" in flat


# ----------------------------------------------------------------------------- the downloader


class _Media(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    payload = os.urandom(300_000)

    def log_message(self, *a: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/ok":
            self._send(200, self.payload)
        elif path in ("/gone", "/forbidden", "/missing"):
            code = {"/gone": 410, "/forbidden": 403, "/missing": 404}[path]
            self._send(code, b"<Error><Code>AccessDenied</Code><Message>expired</Message></Error>")
        elif path == "/boom":
            self._send(500, b"oops")
        elif path == "/declared-big":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"\0" * 1024)
        elif path in ("/chunked-big", "/trickle"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(200):
                    piece = b"x" * (65536 if path == "/chunked-big" else 16)
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                    if path == "/trickle":
                        time.sleep(0.05)
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        else:
            self._send(404, b"")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-body are the point of these tests


@pytest.fixture
def media() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Media)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_ok_atomic(media: str, tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "v.mp4"
    with requests.Session() as s:
        n = download_to_file(s, f"{media}/ok?X-Tos-Signature=secret", dest, max_bytes=1 << 20, timeout=10,
                             chunk=4096)
    assert n == len(_Media.payload) and dest.read_bytes() == _Media.payload
    assert [p.name for p in dest.parent.iterdir()] == ["v.mp4"]
    assert download_to_file(None, f"{media}/ok", tmp_path / "w.mp4", max_bytes=1 << 20, timeout=10) == n


@pytest.mark.parametrize(
    ("path", "reason", "limit"),
    [
        ("/gone", "expired", 1 << 20),
        ("/forbidden", "expired", 1 << 20),
        ("/missing", "expired", 1 << 20),
        ("/boom", "http", 1 << 20),
        ("/declared-big", "too_large", 1 << 20),
        ("/chunked-big", "too_large", 1 << 20),
        ("/ok", "too_large", 1000),
    ],
)
def test_download_failures(media: str, tmp_path: Path, path: str, reason: str, limit: int) -> None:
    dest = tmp_path / "v.mp4"
    with pytest.raises(DownloadError) as exc:
        download_to_file(None, f"{media}{path}?X-Tos-Signature=topsecret", dest, max_bytes=limit, timeout=10)
    assert exc.value.reason == reason
    assert "topsecret" not in str(exc.value)  # presigned query strings never end up in errors
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_download_total_time_limit(media: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as exc:
        download_to_file(None, f"{media}/trickle", tmp_path / "v.mp4", max_bytes=1 << 20, timeout=0.5)
    assert exc.value.reason == "timeout"
    assert list(tmp_path.iterdir()) == []


def test_download_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as exc:
        download_to_file(None, f"http://127.0.0.1:{port}/v.mp4", tmp_path / "v.mp4", max_bytes=10, timeout=2)
    assert exc.value.reason == "http"
