"""Local checks of input images against the documented Seedance limits (ark-api.md §5.4).

Checking here, before anything is sent, turns a paid round-trip and an opaque
`400 InvalidParameter` into an instant message that says what to change. Limits:

- formats JPEG, PNG, WebP, BMP, TIFF, GIF; HEIC/HEIF only on Seedance 1.5 Pro and 2.0;
- aspect W/H strictly between 0.4 and 2.5;
- each side strictly between 300 and 6000 px (the docs' "(300, 6000)", the seed's "> 300 / < 6000");
- file size under 30 MB (30 MiB here).

Remote URLs (http/https, `asset://`) are passed through unchecked: fetching
them just to look would cost time and is the service's job.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bot import catalogue
from bot.errors import ImageError

MAX_IMAGE_BYTES = 30 * 1024 * 1024
MIN_SIDE = 300  # exclusive
MAX_SIDE = 6000  # exclusive
# Aspect W/H bounds (exclusive), kept as fractions so the comparison is exact.
MIN_ASPECT = (2, 5)  # 0.4
MAX_ASPECT = (5, 2)  # 2.5

# Pillow's format names → the lowercase name used in `data:image/<fmt>`.
_PIL_FORMATS: dict[str, str] = {
    "JPEG": "jpeg",
    "MPO": "jpeg",  # multi-picture JPEG written by many phone cameras; the first picture is a JPEG
    "PNG": "png",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tiff",
    "GIF": "gif",
}
HEIF_FORMATS = frozenset({"heic", "heif"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"heif"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<payload>.*)$", re.S | re.I)
_REMOTE_PREFIXES = ("http://", "https://", "asset://")


@dataclass(frozen=True)
class ImageMeta:
    """What the checks found. `width`/`height` are None for HEIC/HEIF (not decoded)."""

    format: str  # lowercase: jpeg png webp bmp tiff gif heic heif
    width: int | None
    height: int | None
    size: int  # bytes


def heic_allowed(model: str | None) -> bool:
    """HEIC/HEIF inputs are documented for Seedance 1.5 Pro and the 2.0 series only.

    A model unknown to the catalogue is given the benefit of the doubt (the
    service will say if it minds), like every other unknown-model check.
    """
    info = catalogue.get(model) if model else None
    return info is None or info.series in ("1.5", "2.0")


def _heif_extra() -> str:
    return " (HEIC/HEIF only with Seedance 1.5 Pro or 2.0)"


def sniff_heif(data: bytes) -> str | None:
    """`"heic"`/`"heif"` if `data` starts with an ISO-BMFF `ftyp` box of a HEIF brand, else None.

    AVIF shares the container (brand `mif1` too), so an `avif` brand anywhere wins
    and is reported as not-HEIF.
    """
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(data[0:4], "big")
    end = min(len(data), box_size if 16 <= box_size <= 4096 else 64)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:
        return None
    if brands & _HEIC_BRANDS:
        return "heic"
    if brands & _HEIF_BRANDS:
        return "heif"
    return None


def inspect_image(data: bytes, *, allow_heic: bool) -> ImageMeta:
    """Check one image against the limits; return its format and size or raise `ImageError`.

    HEIC/HEIF (accepted only when `allow_heic`, i.e. for Seedance 1.5 Pro and 2.0)
    is recognised by its `ftyp` box and accepted **without** pixel checks: Pillow
    cannot decode HEIF without a plugin this project doesn't ship, so width,
    height and aspect are left to the service.
    """
    size = len(data)
    if size == 0:
        raise ImageError("image_unreadable", detail="empty file")
    if size >= MAX_IMAGE_BYTES:
        raise ImageError("image_bytes", mb=f"{size / (1024 * 1024):.1f}")

    heif = sniff_heif(data)
    if heif is not None:
        if not allow_heic:
            raise ImageError("image_format", value=heif.upper(), extra=_heif_extra())
        return ImageMeta(format=heif, width=None, height=None, size=size)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                pil_format = img.format or ""
                width, height = img.size
                img.verify()  # structural check without decoding all pixels
    except Image.DecompressionBombError:
        # Far beyond 6000×6000; Pillow refuses to even report the size.
        raise ImageError("image_large", width="?", height="?") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ImageError("image_format", value=_guess_kind(data), extra=_extra(allow_heic)) from None
        raise ImageError("image_unreadable", detail=_short(exc)) from None

    fmt = _PIL_FORMATS.get(pil_format)
    if fmt is None:
        raise ImageError("image_format", value=pil_format or "unknown", extra=_extra(allow_heic))
    if width <= MIN_SIDE or height <= MIN_SIDE:
        raise ImageError("image_small", width=width, height=height)
    if width >= MAX_SIDE or height >= MAX_SIDE:
        raise ImageError("image_large", width=width, height=height)
    lo_n, lo_d = MIN_ASPECT
    hi_n, hi_d = MAX_ASPECT
    if not (width * lo_d > height * lo_n and width * hi_d < height * hi_n):
        raise ImageError("image_aspect", width=width, height=height, aspect=f"{width / height:.2f}")
    return ImageMeta(format=fmt, width=width, height=height, size=size)


def _extra(allow_heic: bool) -> str:
    return " (or HEIC/HEIF)" if allow_heic else ""


def _guess_kind(data: bytes) -> str:
    """A short human name for bytes Pillow didn't recognise (for the error message)."""
    head = data[:16]
    if head[4:8] == b"ftyp":
        return head[8:12].decode("ascii", "replace").strip() or "ISO media"
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.lstrip().startswith((b"<svg", b"<?xml")):
        return "SVG/XML"
    return "unknown"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def to_data_url(data: bytes, meta: ImageMeta) -> str:
    """`data:image/<lowercase fmt>;base64,...` — the form the API documents for inline images."""
    return f"data:image/{meta.format.lower()};base64,{base64.b64encode(data).decode('ascii')}"


def is_remote(source: str) -> bool:
    """True for sources sent as they are: http(s) URLs and `asset://` IDs."""
    return source.strip().lower().startswith(_REMOTE_PREFIXES)


def decode_data_url(url: str) -> bytes:
    """The bytes of a base64 `data:image/...` URL; `ImageError` if it isn't one."""
    m = _DATA_URL.match(url.strip())
    if m is None or "base64" not in m.group("params").lower():
        raise ImageError("image_unreadable", detail="not a base64 data: URL")
    mime = m.group("mime").lower()
    if mime and not mime.startswith("image/"):
        raise ImageError("image_format", value=mime, extra="")
    try:
        return base64.b64decode(re.sub(r"\s+", "", m.group("payload")), validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("image_unreadable", detail="invalid base64 in data: URL") from None


def load_image_source(source: str, *, allow_heic: bool) -> str:
    """Turn what a user gave into the URL to send.

    - http(s):// and asset:// → returned unchanged (not checked here);
    - data: URL → decoded, checked, and re-emitted with the detected format;
    - anything else (a local path, `~` expanded, or `file://`) → read, checked, data URL.
    """
    s = source.strip()
    if is_remote(s):
        return s
    if s.lower().startswith("data:"):
        data = decode_data_url(s)
        return to_data_url(data, inspect_image(data, allow_heic=allow_heic))
    if s.lower().startswith("file://"):
        s = s[len("file://") :]
    path = Path(s).expanduser()
    try:
        if not path.is_file():
            raise ImageError("image_missing", value=source)
        if path.stat().st_size >= MAX_IMAGE_BYTES:  # don't read a huge file just to refuse it
            raise ImageError("image_bytes", mb=f"{path.stat().st_size / (1024 * 1024):.1f}")
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError("image_unreadable", detail=_short(exc)) from None
    return to_data_url(data, inspect_image(data, allow_heic=allow_heic))
