"""Local video work for delivery, with PyAV (bundled FFmpeg; nothing downloads at run time).

- `probe`: duration and size of an mp4 (Feishu wants the duration in ms on upload).
- `cover_jpeg`: a cover image from the video when the task gave no last frame.
- `shrink`: re-encode a video that is over Feishu's 30 MB upload limit.
All of them stream frame by frame; a video is never held whole in memory.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    duration: float  # seconds
    has_audio: bool


def probe(path: Path) -> VideoInfo:
    import av  # deferred: PyAV (FFmpeg) is heavy and only delivery and the demo need it

    with av.open(str(path)) as container:
        v = container.streams.video[0]
        if container.duration:
            duration = container.duration / 1_000_000
        elif v.duration is not None and v.time_base is not None:
            duration = float(v.duration * v.time_base)
        else:
            duration = 0.0
        return VideoInfo(int(v.codec_context.width), int(v.codec_context.height), duration,
                         bool(container.streams.audio))


def cover_jpeg(path: Path, *, max_side: int = 1280) -> bytes:
    """The first decodable frame as a JPEG (scaled down so the upload stays small)."""
    import av  # deferred: PyAV (FFmpeg) is heavy and only delivery and the demo need it

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            img = frame.to_image()
            img.thumbnail((max_side, max_side))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="JPEG", quality=85)
            return buf.getvalue()
    raise ValueError("no video frame found")


def image_to_jpeg(data: bytes, *, max_side: int = 1920) -> bytes:
    """Normalise a cover (e.g. Ark's PNG last frame) to a JPEG under Feishu's 10 MB image limit."""
    from PIL import Image  # deferred: only for covers

    with Image.open(io.BytesIO(data)) as img:
        img.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="JPEG", quality=85)
        return buf.getvalue()


def shrink(src: Path, dest: Path, *, target_bytes: int) -> Path:
    """Re-encode `src` (H.264 + AAC) at a bitrate that fits `target_bytes`; scale down if needed."""
    import av  # deferred: PyAV (FFmpeg) is heavy and only delivery and the demo need it

    info = probe(src)
    seconds = max(info.duration, 0.5)
    audio_bps = 64_000 if info.has_audio else 0
    video_bps = max(int(target_bytes * 8 * 0.92 / seconds) - audio_bps, 150_000)
    width, height = info.width, info.height
    while width * height > 1280 * 720 and video_bps < width * height * 1.2:
        width, height = width * 3 // 4, height * 3 // 4
    width -= width % 2
    height -= height % 2
    with av.open(str(src)) as inp, av.open(str(dest), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        rate = Fraction(vin.average_rate or 24).limit_denominator(1000)
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height = width, height
        vout.pix_fmt = "yuv420p"
        vout.bit_rate = video_bps
        vout.codec_context.time_base = 1 / rate
        vout.options = {"preset": "veryfast", "maxrate": str(video_bps), "bufsize": str(video_bps)}
        ain = inp.streams.audio[0] if info.has_audio else None
        aout = None
        if ain is not None:
            aout = out.add_stream("aac", rate=ain.codec_context.sample_rate or 44100)
            aout.bit_rate = audio_bps
        index = 0
        streams = [vin] + ([ain] if ain is not None else [])
        for packet in inp.demux(*streams):
            if packet.stream.type == "video":
                for frame in packet.decode():
                    out_frame = frame.reformat(width=width, height=height, format="yuv420p")
                    out_frame.pts = index  # fresh, evenly spaced timestamps in 1/rate units
                    out_frame.time_base = vout.codec_context.time_base
                    index += 1
                    for p in vout.encode(out_frame):
                        out.mux(p)
            elif aout is not None:
                for aframe in packet.decode():
                    aframe.pts = None  # the encoder counts samples itself
                    for p in aout.encode(aframe):
                        out.mux(p)
        for p in vout.encode(None):
            out.mux(p)
        if aout is not None:
            for p in aout.encode(None):
                out.mux(p)
    log.info("re-encoded %s (%d bytes) to %d bytes", src.name, src.stat().st_size, dest.stat().st_size)
    return dest
