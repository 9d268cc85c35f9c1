"""Looking at Ark tasks: one tick takes every task due for a look and asks Ark about all of them.

The next-look times live in a Redis sorted set (`bot.store.polls`); the one
active scheduler runs `tick` on an interval. A tick reads the due rids, asks
Ark with `list` + `filter.task_ids` (up to a page of 500 per call; a task
missing from the answer falls back to a GET), and for each task either hands
the job to delivery with the task object that saw it end (no second read) or
plans its next look with the adaptive `PollPolicy`. A callback from Ark only
pulls a look forward; nothing acts on a callback body. The tick also moves
delayed retries (`later`) into their streams.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot import metrics
from bot.clients.ark import Task
from bot.engine.engine import Engine
from bot.engine.fingerprint import Fingerprint
from bot.engine.lifecycle import expected_seconds
from bot.engine.live_card import refresh_card
from bot.errors import ArkError
from bot.logs import job_context, log_scope
from bot.spec import spec_from_json
from bot.store.jobs import Job, JobState

log = logging.getLogger(__name__)

BATCH = 500  # Ark's largest page
RETRY_LOOK = 5.0  # service seconds before looking again when Ark could not answer
PROGRESS_EVERY = 30.0  # service seconds between progress updates of a generating job's card


def tick(engine: Engine) -> int:
    """One round of looks. Returns how many tasks were looked at."""
    with log_scope():  # APScheduler's threads are reused: no ids of a previous round
        return _tick(engine)


def _tick(engine: Engine) -> int:
    now = engine.clock()
    engine.polls.move_due(now)
    due = engine.polls.due(now, BATCH)
    if not due:
        return 0
    jobs: list[Job] = []
    for rid in due:
        job = engine.records.get(rid)
        if job is None or not job.task_id or job.job_state != JobState.SUBMITTED:
            engine.polls.drop(rid)
            continue
        jobs.append(job)
    if not jobs:
        return 0
    answers = _ask(engine, [j.task_id for j in jobs])
    if answers is None:
        for job in jobs:
            engine.polls.plan(job.rid, engine.clock() + engine.scaled(RETRY_LOOK))
        return 0
    for job in jobs:
        with job_context(rid=job.rid, task_id=job.task_id, chat_id=job.chat_id):
            _look(engine, job, answers.get(job.task_id))
    return len(jobs)


def _look(engine: Engine, job: Job, task: Task | None) -> None:
    """What the tick learnt about one job's task (`task`: from the batched list, if it was there)."""
    try:
        if task is None:
            task = engine.ark.get(job.task_id, retries=1)
    except ArkError as exc:
        if exc.status == 404:
            # The task is gone at Ark (deleted, or purged after 7 days): end the job plainly.
            _ended(engine, job, None, status="missing")
        else:
            log.warning("look at %s failed (%s); again soon", job.rid, exc)
            engine.polls.plan(job.rid, engine.clock() + engine.scaled(RETRY_LOOK))
        return
    seen(engine, job, task)


def _ask(engine: Engine, task_ids: list[str]) -> dict[str, Task] | None:
    """The tasks by id, from as few `list` calls as possible; None if Ark could not answer."""
    out: dict[str, Task] = {}
    for i in range(0, len(task_ids), BATCH):
        chunk = task_ids[i:i + BATCH]
        try:
            page = engine.ark.list(page_num=1, page_size=len(chunk), task_ids=chunk, retries=1)
        except ArkError as exc:
            log.warning("batched look at %d task(s) failed: %s", len(chunk), exc)
            return None
        wanted = set(chunk)
        out.update({t.id: t for t in page.items if t.id in wanted})
    return out


def seen(engine: Engine, job: Job, task: Task) -> None:
    """What one look saw: hand an ended task to delivery, else plan the next look."""
    now = engine.clock()
    if task.is_terminal:
        _ended(engine, job, task, status=task.status)
        return
    fields: dict[str, Any] = {"task_status": task.status, "looked_at": now}
    state_changed = task.status != job.task_status
    if task.status == "running" and not job.running_at:
        # Ark does not say when a task started running, only that it was not running at our
        # previous look (or before submission): date the start there.
        job.running_at = job.looked_at or job.submitted_at or now
        fields["running_at"] = job.running_at
    expected = expected_seconds(job)
    running_for = (now - job.running_at) if job.running_at else None
    looks = job.looks
    if running_for is not None and running_for >= expected * engine.settings.expected_time_factor:
        looks += 1
        fields["looks"] = looks
    engine.records.update(job.rid, **fields)
    deadline = job.submitted_at + _expires_after(engine, job)
    if now > deadline + engine.scaled(60.0):
        # Ark should have expired it by now; stop waiting and say so.
        _ended(engine, job, None, status="expired")
        return
    delay = engine.policy.next_delay(status=task.status, expected=expected, running_for=running_for,
                                     looks_after=looks)
    engine.polls.plan(job.rid, now + delay)
    if state_changed or now - job.card_patched_at >= engine.scaled(PROGRESS_EVERY):
        refresh_card(engine, job.rid)  # a state a person cares about, or a progress step


def _ended(engine: Engine, job: Job, task: Task | None, *, status: str) -> None:
    now = engine.clock()
    if task is not None and task.updated_at:
        # How long the task had been over when we saw it (Ark's clock, in whole seconds).
        metrics.observe_seconds(engine.metrics.detection_delay, now - task.updated_at)
    engine.records.set_state(job.rid, JobState.FINISHED, task_status=status, finished_at=now, tries=0)
    engine.queue.release_slot(job.rid)
    engine.polls.drop(job.rid)
    snapshot = json.dumps(dict(task.raw)) if task is not None and task.raw else ""
    engine.emit(engine.keys.deliver, rid=job.rid, task=snapshot)
    engine.emit(engine.keys.inbox, kind="admit", payload="{}")
    log.info("task %s of %s ended %s", job.task_id, job.rid, status)


def _expires_after(engine: Engine, job: Job) -> float:
    """The `execution_expires_after` the task was created with."""
    fp = Fingerprint.from_json(job.attempt) if job.attempt else None
    if fp is not None:
        return float(fp.expires)
    spec = spec_from_json(job.spec)
    return float(spec.execution_expires_after or engine.settings.seedance_default_expires)


def on_hint(engine: Engine, rid: str, status: str) -> None:
    """A callback said the task of `rid` changed: look at it now if it may have ended."""
    with job_context(rid=rid):
        _on_hint(engine, rid, status)


def _on_hint(engine: Engine, rid: str, status: str) -> None:
    job = engine.records.get(rid)
    if job is None or job.job_state != JobState.SUBMITTED:
        return
    if status in ("queued", "running"):
        return  # the planned look stands: looking now would cost a call and learn nothing
    engine.polls.pull_forward(rid, engine.clock())
