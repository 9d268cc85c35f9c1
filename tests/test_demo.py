"""`seedance-bot demo --once`: the whole product on loopback, no credentials, ends in real mp4 files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import av
import pytest

pytestmark = pytest.mark.slow

BIN = str(Path(sys.executable).with_name("seedance-bot"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_once_plays_the_conversation_and_saves_videos(tmp_path: Path) -> None:
    out = tmp_path / "videos"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ARK_", "FEISHU_", "BOT_", "SEEDANCE_", "REDIS_"))}
    env.update({"BOT_DATA_DIR": str(tmp_path / "data"), "NO_PROXY": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1"})
    # cwd = tmp_path: no .env of the developer's is read.
    port = _free_port()
    proc = subprocess.run([BIN, "demo", "--once", "--port", str(port), "--output", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-6000:]
    assert "All 3 steps ended in a playable video" in report, report[-6000:]

    videos = sorted(out.glob("*.mp4"))
    # /video, photo + caption, draft, and the final approved from the draft
    assert len(videos) == 4, (videos, report[-3000:])
    sizes = set()
    for path in videos:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            sizes.add((stream.codec_context.width, stream.codec_context.height))
            assert container.duration and container.duration > 0
    assert (1280, 720) in sizes  # 720p 16:9, the default
    assert (tmp_path / "data" / "demo" / "bot.log").is_file()
    assert "Traceback" not in report, report[-3000:]
    # The bot the demo started is gone: its port is free again.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
