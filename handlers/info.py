"""Read-only commands: /status, /list, /models, /help, /quota (cards in the user's language)."""

from __future__ import annotations

from bot import catalogue
from bot.cards import job_card, text_card
from bot.engine.live_card import card_view
from bot.parsing import commands as cmds
from handlers.actions import find_job
from handlers.context import ChatContext
from handlers.video import quota_status

_STATE_WORDS = {
    "queued": ("queued", "排队中"), "starting": ("starting", "提交中"), "submitted": ("generating", "生成中"),
    "finished": ("uploading", "上传中"), "done": ("done", "已完成"), "failed": ("failed", "失败"),
    "cancelled": ("cancelled", "已取消"),
}


def on_status(ctx: ChatContext, command: cmds.StatusCommand) -> None:
    job = find_job(ctx, command.target, command.reply_to)
    if job is None:
        ctx.reply_code("no_job_found", purpose="status-none")
        return
    ctx.reply_card(job_card(card_view(ctx.engine, job)) | {}, purpose=f"status-{job.rid}-{job.state}")


def on_list(ctx: ChatContext) -> None:
    records = ctx.engine.records
    zh = ctx.lang == "zh"
    lines = []
    for rid in records.recent(ctx.chat_id, ctx.user, 10):
        job = records.get(rid)
        if job is None:
            continue
        prompt = str(job.extra_dict().get("prompt") or "") or _prompt(job.spec)
        state = _STATE_WORDS.get(job.state, (job.state, job.state))[1 if zh else 0]
        task = f" `{job.task_id}`" if job.task_id else ""
        lines.append(f"• **{state}** {job.kind}{task} — {prompt[:60]}")
    title = "我的最近任务" if zh else "Your recent jobs"
    body = "\n".join(lines) or ("这里还没有任务。试试 `/video 一只打哈欠的小猫`。" if zh
                                else "No jobs here yet. Try `/video a kitten yawning`.")
    ctx.reply_card(text_card(title, body), purpose=f"list-{len(lines)}")


def _prompt(spec_json: str) -> str:
    from bot.spec import spec_from_json

    return spec_from_json(spec_json).prompt or ""


def models_markdown(lang: str) -> str:
    zh = lang == "zh"
    rows = []
    mode_words = {
        catalogue.Mode.TEXT: ("text", "文生视频"), catalogue.Mode.FIRST_FRAME: ("first frame", "首帧"),
        catalogue.Mode.FIRST_LAST: ("first+last", "首尾帧"), catalogue.Mode.REFERENCE: ("reference", "参考图"),
        catalogue.Mode.DRAFT_FINAL: ("draft→final", "样片→正式"),
    }
    for m in catalogue.MODELS:
        if m.retired:
            continue
        modes = ", ".join(mode_words[x][1 if zh else 0] for x in catalogue.Mode if x in m.modes)
        extras = []
        if m.audio:
            extras.append("声音" if zh else "audio")
        if m.draft:
            extras.append("样片" if zh else "draft")
        if m.flex:
            extras.append("flex")
        alias = next((a for a in m.aliases if "seedance" not in a), m.id)
        rows.append(
            f"**{m.name}** (`--model {alias}`)\n{modes}; {m.allowed_durations_text()} s; "
            f"{'/'.join(m.resolutions)}" + (f"; {', '.join(extras)}" if extras else "")
            + (f"\n≈ {int(m.expected_seconds('720p', 5))} s {'生成 5 秒 720p' if zh else 'for 5 s at 720p'}")
        )
    return "\n\n".join(rows)


def on_models(ctx: ChatContext) -> None:
    title = "可用模型" if ctx.lang == "zh" else "Models"
    ctx.reply_card(text_card(title, models_markdown(ctx.lang)), purpose="models")


def on_help(ctx: ChatContext, command: cmds.HelpCommand) -> None:
    data = cmds.help_data(ctx.lang)
    if command.topic:
        body = cmds.help_text(ctx.lang, command.topic)
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


def on_quota(ctx: ChatContext) -> None:
    s = quota_status(ctx)
    zh = ctx.lang == "zh"
    unlimited = "不限" if zh else "no limit"
    running = f"{s.running}/{s.max_running or unlimited}"
    queued = f"{s.queued}/{s.max_queued or unlimited}"
    daily = (f"{s.used_seconds}/{s.daily_seconds} s" if s.daily_seconds else f"{s.used_seconds} s ({unlimited})")
    left = s.remaining_seconds
    wait = max(int(s.resets_at - ctx.engine.clock()), 0)
    hours, minutes = wait // 3600, (wait % 3600) // 60
    if zh:
        body = f"生成中的任务：**{running}**\n排队中的任务：**{queued}**\n今日已用视频时长：**{daily}**"
        body += f"\n今日剩余：**{left} 秒**" if left is not None else ""
        body += f"\n额度在 UTC 0 点重置（{hours} 小时 {minutes} 分钟后）。失败或取消的任务不计入额度。"
    else:
        body = f"Jobs generating: **{running}**\nJobs waiting: **{queued}**\nVideo seconds today: **{daily}**"
        body += f"\nLeft today: **{left} s**" if left is not None else ""
        body += (f"\nThe budget resets at 00:00 UTC (in {hours} h {minutes} min). "
                 "Failed or cancelled jobs are never charged.")
    ctx.reply_card(text_card("我的额度" if zh else "Your quota", body),
                   purpose=f"quota-{s.used_seconds}-{s.running}-{s.queued}")
