"""Buttons and commands that act on an existing job: Cancel, Reroll, Extend.

- Cancel works while the job is queued (in our queue, or queued at Ark, where
  DELETE cancels it). A running Ark task cannot be stopped: the card says so,
  and the finished video is not posted.
- Reroll makes the same request again with a new random seed.
- Extend makes a new clip whose first frame is the last frame of the job's
  video (Ark's `last_frame_url`, valid 24 h), optionally with a new prompt.
"""

from __future__ import annotations

import logging

from bot import catalogue
from bot.engine import quota
from bot.engine.jobs import Job, JobState
from bot.engine.lifecycle import cancel_finished, refresh_card
from bot.errors import ArkError
from bot.parsing import commands as cmds
from bot.spec import ImageInput, spec_from_json
from handlers import video
from handlers.context import ChatContext

log = logging.getLogger(__name__)

LAST_FRAME_TTL = 86400  # Ark's URLs live 24 h


def cancel(ctx: ChatContext, job: Job) -> None:
    store = ctx.engine.store
    state = job.job_state
    if state.terminal or state == JobState.FINISHED:
        ctx.reply_code("cancel_too_late", purpose=f"cancel-late-{job.rid}")
        return
    if state == JobState.QUEUED and store.dequeue(job.rid, job.user):
        cancel_finished(ctx.engine, job)
        return
    if job.task_id:
        try:
            task = ctx.engine.ark.get(job.task_id)
            if task.status == "queued":
                ctx.engine.ark.delete(job.task_id)
                store.release(job.rid)
                cancel_finished(ctx.engine, job)
                return
        except ArkError as exc:
            log.info("cancel of %s at Ark failed: %s", job.rid, exc)
    # Running at Ark (or starting): it can't be stopped; make sure nothing is posted.
    store.update(job.rid, cancel_requested=1)
    extra = job.extra_dict()
    from bot.cards import tr

    extra["card_note"] = tr("running_cancel_note", job.lang)
    import json

    store.update(job.rid, extra=json.dumps(extra))
    refresh_card(ctx.engine, job.rid, force=True)
    ctx.reply_code("cancel_running", purpose=f"cancel-running-{job.rid}")


def reroll(ctx: ChatContext, job: Job) -> Job | None:
    """The same request again with a new seed (a draft rerolls as a draft)."""
    spec = spec_from_json(job.spec)
    kind = job.kind if job.kind in ("video", "draft", "final") else "video"
    if spec.draft_task_id:
        # A final reuses its draft's seed: rendering the draft again would give the same video.
        # Make the draft's own request at the final's resolution, with a new seed, instead.
        draft = ctx.engine.store.get(job.parent_rid) if job.parent_rid else None
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
        **{k: v for k, v in (changes or {}).items() if k in ("duration", "resolution", "generate_audio")},
    )
    if quota.is_admin(ctx.engine, ctx.user) or job.user == ctx.user:
        return video.submit(ctx, rid=video.derived_rid("e", job.rid + (prompt or "")), kind="extend", spec=spec,
                            parent_rid=job.rid)
    return None


def find_job(ctx: ChatContext, target: str | None, reply_to: str | None) -> Job | None:
    """A job by task id, by the message replied to, or the caller's latest in this chat."""
    store = ctx.engine.store
    if target:
        rid = store.rid_for_task(target) or (target if store.get(target) else None)
        return store.get(rid) if rid else None
    if reply_to:
        rid = store.rid_for_message(reply_to)
        if rid:
            return store.get(str(rid))
    recent = store.recent(ctx.chat_id, ctx.user, 1)
    return store.get(recent[0]) if recent else None


def on_cancel_command(ctx: ChatContext, command: cmds.CancelCommand) -> None:
    job = find_job(ctx, command.target, command.reply_to)
    if job is None:
        ctx.reply_code("no_job_found", purpose="cancel-none")
        return
    if job.user != ctx.user and not ctx.is_admin:
        ctx.reply_code("not_your_job", purpose=f"cancel-owner-{job.rid}")
        return
    cancel(ctx, job)


def on_extend_command(ctx: ChatContext, command: cmds.ExtendCommand) -> None:
    job = find_job(ctx, None, command.reply_to)
    if job is None or (job.kind == "draft" and job.job_state != JobState.DONE):
        ctx.reply_code("no_job_found", purpose="extend-none")
        return
    extend(ctx, job, command.prompt, command.changes)
