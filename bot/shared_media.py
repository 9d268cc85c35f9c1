"""Chat videos and voice messages served to Ark: files under BOT_DATA_DIR, signed expiring URLs.

Seedance 2.0 takes reference videos only by URL (a public URL or `asset://`, no data: URL) and
fetches them itself while it works (ark-api.md §2.2). So the worker downloads a chat video,
checks it (`bot.reference_media`) and puts it here; the create body names it as

    <BOT_PUBLIC_URL>/media/<id>?exp=<unix time>&sig=<HMAC-SHA256 of id and exp>

and the web role (`bot.web.media`) serves it to whoever holds that URL until `exp`, with
Range requests. Nothing else is needed from the reader: no cookie, no header.

Where the files live: `<BOT_DATA_DIR>/media/<id>` plus `<id>.json` (content type, expiry). The
web role and the worker must see the same directory: true for `serve` and for roles on one
machine with one BOT_DATA_DIR; several machines need it on a shared volume (NFS, a
ReadWriteMany volume). Redis is the wrong place for files of up to 200 MB; an object store
(S3/TOS presigned URLs) would be the next step for deployments without a shared volume.

The key: `BOT_MEDIA_SECRET` when set, else one derived from FEISHU_APP_SECRET (which every role
has). It never leaves this module; URLs carry only the HMAC. Rotating the secret invalidates the
URLs of the tasks in flight (they fail at Ark with a fetch error).

Ids are HMACs too (of the job and its source), so a retried start finds its file again instead
of downloading it twice, and an id says nothing about whose file it is.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bot.config import Settings

log = logging.getLogger(__name__)

MEDIA_ROUTE = "/media"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
INCOMING = ".incoming"  # downloads and conversions in progress (same file system: rename is atomic)
STALE_INCOMING = 6 * 3600.0  # a partial file older than this belongs to a worker that died
_KEY_LABEL = b"seedance-bot media URLs v1"
_FALLBACK_LABEL = b"seedance-bot media URLs, derived from the Feishu app secret, v1"


def signing_key(media_secret: str, app_secret: str) -> bytes | None:
    """The HMAC key of media URLs: from BOT_MEDIA_SECRET, else from the app secret; None without both."""
    if media_secret:
        return hmac.new(media_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    if app_secret:
        return hmac.new(app_secret.encode(), _FALLBACK_LABEL, hashlib.sha256).digest()
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class StoredMedia:
    """One served file: where it is, what it is, until when."""

    media_id: str
    path: Path
    content_type: str
    expires_at: float
    size: int
    seconds: float | None = None


class MediaStore:
    """The media directory and its URL signatures (one per process and role; no shared state but the files)."""

    def __init__(self, root: Path, key: bytes) -> None:
        self.root = Path(root)
        self._key = key

    def __repr__(self) -> str:  # never shows the key
        return f"MediaStore(root={str(self.root)!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaStore | None:
        """The store of this deployment (`<BOT_DATA_DIR>/media`), or None when no key can be had."""
        key = signing_key(settings.media_secret.get_secret_value(), settings.feishu_app_secret.get_secret_value())
        return cls(Path(settings.bot_data_dir) / "media", key) if key else None

    # --- ids and signatures -------------------------------------------------------------------
    def media_id(self, *parts: str) -> str:
        """A stable, unguessable id for a file of a job (`parts`: e.g. the rid and the source)."""
        digest = hmac.new(self._key, ("id\0" + "\0".join(parts)).encode(), hashlib.sha256).digest()
        return _b64(digest)[:32]

    def signature(self, media_id: str, exp: int) -> str:
        return _b64(hmac.new(self._key, f"GET {MEDIA_ROUTE}/{media_id} {exp}".encode(), hashlib.sha256).digest())

    def url(self, base: str, media_id: str, exp: int) -> str:
        """`<base>/media/<id>?exp=…&sig=…`: what Ark is given."""
        query = urlencode({"exp": str(exp), "sig": self.signature(media_id, exp)})
        return f"{base.rstrip('/')}{MEDIA_ROUTE}/{media_id}?{query}"

    def verify(self, media_id: str, exp: str, sig: str, *, now: float | None = None) -> str:
        """"ok", "bad" (malformed id, exp or signature: compared in constant time) or "expired"."""
        if not ID_PATTERN.match(media_id) or not exp.isdigit() or len(exp) > 12:
            return "bad"
        if not hmac.compare_digest(self.signature(media_id, int(exp)).encode(), sig.encode("utf-8", "replace")):
            return "bad"
        return "expired" if int(exp) < (time.time() if now is None else now) else "ok"

    # --- files --------------------------------------------------------------------------------
    def path(self, media_id: str) -> Path:
        """The file of an id; ValueError for anything that is not an id (no path ever built from input)."""
        if not ID_PATTERN.match(media_id):
            raise ValueError("not a media id")
        return self.root / media_id

    def incoming(self) -> Path:
        """A directory for files being downloaded or converted (on the same file system as the store)."""
        d = self.root / INCOMING
        d.mkdir(parents=True, exist_ok=True)
        return d

    def new_incoming(self, media_id: str) -> Path:
        fd, name = tempfile.mkstemp(dir=self.incoming(), prefix=f"{media_id}.", suffix=".part")
        os.close(fd)
        return Path(name)

    def put(self, media_id: str, src: Path, *, content_type: str, expires_at: float,
            seconds: float | None = None) -> StoredMedia:
        """Move `src` in under `media_id` (atomically: readers see the whole file or none)."""
        dest = self.path(media_id)
        os.chmod(src, 0o644)
        # The description first: a crash in between leaves one the sweep removes when it expires.
        item = self._write_meta(media_id, content_type=content_type, expires_at=expires_at,
                                size=src.stat().st_size, seconds=seconds)
        os.replace(src, dest)
        return item

    def _write_meta(self, media_id: str, *, content_type: str, expires_at: float, size: int,
                    seconds: float | None) -> StoredMedia:
        meta = {"content_type": content_type, "expires_at": expires_at, "size": size, "seconds": seconds}
        side = self.path(media_id).with_suffix(".json")
        tmp = side.with_name(f".{side.name}.{os.getpid()}")
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, side)
        return StoredMedia(media_id, self.path(media_id), content_type, expires_at, size, seconds)

    def get(self, media_id: str, *, now: float | None = None) -> StoredMedia | None:
        """The file of an id while it has not expired, else None."""
        try:
            path = self.path(media_id)
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            size = path.stat().st_size
        except (ValueError, OSError):
            return None
        expires_at = float(meta.get("expires_at") or 0)
        if expires_at < (time.time() if now is None else now):
            return None
        seconds = meta.get("seconds")
        return StoredMedia(media_id, path, str(meta.get("content_type") or "application/octet-stream"),
                           expires_at, size, float(seconds) if seconds is not None else None)

    def extend(self, item: StoredMedia, expires_at: float) -> StoredMedia:
        """Keep a file at least until `expires_at` (a start retried later needs it longer)."""
        if expires_at <= item.expires_at:
            return item
        return self._write_meta(item.media_id, content_type=item.content_type, expires_at=expires_at,
                                size=item.size, seconds=item.seconds)

    def remove(self, media_id: str) -> None:
        """Delete one file and its description (a job that won't be created needs neither)."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.path(media_id).with_suffix(".json").unlink()
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.path(media_id).unlink()

    def remove_if_expired(self, media_id: str, *, now: float | None = None) -> bool:
        """Delete one file whose own record says it has expired; True if it went."""
        try:
            side = self.path(media_id).with_suffix(".json")
            expires_at = float(json.loads(side.read_text(encoding="utf-8")).get("expires_at") or 0)
        except (ValueError, OSError):
            return False
        if expires_at >= (time.time() if now is None else now):
            return False
        try:
            with contextlib.suppress(FileNotFoundError):
                self.path(media_id).unlink()
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
        except OSError:  # a read-only mount on the web side: the worker's or scheduler's sweep removes it
            return False
        return True

    def sweep(self, *, now: float | None = None) -> int:
        """Delete expired files (and partial downloads of dead workers); returns how many went."""
        now = time.time() if now is None else now
        removed = 0
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return 0
        for side in entries:
            if side.suffix != ".json" or not ID_PATTERN.match(side.stem):
                continue
            try:
                expires_at = float(json.loads(side.read_text(encoding="utf-8")).get("expires_at") or 0)
            except (OSError, ValueError):
                expires_at = 0.0
            if expires_at < now:
                with contextlib.suppress(FileNotFoundError):
                    (self.root / side.stem).unlink()
                with contextlib.suppress(FileNotFoundError):
                    side.unlink()
                removed += 1
        for part in (self.root / INCOMING).glob("*.part*") if (self.root / INCOMING).is_dir() else ():
            with contextlib.suppress(OSError):
                if now - part.stat().st_mtime > STALE_INCOMING:
                    part.unlink()
        if removed:
            log.info("media: removed %d expired file(s) from %s", removed, self.root)
        return removed
