"""Logging setup for every entry point: structlog rendering over stdlib logging, secrets masked.

Library modules only call `logging.getLogger(__name__)`; this module is called
once by the process entry point. Every configured secret value (and any
``Bearer …`` token) becomes ``***`` at three levels, so no path can leak one:

* a filter cleans the record's message and arguments;
* a processor cleans every string of the event dict, including the traceback text
  (``exception``), before the renderer runs;
* the formatter cleans the final rendered line (catching JSON-escaped forms too).

Tracebacks are kept in both modes (text and ``LOG_JSON=true``), rendered as plain
text without local variables: rich's pretty tracebacks print locals, and the
locals of a crypto frame are the Encrypt Key.

Every line carries the ids of the job it is about (``rid``, ``task_id``, ``chat_id``; never a
user's id or text), from structlog's context variables: the engine opens a `log_scope` for each
unit of work of a reused thread (a stream entry, a polling tick), a `job_context` around each job
it handles inside one, and `bind_job`s ids as it learns them. Lines of plain `logging` calls, the
clients' included, get them through the formatter (`merge_contextvars` for foreign records), in
both modes, as long as they are logged in that thread.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import structlog
from structlog.typing import EventDict, WrappedLogger

from bot.config import Settings

_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-~+/=]+")
MASK = "***"


class Redactor:
    """Replaces known secret values (and their JSON/repr-escaped spellings) with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for s in secrets:
            if not s or len(s) < 4:
                continue
            forms.update({s, json.dumps(s)[1:-1], json.dumps(s, ensure_ascii=False)[1:-1], repr(s)[1:-1]})
        self.secrets = sorted(forms, key=len, reverse=True)  # longest first: no partial leftovers

    def clean(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, MASK)
        return _BEARER.sub(r"\1" + MASK, text)

    def clean_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.clean(value)
        if isinstance(value, dict):
            return {k: self.clean_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.clean_value(v) for v in value)
        return value

    def processor(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        """structlog processor: clean every string in the event dict (message, exception text...)."""
        for key, value in list(event_dict.items()):
            if key in ("_record", "_from_structlog"):
                continue
            if key == "exc_info" and value:
                continue  # rendered (then cleaned) by format_exc_info, which runs before this
            event_dict[key] = self.clean_value(value)
        return event_dict


class RedactSecrets(logging.Filter):
    """Cleans a record's message and arguments; the traceback is cleaned after rendering."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.redactor = Redactor(secrets)
        self.secrets = self.redactor.secrets

    def _clean(self, text: str) -> str:
        return self.redactor.clean(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the record, show the raw template
            message = str(record.msg)
        cleaned = self._clean(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """The structlog formatter, with the finished line cleaned once more."""

    def __init__(self, redactor: Redactor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.clean(super().format(record))


JOB_KEYS = ("rid", "task_id", "chat_id")
"""The ids a job's log lines carry (ids only: no user, no prompt)."""


def bind_job(*, rid: str = "", task_id: str = "", chat_id: str = "") -> None:
    """Add the ids that are known (non-empty) to this thread's log context."""
    known = {k: v for k, v in (("rid", rid), ("task_id", task_id), ("chat_id", chat_id)) if v}
    if known:
        structlog.contextvars.bind_contextvars(**known)


def rebind_job(*, rid: str = "", task_id: str = "", chat_id: str = "") -> None:
    """From here on, another job's ids: those of the job before are dropped first."""
    structlog.contextvars.unbind_contextvars(*JOB_KEYS)
    bind_job(rid=rid, task_id=task_id, chat_id=chat_id)


@contextmanager
def job_context(*, rid: str = "", task_id: str = "", chat_id: str = "") -> Iterator[None]:
    """Inside, log lines carry this job's ids and no other job's; the context before comes back after."""
    saved = structlog.contextvars.get_contextvars()
    structlog.contextvars.unbind_contextvars(*JOB_KEYS)
    bind_job(rid=rid, task_id=task_id, chat_id=chat_id)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**saved)


@contextmanager
def log_scope(**ids: str) -> Iterator[None]:
    """One unit of work of a reused thread (a stream entry, a tick): nothing bound by the previous
    one shows, and nothing bound inside outlives it."""
    structlog.contextvars.clear_contextvars()
    bind_job(**ids)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()


def detach_lark_handlers(lark_logger: logging.Logger) -> None:
    """Remove the stdout handler lark-oapi attaches to its "Lark" logger at import.

    That handler writes unredacted; without it, records propagate to the root handler.
    """
    for h in list(lark_logger.handlers):
        lark_logger.removeHandler(h)


class _LarkGuard(logging.Filter):
    """On the "Lark" logger: nothing below WARNING (bodies, tokens), and only our handlers.

    lark-oapi may be imported (adding its own handler) and may reset the logger's level
    after logging was configured, so this runs for every record rather than once.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        lark_logger = logging.getLogger("Lark")
        if lark_logger.handlers:
            detach_lark_handlers(lark_logger)
        return record.levelno >= logging.WARNING


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret value a log line must never show."""
    secrets = [
        settings.ark_api_key.get_secret_value() if settings.ark_api_key else "",
        settings.feishu_app_secret.get_secret_value(),
        settings.feishu_encrypt_key.get_secret_value(),
        settings.feishu_verification_token.get_secret_value(),
        settings.metrics_token.get_secret_value(),
        settings.redis_sentinel_password.get_secret_value(),
    ]
    if settings.redis_url:
        try:
            secrets.append(urlsplit(settings.redis_url).password or "")
        except ValueError:
            pass
    return secrets


def build_handler(settings: Settings, stream: Any = None) -> logging.Handler:
    """The one handler every process logs through (stderr unless `stream` is given)."""
    redactor = Redactor(settings_secrets(settings))
    out = stream if stream is not None else sys.stderr
    renderer: Any
    if settings.log_json:
        renderer = structlog.processors.JSONRenderer()
    else:
        colors = bool(getattr(out, "isatty", lambda: False)())
        renderer = structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)
    formatter = RedactingFormatter(
        redactor,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # plain traceback text, no locals, in both modes
            redactor.processor,
            renderer,
        ],
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,  # the job's ids (`log_scope`, `job_context`)
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets(settings_secrets(settings)))
    return handler


def configure_logging(settings: Settings, stream: Any = None) -> None:
    handler = build_handler(settings, stream)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Third-party chatter: lark-oapi logs whole request bodies at DEBUG.
    for noisy in ("Lark", "lark_oapi", "urllib3", "apscheduler.executors", "waitress.queue"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    lark_logger = logging.getLogger("Lark")
    detach_lark_handlers(lark_logger)
    if not any(isinstance(f, _LarkGuard) for f in lark_logger.filters):
        lark_logger.addFilter(_LarkGuard())
