"""Bot-side video work: probe, cover frame, and shrinking a video over Feishu's 30 MB limit."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bot import media
from sim.media import make_mp4, make_png, probe_mp4


def test_probe_reports_size_duration_and_audio(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "a.mp4", 640, 360, 2.0, audio=True)
    info = media.probe(path)
    assert (info.width, info.height) == (640, 360)
    assert 1.8 <= info.duration <= 2.3
    assert info.has_audio


def test_cover_is_a_jpeg_of_the_first_frame(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "b.mp4", 1280, 720, 1.0)
    data = media.cover_jpeg(path)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        assert img.size == (1280, 720)


def test_last_frame_png_becomes_a_small_jpeg(tmp_path: Path) -> None:
    png = make_png(tmp_path / "c.png", 1920, 1080).read_bytes()
    with Image.open(io.BytesIO(media.image_to_jpeg(png))) as img:
        assert img.format == "JPEG" and max(img.size) <= 1920


def test_shrink_fits_the_target_and_stays_playable(tmp_path: Path) -> None:
    big = make_mp4(tmp_path / "big.mp4", 1280, 720, 3.0, audio=True, min_bytes=6 * 1024 * 1024)
    assert big.stat().st_size >= 6 * 1024 * 1024
    small = media.shrink(big, tmp_path / "small.mp4", target_bytes=1024 * 1024)
    assert small.stat().st_size <= 1024 * 1024
    probed = probe_mp4(small)
    assert probed["codec"] in ("h264", "libx264")
    assert abs(float(probed["duration"]) - 3.0) < 0.5
    assert probed["has_audio"]
