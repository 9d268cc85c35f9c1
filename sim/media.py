"""Real, playable media made locally for the simulators (no network).

The Ark simulator must hand out videos the bot can download, probe, upload and
play, of exactly the pixel size and duration the real service would produce.
Videos are H.264 (yuv420p) mp4 with an optional AAC mono track, encoded with
x264 `ultrafast` from cheap synthetic frames (a scrolling gradient plus a
moving box), and cached on disk by (size, duration, fps, audio, padding) so a
size is encoded once per machine. `min_bytes` pads a file with a trailing
top-level `free` box (ignored by players) to exercise large-file delivery.
"""

from __future__ import annotations

import array
import contextlib
import io
import math
import os
import shutil
import tempfile
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw

CACHE_VERSION = "v1"
AUDIO_RATE = 48000
_PAD_CHUNK = 1 << 20

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def default_cache_dir() -> Path:
    """Shared across simulator instances and test runs so each size is encoded once."""
    return Path(tempfile.gettempdir()) / "seedance-sim-media"


def _key_lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def frame_count(duration: float, fps: int) -> int:
    """Frames in a clip: round(duration × fps), at least one."""
    return max(1, round(duration * fps))


def cached_mp4(
    width: int, height: int, duration: float, fps: int = 24, audio: bool = False,
    *, min_bytes: int = 0, cache_dir: Path | None = None,
) -> Path:
    """The path of a cached mp4 with these properties, encoding it on first use.

    Safe to call from many threads and processes: encoding goes to a temporary
    file that is atomically renamed into place.
    """
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"H.264 yuv420p needs positive even sides, got {width}x{height}")
    if duration <= 0 or fps <= 0:
        raise ValueError("duration and fps must be positive")
    root = cache_dir or default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    key = f"{CACHE_VERSION}_{width}x{height}_{duration:.3f}s_{fps}fps_{'a' if audio else 'n'}_{min_bytes}"
    target = root / f"{key}.mp4"
    if target.exists():
        return target
    with _key_lock(str(target)):
        if target.exists():
            return target
        fd, tmp_name = tempfile.mkstemp(prefix=".enc-", suffix=".mp4", dir=root)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _encode(tmp, width, height, duration, fps, audio)
            if min_bytes:
                pad_mp4(tmp, min_bytes)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return target


def make_mp4(
    path: Path, width: int, height: int, duration: float, fps: int = 24, audio: bool = False,
    *, min_bytes: int = 0, cache_dir: Path | None = None,
) -> Path:
    """Write a playable H.264 mp4 (+AAC mono when `audio`) of exactly W×H and round(duration×fps) frames."""
    src = cached_mp4(width, height, duration, fps, audio, min_bytes=min_bytes, cache_dir=cache_dir)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _link_or_copy(src, path)
    return path


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link when possible (free), else copy; replaces `dst` atomically."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def pad_mp4(path: Path, min_bytes: int) -> None:
    """Grow an mp4 to at least `min_bytes` by appending a top-level `free` box (still valid, still plays).

    The filler is pseudo-random so transfer compression cannot shrink it.
    """
    size = path.stat().st_size
    missing = min_bytes - size
    if missing <= 0:
        return
    box = max(missing, 8)
    if box >= 2**32:
        raise ValueError("padding above 4 GiB is not supported")
    seed = os.urandom(_PAD_CHUNK)
    with path.open("ab") as fh:
        fh.write(box.to_bytes(4, "big") + b"free")
        left = box - 8
        while left > 0:
            n = min(left, _PAD_CHUNK)
            fh.write(seed[:n])
            left -= n


def _encode(path: Path, width: int, height: int, duration: float, fps: int, audio: bool) -> None:
    n_frames = frame_count(duration, fps)
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "faststart"}) as container:
        vs: Any = container.add_stream("libx264", rate=fps)
        vs.width = width
        vs.height = height
        vs.pix_fmt = "yuv420p"
        vs.time_base = Fraction(1, fps)
        vs.options = {"preset": "ultrafast", "crf": "30", "g": str(fps * 2)}
        aus: Any = None
        tone = b""
        if audio:
            aus = container.add_stream("aac", rate=AUDIO_RATE)
            aus.layout = "mono"
            aus.time_base = Fraction(1, AUDIO_RATE)
            tone = _tone_cycle()
        frames = _FramePainter(width, height)
        audio_total = round(n_frames / fps * AUDIO_RATE)
        audio_done = 0
        for i in range(n_frames):
            frame = frames.frame(i, n_frames)
            frame.pts = i
            for packet in vs.encode(frame):
                container.mux(packet)
            if aus is not None:
                upto = min(audio_total, round((i + 1) / fps * AUDIO_RATE))
                audio_done = _encode_audio(container, aus, tone, audio_done, upto, i == n_frames - 1)
        for packet in vs.encode(None):
            container.mux(packet)
        if aus is not None:
            for packet in aus.encode(None):
                container.mux(packet)


def _tone_cycle() -> bytes:
    """One 100-sample cycle of a 480 Hz sine at 48 kHz, float32 (repeats seamlessly)."""
    period = AUDIO_RATE // 480
    return array.array("f", (0.2 * math.sin(2 * math.pi * k / period) for k in range(period))).tobytes()


def _encode_audio(container: Any, stream: Any, cycle: bytes, start: int, end: int, final: bool) -> int:
    """Encode samples [start, end) in 1024-sample frames (short one only if `final`); returns the position."""
    period = len(cycle) // 4
    pos = start
    while end - pos >= 1024 or (final and end > pos):
        n = min(1024, end - pos)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=n)
        offset = pos % period
        reps = (offset + n) // period + 2
        data = (cycle * reps)[offset * 4:(offset + n) * 4]
        frame.planes[0].update(data + b"\0" * (frame.planes[0].buffer_size - len(data)))
        frame.sample_rate = AUDIO_RATE
        frame.pts = pos
        frame.time_base = Fraction(1, AUDIO_RATE)
        for packet in stream.encode(frame):
            container.mux(packet)
        pos += n
    return pos


class _FramePainter:
    """Cheap per-frame-changing yuv420p content built from bytes slices (no numpy)."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        probe = av.VideoFrame(width, height, "yuv420p")
        self.y_ls = probe.planes[0].line_size
        self.c_ls = probe.planes[1].line_size
        self.c_h = probe.planes[1].height
        self.y_size = probe.planes[0].buffer_size
        self.c_size = probe.planes[1].buffer_size
        period = max(64, width // 2)
        tri = bytes(16 + (219 * (period - abs(2 * x - period))) // period for x in range(period))
        self.period = period
        self.grad = tri * ((self.y_ls // period) + 3)
        self.box_w = max(16, width // 6) & ~1
        self.box_h = max(16, height // 6) & ~1
        self.white = b"\xeb" * self.box_w

    def frame(self, i: int, total: int) -> av.VideoFrame:
        w, h, ls = self.width, self.height, self.y_ls
        off = (i * max(2, w // 96)) % self.period
        y = bytearray(self.grad[off:off + ls] * h)
        t = i / max(1, total - 1)
        x0 = int((w - self.box_w) * t)
        y0 = int((h - self.box_h) * (0.5 + 0.4 * math.sin(2 * math.pi * t)))
        for r in range(y0, min(h, y0 + self.box_h)):
            start = r * ls + x0
            y[start:start + self.box_w] = self.white
        frame = av.VideoFrame(w, h, "yuv420p")
        frame.planes[0].update(bytes(y[: self.y_size]))
        u = 128 + int(60 * math.sin(2 * math.pi * t))
        v = 128 + int(60 * math.cos(2 * math.pi * t))
        frame.planes[1].update(bytes([u]) * self.c_size)
        frame.planes[2].update(bytes([v]) * self.c_size)
        return frame


_PNGS: dict[tuple[int, int], bytes] = {}  # W×H -> the PNG's bytes: the same picture every time


def png_bytes(width: int, height: int) -> bytes:
    """The simulator's last frame of W×H, drawn once per size (drawing it took most of the
    simulator's CPU when many tasks ended at once)."""
    key = (width, height)
    data = _PNGS.get(key)
    if data is None:
        grad = Image.linear_gradient("L").resize((width, height))
        img = Image.merge("RGB", (grad, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grad.rotate(180)))
        draw = ImageDraw.Draw(img)
        bw, bh = max(8, width // 6), max(8, height // 6)
        x1 = width - width // 20
        draw.rectangle((x1 - bw, height // 2 - bh // 2, x1, height // 2 + bh // 2), fill=(240, 240, 240))
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        data = _PNGS.setdefault(key, buf.getvalue())
    return data


def make_png(path: Path, width: int, height: int) -> Path:
    """Write a PNG of exactly W×H (the simulator's `last_frame_url`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_bytes(png_bytes(width, height))
    os.replace(tmp, path)
    return path


def probe_mp4(path: Path) -> dict[str, Any]:
    """Width, height, duration (s, video stream), codec, has_audio, frames and byte size of an mp4."""
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        duration: float | None = None
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        audio = container.streams.audio
        return {
            "width": vs.codec_context.width,
            "height": vs.codec_context.height,
            "duration": duration,
            "codec": vs.codec_context.name,
            "pix_fmt": vs.codec_context.pix_fmt,
            "has_audio": bool(audio),
            "audio_codec": audio[0].codec_context.name if audio else None,
            "audio_channels": audio[0].codec_context.channels if audio else None,
            "frames": vs.frames,
            "size": Path(path).stat().st_size,
        }


# --- what users send: short clips and voice messages (Feishu simulator, `LocalStack.user_video`) ----------


def user_video_bytes(seconds: float = 3.0, width: int = 864, height: int = 496, fps: int = 24,
                     audio: bool = True) -> bytes:
    """A playable H.264/AAC mp4 a user sends as a video message (cached like the simulator's outputs).

    The default, 864×496 at 24 fps, is within every Seedance 2.0 reference-video limit
    (ark-api.md §5.4: ≥ 409 600 pixels, 24-60 fps); 640×480 would not be (307 200 pixels).
    """
    return cached_mp4(width, height, seconds, fps, audio).read_bytes()


AUDIO_FORMATS = {"opus": ("ogg", "libopus", "audio/ogg"), "mp3": ("mp3", "libmp3lame", "audio/mpeg"),
                 "wav": ("wav", "pcm_s16le", "audio/wav")}


def user_audio_bytes(seconds: float = 3.0, fmt: str = "opus", rate: int = 48000) -> bytes:
    """A mono 440 Hz tone as a voice message would carry it: Opus in Ogg (Feishu's `audio`), or MP3/WAV."""
    if fmt not in AUDIO_FORMATS:
        raise ValueError(f"audio format must be one of {sorted(AUDIO_FORMATS)}, not {fmt!r}")
    container_fmt, codec, _ = AUDIO_FORMATS[fmt]
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    fd, name = tempfile.mkstemp(suffix=f".{fmt}")
    os.close(fd)
    path = Path(name)
    try:
        with av.open(str(path), mode="w", format=container_fmt) as out:
            stream: Any = out.add_stream(codec, rate=rate)
            stream.layout = "mono"
            total, pos = round(seconds * rate), 0
            while pos < total:
                n = min(960, total - pos)
                frame = av.AudioFrame(format="s16", layout="mono", samples=n)
                data = array.array("h", (int(6000 * math.sin(2 * math.pi * 440 * (pos + i) / rate))
                                         for i in range(n))).tobytes()
                frame.planes[0].update(data + b"\0" * (frame.planes[0].buffer_size - len(data)))
                frame.sample_rate = rate
                frame.pts = pos
                frame.time_base = Fraction(1, rate)
                for packet in stream.encode(frame):
                    out.mux(packet)
                pos += n
            for packet in stream.encode(None):
                out.mux(packet)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
