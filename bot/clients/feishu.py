"""Outbound Feishu/Lark OpenAPI client on the official SDK (lark-oapi 1.7.x).

Why a wrapper at all: the SDK never raises on `code != 0`, never retries, never refreshes a token the
server rejected (99991663), and shares one token cache across the whole process. This module turns
every failure into `FeishuError` (always with the `log_id`), retries only what is safe to retry (the
policy is in the `FeishuClient` docstring), and keeps tokens per client instance.

Token cache finding (lark-oapi 1.7.5, `core/token/manager.py`, `client.py`):
  * `TokenManager.cache` is a class attribute, so one cache serves every `lark.Client` in the process,
    keyed only by `self_tenant_token:{app_id}` (no domain in the key).
  * `ClientBuilder.cache(x)` is NOT per client: `build()` runs `TokenManager.cache = x`, replacing the
    process-global cache for every client built before or after.
  * So two clients with the same app_id against different servers (tests with two simulators, or a
    Feishu and a Lark install sharing an app_id string) would read each other's tokens.
  We therefore build the SDK client with `enable_set_token(True)` and pass our own per-instance tenant
  token in `RequestOption.tenant_access_token` on every call: the SDK's `verify()` then returns before it
  ever touches `TokenManager`. The token itself is fetched with the SDK's typed
  `auth.v3.tenant_access_token.internal` call.
"""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import lark_oapi as lark
import requests
from lark_oapi.api.application.v6 import ListScopeRequest
from lark_oapi.api.auth.v3 import (
    InternalTenantAccessTokenRequest,
    InternalTenantAccessTokenRequestBody,
)
from lark_oapi.api.im.v1 import (
    CreateFileRequest,
    CreateFileRequestBody,
    CreateImageRequest,
    CreateImageRequestBody,
    CreateMessageReactionRequest,
    CreateMessageReactionRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    DeleteMessageReactionRequest,
    Emoji,
    GetMessageRequest,
    GetMessageResourceRequest,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.exception import UnmarshalException
from pydantic import SecretStr
from urllib3.exceptions import ConnectTimeoutError

from bot.config import MissingSettingError
from bot.download import download_to_file
from bot.errors import DownloadError, FeishuError
from bot.metrics import ProcessMetrics
from bot.retry import Backoff

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

R = TypeVar("R")

# --- documented limits (feishu-api.md §5.3-§5.6) -------------------------------------------------
MAX_VIDEO_BYTES = 30 * 1024 * 1024  # im/v1/files: "≤ 30 MB and not empty"
MAX_IMAGE_BYTES = 10 * 1024 * 1024  # im/v1/images: "≤ 10 MB and not 0 bytes"
MAX_TEXT_BYTES = 150 * 1024  # text message body
MAX_CARD_BYTES = 30 * 1024  # interactive / post body
MAX_UUID_LEN = 50

# --- error codes (feishu-api.md §5.9) ----------------------------------------------------------
CODE_TOKEN_INVALID = 99991663
RATE_LIMIT_CODES = frozenset({230020, 11232, 99991400})  # chat, tenant, generic frequency limits
CODE_LOCAL = -1  # a failure with no Feishu code (transport, non-JSON body, local check)

KNOWN_CODES = frozenset({
    0, CODE_LOCAL, CODE_TOKEN_INVALID, *RATE_LIMIT_CODES,
    99991661, 99991671, 99991672, 99991676, 99991543,  # tokens, scopes, app credentials
    230001, 230002, 230006, 230012, 230027, 234006, 234043,  # parameters, bot not in chat, permission, files
})
"""Codes that keep their number as a metric label (feishu-api.md §5.9); others become a bucket."""

_LOGID_HEADER = "x-tt-logid"
_RESET_HEADER = "x-ogw-ratelimit-reset"


def code_label(code: int, status: int | None = None) -> str:
    """A Feishu code as a metric label: itself when known, else server_error (HTTP 5xx) or other."""
    if code in KNOWN_CODES:
        return str(code)
    return "server_error" if status is not None and status >= 500 else "other"


# --- results --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BotInfo:
    open_id: str
    app_name: str
    # bot/v3/info's `activate_status`: 2 = enabled in the tenant; 0 not installed yet, 1 disabled by
    # the tenant, 3 installed but not enabled, 4 waiting to be enabled after an upgrade, 5 licence
    # expired, 6 Lark plan expired or downgraded. None when the answer has none.
    activate_status: int | None = field(default=None, compare=False)  # a state, not part of who the bot is


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: str
    chat_id: str | None = None
    thread_id: str | None = None
    root_id: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class MessageInfo:
    message_id: str
    msg_type: str
    content: dict[str, Any]
    chat_id: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    root_id: str | None = None
    sender_id: str | None = None


# --- internal failure description -------------------------------------------------------------------
@dataclass(slots=True)
class _Failure:
    """One failed attempt, with what the retry loop needs to decide."""

    error: FeishuError
    transient: bool  # worth retrying later (rate limit, 5xx, network)
    not_processed: bool  # the server certainly did not act on the request (safe even without uuid)
    wait: float | None = None  # server-suggested delay (x-ogw-ratelimit-reset)
    token_invalid: bool = False
    token: str | None = None


class _AttemptFailed(Exception):
    def __init__(self, failure: _Failure) -> None:
        super().__init__(failure.error.msg)
        self.failure = failure


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive lookup: the SDK copies `requests` headers into a plain dict."""
    if not headers:
        return None
    wanted = name.lower()
    for k, v in headers.items():
        if k.lower() == wanted:
            return v
    return None


def _reset_delay(value: str | None, now: float) -> float | None:
    """Seconds to wait from `x-ogw-ratelimit-reset` (seconds until reset; an epoch is also accepted)."""
    if value is None:
        return None
    try:
        v = float(value.strip())
    except ValueError:
        return None
    if v > 1e9:  # looks like a Unix timestamp, not a duration
        v -= now
    return max(v, 0.0)


def _dump_content(content: dict[str, Any] | str) -> str:
    """Content is always a JSON string holding an object (§5.4); a str is taken as already serialised."""
    if isinstance(content, str):
        try:
            parsed = json.loads(content)
        except ValueError as exc:
            raise ValueError("content str must be a JSON object string (pass a dict instead)") from exc
        if not isinstance(parsed, dict):
            raise ValueError("content must be a JSON object")
        return content
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


def _check_content(msg_type: str, content: str) -> None:
    size = len(content.encode("utf-8"))
    limit = MAX_TEXT_BYTES if msg_type == "text" else MAX_CARD_BYTES if msg_type in (
        "interactive", "post") else None
    if limit is not None and size > limit:
        raise FeishuError(f"{msg_type} content is {size} bytes; Feishu accepts at most {limit}",
                          code=CODE_LOCAL)


def _check_uuid(uuid: str | None) -> None:
    if uuid is not None and not 0 < len(uuid) <= MAX_UUID_LEN:
        raise ValueError(f"uuid must be 1..{MAX_UUID_LEN} characters (Feishu dedupes on it for 1 h)")


def _sniff_image(data: bytes) -> tuple[str, str]:
    """A filename and MIME type for the multipart part; Feishu detects the format itself."""
    if data.startswith(b"\x89PNG"):
        return "image.png", "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image.jpg", "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image.gif", "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image.webp", "image/webp"
    if data.startswith(b"BM"):
        return "image.bmp", "image/bmp"
    return "image", "application/octet-stream"


def _parse_content(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"raw": raw}
    return parsed if isinstance(parsed, dict) else {"raw": parsed}


class FeishuClient:
    """The bot's only way to talk to the Feishu/Lark OpenAPI (sync; thread-safe).

    Retry policy (inside every call, `max_retries` retries after the first attempt):
      * HTTP 429 and codes 230020 / 11232 / 99991400: the server rejected the request, so it is retried
        even for a send without uuid; the wait honours `x-ogw-ratelimit-reset` (capped at `max_delay`).
      * HTTP 5xx, timeouts, dropped connections, non-JSON bodies: retried only for idempotent calls
        (reads, uploads, PATCH, delete, and sends/replies that carry a `uuid`, which Feishu dedupes for
        1 h). A send WITHOUT uuid is never retried once it may have reached Feishu: a duplicate chat
        message is worse than a reported failure. Connection refused / connect timeout is retried for
        everything (nothing was sent).
      * 99991663 (tenant token invalid/expired): the SDK does not refresh, so we drop our cached token,
        fetch a new one and retry once, without sleeping.
      * Anything else raises `FeishuError` at once.
    Backoff: `bot.retry.Backoff(backoff, max_delay)`, the project's one policy.
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        base_url: str = "https://open.feishu.cn",
        timeout: float = 30,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        metrics: ProcessMetrics | None = None,
    ) -> None:
        """`metrics`: where every attempt is counted (`bot.metrics`); the composition root passes the
        process's one object, else the client has a private one."""
        if not app_id or not app_secret:
            raise ValueError("Feishu app_id and app_secret are required (FEISHU_APP_ID / FEISHU_APP_SECRET)")
        self.app_id = app_id
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.max_delay = max_delay
        self._sleep = sleep
        self._secret = SecretStr(app_secret)  # never rendered by repr/vars/logging
        self._token: str | None = None
        self._token_deadline = 0.0  # time.monotonic() after which we fetch a new token
        self._token_lock = threading.Lock()
        self.metrics = metrics or ProcessMetrics.create()
        try:
            self._sdk: Any = (
                lark.Client.builder()
                .app_id(app_id)
                .app_secret(app_secret)
                .domain(self.base_url)
                .timeout(timeout)
                .enable_set_token(True)  # per-instance tokens; see the module docstring
                .build()
            )
        except ValueError as exc:  # the SDK validates the domain at build time
            raise ValueError(
                f"bad Feishu base URL {self.base_url!r}: use https://host[:port] "
                "(http only for 127.0.0.1/localhost), no path"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> FeishuClient:
        """Build from `Settings`: FEISHU_DOMAIN = feishu | lark | an explicit origin."""
        secret = settings.feishu_app_secret.get_secret_value()
        if not settings.feishu_app_id or not secret:
            raise MissingSettingError(
                "FEISHU_APP_ID / FEISHU_APP_SECRET are not set: copy them from your app's "
                "'Credentials & Basic Info' page on open.feishu.cn/app (or open.larksuite.com/app)."
            )
        return cls(settings.feishu_app_id, secret, base_url=settings.feishu_base_url, **kwargs)

    def __repr__(self) -> str:
        return f"FeishuClient(app_id={self.app_id!r}, base_url={self.base_url!r})"

    def _record(self, op: str, code: str, started: float) -> None:
        """Count one attempt of `op` and its time (`bot_feishu_calls`, `bot_feishu_call_seconds`)."""
        self.metrics.feishu_calls.labels(op, code).inc()
        self.metrics.feishu_call_seconds.labels(op).observe(time.monotonic() - started)

    # --- tokens -------------------------------------------------------------------------------------
    def _tenant_token(self) -> str:
        """The cached tenant token, fetched (once, under a lock) when missing or near expiry."""
        with self._token_lock:
            if self._token and time.monotonic() < self._token_deadline:
                return self._token
            token, expire = self._fetch_token()
            # The SDK's rule: expire early by 10 min; short-lived tokens (fakes) get half their life.
            ttl = expire - 600 if expire > 1200 else expire / 2
            self._token, self._token_deadline = token, time.monotonic() + ttl
            return token

    def _fetch_token(self) -> tuple[str, int]:
        req = (
            InternalTenantAccessTokenRequest.builder()
            .request_body(
                InternalTenantAccessTokenRequestBody.builder()
                .app_id(self.app_id)
                .app_secret(self._secret.get_secret_value())
                .build()
            )
            .build()
        )
        failure: _Failure | None
        started = time.monotonic()
        try:
            resp = self._sdk.auth.v3.tenant_access_token.internal(req)
            failure = self._response_failure("tenant_access_token", resp)
        except Exception as exc:
            failure = self._exception_failure("tenant_access_token", exc)
        self._record("tenant_access_token",
                     "0" if failure is None else code_label(failure.error.code, failure.error.status), started)
        if failure is None:
            # §5.1: no `data` wrapper, so the typed model's `data` is empty; read the raw body.
            try:
                body = json.loads(resp.raw.content)
                token, expire = str(body["tenant_access_token"]), int(body.get("expire") or 0)
            except (ValueError, KeyError, TypeError):
                err = FeishuError("tenant_access_token response without a token", code=CODE_LOCAL,
                                  log_id=self._log_id(resp), status=resp.raw.status_code)
                failure = _Failure(err, transient=False, not_processed=True)
            else:
                if token:
                    return token, expire
                failure = _Failure(FeishuError("empty tenant_access_token", code=CODE_LOCAL),
                                   transient=False, not_processed=True)
        # Nothing of the real call was sent yet, whatever happened to the token request.
        failure.not_processed = True
        failure.token_invalid = False
        raise _AttemptFailed(failure)

    def _invalidate(self, token: str | None) -> None:
        """Forget `token` unless another thread already replaced it with a fresh one."""
        with self._token_lock:
            if token is None or self._token == token:
                self._token, self._token_deadline = None, 0.0

    # --- the retry loop -------------------------------------------------------------------------------
    def _call(self, op: str, fn: Callable[[Any], R], *, idempotent: bool) -> R:
        """Run `fn(option)` (one SDK call, building its request afresh) under the retry policy."""
        attempt = 0
        refreshed = False
        while True:
            token: str | None = None
            started: float | None = None
            try:
                token = self._tenant_token()
                option = lark.RequestOption.builder().tenant_access_token(token).build()
                started = time.monotonic()
                try:
                    resp = fn(option)
                except Exception as exc:
                    raise _AttemptFailed(self._exception_failure(op, exc)) from exc
                failure = self._response_failure(op, resp)
                if failure is None:
                    self._record(op, "0", started)
                    return resp
                failure.token = token
            except _AttemptFailed as af:
                failure = af.failure

            err = failure.error
            # The token request's own failure is counted as op "tenant_access_token" (`_fetch_token`).
            if started is not None:
                self._record(op, code_label(err.code, err.status), started)
            if failure.token_invalid and not refreshed:
                log.info("feishu %s: tenant token rejected (log_id=%s); fetching a new one", op, err.log_id)
                self._invalidate(failure.token)
                refreshed = True
                continue
            safe = idempotent or failure.not_processed
            if not failure.transient or not safe or attempt >= self.max_retries:
                if failure.transient and not safe:
                    err.msg += " (outcome unknown; not retried: a send without uuid could duplicate)"
                    err.args = (f"Feishu error {err.code}: {err.msg}",)
                    err.retryable = False
                else:
                    err.retryable = failure.transient
                err.retry_after = failure.wait
                log.warning("feishu %s failed: code=%s status=%s log_id=%s attempts=%d: %s",
                            op, err.code, err.status, err.log_id, attempt + 1, err.msg)
                raise err
            delay = self._delay(attempt, failure.wait)
            log.info("feishu %s: retryable failure code=%s status=%s log_id=%s; retry %d/%d in %.2fs",
                     op, err.code, err.status, err.log_id, attempt + 1, self.max_retries, delay)
            self._sleep(delay)
            attempt += 1

    def _delay(self, attempt: int, server_wait: float | None) -> float:
        if server_wait is not None:
            return min(server_wait, self.max_delay)  # the gateway says when the window reopens
        return Backoff(base=self.backoff, cap=self.max_delay).delay(attempt)

    @staticmethod
    def _log_id(resp: Any) -> str | None:
        raw = getattr(resp, "raw", None)
        lid = resp.get_log_id() if hasattr(resp, "get_log_id") else None
        return lid or _header(getattr(raw, "headers", None), _LOGID_HEADER)

    def _response_failure(self, op: str, resp: Any) -> _Failure | None:
        """None on success, else what went wrong, read from the envelope and the HTTP status."""
        if resp.success():
            return None
        raw = resp.raw
        status: int | None = getattr(raw, "status_code", None)
        headers = getattr(raw, "headers", None)
        code = resp.code if isinstance(resp.code, int) else CODE_LOCAL
        msg = resp.msg or (f"HTTP {status}" if status else "unknown error")
        rate_limited = status == 429 or code in RATE_LIMIT_CODES
        token_invalid = code == CODE_TOKEN_INVALID
        server = status is not None and status >= 500
        return _Failure(
            FeishuError(f"{op}: {msg}", code=code, log_id=self._log_id(resp), status=status),
            transient=rate_limited or server,
            not_processed=rate_limited or token_invalid,
            wait=_reset_delay(_header(headers, _RESET_HEADER), time.time()) if rate_limited else None,
            token_invalid=token_invalid,
        )

    @staticmethod
    def _exception_failure(op: str, exc: Exception) -> _Failure:
        """Exceptions the SDK lets through: `requests` transport errors and bodies it could not parse."""
        if isinstance(exc, requests.RequestException):
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            never_sent = isinstance(exc, requests.ConnectTimeout) or (
                isinstance(exc, requests.ConnectionError) and isinstance(reason, ConnectTimeoutError)
            )  # NewConnectionError (refused, DNS) is a ConnectTimeoutError subclass in urllib3 2
            transient = isinstance(exc, requests.ConnectionError | requests.Timeout
                                   | requests.exceptions.ChunkedEncodingError)
            err = FeishuError(f"{op}: transport error: {type(exc).__name__}: {exc}", code=CODE_LOCAL)
            return _Failure(err, transient=transient, not_processed=never_sent)
        if isinstance(exc, ValueError | UnicodeDecodeError | UnmarshalException):
            # The SDK json-decodes every body; a gateway HTML page (502/504) ends up here with no status.
            return _Failure(FeishuError(f"{op}: unparseable response from Feishu ({type(exc).__name__})",
                                        code=CODE_LOCAL), transient=True, not_processed=False)
        raise exc

    # --- bot ------------------------------------------------------------------------------------------
    def bot_info(self) -> BotInfo:
        """GET /open-apis/bot/v3/info (no typed wrapper in the SDK); `bot` sits at the top level."""

        def call(option: Any) -> Any:
            req = (
                lark.BaseRequest.builder()
                .http_method(lark.HttpMethod.GET)
                .uri("/open-apis/bot/v3/info")
                .token_types({lark.AccessTokenType.TENANT})
                .build()
            )
            return self._sdk.request(req, option)

        resp = self._call("bot_info", call, idempotent=True)
        try:
            body = json.loads(resp.raw.content)
        except ValueError as exc:
            raise FeishuError("bot_info: response is not JSON", log_id=self._log_id(resp)) from exc
        bot = body.get("bot") or (body.get("data") or {}).get("bot") or {}
        if not bot.get("open_id"):
            raise FeishuError("bot_info: response has no bot.open_id", log_id=self._log_id(resp))
        status = bot.get("activate_status")
        return BotInfo(open_id=str(bot["open_id"]), app_name=str(bot.get("app_name") or ""),
                       activate_status=status if isinstance(status, int) else None)

    def verify_credentials(self) -> None:
        """Fetch a tenant token now: `FeishuError` with Feishu's code when FEISHU_APP_ID/SECRET are refused."""
        try:
            self._tenant_token()
        except _AttemptFailed as af:
            raise af.failure.error from None

    def app_scopes(self) -> dict[str, bool]:
        """GET /open-apis/application/v6/scopes: the scopes this app asked for → granted in the tenant.

        The call needs no scope of its own (open.feishu.cn: application-v6/scope/list). A scope the app never
        added is absent; one added but not yet granted (no version published, or the tenant admin
        has not approved it) maps to False.
        """
        resp = self._call("app_scopes", lambda option: self._sdk.application.v6.scope.list(
            ListScopeRequest.builder().build(), option), idempotent=True)
        granted: dict[str, bool] = {}
        for scope in getattr(resp.data, "scopes", None) or []:
            name = getattr(scope, "scope_name", None)
            if name:  # a scope may be listed once per identity type: granted if any entry is
                granted[name] = granted.get(name, False) or getattr(scope, "grant_status", None) == 1
        return granted

    # --- messages -------------------------------------------------------------------------------------
    def reply(
        self,
        message_id: str,
        msg_type: str,
        content: dict[str, Any] | str,
        *,
        reply_in_thread: bool = False,
        uuid: str | None = None,
    ) -> SentMessage:
        """POST /im/v1/messages/:id/reply. Use this, not `send`, so topic groups keep the thread (§5.3)."""
        body = _dump_content(content)
        _check_content(msg_type, body)
        _check_uuid(uuid)

        def call(option: Any) -> Any:
            rb = ReplyMessageRequestBody.builder().msg_type(msg_type).content(body)
            if reply_in_thread:
                rb = rb.reply_in_thread(True)
            if uuid:
                rb = rb.uuid(uuid)
            req = ReplyMessageRequest.builder().message_id(message_id).request_body(rb.build()).build()
            return self._sdk.im.v1.message.reply(req, option)

        # With a uuid Feishu keeps at most one reply per uuid for 1 h, so a blind retry is safe.
        resp = self._call("reply", call, idempotent=uuid is not None)
        return self._sent(resp, "reply")

    def send(
        self,
        receive_id: str,
        msg_type: str,
        content: dict[str, Any] | str,
        *,
        receive_id_type: str = "chat_id",
        uuid: str | None = None,
    ) -> SentMessage:
        """POST /im/v1/messages?receive_id_type=... (a new message, a new topic in topic groups)."""
        body = _dump_content(content)
        _check_content(msg_type, body)
        _check_uuid(uuid)

        def call(option: Any) -> Any:
            rb = CreateMessageRequestBody.builder().receive_id(receive_id).msg_type(msg_type).content(body)
            if uuid:
                rb = rb.uuid(uuid)
            req = (CreateMessageRequest.builder().receive_id_type(receive_id_type)
                   .request_body(rb.build()).build())
            return self._sdk.im.v1.message.create(req, option)

        # Without a uuid, a timeout after sending must not be retried (see the class docstring).
        resp = self._call("send", call, idempotent=uuid is not None)
        return self._sent(resp, "send")

    def _sent(self, resp: Any, op: str) -> SentMessage:
        d = resp.data
        if d is None or not d.message_id:
            raise FeishuError(f"{op}: response has no message_id", log_id=self._log_id(resp))
        return SentMessage(message_id=d.message_id, chat_id=d.chat_id, thread_id=d.thread_id,
                           root_id=d.root_id, parent_id=d.parent_id)

    def reply_text(self, message_id: str, text: str, *, reply_in_thread: bool = False,
                   uuid: str | None = None) -> SentMessage:
        return self.reply(message_id, "text", {"text": text}, reply_in_thread=reply_in_thread, uuid=uuid)

    def reply_card(self, message_id: str, card: dict[str, Any], *, reply_in_thread: bool = False,
                   uuid: str | None = None) -> SentMessage:
        return self.reply(message_id, "interactive", card, reply_in_thread=reply_in_thread, uuid=uuid)

    def reply_media(self, message_id: str, file_key: str, image_key: str, *, reply_in_thread: bool = False,
                    uuid: str | None = None) -> SentMessage:
        """A playable video: msg_type media with the mp4 file_key AND a cover image_key (both required)."""
        if not file_key or not image_key:
            raise ValueError("reply_media needs both file_key (mp4 upload) and image_key (cover)")
        return self.reply(message_id, "media", {"file_key": file_key, "image_key": image_key},
                          reply_in_thread=reply_in_thread, uuid=uuid)

    def send_text(self, chat_id: str, text: str, *, uuid: str | None = None) -> SentMessage:
        return self.send(chat_id, "text", {"text": text}, uuid=uuid)

    def send_card(self, chat_id: str, card: dict[str, Any], *, uuid: str | None = None) -> SentMessage:
        return self.send(chat_id, "interactive", card, uuid=uuid)

    def patch_card(self, message_id: str, card: dict[str, Any]) -> None:
        """PATCH /im/v1/messages/:id: replace a card the bot sent (needs update_multi in both cards)."""
        body = _dump_content(card)
        _check_content("interactive", body)

        def call(option: Any) -> Any:
            req = (
                PatchMessageRequest.builder()
                .message_id(message_id)
                .request_body(PatchMessageRequestBody.builder().content(body).build())
                .build()
            )
            return self._sdk.im.v1.message.patch(req, option)

        self._call("patch_card", call, idempotent=True)  # same content twice = same card

    def get_message(self, message_id: str) -> MessageInfo:
        """GET /im/v1/messages/:id (data.items[0]); content comes back parsed."""

        def call(option: Any) -> Any:
            req = GetMessageRequest.builder().message_id(message_id).build()
            return self._sdk.im.v1.message.get(req, option)

        resp = self._call("get_message", call, idempotent=True)
        items = resp.data.items if resp.data is not None else None
        if not items:
            raise FeishuError("get_message: response has no items", log_id=self._log_id(resp))
        m = items[0]
        return MessageInfo(
            message_id=m.message_id or message_id,
            msg_type=m.msg_type or "",
            content=_parse_content(m.body.content if m.body is not None else None),
            chat_id=m.chat_id,
            thread_id=m.thread_id,
            parent_id=m.parent_id,
            root_id=m.root_id,
            sender_id=m.sender.id if m.sender is not None else None,
        )

    # --- reactions ------------------------------------------------------------------------------------
    def add_reaction(self, message_id: str, emoji_type: str) -> str:
        """POST .../reactions; returns the reaction_id (needed to delete it). emoji_type is case-sensitive."""

        def call(option: Any) -> Any:
            req = (
                CreateMessageReactionRequest.builder()
                .message_id(message_id)
                .request_body(
                    CreateMessageReactionRequestBody.builder()
                    .reaction_type(Emoji.builder().emoji_type(emoji_type).build())
                    .build()
                )
                .build()
            )
            return self._sdk.im.v1.message_reaction.create(req, option)

        # Not treated as idempotent: a retry after a lost response could leave a second reaction behind.
        resp = self._call("add_reaction", call, idempotent=False)
        rid = resp.data.reaction_id if resp.data is not None else None
        if not rid:
            raise FeishuError("add_reaction: response has no reaction_id", log_id=self._log_id(resp))
        return str(rid)

    def delete_reaction(self, message_id: str, reaction_id: str) -> None:
        def call(option: Any) -> Any:
            req = (DeleteMessageReactionRequest.builder().message_id(message_id)
                   .reaction_id(reaction_id).build())
            return self._sdk.im.v1.message_reaction.delete(req, option)

        self._call("delete_reaction", call, idempotent=True)

    # --- uploads --------------------------------------------------------------------------------------
    def upload_video(self, path: Path, *, duration_ms: int, file_name: str | None = None) -> str:
        """POST /im/v1/files (file_type mp4) streaming from disk; returns the file_key for a media message.

        Size is checked locally first (non-empty, ≤ 30 MB) so an oversize video fails fast with a clear
        message instead of an unverified server code. The part is sent as a (name, fileobj, mime) tuple so
        it carries a filename (§5.5).
        """
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise FeishuError(f"upload_video: cannot read {path.name}: {exc.strerror}") from exc
        if size == 0:
            raise FeishuError(f"upload_video: {path.name} is empty; Feishu refuses empty files")
        if size > MAX_VIDEO_BYTES:
            raise FeishuError(f"upload_video: {path.name} is {size / 1048576:.1f} MB; "
                              f"Feishu accepts at most {MAX_VIDEO_BYTES // 1048576} MB")
        name = file_name or path.name

        def call(option: Any) -> Any:
            with path.open("rb") as fh:  # reopened per attempt: the encoder consumes the stream
                body = (
                    CreateFileRequestBody.builder()
                    .file_type("mp4")
                    .file_name(name)
                    .duration(int(duration_ms))
                    .file((name, fh, "video/mp4"))
                    .build()
                )
                req = CreateFileRequest.builder().request_body(body).build()
                return self._sdk.im.v1.file.create(req, option)

        resp = self._call("upload_video", call, idempotent=True)  # a duplicate upload is only an orphan key
        key = resp.data.file_key if resp.data is not None else None
        if not key:
            raise FeishuError("upload_video: response has no file_key", log_id=self._log_id(resp))
        return str(key)

    def upload_image(self, data: bytes | Path) -> str:
        """POST /im/v1/images (image_type message); returns the image_key (also a video cover)."""
        if isinstance(data, Path):
            try:
                size = data.stat().st_size
            except OSError as exc:
                raise FeishuError(f"upload_image: cannot read {data.name}: {exc.strerror}") from exc
            with data.open("rb") as fh:
                head = fh.read(16)
            name = data.name
            mime = mimetypes.guess_type(name)[0] or _sniff_image(head)[1]
        else:
            size = len(data)
            name, mime = _sniff_image(data)
        if size == 0:
            raise FeishuError("upload_image: the image is empty; Feishu refuses 0-byte images")
        if size > MAX_IMAGE_BYTES:
            raise FeishuError(f"upload_image: the image is {size / 1048576:.1f} MB; "
                              f"Feishu accepts at most {MAX_IMAGE_BYTES // 1048576} MB")

        def call(option: Any) -> Any:
            fh = data.open("rb") if isinstance(data, Path) else io.BytesIO(data)
            with fh:
                body = CreateImageRequestBody.builder().image_type("message").image((name, fh, mime)).build()
                req = CreateImageRequest.builder().request_body(body).build()
                return self._sdk.im.v1.image.create(req, option)

        resp = self._call("upload_image", call, idempotent=True)
        key = resp.data.image_key if resp.data is not None else None
        if not key:
            raise FeishuError("upload_image: response has no image_key", log_id=self._log_id(resp))
        return str(key)

    # --- downloads ------------------------------------------------------------------------------------
    def download_resource(
        self, message_id: str, file_key: str, *, type: Literal["image", "file"], max_bytes: int
    ) -> bytes:
        """GET /im/v1/messages/:id/resources/:key?type=; `type=image` also covers images inside posts.

        The SDK (`requests` without stream=True) loads the whole body before we see it, so `max_bytes` is
        enforced after the fact (raising `DownloadError("too_large")`) rather than by stopping the transfer.
        That is acceptable here because chat images are at most 30 MB (10 MB on upload), so the worst case
        is a bounded buffer, and it keeps this endpoint on the SDK. Do not use it for big files (up to
        100 MB per §5.7): those would need a streamed download outside the SDK.
        """

        def call(option: Any) -> Any:
            req = (GetMessageResourceRequest.builder().message_id(message_id)
                   .file_key(file_key).type(type).build())
            return self._sdk.im.v1.message_resource.get(req, option)

        resp = self._call("download_resource", call, idempotent=True)
        data = resp.file.getvalue() if resp.file is not None else resp.raw.content
        if len(data) > max_bytes:
            raise DownloadError("too_large", f"{type} {file_key} is {len(data)} bytes (limit {max_bytes})")
        return bytes(data)

    def download_file(self, message_id: str, file_key: str, dest: Path, *, max_bytes: int,
                      timeout: float) -> int:
        """Stream a message's file, video or voice message (`type=file`, up to 100 MB, §5.7) into `dest`.

        Outside the SDK (which would hold the whole body in memory): `bot.download.download_to_file`
        with the tenant token, so the body goes to disk in chunks, at most `max_bytes` (else
        `DownloadError("too_large")`) within `timeout` seconds in all. Feishu's refusal (4xx: the
        message was recalled, the key is not of that message, the bot left the chat) raises
        `FeishuError` after one more try with a fresh token; a timeout or 5xx raises the
        `DownloadError` (transient: the step is tried again later).
        """
        url = f"{self.base_url}/open-apis/im/v1/messages/{message_id}/resources/{file_key}?type=file"
        started = time.monotonic()
        for attempt in (1, 2):
            token = self._tenant_token()
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {token}"
                try:
                    size = download_to_file(session, url, dest, max_bytes=max_bytes, timeout=timeout)
                except DownloadError as exc:
                    if exc.reason not in ("refused", "expired"):
                        self._record("download_file", exc.reason, started)
                        raise
                    if attempt == 1:
                        self._invalidate(token)  # a stale token is the one refusal a retry can fix
                        continue
                    self._record("download_file", "refused", started)
                    raise FeishuError(f"download_file: {exc.detail}", retryable=False) from None
            self._record("download_file", "0", started)
            return size
        raise AssertionError("unreachable")


__all__ = [
    "BotInfo",
    "FeishuClient",
    "MessageInfo",
    "SentMessage",
]
