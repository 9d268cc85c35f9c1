"""Reference videos and audios of a job, made ready for Ark at its start (Seedance 2.0).

For each chat video or voice message of the spec (`feishu-file:` sources): download it from
Feishu (streamed to disk, at most the documented size, within BOT_DOWNLOAD_TIMEOUT), check it
against the documented limits (`bot.reference_media`: format, codec, length, size, frame rate;
a voice message is converted to WAV), then the totals, and put it in the media directory
(`bot.shared_media`) under an id derived from the job. The create body names each one by a
signed URL under BOT_PUBLIC_URL that lasts as long as the task may run (its
`execution_expires_after`, the fingerprint's jitter and a margin), since Ark fetches it at some
point while the task lives. Any limit broken raises `MediaError` (a `SpecError`): the job fails
with that message before anything is created, so nothing is billed.

A start that is tried again (a lost answer, the queue after a 429) finds its files by id and
downloads nothing twice. http(s) and `asset://` sources are passed through unchecked.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from bot.catalogue import REF_AUDIO_MAX_BYTES, REF_VIDEO_MAX_BYTES
from bot.engine.engine import Engine
from bot.engine.fingerprint import JITTER_MAX
from bot.errors import DownloadError, MediaError, SpecError
from bot.reference_media import MediaMeta, inspect_video, prepare_audio
from bot.shared_media import MediaStore, StoredMedia
from bot.spec import MediaInput, VideoSpec, check_media_lengths
from bot.store.jobs import Job

log = logging.getLogger(__name__)

FEISHU_FILE = "feishu-file:"
URL_MARGIN = 3600  # seconds a URL outlives the task's own expiry (Ark's clock, retries of the start)
# What is read of an audio: more than the 15 MB the served file may have, since a file that is
# converted (a FLAC, an M4A) is checked after conversion; still bounded.
AUDIO_DOWNLOAD_BYTES = 4 * REF_AUDIO_MAX_BYTES
SWEEP_EVERY = 300.0  # seconds between sweeps of expired files by one engine (one per process)


def store_of(engine: Engine) -> MediaStore:
    store = MediaStore.from_settings(engine.settings)
    if store is None:  # no FEISHU_APP_SECRET and no BOT_MEDIA_SECRET: the bot couldn't run anyway
        raise SpecError("media_needs_public_url")
    return store


def sweep(engine: Engine, *, force: bool = False) -> int:
    """Delete expired media files (at most every `SWEEP_EVERY` seconds per directory and engine:
    `Engine.media_swept_at`; the composition root builds one engine per process)."""
    store = MediaStore.from_settings(engine.settings)
    if store is None:
        return 0
    root = str(store.root)
    now = time.monotonic()
    swept_at = engine.media_swept_at
    if not force and now - swept_at.get(root, -SWEEP_EVERY) < SWEEP_EVERY:
        return 0
    swept_at[root] = now
    try:
        return store.sweep(now=engine.clock())
    except OSError as exc:  # a full or read-only disk must not stop the caller (the scheduler's reconcile)
        log.warning("media: could not sweep %s: %s", store.root, exc)
        return 0


def stage(engine: Engine, job: Job, spec: VideoSpec) -> dict[str, str]:
    """Source → signed URL for every chat video and audio of `spec` (empty when it has none)."""
    if not spec.media:
        return {}
    public = engine.settings.bot_public_url
    if not public:
        raise SpecError("media_needs_public_url")
    store = store_of(engine)
    sweep(engine)
    expires = spec.execution_expires_after or engine.settings.seedance_default_expires
    exp = int(engine.clock() + expires + JITTER_MAX + URL_MARGIN)
    urls: dict[str, str] = {}
    staged: list[str] = []
    lengths: dict[str, list[float | None]] = {"video": [], "audio": []}
    try:
        for kind, items in (("video", spec.videos), ("audio", spec.audios)):
            for number, item in enumerate(items, 1):
                if not item.source.startswith(FEISHU_FILE):
                    lengths[kind].append(item.seconds)  # a URL or asset: Ark's to check
                    continue
                stored = _stage_one(engine, store, job, item, kind=kind, number=number, expires_at=exp)
                staged.append(stored.media_id)
                lengths[kind].append(stored.seconds)
                urls[item.source] = store.url(public, stored.media_id, exp)
        check_media_lengths(lengths["video"], lengths["audio"])
    except SpecError:
        for media_id in staged:  # the job fails here for good: its other files are not needed
            store.remove(media_id)
        raise
    return urls


def _stage_one(engine: Engine, store: MediaStore, job: Job, item: MediaInput, *, kind: str, number: int,
               expires_at: int) -> StoredMedia:
    media_id = store.media_id(job.rid, kind, item.source)
    found = store.get(media_id, now=engine.clock())
    if found is not None:
        return store.extend(found, expires_at)
    message_id, _, key = item.source[len(FEISHU_FILE):].partition("/")
    s = engine.settings
    limit = REF_VIDEO_MAX_BYTES if kind == "video" else AUDIO_DOWNLOAD_BYTES
    part = store.new_incoming(media_id)
    made: list[Path] = []
    try:
        try:
            size = engine.feishu.download_file(message_id, key, part, max_bytes=limit, timeout=s.download_timeout)
        except DownloadError as exc:
            if exc.reason != "too_large":
                raise
            which = "ref_video_bytes" if kind == "video" else "ref_audio_bytes"
            cap = REF_VIDEO_MAX_BYTES if kind == "video" else REF_AUDIO_MAX_BYTES
            raise MediaError(which, number=number, mb=f"> {limit // 1_000_000}", limit=cap // 1_000_000) from None
        meta: MediaMeta
        if kind == "video":
            meta = inspect_video(part, number=number)
            served = part
        else:
            served, meta = prepare_audio(part, store.incoming(), number=number)
            if served != part:
                made.append(served)
        stored = store.put(media_id, served, content_type=meta.content_type, expires_at=expires_at,
                           seconds=meta.seconds)
        log.info("reference %s %d of %s: %s, %.1f s, %d bytes (downloaded %d), served until %d",
                 kind, number, job.rid, meta.format, meta.seconds, stored.size, size, expires_at)
        return stored
    finally:
        for leftover in (part, *made):  # moved into the store already, or not to be kept
            leftover.unlink(missing_ok=True)
