"""Read-only commands: /status, /list, /models, /help, /quota, /whoami (cards in the user's language)."""

from __future__ import annotations

from bot import catalogue
from bot.cards import job_card, text_card
from bot.engine.live_card import card_view
from bot.i18n import MESSAGES, t
from bot.parsing import (
    HelpCommand,
    ListCommand,
    ModelsCommand,
    PlainCommand,
    QuotaCommand,
    StatusCommand,
    help_data,
    help_text,
)
from bot.parsing.registry import commands
from bot.spec import spec_from_json
from handlers.actions import find_job
from handlers.context import ChatContext
from handlers.video import quota_status

_MODE_KEYS = {
    catalogue.Mode.TEXT: "models.mode.text", catalogue.Mode.FIRST_FRAME: "models.mode.first_frame",
    catalogue.Mode.FIRST_LAST: "models.mode.first_last", catalogue.Mode.REFERENCE: "models.mode.reference",
    catalogue.Mode.DRAFT_FINAL: "models.mode.draft_final",
}


@commands.handler("status")
def on_status(ctx: ChatContext, command: StatusCommand) -> None:
    """Progress of a job: the live card again, as it is now."""
    job = find_job(ctx, command.target, command.reply_to)
    if job is None:
        ctx.reply_code("no_job_found", purpose="status-none")
        return
    ctx.reply_card(job_card(card_view(ctx.engine, job)) | {}, purpose=f"status-{job.rid}-{job.state}")


@commands.handler("list")
def on_list(ctx: ChatContext, command: ListCommand) -> None:
    """The asker's recent jobs in this chat."""
    records = ctx.engine.records
    lines = []
    for rid in records.recent(ctx.chat_id, ctx.user, 10):
        job = records.get(rid)
        if job is None:
            continue
        prompt = str(job.extra_dict().get("prompt") or "") or (spec_from_json(job.spec).prompt or "")
        key = f"list.state.{job.state}"
        state = ctx.text(key) if key in MESSAGES else job.state
        task = f" `{job.task_id}`" if job.task_id else ""
        lines.append(f"• **{state}** {job.kind}{task} — {prompt[:60]}")
    body = "\n".join(lines) or ctx.text("list.empty")
    ctx.reply_card(text_card(ctx.text("list.title"), body), purpose=f"list-{len(lines)}")


def models_markdown(lang: str) -> str:
    """One paragraph per model: what it can do, its lengths and sizes, and how long it takes."""
    rows = []
    for m in catalogue.MODELS:
        if m.retired:
            continue
        modes = ", ".join(t(_MODE_KEYS[x], lang) for x in catalogue.Mode if x in m.modes)
        extras = []
        if m.audio:
            extras.append(t("models.audio", lang))
        if m.draft:
            extras.append(t("models.draft", lang))
        if m.flex:
            extras.append("flex")
        alias = next((a for a in m.aliases if "seedance" not in a), m.id)
        rows.append(
            f"**{m.name}** (`--model {alias}`)\n{modes}; {m.allowed_durations_text()} s; "
            f"{'/'.join(m.resolutions)}" + (f"; {', '.join(extras)}" if extras else "")
            + "\n" + t("models.expected", lang, seconds=int(m.expected_seconds("720p", 5)))
        )
    return "\n\n".join(rows)


@commands.handler("models")
def on_models(ctx: ChatContext, command: ModelsCommand) -> None:
    """The models and what each can do."""
    ctx.reply_card(text_card(ctx.text("models.title"), models_markdown(ctx.lang)), purpose="models")


@commands.handler("help")
def on_help(ctx: ChatContext, command: HelpCommand) -> None:
    """/help from the registry: every command, option and example, or one topic."""
    data = help_data(ctx.lang)
    if command.topic:
        body = help_text(ctx.lang, command.topic)
    else:
        labels = data["labels"]
        parts = [f"**{labels['commands']}**"]
        parts += [f"• `{c['usage']}` — {c['summary']}" for c in data["commands"]]
        parts.append(f"\n**{labels['options']}**")
        parts += [f"• `{o['usage']}` — {o['summary']}" for o in data["options"]]
        parts.append(f"\n**{labels['examples']}**")
        parts += [f"• `{e}`" for e in data["examples"]]
        body = "\n".join(parts)
    ctx.reply_card(text_card(str(data["title"]), body), purpose=f"help-{command.topic or ''}")


@commands.handler("quota")
def on_quota(ctx: ChatContext, command: QuotaCommand) -> None:
    """What the asker has running and waiting, and their video seconds today."""
    s = quota_status(ctx)
    unlimited = ctx.text("quota.unlimited")
    running = f"{s.running}/{s.max_running or unlimited}"
    queued = f"{s.queued}/{s.max_queued or unlimited}"
    daily = (f"{s.used_seconds}/{s.daily_seconds} s" if s.daily_seconds else f"{s.used_seconds} s ({unlimited})")
    wait = max(int(s.resets_at - ctx.engine.clock()), 0)
    body = ctx.text("quota.body", running=running, queued=queued, daily=daily)
    if s.remaining_seconds is not None:
        body += "\n" + ctx.text("quota.left", left=s.remaining_seconds)
    body += "\n" + ctx.text("quota.resets", hours=wait // 3600, minutes=(wait % 3600) // 60)
    ctx.reply_card(text_card(ctx.text("quota.title"), body),
                   purpose=f"quota-{s.used_seconds}-{s.running}-{s.queued}")


@commands.handler("whoami")
def on_whoami(ctx: ChatContext, command: PlainCommand) -> None:
    """The asker's open_id, this chat's id and type, and their rights: what BOT_ADMINS/BOT_ALLOWLIST take."""
    yes, no = ctx.text("whoami.yes"), ctx.text("whoami.no")
    body = ctx.text("whoami.body", open_id=ctx.user, chat_id=ctx.chat_id, chat_type=ctx.chat_type, lang=ctx.lang,
                    admin=yes if ctx.is_admin else no,
                    allowed=yes if ctx.access.is_allowed(ctx.chat_id, ctx.user) else no)
    ctx.reply_info(ctx.text("whoami.title"), body, purpose="whoami")
