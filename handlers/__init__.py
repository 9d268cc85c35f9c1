"""Chat features: one module per command family; this module routes inbox entries to them.

Handlers get a `ChatContext` (where to answer, in which language) and the parsed
command; they never import Flask, read the environment or build Redis keys by
hand. Everything they do is idempotent per message or card event, because the
worker may replay an entry after a crash.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.engine.engine import Engine
from bot.parsing import commands as cmds
from bot.parsing.events import parse_card_action, parse_message_event
from handlers import actions, draft, info, settings, video
from handlers.context import ChatContext

log = logging.getLogger(__name__)


def on_message(engine: Engine, payload: dict[str, Any]) -> None:
    """An `im.message.receive_v1` event from the inbox."""
    bot_id = engine.bot_open_id()
    msg = parse_message_event(payload, bot_open_id=bot_id)
    if msg is None or msg.from_bot:
        return
    prefs = settings.effective(engine, msg.chat_id, msg.sender_open_id)
    lang = settings.language(engine, prefs, msg.text)
    result = cmds.parse_command(msg, bot_open_id=bot_id, lang=lang, user_defaults=prefs,
                                default_model=engine.settings.seedance_default_model)
    if isinstance(result, cmds.Ignore):
        return
    ctx = ChatContext(engine, message_id=msg.message_id, chat_id=msg.chat_id, user=msg.sender_open_id,
                      lang=getattr(result, "lang", lang),
                      # In groups every job gets its own thread under the request, so several
                      # people's cards and videos never interleave in the main chat.
                      in_thread=bool(msg.thread_id) or msg.is_group,
                      chat_type=msg.chat_type)
    if not engine.is_allowed(msg.chat_id, msg.sender_open_id):
        ctx.reply_code("not_allowed", purpose="not-allowed")
        return
    if isinstance(result, cmds.Reply):
        ctx.reply_text(cmds.render_reply(result), purpose="hint")
        return
    route(ctx, result, msg)


def route(ctx: ChatContext, command: Any, msg: Any) -> None:
    if isinstance(command, cmds.VideoCommand):
        video.on_video(ctx, command, msg)
    elif isinstance(command, cmds.ApproveCommand):
        draft.on_approve_command(ctx, command)
    elif isinstance(command, cmds.ExtendCommand):
        actions.on_extend_command(ctx, command)
    elif isinstance(command, cmds.CancelCommand):
        actions.on_cancel_command(ctx, command)
    elif isinstance(command, cmds.StatusCommand):
        info.on_status(ctx, command)
    elif isinstance(command, cmds.ListCommand):
        info.on_list(ctx)
    elif isinstance(command, cmds.ModelsCommand):
        info.on_models(ctx)
    elif isinstance(command, cmds.HelpCommand):
        info.on_help(ctx, command)
    elif isinstance(command, cmds.QuotaCommand):
        info.on_quota(ctx)
    elif isinstance(command, cmds.SettingsCommand):
        settings.on_settings(ctx, command)
    else:  # pragma: no cover - every parser command is routed above
        log.warning("no handler for %s", type(command).__name__)


def on_card(engine: Engine, payload: dict[str, Any]) -> None:
    """A `card.action.trigger` callback from the inbox.

    The webhook already refused strangers with a toast; this checks again against the job
    itself: the button's card must be in the job's chat, the presser must be its requester
    (or an admin) and on the allowlist — a forged or replayed value acts on nothing.
    """
    action = parse_card_action(payload)
    value = action.value
    name = str(value.get("a") or value.get("action") or "")
    rid = str(value.get("rid") or "")
    job = engine.records.get(rid) if rid else None
    if job is None:
        log.info("card action %s for unknown job %s", name, rid)
        return
    operator = action.operator_open_id
    if action.open_chat_id != job.chat_id:
        log.warning("card action %s on %s from another chat (or none); ignored", name, rid)
        return
    if not engine.is_allowed(job.chat_id, operator):
        return
    ctx = ChatContext(engine, message_id=job.reply_to, chat_id=job.chat_id, user=operator,
                      lang=str(value.get("lang") or job.lang), in_thread=bool(job.in_thread),
                      chat_type=job.chat_type)
    if not ctx.may_act_on(job):
        return
    if name.startswith("approve_"):
        draft.approve(ctx, job, name.split("_", 1)[1])
    elif name == "discard":
        draft.discard(ctx, job)
    elif name == "redo":
        draft.redo(ctx, job)
    elif name == "reroll":
        actions.reroll(ctx, job)
    elif name == "extend":
        actions.extend(ctx, job, prompt=None)
    elif name == "cancel":
        actions.cancel(ctx, job)
    else:
        log.info("unknown card action %r", name)
