"""A faithful local simulator of the BytePlus ModelArk video-generation task API.

Nobody can reach BytePlus from here, so the bot, its tests and its benchmarks
talk to this instead. It follows `shared/reference/ark-api.md`: the four
routes of §1 under `/api/v3`, create-body validation per §2/§5
(`sim.ark_validate`), the task object of §3.2, the error envelope of §4.1,
a per-model concurrency queue with a per-account queued cap, expiry and
purges on a *service clock* (real time × `speed`, plus `advance()`), callbacks
per §2.4 (`sim.ark_callbacks`), and presigned-looking media URLs served by
the simulator itself that expire after `url_ttl` service seconds. Videos are
real playable mp4s of the catalogue's pixel size (`sim.media`), made
lazily on first download.

Routes under `/__sim__/` and `/__media__/` are inspection/test helpers, not
part of the real API. Choices the docs leave open (marked 🔶 in ark-api.md):
unknown task → 404 `ResourceNotFound`; DELETE of a running or cancelled task →
400 `InvalidParameter` (param `task_id`); queued cap exceeded → 429
`ServerOverloaded`; `cancelled` is not sent to callbacks; expired tasks carry
`error: null`; the error message's request id is a server id, also returned
in `X-Request-Id`, while `X-Client-Request-Id` is echoed; every 429 carries a
`Retry-After` (seconds; not documented, the SDK ignores it); which fields a
queued/running/failed/expired/cancelled task object carries is the
`queued_fields` setting (`doc` | `full` | `bare`, see `Task.api`); `priority`
is echoed for every model (sent or 0) as in §3.2's example.

Faults (for chaos tests; `sim.ark_faults` has the details):

* `error_rate` — random 429/500 on any API request, before any work;
* `slow_rate`/`slow_seconds` — a response held back after the work is done;
* lost create answers — `lost_create_rate` × `lost_create_mode` (`500`, `drop`
  = connection closed without a response, `delay` = answer held for
  `lost_create_delay` real seconds, `mixed`): the task IS created, runs, is
  listed and billed, but the client does not learn its id;
* one-shots — POST `/__sim__/faults` `{"op": "create"|"get"|"list"|"delete",
  "mode": "500"|"429"|"drop"|"lost-500"|"lost-drop"|"lost-delay", "count": N,
  "delay"?: s}` (or a list of such objects; lost-* on create only); GET
  returns `{"counts": {op: {mode: n}}, "total", "pending", "log",
  "lost_tasks"}`; DELETE clears pending one-shots and counters.

Inspection: GET `/__sim__/tasks` lists every task with its create body, the
prompt, the resolved `params`, `api_key_id` (a hash, never the key), the
create's request ids and `lost`/`lost_mode`; `/__sim__/requests` logs every
API request with its status (`null` when the connection was dropped) and
`fault`; GET/POST `/__sim__/config` reads/changes the settings (and shows
the fault counters under `faults`); POST `/__sim__/reset` starts it from scratch
(no tasks, requests or faults; the settings it was started with).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import random
import socket
import string
import tempfile
import threading
import time
import traceback
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot import catalogue
from bot.catalogue import ModelInfo
from sim import media
from sim.ark_callbacks import CallbackDispatcher
from sim.ark_errors import ApiError, invalid, not_found
from sim.ark_faults import LOST_CREATE_MODES, FaultBook, Shot
from sim.ark_state import QUEUED_FIELDS, STATUSES, Event, ServiceClock, Task, TaskStore
from sim.ark_validate import CreateValidator, DraftRef, model_name

API = "/api/v3"
TASKS = f"{API}/contents/generations/tasks"
ACCOUNT_ID = "2100000000"
MAX_BODY = 64 * 1024 * 1024
_ALNUM = string.ascii_letters + string.digits
INTERNAL_ERROR = "The service encountered an unexpected internal error"

RATE_LIMITED = "The request has exceeded the RPM limit of the endpoint. Please try again later"

_TUNABLE = ("error_rate", "fail_rate", "speed", "slow_rate", "slow_seconds", "concurrency", "queue_cap",
            "url_ttl", "video_min_bytes", "rpm", "not_opened", "callback_retry_delay",
            "lost_create_rate", "lost_create_mode", "lost_create_delay", "queued_fields",
            "wall_clock_timestamps", "fault_retry_after")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"expected a boolean, got {value!r}")


def _rate(value: Any) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"a rate must be in [0, 1], got {rate}")
    return rate


def _non_negative(value: Any) -> float:
    x = float(value)
    if x < 0:
        raise ValueError(f"expected a number >= 0, got {x}")
    return x


def _choice(options: tuple[str, ...]) -> Any:
    def convert(value: Any) -> str:
        v = str(value).strip().lower()
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return v

    return convert


# Run-time settings that need a conversion/validation before they are applied.
_CONVERT: dict[str, Any] = {
    "lost_create_rate": _rate, "lost_create_mode": _choice(LOST_CREATE_MODES),
    "lost_create_delay": _non_negative, "queued_fields": _choice(QUEUED_FIELDS),
    "wall_clock_timestamps": _as_bool, "fault_retry_after": _non_negative,
    "error_rate": _rate, "slow_rate": _rate,
}


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log lines (the simulator keeps its own request log)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _LoudHandler(WSGIRequestHandler):
    pass


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, ensure_ascii=False), status=status, mimetype="application/json")


def _shrink(value: Any) -> Any:
    """A copy of a create body for inspection, with long data: URLs cut (keeps memory flat in benchmarks)."""
    if isinstance(value, dict):
        return {k: _shrink(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shrink(v) for v in value]
    if isinstance(value, str) and value.startswith("data:") and len(value) > 256:
        return f"{value[:128]}...({len(value)} chars)"
    return value


def _tos_error(status: int, code: str, message: str, request_id: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>tos-ap-southeast-1.bytepluses.com</HostId></Error>"
    )
    return Response(body, status=status, mimetype="application/xml")


class ArkSimulator:
    """The Ark video-generation API on loopback, with a service clock and failure injection."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        speed: float = 1.0,
        error_rate: float = 0.0,
        fail_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 0.0,
        concurrency: int = 10,
        queue_cap: int = 120,
        url_ttl: float = 86400,
        media_dir: Path | None = None,
        rng_seed: int | None = None,
        not_opened: frozenset[str] = frozenset(),
        callback_retry_delay: float = 1.0,
        rpm: int = 0,
        endpoints: dict[str, str] | None = None,
        cache_dir: Path | None = None,
        video_min_bytes: int = 0,
        fetch_timeout: float = 5.0,
        tick: float = 0.05,
        verbose: bool = False,
        wall_clock_timestamps: bool = False,
        lost_create_rate: float = 0.0,
        lost_create_mode: str = "mixed",
        lost_create_delay: float = 90.0,
        queued_fields: str = "doc",
        fault_retry_after: float = 1.0,
    ) -> None:
        self.api_key = api_key
        # Report created_at/updated_at on the wall clock, as the real service does, instead of the
        # sped-up service clock (which runs ahead of real time when speed > 1). The bot compares
        # Ark's created_at with its own clock to adopt a task whose create was interrupted by a crash.
        self.wall_clock_timestamps = wall_clock_timestamps
        # Lost create answers (see sim.ark_faults): the share of successful creates whose
        # answer is lost, how ("500", "drop", "delay" or "mixed" = one of the three at random)
        # and for how long a "delay" holds the answer (real seconds; default above the 60 s read
        # timeout of the bot's and the SDK's clients).
        self.lost_create_rate = _rate(lost_create_rate)
        self.lost_create_mode = _choice(LOST_CREATE_MODES)(lost_create_mode)
        self.lost_create_delay = _non_negative(lost_create_delay)
        # Fields of queued/running/failed/expired/cancelled task objects (Task.api): doc|full|bare.
        self.queued_fields = _choice(QUEUED_FIELDS)(queued_fields)
        # Retry-After (seconds) of injected 429s; undocumented (❓), the SDK ignores it (§4.4).
        self.fault_retry_after = _non_negative(fault_retry_after)
        self.faults = FaultBook()
        self.error_rate = error_rate
        self.slow_rate = slow_rate
        self.slow_seconds = slow_seconds
        self.queue_cap = queue_cap
        self.url_ttl = url_ttl
        self.not_opened = frozenset(not_opened)
        self.rpm = rpm  # per-model create requests per service minute; 0 = unlimited
        self.endpoints = dict(endpoints or {})  # "ep-…" → model ID
        self.video_min_bytes = video_min_bytes
        self.fetch_timeout = fetch_timeout
        self.tick = tick
        self.verbose = verbose
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if media_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ark-sim-media-")
            media_dir = Path(self._tmp.name)
        self.media_dir = Path(media_dir)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir = cache_dir
        self._lock = threading.RLock()
        self.clock = ServiceClock(speed)
        self._rng_seed = rng_seed
        self._rng = random.Random(rng_seed)
        # Request-level dice (errors, delays) use their own stream so they do not shift task outcomes.
        self._dice = random.Random(None if rng_seed is None else rng_seed + 7919)
        self.store = TaskStore(self.clock, self._rng, concurrency=concurrency, fail_rate=fail_rate)
        self.store.on_success = self._sign_urls
        self.store.render = self._task_api
        self._secret = os.urandom(16)
        self._callbacks = CallbackDispatcher(callback_retry_delay)
        self._requests: list[dict[str, Any]] = []
        self._rpm_window: dict[str, deque[float]] = {}
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._origin = "http://127.0.0.1:0"
        self.app = self._build_app()
        self._initial = {k: v for k, v in self.config().items() if k in _TUNABLE}  # what reset() goes back to

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self._origin}{API}"

    @property
    def origin(self) -> str:
        return self._origin

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a background thread; returns the base URL `http://HOST:PORT/api/v3`."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        handler = _LoudHandler if self.verbose else _QuietHandler
        self._server = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        url_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        self._origin = f"http://{url_host}:{self._server.server_port}"
        self._stop.clear()
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                 name="ark-sim-http", daemon=True)
        ticker = threading.Thread(target=self._tick_loop, name="ark-sim-ticker", daemon=True)
        self._threads = [serve, ticker]
        for t in self._threads:
            t.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving, ticking and delivering callbacks."""
        self._stop.set()
        self._callbacks.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ArkSimulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick_loop(self) -> None:
        """Advance the state machine with nobody polling, so callbacks fire on time."""
        while not self._stop.wait(self.tick):
            try:
                self._sync()
            except Exception:  # pragma: no cover - never let the ticker die
                continue

    def _sync(self) -> None:
        with self._lock:
            events = self.store.advance_to(self.clock.now())
        self._callbacks.submit(events)

    # ---- inspection and control --------------------------------------------------------------

    def now(self) -> float:
        """Current service time (epoch seconds)."""
        with self._lock:
            return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Fast-forward the service clock; due transitions (and callbacks) happen at once."""
        if seconds < 0:
            raise ValueError("the service clock cannot go backwards")
        with self._lock:
            self.clock.advance(seconds)
            events = self.store.advance_to(self.clock.now())
            now = self.clock.now()
        self._callbacks.submit(events)
        return now

    def tasks(self) -> list[dict[str, Any]]:
        """Every task ever created (deleted and purged too), oldest first, with body and timings.

        Each record also carries the prompt, the resolved create parameters (`params`: seed as
        picked, safety_identifier, execution_expires_after …), the hashed API key identity
        (`api_key_id`, never the key), the create's request ids and `lost`/`lost_mode` (whether
        and how its create answer was lost), so a test can count tasks per bot request.
        """
        self._sync()
        with self._lock:
            return [self._inspect(t) for t in sorted(self.store.tasks.values(), key=lambda t: t.seq)]

    def task(self, task_id: str) -> dict[str, Any]:
        self._sync()
        with self._lock:
            return self._inspect(self.store.tasks[task_id])

    def _inspect(self, task: Task) -> dict[str, Any]:
        out = task.inspect()
        out["api"] = self._task_api(task)
        return out

    def faults_state(self) -> dict[str, Any]:
        """Injected-fault counters per op and mode, pending one-shots, the fault log, lost tasks."""
        with self._lock:
            out = self.faults.snapshot()
            out["lost_tasks"] = [t.id for t in sorted(self.store.tasks.values(), key=lambda t: t.seq)
                                 if t.lost is not None]
            return out

    def inject_fault(self, op: str, mode: str | int, count: int = 1, delay: float | None = None) -> None:
        """Queue `count` one-shot faults on `op` (see sim.ark_faults for the modes)."""
        with self._lock:
            self.faults.add(op, mode, count, delay)

    def clear_faults(self) -> None:
        """Drop pending one-shots and reset the counters (rates are settings: use configure)."""
        with self._lock:
            self.faults.clear()

    def reset(self) -> None:
        """Start from scratch, as a new simulator would (a test suite reusing one between tests):
        forget every task, request, callback and one-shot fault, re-seed the dice and go back to
        the settings it was started with. The service clock runs on."""
        with self._lock:
            self.store.tasks.clear()
            self.store.active.clear()
            self.store.create_times.clear()
            self._requests.clear()
            self._rpm_window.clear()
            self.faults.clear()
            self._rng.seed(self._rng_seed)
            self._dice.seed(None if self._rng_seed is None else self._rng_seed + 7919)
        self._callbacks.clear()
        self.configure(**self._initial)

    def requests_log(self) -> list[dict[str, Any]]:
        """API and media requests served: method, path, status, time (real), service_time, ids."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def callbacks_log(self) -> list[dict[str, Any]]:
        """Every callback delivery attempt: task_id, status, attempt, http_status, error, time."""
        return self._callbacks.log()

    @property
    def create_count(self) -> int:
        """Tasks created successfully so far (rejected creates are not counted)."""
        with self._lock:
            return len(self.store.tasks)

    @property
    def speed(self) -> float:
        return self.clock.speed

    @property
    def fail_rate(self) -> float:
        return self.store.fail_rate

    @property
    def concurrency(self) -> int:
        return self.store.concurrency

    def config(self) -> dict[str, Any]:
        with self._lock:
            return {
                "error_rate": self.error_rate, "fail_rate": self.store.fail_rate, "speed": self.clock.speed,
                "slow_rate": self.slow_rate, "slow_seconds": self.slow_seconds,
                "concurrency": self.store.concurrency, "queue_cap": self.queue_cap, "url_ttl": self.url_ttl,
                "video_min_bytes": self.video_min_bytes, "rpm": self.rpm,
                "not_opened": sorted(self.not_opened),
                "callback_retry_delay": self._callbacks.retry_delay, "now": self.clock.now(),
                "base_url": self.base_url,
                "lost_create_rate": self.lost_create_rate, "lost_create_mode": self.lost_create_mode,
                "lost_create_delay": self.lost_create_delay, "queued_fields": self.queued_fields,
                "wall_clock_timestamps": self.wall_clock_timestamps,
                "fault_retry_after": self.fault_retry_after,
                "faults": self.faults.counts_dict(),  # read-only: injected faults per op and mode
            }

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change failure injection, speed or limits at run time."""
        unknown = set(changes) - set(_TUNABLE)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        converted = {k: (_CONVERT[k](v) if k in _CONVERT else v) for k, v in changes.items()}
        events: list[Event] = []
        with self._lock:
            events += self.store.advance_to(self.clock.now())
            for key, value in converted.items():
                if key in ("lost_create_mode", "queued_fields", "wall_clock_timestamps"):
                    setattr(self, key, value)
                elif key == "speed":
                    self.clock.set_speed(float(value))
                elif key == "fail_rate":
                    self.store.fail_rate = float(value)
                elif key == "concurrency":
                    self.store.concurrency = int(value)
                    events += self.store.fill_all(self.clock.now())
                elif key == "not_opened":
                    self.not_opened = frozenset(value)
                elif key == "callback_retry_delay":
                    self._callbacks.retry_delay = float(value)
                elif key in ("queue_cap", "rpm", "video_min_bytes"):
                    setattr(self, key, int(value))
                else:
                    setattr(self, key, float(value))
        self._callbacks.submit(events)
        return self.config()

    # ---- media URLs --------------------------------------------------------------------------

    def _signature(self, path: str, date: str, expires: str) -> str:
        return hmac.new(self._secret, f"{path}\n{date}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def _sign_urls(self, task: Task) -> None:
        """Presign the video and last-frame URLs when a task succeeds (valid `url_ttl` service seconds)."""
        at = task.finished_at if task.finished_at is not None else task.updated_at
        date = datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%SZ")
        expires = str(int(self.url_ttl))
        task.plan.min_bytes = max(task.plan.min_bytes, self.video_min_bytes)
        urls: list[str] = []
        for ext in ("mp4", "png"):
            path = f"/__media__/{task.id}.{ext}"
            query = urlencode({
                "X-Tos-Algorithm": "TOS4-HMAC-SHA256",
                "X-Tos-Credential": f"AKLTsimulator/{date[:8]}/ap-southeast-1/tos/request",
                "X-Tos-Date": date, "X-Tos-Expires": expires, "X-Tos-SignedHeaders": "host",
            })
            signature = self._signature(path, date, expires)
            urls.append(f"{self._origin}{path}?{query}&X-Tos-Signature={signature}")
        task.video_url, task.last_frame_url = urls

    def media_path(self, task_id: str, ext: str = "mp4") -> Path:
        """Make (or reuse) the file behind a task's video/last-frame URL."""
        with self._lock:
            task = self.store.tasks.get(task_id)
            if task is None or task.status != "succeeded":
                raise KeyError(task_id)
            w, h, p = task.width, task.height, task.plan
        target = self.media_dir / f"{task_id}.{ext}"
        if target.exists():
            return target
        if ext == "png":
            return media.make_png(target, w, h)
        return media.make_mp4(target, w, h, p.seconds, 24, bool(p.generate_audio),
                              min_bytes=p.min_bytes, cache_dir=self.cache_dir)

    def _serve_media(self, name: str) -> Response:
        rid = g.request_id
        stem, _, ext = name.rpartition(".")
        if ext not in ("mp4", "png"):
            return _tos_error(404, "NoSuchKey", "The specified key does not exist.", rid)
        args = request.args
        date, expires, sig = (args.get("X-Tos-Date", ""), args.get("X-Tos-Expires", ""),
                              args.get("X-Tos-Signature", ""))
        path = f"/__media__/{name}"
        if not sig or not hmac.compare_digest(sig, self._signature(path, date, expires)):
            return _tos_error(
                403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.", rid,
            )
        try:
            signed_at = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            ttl = int(expires)
        except ValueError:
            return _tos_error(403, "AccessDenied", "Invalid X-Tos-Date or X-Tos-Expires.", rid)
        if self.now() > signed_at + ttl:
            return _tos_error(403, "AccessDenied", "Request has expired", rid)
        try:
            path_on_disk = self.media_path(stem, ext)
        except KeyError:
            return _tos_error(404, "NoSuchKey", "The specified key does not exist.", rid)
        mimetype = "video/mp4" if ext == "mp4" else "image/png"
        return send_file(path_on_disk, mimetype=mimetype, conditional=True, max_age=0)

    # ---- API handlers ------------------------------------------------------------------------

    def _resolve_model(self, name: str) -> ModelInfo:
        target = self.endpoints.get(name, name)
        info = catalogue.get(target)
        if info is None or target not in (info.id, info.volcengine_id):
            raise ApiError(404, "InvalidEndpointOrModel.NotFound",
                           f"The model or endpoint {name} does not exist or you do not have access to it")
        if name in self.not_opened or info.id in self.not_opened:
            raise ApiError(404, "ModelNotOpen",
                           f"Your account {ACCOUNT_ID} has not activated the model {name}. "
                           "Please activate the model service in the Ark Console")
        return info

    def _draft_ref(self, task_id: str) -> DraftRef | None:
        with self._lock:
            t = self.store.get(task_id)
            if t is None:
                return None
            return DraftRef(id=t.id, model=t.plan.info.id, status=t.status, draft=t.plan.draft, plan=t.plan)

    def _check_rpm(self, model: str, now: float) -> None:
        if self.rpm <= 0:
            return
        window = self._rpm_window.setdefault(model, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.rpm:
            # Retry-After is undocumented (❓): the real seconds until the window has room again.
            wait = window[0] + 60 - now
            speed = self.clock.speed
            retry_after = math.ceil(wait / speed) if speed > 0 else math.ceil(self.fault_retry_after)
            raise ApiError(429, "RateLimitExceeded.EndpointRPMExceeded",
                           f"The request has exceeded the RPM limit ({self.rpm}) of the endpoint. "
                           "Please try again later", headers={"Retry-After": str(max(1, retry_after))})
        window.append(now)

    def _rate_limited(self) -> ApiError:
        return ApiError(429, "RateLimitExceeded.EndpointRPMExceeded", RATE_LIMITED,
                        headers={"Retry-After": str(math.ceil(self.fault_retry_after))})

    def _lost_fault(self) -> tuple[Shot, str] | None:
        """(how, source) if the answer of a task just created is lost (caller holds the lock).

        `how.mode` is "500", "drop" or "delay"; a pending lost-* one-shot wins over the rate.
        """
        shot = self.faults.take_lost()
        if shot is not None:
            shot.mode = shot.mode.removeprefix("lost-")
            return shot, "one-shot"
        if self.lost_create_rate > 0 and self._dice.random() < self.lost_create_rate:
            mode = self.lost_create_mode
            if mode == "mixed":
                mode = self._dice.choice(("500", "drop", "delay"))
            return Shot("create", mode, 1, None), "lost_create_rate"
        return None

    @staticmethod
    def _drop_connection() -> None:
        """Close the client's connection now, so it gets no HTTP response at all.

        Whatever the view returns afterwards cannot be written; werkzeug treats that as a
        connection dropped by the peer. Without a real socket (Flask's test client) the
        closest thing is a 500.
        """
        sock = request.environ.get("werkzeug.socket")
        if sock is None:
            raise ApiError(500, "InternalServiceError", INTERNAL_ERROR)
        g.dropped = True
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _create(self) -> Response:
        body = request.get_json(force=True, silent=True)
        if body is None:
            raise invalid("body", "the request body is not valid JSON")
        name = model_name(body)
        info = self._resolve_model(name)
        with self._lock:
            self._check_rpm(info.id, self.clock.now())
        plan = CreateValidator(info, name, draft_lookup=self._draft_ref,
                               fetch_timeout=self.fetch_timeout).validate(body)
        size = info.pixel_size(plan.resolution, plan.ratio) or (1280, 720)
        events: list[Event] = []
        lost: Shot | None = None
        try:
            with self._lock:
                now = self.clock.now()
                events += self.store.advance_to(now)
                if self.store.queued_count() >= self.queue_cap:
                    raise ApiError(429, "ServerOverloaded",
                                   f"Your account has reached the limit of {self.queue_cap} queued tasks. "
                                   "Please try again later",
                                   headers={"Retry-After": str(math.ceil(self.fault_retry_after))})
                id_at = self.clock.wall_at(now) if self.wall_clock_timestamps else None
                task, created = self.store.add(plan, _shrink(body), size, now, id_at=id_at)
                events += created
                g.task_id = task.id
                task.api_key_id = g.get("api_key_id")
                task.request_id = g.get("request_id")
                task.client_request_id = g.get("client_request_id")
                picked = self._lost_fault()
                if picked is not None:
                    lost, source = picked
                    task.lost = lost.mode
                    g.fault = f"lost-{lost.mode}"
                    self.faults.record("create", g.fault, source, task_id=task.id,
                                       request_id=g.get("request_id"))
        finally:
            self._callbacks.submit(events)
        if lost is not None and lost.mode == "500":
            raise ApiError(500, "InternalServiceError", INTERNAL_ERROR)
        if lost is not None and lost.mode == "drop":
            self._drop_connection()
        elif lost is not None and lost.mode == "delay":
            self._stop.wait(self.lost_create_delay if lost.delay is None else lost.delay)
        return _json({"id": task.id})

    def _get(self, task_id: str) -> Response:
        g.task_id = task_id
        self._sync()
        with self._lock:
            task = self.store.get(task_id)
            if task is None:
                raise not_found("task_id", f"task {task_id}")
            return _json(self._task_api(task))

    def _task_api(self, task: Task) -> dict[str, Any]:
        """The task object of GET, list items and callbacks, per `queued_fields` and the clock."""
        stamp = self.clock.wall_at if self.wall_clock_timestamps else None
        return task.api(self.queued_fields, stamp)

    def _list(self) -> Response:
        args = request.args
        page = {}
        for key, default in (("page_num", 1), ("page_size", 10)):
            raw = args.get(key)
            try:
                value = default if raw in (None, "") else int(raw)
            except ValueError:
                raise invalid(key, f"{raw!r} is not an integer") from None
            if not 1 <= value <= 500:
                raise invalid(key, f"{value} is out of range [1, 500]")
            page[key] = value
        status = args.get("filter.status") or None
        if status is not None and status not in STATUSES:
            raise invalid("filter.status", f"{status!r} is not one of {', '.join(STATUSES)}")
        task_ids = [t for t in args.getlist("filter.task_ids") if t]
        self._sync()
        with self._lock:
            found = self.store.listing(
                status=status, task_ids=task_ids, model=args.get("filter.model") or None,
                service_tier=args.get("filter.service_tier") or None,
            )
            start = (page["page_num"] - 1) * page["page_size"]
            items = [self._task_api(t) for t in found[start:start + page["page_size"]]]
            return _json({"total": len(found), "items": items})

    def _delete(self, task_id: str) -> Response:
        g.task_id = task_id
        events: list[Event] = []
        try:
            with self._lock:
                now = self.clock.now()
                events += self.store.advance_to(now)
                task = self.store.get(task_id)
                if task is None:
                    raise not_found("task_id", f"task {task_id}")
                if task.status == "queued":
                    self.store.cancel(task, now)
                elif task.status in ("running", "cancelled"):
                    raise invalid("task_id", f"a task in status {task.status} cannot be cancelled or deleted")
                else:
                    self.store.delete(task)
        finally:
            self._callbacks.submit(events)
        return _json({})

    # ---- Flask wiring ------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("ark_simulator")
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
        app.url_map.strict_slashes = False

        @app.before_request
        def _begin() -> Response | None:
            g.started = time.time()
            g.request_id = "02" + str(int(time.time() * 1000)) + os.urandom(19).hex()
            g.client_request_id = request.headers.get("X-Client-Request-Id") or (
                datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "".join(random.choices(_ALNUM, k=20))
            )
            g.task_id = None
            g.fault = None
            if not request.path.startswith(API + "/"):
                return None
            self._authenticate()
            op = request.endpoint if request.endpoint in ("create", "list", "get", "delete") else "other"
            with self._lock:
                shot = self.faults.take_reject(op)
                mode, source = (shot.mode, "one-shot") if shot is not None else (None, "")
                if mode is None and self.error_rate > 0:
                    roll = self._dice.random()
                    if roll < self.error_rate:
                        mode, source = ("429" if roll < self.error_rate / 2 else "500"), "error_rate"
                if mode is not None:
                    g.fault = mode
                    self.faults.record(op, mode, source, request_id=g.request_id,
                                       task_id=(request.view_args or {}).get("task_id"))
            if mode == "429":
                raise self._rate_limited()
            if mode == "500":
                raise ApiError(500, "InternalServiceError", INTERNAL_ERROR)
            if mode == "drop":
                self._drop_connection()
                return Response(status=500)  # never written: the connection is gone
            return None

        @app.after_request
        def _finish(resp: Response) -> Response:
            resp.headers["X-Client-Request-Id"] = g.get("client_request_id", "")
            resp.headers["X-Request-Id"] = g.get("request_id", "")
            if request.path.startswith("/__sim__/"):
                return resp
            dropped = bool(g.get("dropped"))
            with self._lock:
                delay = self.slow_seconds if (
                    request.path.startswith(API + "/") and self.slow_rate > 0 and not dropped
                    and self._dice.random() < self.slow_rate) else 0.0
                self._requests.append({
                    "method": request.method, "path": request.path, "query": request.query_string.decode(),
                    "status": None if dropped else resp.status_code, "time": g.get("started", time.time()),
                    "service_time": self.clock.now(), "request_id": g.get("request_id"),
                    "client_request_id": g.get("client_request_id"), "task_id": g.get("task_id"),
                    "delay": delay, "fault": g.get("fault"), "dropped": dropped,
                    "api_key_id": g.get("api_key_id"),
                })
            if delay:
                time.sleep(delay)
            return resp

        @app.errorhandler(ApiError)
        def _api_error(err: ApiError) -> Response:
            resp = _json(err.envelope(g.get("request_id", "")), err.status)
            for key, value in err.headers.items():
                resp.headers[key] = value
            return resp

        @app.errorhandler(Exception)
        def _crash(err: Exception) -> Response:
            traceback.print_exception(err)  # a simulator bug: make it loud, answer like the service would
            api = ApiError(500, "InternalServiceError", INTERNAL_ERROR)
            return _json(api.envelope(g.get("request_id", "")), 500)

        @app.errorhandler(HTTPException)
        def _http_error(err: HTTPException) -> Response:
            status = err.code or 500
            if status == 413:
                api = invalid("body", "the request body exceeds 64 MB")
            else:
                api = ApiError(status, err.name.replace(" ", ""), err.description or err.name)
            return _json(api.envelope(g.get("request_id", "")), api.status)

        app.add_url_rule(TASKS, "create", self._create, methods=["POST"])
        app.add_url_rule(TASKS, "list", self._list, methods=["GET"])
        app.add_url_rule(f"{TASKS}/<task_id>", "get", self._get, methods=["GET"])
        app.add_url_rule(f"{TASKS}/<task_id>", "delete", self._delete, methods=["DELETE"])
        app.add_url_rule("/__media__/<name>", "media", self._serve_media, methods=["GET"])
        self._add_sim_routes(app)
        return app

    def _authenticate(self) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or (self.api_key is not None and token != self.api_key):
            raise ApiError(401, "AuthenticationError",
                           "The API key or AK/SK in the request is missing or invalid")
        # Who sent it, without keeping the key: a short hash (tasks and requests carry it).
        g.api_key_id = "key-" + hashlib.sha256(token.encode()).hexdigest()[:12]

    def _add_sim_routes(self, app: Flask) -> None:
        """Inspection/control endpoints for tests and benchmarks (not part of the real API)."""

        def sim_tasks() -> Response:
            return _json(self.tasks())

        def sim_requests() -> Response:
            return _json(self.requests_log())

        def sim_callbacks() -> Response:
            return _json(self.callbacks_log())

        def sim_advance() -> Response:
            data = request.get_json(force=True, silent=True) or {}
            try:
                return _json({"now": self.advance(float(data.get("seconds", 0)))})
            except (ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)

        def sim_config() -> Response:
            if request.method == "GET":
                return _json(self.config())
            data = request.get_json(force=True, silent=True) or {}
            try:
                return _json(self.configure(**data))
            except (ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)

        app.add_url_rule("/__sim__/tasks", "sim_tasks", sim_tasks, methods=["GET"])
        app.add_url_rule("/__sim__/requests", "sim_requests", sim_requests, methods=["GET"])
        app.add_url_rule("/__sim__/callbacks", "sim_callbacks", sim_callbacks, methods=["GET"])
        app.add_url_rule("/__sim__/advance", "sim_advance", sim_advance, methods=["POST"])
        app.add_url_rule("/__sim__/config", "sim_config", sim_config, methods=["GET", "POST"])

        def sim_reset() -> Response:
            self.reset()
            return _json({"ok": True})

        app.add_url_rule("/__sim__/reset", "sim_reset", sim_reset, methods=["POST"])

        def sim_faults() -> Response:
            if request.method == "DELETE":
                self.clear_faults()
            elif request.method == "POST":
                data = request.get_json(force=True, silent=True)
                specs = data if isinstance(data, list) else [data]
                try:
                    shots = []
                    for spec in specs:
                        if not isinstance(spec, dict) or "op" not in spec or "mode" not in spec:
                            raise ValueError('expected {"op", "mode", "count"?, "delay"?} (or a list of them)')
                        extra = set(spec) - {"op", "mode", "count", "delay"}
                        if extra:
                            raise ValueError(f"unknown fields: {', '.join(sorted(extra))}")
                        shots.append(FaultBook.make(spec["op"], spec["mode"], spec.get("count", 1),
                                                    spec.get("delay")))
                except ValueError as exc:
                    return _json({"error": str(exc)}, 400)
                with self._lock:  # all or nothing
                    for shot in shots:
                        self.faults.pending[shot.op].append(shot)
            return _json(self.faults_state())

        app.add_url_rule("/__sim__/faults", "sim_faults", sim_faults, methods=["GET", "POST", "DELETE"])


__all__ = ["ArkSimulator"]
