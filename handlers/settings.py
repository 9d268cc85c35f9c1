"""/settings: per-user defaults, and per-chat defaults that admins set for everyone in a chat.

Stored as Redis hashes of strings; `bot.parsing.settings.coerce_defaults` turns
them back into typed values. The effective defaults of a request are: the
chat's, overridden by the user's, overridden by the flags in the message.
"""

from __future__ import annotations

from typing import Any

from bot import catalogue, i18n
from bot.cards import text_card
from bot.engine.engine import Engine
from bot.i18n import t
from bot.parsing import SettingsCommand, coerce_defaults
from bot.parsing.registry import commands
from handlers.context import ChatContext

KEYS = ("model", "ratio", "duration", "resolution", "audio", "flex", "watermark", "lang")


def stored(engine: Engine, scope: str, ident: str) -> dict[str, str]:
    return engine.records.prefs(scope, ident)


def effective(engine: Engine, chat_id: str, user: str) -> dict[str, Any]:
    merged: dict[str, Any] = dict(stored(engine, "chat", chat_id))
    merged.update(stored(engine, "user", user))
    return coerce_defaults(merged)


def language(engine: Engine, prefs: dict[str, Any], text: str) -> str:
    """The reply language: user setting, else BOT_LANGUAGE, else detected from the message."""
    lang = prefs.get("lang")
    if lang in ("zh", "en"):
        return str(lang)
    if engine.settings.bot_language in ("zh", "en"):
        return engine.settings.bot_language
    return i18n.detect(text)


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@commands.handler("settings")
def on_settings(ctx: ChatContext, command: SettingsCommand) -> None:
    """Show or change the asker's defaults (or, where they may, the chat's)."""
    engine = ctx.engine
    scope, ident = ("chat", ctx.chat_id) if command.scope == "chat" else ("user", ctx.user)
    if scope == "chat" and not ctx.access.may_set_chat_defaults(ctx.user, ctx.chat_type):
        ctx.reply_code("settings_chat_admin_only", purpose="settings-denied")
        return
    engine.records.set_prefs(scope, ident,
                           {k: None if v is None else _render(v) for k, v in command.changes.items()},
                           reset=command.reset and not command.changes)
    show(ctx, changed=bool(command.changes or command.reset), scope=scope)


def show(ctx: ChatContext, *, changed: bool, scope: str) -> None:
    """The effective defaults, each with where it comes from (yours, the chat's, built in)."""
    engine = ctx.engine
    prefs = effective(engine, ctx.chat_id, ctx.user)
    lang = language(engine, prefs, "") if prefs.get("lang") else ctx.lang
    user = stored(engine, "user", ctx.user)
    chat = stored(engine, "chat", ctx.chat_id)
    model_id = str(prefs.get("model") or engine.settings.seedance_default_model)
    info = catalogue.get(model_id)
    builtin = {"model": model_id, "ratio": t("settings.builtin_ratio", lang), "duration": "5",
               "resolution": "720p", "audio": "on" if (info and info.audio) else "off", "flex": "off",
               "watermark": "off", "lang": "auto"}
    lines = []
    for name in KEYS:
        if name in user:
            where, value = t("settings.from.user", lang), user[name]
        elif name in chat:
            where, value = t("settings.from.chat", lang), chat[name]
        else:
            where, value = t("settings.from.builtin", lang), builtin[name]
        lines.append(f"• **{name}**: `{value}` ({where})")
    head = t("settings.updated", lang) if changed else ""
    body = "\n".join((head, *lines, "", t("settings.hint", lang)))
    title = t("settings.title.user", lang) if scope == "user" else t("settings.title.chat", lang)
    ctx.reply_card(text_card(title, body), purpose=f"settings-{changed}")
