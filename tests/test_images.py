"""Local image checks (ark-api.md §5.4) on real image files made with Pillow."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from bot.errors import ImageError
from bot.images import (
    MAX_IMAGE_BYTES,
    heic_allowed,
    inspect_image,
    load_image_source,
    sniff_heif,
    to_data_url,
)


def make(width: int, height: int, fmt: str = "PNG", **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, format=fmt, **save)
    return buf.getvalue()


def heif_bytes(brand: bytes = b"heic", compat: tuple[bytes, ...] = (b"mif1", b"heic")) -> bytes:
    body = brand + b"\x00\x00\x00\x00" + b"".join(compat)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 64


def code_of(exc: pytest.ExceptionInfo[ImageError]) -> str:
    return exc.value.code


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tiff"), ("GIF", "gif")],
)
def test_accepted_formats(fmt: str, name: str) -> None:
    data = make(640, 480, fmt)
    meta = inspect_image(data, allow_heic=False)
    assert (meta.format, meta.width, meta.height, meta.size) == (name, 640, 480, len(data))


@pytest.mark.parametrize(
    ("size", "code"),
    [
        ((1600, 400), "image_aspect"),  # 4:1
        ((400, 1600), "image_aspect"),  # 1:4
        ((1000, 400), "image_aspect"),  # exactly 2.5: the documented range is open
        ((200, 200), "image_small"),
        ((300, 400), "image_small"),  # exactly 300: must be more
        ((7000, 7000), "image_large"),
        ((6000, 4000), "image_large"),  # exactly 6000: must be less
    ],
)
def test_limits(size: tuple[int, int], code: str) -> None:
    with pytest.raises(ImageError) as exc:
        inspect_image(make(*size), allow_heic=True)
    assert code_of(exc) == code
    assert str(size[0]) in exc.value.render("en")


def test_just_inside_the_limits() -> None:
    inspect_image(make(301, 301), allow_heic=False)
    inspect_image(make(999, 400), allow_heic=False)  # 2.4975
    inspect_image(make(401, 1000), allow_heic=False)  # 0.401
    inspect_image(make(5999, 3000, "JPEG"), allow_heic=False)


def test_bad_format() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480)).save(buf, format="ICO")
    with pytest.raises(ImageError) as exc:
        inspect_image(buf.getvalue(), allow_heic=False)
    assert code_of(exc) == "image_format"
    with pytest.raises(ImageError) as exc:
        inspect_image(b"%PDF-1.4 not an image at all", allow_heic=False)
    assert code_of(exc) == "image_format" and "PDF" in str(exc.value)


def test_unreadable_and_empty() -> None:
    with pytest.raises(ImageError) as exc:
        inspect_image(b"", allow_heic=False)
    assert code_of(exc) == "image_unreadable"
    truncated = make(640, 480, "PNG")[:60]
    with pytest.raises(ImageError) as exc:
        inspect_image(truncated, allow_heic=False)
    assert code_of(exc) in ("image_unreadable", "image_format")


def test_too_many_bytes_refused_before_decoding() -> None:
    with pytest.raises(ImageError) as exc:
        inspect_image(b"\x00" * MAX_IMAGE_BYTES, allow_heic=False)
    assert code_of(exc) == "image_bytes"


def test_heic_only_when_allowed() -> None:
    data = heif_bytes()
    assert sniff_heif(data) == "heic"
    meta = inspect_image(data, allow_heic=True)
    assert (meta.format, meta.width, meta.height) == ("heic", None, None)
    with pytest.raises(ImageError) as exc:
        inspect_image(data, allow_heic=False)
    assert code_of(exc) == "image_format" and "1.5 Pro" in str(exc.value)
    assert sniff_heif(heif_bytes(b"mif1", (b"mif1",))) == "heif"
    assert sniff_heif(heif_bytes(b"avif", (b"mif1", b"avif"))) is None  # AVIF shares the container
    assert sniff_heif(make(400, 400)) is None


def test_heic_allowed_per_model() -> None:
    assert heic_allowed("seedance-1-5-pro-251215")
    assert heic_allowed("dreamina-seedance-2-0-260128")
    assert not heic_allowed("seedance-1-0-pro-250528")
    assert not heic_allowed("seedance-1-0-lite-i2v-250219")  # alias of a 1.0 model
    assert heic_allowed("ep-unknown-endpoint")


def test_to_data_url() -> None:
    data = make(640, 480, "JPEG")
    url = to_data_url(data, inspect_image(data, allow_heic=False))
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == data


def test_load_local_file(tmp_path: Path) -> None:
    p = tmp_path / "photo.JPG"
    p.write_bytes(make(800, 600, "JPEG"))
    url = load_image_source(str(p), allow_heic=False)
    assert url.startswith("data:image/jpeg;base64,")
    assert load_image_source(f"file://{p}", allow_heic=False) == url


def test_load_png_named_jpg_uses_real_format(tmp_path: Path) -> None:
    p = tmp_path / "really_png.jpg"
    p.write_bytes(make(800, 600, "PNG"))
    assert load_image_source(str(p), allow_heic=False).startswith("data:image/png;base64,")


def test_load_rejects_bad_local_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as exc:
        load_image_source(str(tmp_path / "missing.jpg"), allow_heic=False)
    assert code_of(exc) == "image_missing" and "missing.jpg" in str(exc.value)
    with pytest.raises(ImageError) as exc:
        load_image_source(str(tmp_path), allow_heic=False)  # a directory
    assert code_of(exc) == "image_missing"
    wide = tmp_path / "wide.png"
    wide.write_bytes(make(1600, 400))
    with pytest.raises(ImageError) as exc:
        load_image_source(str(wide), allow_heic=False)
    assert code_of(exc) == "image_aspect"


def test_remote_sources_pass_through() -> None:
    for src in ("https://example.com/a.jpg", "http://127.0.0.1:1/a.png", "asset://asset-123", "HTTPS://X/y"):
        assert load_image_source(src, allow_heic=False) == src


def test_data_url_is_checked_and_normalised() -> None:
    good = make(640, 480, "PNG")
    declared_wrong = "data:image/JPEG;base64," + base64.b64encode(good).decode()
    assert load_image_source(declared_wrong, allow_heic=False).startswith("data:image/png;base64,")
    small = "data:image/png;base64," + base64.b64encode(make(100, 100)).decode()
    with pytest.raises(ImageError) as exc:
        load_image_source(small, allow_heic=False)
    assert code_of(exc) == "image_small"
    with pytest.raises(ImageError) as exc:
        load_image_source("data:image/png;base64,@@@notbase64", allow_heic=False)
    assert code_of(exc) == "image_unreadable"
    with pytest.raises(ImageError) as exc:
        load_image_source("data:text/plain;base64,aGVsbG8=", allow_heic=False)
    assert code_of(exc) == "image_format"
