"""The one live card per job: what it shows (`card_view`) and keeping it current in the chat.

A card is patched when what it shows changes in a way a person cares about (a
state change, its place in the queue, the final result); a failed update never
fails the job.
"""

from __future__ import annotations

import logging

from bot import ark_errors, catalogue
from bot.cards import CardView, job_card
from bot.engine.engine import Engine
from bot.errors import FeishuError
from bot.spec import spec_from_json
from bot.store.jobs import Job, JobState, Pool

log = logging.getLogger(__name__)

PATCH_MIN_GAP = 2.0  # Feishu allows 5 PATCH/s per message; one every 2 s reads as live and stays far below
QUEUE_CARDS_REFRESHED = 10  # the first queued jobs of each pool whose card position is kept current


def card_view(engine: Engine, job: Job, *, error: tuple[str, str] | None = None) -> CardView:
    spec = spec_from_json(job.spec)
    info = catalogue.get(job.model or spec.model or "")
    extra = job.extra_dict()
    prompt = spec.prompt or str(extra.get("prompt") or "")
    ratio = job.ratio or spec.ratio or ""
    duration = job.duration or spec.duration or 0
    if spec.draft_task_id and job.parent_rid and not (ratio and duration):
        # A final reuses its draft's ratio and duration (ark-api.md §2.2): show them from the start.
        draft = engine.records.get(job.parent_rid)
        if draft is not None:
            ratio, duration = ratio or draft.ratio, duration or draft.duration
    expected = 0.0
    if info is not None:
        expected = info.expected_seconds(job.resolution or spec.resolution or "720p", duration or 5)
    state = job.state
    actions: list[str] = []
    if state in (JobState.QUEUED, JobState.STARTING, JobState.SUBMITTED):
        actions = [] if job.cancel_requested else ["cancel"]  # already cancelled: the note says why
    elif state == JobState.DONE and job.kind == "draft":
        state = "draft_done"
        actions = ["approve_720p", "approve_1080p", "reroll", "discard"]
    elif state == JobState.DONE:
        actions = ["reroll", "extend"]
    elif state == JobState.FAILED:
        actions = ["reroll"]
    if extra.get("card_state"):
        state = str(extra["card_state"])
        actions = list(extra.get("card_actions", []))
    started = job.running_at or job.submitted_at or job.admitted_at
    what, fix = error or (job.error_message, "")
    if job.state == JobState.FAILED and not fix and job.error_code:
        fix = ark_errors.explain(job.error_code, job.lang, job.error_message).fix
    position = 0
    if job.state == JobState.QUEUED:
        position = engine.queue.queue_position(job.rid, job.user, job.pool or Pool.STANDARD)
    return CardView(
        rid=job.rid, owner=job.user, lang=job.lang, state=state, kind=job.kind,
        prompt=prompt, model=job.model or spec.model or "",
        resolution=job.resolution or spec.resolution or "", ratio=ratio, duration=duration,
        position=position,
        elapsed=(engine.clock() - started) / max(engine.settings.expected_time_factor, 1e-9) if started else 0,
        expected=expected, task_id=job.task_id, seed=job.seed if job.task_id else None, tokens=job.tokens,
        error_what=what if job.state == JobState.FAILED else "",
        error_fix=fix if job.state == JobState.FAILED else "",
        note=str(extra.get("card_note", "")), actions=actions,
    )


def refresh_card(engine: Engine, rid: str, *, force: bool = False, error: tuple[str, str] | None = None) -> None:
    """Send or update the job's live card. Throttled; a failure here never fails the job."""
    job = engine.records.get(rid)
    if job is None:
        return
    now = engine.clock()
    if not force and now - job.card_patched_at < engine.scaled(PATCH_MIN_GAP):
        return
    view = card_view(engine, job, error=error)
    card = job_card(view)
    try:
        if job.card_id:
            engine.feishu.patch_card(job.card_id, card)
        else:
            sent = engine.feishu.reply(job.reply_to, "interactive", card, reply_in_thread=bool(job.in_thread),
                                       uuid=f"c-{rid}"[:50])
            engine.records.update(rid, card_id=sent.message_id)
            engine.records.index_message(sent.message_id, rid)
        engine.records.update(rid, card_patched_at=now)
        engine.records.set_shown_position(rid, view.position)
    except FeishuError as exc:
        log.warning("card update for %s failed: %s (log_id %s)", rid, exc.msg, exc.log_id)


def refresh_queued_cards(engine: Engine, *, limit: int = QUEUE_CARDS_REFRESHED) -> None:
    """After admissions or a cancel, patch the queued cards whose position in the queue changed.

    Nothing else touches a queued card until its job starts, so without this a card would keep
    saying "position 3" while the jobs ahead of it finish. One patch per change of position.
    """
    for pool in Pool:
        looked = 0
        for uid in engine.queue.queued_users(pool):
            for rid in engine.queue.queued_of(pool, uid, limit):
                if looked >= limit:
                    break
                looked += 1
                position = engine.queue.queue_position(rid, uid, pool)
                if position and str(position) != engine.records.shown_position(rid):
                    refresh_card(engine, rid, force=True)
