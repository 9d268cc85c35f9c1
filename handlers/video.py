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
from bot.engine import quota
from bot.engine.jobs import Job, JobState, message_rid
from bot.engine.lifecycle import refresh_card
from bot.errors import FeishuError, SpecError
from bot.parsing import commands as cmds
from bot.parsing.events import IncomingMessage, content_image_keys
from bot.spec import VideoSpec, resolve, spec_to_json
from handlers.context import ChatContext

log = logging.getLogger(__name__)


def derived_rid(action: str, parent_rid: str) -> str:
    """A deterministic rid for a job made from another one: pressing twice finds the first."""
    return f"{action}-{hashlib.sha1(parent_rid.encode()).hexdigest()[:20]}"


def on_video(ctx: ChatContext, cmd: cmds.VideoCommand, msg: IncomingMessage) -> None:
    """/video or /draft, with images of this message or, for a reply, of the parent message."""
    rid = message_rid(msg.message_id)
    if ctx.engine.store.get(rid) is not None:
        submit(ctx, rid=rid, kind="draft" if cmd.draft else "video", spec=cmd.spec)
        return
    spec = cmd.spec
    if cmd.use_parent_image and msg.parent_id:
        try:
            parent = ctx.engine.feishu.get_message(msg.parent_id)
        except FeishuError as exc:
            log.info("could not read the replied-to message: %s", exc.msg)
            ctx.reply_code("parent_unreadable", purpose="parent")
            return
        keys = content_image_keys(parent.msg_type, parent.content)
        try:
            spec = cmds.with_images(cmd, keys, message_id=msg.parent_id)
        except SpecError as exc:
            ctx.reply_text(exc.render(ctx.lang), purpose="invalid")
            return
    submit(ctx, rid=rid, kind="draft" if cmd.draft else "video", spec=spec)


SUBMIT_LEASE = 20.0  # far longer than a submission takes (a record, a card, a reaction)
SUBMIT_WAIT = 5.0


class SubmitBusy(RuntimeError):
    """Another worker holds the submission of this rid; the inbox entry is retried later."""


def submit(ctx: ChatContext, *, rid: str, kind: str, spec: VideoSpec, parent_rid: str = "",
           extra: dict[str, Any] | None = None, seconds: int = 0) -> Job | None:
    """Validate, reserve quota, store, enqueue and show the card. Idempotent per rid.

    Two presses of one button arrive as two inbox entries that workers may handle at
    the same time; both derive the same rid. They take turns under a lease per rid:
    the second then finds the first's job and repeats nothing (without the lease it
    could read a half-written record). A holder that crashed mid-way is not trusted to
    have finished: after `SUBMIT_WAIT` the entry fails and is retried once the lease
    has expired, and the retry completes whatever is missing.
    """
    store = ctx.engine.store
    deadline = time.monotonic() + SUBMIT_WAIT
    while not store.take_lease("submit", rid, SUBMIT_LEASE, ctx.engine.node):
        if time.monotonic() >= deadline:
            raise SubmitBusy(f"request {rid} is being submitted by another worker")
        time.sleep(0.05)
    try:
        return _submit(ctx, rid=rid, kind=kind, spec=spec, parent_rid=parent_rid, extra=extra, seconds=seconds)
    finally:
        store.drop_lease("submit", rid)


def _submit(ctx: ChatContext, *, rid: str, kind: str, spec: VideoSpec, parent_rid: str,
            extra: dict[str, Any] | None, seconds: int) -> Job | None:
    store = ctx.engine.store
    existing = store.get(rid)
    if existing is not None:
        # A redelivery: finish whatever the first attempt did not (enqueue, card).
        if existing.job_state.terminal and not existing.card_id:
            return existing
        if existing.job_state == JobState.QUEUED and not existing.task_id:
            store.enqueue(rid, existing.user)
        refresh_card(ctx.engine, rid, force=not existing.card_id)
        return existing
    try:
        spec = resolve(spec, ctx.engine.settings.seedance_default_model)
    except SpecError as exc:
        ctx.reply_text(exc.render(ctx.lang), purpose=f"invalid-{rid}")
        return None
    info = catalogue.get(spec.model or "")
    job = Job(
        rid=rid, kind=kind, chat_id=ctx.chat_id, user=ctx.user, reply_to=ctx.message_id, lang=ctx.lang,
        chat_type=ctx.chat_type, in_thread=int(ctx.in_thread), parent_rid=parent_rid,
        spec=spec_to_json(spec), accepted_at=ctx.engine.clock(), model=spec.model or "",
        resolution=spec.resolution or "", ratio=spec.ratio or "", duration=spec.duration or 0,
        extra=json.dumps(extra or {}),
    )
    # `seconds`: what the video will last when the spec can't say (a final reuses its draft's).
    seconds = seconds or max(spec.duration or 0, 0) or (8 if info else 5)
    if not store.create(job):
        return store.get(rid)
    refusal = quota.reserve(ctx.engine, job, seconds)
    if refusal is not None:
        status = quota.status(ctx.engine, ctx.user)
        # Nothing is made, and nothing is left behind: a kept record would be picked by /status,
        # /list and `/cancel` without an argument (instead of the job holding the slot), and a
        # button pressed again once the quota allows (Approve, Reroll, Extend derive the same
        # rid) would find it and silently do nothing.
        store.discard(job)
        ctx.reply_code(refusal, purpose=f"quota-{rid}", running=status.running, max=status.max_running,
                       used=status.used_seconds, limit=status.daily_seconds)
        return None
    store.enqueue(rid, ctx.user)
    for warning in spec.warnings:
        log.info("request %s: %s", rid, warning)
    if kind in ("video", "draft"):
        try:
            ctx.engine.feishu.add_reaction(ctx.message_id, "OnIt")
        except FeishuError as exc:  # a reaction is a courtesy; never fail the job over it
            log.info("reaction failed: %s", exc.msg)
    refresh_card(ctx.engine, rid, force=True)
    return job
