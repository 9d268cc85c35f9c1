"""Delivering a finished task: the video as a playable `media` reply in the thread, exactly once.

Order (shared/reference/scale.md §3.4): skip if the delivered-marker exists →
take a lease → GET the task again (fresh URL, the callback/poll result is not
trusted) → stream the mp4 to a temporary file (size cap, time limit) → shrink it
if it is over Feishu's 30 MB upload limit → upload the file (mp4, duration in
ms) and a cover (Ark's last frame, else a frame of the video) → reply `media`
with `uuid = v-{rid}` (Feishu posts a uuid at most once per hour) → set the
marker. A crash anywhere repeats from the top without posting twice; uploaded
keys are kept on the job so a retry does not upload again.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

import redis

from bot import ark_errors, i18n, media
from bot.download import download_to_file
from bot.engine import quota
from bot.engine.context import Engine
from bot.engine.jobs import JobState
from bot.engine.lifecycle import fail, refresh_card
from bot.errors import ArkError, DownloadError

log = logging.getLogger(__name__)

FEISHU_FILE_LIMIT = 30 * 1024 * 1024
SHRINK_TARGET = 28 * 1024 * 1024
# Short, and renewed while the delivery runs: the lease of a worker killed mid-delivery lapses
# before other workers claim its pending entry (CLAIM_IDLE_MS, 60 s). A 600 s lease made the
# claimer skip the delivery and the video came ten minutes late.
DELIVERY_LEASE = 30.0


def deliver(engine: Engine, rid: str) -> None:
    store = engine.store
    job = store.get(rid)
    if job is None or store.is_sent(rid) or job.job_state in (JobState.DONE, JobState.CANCELLED):
        return
    if job.job_state == JobState.FAILED:
        return
    if not store.take_lease("deliver", rid, DELIVERY_LEASE, engine.node):
        return
    done = threading.Event()
    keeper = threading.Thread(target=_keep_lease, args=(engine, rid, done), name=f"lease-{rid}"[:40],
                              daemon=True)
    keeper.start()
    try:
        _deliver(engine, rid)
    finally:
        done.set()
        keeper.join()
        store.drop_lease("deliver", rid)


def _keep_lease(engine: Engine, rid: str, done: threading.Event) -> None:
    key = engine.store.keys.lease("deliver", rid)
    while not done.wait(DELIVERY_LEASE / 3):
        try:
            engine.redis.pexpire(key, int(DELIVERY_LEASE * 1000))
        except redis.RedisError as exc:
            log.warning("could not renew the delivery lease of %s: %s", rid, exc)


def _deliver(engine: Engine, rid: str) -> None:
    store = engine.store
    job = store.get(rid)
    assert job is not None
    lang = job.lang
    if job.cancel_requested:
        store.set_state(rid, JobState.CANCELLED, finished_at=engine.clock())
        quota.release(engine, job)
        refresh_card(engine, rid, force=True)
        return
    if job.task_status in ("expired", "missing"):
        why = ark_errors.explain("expired", lang)
        fail(engine, rid, why.what, why.fix, code="expired")
        return
    try:
        task = engine.ark.get(job.task_id)
    except ArkError as exc:
        if exc.status == 404:
            why = ark_errors.explain("expired", lang)
            fail(engine, rid, why.what, why.fix, code="missing")
            return
        raise
    if task.status != "succeeded":
        code = task.error_code or task.status
        why = ark_errors.explain(code, lang, task.error_message or "")
        fail(engine, rid, why.what, why.fix, code=code)
        return
    store.update(rid, model=task.model or job.model, resolution=task.resolution or "", ratio=task.ratio or "",
                 duration=task.duration or 0, seed=task.seed if task.seed is not None else -1,
                 tokens=task.total_tokens or 0, last_frame_url=task.last_frame_url or "")
    if not task.video_url:
        fail(engine, rid, i18n.t("no_video_url", lang), "", code="no_video")
        return
    with tempfile.TemporaryDirectory(prefix="seedance-") as tmp:
        path = Path(tmp) / f"{job.task_id}.mp4"
        try:
            download_to_file(None, task.video_url, path, max_bytes=engine.settings.max_video_bytes,
                             timeout=engine.settings.download_timeout)
        except DownloadError as exc:
            _download_failed(engine, rid, exc)
            return
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
        job = store.get(rid) or job
        file_key = job.file_key
        if not file_key:
            file_key = engine.feishu.upload_video(path, duration_ms=round(info.duration * 1000),
                                                  file_name=f"seedance-{job.task_id}.mp4")
            store.update(rid, file_key=file_key)
        image_key = job.image_key
        if not image_key:
            image_key = engine.feishu.upload_image(_cover(engine, task, path))
            store.update(rid, image_key=image_key)
    content: dict[str, Any] = {"file_key": file_key, "image_key": image_key}
    sent = engine.feishu.reply(job.reply_to, "media", content, reply_in_thread=bool(job.in_thread),
                               uuid=f"v-{rid}"[:50])
    store.mark_sent(rid, sent.message_id)
    store.index_message(sent.message_id, rid)
    store.set_state(rid, JobState.DONE, video_message_id=sent.message_id, delivered_at=engine.clock())
    quota.finish(engine, job)
    refresh_card(engine, rid, force=True)
    log.info("delivered %s (task %s) as %s", rid, job.task_id, sent.message_id)


def _cover(engine: Engine, task: Any, video: Path) -> bytes:
    """Ark's last frame when it gave one (small PNG), else the first frame of the video."""
    if task.last_frame_url:
        try:
            with tempfile.NamedTemporaryFile(suffix=".png") as f:
                download_to_file(None, task.last_frame_url, Path(f.name), max_bytes=20 * 1024 * 1024,
                                 timeout=engine.settings.download_timeout)
                return media.image_to_jpeg(Path(f.name).read_bytes())
        except (DownloadError, OSError, ValueError) as exc:
            log.info("last frame unavailable (%s); using a frame of the video", exc)
    return media.cover_jpeg(video)


def _download_failed(engine: Engine, rid: str, exc: DownloadError) -> None:
    job = engine.store.get(rid)
    assert job is not None
    if exc.reason == "expired":
        why = ark_errors.explain("url_expired", job.lang)
        fail(engine, rid, why.what, why.fix, code="url_expired")
    elif exc.reason == "too_large":
        fail(engine, rid, i18n.t("video_too_large", job.lang, mb="?"),
             i18n.t("video_too_large_fix", job.lang, task_id=job.task_id), code="too_large")
    else:
        raise exc  # transient: the stream entry is retried
