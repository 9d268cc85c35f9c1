"""A thin, typed client for the ModelArk video-generation task API (ark-api.md §1-§4).

Why not the official SDK: it weighs 68-600 MB installed, and it blindly re-POSTs
`create` on 5xx/timeouts, which can start the same (billed) video twice. This
client is one pooled `requests.Session` and a retry policy per operation:

- `get` / `list` are read-only: retried on 429 (except quota), 5xx, 408,
  timeouts and connection errors, with exponential backoff + jitter, honouring
  `Retry-After` (capped) and the `x-should-retry` hint.
- `create` is retried only when the request certainly did not start a task:
  the connection was never made, or the service answered 429 (a rejection).
  A read timeout, a dropped connection after sending, or a 5xx raise
  `ArkAmbiguousError`: the task may exist, and a duplicate task is a duplicate
  bill. Callers reconcile (e.g. `iter_recent`) instead of resending.
- `delete` is not idempotent in its answer (a cancelled task can't be deleted
  again), so it is retried only when nothing was sent or on 429.

The API key lives only in the per-request `Authorization` header — never on
the (possibly shared) session, in `repr`, logs or error messages.
"""

from __future__ import annotations

import builtins
import email.utils
import json
import logging
import re
import secrets
import string
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError
from urllib3.exceptions import ReadTimeoutError as _U3ReadTimeout

from bot.ark_errors import CODES as KNOWN_CODES
from bot.errors import ArkAmbiguousError, ArkError
from bot.images import heic_allowed, is_remote, load_image_source
from bot.metrics import ProcessMetrics
from bot.retry import Backoff
from bot.spec import VideoSpec, build_create_body

log = logging.getLogger(__name__)

USER_AGENT = f"seedance-bot/0.1 python-requests/{requests.__version__}"
TASKS_PATH = "/contents/generations/tasks"
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "expired", "cancelled"})
# 429 codes that will not clear by waiting a few seconds.
NON_RETRYABLE_429 = frozenset({"QuotaExceeded", "SetLimitExceeded"})
MAX_BACKOFF = 8.0  # seconds, like the official SDK
MAX_RETRY_AFTER = 60.0  # never sleep longer than this on a server's say-so
_REQUEST_ID_TAIL = re.compile(r"Request id:\s*([A-Za-z0-9._:-]+)", re.I)
_ALNUM = string.ascii_letters + string.digits


class _Op(Enum):
    """How an operation may be retried (see module docstring)."""

    READ = "read"  # get, list
    CREATE = "create"
    DELETE = "delete"


class _Secret:
    """Holds the API key so that no repr/str/vars dump can print it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('***')"

    __str__ = __repr__


# ----------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Task:
    """A video-generation task (§3.2). JSON null and missing fields are both None; extras are ignored."""

    id: str
    status: str
    model: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    video_url: str | None = None
    last_frame_url: str | None = None
    seed: int | None = None
    resolution: str | None = None
    ratio: str | None = None
    duration: int | None = None
    frames: int | None = None
    framespersecond: int | None = None
    generate_audio: bool | None = None
    draft: bool | None = None
    draft_task_id: str | None = None
    service_tier: str | None = None
    execution_expires_after: int | None = None
    safety_identifier: str | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    # The parsed JSON object as received (for `--json` output); not part of equality.
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """No further status change will happen (polling can stop)."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @classmethod
    def from_json(cls, obj: Any) -> Task:
        """Parse one task object; `ArkError` if it has no id or status."""
        if not isinstance(obj, Mapping):
            raise ArkError(f"malformed task object from Ark: expected an object, got {type(obj).__name__}")
        task_id, status = _str(obj.get("id")), _str(obj.get("status"))
        if not task_id or not status:
            raise ArkError("malformed task object from Ark: missing id or status")
        content, error, usage = (_obj(obj.get(k)) for k in ("content", "error", "usage"))
        return cls(
            id=task_id,
            status=status,
            model=_str(obj.get("model")),
            error_code=_str(error.get("code")),
            error_message=_str(error.get("message")),
            created_at=_int(obj.get("created_at")),
            updated_at=_int(obj.get("updated_at")),
            video_url=_str(content.get("video_url")),
            last_frame_url=_str(content.get("last_frame_url")),
            seed=_int(obj.get("seed")),
            resolution=_str(obj.get("resolution")),
            ratio=_str(obj.get("ratio")),
            duration=_int(obj.get("duration")),
            frames=_int(obj.get("frames")),
            framespersecond=_int(obj.get("framespersecond", obj.get("framepersecond"))),
            generate_audio=_bool(obj.get("generate_audio")),
            draft=_bool(obj.get("draft")),
            draft_task_id=_str(obj.get("draft_task_id")),
            service_tier=_str(obj.get("service_tier")),
            execution_expires_after=_int(obj.get("execution_expires_after")),
            safety_identifier=_str(obj.get("safety_identifier")),
            completion_tokens=_int(usage.get("completion_tokens")),
            total_tokens=_int(usage.get("total_tokens")),
            raw=dict(obj),
        )


@dataclass(frozen=True)
class TaskPage:
    """One page of `list`: `total` matching tasks, `items` on this page."""

    total: int
    items: tuple[Task, ...]


def _obj(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _str(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else str(v)


def _int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


# ----------------------------------------------------------------------------- errors


def _client_request_id() -> str:
    """`YYYYMMDDHHMMSS` + 20 alphanumerics, the shape the official SDK sends; new per attempt."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "".join(secrets.choice(_ALNUM) for _ in range(20))


def _should_retry_header(resp: requests.Response) -> bool | None:
    v = resp.headers.get("x-should-retry", "").strip().lower()
    return True if v == "true" else False if v == "false" else None


def error_from_response(resp: requests.Response, sent_request_id: str | None = None) -> ArkError:
    """Turn an HTTP error answer into `ArkError`, whatever its body looks like."""
    status = resp.status_code
    code = message = param = etype = None
    try:
        payload: Any = resp.json()
    except ValueError:
        payload = None
    err = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(err, Mapping) and isinstance(payload, Mapping) and "code" in payload:
        err = payload  # tolerate an un-wrapped {code, message}
    if isinstance(err, Mapping):
        code, message = _str(err.get("code")), _str(err.get("message"))
        param, etype = _str(err.get("param")) or None, _str(err.get("type"))
    if not message:
        text = (resp.text or "").strip().replace("\n", " ")
        snippet = text[:200] + ("..." if len(text) > 200 else "")
        message = f"HTTP {status} {resp.reason or ''}".strip() + (
            f" with a non-JSON body: {snippet}" if snippet and payload is None else ""
        )
    code = code or (resp.reason or f"HTTP{status}").replace(" ", "")
    m = _REQUEST_ID_TAIL.search(message)
    request_id = (
        (m.group(1).rstrip(".") if m else None)
        or resp.headers.get("X-Client-Request-Id")
        or resp.headers.get("x-request-id")
        or sent_request_id
    )
    retryable = status in (408, 409) or status >= 500 or (status == 429 and code not in NON_RETRYABLE_429)
    hint = _should_retry_header(resp)
    if hint is not None and code not in NON_RETRYABLE_429:
        retryable = hint
    return ArkError(
        message, code=code, status=status, request_id=request_id, param=param, type=etype, retryable=retryable
    )


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never established, so the server cannot have seen the request."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
        exc, requests.exceptions.SSLError
    ):
        # urllib3 wraps NewConnectionError / NameResolutionError in MaxRetryError.reason.
        seen: set[int] = set()
        e: BaseException | None = exc
        while e is not None and id(e) not in seen:
            seen.add(id(e))
            if isinstance(e, (NewConnectionError, ConnectTimeoutError)):  # incl. NameResolutionError
                return True
            if isinstance(e, (ProtocolError, _U3ReadTimeout, ConnectionResetError)):
                return False
            reason = getattr(e, "reason", None)
            nxt = reason if isinstance(reason, BaseException) else None
            e = nxt or (e.args[0] if e.args and isinstance(e.args[0], BaseException) else None) or e.__cause__
    return False


def _retry_after(resp: requests.Response | None) -> float | None:
    """Seconds from a `Retry-After` header (delta or HTTP date), or None."""
    if resp is None:
        return None
    v = resp.headers.get("Retry-After")
    if not v:
        return None
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _op_name(method: str, path: str) -> str:
    """The operation of a request, for the metrics: create, get, list or delete."""
    if method == "POST":
        return "create"
    if method == "DELETE":
        return "delete"
    return "list" if path == TASKS_PATH else "get"


TRANSPORT_CODES = frozenset({"Timeout", "ConnectionError", "SSLError"})


def code_label(code: str | None, status: int | None = None) -> str:
    """An Ark error code as a metric label: its family among the known codes (`bot.ark_errors`),
    a transport failure, else a bucket by HTTP status (rate_limited, client_error, server_error)."""
    code = code or ""
    if code in TRANSPORT_CODES:
        return code
    for prefix in KNOWN_CODES:
        if code.startswith(prefix):  # as `bot.ark_errors.explain` matches them
            return prefix
    if status == 429:
        return "rate_limited"
    if status is not None and status >= 500:
        return "server_error"
    if status is not None and status >= 400:
        return "client_error"
    return "other"


# ----------------------------------------------------------------------------- client


class ArkClient:
    """ModelArk task API on one pooled session.

    The client keeps no per-call state, so worker threads may share one; that leans on
    `requests.Session`, which is used this way widely (urllib3's pool is thread-safe)
    though requests doesn't formally promise it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = 60,
        max_retries: int = 3,
        backoff: float = 0.5,
        pool_size: int = 10,
        metrics: ProcessMetrics | None = None,
    ) -> None:
        """`metrics`: where every attempt is counted (`bot.metrics`); the composition root passes the
        process's one object, else the client has a private one."""
        if not api_key:
            raise ValueError("ArkClient needs an API key")
        self.base_url = base_url.rstrip("/")
        self._key = _Secret(api_key)
        self._own_session = session is None
        if session is None:
            session = requests.Session()
            # No urllib3-level retries: every retry decision is made here, per operation.
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        # (connect, read): a dead host fails fast, a slow answer gets the full budget.
        self.timeout: tuple[float, float] = (
            (float(timeout[0]), float(timeout[1]))
            if isinstance(timeout, tuple)
            else (min(10.0, float(timeout)), float(timeout))
        )
        self.max_retries = max(0, max_retries)
        self.backoff = max(0.0, backoff)
        self._sleep = time.sleep  # replaced in tests that count sleeps
        self.metrics = metrics or ProcessMetrics.create()

    def __repr__(self) -> str:
        return f"ArkClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._own_session:
            self.session.close()

    def __enter__(self) -> ArkClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ operations

    def create(self, body: Mapping[str, Any], *, retries: int | None = None, within: float | None = None) -> str:
        """POST a create body; return the new task id. Never blindly resent (see module docstring).

        `retries` overrides how often a certain rejection (429, no connection) is retried;
        `within` bounds the whole call, retries and waits included, in seconds (a caller
        holding a lease must know the call is over before its lease can expire).
        """
        deadline = time.monotonic() + within if within is not None else None
        data = self._request(_Op.CREATE, "POST", TASKS_PATH, json_body=dict(body), deadline=deadline,
                             max_retries=retries)
        task_id = _str(data.get("id")) if isinstance(data, Mapping) else None
        if not task_id:
            # A 2xx means the service accepted something; we just can't tell what.
            raise ArkAmbiguousError(
                "Ark accepted the create request but the answer has no task id", code="MalformedResponse"
            )
        return task_id

    def create_spec(self, spec: VideoSpec) -> str:
        """Create from a *resolved* spec: local/data images are checked and inlined before sending."""
        allow_heic = heic_allowed(spec.model)
        urls = {
            img.source: load_image_source(img.source, allow_heic=allow_heic)
            for img in spec.images
            if not is_remote(img.source)
        }
        return self.create(build_create_body(spec, urls))

    def get(self, task_id: str, *, retries: int | None = None) -> Task:
        """The task's current state (`retries` overrides the client's retry count)."""
        data = self._request(_Op.READ, "GET", f"{TASKS_PATH}/{validate_task_id(task_id)}", max_retries=retries)
        return Task.from_json(data)

    def list(
        self,
        *,
        page_num: int = 1,
        page_size: int = 10,
        status: str | None = None,
        task_ids: Sequence[str] | None = None,
        model: str | None = None,
        service_tier: str | None = None,
        retries: int | None = None,
    ) -> TaskPage:
        """One page of tasks (last 7 days). `model` filters by endpoint/model ID as the API defines."""
        if not 1 <= page_num <= 500 or not 1 <= page_size <= 500:
            raise ValueError("page_num and page_size must be within 1..500")
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        params: builtins.list[tuple[str, str]] = [("page_num", str(page_num)), ("page_size", str(page_size))]
        if status:
            params.append(("filter.status", status))
        for tid in task_ids or ():
            params.append(("filter.task_ids", tid))
        if model:
            params.append(("filter.model", model))
        if service_tier:
            params.append(("filter.service_tier", service_tier))
        data = self._request(_Op.READ, "GET", TASKS_PATH, params=params, max_retries=retries)
        if not isinstance(data, Mapping):
            raise ArkError("malformed list answer from Ark: expected an object")
        raw_items = data.get("items") or []
        if not isinstance(raw_items, list):
            raise ArkError("malformed list answer from Ark: items is not a list")
        items = tuple(Task.from_json(x) for x in raw_items)
        return TaskPage(total=_int(data.get("total")) or len(items), items=items)

    def iter_recent(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        service_tier: str | None = None,
        page_size: int = 100,
        max_pages: int = 20,
    ) -> Iterator[Task]:
        """All tasks matching the filters, page by page (e.g. to find the task of an ambiguous create)."""
        seen = 0
        for page_num in range(1, max_pages + 1):
            page = self.list(
                page_num=page_num, page_size=page_size, status=status, model=model, service_tier=service_tier
            )
            yield from page.items
            seen += len(page.items)
            if not page.items or len(page.items) < page_size or seen >= page.total:
                return

    def delete(self, task_id: str) -> None:
        """Cancel a queued task, or delete a finished one (running/cancelled tasks are refused)."""
        self._request(_Op.DELETE, "DELETE", f"{TASKS_PATH}/{validate_task_id(task_id)}")

    # ------------------------------------------------------------------ transport

    def _record(self, op: str, code: str, seconds: float) -> None:
        self.metrics.ark_calls.labels(op, code).inc()
        self.metrics.ark_call_seconds.labels(op).observe(seconds)

    def _headers(self, request_id: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._key.get()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "X-Client-Request-Id": request_id,
        }

    def _delay(self, attempt: int, resp: requests.Response | None) -> float:
        """Backoff before retry number `attempt` (0-based): `bot.retry.Backoff`, Retry-After honoured."""
        return Backoff(base=self.backoff, cap=MAX_BACKOFF).delay(attempt, _retry_after(resp),
                                                                 hint_cap=MAX_RETRY_AFTER)

    def _redact(self, text: str) -> str:
        key = self._key.get()
        return text.replace(key, "***") if key and key in text else text

    def _request(
        self,
        op: _Op,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        deadline: float | None = None,
        max_retries: int | None = None,
    ) -> Any:
        url = self.base_url + path
        data = json.dumps(json_body, ensure_ascii=False).encode("utf-8") if json_body is not None else None
        retries = self.max_retries if max_retries is None else max(0, max_retries)
        op_name = _op_name(method, path)
        attempt = 0
        while True:
            request_id = _client_request_id()
            started = time.monotonic()
            timeout = self.timeout
            if deadline is not None:
                left = deadline - started
                if left <= 0.05:
                    raise ArkError(f"no time left to call {self.base_url} (nothing was sent)",
                                   code="Deadline", request_id=request_id, retryable=True)
                timeout = (min(timeout[0], left), min(timeout[1], left))
            resp: requests.Response | None = None
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=self._headers(request_id),
                    timeout=timeout,
                )
            except requests.RequestException as exc:
                err, may_retry = self._transport_error(op, exc, request_id)
                self._record(op_name, code_label(err.code), time.monotonic() - started)
                log.warning(
                    "ark %s %s failed after %.2fs (attempt %d, request id %s): %s",
                    method, path, time.monotonic() - started, attempt + 1, request_id, err.message,
                )
                if may_retry and attempt < retries and self._may_wait(self._delay(attempt, None), deadline):
                    attempt += 1
                    continue
                raise err from None

            elapsed = time.monotonic() - started
            if resp.status_code < 400:
                self._record(op_name, "ok", elapsed)
                log.debug("ark %s %s -> %d in %.2fs (request id %s)", method, path,
                          resp.status_code, elapsed, request_id)
                if not resp.content:
                    return {}
                try:
                    return resp.json()
                except ValueError:
                    if op is _Op.DELETE:
                        return {}  # the status says it worked; the body carries nothing we need
                    if op is _Op.CREATE:
                        raise ArkAmbiguousError(
                            f"Ark answered HTTP {resp.status_code} to create with a non-JSON body",
                            code="MalformedResponse", status=resp.status_code, request_id=request_id,
                        ) from None
                    raise ArkError(
                        f"Ark answered HTTP {resp.status_code} with a non-JSON body",
                        code="MalformedResponse", status=resp.status_code, request_id=request_id,
                    ) from None

            err = error_from_response(resp, request_id)
            self._record(op_name, code_label(err.code, resp.status_code), elapsed)
            err.message = self._redact(err.message)
            err.args = (err.message,)
            log.warning(
                "ark %s %s -> %d %s in %.2fs (attempt %d, request id %s)",
                method, path, resp.status_code, err.code, elapsed, attempt + 1, err.request_id,
            )
            if op is _Op.READ:
                may_retry = err.retryable
            else:
                # A 429 is a rejection: nothing was created or deleted, so a retry is safe.
                may_retry = resp.status_code == 429 and err.retryable
                if op is _Op.CREATE and resp.status_code >= 500:
                    # The service may have created the task before failing: resending could
                    # start (and bill) a second video. Report it as ambiguous instead.
                    raise ArkAmbiguousError(
                        f"create may or may not have started a task ({err}); check recent tasks "
                        "before trying again",
                        code=err.code, status=err.status, request_id=err.request_id,
                        param=err.param, type=err.type, retryable=False,
                    )
            if may_retry and attempt < retries and self._may_wait(self._delay(attempt, resp), deadline):
                attempt += 1
                continue
            raise err

    def _may_wait(self, delay: float, deadline: float | None) -> bool:
        """Sleep `delay` before a retry, unless that would pass the caller's deadline."""
        if deadline is not None and time.monotonic() + delay >= deadline:
            return False
        self._sleep(delay)
        return True

    def _transport_error(
        self, op: _Op, exc: requests.RequestException, request_id: str
    ) -> tuple[ArkError, bool]:
        """Classify a transport failure: the error to raise and whether a retry is allowed."""
        not_sent = _not_sent(exc)
        if isinstance(exc, requests.exceptions.Timeout):
            what = "connect timeout" if not_sent else "read timeout"
            code = "Timeout"
        elif isinstance(exc, requests.exceptions.SSLError):
            what, code = "TLS error", "SSLError"
        elif isinstance(exc, requests.exceptions.ConnectionError):
            what = "connection failed" if not_sent else "connection lost"
            code = "ConnectionError"
        else:
            what, code = "request error", type(exc).__name__
        detail = self._redact(f"{what} talking to {self.base_url}: {type(exc).__name__}")
        retryable = not isinstance(exc, requests.exceptions.SSLError) and isinstance(
            exc, (requests.exceptions.Timeout, requests.exceptions.ConnectionError)
        )
        if op is _Op.READ:
            return ArkError(detail, code=code, request_id=request_id, retryable=retryable), retryable
        if not_sent:
            return ArkError(detail, code=code, request_id=request_id, retryable=retryable), retryable
        if op is _Op.CREATE:
            # Sent, then no answer: the task may exist. A blind resend could double-bill.
            return (
                ArkAmbiguousError(
                    f"create may or may not have started a task ({detail}); check recent tasks "
                    "before trying again",
                    code=code, request_id=request_id, retryable=False,
                ),
                False,
            )
        return ArkError(detail, code=code, request_id=request_id, retryable=retryable), False


def validate_task_id(task_id: str) -> str:
    """Task ids are `cgt-<digits>-<alnum>`; refuse anything that could change the URL path."""
    tid = task_id.strip()
    if not tid or not re.fullmatch(r"[A-Za-z0-9._-]+", tid):
        raise ValueError(f"not a valid task id: {task_id!r}")
    return tid
