"""Chat text → a typed command, a reply to send back, or nothing: the entry point of parsing.

Why it is strict: a video costs money, so nothing is guessed. Only a message that starts with a
command starts a job; an unknown `--option` is an error rather than part of the prompt; every
bad input becomes a `Reply` that says what is allowed, in the user's language. Why it is
lenient: phones mangle punctuation (see `normalize`), so `—ratio １６：９` means `--ratio 16:9`.

This module decides whether a message is for the bot and which command it is (the registry);
the command's own module reads its arguments:

    video.py     /video /draft            grammar.py   where the command and options are
    jobs.py      /approve /extend /status /cancel /list
    info.py      /models                  options.py   the --options and their values
    settings.py  /settings                registry.py  every command, declared once
    account.py   /quota /whoami           results.py   Ignore, Reply, Command
    help.py      /help, the README table
"""

from __future__ import annotations

from collections.abc import Mapping

from bot import i18n
from bot.errors import SpecError
from bot.parsing import account, info, jobs, settings, video
from bot.parsing import help as help_commands
from bot.parsing.events import IncomingMessage
from bot.parsing.grammar import find_command, strip_leading_mentions
from bot.parsing.normalize import IME_SLASH, clean_text, nfkc, short
from bot.parsing.options import DEFAULT_MODEL, suggest
from bot.parsing.registry import Invocation, commands
from bot.parsing.results import Ignore, ParseResult, Problem, Reply
from bot.parsing.settings import coerce_defaults

LANGS = ("zh", "en")

FAMILIES = (video, jobs, info, settings, account, help_commands)
"""The command family modules, in the order /help and the README list their commands."""
for _family in FAMILIES:
    commands.add_all(_family.SPECS)


def _language(msg: IncomingMessage, text: str, lang: str | None, defaults: Mapping[str, object]) -> str:
    if lang in LANGS:
        return lang
    chosen = defaults.get("lang")
    if isinstance(chosen, str) and chosen in LANGS:
        return chosen
    for m in msg.mentions:  # a Chinese *name* in a mention says nothing about the writer
        if m.name:
            text = text.replace("@" + m.name, " ")
    return i18n.detect(text)


def _unknown(typed: str, lang: str) -> Reply:
    """`/xyz`: the commands there are, and the closest one if it is close."""
    names = ", ".join(f"/{c.name}" for c in commands)
    words = commands.words()
    hint = suggest(nfkc(typed[1:]).casefold(), [w for w in words if w.isascii()])
    if hint is not None:
        return Reply("unknown_command_suggest", {"value": typed, "suggestion": f"/{words[hint]}",
                                                 "commands": names}, lang)
    return Reply("unknown_command", {"value": typed, "commands": names}, lang)


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
    if msg.from_bot:
        return Ignore("from_bot")
    # Our open_id among the mentions; or the flag set when the event was parsed.
    ours = bool(bot_open_id) and any(m.open_id == bot_open_id for m in msg.mentions)
    if msg.is_group and not (msg.mentions_bot or ours):
        return Ignore("not_mentioned")
    bot_names = tuple(m.name for m in msg.mentions if m.name and (m.open_id == bot_open_id or (
        not bot_open_id and m.mentioned_type == "bot")))
    text = clean_text(msg.text).strip()
    reply_lang = _language(msg, text, lang, defaults)

    if msg.message_type == "image":
        return Reply("image_only_hint", {}, reply_lang)
    if msg.message_type in ("media", "audio", "file") and any(a.kind != "file" for a in msg.attachments):
        return Reply("media_only_hint", {}, reply_lang)  # a video or voice: usable by a reply with --ref
    if msg.message_type not in ("text", "post"):
        return Reply("unsupported_message", {"kind": msg.message_type or "?"}, reply_lang)
    text = strip_leading_mentions(text, bot_names).strip()
    if not text:
        return Reply("image_only_hint" if msg.image_keys else "lone_mention", {}, reply_lang)

    split = find_command(text, bot_names)
    if split is None:
        text = text.lstrip(IME_SLASH + " ")
        first = text.split(maxsplit=1)[0] if text.split() else ""
        example = "/" + text if commands.canonical(first) else "/video " + text
        return Reply("no_command_hint", {"example": short(example, 60)}, reply_lang)
    spec = commands.get(split.name) if split.name else None
    if spec is None:
        return _unknown(split.typed, reply_lang)
    inv = Invocation(msg=msg, name=spec.name, typed=split.typed, rest=split.rest, lang=reply_lang,
                     defaults=defaults, default_model=default_model or DEFAULT_MODEL)
    try:
        return spec.parse(inv)
    except Problem as p:
        return Reply(p.code, p.params, reply_lang)
    except SpecError as e:
        return Reply(e.code, dict(e.params), reply_lang)


def render_reply(r: Reply) -> str:
    """The text to send for a Reply, in its language."""
    return i18n.t(r.code, r.lang, **r.params)

