"""Local checks of reference videos and audios against the documented Seedance 2.0 limits.

ark-api.md §5.4, per file (the totals are `bot.spec.check_media_lengths`):

- video: MP4 or MOV, H.264 or H.265 picture, AAC or MP3 sound (if any), 2-15 s, width/height
  0.4-2.5, each side 300-6000 px, 409 600-8 295 044 pixels, at most 200 MB, 24-60 fps;
- audio: WAV or MP3, 2-15 s, at most 15 MB. A Feishu voice message is Opus (in Ogg): it, and any
  other audio PyAV can decode (M4A, AAC, AMR, FLAC …), is converted to WAV here first.

Like `bot.images`, checking here turns a paid round-trip (or an opaque 400 after a long upload
from Ark's side) into an instant message that says what to change. The files are read with
PyAV (bundled FFmpeg); only the container header is read for a video, never its frames.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from bot.catalogue import (
    REF_AUDIO_MAX_BYTES,
    REF_CLIP_SECONDS,
    REF_VIDEO_ASPECT,
    REF_VIDEO_FPS,
    REF_VIDEO_MAX_BYTES,
    REF_VIDEO_PIXELS,
    REF_VIDEO_SIDES,
)
from bot.errors import MediaError

log = logging.getLogger(__name__)

VIDEO_CODECS = {"h264": "H.264", "hevc": "H.265"}
VIDEO_SOUND_CODECS = frozenset({"aac", "mp3", "mp3float"})
MAX_WAV_RATE = 48000
_MB = 1_000_000


@dataclass(frozen=True)
class MediaMeta:
    """What the checks found in one reference file."""

    kind: str  # "video" | "audio"
    format: str  # mp4 mov wav mp3
    content_type: str  # what the file is served as
    seconds: float
    size: int  # bytes
    width: int = 0
    height: int = 0
    fps: float = 0.0
    codec: str = ""  # the picture's (video) or the sound's (audio)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def _open(path: Path) -> Any:
    import av  # deferred: PyAV (FFmpeg) is heavy and only the worker's start of a reference job needs it

    return av.open(str(path))


def _seconds(container: Any, stream: Any) -> float:
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration) / 1_000_000
    return 0.0


def _iso_brand(path: Path) -> str:
    """The major brand of an ISO-BMFF file (`qt  ` = QuickTime .mov, `isom`/`mp42`/… = .mp4)."""
    with path.open("rb") as fh:
        head = fh.read(12)
    return head[8:12].decode("latin-1") if head[4:8] == b"ftyp" else ""


def _length(kind: str, number: int, seconds: float) -> None:
    lo, hi = REF_CLIP_SECONDS
    if not lo <= round(seconds, 1) <= hi:
        raise MediaError(f"ref_{kind}_length", number=number, seconds=f"{seconds:.1f}", lo=f"{lo:g}", hi=f"{hi:g}")


def inspect_video(path: Path, *, number: int = 1) -> MediaMeta:
    """Check one reference video (`number`: its place among the request's videos, for messages)."""
    size = path.stat().st_size
    if size > REF_VIDEO_MAX_BYTES:
        raise MediaError("ref_video_bytes", number=number, mb=f"{size / _MB:.1f}", limit=REF_VIDEO_MAX_BYTES // _MB)
    try:
        container = _open(path)
    except Exception as exc:  # PyAV raises its own FFmpeg error classes (InvalidDataError, …)
        raise MediaError("ref_video_unreadable", number=number, detail=_short(exc)) from None
    with container:
        fmt_names = set((container.format.name or "").split(","))
        if not container.streams.video:
            raise MediaError("ref_video_unreadable", number=number, detail="no video track")
        if "mp4" not in fmt_names and "mov" not in fmt_names:
            shown = (container.format.long_name or container.format.name or "unknown").split(" / ")[0]
            raise MediaError("ref_video_format", number=number, value=shown)
        brand = _iso_brand(path)
        if brand.startswith("3g"):
            raise MediaError("ref_video_format", number=number, value="3GP")
        fmt = "mov" if brand == "qt  " else "mp4"
        stream = container.streams.video[0]
        ctx = stream.codec_context
        codec = ctx.name or "unknown"
        if codec not in VIDEO_CODECS:
            raise MediaError("ref_video_codec", number=number, value=codec.upper())
        for sound in container.streams.audio:
            sound_codec = sound.codec_context.name or "unknown"
            if sound_codec not in VIDEO_SOUND_CODECS:
                raise MediaError("ref_video_audio_codec", number=number, value=sound_codec.upper())
        seconds = _seconds(container, stream)
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
    _length("video", number, seconds)
    lo, hi = REF_VIDEO_SIDES
    if not (lo <= width <= hi and lo <= height <= hi):
        raise MediaError("ref_video_sides", number=number, width=width, height=height, lo=lo, hi=hi)
    pixels = width * height
    p_lo, p_hi = REF_VIDEO_PIXELS
    if not p_lo <= pixels <= p_hi:
        raise MediaError("ref_video_pixels", number=number, width=width, height=height, pixels=pixels,
                         lo=p_lo, hi=p_hi)
    a_lo, a_hi = (Fraction(str(x)) for x in REF_VIDEO_ASPECT)
    if not a_lo <= Fraction(width, height) <= a_hi:
        raise MediaError("ref_video_aspect", number=number, width=width, height=height,
                         aspect=f"{width / height:.2f}", lo=f"{REF_VIDEO_ASPECT[0]:g}", hi=f"{REF_VIDEO_ASPECT[1]:g}")
    f_lo, f_hi = REF_VIDEO_FPS
    if not f_lo <= round(fps) <= f_hi:
        raise MediaError("ref_video_fps", number=number, fps=f"{fps:.3g}", lo=f_lo, hi=f_hi)
    return MediaMeta(kind="video", format=fmt, content_type="video/quicktime" if fmt == "mov" else "video/mp4",
                     seconds=seconds, size=size, width=width, height=height, fps=fps, codec=VIDEO_CODECS[codec])


def inspect_audio(path: Path, *, number: int = 1) -> tuple[MediaMeta, bool]:
    """Check one reference audio as sent: (what it is, whether it must be converted to WAV first).

    WAV and MP3 are sent as they are (then the 15 MB limit applies to the file); anything else is
    converted (`to_wav`) and the result checked again. The length is checked here, before any
    conversion, so a long recording is refused at once.
    """
    size = path.stat().st_size
    try:
        container = _open(path)
    except Exception as exc:  # PyAV raises its own FFmpeg error classes
        raise MediaError("ref_audio_unreadable", number=number, detail=_short(exc)) from None
    with container:
        if not container.streams.audio:
            raise MediaError("ref_audio_unreadable", number=number, detail="no sound track")
        names = set((container.format.name or "").split(","))
        stream = container.streams.audio[0]
        codec = stream.codec_context.name or "unknown"
        seconds = _seconds(container, stream)
        if "wav" in names and codec.startswith("pcm_"):
            fmt = "wav"
        elif "mp3" in names and codec.startswith("mp3"):
            fmt = "mp3"
        else:
            fmt = ""
    _length("audio", number, seconds)
    if fmt and size > REF_AUDIO_MAX_BYTES:
        raise MediaError("ref_audio_bytes", number=number, mb=f"{size / _MB:.1f}", limit=REF_AUDIO_MAX_BYTES // _MB)
    meta = MediaMeta(kind="audio", format=fmt or "wav", content_type="audio/mpeg" if fmt == "mp3" else "audio/wav",
                     seconds=seconds, size=size, codec=codec)
    return meta, not fmt


def to_wav(src: Path, dest: Path, *, number: int = 1) -> MediaMeta:
    """Convert any audio PyAV decodes (a voice message's Opus, M4A …) to 16-bit PCM WAV, then check it.

    Mono stays mono, anything else becomes stereo; the sample rate is kept up to 48 kHz. A 15 s
    result is at most about 2.9 MB.
    """
    import av  # deferred: PyAV (FFmpeg) is heavy and only the worker's start of a reference job needs it

    try:
        with av.open(str(src)) as inp, av.open(str(dest), "w", format="wav") as out:
            ain = inp.streams.audio[0]
            channels = ain.codec_context.channels or 1
            layout = "mono" if channels == 1 else "stereo"
            rate = min(int(ain.codec_context.sample_rate or MAX_WAV_RATE), MAX_WAV_RATE)
            aout: Any = out.add_stream("pcm_s16le", rate=rate)
            aout.layout = layout
            resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
            for frame in inp.decode(ain):
                frame.pts = None  # the resampler and encoder count samples themselves
                for piece in resampler.resample(frame):
                    for packet in aout.encode(piece):
                        out.mux(packet)
            for piece in resampler.resample(None):
                for packet in aout.encode(piece):
                    out.mux(packet)
            for packet in aout.encode(None):
                out.mux(packet)
    except Exception as exc:  # a broken stream half-way: FFmpeg's own errors
        dest.unlink(missing_ok=True)
        raise MediaError("ref_audio_unreadable", number=number, detail=_short(exc)) from None
    meta, again = inspect_audio(dest, number=number)
    if again:  # cannot happen for our own WAV; never loop
        raise MediaError("ref_audio_unreadable", number=number, detail="conversion to WAV failed")
    log.info("converted audio %d (%s, %d bytes) to WAV (%d bytes)", number, src.name, src.stat().st_size,
             meta.size)
    return meta


def prepare_audio(src: Path, work: Path, *, number: int = 1) -> tuple[Path, MediaMeta]:
    """(the file to serve, what it is): `src` itself when it is WAV or MP3, else a WAV made in `work`."""
    meta, convert = inspect_audio(src, number=number)
    if not convert:
        return src, meta
    dest = work / f"{src.name}.wav"
    try:
        return dest, to_wav(src, dest, number=number)
    except BaseException:
        if dest.exists():
            os.unlink(dest)
        raise
