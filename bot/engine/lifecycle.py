"""A job's way from the fair queue to an Ark task, and how it ends when it cannot go on.

`admit_and_start` takes queued jobs while their pool has a free Ark slot and
starts them: fetch the chat images, check them against the documented limits,
build the body and create the task (exactly once, see `bot.engine.creator`).
Every step can be replayed. Whatever goes wrong ends in one of three ways:
the step is tried again later with backoff (a failure that passes), the job
goes back to the queue (the service said "busy"), or the job ends with one
plain-language message in its thread, its slot and its budget given back.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot import ark_errors, catalogue, i18n, metrics
from bot.engine import references
from bot.engine.creator import Outcome, TaskCreator
from bot.engine.engine import Engine
from bot.engine.live_card import refresh_card, refresh_queued_cards
from bot.errors import ArkError, DownloadError, FeishuError, SpecError
from bot.images import inspect_image, to_data_url
from bot.logs import bind_job, job_context
from bot.retry import STEP_RETRY, is_transient
from bot.spec import build_create_body, spec_from_json
from bot.store.connection import Unavailable
from bot.store.jobs import Job, JobState, Pool

log = logging.getLogger(__name__)

FEISHU_IMAGE = "feishu-image:"
ADMIT_PAUSE_SECONDS = 5.0  # after a 429 at create, let the service breathe
START_LEASE_MARGIN = 20.0  # service seconds the start lease outlives the create call by (5 at least)
RESOLVE_AGAIN = 15.0  # service seconds before looking again at an attempt that can't be told yet
MAX_IMAGE_BYTES = 30 * 1024 * 1024


def admit_and_start(engine: Engine, *, limit: int = 50) -> int:
    """Start queued jobs while slots are free (standard pool first). Returns how many started."""
    s = engine.settings
    started = 0
    for pool in Pool:
        while started < limit and not engine.queue.admissions_paused():
            rid = engine.queue.admit(pool, engine.cap(pool), user_cap=s.user_max_jobs, admins=s.admin_ids)
            if rid is None:
                break
            with job_context(rid=rid):
                start(engine, rid, admitted=True)
            started += 1
    if started:
        refresh_queued_cards(engine)
    return started


def start(engine: Engine, rid: str, *, admitted: bool = False) -> None:
    """Create the Ark task of an admitted job (or resolve, or re-watch the one it already has).

    `admitted`: the job was just taken from the queue (its wait is measured once per admission)."""
    job = engine.records.get(rid)
    if job is None or job.job_state.terminal:
        engine.queue.release_slot(rid)
        return
    bind_job(rid=rid, task_id=job.task_id, chat_id=job.chat_id)
    if admitted and job.accepted_at:
        waited = engine.clock() - job.accepted_at
        metrics.observe_seconds(engine.metrics.queue_wait.labels(job.pool or Pool.STANDARD), waited)
    if job.task_id:
        watch(engine, job)
        return
    if job.job_state != JobState.STARTING:
        return
    ttl = engine.settings.ark_timeout + engine.scaled(START_LEASE_MARGIN, floor=5.0)
    lease = engine.leases.take("start", rid, ttl)
    if lease is None:
        return  # another worker is starting it
    try:
        with lease.kept():
            result = TaskCreator(engine).run(job, lease, lambda: build_body(engine, job))
    except Unavailable:
        raise  # Redis is away, not the job at fault: the entry is redone later
    except Exception as exc:
        _start_failed(engine, job, exc)
        return
    finally:
        lease.release()
    if result.outcome == Outcome.WAIT:
        retry_at(engine, job, "start", engine.scaled(RESOLVE_AGAIN, floor=0.5))
    elif result.outcome == Outcome.CANCELLED:
        cancel_finished(engine, job)
    elif result.outcome in (Outcome.CREATED, Outcome.ADOPTED, Outcome.BOUND):
        engine.records.update(rid, tries=0)
        bound = engine.records.get(rid)
        if bound is not None:
            bind_job(task_id=bound.task_id)
            watch(engine, bound)
            if bound.cancel_requested:
                cancel_at_ark(engine, bound)
        refresh_card(engine, rid, force=True)


def _start_failed(engine: Engine, job: Job, exc: Exception) -> None:
    """End, requeue or retry a start that raised (see the module docstring)."""
    rid = job.rid
    if isinstance(exc, SpecError):
        fail(engine, rid, exc.render(job.lang), "", code="invalid_input")
    elif isinstance(exc, ArkError) and exc.status == 429 and exc.retryable:
        log.info("create for %s refused as busy (%s); back to the queue", rid, exc.code)
        engine.queue.requeue_front(rid, job.user, job.pool or Pool.STANDARD)
        engine.queue.pause_admissions(engine.scaled(ADMIT_PAUSE_SECONDS, floor=0.2))
    elif is_transient(exc):
        retry_later(engine, job, "start", exc)
    elif isinstance(exc, ArkError):
        why = ark_errors.explain(exc.code, job.lang, exc.message)
        log.warning("create for %s refused: %s %s", rid, exc.code, exc.message)
        fail(engine, rid, why.what, why.fix, code=exc.code)
    elif isinstance(exc, (FeishuError, DownloadError)):
        log.warning("start of %s: could not fetch an image: %s", rid, exc)
        fail(engine, rid, i18n.t("image_fetch_failed", job.lang), "", code="image_fetch")
    else:
        log.exception("start of %s failed unexpectedly", rid)
        fail(engine, rid, i18n.t("start_failed", job.lang), "", code="internal")


def build_body(engine: Engine, job: Job) -> dict[str, Any]:
    """The create body: chat images fetched and checked, last frame requested (callback and
    fingerprint are added per attempt by the creator)."""
    spec = spec_from_json(job.spec)
    info = catalogue.get(spec.model or "")
    allow_heic = bool(info and info.series in ("1.5", "2.0"))
    urls: dict[str, str] = {}
    for img in spec.images:
        if img.source.startswith(FEISHU_IMAGE):
            message_id, _, key = img.source[len(FEISHU_IMAGE):].partition("/")
            data = engine.feishu.download_resource(message_id, key, type="image", max_bytes=MAX_IMAGE_BYTES)
            meta = inspect_image(data, allow_heic=allow_heic)
            urls[img.source] = to_data_url(data, meta)
    urls.update(references.stage(engine, job, spec))  # chat videos/voice: checked, served at signed URLs
    changes: dict[str, Any] = {"callback_url": None}
    if not spec.draft and spec.return_last_frame is None:
        changes["return_last_frame"] = True  # a cover for the video and the start of an Extend
    if spec.execution_expires_after is None:
        changes["execution_expires_after"] = engine.settings.seedance_default_expires
    return build_create_body(spec.replace(**changes), urls)


def watch(engine: Engine, job: Job) -> None:
    """Make sure the scheduler will look at the job's task (first look near the expected end)."""
    if engine.polls.planned(job.rid) is not None:
        return
    expected = expected_seconds(job)
    elapsed = engine.clock() - (job.submitted_at or engine.clock())
    engine.polls.plan(job.rid, engine.clock() + max(engine.policy.first_delay(expected) - elapsed, 0.0))


def expected_seconds(job: Job) -> float:
    """The catalogue's typical generation time for this job (service seconds)."""
    spec = spec_from_json(job.spec)
    info = catalogue.get(job.model or spec.model or "")
    if info is None:
        return 90.0
    return info.expected_seconds(job.resolution or spec.resolution or "720p", job.duration or spec.duration or 5)


# --- retries ------------------------------------------------------------------------------


def retry_later(engine: Engine, job: Job, step: str, exc: BaseException) -> None:
    """Run `step` ("start" or "deliver") again after a backoff; fail the job after too many tries."""
    tries = job.tries + 1
    if tries > STEP_RETRY.tries:
        log.error("%s of %s failed %d times (%s); giving up", step, job.rid, tries, exc)
        if step == "start" and isinstance(exc, (FeishuError, DownloadError)):
            fail(engine, job.rid, i18n.t("image_fetch_failed", job.lang), "", code="image_fetch")
        elif step == "start":
            fail(engine, job.rid, i18n.t("start_failed", job.lang), "", code="start_retries")
        else:
            fail(engine, job.rid, i18n.t("delivery_failed", job.lang, task_id=job.task_id), "",
                 code="delivery_retries")
        return
    engine.records.update(job.rid, tries=tries)
    delay = engine.scaled(STEP_RETRY.delay(tries - 1), floor=0.2)
    log.warning("%s of %s failed (%s); try %d of %d in %.1fs", step, job.rid, exc, tries, STEP_RETRY.tries, delay)
    retry_at(engine, job, step, delay)


def retry_at(engine: Engine, job: Job, step: str, delay: float) -> None:
    at = engine.clock() + delay
    if step == "start":
        engine.polls.later(engine.keys.inbox, {"kind": "start", "payload": json.dumps({"rid": job.rid})}, at)
    else:
        engine.polls.later(engine.keys.deliver, {"rid": job.rid}, at)


# --- ending ---------------------------------------------------------------------------------


def fail(engine: Engine, rid: str, what: str, fix: str, *, code: str = "") -> None:
    """End a job with one explanation in its thread; slot and budget given back (idempotent)."""
    # tries=0: posting the explanation gets its own retries, whatever the failed step used up.
    previous = engine.budgets.finish(rid, JobState.FAILED, charge=False, error_code=code,
                                     error_message=what, error_fix=fix, finished_at=engine.clock(), tries=0)
    if previous in (JobState.DONE, JobState.CANCELLED):
        return  # it had ended otherwise; nothing to say
    log.warning("job %s failed (%s): %s", rid, code, what)
    notify_failure(engine, rid, fix=fix)


def notify_failure(engine: Engine, rid: str, *, fix: str = "") -> None:
    """Post a failed job's explanation once (reply uuid + sent marker); retried if Feishu is down."""
    job = engine.records.get(rid)
    if job is None or job.job_state != JobState.FAILED or engine.records.is_sent(rid):
        return
    if not fix and job.error_code:
        fix = ark_errors.explain(job.error_code, job.lang, job.error_message).fix
    text = job.error_message + (f"\n{fix}" if fix and fix not in job.error_message else "")
    try:
        engine.feishu.reply(job.reply_to, "text", {"text": text}, reply_in_thread=bool(job.in_thread),
                            uuid=f"f-{rid}"[:50])
    except FeishuError as exc:
        log.error("could not post the failure of %s: %s (log_id %s)", rid, exc.msg, exc.log_id)
        if exc.retryable and job.tries < STEP_RETRY.tries:
            engine.records.update(rid, tries=job.tries + 1)
            retry_at(engine, job, "deliver", engine.scaled(STEP_RETRY.delay(job.tries), floor=0.2))
        else:
            engine.records.mark_sent(rid, "unsent")  # the thread can't be reached: stop trying
        return
    engine.records.mark_sent(rid, "failed")
    refresh_card(engine, rid, force=True, error=(job.error_message, fix))


def cancel_finished(engine: Engine, job: Job) -> None:
    """A job that ends cancelled: budget released, card updated, the queue moves up."""
    engine.budgets.finish(job.rid, JobState.CANCELLED, charge=False, finished_at=engine.clock())
    refresh_card(engine, job.rid, force=True)
    refresh_queued_cards(engine)


def cancel_at_ark(engine: Engine, job: Job) -> bool:
    """Cancel a job whose task exists: DELETE works while the task is queued at Ark.
    True if the job ended cancelled; otherwise it runs on and its video is not posted."""
    try:
        task = engine.ark.get(job.task_id)
        if task.status == "queued":
            engine.ark.delete(job.task_id)
            cancel_finished(engine, job)
            return True
    except ArkError as exc:
        log.info("cancel of %s at Ark failed: %s", job.rid, exc)
    return False
