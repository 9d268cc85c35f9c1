"""Sample photos for the playground's attach menu and the demo: drawn with Pillow, no files needed.

Each is a JPEG "photo" a person can send to the bot with a caption, big enough for Seedance's
image rules (300–6000 px a side, aspect ratio 0.4–2.5).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

from PIL import Image, ImageDraw


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def sunset(width: int = 1280, height: int = 720) -> bytes:
    """A sunset over hills."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(250 - 120 * t), int(150 - 90 * t), int(90 + 60 * t)))
    r = height // 7
    cx, cy = width * 2 // 3, height // 2
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 214, 120))
    hills = [(x, int(height * 0.68 + 40 * math.sin(x / 130) + 25 * math.sin(x / 47)))
             for x in range(0, width + 1, 8)]
    draw.polygon([(0, height), *hills, (width, height)], fill=(48, 70, 60))
    return _jpeg(img)


def flower(width: int = 960, height: int = 960) -> bytes:
    """A pink flower on a green background."""
    img = Image.new("RGB", (width, height), (120, 170, 110))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(150 - 60 * t), int(195 - 50 * t), int(140 - 50 * t)))
    cx, cy = width // 2, height // 2 - height // 12
    draw.line([(cx, cy), (cx + width // 40, height)], fill=(60, 110, 50), width=max(6, width // 60))
    petal = width // 7
    for k in range(8):
        a = k * math.pi / 4
        px, py = cx + math.cos(a) * petal, cy + math.sin(a) * petal
        draw.ellipse([px - petal * 0.7, py - petal * 0.7, px + petal * 0.7, py + petal * 0.7],
                     fill=(236, 120 + 8 * k, 170))
    draw.ellipse([cx - petal // 2, cy - petal // 2, cx + petal // 2, cy + petal // 2], fill=(250, 205, 80))
    return _jpeg(img)


def city(width: int = 1280, height: int = 720) -> bytes:
    """A city skyline at night."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(20 + 40 * t), int(24 + 30 * t), int(60 + 70 * t)))
    draw.ellipse([width // 8, height // 10, width // 8 + 70, height // 10 + 70], fill=(245, 240, 210))
    x, k = 0, 0
    while x < width:
        w = 60 + (k * 37) % 90
        h = int(height * (0.25 + ((k * 53) % 40) / 100))
        draw.rectangle([x, height - h, x + w, height], fill=(30 + (k * 7) % 20, 34, 52))
        for wy in range(height - h + 14, height - 10, 26):
            for wx in range(x + 10, x + w - 10, 20):
                if (wx * 3 + wy * 5 + k) % 7 < 3:
                    draw.rectangle([wx, wy, wx + 8, wy + 12], fill=(250, 215, 120))
        x += w + 6
        k += 1
    return _jpeg(img)


SAMPLES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "sunset": ("Sunset over hills", sunset),
    "flower": ("A pink flower", flower),
    "city": ("City at night", city),
}

__all__ = ["SAMPLES", "city", "flower", "sunset"]
