"""Tolerate what people type on phones, without touching the prompt itself.

Phones and Chinese input methods turn `--` into `—` or `——`, `/` into `／` or `、`, `:` into `：`,
spaces into ideographic or non-breaking spaces, and slip in zero-width characters. Characters,
tokens, flag names and flag *values* are normalised here (NFKC, dash runs, punctuation); the
prompt body keeps its own text and punctuation ("小猫，打哈欠" keeps its comma). Which words are
commands is the registry's (`registry.py`); where the command sits, `grammar.py`'s. Pure functions.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

# --- characters ------------------------------------------------------------------------------------

# Always invisible noise (zero-width space, word joiner, BOM, Mongolian vowel separator, LRM/RLM).
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u180e\u200e\u200f"))
# ZWJ/ZWNJ build emoji sequences (👨‍👩‍👧) and some scripts: drop them only next to ASCII or an edge.
_STRAY_JOINERS = re.compile(r"(?:(?<=[\x00-\x7f])|^)[\u200c\u200d]+|[\u200c\u200d]+(?=[\x00-\x7f]|$)")

# Every dash a keyboard or autocorrect produces where the user meant "-" or "--".
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
_DASH_CLASS = re.escape(DASHES)  # for use inside [...]
_HYPHENS = "-\u2010\u2011\u2212\ufe63\uff0d"  # a single one of these is a single "-"
SLASHES = "/\uff0f\u2044\u2215"  # / ／ ⁄ ∕
IME_SLASH = "\u3001"  # 、 — what "/" gives on many Chinese keyboards; trusted only before a known command

# Quote pairs that may wrap a whole prompt (or protect a part of it from flag parsing).
QUOTES: dict[str, str] = {
    '"': '"', "\uff02": "\uff02", "\u201c": "\u201d", "\u201e": "\u201c", "\u2018": "\u2019",
    "'": "'", "\u300c": "\u300d", "\u300e": "\u300f", "\u00ab": "\u00bb",
}
# Punctuation that separates flags from the prompt but is not part of either.
_SEPARATORS = ",;\u3001\uff0c\uff1b"  # , ; 、 ， ；
_VALUE_EDGES = "()[]{}<>\u3010\u3011\uff08\uff09\u300c\u300d\u300e\u300f\u201c\u201d\u2018\u2019\"'`"
_VALUE_TRAIL = ",;.!?\u3002\u3001\uff0c\uff1b\uff01\uff1f"


def nfkc(text: str) -> str:
    """Full-width ASCII → ASCII (－－ｒａｔｉｏ １６：９ → --ratio 16:9), ideographic space → space."""
    return unicodedata.normalize("NFKC", text)


def clean_text(text: str) -> str:
    """Drop invisible characters and unify line breaks; everything visible is kept as typed."""
    text = (text or "").translate(_INVISIBLE)
    text = _STRAY_JOINERS.sub("", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")


# --- tokens ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A whitespace-separated piece of the text and where it sits (spans keep the prompt's spacing)."""

    text: str
    start: int
    end: int
    quoted: bool = False  # a "…" span: never parsed as flags


def split_glued(text: str, known: frozenset[str]) -> str:
    """Insert a space where a known `--flag` is glued to text: `小猫--dur 8`, `小猫，--ratio 9:16`."""

    def fix(m: re.Match[str]) -> str:
        parsed = split_flag(m.group(2))
        if parsed is not None and parsed[0] == 2 and parsed[1] in known:
            return m.group(1) + " " + m.group(2)
        return m.group(0)

    return _GLUED.sub(fix, text)


# A non-ASCII, non-dash character (CJK, full-width punctuation) or a separator, then a dashed
# word made of (half- or full-width) ASCII letters and digits.
_NAME_START = "A-Za-z\uff21-\uff3a\uff41-\uff5a"
_NAME_CHARS = _NAME_START + "0-9_\\-\uff10-\uff19"
_GLUED = re.compile(
    rf"([^\x00-\x7f\s{_DASH_CLASS}]|[{_SEPARATORS}])([{_DASH_CLASS}]{{1,4}}[{_NAME_START}][{_NAME_CHARS}]*)"
)


def tokenize(text: str) -> list[Token]:
    """Whitespace tokens (Unicode spaces count); a quoted span "…" is one protected token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        ch = text[i]
        close = QUOTES.get(ch)
        if close is not None:
            j = i + 1
            while True:
                j = text.find(close, j)
                if j < 0:
                    break
                if j + 1 >= n or text[j + 1].isspace() or text[j + 1] in _SEPARATORS:
                    break
                j += 1
            if j > i + 1:
                tokens.append(Token(text[i:j + 1], i, j + 1, quoted=True))
                i = j + 1
                continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        tokens.append(Token(text[i:j], i, j))
        i = j
    return tokens


def split_flag(token: str) -> tuple[int, str, str | None] | None:
    """(dash count 1|2, lowercase name, inline value) if `token` looks like an option, else None.

    Any run of dashes that is longer than one or contains an em/en dash counts as "--"
    (`—ratio`, `——ratio`, `－－ratio`); a single hyphen is "-". `--flag=v`, `--flag:v`,
    `--flag：v`, `--flag＝v` carry an inline value.
    """
    m = re.match(rf"([{_DASH_CLASS}]+)(.+)$", token, re.S)
    if not m:
        return None
    dashes, body = m.group(1), nfkc(m.group(2))
    double = len(dashes) >= 2 or any(c not in _HYPHENS for c in dashes)
    first = body[0]
    if not (first.isascii() and first.isalnum()):
        return None
    if not double and not first.isalpha():
        return None  # "-1", "-5s": numbers, not options
    fm = re.match(r"([A-Za-z0-9][A-Za-z0-9_-]*)(?:([=:])(.*))?$", body, re.S)
    if not fm:
        name = body.rstrip(_VALUE_TRAIL).casefold()
        if re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            return (2 if double else 1, name.replace("_", "-"), None)
        return (2 if double else 1, body.casefold(), None)
    name = fm.group(1).casefold().replace("_", "-").rstrip("-")
    value = fm.group(3) if fm.group(2) else None
    return (2 if double else 1, name, value)


def is_option_like(token: str) -> bool:
    """True for a `--name` token (refused as another option's value); `-1`, `—1` are values."""
    parsed = split_flag(token)
    return parsed is not None and parsed[0] == 2 and parsed[1][:1].isalpha()


def join_prompt(text: str, tokens: list[Token], keep: list[bool]) -> str:
    """The prompt: kept tokens in order, original spacing inside each run of kept tokens, and one
    space (or a newline, if one was there) where options were cut out between runs."""
    runs: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for tok, k in zip(tokens, keep, strict=True):
        if k:
            current = (current[0], tok.end) if current else (tok.start, tok.end)
        elif current:
            runs.append(current)
            current = None
    if current:
        runs.append(current)
    if not runs:
        return ""
    out = text[runs[0][0]:runs[0][1]]
    for (_, prev_end), (start, end) in itertools.pairwise(runs):
        out += ("\n" if "\n" in text[prev_end:start] else " ") + text[start:end]
    return out


def tidy_prompt(prompt: str) -> str:
    """Trim separators left where options were cut out (`小猫，--dur 8` → `小猫`) and unwrap quotes."""
    s = prompt.strip()
    s = s.strip(_SEPARATORS + " \t\n\u00a0\u3000")
    return unquote(s)


def unquote(text: str) -> str:
    """`"a kitten"`, `“a kitten”`, `「小猫」` → the text inside, if the quotes wrap all of it."""
    s = text.strip()
    if len(s) >= 2 and QUOTES.get(s[0]) == s[-1]:
        inner = s[1:-1]
        if s[0] not in inner and s[-1] not in inner:
            return inner.strip()
    return s


# --- values ----------------------------------------------------------------------------------------


def norm_value(value: str) -> str:
    """A flag value as a program wants it: NFKC, no wrapping brackets/quotes, no trailing `，` or `.`."""
    v = nfkc(clean_text(value)).strip()
    v = v.strip(_VALUE_EDGES).strip()
    v = v.rstrip(_VALUE_TRAIL).strip()
    if v[:1] and v[0] in DASHES:
        v = "-" + v.lstrip(DASHES)
    return v


_TRUE = {"on", "true", "yes", "y", "1", "enable", "enabled", "开", "开启", "打开", "是", "要", "有"}
_FALSE = {"off", "false", "no", "n", "0", "disable", "disabled",
          "关", "关闭", "否", "不要", "无", "没有", "不"}
# Words safe to take as an optional value from the *next* token (`--audio off`); "1"/"0"/"y"
# are too likely to start the prompt ("--flex 1 cat sleeping").
PEEK_BOOL = frozenset({"on", "off", "true", "false", "yes", "no",
                       "开", "关", "开启", "关闭", "打开", "是", "否"})


def parse_bool(value: str) -> bool | None:
    v = norm_value(value).casefold()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    return None


RATIO_WORDS: dict[str, str] = {
    "portrait": "9:16", "vertical": "9:16", "tall": "9:16", "竖": "9:16", "竖屏": "9:16", "竖版": "9:16",
    "landscape": "16:9", "horizontal": "16:9", "wide": "16:9", "横": "16:9", "横屏": "16:9", "横版": "16:9",
    "square": "1:1", "方": "1:1", "方形": "1:1", "正方形": "1:1",
    "cinema": "21:9", "cinematic": "21:9", "ultrawide": "21:9", "宽屏": "21:9", "电影": "21:9",
    "adaptive": "adaptive", "auto": "adaptive", "自适应": "adaptive", "自动": "adaptive", "原图": "adaptive",
}


def parse_ratio(value: str) -> str | None:
    """`16:9`, `16：9`, `16x9`, `16/9`, `16比9`, `portrait`, `竖屏` → "W:H" or "adaptive"; junk → None."""
    v = norm_value(value).casefold()
    if v in RATIO_WORDS:
        return RATIO_WORDS[v]
    m = re.fullmatch(r"(\d{1,3})\s*[:x×*/比]\s*(\d{1,3})", v)
    if not m:
        return None
    return f"{int(m.group(1))}:{int(m.group(2))}"


def parse_duration(value: str) -> int | None:
    """`8`, `8s`, `8秒`, `8sec`, `-1`/`auto`/`自动` (model picks) → seconds; junk → None."""
    v = norm_value(value).casefold()
    if v in ("auto", "自动", "smart"):
        return -1
    m = re.fullmatch(r"(-?\d{1,4})\s*(s|sec|secs|second|seconds|秒|秒钟)?", v)
    return int(m.group(1)) if m else None


_RES_WORDS = {
    "4k": "4k", "2160p": "4k", "2160": "4k", "uhd": "4k", "超高清": "4k",
    "1080p": "1080p", "1080": "1080p", "fhd": "1080p", "fullhd": "1080p", "超清": "1080p", "全高清": "1080p",
    "720p": "720p", "720": "720p", "hd": "720p", "高清": "720p",
    "480p": "480p", "480": "480p", "sd": "480p", "标清": "480p",
}


def parse_resolution(value: str) -> str | None:
    """`1080p`, `1080P`, `1080`, `4K`, `高清` → "480p" | "720p" | "1080p" | "4k"; junk → None."""
    return _RES_WORDS.get(norm_value(value).casefold().replace(" ", ""))


def parse_int(value: str) -> int | None:
    v = norm_value(value)
    return int(v) if re.fullmatch(r"[+-]?\d{1,12}", v) else None


_UNIT_SECONDS = {"": 1, "s": 1, "sec": 1, "秒": 1, "m": 60, "min": 60, "分钟": 60, "h": 3600, "hr": 3600,
                 "小时": 3600, "d": 86400, "day": 86400, "days": 86400, "天": 86400}


def parse_seconds(value: str) -> int | None:
    """`3600`, `3600s`, `2h`, `1d`, `2小时` → seconds; junk → None."""
    v = norm_value(value).casefold()
    m = re.fullmatch(r"(\d{1,7})\s*([a-z\u4e00-\u9fff]*)", v)
    if not m or m.group(2) not in _UNIT_SECONDS:
        return None
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def short(text: str, limit: int = 40) -> str:
    """A one-line excerpt for hints ("did you mean `/video …`")."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
