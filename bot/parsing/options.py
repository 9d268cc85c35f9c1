"""The `--options` of video commands: their names, how each value is read, the field it sets.

One table (`FLAGS`) drives the parser (`grammar.parse_args`), the "unknown option" replies, and
/help (each option's help text is `help.flag.<name>` in the catalogue). Also the model names
people type, which options and settings share.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot import catalogue
from bot.catalogue import ALL_RATIOS, RESOLUTIONS, Mode
from bot.i18n import both, t
from bot.parsing.normalize import (
    norm_value,
    parse_duration,
    parse_int,
    parse_ratio,
    parse_resolution,
    parse_seconds,
    unquote,
)
from bot.parsing.results import Problem

DEFAULT_MODEL = catalogue.MODELS[0].id
RATIO_LIST = ", ".join(ALL_RATIOS)

FlagKind = Literal["ratio", "duration", "resolution", "model", "seed", "bool", "switch", "expires", "tier"]
VALUE_KINDS = frozenset({"ratio", "duration", "resolution", "model", "seed", "expires", "tier"})


@dataclass(frozen=True)
class FlagDef:
    """One `--option`: its names, how its value is read, and the field it sets."""

    name: str  # canonical long name, shown as --name
    target: str  # VideoSpec field, or "ref" / "last_frame" / "draft"
    kind: FlagKind
    aliases: tuple[str, ...] = ()  # other long names (--ar, --dur, --rs ...)
    short: tuple[str, ...] = ()  # single-dash names (-d, -m)
    fixed: bool = True  # what a switch sets (--no-audio sets generate_audio False)
    metavar: str = ""
    example: str = ""
    shown: bool = True  # listed in /help and in "unknown option" replies (help: `help.flag.<name>`)

    @property
    def usage(self) -> str:
        return f"--{self.name}" + (f" {self.metavar}" if self.metavar else "")

    @property
    def help_key(self) -> str:
        return f"help.flag.{self.name}"

    def summary(self, lang: str) -> str:
        """What the option does, in `lang` (empty for options /help doesn't list)."""
        return t(self.help_key, lang, ratios=RATIO_LIST) if self.shown else ""

    @property
    def help(self) -> tuple[str, str]:
        """(en, zh) of `summary`."""
        return both(self.help_key, ratios=RATIO_LIST) if self.shown else ("", "")


FLAGS: tuple[FlagDef, ...] = (
    FlagDef("ratio", "ratio", "ratio", ("ar", "rt", "aspect", "aspect-ratio"), metavar="9:16",
            example="--ratio 9:16"),
    FlagDef("duration", "duration", "duration", ("dur", "len", "length", "seconds", "time"), ("d",),
            metavar="8", example="--duration 8"),
    FlagDef("resolution", "resolution", "resolution", ("res", "rs", "quality"), metavar="1080p",
            example="--resolution 1080p"),
    FlagDef("model", "model", "model", (), ("m",), metavar="2.0-fast", example="--model 1.5-pro"),
    FlagDef("seed", "seed", "seed", (), metavar="42", example="--seed 42"),
    FlagDef("camera-fixed", "camera_fixed", "bool", ("cf", "camerafixed", "fixed-camera", "fixed"),
            metavar="[on|off]", example="--camera-fixed"),
    FlagDef("audio", "generate_audio", "bool", ("generate-audio", "sound", "generateaudio"), metavar="on|off",
            example="--audio off"),
    FlagDef("no-audio", "generate_audio", "switch", ("mute", "silent", "no-sound", "noaudio"), fixed=False,
            shown=False, example="--no-audio"),
    FlagDef("flex", "service_tier", "bool", ("offline", "relax"), metavar="[on|off]", example="--flex"),
    FlagDef("tier", "service_tier", "tier", ("service-tier",), metavar="default|flex", shown=False,
            example="--tier flex"),
    FlagDef("watermark", "watermark", "bool", ("wm",), metavar="[on|off]", example="--watermark"),
    FlagDef("no-watermark", "watermark", "switch", ("nowm", "no-wm"), fixed=False, shown=False,
            example="--no-watermark"),
    FlagDef("last-frame", "last_frame", "switch", ("lf", "lastframe", "end-frame"), example="--last-frame"),
    FlagDef("ref", "ref", "switch", ("ref-images", "refs", "reference", "reference-images", "ref-image"),
            example="--ref"),
    FlagDef("expires", "execution_expires_after", "expires", ("expires-after", "execution-expires-after"),
            metavar="24h", example="--expires 24h"),
    FlagDef("return-last-frame", "return_last_frame", "bool", ("rlf", "returnlastframe"), metavar="[on|off]",
            example="--return-last-frame"),
    FlagDef("draft", "draft", "bool", ("preview",), metavar="[on|off]", example="--draft"),
)
FLAG_BY_LONG: dict[str, FlagDef] = {n: f for f in FLAGS for n in (f.name, *f.aliases)}
FLAG_BY_SHORT: dict[str, FlagDef] = {n: f for f in FLAGS for n in f.short}
KNOWN_LONG = frozenset(FLAG_BY_LONG)
ALL_TARGETS = frozenset(f.target for f in FLAGS)


def shown_flags(targets: frozenset[str] | None = None) -> list[FlagDef]:
    """The options /help lists, limited to those setting `targets` (None: all)."""
    return [f for f in FLAGS if f.shown and (targets is None or f.target in targets)]


def flag_list(targets: frozenset[str] | None = None) -> str:
    return ", ".join(f"--{f.name}" for f in shown_flags(targets))


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The closest known word, for "did you mean …?"."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return close[0] if close else None


# --- models ----------------------------------------------------------------------------------------


def model_label(info: catalogue.ModelInfo) -> str:
    """The short name people type (an alias like `2.0-fast`), falling back to the ID."""
    for alias in info.aliases:
        if "seedance" not in alias and "/" not in alias:
            return alias
    return info.id


def model_names() -> str:
    return ", ".join(model_label(m) for m in catalogue.MODELS if not m.retired)


def ref_models() -> list[catalogue.ModelInfo]:
    return [m for m in catalogue.MODELS if Mode.REFERENCE in m.modes and not m.retired]


def model_id(name: str) -> str | None:
    """The ID to send for what the user typed; None if the catalogue doesn't know it.

    `ep-…` endpoint IDs (a deployment's own) pass through unchecked.
    """
    name = name.strip()
    if not name:
        return None
    if name.casefold().startswith("ep-"):
        return name
    found = catalogue.lookup(name)
    return found.model_id if found.info is not None else None


# --- values ----------------------------------------------------------------------------------------

_TIERS = {"default": "default", "online": "default", "flex": "flex", "offline": "flex"}


def convert(flag: FlagDef, typed: str, raw: str) -> Any:
    """A flag's value from text, or `Problem` naming what is allowed."""
    value = norm_value(unquote(raw))
    if flag.kind == "ratio":
        ratio = parse_ratio(value)
        if ratio is None or ratio not in ALL_RATIOS:
            raise Problem("bad_ratio", value=value, allowed=RATIO_LIST)
        return ratio
    if flag.kind == "duration":
        seconds = parse_duration(value)
        if seconds is None:
            raise Problem("bad_duration_value", flag=typed, value=value)
        return seconds
    if flag.kind == "resolution":
        res = parse_resolution(value)
        if res is None:
            raise Problem("bad_resolution_value", value=value, allowed=", ".join(RESOLUTIONS))
        return res
    if flag.kind == "model":
        model = model_id(value)
        if model is None:
            raise Problem("unknown_model", value=value, allowed=model_names())
        return model
    if flag.kind == "seed":
        if value.casefold() in ("random", "随机"):
            return -1
        seed = parse_int(value)
        if seed is None:
            raise Problem("bad_number", flag=typed, value=value, example="--seed 42")
        return seed
    if flag.kind == "expires":
        seconds = parse_seconds(value)
        if seconds is None:
            raise Problem("bad_number", flag=typed, value=value, example="--expires 86400")
        return seconds
    if flag.kind == "tier":
        tier = _TIERS.get(value.casefold())
        if tier is None:
            raise Problem("bad_tier", value=value)
        return tier
    raise AssertionError(flag.kind)  # pragma: no cover


def bool_value(flag: FlagDef, on: bool) -> Any:
    """What `--flag on|off` sets: flex means the service tier; `--no-x` flips."""
    if flag.target == "service_tier":
        return "flex" if on else "default"
    return on if flag.fixed else not on
