"""The bot's exception tree. Clients raise these; one boundary per role turns them into user text.

    BotError
    ├── SpecError                 a request the catalogue knows cannot work (nothing was sent)
    ├── ImageError                a local/chat image outside the documented limits (nothing was sent)
    ├── MediaError                a reference video/audio outside the documented limits (nothing was sent)
    ├── UpstreamError             a remote service said no or did not answer
    │   ├── ArkError              ModelArk: code, message, request_id, status, retryable
    │   │   └── ArkAmbiguousError a create whose outcome is unknown (timeout after send): never blind-retry
    │   └── FeishuError           Feishu/Lark: code, msg, log_id, retryable
    └── DownloadError             a video/image download failed (expired URL, too big, too slow)

Every error renders without secrets: keys and tokens are never part of a message.
"""

from __future__ import annotations

from typing import Any

from bot import i18n


class BotError(Exception):
    """Base of every error this project raises on purpose."""


class Busy(BotError):
    """Another worker holds what this entry needs (a lease that expires): try again later.

    Not a failure of the entry: the worker leaves it pending without counting it towards
    giving up, since the holder either finishes or its lease runs out.
    """


class SpecError(BotError):
    """A request rejected locally; `code` + `params` render in the user's language (bot.i18n)."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(self.render("en"))

    def render(self, lang: str = "en") -> str:
        return i18n.t(self.code, lang, **self.params)


class ImageError(SpecError):
    """An input image breaks the documented limits (format, aspect, sides, size)."""


class MediaError(SpecError):
    """A reference video or audio breaks the documented limits (format, codec, length, size, fps)."""


class UpstreamError(BotError):
    retryable: bool = False


class ArkError(UpstreamError):
    """An error envelope from ModelArk (`{"error": {code, message, param, type}}`)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        request_id: str | None = None,
        param: str | None = None,
        type: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.param = param
        self.type = type
        self.retryable = retryable

    def __str__(self) -> str:
        head = f"{self.status} {self.code}".strip() if self.status else self.code
        return f"{head}: {self.message}" if head else self.message


class ArkAmbiguousError(ArkError):
    """The create request may have reached the service: the task may exist. Reconcile, don't resend."""


class FeishuError(UpstreamError):
    def __init__(self, msg: str, *, code: int = -1, log_id: str | None = None,
                 status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(f"Feishu error {code}: {msg}")
        self.msg = msg
        self.code = code
        self.log_id = log_id
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after  # seconds Feishu asked to wait (x-ogw-ratelimit-reset), on a 429


class DownloadError(BotError):
    """A download failed; `reason` is one of expired, too_large, timeout, http (may pass), refused (4xx)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"download failed ({reason}){': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail
