"""Chat text → a typed command, a reply to send back, or nothing.

Why it is strict: a video costs money, so nothing is guessed. Only a message that starts with a
command starts a job; an unknown `--option` is an error rather than part of the prompt; every
bad input becomes a `Reply` that says what is allowed, in the user's language. Why it is
lenient: phones mangle punctuation (see `normalize`), so `—ratio １６：９` means `--ratio 16:9`.

Grammar (flags may appear anywhere; whatever is not a flag is the prompt, order and spacing kept):

    /video <prompt> [options]      (/视频 /生成)      text, photo+caption, or a reply to a photo
    /draft <prompt> [options]      (/样片 /草稿)      cheap 480p preview, then /approve
    /approve [720p|1080p]          (/确认 /通过)      reply to a draft
    /extend [prompt] [options]     (/延长 /续写)      reply to a video
    /status [task]  /cancel [task]  /list  /models  /quota  /help [topic]
    /settings [chat] key=value ... | reset [key]   (/设置)

    options: --ratio 9:16 (--ar --rt)  --duration 8 (--dur -d)  --resolution 1080p (--res --rs)
             --model ID|alias (-m)  --seed N  --camera-fixed [on|off] (--cf)  --audio on|off
             (--no-audio --mute)  --flex [on|off]  --watermark [on|off] (--wm)  --last-frame
             --ref  --expires 24h  --return-last-frame [on|off]  --draft
    values:  `--flag v`, `--flag=v`, `--flag:v`; 16：9 → 16:9, 1080P/1080 → 1080p, 8s/8秒 → 8

Images: one = first frame, two = first + last frame, with --ref = reference images. Sources are
`feishu-image:<message_id>/<image_key>`; the worker downloads them. No I/O here.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from bot import catalogue, i18n
from bot.catalogue import ALL_RATIOS, RESOLUTIONS, Mode
from bot.errors import SpecError
from bot.parsing.events import IncomingMessage
from bot.parsing.normalize import (
    COMMAND_ALIASES,
    COMMAND_WORDS,
    DASHES,
    IME_SLASH,
    PEEK_BOOL,
    SLASHES,
    CommandSplit,
    Token,
    canonical_command,
    clean_text,
    is_option_like,
    join_prompt,
    nfkc,
    norm_value,
    parse_bool,
    parse_duration,
    parse_int,
    parse_ratio,
    parse_resolution,
    parse_seconds,
    short,
    split_command,
    split_flag,
    split_glued,
    strip_leading_mentions,
    tidy_prompt,
    tokenize,
    unquote,
)
from bot.spec import ImageInput, VideoSpec, resolve

FEISHU_IMAGE = "feishu-image:"
DEFAULT_MODEL = catalogue.MODELS[0].id
APPROVE_RESOLUTIONS = ("720p", "1080p")
LANGS = ("zh", "en")


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ignore:
    """Say nothing (a bot's message, a group message that doesn't @ the bot)."""

    reason: str


@dataclass(frozen=True)
class Reply:
    """Answer with i18n message `code` in `lang`; nothing was started."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    lang: str = "en"


@dataclass(frozen=True, kw_only=True)
class Command:
    """An understood request. `lang` is the language to answer in."""

    name: ClassVar[str] = ""
    lang: str = "en"


@dataclass(frozen=True, kw_only=True)
class VideoCommand(Command):
    """Make a video (or a draft).

    `spec` is resolved and validated against the catalogue — except when `use_parent_image`
    is set: then the images live in the parent message, `spec` is the *unresolved* request
    (it was pre-checked with a stand-in image), and the worker must call
    `with_images(cmd, keys_of_parent)` to get the spec it may send.
    """

    name: ClassVar[str] = "video"
    spec: VideoSpec
    draft: bool = False
    image_keys: tuple[str, ...] = ()
    use_parent_image: bool = False
    message_id: str = ""
    parent_id: str | None = None
    ref: bool = False  # images are reference images
    last_frame: bool = False
    request: VideoSpec = field(default_factory=VideoSpec)  # what the user typed, before defaults
    defaults: dict[str, Any] = field(default_factory=dict)
    default_model: str = DEFAULT_MODEL


@dataclass(frozen=True, kw_only=True)
class StatusCommand(Command):
    name: ClassVar[str] = "status"
    target: str | None = None
    reply_to: str | None = None  # the message replied to (a job card), if any


@dataclass(frozen=True, kw_only=True)
class CancelCommand(Command):
    name: ClassVar[str] = "cancel"
    target: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True, kw_only=True)
class ListCommand(Command):
    name: ClassVar[str] = "list"


@dataclass(frozen=True, kw_only=True)
class ModelsCommand(Command):
    name: ClassVar[str] = "models"


@dataclass(frozen=True, kw_only=True)
class QuotaCommand(Command):
    name: ClassVar[str] = "quota"


@dataclass(frozen=True, kw_only=True)
class HelpCommand(Command):
    name: ClassVar[str] = "help"
    topic: str | None = None  # a command name, "options" or "examples"


@dataclass(frozen=True, kw_only=True)
class ApproveCommand(Command):
    """Render the final video from a draft (the draft is `reply_to`, or the user's latest)."""

    name: ClassVar[str] = "approve"
    resolution: Literal["720p", "1080p"] = "720p"
    reply_to: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExtendCommand(Command):
    """Continue a video from its last frame; `changes` are VideoSpec fields from options."""

    name: ClassVar[str] = "extend"
    prompt: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None


@dataclass(frozen=True, kw_only=True)
class SettingsCommand(Command):
    """Change defaults. Empty `changes` and no `reset` = show them. A value of None unsets a key."""

    name: ClassVar[str] = "settings"
    changes: dict[str, Any] = field(default_factory=dict)
    scope: Literal["user", "chat"] = "user"
    reset: bool = False


ParseResult = Ignore | Reply | Command


# --- the data behind parsing and /help -------------------------------------------------------------


@dataclass(frozen=True)
class CommandDef:
    """One chat command as /help shows it."""

    name: str
    usage: str
    summary: tuple[str, str]  # (en, zh)
    usage_zh: str = ""  # the usage line with Chinese placeholders; defaults to `usage`

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(w for w in COMMAND_WORDS[self.name] if w != self.name)

    @property
    def zh_aliases(self) -> tuple[str, ...]:
        return tuple(w for w in self.aliases if not w.isascii())


COMMANDS: tuple[CommandDef, ...] = (
    CommandDef("video", "/video <prompt> [options]", (
        "make a video from text; attach a photo (first frame) or two (first + last frame), "
        "or reply to a photo",
        "根据文字生成视频；附一张图（首帧）或两张图（首帧+尾帧），或回复一张图片"), "/video <描述> [参数]"),
    CommandDef("draft", "/draft <prompt> [options]", (
        "a cheap 480p preview (Seedance 1.5 Pro); reply /approve to render the final",
        "低价 480p 样片（Seedance 1.5 Pro）；满意后回复 /approve 生成正式视频"), "/draft <描述> [参数]"),
    CommandDef("approve", "/approve [720p|1080p]", (
        "reply to a draft to render the final video", "回复样片，生成正式视频")),
    CommandDef("extend", "/extend [prompt] [options]", (
        "reply to a video to continue it from its last frame", "回复一个视频，从它的最后一帧继续生成"),
        "/extend [描述] [参数]"),
    CommandDef("status", "/status [task]", (
        "progress of your latest job (or of a given task)", "查看最近（或指定）任务的进度"),
        "/status [任务]"),
    CommandDef("cancel", "/cancel [task]", (
        "cancel a queued job (a running one can't be stopped, but won't be delivered)",
        "取消排队中的任务（运行中的任务无法停止，但不会再发送结果）"), "/cancel [任务]"),
    CommandDef("list", "/list", ("your recent jobs", "最近的任务")),
    CommandDef("models", "/models", ("models and what each can do", "可用模型及其能力")),
    CommandDef("settings", "/settings [chat] key=value …", (
        "your defaults: model, ratio, duration, resolution, audio, flex, watermark, lang; /settings reset",
        "个人默认值：model、ratio、duration、resolution、audio、flex、watermark、lang；"
        "/settings reset 恢复默认"), "/settings [chat] 键=值 …"),
    CommandDef("quota", "/quota", ("what you have used and what is left", "查看已用和剩余额度")),
    CommandDef("help", "/help [command]", ("this help", "显示本帮助"), "/help [命令]"),
)
_COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}

FlagKind = Literal["ratio", "duration", "resolution", "model", "seed", "bool", "switch", "expires", "tier"]
_VALUE_KINDS = frozenset({"ratio", "duration", "resolution", "model", "seed", "expires", "tier"})


@dataclass(frozen=True)
class FlagDef:
    """One `--option`: its names, how its value is read, and the field it sets."""

    name: str  # canonical long name, shown as --name
    target: str  # VideoSpec field, or "ref" / "last_frame"
    kind: FlagKind
    aliases: tuple[str, ...] = ()  # other long names (--ar, --dur, --rs ...)
    short: tuple[str, ...] = ()  # single-dash names (-d, -m)
    fixed: bool = True  # what a switch sets (--no-audio sets generate_audio False)
    metavar: str = ""
    help: tuple[str, str] = ("", "")  # (en, zh)
    example: str = ""
    shown: bool = True  # listed in /help and in "unknown option" replies

    @property
    def usage(self) -> str:
        return f"--{self.name}" + (f" {self.metavar}" if self.metavar else "")


_RATIO_LIST = ", ".join(ALL_RATIOS)
FLAGS: tuple[FlagDef, ...] = (
    FlagDef("ratio", "ratio", "ratio", ("ar", "rt", "aspect", "aspect-ratio"), metavar="9:16",
            help=(f"aspect ratio: {_RATIO_LIST}", f"画面比例：{_RATIO_LIST}"), example="--ratio 9:16"),
    FlagDef("duration", "duration", "duration", ("dur", "len", "length", "seconds", "time"), ("d",),
            metavar="8",
            help=("seconds: 2-12 (1.0), 4-12 (1.5 Pro), 4-15 (2.0); -1 = the model decides (1.5 Pro, 2.0)",
                  "时长（秒）：2-12（1.0）、4-12（1.5 Pro）、4-15（2.0）；-1 表示由模型决定（1.5 Pro、2.0）"),
            example="--duration 8"),
    FlagDef("resolution", "resolution", "resolution", ("res", "rs", "quality"), metavar="1080p",
            help=("480p, 720p (default), 1080p; 4k on Seedance 2.0",
                  "480p、720p（默认）、1080p；4k 仅 Seedance 2.0"),
            example="--resolution 1080p"),
    FlagDef("model", "model", "model", (), ("m",), metavar="2.0-fast",
            help=("model ID or alias (see /models)", "模型 ID 或别名（见 /models）"),
            example="--model 1.5-pro"),
    FlagDef("seed", "seed", "seed", (), metavar="42",
            help=("-1 (random) to 4294967295, for repeatable results (not on 2.0)",
                  "随机种子 -1（随机）到 4294967295，用于复现结果（2.0 不支持）"), example="--seed 42"),
    FlagDef("camera-fixed", "camera_fixed", "bool", ("cf", "camerafixed", "fixed-camera", "fixed"),
            metavar="[on|off]", help=("keep the camera still (not on 2.0)", "固定镜头（2.0 不支持）"),
            example="--camera-fixed"),
    FlagDef("audio", "generate_audio", "bool", ("generate-audio", "sound", "generateaudio"), metavar="on|off",
            help=("sound on or off (1.5 Pro and 2.0; on by default); --no-audio = --audio off",
                  "是否生成声音（1.5 Pro 和 2.0；默认开启）；--no-audio 即 --audio off"),
            example="--audio off"),
    FlagDef("no-audio", "generate_audio", "switch", ("mute", "silent", "no-sound", "noaudio"), fixed=False,
            shown=False, example="--no-audio"),
    FlagDef("flex", "service_tier", "bool", ("offline", "relax"), metavar="[on|off]",
            help=("offline tier: half price, slower (not on 2.0, not for drafts)",
                  "离线档位：半价但更慢（2.0 和样片不支持）"), example="--flex"),
    FlagDef("tier", "service_tier", "tier", ("service-tier",), metavar="default|flex", shown=False,
            example="--tier flex"),
    FlagDef("watermark", "watermark", "bool", ("wm",), metavar="[on|off]",
            help=("add the \"AI generated\" mark", "添加“AI 生成”水印"), example="--watermark"),
    FlagDef("no-watermark", "watermark", "switch", ("nowm", "no-wm"), fixed=False, shown=False,
            example="--no-watermark"),
    FlagDef("last-frame", "last_frame", "switch", ("lf", "lastframe", "end-frame"),
            help=("with two photos: the second is the last frame (the default)",
                  "两张图片时第二张作为尾帧（默认即如此）"), example="--last-frame"),
    FlagDef("ref", "ref", "switch", ("ref-images", "refs", "reference", "reference-images", "ref-image"),
            help=("the photos are reference images, not frames (Seedance 2.0: 1-9 images)",
                  "图片作为参考图而不是首尾帧（Seedance 2.0：1-9 张）"), example="--ref"),
    FlagDef("expires", "execution_expires_after", "expires", ("expires-after", "execution-expires-after"),
            metavar="24h", help=("give up if not done within this time (1h-72h)",
                                 "超过该时间未完成则放弃（1h-72h）"),
            example="--expires 24h"),
    FlagDef("return-last-frame", "return_last_frame", "bool", ("rlf", "returnlastframe"), metavar="[on|off]",
            help=("also return the last frame as an image", "同时返回最后一帧图片"),
            example="--return-last-frame"),
    FlagDef("draft", "draft", "bool", ("preview",), metavar="[on|off]",
            help=("make a cheap 480p draft first (same as /draft)", "先生成低价 480p 样片（同 /draft）"),
            example="--draft"),
)
_FLAG_BY_LONG: dict[str, FlagDef] = {n: f for f in FLAGS for n in (f.name, *f.aliases)}
_FLAG_BY_SHORT: dict[str, FlagDef] = {n: f for f in FLAGS for n in f.short}
_KNOWN_LONG = frozenset(_FLAG_BY_LONG)
_EXTEND_TARGETS = frozenset(f.target for f in FLAGS) - {"ref", "last_frame", "draft"}

EXAMPLES: tuple[tuple[str, str], ...] = (
    ("/video a kitten yawning in the sun --ratio 9:16 --duration 8",
     "/视频 一只在阳光下打哈欠的小猫 --ratio 9:16 --duration 8"),
    ("[photo] with the caption: /video she turns and smiles", "[图片] 配文：/视频 她转身微笑"),
    ("[two photos] with the caption: /video the flower slowly blooms (first → last frame)",
     "[两张图片] 配文：/视频 花朵慢慢绽放（首帧 → 尾帧）"),
    ("reply to a photo: /video slow zoom in", "回复一张图片：/视频 镜头缓慢推进"),
    ("/draft waves at sunset → then reply to the draft: /approve 1080p",
     "/样片 日落时的海浪 → 然后回复样片：/确认 1080p"),
    ("[photos] /video --ref --model 2.0 the two cats play together",
     "[多张图片] /视频 --ref --model 2.0 两只猫一起玩耍"),
    ("/settings ratio=9:16 duration=8 audio=off", "/设置 ratio=9:16 duration=8 audio=off"),
)

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
_LANG_WORDS = {"zh": "zh", "cn": "zh", "zh-cn": "zh", "zh_cn": "zh", "chinese": "zh", "中文": "zh",
               "汉语": "zh", "en": "en", "en-us": "en", "en_us": "en", "english": "en", "英文": "en",
               "英语": "en"}


# --- small helpers ---------------------------------------------------------------------------------


class _Problem(Exception):
    """Internal: a bad input; becomes a Reply at the boundary of parse_command."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def image_source(message_id: str, image_key: str) -> str:
    """The `ImageInput.source` for an image of a chat message (downloaded later by the worker)."""
    return f"{FEISHU_IMAGE}{message_id}/{image_key}"


def parse_image_source(source: str) -> tuple[str, str] | None:
    """(message_id, image_key) of a `feishu-image:` source, else None."""
    if not source.startswith(FEISHU_IMAGE):
        return None
    message_id, sep, key = source[len(FEISHU_IMAGE):].partition("/")
    return (message_id, key) if sep and message_id and key else None


def _model_label(info: catalogue.ModelInfo) -> str:
    """The short name people type (an alias like `2.0-fast`), falling back to the ID."""
    for alias in info.aliases:
        if "seedance" not in alias and "/" not in alias:
            return alias
    return info.id


def _model_names() -> str:
    return ", ".join(_model_label(m) for m in catalogue.MODELS if not m.retired)


def _ref_models() -> list[catalogue.ModelInfo]:
    return [m for m in catalogue.MODELS if Mode.REFERENCE in m.modes and not m.retired]


def _model_id(name: str) -> str | None:
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


def _flag_list(targets: frozenset[str] | None = None) -> str:
    return ", ".join(f"--{f.name}" for f in FLAGS if f.shown and (targets is None or f.target in targets))


def _suggest(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return close[0] if close else None


# --- options ---------------------------------------------------------------------------------------


def _convert(flag: FlagDef, typed: str, raw: str) -> Any:
    """A flag's value from text, or `_Problem` naming what is allowed."""
    value = norm_value(unquote(raw))
    if flag.kind == "ratio":
        ratio = parse_ratio(value)
        if ratio is None or ratio not in ALL_RATIOS:
            raise _Problem("bad_ratio", value=value, allowed=_RATIO_LIST)
        return ratio
    if flag.kind == "duration":
        seconds = parse_duration(value)
        if seconds is None:
            raise _Problem("bad_duration_value", flag=typed, value=value)
        return seconds
    if flag.kind == "resolution":
        res = parse_resolution(value)
        if res is None:
            raise _Problem("bad_resolution_value", value=value, allowed=", ".join(RESOLUTIONS))
        return res
    if flag.kind == "model":
        model = _model_id(value)
        if model is None:
            raise _Problem("unknown_model", value=value, allowed=_model_names())
        return model
    if flag.kind == "seed":
        if value.casefold() in ("random", "随机"):
            return -1
        seed = parse_int(value)
        if seed is None:
            raise _Problem("bad_number", flag=typed, value=value, example="--seed 42")
        return seed
    if flag.kind == "expires":
        seconds = parse_seconds(value)
        if seconds is None:
            raise _Problem("bad_number", flag=typed, value=value, example="--expires 86400")
        return seconds
    if flag.kind == "tier":
        tiers = {"default": "default", "online": "default", "flex": "flex", "offline": "flex"}
        tier = tiers.get(value.casefold())
        if tier is None:
            raise _Problem("bad_tier", value=value)
        return tier
    raise AssertionError(flag.kind)  # pragma: no cover


def _bool_value(flag: FlagDef, on: bool) -> Any:
    if flag.target == "service_tier":
        return "flex" if on else "default"
    return on if flag.fixed else not on


@dataclass(frozen=True)
class _Args:
    prompt: str
    options: dict[str, Any]


def _parse_args(rest: str, *, command: str, allowed: frozenset[str] | None = None) -> _Args:
    """Split `rest` into options and the prompt. Raises `_Problem` for unknown/bad options."""
    text = split_glued(clean_text(rest), _KNOWN_LONG)
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
        flag = _FLAG_BY_SHORT.get(name)
        if dashes == 2:
            flag = _FLAG_BY_LONG.get(name) or flag
        if flag is None:
            if dashes == 1:  # "-a", "-ish": prose, not an option
                i += 1
                continue
            typed = f"--{name}"
            hint = _suggest(name, list(_FLAG_BY_LONG))
            flags = _flag_list(allowed)
            if hint is not None:
                raise _Problem("unknown_flag_suggest", value=typed, flags=flags,
                               suggestion=f"--{_FLAG_BY_LONG[hint].name}")
            raise _Problem("unknown_flag", value=typed, flags=flags)
        typed = f"--{flag.name}"
        if allowed is not None and flag.target not in allowed:
            raise _Problem("flag_not_allowed", flag=typed, command=command, flags=_flag_list(allowed))
        keep[i] = False
        has_inline = inline is not None and inline.strip() != ""
        nxt: Token | None = tokens[i + 1] if i + 1 < len(tokens) else None
        if flag.kind in _VALUE_KINDS:
            if has_inline:
                raw = inline or ""
            elif nxt is None or is_option_like(nxt.text):
                raise _Problem("missing_value", flag=typed, example=flag.example)
            else:
                raw = nxt.text
                keep[i + 1] = False
                i += 1
            options[flag.target] = _convert(flag, typed, raw)
        elif flag.kind == "bool":
            on: bool | None = True
            if has_inline:
                on = parse_bool(inline or "")
                if on is None:
                    raise _Problem("bad_bool", flag=typed, value=norm_value(inline or ""),
                                   example=f"{typed} off")
            elif nxt is not None and not nxt.quoted and norm_value(nxt.text).casefold() in PEEK_BOOL:
                on = parse_bool(nxt.text)
                keep[i + 1] = False
                i += 1
            options[flag.target] = _bool_value(flag, bool(on))
        else:  # switch
            on = True
            if has_inline:
                on = parse_bool(inline or "")
                if on is None:
                    raise _Problem("bad_bool", flag=typed, value=norm_value(inline or ""), example=typed)
            options[flag.target] = flag.fixed if on else not flag.fixed
        i += 1
    return _Args(prompt=tidy_prompt(join_prompt(text, tokens, keep)), options=options)


# --- video specs -----------------------------------------------------------------------------------


def _assign_roles(sources: Sequence[str], *, ref: bool, last_frame: bool) -> tuple[ImageInput, ...]:
    """One image = first frame, two = first + last, --ref = all reference images."""
    n = len(sources)
    if ref:
        if n == 0:
            raise SpecError("ref_without_images")
        return tuple(ImageInput(s, "reference_image") for s in sources)
    if last_frame and n != 2:
        raise SpecError("last_frame_needs_two", count=n)
    if n == 0:
        return ()
    if n == 1:
        return (ImageInput(sources[0], "first_frame"),)
    if n == 2:
        return (ImageInput(sources[0], "first_frame"), ImageInput(sources[1], "last_frame"))
    raise SpecError("too_many_images", count=n, models=", ".join(_model_label(m) for m in _ref_models()))


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
            lang = _LANG_WORDS.get(text.casefold())
            if lang is not None:
                out[key] = lang
    return out


def _apply_defaults(spec: VideoSpec, defaults: Mapping[str, Any], default_model: str) -> VideoSpec:
    """User/chat defaults fill what the message left open — only where the model can take them.

    Explicit flags always win. A default the chosen model can't do (a 15 s default on 1.5 Pro, audio
    on 1.0, 1080p or flex on a draft) is skipped rather than turned into an error the user didn't
    cause by this message. A default ratio applies to text-to-video only: with a photo the
    video follows the photo's shape (`adaptive`).
    """
    warnings = list(spec.warnings)
    model = spec.model or _model_id(str(defaults.get("model") or "")) or default_model
    info = catalogue.get(model)
    draft = bool(spec.draft)
    if draft and spec.model is None and info is not None and not info.draft:
        drafter = next(m for m in catalogue.MODELS if m.draft)
        warnings.append(f"drafts need {drafter.name}; using {drafter.id} instead of {model}")
        model, info = drafter.id, drafter
    changes: dict[str, Any] = {"model": model}
    ratio = defaults.get("ratio")
    if spec.ratio is None and spec.mode is Mode.TEXT and isinstance(ratio, str) and ratio in ALL_RATIOS:
        changes["ratio"] = ratio
    duration = defaults.get("duration")
    if spec.duration is None and isinstance(duration, int) and not isinstance(duration, bool) and (
        info is None or info.durations[0] <= duration <= info.durations[1]
        or (duration == -1 and info.auto_duration)
    ):
        changes["duration"] = duration
    res = defaults.get("resolution")
    if spec.resolution is None and not draft and isinstance(res, str) and (
        res in RESOLUTIONS if info is None else res in info.resolutions
    ):
        changes["resolution"] = res
    audio = defaults.get("audio")
    if spec.generate_audio is None and isinstance(audio, bool) and (info is None or info.audio):
        changes["generate_audio"] = audio
    flex = defaults.get("flex") is True and (info is None or info.flex)
    if spec.service_tier is None and not draft and flex:
        changes["service_tier"] = "flex"
    watermark = defaults.get("watermark")
    if spec.watermark is None and isinstance(watermark, bool):
        changes["watermark"] = watermark
    changes["warnings"] = tuple(warnings)
    return spec.replace(**changes)


def _build(request: VideoSpec, *, sources: Sequence[str], ref: bool, last_frame: bool,
           defaults: Mapping[str, Any], default_model: str) -> VideoSpec:
    """Images + defaults + catalogue validation; raises `SpecError` naming what is allowed."""
    images = _assign_roles(sources, ref=ref, last_frame=last_frame)
    spec = _apply_defaults(request.replace(images=images), defaults, default_model)
    info = catalogue.get(spec.model or default_model)
    if ref and info is not None and Mode.REFERENCE not in info.modes:
        capable = _ref_models()
        raise SpecError("ref_unsupported", model=info.name,
                        models=", ".join(_model_label(m) for m in capable),
                        example=_model_label(capable[0]) if capable else "2.0")
    return resolve(spec, default_model)


def with_images(cmd: VideoCommand, image_keys: Sequence[str], *, message_id: str | None = None) -> VideoSpec:
    """The validated spec once the images are known (for `use_parent_image`: the parent's keys).

    Keys become `feishu-image:<message_id>/<key>` sources (message_id defaults to the parent);
    values that already are sources pass through. Raises `SpecError` (render it with
    `err.render(cmd.lang)` or `Reply(err.code, err.params, cmd.lang)`). With no images at all the
    request is read as text-to-video, which needs a prompt.
    """
    mid = message_id or cmd.parent_id or cmd.message_id
    sources = [k if k.startswith(FEISHU_IMAGE) else image_source(mid, k) for k in image_keys]
    return _build(cmd.request, sources=sources, ref=cmd.ref, last_frame=cmd.last_frame,
                  defaults=cmd.defaults, default_model=cmd.default_model)


def _video(msg: IncomingMessage, rest: str, *, command: str, draft: bool, lang: str,
           defaults: Mapping[str, Any], default_model: str) -> ParseResult:
    args = _parse_args(rest, command=command)
    options = dict(args.options)
    ref = bool(options.pop("ref", False))
    last_frame = bool(options.pop("last_frame", False))
    if options.pop("draft", None) is True:
        draft = True
    if ref and last_frame:
        return Reply("mixed_image_roles", {}, lang)
    request = VideoSpec(prompt=args.prompt or None, draft=True if draft else None, **options)
    keys = msg.image_keys
    common: dict[str, Any] = {
        "lang": lang, "draft": draft, "image_keys": keys, "message_id": msg.message_id,
        "parent_id": msg.parent_id, "ref": ref, "last_frame": last_frame, "request": request,
        "defaults": dict(defaults), "default_model": default_model,
    }
    build: dict[str, Any] = {"ref": ref, "last_frame": last_frame, "defaults": defaults,
                             "default_model": default_model}
    if keys or not msg.parent_id:
        if not keys:
            if ref:
                return Reply("ref_without_images", {}, lang)
            if last_frame:
                return Reply("last_frame_needs_two", {"count": 0}, lang)
            if not args.prompt:
                return Reply("video_usage", {"command": command}, lang)
        sources = [image_source(msg.message_id, k) for k in keys]
        spec = _build(request, sources=sources, **build)
        return VideoCommand(spec=spec, use_parent_image=False, **common)
    # A reply without its own images: the images (if any) are in the parent message. Check now
    # what can be checked — with a stand-in image, or as text-to-video — and defer the rest.
    stand_in = [image_source(msg.parent_id, "pending")] * (2 if last_frame else 1)
    try:
        _build(request, sources=stand_in, **build)
    except SpecError:
        if ref or last_frame:
            raise
        try:
            _build(request, sources=[], **build)
        except SpecError:
            pass
        else:
            return VideoCommand(spec=request, use_parent_image=True, **common)
        raise
    return VideoCommand(spec=request, use_parent_image=True, **common)


# --- other commands --------------------------------------------------------------------------------


def _first_token(rest: str) -> str | None:
    tokens = tokenize(clean_text(rest))
    return (norm_value(tokens[0].text) or None) if tokens else None


def _approve(msg: IncomingMessage, rest: str, lang: str) -> ParseResult:
    allowed = ", ".join(APPROVE_RESOLUTIONS)
    words: list[str] = []
    for tok in tokenize(clean_text(rest)):
        parsed = split_flag(tok.text)
        if parsed is not None:
            _, name, inline = parsed
            if name not in ("resolution", "res", "rs"):
                return Reply("approve_usage", {"allowed": allowed}, lang)
            if inline:
                words.append(inline)
            continue
        words.append(tok.text)
    resolution = "720p"
    if len(words) > 1:
        return Reply("approve_usage", {"allowed": allowed}, lang)
    if words:
        res = parse_resolution(words[0])
        if res not in APPROVE_RESOLUTIONS:
            return Reply("approve_usage", {"allowed": allowed}, lang)
        resolution = res
    return ApproveCommand(lang=lang, resolution="1080p" if resolution == "1080p" else "720p",
                          reply_to=msg.parent_id)


def _setting_value(key: str, raw: str, model: str | None) -> Any:
    value = norm_value(unquote(raw))
    if value.casefold() in _RESET_WORDS:
        return None
    info = catalogue.get(model) if model else None
    if key == "model":
        found = _model_id(value)
        if found is None:
            raise _Problem("unknown_model", value=value, allowed=_model_names())
        return found
    if key == "ratio":
        ratio = parse_ratio(value)
        if ratio is None or ratio not in ALL_RATIOS:
            raise _Problem("bad_ratio", value=value, allowed=_RATIO_LIST)
        return ratio
    if key == "duration":
        seconds = parse_duration(value)
        if seconds is None or not (seconds == -1 or 2 <= seconds <= 15):
            raise _Problem("bad_setting_value", key=key, value=value, allowed="2-15, -1 (auto)")
        if info is not None and not (info.durations[0] <= seconds <= info.durations[1]
                                     or (seconds == -1 and info.auto_duration)):
            raise _Problem("bad_duration", model=info.id, value=seconds,
                           allowed=info.allowed_durations_text())
        return seconds
    if key == "resolution":
        res = parse_resolution(value)
        if res is None:
            raise _Problem("bad_resolution_value", value=value, allowed=", ".join(RESOLUTIONS))
        if info is not None and res not in info.resolutions:
            raise _Problem("bad_resolution", model=info.id, value=res, allowed=", ".join(info.resolutions))
        return res
    if key == "lang":
        lang = _LANG_WORDS.get(value.casefold())
        if lang is None:
            if value.casefold() == "auto":
                return None
            raise _Problem("bad_lang", value=value)
        return lang
    on = parse_bool(value)
    if on is None:
        raise _Problem("bad_bool", flag=key, value=value, example=f"/settings {key}=off")
    if key == "audio" and on and info is not None and not info.audio:
        raise _Problem("no_audio", model=info.id)
    if key == "flex" and on and info is not None and not info.flex:
        raise _Problem("no_flex", model=info.id)
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


def _settings(rest: str, lang: str) -> ParseResult:
    words = [t.text for t in tokenize(clean_text(rest))]
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
                raise _Problem("settings_unknown_key", value=name or words[i + 1], keys=_SETTING_KEYS)
            pairs.append((name, key, None))
            i += 2
            continue
        key, name, value = _setting_key(word)
        if key is None:
            raise _Problem("settings_unknown_key", value=name or word, keys=_SETTING_KEYS)
        if value is None:
            if i + 1 < len(words) and nfkc(words[i + 1]) in ("=", ":"):
                i += 1  # "ratio = 9:16"
            if i + 1 >= len(words):
                raise _Problem("missing_value", flag=key, example=f"/settings {_SETTING_EXAMPLES[key]}")
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


def _help_topic(rest: str) -> str | None:
    word = _first_token(rest)
    if not word:
        return None
    w = nfkc(word).casefold().lstrip("/")
    name = canonical_command(w)
    if name is not None:
        return name
    if w in ("options", "flags", "option", "flag", "参数", "选项"):
        return "options"
    if w in ("examples", "example", "例子", "示例", "举例"):
        return "examples"
    return None


# --- entry point -----------------------------------------------------------------------------------


def _language(msg: IncomingMessage, text: str, lang: str | None, defaults: Mapping[str, Any]) -> str:
    if lang in LANGS:
        return lang
    chosen = defaults.get("lang")
    if isinstance(chosen, str) and chosen in LANGS:
        return chosen
    for m in msg.mentions:  # a Chinese *name* in a mention says nothing about the writer
        if m.name:
            text = text.replace("@" + m.name, " ")
    return i18n.detect(text)


def _find_command(text: str, names: tuple[str, ...]) -> CommandSplit | None:
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


def parse_command(
    msg: IncomingMessage,
    *,
    bot_open_id: str,
    lang: str | None = None,
    user_defaults: Mapping[str, object] | None = None,
    default_model: str | None = None,
) -> ParseResult:
    """Understand one message: `Ignore`, a `Reply` to send back, or a `Command` to run.

    `user_defaults` (user settings merged over chat settings by the caller; keys as
    `SettingsCommand.changes`: model, ratio, duration, resolution, audio, flex, watermark, lang;
    typed or as strings) fill what the message leaves open; explicit options win.
    `lang` (e.g. from settings) overrides detection from the text. `default_model` is the
    deployment's default (settings.seedance_default_model).
    """
    defaults = coerce_defaults(user_defaults)
    model = default_model or DEFAULT_MODEL
    if msg.from_bot:
        return Ignore("from_bot")
    # Our open_id among the mentions; or the flag set when the event was parsed.
    ours = bool(bot_open_id) and any(m.open_id == bot_open_id for m in msg.mentions)
    mentioned = msg.mentions_bot or ours
    if msg.is_group and not mentioned:
        return Ignore("not_mentioned")
    bot_names = tuple(m.name for m in msg.mentions if m.name and (m.open_id == bot_open_id or (
        not bot_open_id and m.mentioned_type == "bot")))
    text = clean_text(msg.text).strip()
    reply_lang = _language(msg, text, lang, defaults)

    if msg.message_type == "image":
        return Reply("image_only_hint", {}, reply_lang)
    if msg.message_type not in ("text", "post"):
        return Reply("unsupported_message", {"kind": msg.message_type or "?"}, reply_lang)
    text = strip_leading_mentions(text, bot_names).strip()
    if not text:
        return Reply("image_only_hint" if msg.image_keys else "lone_mention", {}, reply_lang)

    split = _find_command(text, bot_names)
    if split is None:
        text = text.lstrip(IME_SLASH + " ")
        first = text.split(maxsplit=1)[0] if text.split() else ""
        example = "/" + text if canonical_command(first) else "/video " + text
        return Reply("no_command_hint", {"example": short(example, 60)}, reply_lang)
    if split.name is None:
        commands = ", ".join(f"/{c.name}" for c in COMMANDS)
        hint = _suggest(nfkc(split.typed[1:]).casefold(), [w for w in COMMAND_ALIASES if w.isascii()])
        if hint is not None:
            params = {"value": split.typed, "suggestion": f"/{COMMAND_ALIASES[hint]}", "commands": commands}
            return Reply("unknown_command_suggest", params, reply_lang)
        return Reply("unknown_command", {"value": split.typed, "commands": commands}, reply_lang)

    rest = split.rest
    try:
        if split.name in ("video", "draft"):
            return _video(msg, rest, command=split.typed, draft=split.name == "draft", lang=reply_lang,
                          defaults=defaults, default_model=model)
        if split.name == "extend":
            args = _parse_args(rest, command="/extend", allowed=_EXTEND_TARGETS)
            return ExtendCommand(lang=reply_lang, prompt=args.prompt or None, changes=args.options,
                                 reply_to=msg.parent_id)
        if split.name == "approve":
            return _approve(msg, rest, reply_lang)
        if split.name == "settings":
            return _settings(rest, reply_lang)
        if split.name == "status":
            return StatusCommand(lang=reply_lang, target=_first_token(rest), reply_to=msg.parent_id)
        if split.name == "cancel":
            return CancelCommand(lang=reply_lang, target=_first_token(rest), reply_to=msg.parent_id)
        if split.name == "list":
            return ListCommand(lang=reply_lang)
        if split.name == "models":
            return ModelsCommand(lang=reply_lang)
        if split.name == "quota":
            return QuotaCommand(lang=reply_lang)
        return HelpCommand(lang=reply_lang, topic=_help_topic(rest))
    except _Problem as p:
        return Reply(p.code, p.params, reply_lang)
    except SpecError as e:
        return Reply(e.code, dict(e.params), reply_lang)


# --- rendering -------------------------------------------------------------------------------------


def render_reply(r: Reply) -> str:
    """The text to send for a Reply, in its language."""
    return i18n.t(r.code, r.lang, **r.params)


def help_data(lang: str = "en") -> dict[str, Any]:
    """/help as data (for a card or for text): commands, options, examples in `lang`."""
    zh = lang == "zh"
    return {
        "title": "Seedance 视频机器人" if zh else "Seedance video bot",
        "commands": [
            {"name": c.name, "usage": (c.usage_zh or c.usage) if zh else c.usage,
             "summary": c.summary[1] if zh else c.summary[0],
             "aliases": list(c.zh_aliases if zh else c.aliases)}
            for c in COMMANDS
        ],
        "options": [
            {"name": f.name, "usage": f.usage, "summary": f.help[1] if zh else f.help[0],
             "aliases": [f"--{a}" for a in f.aliases[:2]] + [f"-{s}" for s in f.short]}
            for f in FLAGS if f.shown
        ],
        "examples": [e[1] if zh else e[0] for e in EXAMPLES],
        "labels": {
            "commands": "命令：" if zh else "Commands:",
            "options": "参数（可放在消息任意位置）：" if zh else "Options (anywhere in the message):",
            "examples": "示例：" if zh else "Examples:",
            "aliases": "也可用" if zh else "also",
        },
    }


def help_text(lang: str = "en", topic: str | None = None) -> str:
    """Plain-text /help: everything, or one command / "options" / "examples"."""
    data = help_data(lang)
    labels = data["labels"]
    lines: list[str] = []

    def command_line(c: dict[str, Any]) -> str:
        also = f" ({labels['aliases']} {' '.join('/' + a for a in c['aliases'][:3])})" if c["aliases"] else ""
        return f"• {c['usage']} — {c['summary']}{also}"

    def option_lines() -> list[str]:
        out = [labels["options"]]
        for o in data["options"]:
            also = f" ({' '.join(o['aliases'])})" if o["aliases"] else ""
            out.append(f"• {o['usage']}{also} — {o['summary']}")
        return out

    if topic in _COMMANDS_BY_NAME:
        cmd = next(c for c in data["commands"] if c["name"] == topic)
        lines.append(command_line(cmd))
        if topic in ("video", "draft", "extend"):
            lines += ["", *option_lines()]
        words = (topic, *_COMMANDS_BY_NAME[topic].aliases)
        examples = [e for e in data["examples"] if any(f"/{w} " in e or e.endswith(f"/{w}") for w in words)]
        if examples:
            lines += ["", labels["examples"], *(f"• {e}" for e in examples)]
        return "\n".join(lines)
    if topic == "options":
        return "\n".join(option_lines())
    if topic == "examples":
        return "\n".join([labels["examples"], *(f"• {e}" for e in data["examples"])])
    lines.append(f"🎬 {data['title']}")
    lines.append(labels["commands"])
    lines += [command_line(c) for c in data["commands"]]
    lines += ["", *option_lines(), "", labels["examples"], *(f"• {e}" for e in data["examples"])]
    return "\n".join(lines)
