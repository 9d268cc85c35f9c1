"""Streaming, size- and time-capped downloads to a file (videos, last frames, chat images).

Generic on purpose: the CLI saves Seedance results with it and the job engine
reuses it to deliver videos. Guarantees:

- never holds the whole body in memory (chunks straight to disk);
- refuses bodies over `max_bytes` (by Content-Length up front, and by counting);
- gives up after `timeout` seconds in total, not per read;
- the destination either appears complete or not at all (temp file + rename);
- presigned URLs are never logged or put in errors with their query string (it is a credential).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from bot.errors import DownloadError

log = logging.getLogger(__name__)

# Presigned TOS URLs answer 403 (signature expired), 404 or 410 once their 24 h are over.
EXPIRED_STATUSES = frozenset({403, 404, 410})
MAX_READ_TIMEOUT = 30.0  # longest a single stalled read may block before the total deadline is checked


def redact_url(url: str) -> str:
    """The URL without query string or fragment (presigned signatures live there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def download_to_file(
    session: requests.Session | None,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,
    chunk: int = 1 << 16,
) -> int:
    """Stream `url` into `dest` atomically; return the number of bytes written.

    Raises `DownloadError` with reason `expired` (HTTP 403/404/410: for a Seedance
    result this means the 24-hour presigned URL has expired or the file is gone —
    query the task again for a fresh URL, or re-generate), `too_large`, `timeout`
    or `http` (any other HTTP status or network failure).
    """
    dest = Path(dest)
    shown = redact_url(url)
    deadline = time.monotonic() + timeout
    read_timeout = max(0.1, min(timeout, MAX_READ_TIMEOUT))
    own = session is None
    sess = session or requests.Session()
    tmp_path: Path | None = None
    try:
        try:
            resp = sess.get(url, stream=True, timeout=(min(10.0, read_timeout), read_timeout))
        except requests.Timeout:
            raise DownloadError("timeout", f"no answer from {shown} within {read_timeout:.0f}s") from None
        except requests.RequestException as exc:
            raise DownloadError("http", f"{type(exc).__name__} fetching {shown}") from None
        with contextlib.closing(resp):
            if resp.status_code in EXPIRED_STATUSES:
                raise DownloadError(
                    "expired",
                    f"HTTP {resp.status_code} for {shown}: the link has expired (result URLs last 24 h) "
                    "or the file no longer exists",
                )
            if resp.status_code >= 400:
                # 5xx, 408 and 429 pass with time ("http"); other 4xx will not ("refused").
                transient = resp.status_code >= 500 or resp.status_code in (408, 429)
                raise DownloadError("http" if transient else "refused", f"HTTP {resp.status_code} for {shown}")
            declared = _content_length(resp)
            if declared is not None and declared > max_bytes:
                raise DownloadError("too_large", f"{declared} bytes declared, limit {max_bytes}")

            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            tmp_path = Path(name)
            written = 0
            try:
                with os.fdopen(fd, "wb") as out:
                    for piece in resp.iter_content(chunk_size=chunk):
                        if not piece:
                            continue
                        written += len(piece)
                        if written > max_bytes:
                            raise DownloadError("too_large", f"more than {max_bytes} bytes")
                        if time.monotonic() > deadline:
                            raise DownloadError("timeout", f"not finished within {timeout:.0f}s")
                        out.write(piece)
                    out.flush()
                    os.fsync(out.fileno())
            except requests.Timeout:
                raise DownloadError("timeout", f"read stalled for {read_timeout:.0f}s") from None
            except requests.RequestException as exc:
                raise DownloadError("http", f"{type(exc).__name__} while reading {shown}") from None
            if declared is not None and written != declared and not resp.headers.get("Content-Encoding"):
                raise DownloadError("http", f"truncated: {written} of {declared} bytes")
            os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; a saved video should be readable as usual
            os.replace(tmp_path, dest)
            tmp_path = None
            log.info("downloaded %s (%d bytes) to %s", shown, written, dest)
            return written
    finally:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink()
        if own:
            sess.close()


def _content_length(resp: requests.Response) -> int | None:
    v = resp.headers.get("Content-Length")
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None
