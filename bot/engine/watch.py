"""Watching Ark tasks: the scheduled checks that APScheduler runs in the one active scheduler.

Each in-flight job has at most one APScheduler `date` job with id `check:{rid}`.
`check_task` does one GET; a terminal status hands the job to delivery through
the `deliver` stream, anything else schedules the next look (`PollPolicy`).
A callback from Ark only moves the next look to "now": nothing acts on a
callback body. `reconcile` re-creates missing watch jobs from Redis state after
restarts and restarts jobs whose start was interrupted.

Functions here are module-level and take only a rid, because APScheduler's
Redis job store pickles a textual reference and the arguments.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import catalogue
from bot.engine.context import Engine, current
from bot.engine.jobs import JobState
from bot.errors import ArkError
from bot.spec import spec_from_json

log = logging.getLogger(__name__)

TERMINAL = ("succeeded", "failed", "expired", "cancelled")
CHECK_FUNC = "bot.engine.watch:check_task"


def check_id(rid: str) -> str:
    return f"check:{rid}"


def expected_seconds(engine: Engine, rid: str) -> float:
    job = engine.store.get(rid)
    if job is None:
        return 60.0
    spec = spec_from_json(job.spec)
    info = catalogue.get(spec.model or "")
    if info is None:
        return 90.0
    return info.expected_seconds(spec.resolution or "720p", spec.duration or 5)


def schedule_check(scheduler: Any, rid: str, delay: float) -> None:
    """(Re)place the single pending check of `rid`, `delay` seconds from now."""
    run_at = datetime.now(UTC) + timedelta(seconds=max(delay, 0.0))
    scheduler.add_job(CHECK_FUNC, trigger="date", run_date=run_at, id=check_id(rid), args=[rid],
                      replace_existing=True, misfire_grace_time=None, coalesce=True)


def on_watch_entry(engine: Engine, scheduler: Any, rid: str, reason: str, status: str = "") -> None:
    """A hint from the worker (task created) or from Ark (callback): plan the next look."""
    job = engine.store.get(rid)
    if job is None or job.job_state.terminal or not job.task_id:
        return
    if reason == "callback":
        if status not in ("queued", "running"):
            schedule_check(scheduler, rid, 0)
            return
        if scheduler.get_job(check_id(rid)) is not None:
            # Ark claims nothing has ended: the planned (safety) look stands. Looking now would
            # cost a GET per status change and learn nothing (bench/detection.py).
            return
        # Not planned yet (the callback beat the worker's "created" hint): plan the first look.
    expected = expected_seconds(engine, rid)
    elapsed = engine.clock() - (job.submitted_at or engine.clock())
    schedule_check(scheduler, rid, engine.policy.first_delay(expected) - elapsed)


def check_task(rid: str) -> None:
    """One look at the Ark task of `rid` (scheduled by APScheduler)."""
    engine = current()
    from bot.engine.scheduler import active_scheduler

    scheduler = active_scheduler()
    store = engine.store
    job = store.get(rid)
    if job is None or job.job_state.terminal or job.job_state == JobState.FINISHED or not job.task_id:
        return
    try:
        task = engine.ark.get(job.task_id)
    except ArkError as exc:
        if exc.status == 404:
            # The task is gone at Ark (deleted, or purged after 7 days): end the job plainly.
            store.set_state(rid, JobState.FINISHED, task_status="missing", finished_at=engine.clock())
            engine.emit(store.keys.deliver, rid=rid)
            return
        log.warning("check of %s failed (%s); retrying soon", rid, exc)
        if scheduler is not None:
            schedule_check(scheduler, rid, 5 * engine.settings.expected_time_factor)
        return
    now = engine.clock()
    if task.status in TERMINAL:
        store.set_state(rid, JobState.FINISHED, task_status=task.status, finished_at=now)
        store.release(rid)
        engine.emit(store.keys.deliver, rid=rid)
        engine.emit(store.keys.inbox, kind="admit", payload="{}")
        log.info("task %s of %s ended %s", job.task_id, rid, task.status)
        return
    fields: dict[str, Any] = {"task_status": task.status, "looked_at": now}
    if task.status == "running" and not job.running_at:
        # Ark does not say when a task started running, only that it was not running at our
        # previous look (or before submission): date the start there. Dating it `now` made the
        # next look wait a whole expected time more (bench/detection.py: ~5x the expected delay).
        job.running_at = job.looked_at or job.submitted_at or now
        fields["running_at"] = job.running_at
    looks = int(job.extra_dict().get("looks_after", 0))
    expected = expected_seconds(engine, rid) * engine.settings.expected_time_factor
    running_for = (now - job.running_at) if job.running_at else None
    if running_for is not None and running_for >= expected:
        looks += 1
        extra = job.extra_dict()
        extra["looks_after"] = looks
        fields["extra"] = _json(extra)
    store.update(rid, **fields)
    deadline = job.submitted_at + _expires_after(job)
    if now > deadline + 60 * engine.settings.expected_time_factor:
        # Ark should have expired it by now; stop waiting and say so.
        store.set_state(rid, JobState.FINISHED, task_status="expired", finished_at=now)
        store.release(rid)
        engine.emit(store.keys.deliver, rid=rid)
        return
    delay = engine.policy.next_delay(status=task.status, expected=expected_seconds(engine, rid),
                                     running_for=running_for, looks_after=looks)
    if scheduler is not None:
        schedule_check(scheduler, rid, delay)
    from bot.engine.lifecycle import refresh_card

    refresh_card(engine, rid)


def _expires_after(job: Any) -> float:
    spec = spec_from_json(job.spec)
    return float(spec.execution_expires_after or 172800)


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data)


STARTING_STALE = 90.0  # a start that has not bound a task after this long was interrupted


def reconcile() -> None:
    """Re-create what a crash or restart lost: watch jobs, deliveries, interrupted starts."""
    engine = current()
    from bot.engine.scheduler import active_scheduler

    scheduler = active_scheduler()
    store = engine.store
    now = engine.clock()
    for rid in store.active_rids():
        job = store.get(rid)
        if job is None:
            store.r.zrem(store.keys.active, rid)
            continue
        state = job.job_state
        if state == JobState.SUBMITTED and scheduler is not None and job.task_id:
            if scheduler.get_job(check_id(rid)) is None:
                log.info("reconcile: re-creating the watch of %s", rid)
                on_watch_entry(engine, scheduler, rid, "reconcile")
        elif state == JobState.FINISHED and not store.is_sent(rid):
            if now - job.finished_at > 600 * engine.settings.expected_time_factor:
                engine.emit(store.keys.deliver, rid=rid)  # delivery entry lost or stuck
        elif state == JobState.QUEUED:
            admitted = store.r.zscore(store.keys.inflight, rid)
            if admitted is not None and now - float(admitted) > STARTING_STALE * max(
                engine.settings.expected_time_factor, 0.05
            ):
                log.info("reconcile: restarting %s, admitted but never started", rid)
                engine.emit(store.keys.inbox, kind="start", payload=_json({"rid": rid}))
        elif state == JobState.STARTING and now - (job.admitted_at or now) > STARTING_STALE * max(
            engine.settings.expected_time_factor, 0.05
        ) and not store.r.exists(store.keys.lease("start", rid)):
            log.info("reconcile: restarting interrupted start of %s", rid)
            engine.emit(store.keys.inbox, kind="start", payload=_json({"rid": rid}))
    engine.emit(store.keys.inbox, kind="admit", payload="{}")
