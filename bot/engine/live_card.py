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
from bot.logs import job_context
from bot.spec import spec_from_json
from bot.store.jobs import Job, JobState, Pool

log = logging.getLogger(__name__)

FIRST_CARD = "card"  # the lease held while a job's first card is being sent
FIRST_CARD_LEASE = 30.0  # service seconds (never under 5 real ones): a reply, with the client's retries
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
    what, fix = error or (job.error_message, job.error_fix)
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
    """Show the job's current state on its live card, within Feishu's limits.

    The first card is a reply, sent at once (the requester's first feedback). After that a
    patch goes out now if the deployment's token bucket allows it (`force` and final states
    may use its reserve), else the card waits in the queue that `flush_cards` drains; patches of
    one card are at least `PATCH_MIN_GAP` apart (Feishu: 5 a second per message). A failed
    update never fails the job. `error`: the (what, fix) a failure card shows.
    """
    job = engine.records.get(rid)
    if job is None:
        return
    if error is not None and error[1] and error[1] != job.error_fix:
        engine.records.update(rid, error_fix=error[1])
    now = engine.clock()
    final = force or job.job_state.terminal
    gap = engine.scaled(PATCH_MIN_GAP, floor=0.25)
    if not job.card_id:
        _send_first_card(engine, job, final=final, gap=gap)
        return
    if now - job.card_patched_at < gap or not engine.cards.take_token(final=final, now=now):
        engine.cards.later(rid, job.card_patched_at + gap, final=final)
        engine.metrics.card_updates.labels("deferred").inc()
        return
    _patch(engine, job, final=final)


def flush_cards(engine: Engine, *, limit: int = 50) -> int:
    """Patch the cards waiting in the queue while tokens allow (finals first). Returns how many.

    A card leaves the queue only with a token in hand: once the bucket is empty the round ends
    and the rest wait in line, so a long queue costs two Redis calls a round, not three per card.
    """
    now = engine.clock()
    done = 0
    for _ in range(limit):
        head = engine.cards.next_due(now)
        if head is None:
            break
        rid, final = head
        if not engine.cards.take_token(final=final, now=now):
            engine.metrics.card_updates.labels("deferred").inc()
            break
        if not engine.cards.take(rid):
            continue  # another process took it (its token is spent: at worst a little slower)
        job = engine.records.get(rid)
        if job is None:
            continue
        if not job.card_id:
            gap = engine.scaled(PATCH_MIN_GAP, floor=0.25)
            if not engine.leases.is_free(FIRST_CARD, rid):  # its first card is on its way: wait for it
                engine.cards.later(rid, now + gap, final=final)
            else:  # its first card failed, or its sender died: send it now, showing the current state
                with job_context(rid=rid, task_id=job.task_id, chat_id=job.chat_id):
                    _send_first_card(engine, job, final=final or job.job_state.terminal, gap=gap)
                done += 1
            continue
        with job_context(rid=rid, task_id=job.task_id, chat_id=job.chat_id):
            _patch(engine, job, final=final or job.job_state.terminal)
        done += 1
    return done


def _send_first_card(engine: Engine, job: Job, *, final: bool, gap: float) -> None:
    """Reply with the job's first card, from one thread of the deployment at a time.

    The request's handler and the job's start (another worker thread, once admission is quick)
    both want to show the job; the reply's uuid keeps Feishu from posting twice, but the second
    call is wasted. So the first card is sent under a short lease: whoever does not get it (or
    finds the card already sent) leaves the newer state to a patch from the card queue.
    """
    lease = engine.leases.take(FIRST_CARD, job.rid, engine.scaled(FIRST_CARD_LEASE, floor=5.0))
    if lease is None:
        engine.cards.later(job.rid, engine.clock() + gap, final=final)
        engine.metrics.card_updates.labels("deferred").inc()
        return
    try:
        current = engine.records.get(job.rid)
        if current is None:
            return
        if current.card_id:  # sent by another thread between our read and the lease
            engine.cards.later(job.rid, engine.clock(), final=final)
            return
        engine.cards.take_token(final=True, now=engine.clock())  # counted, never refused: it is a reply
        view = card_view(engine, current)
        try:
            sent = engine.feishu.reply(current.reply_to, "interactive", job_card(view),
                                       reply_in_thread=bool(current.in_thread), uuid=f"c-{current.rid}"[:50])
        except FeishuError as exc:
            log.warning("card for %s could not be sent: %s (log_id %s)", current.rid, exc.msg, exc.log_id)
            engine.metrics.card_updates.labels("failed").inc()
            if exc.retryable or exc.status == 429 or exc.retry_after:
                # Feishu away or busy: the card queue tries again (the reply's uuid keeps it single).
                if exc.retry_after:
                    engine.cards.pause(exc.retry_after)
                engine.cards.later(current.rid, engine.clock() + max(gap, exc.retry_after or 0.0), final=final)
            return
        engine.metrics.card_updates.labels("sent").inc()
        engine.records.update(current.rid, card_id=sent.message_id, card_patched_at=engine.clock())
        engine.records.index_message(sent.message_id, current.rid)
        engine.records.set_shown_position(current.rid, view.position)
    finally:
        lease.release()


def _patch(engine: Engine, job: Job, *, final: bool) -> None:
    view = card_view(engine, job)
    try:
        engine.feishu.patch_card(job.card_id, job_card(view))
    except FeishuError as exc:
        log.warning("card update for %s failed: %s (log_id %s)", job.rid, exc.msg, exc.log_id)
        if exc.status == 429 or exc.retry_after:
            engine.metrics.card_updates.labels("rate_limited").inc()
            engine.cards.pause(exc.retry_after or 1.0)
            engine.cards.later(job.rid, engine.clock(), final=final)
        else:
            engine.metrics.card_updates.labels("failed").inc()
        return
    engine.metrics.card_updates.labels("patched").inc()
    engine.records.update(job.rid, card_patched_at=engine.clock(), card_updates=job.card_updates + 1)
    engine.records.set_shown_position(job.rid, view.position)


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
                    with job_context(rid=rid):
                        refresh_card(engine, rid)
