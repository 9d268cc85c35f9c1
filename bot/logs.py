"""Logging setup for every entry point: structlog rendering over stdlib logging, secrets masked.

Library modules only call `logging.getLogger(__name__)`; this module is called
once by the process entry point. A filter replaces every configured secret
value (and any `Bearer …` token) with `***` before a record is written, so a
secret that slips into an exception message still never reaches the log.
"""

from __future__ import annotations

import logging
import re
import sys

import structlog

from bot.config import Settings

_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-~+/=]+")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def _clean(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return _BEARER.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if self._clean(text) != text:
                record.exc_text = self._clean(text)
                record.exc_info = None
        return True


def configure_logging(settings: Settings) -> None:
    secrets = [
        settings.ark_api_key.get_secret_value() if settings.ark_api_key else "",
        settings.feishu_app_secret.get_secret_value(),
        settings.feishu_encrypt_key.get_secret_value(),
        settings.feishu_verification_token.get_secret_value(),
    ]
    renderer = (structlog.processors.JSONRenderer() if settings.log_json
                else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Third-party chatter: lark-oapi logs whole request bodies at DEBUG.
    for noisy in ("Lark", "lark_oapi", "urllib3", "apscheduler.executors", "waitress.queue"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
