"""Small facts the doctor, its report and the banner share, with no heavy imports (the banner loads early)."""

from __future__ import annotations

from importlib import metadata
from urllib.parse import urlsplit


def version() -> str:
    """This installation's version (package metadata), or "unknown" when run from a bare checkout."""
    try:
        return metadata.version("seedance-bot")
    except metadata.PackageNotFoundError:
        return "unknown"


def without_password(url: str) -> str:
    """A Redis (or any) URL fit to print: the password (or a lone token) replaced by ***, and so is a
    ``sentinel_password`` in the query (a ``redis+sentinel://`` URL, `bot.config.sentinel_url`)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return "<unparseable URL>"
    if "sentinel_password=" in parts.query:
        query = "&".join("sentinel_password=***" if q.startswith("sentinel_password=") else q
                         for q in parts.query.split("&"))
        parts = parts._replace(query=query)
    if "@" not in netloc:
        return parts.geturl() if parts.query != urlsplit(url).query else url
    creds, host = netloc.rsplit("@", 1)
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
