"""/video and /draft (also a photo with a caption): accept a request into the fair queue.

Accepting means: the request passed every local check (catalogue, images known),
the user's quota was reserved, a job record exists under a rid derived from the
message id (so a redelivered event finds it and repeats nothing), and the live
job card is in the thread. Creating the Ark task happens at admission
(`bot.engine.lifecycle`), never here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from bot import catalogue
from bot.engine.live_card import refresh_card
from bot.errors import Busy, FeishuError, SpecError
from bot.logs import bind_job, rebind_job
from bot.parsing import VideoCommand, with_images
from bot.parsing.events import content_attachments, content_image_keys
from bot.parsing.registry import commands
from bot.spec import VideoSpec, resolve, spec_to_json
from bot.store.jobs import Job, JobState, Pool, message_rid
from bot.store.quotas import Acceptance, QuotaStatus
from handlers.context import ChatContext

log = logging.getLogger(__name__)

DEFAULT_SECONDS = 5  # Ark's default duration


def derived_rid(action: str, parent_rid: str) -> str:
    """A deterministic rid for a job made from another one: pressing twice finds the first."""
    return f"{action}-{hashlib.sha1(parent_rid.encode()).hexdigest()[:20]}"


@commands.handler("video", "draft")
def on_video(ctx: ChatContext, cmd: VideoCommand) -> None:
    """/video or /draft, with images of this message or, for a reply, of the parent message
    (with --ref also the parent's videos and voice messages)."""
    rid = message_rid(cmd.message_id)
    if ctx.engine.records.get(rid) is not None:
        submit(ctx, rid=rid, kind="draft" if cmd.draft else "video", spec=cmd.spec)
        return
    spec = cmd.spec
    if (cmd.use_parent_image or cmd.use_parent_media) and cmd.parent_id:
        try:
            parent = ctx.engine.feishu.get_message(cmd.parent_id)
        except FeishuError as exc:
            log.info("could not read the replied-to message: %s", exc.msg)
            ctx.reply_code("parent_unreadable", purpose="parent")
            return
        if parent.chat_id != ctx.chat_id:
            # Feishu never sends a reply to another chat's message; a forged event might. The bot
            # can read every chat it is in: never let one chat's photos into another's video.
            log.warning("request %s replies to a message of another chat; its images are not used", rid)
            ctx.reply_code("parent_unreadable", purpose="parent")
            return
        if cmd.use_parent_image:
            keys, keys_of = content_image_keys(parent.msg_type, parent.content), cmd.parent_id
        else:
            keys, keys_of = list(cmd.image_keys), cmd.message_id
        media = content_attachments(parent.msg_type, parent.content) if cmd.use_parent_media else []
        try:
            spec = with_images(cmd, keys, message_id=keys_of, parent_attachments=media)
        except SpecError as exc:
            ctx.reply_text(exc.render(ctx.lang), purpose="invalid")
            return
    submit(ctx, rid=rid, kind="draft" if cmd.draft else "video", spec=spec)


SUBMIT_LEASE = 20.0  # far longer than a submission takes (a record, a card, a reaction)
SUBMIT_WAIT = 5.0


class SubmitBusy(Busy):
    """Another worker holds the submission of this rid; the inbox entry is retried later."""


def submit(ctx: ChatContext, *, rid: str, kind: str, spec: VideoSpec, parent_rid: str = "",
           extra: dict[str, Any] | None = None, seconds: int = 0) -> Job | None:
    """Validate, reserve budget, store, enqueue and show the card. Idempotent per rid.

    Two presses of one button arrive as two inbox entries that workers may handle at
    the same time; both derive the same rid. They take turns under a lease per rid:
    the second then finds the first's job and repeats nothing. A holder that crashed
    mid-way is not trusted to have finished: after `SUBMIT_WAIT` the entry fails and is
    retried, and the retry completes whatever is missing.
    """
    leases = ctx.engine.leases
    deadline = time.monotonic() + SUBMIT_WAIT
    while (lease := leases.take("submit", rid, SUBMIT_LEASE)) is None:
        if time.monotonic() >= deadline:
            raise SubmitBusy(f"request {rid} is being submitted by another worker")
        time.sleep(0.05)
    try:
        return _submit(ctx, rid=rid, kind=kind, spec=spec, parent_rid=parent_rid, extra=extra, seconds=seconds)
    finally:
        lease.release()


def budget_seconds(spec: VideoSpec) -> int:
    """Seconds of video a request may make: its duration, or the model's longest for "auto"."""
    if spec.duration and spec.duration > 0:
        return spec.duration
    info = catalogue.get(spec.model or "")
    if info is not None and spec.duration == -1:
        return max(info.durations)
    return DEFAULT_SECONDS


def pool_for(ctx: ChatContext, spec: VideoSpec) -> Pool:
    """Jobs that may sit at Ark for hours (flex tier, a long --expires) hold slots of their own."""
    expires = spec.execution_expires_after or 0
    if spec.service_tier == "flex" or expires > ctx.engine.settings.seedance_default_expires:
        return Pool.SLOW
    return Pool.STANDARD


def _submit(ctx: ChatContext, *, rid: str, kind: str, spec: VideoSpec, parent_rid: str,
            extra: dict[str, Any] | None, seconds: int) -> Job | None:
    engine = ctx.engine
    rebind_job(rid=rid, chat_id=ctx.chat_id)  # this request's log lines (a button's job's before)
    existing = engine.records.get(rid)
    if existing is not None:
        bind_job(task_id=existing.task_id)
        # A redelivery: finish whatever the first attempt did not (enqueue, card).
        if existing.job_state.terminal and not existing.card_id:
            return existing
        if existing.job_state == JobState.QUEUED:
            engine.queue.enqueue(rid, existing.user, existing.pool)
        refresh_card(engine, rid, force=not existing.card_id)
        return existing
    try:
        spec = resolve(spec, engine.settings.seedance_default_model)
    except SpecError as exc:
        ctx.reply_text(exc.render(ctx.lang), purpose=f"invalid-{rid}")
        return None
    if spec.media and not engine.settings.bot_public_url:
        # Ark fetches reference videos/audios by URL (no data: URLs for video): without a public
        # address there is nothing to give it. Say so now; nothing is created or reserved.
        ctx.reply_code("media_needs_public_url", purpose=f"public-url-{rid}")
        return None
    if engine.redis_nearly_full():
        engine.metrics.quota_refusals.labels(Acceptance.FULL).inc()
        ctx.reply_code("busy_full", purpose=f"full-{rid}")
        return None
    job = Job(
        rid=rid, kind=kind, chat_id=ctx.chat_id, user=ctx.user, reply_to=ctx.message_id, lang=ctx.lang,
        chat_type=ctx.chat_type, in_thread=int(ctx.in_thread), parent_rid=parent_rid,
        spec=spec_to_json(spec), accepted_at=engine.clock(), model=spec.model or "",
        resolution=spec.resolution or "", ratio=spec.ratio or "", duration=spec.duration or 0,
        pool=pool_for(ctx, spec), extra=json.dumps(extra or {}),
    )
    # `seconds`: what the video will last when the spec can't say (a final reuses its draft's).
    need = seconds or budget_seconds(spec)
    outcome = engine.budgets.accept(job, need, engine.limits_for(ctx.user), now=engine.clock())
    if outcome == Acceptance.EXISTS:
        return engine.records.get(rid)
    if outcome != Acceptance.OK:
        # Nothing is made and nothing is left behind: the next press (once the budget allows)
        # derives the same rid and starts afresh.
        refuse(ctx, outcome, need=need, purpose=f"quota-{rid}")
        return None
    for warning in spec.warnings:
        log.info("request %s: %s", rid, warning)
    if kind in ("video", "draft"):
        try:
            engine.feishu.add_reaction(ctx.message_id, "OnIt")
        except FeishuError as exc:  # a reaction is a courtesy; never fail the job over it
            log.info("reaction failed: %s", exc.msg)
    refresh_card(engine, rid, force=True)
    return job


def refuse(ctx: ChatContext, outcome: Acceptance, *, need: int, purpose: str) -> None:
    """Say which limit refused the request, what was used, and when it resets."""
    engine = ctx.engine
    engine.metrics.quota_refusals.labels(outcome).inc()
    s = engine.settings
    now = engine.clock()
    if outcome == Acceptance.FULL:
        ctx.reply_code("busy_full", purpose=purpose)
        return
    status = quota_status(ctx)
    left = max(int(status.resets_at - now), 0)
    when = {"hours": left // 3600, "minutes": (left % 3600) // 60}
    if outcome == Acceptance.QUEUE_FULL:
        ctx.reply_code("quota_queue_full", purpose=purpose, running=status.running, queued=status.queued,
                       max_running=s.user_max_jobs, max_queued=s.user_max_queued)
    elif outcome == Acceptance.QUOTA_DAILY:
        ctx.reply_code("quota_daily", purpose=purpose, used=status.used_seconds, limit=status.daily_seconds,
                       need=need, **when)
    else:
        ctx.reply_code("quota_total", purpose=purpose, used=engine.budgets.spent_today(now=now),
                       limit=s.daily_seconds, need=need, **when)


def quota_status(ctx: ChatContext) -> QuotaStatus:
    engine = ctx.engine
    s = engine.settings
    queued = [rid for pool in Pool for rid in engine.queue.queued_of(pool, ctx.user, 1000)]
    return engine.budgets.status(ctx.user, now=engine.clock(), max_running=s.user_max_jobs,
                                 max_queued=s.user_max_queued, daily=s.user_daily_seconds, queue=queued)
