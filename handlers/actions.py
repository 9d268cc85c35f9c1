"""Buttons and commands that act on an existing job: Cancel, Reroll, Extend.

- Cancel works while the job is queued (in our queue, or queued at Ark, where
  DELETE cancels it). A running Ark task cannot be stopped: the card says so,
  and the finished video is not posted.
- Reroll makes the same request again with a new random seed.
- Extend makes a new clip whose first frame is the last frame of the job's
  video (Ark's `last_frame_url`, valid 24 h), optionally with a new prompt.
"""

from __future__ import annotations

import json
import logging

from bot import catalogue
from bot.engine.lifecycle import cancel_at_ark
from bot.engine.live_card import refresh_card, refresh_queued_cards
from bot.i18n import t
from bot.parsing import CancelCommand, ExtendCommand
from bot.parsing.registry import commands
from bot.spec import ImageInput, spec_from_json
from bot.store.jobs import Job, JobState
from bot.store.quotas import CancelOutcome
from handlers import video
from handlers.context import ChatContext

log = logging.getLogger(__name__)

LAST_FRAME_TTL = 86400  # Ark's URLs live 24 h


def cancel(ctx: ChatContext, job: Job) -> None:
    """Cancel, settled atomically against the start: a job whose create has not begun is cancelled
    outright (nothing is created); a queued Ark task is deleted; a running one finishes unposted."""
    engine = ctx.engine
    outcome = engine.budgets.cancel(job, now=engine.clock())
    if outcome == CancelOutcome.TOO_LATE or outcome == CancelOutcome.GONE:
        ctx.reply_code("cancel_too_late", purpose=f"cancel-late-{job.rid}")
        return
    if outcome == CancelOutcome.CANCELLED:
        refresh_card(engine, job.rid, force=True)
        refresh_queued_cards(engine)
        return
    fresh = engine.records.get(job.rid) or job
    if fresh.task_id and cancel_at_ark(engine, fresh):
        return
    # Running at Ark (or its create is under way): it can't be stopped; nothing will be posted.
    extra = fresh.extra_dict()
    extra["card_note"] = t("card.running_cancel_note", fresh.lang)
    engine.records.update(job.rid, extra=json.dumps(extra))
    refresh_card(engine, job.rid, force=True)
    ctx.reply_code("cancel_running", purpose=f"cancel-running-{job.rid}")


def reroll(ctx: ChatContext, job: Job) -> Job | None:
    """The same request again with a new seed (a draft rerolls as a draft)."""
    spec = spec_from_json(job.spec)
    kind = job.kind if job.kind in ("video", "draft", "final") else "video"
    if spec.draft_task_id:
        # A final reuses its draft's seed: rendering the draft again would give the same video.
        # Make the draft's own request at the final's resolution, with a new seed, instead.
        draft = ctx.engine.records.get(job.parent_rid) if job.parent_rid else None
        if draft is None:
            ctx.reply_code("no_job_found", purpose=f"reroll-none-{job.rid}")
            return None
        spec = spec_from_json(draft.spec).replace(draft=None, resolution=spec.resolution)
        kind = "video"
    info = catalogue.get(spec.model or "")
    if info is not None and info.seed:
        spec = spec.replace(seed=-1)
    return video.submit(ctx, rid=video.derived_rid("x", job.rid), kind=kind, spec=spec, parent_rid=job.rid)


def extend(ctx: ChatContext, job: Job, prompt: str | None, changes: dict[str, object] | None = None) -> Job | None:
    """A new clip continuing from the job's last frame."""
    if job.job_state != JobState.DONE or not job.last_frame_url:
        ctx.reply_code("extend_not_ready", purpose=f"extend-wait-{job.rid}")
        return None
    if ctx.engine.clock() - (job.finished_at or 0) > LAST_FRAME_TTL:
        ctx.reply_code("extend_expired", purpose=f"extend-old-{job.rid}")
        return None
    base = spec_from_json(job.spec)
    model = job.model or base.model or ctx.engine.settings.seedance_default_model
    info = catalogue.get(model)
    if info is None or catalogue.Mode.FIRST_FRAME not in info.modes:
        model = ctx.engine.settings.seedance_default_model
    original_prompt = base.prompt or str(job.extra_dict().get("prompt", ""))
    spec = base.replace(
        prompt=prompt or original_prompt, model=model, draft_task_id=None, draft=None,
        images=(ImageInput(job.last_frame_url, "first_frame"),), ratio="adaptive", seed=None,
        videos=(), audios=(),  # a continuation starts from the last frame; references don't carry over
        **{k: v for k, v in (changes or {}).items() if k in ("duration", "resolution", "generate_audio")},
    )
    if ctx.may_act_on(job):
        return video.submit(ctx, rid=video.derived_rid("e", job.rid + (prompt or "")), kind="extend", spec=spec,
                            parent_rid=job.rid)
    return None


def find_job(ctx: ChatContext, target: str | None, reply_to: str | None) -> Job | None:
    """A job by task id (or request id), by the message replied to, or the caller's latest in
    this chat — only among the jobs the caller may see (`ChatContext.may_see`): a stranger's
    task id gets exactly the answer an unknown one gets."""
    records = ctx.engine.records
    job: Job | None = None
    if target:
        rid = records.rid_for_task(target) or target
        job = records.get(rid)
    elif reply_to:
        by_message = records.rid_for_message(reply_to)
        job = records.get(by_message) if by_message else None
    else:
        recent = records.recent(ctx.chat_id, ctx.user, 1)
        job = records.get(recent[0]) if recent else None
    return job if job is not None and ctx.may_see(job) else None


@commands.handler("cancel")
def on_cancel_command(ctx: ChatContext, command: CancelCommand) -> None:
    """/cancel [task]: the asker's latest job, the one replied to, or a task id."""
    job = find_job(ctx, command.target, command.reply_to)
    if job is None:
        ctx.reply_code("no_job_found", purpose="cancel-none")
        return
    if not ctx.may_act_on(job):
        ctx.reply_code("not_your_job", purpose=f"cancel-owner-{job.rid}")
        return
    cancel(ctx, job)


@commands.handler("extend")
def on_extend_command(ctx: ChatContext, command: ExtendCommand) -> None:
    """/extend [prompt] as a reply to a video: continue it from its last frame."""
    job = find_job(ctx, None, command.reply_to)
    if job is None or (job.kind == "draft" and job.job_state != JobState.DONE):
        ctx.reply_code("no_job_found", purpose="extend-none")
        return
    extend(ctx, job, command.prompt, command.changes)
