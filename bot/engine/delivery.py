"""Delivering a finished task: the video as a playable `media` reply in the thread, exactly once.

Order (shared/reference/scale.md §3.4): skip if the delivered-marker exists →
take a lease (renewed while it runs) → the task as the scheduler saw it end
(or a fresh GET when that is missing or older than `SNAPSHOT_FRESH`, or when its
URL is refused with 403/404/410: result URLs last 24 h) → stream the
mp4 to a temporary file (size cap, time limit) → shrink it if it is over
Feishu's 30 MB upload limit → upload the file and a cover → reply `media` with
`uuid = v-{rid}` (Feishu posts a uuid at most once per hour) → set the marker
and end the job, committing its budget at the real length. A crash anywhere
repeats from the top without posting twice; uploaded keys are kept on the job
so a retry does not upload again. A failure that passes (Feishu 5xx/429, a
dropped download) is retried with backoff; the rest end the job with a message.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from bot import ark_errors, i18n, media, metrics
from bot.clients.ark import Task
from bot.download import download_to_file
from bot.engine.engine import Engine
from bot.engine.lifecycle import cancel_finished, fail, notify_failure, retry_later
from bot.engine.live_card import refresh_card
from bot.errors import ArkError, DownloadError
from bot.logs import bind_job
from bot.retry import is_transient
from bot.store.connection import Unavailable
from bot.store.jobs import Job, JobState

log = logging.getLogger(__name__)

FEISHU_FILE_LIMIT = 30 * 1024 * 1024
SHRINK_TARGET = 28 * 1024 * 1024
# Short, and renewed while the delivery runs: the lease of a worker killed mid-delivery lapses
# soon, so another worker can take the delivery over. Service seconds (30 real ones in production;
# never under 5 against a sped-up simulator: the download and uploads run at real speed).
DELIVERY_LEASE = 30.0
SNAPSHOT_FRESH = 3600.0  # use the scheduler's view of the task if it is younger than this
COVER_AS_IS_BYTES = 5 * 1024 * 1024  # Ark's last frame up to this size is uploaded as it came


def deliver(engine: Engine, rid: str, snapshot: str = "") -> None:
    """Post the job's video (or, for a failed job, its explanation) once."""
    job = engine.records.get(rid)
    if job is None or engine.records.is_sent(rid):
        return
    bind_job(rid=rid, task_id=job.task_id, chat_id=job.chat_id)
    if job.job_state == JobState.FAILED:
        notify_failure(engine, rid)
        return
    if job.job_state != JobState.FINISHED:
        return
    lease = engine.leases.take("deliver", rid, engine.scaled(DELIVERY_LEASE, floor=5.0))
    if lease is None:
        return
    try:
        with lease.kept():
            _deliver(engine, job, _snapshot(engine, job, snapshot))
    except Unavailable:
        raise
    except Exception as exc:
        if is_transient(exc):
            retry_later(engine, engine.records.get(rid) or job, "deliver", exc)
        else:
            log.exception("delivery of %s failed", rid)
            fail(engine, rid, i18n.t("delivery_failed", job.lang, task_id=job.task_id), "", code="delivery")
    finally:
        lease.release()


def _snapshot(engine: Engine, job: Job, text: str) -> Task | None:
    """The task object the scheduler saw end, unless it is too old to trust its URLs."""
    if not text or engine.clock() - job.finished_at > SNAPSHOT_FRESH:
        return None
    try:
        task = Task.from_json(json.loads(text))
    except (ValueError, ArkError):
        return None
    return task if task.id == job.task_id else None


def _deliver(engine: Engine, job: Job, task: Task | None) -> None:
    rid, lang = job.rid, job.lang
    if job.cancel_requested:
        cancel_finished(engine, job)
        return
    if job.task_status in ("expired", "missing"):
        why = ark_errors.explain("expired", lang)
        fail(engine, rid, why.what, why.fix, code=job.task_status)
        return
    reread = task is None
    if task is None:
        task = _read_task(engine, job)
        if task is None:
            return
    if task.status != "succeeded":
        code = task.error_code or task.status
        why = ark_errors.explain(code, lang, task.error_message or "")
        fail(engine, rid, why.what, why.fix, code=code)
        return
    engine.records.update(rid, model=task.model or job.model, resolution=task.resolution or "",
                          ratio=task.ratio or "", duration=task.duration or 0,
                          seed=task.seed if task.seed is not None else -1, tokens=task.total_tokens or 0,
                          last_frame_url=task.last_frame_url or "")
    if not task.video_url:
        fail(engine, rid, i18n.t("no_video_url", lang), "", code="no_video")
        return
    with tempfile.TemporaryDirectory(prefix="seedance-") as tmp:
        path = Path(tmp) / f"{job.task_id}.mp4"
        try:
            try:
                download_to_file(None, task.video_url, path, max_bytes=engine.settings.max_video_bytes,
                                 timeout=engine.settings.download_timeout)
            except DownloadError as exc:
                if exc.reason != "expired" or reread:
                    raise
                # The URL of the answer that saw the task end was refused (403/404/410: expired or
                # gone): read the task once more for a fresh one, and try that.
                log.info("video URL of %s refused (%s); reading the task again", rid, exc)
                fresh = _read_task(engine, job)
                if fresh is None:
                    return
                task, reread = fresh, True
                if not task.video_url:
                    raise
                download_to_file(None, task.video_url, path, max_bytes=engine.settings.max_video_bytes,
                                 timeout=engine.settings.download_timeout)
        except DownloadError as exc:
            if exc.reason == "expired":
                why = ark_errors.explain("url_expired", lang)
                fail(engine, rid, why.what, why.fix, code="url_expired")
                return
            if exc.reason == "too_large":
                fail(engine, rid, i18n.t("video_too_large", lang, mb="?"),
                     i18n.t("video_too_large_fix", lang, task_id=job.task_id), code="too_large")
                return
            raise
        if path.stat().st_size > FEISHU_FILE_LIMIT:
            small = Path(tmp) / f"{job.task_id}-small.mp4"
            try:
                media.shrink(path, small, target_bytes=SHRINK_TARGET)
            except Exception as exc:  # no encoder, corrupt input: tell the user how to get the file
                log.error("could not re-encode %s: %s", rid, exc)
                small = path
            if small.stat().st_size > FEISHU_FILE_LIMIT:
                fail(engine, rid, i18n.t("video_too_large", lang, mb=path.stat().st_size // (1024 * 1024)),
                     i18n.t("video_too_large_fix", lang, task_id=job.task_id), code="too_large")
                return
            path = small
        info = media.probe(path)
        job = engine.records.get(rid) or job
        file_key = job.file_key
        if not file_key:
            file_key = engine.feishu.upload_video(path, duration_ms=round(info.duration * 1000),
                                                  file_name=f"seedance-{job.task_id}.mp4")
            engine.records.update(rid, file_key=file_key)
        image_key = job.image_key
        if not image_key:
            image_key = engine.feishu.upload_image(_cover(engine, task, path))
            engine.records.update(rid, image_key=image_key)
    content: dict[str, Any] = {"file_key": file_key, "image_key": image_key}
    sent = engine.feishu.reply(job.reply_to, "media", content, reply_in_thread=bool(job.in_thread),
                               uuid=f"v-{rid}"[:50])
    engine.records.mark_sent(rid, sent.message_id)
    engine.records.index_message(sent.message_id, rid)
    delivered_at = engine.clock()
    engine.budgets.finish(rid, JobState.DONE, charge=True,
                          charged_seconds=round(info.duration) if info.duration > 0 else -1,
                          video_message_id=sent.message_id, delivered_at=delivered_at, tries=0)
    if job.finished_at:
        metrics.observe_seconds(engine.metrics.delivery_time, delivered_at - job.finished_at)
    if job.accepted_at:
        metrics.observe_seconds(engine.metrics.request_time, delivered_at - job.accepted_at)
    refresh_card(engine, rid, force=True)
    log.info("delivered %s (task %s) as %s", rid, job.task_id, sent.message_id)


def _read_task(engine: Engine, job: Job) -> Task | None:
    """A fresh read of the job's task (GET); None when Ark no longer has it (the job is failed)."""
    try:
        return engine.ark.get(job.task_id)
    except ArkError as exc:
        if exc.status == 404:
            why = ark_errors.explain("expired", job.lang)
            fail(engine, job.rid, why.what, why.fix, code="missing")
            return None
        raise


def _cover_as_is(data: bytes) -> bool:
    """A PNG or JPEG small enough for every documented image limit (feishu-api.md: 10 MB, 5 MB in a CLI)."""
    return len(data) <= COVER_AS_IS_BYTES and data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"))


def _cover(engine: Engine, task: Task, video: Path) -> bytes:
    """Ark's last frame when it gave one (small PNG), else the first frame of the video."""
    if task.last_frame_url:
        try:
            with tempfile.NamedTemporaryFile(suffix=".png") as f:
                download_to_file(None, task.last_frame_url, Path(f.name), max_bytes=20 * 1024 * 1024,
                                 timeout=engine.settings.download_timeout)
                data = Path(f.name).read_bytes()
                # Feishu takes a PNG or JPEG cover as it is: decoding and re-encoding it was a third
                # of a delivery's CPU. Only a larger or other image is made a JPEG.
                return data if _cover_as_is(data) else media.image_to_jpeg(data)
        except (DownloadError, OSError, ValueError) as exc:
            log.info("last frame unavailable (%s); using a frame of the video", exc)
    return media.cover_jpeg(video)
