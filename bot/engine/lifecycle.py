"""A job's way from the fair queue to an Ark task, and how it ends when it fails early.

`admit_and_start` takes queued jobs while fewer than `ARK_MAX_IN_FLIGHT` hold an
Ark slot and starts them: fetch the chat images, check them against the
documented limits, build the body and create the task (crash-safe, see
`bot.engine.creator`). Every step can be replayed: a job that already has a task
is only re-watched, a job that fails posts one explanation (reply `uuid`).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from bot import ark_errors, catalogue, i18n
from bot.cards import CardView, job_card
from bot.engine.context import Engine
from bot.engine.creator import TaskCreator
from bot.engine.jobs import Job, JobState
from bot.errors import ArkAmbiguousError, ArkError, FeishuError, SpecError
from bot.images import inspect_image, to_data_url
from bot.spec import build_create_body, spec_from_json

log = logging.getLogger(__name__)

FEISHU_IMAGE = "feishu-image:"
ADMIT_PAUSE_SECONDS = 5.0  # after a 429 at create, let the service breathe


def creator_for(engine: Engine) -> TaskCreator:
    def list_recent(page: int, size: int) -> list[tuple[str, float]]:
        result = engine.ark.list(page_num=page, page_size=size)
        return [(t.id, float(t.created_at or 0)) for t in result.items]

    return TaskCreator(engine.store, engine.redis, create=engine.ark.create, list_recent=list_recent,
                       request_timeout=engine.settings.ark_timeout, clock=engine.clock)


def admit_and_start(engine: Engine, *, limit: int = 50) -> int:
    """Start queued jobs while slots are free. Returns how many were started."""
    pause_key = f"{engine.settings.redis_prefix}:admit:pause"
    started = 0
    for _ in range(limit):
        if engine.redis.exists(pause_key):
            break
        rid = engine.store.admit(engine.settings.ark_max_in_flight)
        if rid is None:
            break
        start(engine, rid)
        started += 1
    if started:
        refresh_queued_cards(engine)
    return started


def start(engine: Engine, rid: str) -> None:
    """Create the Ark task of an admitted job (or re-watch the one it already has)."""
    store = engine.store
    job = store.get(rid)
    if job is None or job.job_state.terminal:
        store.release(rid)
        return
    if job.task_id:
        engine.emit(store.keys.watch, rid=rid, reason="created")
        return
    if job.cancel_requested:
        cancel_finished(engine, job)
        return
    if not store.take_lease("start", rid, engine.settings.ark_timeout + 60, engine.node):
        return  # another worker is starting it
    try:
        store.set_state(rid, JobState.STARTING, admitted_at=engine.clock())
        body = _build_body(engine, job)
        creator_for(engine).create(job, body)
    except SpecError as exc:
        fail(engine, rid, exc.render(job.lang), "")
        return
    except ArkAmbiguousError as exc:
        # The task may exist: reconcile resolves it (adopt or create) once the lease ends.
        log.warning("ambiguous create for %s: %s", rid, exc)
        return
    except ArkError as exc:
        if exc.retryable:
            log.info("create for %s rejected as busy (%s); back to the queue", rid, exc.code)
            store.release(rid)
            store.set_state(rid, JobState.QUEUED)
            _requeue_front(engine, job)
            engine.redis.set(f"{engine.settings.redis_prefix}:admit:pause", "1",
                             px=int(ADMIT_PAUSE_SECONDS * 1000))
            return
        why = ark_errors.explain(exc.code, job.lang, exc.message)
        fail(engine, rid, why.what, why.fix, code=exc.code)
        return
    except FeishuError as exc:
        key = "image_fetch_failed"
        fail(engine, rid, i18n.t(key, job.lang, detail=exc.msg), "", code="FeishuImage")
        return
    finally:
        store.drop_lease("start", rid)
    engine.emit(store.keys.watch, rid=rid, reason="created")
    refresh_card(engine, rid, force=True)


def _requeue_front(engine: Engine, job: Job) -> None:
    r = engine.redis
    q = engine.store.keys.user_queue(job.user)
    r.lpush(q, job.rid)
    if r.lpos(engine.store.keys.rr, job.user) is None:
        r.lpush(engine.store.keys.rr, job.user)


def _build_body(engine: Engine, job: Job) -> dict[str, Any]:
    """The create body: chat images fetched and checked, callback and last frame requested."""
    spec = spec_from_json(job.spec)
    info = catalogue.get(spec.model or "")
    allow_heic = bool(info and info.series in ("1.5", "2.0"))
    urls: dict[str, str] = {}
    for img in spec.images:
        if img.source.startswith(FEISHU_IMAGE):
            message_id, _, key = img.source[len(FEISHU_IMAGE):].partition("/")
            data = engine.feishu.download_resource(message_id, key, type="image", max_bytes=30 * 1024 * 1024)
            meta = inspect_image(data, allow_heic=allow_heic)
            urls[img.source] = to_data_url(data, meta)
    cb = engine.callback_url()
    changes: dict[str, Any] = {}
    if cb:
        changes["callback_url"] = cb
    if not spec.draft and spec.return_last_frame is None:
        changes["return_last_frame"] = True  # a cover for the video and the start of an Extend
    if changes:
        spec = spec.replace(**changes)
    return build_create_body(spec, urls)


def fail(engine: Engine, rid: str, what: str, fix: str, *, code: str = "") -> None:
    """End a job with one explanation in its thread (idempotent through the reply uuid)."""
    store = engine.store
    job = store.get(rid)
    if job is None:
        return
    store.set_state(rid, JobState.FAILED, error_code=code, error_message=what, finished_at=engine.clock())
    from bot.engine import quota

    quota.release(engine, job)
    if not store.is_sent(rid):
        text = what + (f"\n{fix}" if fix else "")
        try:
            engine.feishu.reply(job.reply_to, "text", {"text": text}, reply_in_thread=bool(job.in_thread),
                                uuid=f"f-{rid}"[:50])
        except FeishuError as exc:
            log.error("could not post failure of %s: %s (log_id %s)", rid, exc.msg, exc.log_id)
            raise
        store.mark_sent(rid, "failed")
    refresh_card(engine, rid, force=True, error=(what, fix))


def cancel_finished(engine: Engine, job: Job) -> None:
    engine.store.set_state(job.rid, JobState.CANCELLED, finished_at=engine.clock())
    from bot.engine import quota

    quota.release(engine, job)
    refresh_card(engine, job.rid, force=True)
    refresh_queued_cards(engine)  # the jobs behind it moved up


def card_view(engine: Engine, job: Job, *, error: tuple[str, str] | None = None) -> CardView:
    spec = spec_from_json(job.spec)
    info = catalogue.get(job.model or spec.model or "")
    extra = job.extra_dict()
    prompt = spec.prompt or str(extra.get("prompt") or "")
    ratio = job.ratio or spec.ratio or ""
    duration = job.duration or spec.duration or 0
    if spec.draft_task_id and job.parent_rid and not (ratio and duration):
        # A final reuses its draft's ratio and duration (ark-api.md §2.2): show them from the start.
        draft = engine.store.get(job.parent_rid)
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
    return CardView(
        rid=job.rid, owner=job.user, lang=job.lang, state=state, kind=job.kind,
        prompt=prompt, model=job.model or spec.model or "",
        resolution=job.resolution or spec.resolution or "", ratio=ratio, duration=duration,
        position=engine.store.queue_position(job.rid, job.user) if job.state == JobState.QUEUED else 0,
        elapsed=(engine.clock() - started) / max(engine.settings.expected_time_factor, 1e-9) if started else 0,
        expected=expected, task_id=job.task_id, seed=job.seed if job.task_id else None, tokens=job.tokens,
        error_what=what if job.state == JobState.FAILED else "",
        error_fix=fix if job.state == JobState.FAILED else "",
        note=str(extra.get("card_note", "")), actions=actions,
    )


PATCH_MIN_GAP = 2.0  # Feishu allows 5 PATCH/s per message; one every 2 s reads as live and stays far below


def refresh_card(engine: Engine, rid: str, *, force: bool = False, error: tuple[str, str] | None = None) -> None:
    """Send or update the job's live card. Throttled; a failure here never fails the job."""
    job = engine.store.get(rid)
    if job is None:
        return
    now = engine.clock()
    if not force and now - job.card_patched_at < PATCH_MIN_GAP:
        return
    view = card_view(engine, job, error=error)
    card = job_card(view)
    try:
        if job.card_id:
            engine.feishu.patch_card(job.card_id, card)
        else:
            sent = engine.feishu.reply(job.reply_to, "interactive", card, reply_in_thread=bool(job.in_thread),
                                       uuid=f"c-{rid}"[:50])
            engine.store.update(rid, card_id=sent.message_id)
            engine.store.index_message(sent.message_id, rid)
        engine.store.update(rid, card_patched_at=now)
        shown = _shown_positions_key(engine)
        if view.position:
            engine.redis.hset(shown, rid, str(view.position))
        else:
            engine.redis.hdel(shown, rid)
    except FeishuError as exc:
        log.warning("card update for %s failed: %s (log_id %s)", rid, exc.msg, exc.log_id)


QUEUE_CARDS_REFRESHED = 10  # the first queued jobs whose card position is kept current


def _shown_positions_key(engine: Engine) -> str:
    """HASH rid → the queue position its card shows (so only cards that changed are patched)."""
    return f"{engine.settings.redis_prefix}:cardpos"


def refresh_queued_cards(engine: Engine, *, limit: int = QUEUE_CARDS_REFRESHED) -> None:
    """After admissions or a cancel, patch the queued cards whose position in the queue changed.

    Nothing else touches a queued card until its job starts, so without this a card would keep
    saying "position 3" while the jobs ahead of it finish. One patch per change of position.
    """
    store = engine.store
    r = engine.redis
    shown = _shown_positions_key(engine)
    looked = 0
    for uid in cast(list[str], r.lrange(store.keys.rr, 0, -1)):
        for rid in cast(list[str], r.lrange(store.keys.user_queue(uid), 0, limit - 1)):
            if looked >= limit:
                return
            looked += 1
            position = store.queue_position(rid, uid)
            if position and str(position) != (r.hget(shown, rid) or ""):
                refresh_card(engine, rid, force=True)
