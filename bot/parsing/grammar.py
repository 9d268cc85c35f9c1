"""The grammar of a chat command: where the `/command` is, and which words of the rest are options.

    [@VideoBot] /command <words and --options in any order>

`split_command` finds the command word (which words are commands: the registry);
`parse_args` takes the options out of the rest (which options exist: `options.FLAGS`) and
keeps everything else, in order and with its spacing, as the prompt. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.parsing.normalize import (
    IME_SLASH,
    PEEK_BOOL,
    SLASHES,
    Token,
    clean_text,
    is_option_like,
    join_prompt,
    nfkc,
    norm_value,
    parse_bool,
    split_flag,
    split_glued,
    tidy_prompt,
    tokenize,
)
from bot.parsing.options import (
    FLAG_BY_LONG,
    FLAG_BY_SHORT,
    KNOWN_LONG,
    VALUE_KINDS,
    bool_value,
    convert,
    flag_list,
    suggest,
)
from bot.parsing.registry import commands
from bot.parsing.results import Problem

# --- the command word ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandSplit:
    """A message split into its command and the rest. `name` is None for an unknown command."""

    typed: str  # as the user wrote it, with the slash (for "unknown command /xyz")
    name: str | None
    rest: str


def is_word_char(ch: str) -> bool:
    n = nfkc(ch)
    return len(n) == 1 and n.isascii() and (n.isalnum() or n == "_")


def split_command(text: str) -> CommandSplit | None:
    """The leading `/command` of a message, or None when the message doesn't start with one.

    Accepts `/video`, `／video`, `/Video`, `/ video`, `/video小猫` (glued), `/视频小猫` (longest
    Chinese alias wins) and `、video` (Chinese IME slash) when the word is a known command.
    """
    s = text.lstrip()
    if not s or (s[0] not in SLASHES and s[0] != IME_SLASH):
        return None
    strict = s[0] == IME_SLASH
    after = s[1:]
    stripped = after.lstrip(" \u00a0\u3000\t")
    if stripped is not after and stripped:
        # "/ video": only when what follows is a known command word
        probe = _read_word(stripped)
        if probe is None or commands.canonical(probe) is None:
            return None
        after = stripped
    word = _read_word(after)
    if word is None:
        return None
    name = commands.canonical(word)
    if name is None and strict:
        return None
    return CommandSplit(typed=s[0] + word, name=name, rest=after[len(word):])


def _read_word(s: str) -> str | None:
    if not s:
        return None
    if is_word_char(s[0]):
        if not nfkc(s[0]).isalpha():
            return None  # "/123", "/-x": not a command
        n = 1
        while n < len(s) and is_word_char(s[n]):
            n += 1
        return s[:n]
    for alias in commands.cjk_words():
        if s.startswith(alias):
            return alias
    m = re.match(r"[\u3400-\u9fff\uf900-\ufaff]+", s)
    return m.group(0) if m else None


def strip_leading_mentions(text: str, names: tuple[str, ...] = ()) -> str:
    """Drop a typed "@VideoBot" (a known bot name) or any "@x" right before a slash command."""
    s = text.lstrip()
    for _ in range(5):
        lowered = s.casefold()
        for name in sorted((n for n in names if n), key=len, reverse=True):
            tag = "@" + name.casefold()
            if lowered.startswith(tag) and (len(s) == len(tag) or not is_word_char(s[len(tag)])):
                s = s[len(tag):].lstrip()
                break
        else:
            m = re.match(r"[@＠]\S+\s+", s)
            if m and split_command(s[m.end():]) is not None:
                s = s[m.end():]
                continue
            return s
    return s


def find_command(text: str, names: tuple[str, ...]) -> CommandSplit | None:
    """The command at the start of the text, or at the start of a later line (after a post's
    title, or a greeting). Lines before the command are not part of the prompt."""
    split = split_command(strip_leading_mentions(text, names))
    if split is not None:
        return split
    lines = text.split("\n")
    for k in range(1, len(lines)):
        if lines[k].lstrip()[:1] not in (*SLASHES, IME_SLASH, "@", "＠"):
            continue
        later = split_command(strip_leading_mentions("\n".join(lines[k:]), names))
        if later is not None and later.name is not None:
            return later
    return None


# --- options and the prompt ------------------------------------------------------------------------


@dataclass(frozen=True)
class Args:
    prompt: str
    options: dict[str, Any]  # option target (a VideoSpec field, "ref", "last_frame", "draft") → value


def parse_args(rest: str, *, command: str, allowed: frozenset[str] | None = None) -> Args:
    """Split `rest` into options and the prompt. Raises `Problem` for unknown/bad options."""
    text = split_glued(clean_text(rest), KNOWN_LONG)
    tokens = tokenize(text)
    keep = [True] * len(tokens)
    options: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        parsed = None if tok.quoted else split_flag(tok.text)
        if parsed is None:
            i += 1
            continue
        dashes, name, inline = parsed
        flag = FLAG_BY_SHORT.get(name)
        if dashes == 2:
            flag = FLAG_BY_LONG.get(name) or flag
        if flag is None:
            if dashes == 1:  # "-a", "-ish": prose, not an option
                i += 1
                continue
            typed = f"--{name}"
            hint = suggest(name, list(FLAG_BY_LONG))
            flags = flag_list(allowed)
            if hint is not None:
                raise Problem("unknown_flag_suggest", value=typed, flags=flags,
                               suggestion=f"--{FLAG_BY_LONG[hint].name}")
            raise Problem("unknown_flag", value=typed, flags=flags)
        typed = f"--{flag.name}"
        if allowed is not None and flag.target not in allowed:
            raise Problem("flag_not_allowed", flag=typed, command=command, flags=flag_list(allowed))
        keep[i] = False
        has_inline = inline is not None and inline.strip() != ""
        nxt: Token | None = tokens[i + 1] if i + 1 < len(tokens) else None
        if flag.kind in VALUE_KINDS:
            if has_inline:
                raw = inline or ""
            elif nxt is None or is_option_like(nxt.text):
                raise Problem("missing_value", flag=typed, example=flag.example)
            else:
                raw = nxt.text
                keep[i + 1] = False
                i += 1
            options[flag.target] = convert(flag, typed, raw)
        elif flag.kind == "bool":
            on: bool | None = True
            if has_inline:
                on = parse_bool(inline or "")
                if on is None:
                    raise Problem("bad_bool", flag=typed, value=norm_value(inline or ""),
                                   example=f"{typed} off")
            elif nxt is not None and not nxt.quoted and norm_value(nxt.text).casefold() in PEEK_BOOL:
                on = parse_bool(nxt.text)
                keep[i + 1] = False
                i += 1
            options[flag.target] = bool_value(flag, bool(on))
        else:  # switch
            on = True
            if has_inline:
                on = parse_bool(inline or "")
                if on is None:
                    raise Problem("bad_bool", flag=typed, value=norm_value(inline or ""), example=typed)
            options[flag.target] = flag.fixed if on else not flag.fixed
        i += 1
    return Args(prompt=tidy_prompt(join_prompt(text, tokens, keep)), options=options)
