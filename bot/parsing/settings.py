"""/settings: a person's (or, for admins, a chat's) defaults, and reading them back.

    /settings                              show
    /settings ratio=9:16 duration=8        change (also `ratio 9:16`, `比例：9:16`, `--ratio=9:16`)
    /settings chat resolution=1080p        the chat's defaults
    /settings reset [key]                  back to the built-in defaults

Values are checked as the options are (`options`), against the chosen model where one is set.
`coerce_defaults` turns stored settings (strings in a Redis hash) back into typed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from bot import catalogue
from bot.catalogue import ALL_RATIOS, RESOLUTIONS
from bot.parsing.normalize import (
    DASHES,
    clean_text,
    nfkc,
    norm_value,
    parse_bool,
    parse_duration,
    parse_ratio,
    parse_resolution,
    tokenize,
    unquote,
)
from bot.parsing.options import RATIO_LIST, model_id, model_names
from bot.parsing.registry import CommandSpec, Invocation
from bot.parsing.results import Command, ParseResult, Problem


@dataclass(frozen=True, kw_only=True)
class SettingsCommand(Command):
    """Change defaults. Empty `changes` and no `reset` = show them. A value of None unsets a key."""

    name: ClassVar[str] = "settings"
    changes: dict[str, Any] = field(default_factory=dict)
    scope: Literal["user", "chat"] = "user"
    reset: bool = False


# /settings keys (canonical → what people type).
SETTING_WORDS: dict[str, tuple[str, ...]] = {
    "model": ("model", "m", "模型"),
    "ratio": ("ratio", "ar", "aspect", "比例", "画幅", "画面比例", "尺寸"),
    "duration": ("duration", "dur", "length", "时长", "秒数"),
    "resolution": ("resolution", "res", "rs", "quality", "分辨率", "清晰度"),
    "audio": ("audio", "sound", "generate-audio", "generate_audio", "声音", "音频", "音效"),
    "flex": ("flex", "offline", "离线", "半价"),
    "watermark": ("watermark", "wm", "水印"),
    "lang": ("lang", "language", "语言"),
}
_SETTING_ALIASES = {w: k for k, words in SETTING_WORDS.items() for w in words}
_SETTING_CJK = sorted((w for w in _SETTING_ALIASES if not w.isascii()), key=len, reverse=True)
_SETTING_KEYS = ", ".join(SETTING_WORDS)
_SETTING_EXAMPLES = {"model": "model=1.5-pro", "ratio": "ratio=9:16", "duration": "duration=8",
                     "resolution": "resolution=1080p", "audio": "audio=off", "flex": "flex=on",
                     "watermark": "watermark=off", "lang": "lang=zh"}
_RESET_WORDS = frozenset({"reset", "clear", "default", "defaults", "none", "unset",
                          "重置", "清除", "默认", "恢复默认"})
_CHAT_SCOPE = frozenset({"chat", "group", "here", "群", "本群", "群聊", "群组"})
_USER_SCOPE = frozenset({"user", "me", "my", "mine", "我", "个人"})
LANG_WORDS = {"zh": "zh", "cn": "zh", "zh-cn": "zh", "zh_cn": "zh", "chinese": "zh", "中文": "zh",
               "汉语": "zh", "en": "en", "en-us": "en", "en_us": "en", "english": "en", "英文": "en",
               "英语": "en"}


def coerce_defaults(raw: Mapping[str, object] | None) -> dict[str, Any]:
    """Settings as stored → typed values (`"8"` → 8, `"off"`/`"False"` → False, `"16：9"` → "16:9").

    A settings store may keep everything as strings (a Redis hash); junk values are dropped.
    """
    out: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        if value is None:
            continue
        text = value if isinstance(value, str) else None
        if key == "model" and text:
            out[key] = text
        elif key == "ratio" and text:
            ratio = parse_ratio(text)
            if ratio in ALL_RATIOS:
                out[key] = ratio
        elif key == "duration":
            seconds = parse_duration(text) if text is not None else value
            if isinstance(seconds, int) and not isinstance(seconds, bool):
                out[key] = seconds
        elif key == "resolution" and text:
            res = parse_resolution(text)
            if res is not None:
                out[key] = res
        elif key in ("audio", "flex", "watermark"):
            on = parse_bool(text) if text is not None else value
            if isinstance(on, bool):
                out[key] = on
        elif key == "lang" and text:
            lang = LANG_WORDS.get(text.casefold())
            if lang is not None:
                out[key] = lang
    return out


def _setting_value(key: str, raw: str, model: str | None) -> Any:
    value = norm_value(unquote(raw))
    if value.casefold() in _RESET_WORDS:
        return None
    info = catalogue.get(model) if model else None
    if key == "model":
        found = model_id(value)
        if found is None:
            raise Problem("unknown_model", value=value, allowed=model_names())
        return found
    if key == "ratio":
        ratio = parse_ratio(value)
        if ratio is None or ratio not in ALL_RATIOS:
            raise Problem("bad_ratio", value=value, allowed=RATIO_LIST)
        return ratio
    if key == "duration":
        seconds = parse_duration(value)
        if seconds is None or not (seconds == -1 or 2 <= seconds <= 15):
            raise Problem("bad_setting_value", key=key, value=value, allowed="2-15, -1 (auto)")
        if info is not None and not (info.durations[0] <= seconds <= info.durations[1]
                                     or (seconds == -1 and info.auto_duration)):
            raise Problem("bad_duration", model=info.id, value=seconds,
                           allowed=info.allowed_durations_text())
        return seconds
    if key == "resolution":
        res = parse_resolution(value)
        if res is None:
            raise Problem("bad_resolution_value", value=value, allowed=", ".join(RESOLUTIONS))
        if info is not None and res not in info.resolutions:
            raise Problem("bad_resolution", model=info.id, value=res, allowed=", ".join(info.resolutions))
        return res
    if key == "lang":
        lang = LANG_WORDS.get(value.casefold())
        if lang is None:
            if value.casefold() == "auto":
                return None
            raise Problem("bad_lang", value=value)
        return lang
    on = parse_bool(value)
    if on is None:
        raise Problem("bad_bool", flag=key, value=value, example=f"/settings {key}=off")
    if key == "audio" and on and info is not None and not info.audio:
        raise Problem("no_audio", model=info.id)
    if key == "flex" and on and info is not None and not info.flex:
        raise Problem("no_flex", model=info.id)
    return on


def _setting_key(word: str) -> tuple[str | None, str, str | None]:
    """(canonical key or None, the key as typed, inline value or None) for `ratio`, `--ratio=9:16`,
    `ratio:9:16`, `比例`, `比例9:16`, `比例：9:16`."""
    w = nfkc(word).lstrip(DASHES)
    for alias in _SETTING_CJK:  # Chinese keys are often glued to their value
        if w.startswith(alias):
            rest = w[len(alias):]
            rest = rest[1:] if rest[:1] in ("=", ":") else rest
            return _SETTING_ALIASES[alias], alias, rest or None
    cut = min((i for i in (w.find("="), w.find(":")) if i >= 0), default=-1)
    name, value = (w[:cut], w[cut + 1:]) if cut >= 0 else (w, None)
    return _SETTING_ALIASES.get(name.casefold()), name, value or None


def _settings(inv: Invocation) -> ParseResult:
    lang = inv.lang
    words = [t.text for t in tokenize(clean_text(inv.rest))]
    scope: Literal["user", "chat"] = "user"
    if words and nfkc(words[0]).casefold() in _CHAT_SCOPE:
        scope, words = "chat", words[1:]
    elif words and nfkc(words[0]).casefold() in _USER_SCOPE:
        words = words[1:]
    if len(words) == 1 and nfkc(words[0]).casefold() in _RESET_WORDS:
        return SettingsCommand(lang=lang, scope=scope, reset=True)
    pairs: list[tuple[str, str, str | None]] = []  # (typed key, key, raw value or None = unset)
    i = 0
    while i < len(words):
        word = nfkc(words[i])
        if word.casefold() in _RESET_WORDS and i + 1 < len(words):
            key, name, _ = _setting_key(words[i + 1])
            if key is None:
                raise Problem("settings_unknown_key", value=name or words[i + 1], keys=_SETTING_KEYS)
            pairs.append((name, key, None))
            i += 2
            continue
        key, name, value = _setting_key(word)
        if key is None:
            raise Problem("settings_unknown_key", value=name or word, keys=_SETTING_KEYS)
        if value is None:
            if i + 1 < len(words) and nfkc(words[i + 1]) in ("=", ":"):
                i += 1  # "ratio = 9:16"
            if i + 1 >= len(words):
                raise Problem("missing_value", flag=key, example=f"/settings {_SETTING_EXAMPLES[key]}")
            value = words[i + 1]
            i += 1
        pairs.append((name, key, value))
        i += 1
    model_pair = next((v for _, k, v in pairs if k == "model" and v is not None), None)
    model = _setting_value("model", model_pair, None) if model_pair else None
    changes: dict[str, Any] = {}
    for _, key, raw in pairs:
        changes[key] = None if raw is None else _setting_value(key, raw, model)
    return SettingsCommand(lang=lang, scope=scope, changes=changes)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("settings", ("setting", "set", "config", "prefs", "设置", "偏好"), parse=_settings),
)
