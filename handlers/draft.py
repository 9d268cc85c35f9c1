"""Draft, then approve: a cheap 480p draft, and the final rendered from it (`draft_task`).

Approve is a button on the draft's card (or `/approve [720p|1080p]` replying to
the draft). The final reuses the draft's prompt, images, seed and audio at the
service (ark-api.md §2.2), so its spec is just the draft task id and a
resolution. One final per draft and resolution: its rid is derived from the
draft's, so a second press finds the first job and does nothing twice.
"""

from __future__ import annotations

import json
import logging

from bot.engine.live_card import refresh_card
from bot.i18n import t
from bot.parsing import APPROVE_RESOLUTIONS, ApproveCommand
from bot.parsing.registry import commands
from bot.spec import VideoSpec, spec_from_json
from bot.store.jobs import Job, JobState
from handlers import video
from handlers.context import ChatContext

log = logging.getLogger(__name__)

DRAFT_KEPT_SECONDS = 7 * 86400  # Ark keeps task history (and so drafts) for 7 days


def _card_state(ctx: ChatContext, job: Job, state: str, actions: list[str], note: str = "") -> None:
    extra = job.extra_dict()
    extra.update({"card_state": state, "card_actions": actions, "card_note": note})
    ctx.engine.records.update(job.rid, extra=json.dumps(extra))
    refresh_card(ctx.engine, job.rid, force=True)


def approve(ctx: ChatContext, draft: Job, resolution: str) -> Job | None:
    if draft.kind != "draft" or draft.job_state != JobState.DONE or not draft.task_id:
        ctx.reply_code("approve_not_ready", purpose=f"approve-wait-{draft.rid}")
        return None
    if ctx.engine.clock() - (draft.finished_at or draft.accepted_at) > DRAFT_KEPT_SECONDS:
        _card_state(ctx, draft, "expired_draft", ["redo"])
        ctx.reply_code("draft_expired", purpose=f"draft-expired-{draft.rid}")
        return None
    spec = VideoSpec(model=spec_from_json(draft.spec).model, draft_task_id=draft.task_id,
                     resolution=resolution)
    rid = video.derived_rid(f"a{resolution}", draft.rid)
    job = video.submit(ctx, rid=rid, kind="final", spec=spec, parent_rid=draft.rid,
                       extra={"prompt": spec_from_json(draft.spec).prompt or ""},
                       seconds=max(draft.duration, 0))
    if job is not None:
        # Offer only the resolutions not approved yet (an earlier approval keeps its final).
        remaining = [f"approve_{res}" for res in APPROVE_RESOLUTIONS
                     if res != resolution and ctx.engine.records.get(video.derived_rid(f"a{res}", draft.rid)) is None]
        note = ctx.engine.records.get(draft.rid)
        if note is not None:
            _card_state(ctx, note, "draft_done", [*remaining, "reroll"],
                        note=t("draft.approved_note", ctx.lang, resolution=resolution))
    return job


def discard(ctx: ChatContext, draft: Job) -> None:
    _card_state(ctx, draft, "discarded", [])


def redo(ctx: ChatContext, draft: Job) -> None:
    """Make the expired draft again, from its own request."""
    spec = spec_from_json(draft.spec)
    video.submit(ctx, rid=video.derived_rid("redo", draft.rid), kind="draft", spec=spec, parent_rid=draft.rid)


@commands.handler("approve")
def on_approve_command(ctx: ChatContext, command: ApproveCommand) -> None:
    """`/approve [720p|1080p]` as a reply to the draft video or its card (else the latest draft)."""
    draft = _find_draft(ctx, command.reply_to)
    if draft is None:
        ctx.reply_code("approve_no_draft", purpose="approve-none")
        return
    if not ctx.may_act_on(draft):
        ctx.reply_code("not_your_job", purpose=f"approve-owner-{draft.rid}")
        return
    approve(ctx, draft, command.resolution)


def _find_draft(ctx: ChatContext, reply_to: str | None) -> Job | None:
    records = ctx.engine.records
    if reply_to:
        rid = records.rid_for_message(reply_to)
        if rid:
            job = records.get(str(rid))
            if job is not None and job.kind == "draft" and ctx.may_see(job):
                return job
    for rid in records.recent(ctx.chat_id, ctx.user, 20):
        job = records.get(rid)
        if job is not None and job.kind == "draft" and job.job_state == JobState.DONE:
            return job
    return None
