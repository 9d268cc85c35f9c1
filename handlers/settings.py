"""/settings: per-user defaults, and per-chat defaults that admins set for everyone in a chat.

Stored as Redis hashes of strings; `bot.parsing.commands.coerce_defaults` turns
them back into typed values. The effective defaults of a request are: the
chat's, overridden by the user's, overridden by the flags in the message.
"""

from __future__ import annotations

from typing import Any

from bot import catalogue, i18n
from bot.cards import text_card
from bot.engine.engine import Engine
from bot.parsing import commands as cmds
from handlers.context import ChatContext

KEYS = ("model", "ratio", "duration", "resolution", "audio", "flex", "watermark", "lang")


def stored(engine: Engine, scope: str, ident: str) -> dict[str, str]:
    return engine.records.prefs(scope, ident)


def effective(engine: Engine, chat_id: str, user: str) -> dict[str, Any]:
    merged: dict[str, Any] = dict(stored(engine, "chat", chat_id))
    merged.update(stored(engine, "user", user))
    return cmds.coerce_defaults(merged)


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


def on_settings(ctx: ChatContext, command: cmds.SettingsCommand) -> None:
    engine = ctx.engine
    scope, ident = ("chat", ctx.chat_id) if command.scope == "chat" else ("user", ctx.user)
    if scope == "chat" and not (ctx.is_admin or ctx.chat_type == "p2p"):
        ctx.reply_code("settings_chat_admin_only", purpose="settings-denied")
        return
    engine.records.set_prefs(scope, ident,
                           {k: None if v is None else _render(v) for k, v in command.changes.items()},
                           reset=command.reset and not command.changes)
    show(ctx, changed=bool(command.changes or command.reset), scope=scope)


def show(ctx: ChatContext, *, changed: bool, scope: str) -> None:
    engine = ctx.engine
    prefs = effective(engine, ctx.chat_id, ctx.user)
    lang = language(engine, prefs, "") if prefs.get("lang") else ctx.lang
    zh = lang == "zh"
    user = stored(engine, "user", ctx.user)
    chat = stored(engine, "chat", ctx.chat_id)
    model_id = str(prefs.get("model") or engine.settings.seedance_default_model)
    info = catalogue.get(model_id)
    builtin = {"model": model_id, "ratio": "16:9 (adaptive with a photo)", "duration": "5",
               "resolution": "720p", "audio": "on" if (info and info.audio) else "off", "flex": "off",
               "watermark": "off", "lang": "auto"}
    lines = []
    for name in KEYS:
        if name in user:
            where = "你的设置" if zh else "yours"
            value = user[name]
        elif name in chat:
            where = "本群默认" if zh else "chat default"
            value = chat[name]
        else:
            where = "系统默认" if zh else "built-in"
            value = builtin[name]
        lines.append(f"• **{name}**: `{value}` ({where})")
    head = ("已更新。" if zh else "Updated.") if changed else ""
    hint = ("修改：`/settings ratio=9:16 duration=8 audio off`；群默认：`/settings chat ratio=9:16`；"
            "恢复：`/settings reset`" if zh else
            "Change: `/settings ratio=9:16 duration=8 audio off`; chat defaults: `/settings chat ratio=9:16`; "
            "undo: `/settings reset`")
    body = "\n".join(x for x in (head, *lines, "", hint) if x is not None)
    if scope == "user":
        title = "我的默认设置" if zh else "Your defaults"
    else:
        title = "本群默认设置" if zh else "Chat defaults"
    ctx.reply_card(text_card(title, body), purpose=f"settings-{changed}")
