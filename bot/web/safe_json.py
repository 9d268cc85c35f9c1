"""JSON from strangers: bounded nesting, finite numbers, strict UTF-8, no lone surrogates.

`json.loads` recurses once per nesting level, so a body of 100 000 ``[`` raises
`RecursionError` (an HTTP 500, and a traceback in the log) before any check of
ours can run. `loads` here refuses such bodies with a linear pre-scan first, then
parses with NaN/Infinity refused, and finally replaces lone surrogates (which
``"\\ud800"`` escapes produce and which Redis, UTF-8 and most JSON readers
refuse) with U+FFFD, so whatever is parsed can also be stored and read back.
Every failure is a `BadJson` (a `ValueError`) with a short reason, never an
echo of the input.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting accepted; Feishu's envelopes are about 6 levels deep."""

# A whole JSON string (escapes included), or a lone quote (an unterminated string), or a bracket.
# The unrolled string pattern consumes each character in exactly one way, so it cannot backtrack badly.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|["\[\]{}]', re.S)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class BadJson(ValueError):
    """The text is not a JSON document this service accepts; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether `text` nests arrays/objects more than `limit` deep, without parsing it.

    Brackets inside strings do not count. At an unterminated string the scan stops:
    `json.loads` fails there too, so it never reaches the brackets after it. Cost is
    linear; a body with at most `limit` opening brackets is not scanned at all.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for token in _TOKEN.findall(text):
        if token == "[" or token == "{":
            depth += 1
            if depth > limit:
                return True
        elif token == "]" or token == "}":
            depth -= 1
        elif token == '"':
            return False
    return False


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise ValueError("number out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def scrub(value: Any) -> Any:
    """A copy of a parsed document with every lone surrogate replaced by U+FFFD (keys too)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def scrub_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD (for strings about to be stored or sent)."""
    return _SURROGATE.sub("\ufffd", text)


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse untrusted JSON, or raise `BadJson`. Bytes must be UTF-8 (no BOM, no UTF-16)."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadJson("not utf-8") from None
    else:
        text = scrub_text(data)
    if not text.strip():
        raise BadJson("empty")
    if too_deep(text, max_depth):
        raise BadJson("nested too deeply")
    try:
        doc = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:  # belt and braces: the pre-scan should make this impossible
        raise BadJson("nested too deeply") from None
    except ValueError:  # JSONDecodeError, over-long integers, NaN/Infinity, 1e999
        raise BadJson("not json") from None
    if _ESCAPED_SURROGATE.search(text):
        doc = scrub(doc)
    return doc
