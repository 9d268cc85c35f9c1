"""Render user-facing text: `t(key, lang, **params)` over the one catalogue in `bot.messages`.

An unknown key renders as the key itself, so a missing translation is visible rather than a
crash; a template whose params are missing renders unformatted for the same reason.
`detect(text)` guesses the writer's language from what they typed.
"""

from __future__ import annotations

import re
import string
from typing import Any

from bot.messages import CATALOGUE

Lang = str  # "en" | "zh"

MESSAGES = CATALOGUE
"""Every message: key → (en, zh)."""

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def t(key: str, lang: Lang = "en", /, **params: Any) -> str:
    """Render message `key` in `lang` ("zh", or anything else = English).

    Positional-only, so a message may itself have a `{key}` or `{lang}` param."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "zh" else pair[0]
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text


def both(key: str, /, **params: Any) -> tuple[str, str]:
    """(en, zh) of one message: for places that send both (toasts, option help)."""
    return t(key, "en", **params), t(key, "zh", **params)


def placeholders(template: str) -> set[str]:
    """The `{param}` names a template uses (to check en and zh agree)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def detect(text: str, default: Lang = "en") -> Lang:
    """Chinese if the text contains CJK ideographs, else `default`."""
    return "zh" if _CJK.search(text or "") else default
