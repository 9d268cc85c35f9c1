"""Chat features, and the dispatch of inbox entries to them.

Each feature is one function bound to a registered command with `@commands.handler(name)`
(the registry is `bot.parsing.registry.commands`); importing the feature modules below binds
them, and `route` looks the handler up by the command's name. Card buttons are routed the
same way through `BUTTONS`. Handlers get a `ChatContext` (where to answer, in which language)
and the parsed command; they never import Flask, read the environment or build Redis keys by
hand. Everything they do is idempotent per message or card event, because the worker may
replay an entry after a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.engine.engine import Engine
from bot.logs import bind_job
from bot.parsing import APPROVE_RESOLUTIONS, Command, Ignore, Reply, parse_command, render_reply
from bot.parsing.events import parse_card_action, parse_message_event
from bot.parsing.registry import commands
from bot.store.jobs import Job
from handlers import actions, draft, info, settings, video
from handlers.context import ChatContext

log = logging.getLogger(__name__)

FEATURES = (actions, draft, info, settings, video)
"""The modules whose handlers are bound to the registry (importing them binds them)."""

Button = Callable[[ChatContext, Job], object]


def _approve_at(resolution: str) -> Button:
    return lambda ctx, job: draft.approve(ctx, job, resolution)


BUTTONS: dict[str, Button] = {
    **{f"approve_{res}": _approve_at(res) for res in APPROVE_RESOLUTIONS},
    "discard": draft.discard,
    "redo": draft.redo,
    "reroll": actions.reroll,
    "extend": lambda ctx, job: actions.extend(ctx, job, prompt=None),
    "cancel": actions.cancel,
}
"""Card button action (the `a` of its callback value) → what pressing it does."""


def unhandled() -> list[str]:
    """Registered commands no feature handles (empty when the bot is complete)."""
    return commands.unbound()


def on_message(engine: Engine, payload: dict[str, Any]) -> None:
    """An `im.message.receive_v1` event from the inbox."""
    bot_id = engine.bot_open_id()
    msg = parse_message_event(payload, bot_open_id=bot_id)
    if msg is None or msg.from_bot:
        return
    bind_job(chat_id=msg.chat_id)
    prefs = settings.effective(engine, msg.chat_id, msg.sender_open_id)
    lang = settings.language(engine, prefs, msg.text)
    result = parse_command(msg, bot_open_id=bot_id, lang=lang, user_defaults=prefs,
                           default_model=engine.settings.seedance_default_model)
    if isinstance(result, Ignore):
        return
    ctx = ChatContext(engine, message_id=msg.message_id, chat_id=msg.chat_id, user=msg.sender_open_id,
                      lang=result.lang,
                      # In groups every job gets its own thread under the request, so several
                      # people's cards and videos never interleave in the main chat.
                      in_thread=bool(msg.thread_id) or msg.is_group,
                      chat_type=msg.chat_type)
    spec = commands.get(result.command) if isinstance(result, Command) else None
    gated = spec is None or spec.gated
    if gated and not ctx.access.is_allowed(msg.chat_id, msg.sender_open_id):
        ctx.reply_code("not_allowed", purpose="not-allowed")
        return
    if isinstance(result, Reply):
        ctx.reply_text(render_reply(result), purpose="hint")
        return
    route(ctx, result)


def route(ctx: ChatContext, command: Command) -> None:
    """Run the handler the registry has for this command."""
    handler = commands.handler_for(command.command)
    if handler is None:  # pragma: no cover - tests/test_registry.py proves every command is handled
        log.warning("no handler for /%s", command.command)
        return
    handler(ctx, command)


def on_card(engine: Engine, payload: dict[str, Any]) -> None:
    """A `card.action.trigger` callback from the inbox.

    The webhook already refused strangers with a toast; this checks again against the job
    itself (`Access.may_use_button`): the button's card must be in the job's chat, the presser
    must be its requester (or an admin) and on the allowlist — a forged or replayed value acts
    on nothing.
    """
    action = parse_card_action(payload)
    value = action.value
    name = str(value.get("a") or value.get("action") or "")
    rid = str(value.get("rid") or "")
    job = engine.records.get(rid) if rid else None
    if job is None:
        log.info("card action %s for unknown job %s", name, rid)
        return
    bind_job(rid=job.rid, task_id=job.task_id, chat_id=job.chat_id)
    operator = action.operator_open_id
    if not engine.access.may_use_button(operator, action.open_chat_id, job):
        log.warning("card action %s on %s refused (another chat, or not the presser's job)", name, rid)
        return
    press = BUTTONS.get(name)
    if press is None:
        log.info("unknown card action %r", name)
        return
    ctx = ChatContext(engine, message_id=job.reply_to, chat_id=job.chat_id, user=operator,
                      lang=str(value.get("lang") or job.lang), in_thread=bool(job.in_thread),
                      chat_type=job.chat_type)
    press(ctx, job)
