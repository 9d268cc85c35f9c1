"""The process's own Prometheus metrics, and what ``/metrics`` shows in every role.

The clients, the engine and the chat features record into a `ProcessMetrics` they are handed, so
none of them imports Flask or knows where it is exported. The composition root
(`bot.runtime.run_roles`) makes one per process (`ProcessMetrics.create`) and passes that one
object to the Ark and Feishu clients, the `Engine`, the web app and the long connection; an object
built without one (a test's client or engine) makes a private one. What a scrape shows (`exposition`):

* one process (``serve``, ``worker``, ``scheduler``, ``connect``, a test): the given
  `ProcessMetrics`, plus the registry of the web app when the process has one;
* gunicorn's processes (``web``): prometheus_client's multiprocess mode. Every process writes its
  values to files in ``PROMETHEUS_MULTIPROC_DIR`` (`seedance-bot web` sets it up before anything
  imports prometheus_client, `bot.cli.roles`), and a scrape adds up the files of every process,
  whichever process answers it. The mode is fixed when prometheus_client is imported, so it is
  read from prometheus_client itself (`multiprocess_dir`), and prometheus_client is imported on
  first use here (`ProcessMetrics.create` and the functions below), never when this module is (the
  CLI imports the clients before any role runs). Values live in files keyed by metric name, so a
  process in this mode must hold ONE object per metric name (two would overwrite each other's
  counts): the composition root guarantees it, `bot.cli.roles.web` building one web app (one
  `bot.web.metrics.WebMetrics`) for all of gunicorn's processes and no `ProcessMetrics` (nothing
  there records one).

The Redis-derived engine gauges (`bot.engine.metrics.EngineCollector`) are added by whoever builds
the exposition: they read the same from every process, so dashboards take their ``max``.

Labels are bounded: operations are a fixed set, error codes are mapped to a known set or to a
bucket by the callers (`bot.clients.ark.code_label`, `bot.clients.feishu.code_label`), and no
label holds an id.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WAIT_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_DETECTION_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
_DELIVERY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_REQUEST_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


@dataclass(frozen=True)
class ProcessMetrics:
    """A process's own metrics, in a registry of their own (no process_* or python_*).

    One per process, made by the composition root (`create`) and handed to whatever records.
    """

    registry: CollectorRegistry
    ark_calls: Counter
    ark_call_seconds: Histogram
    feishu_calls: Counter
    feishu_call_seconds: Histogram
    queue_wait: Histogram
    detection_delay: Histogram
    delivery_time: Histogram
    request_time: Histogram
    quota_refusals: Counter
    card_updates: Counter
    worker_entries: Counter
    leader_changes: Counter
    leader: Gauge
    connection_held: Gauge
    connection_open: Gauge

    @classmethod
    def create(cls) -> ProcessMetrics:
        """A new set in a registry of its own: the composition root makes one per process.

        prometheus_client is imported here and not before: it fixes its (multiprocess) mode when
        imported, and `seedance-bot web` sets that mode up after the CLI has imported the clients.
        """
        # Deferred: see the docstring (prometheus_client reads PROMETHEUS_MULTIPROC_DIR when imported).
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        reg = CollectorRegistry(auto_describe=True)
        return cls(
            registry=reg,
            # --- calls to the services (bot.clients) ---
            ark_calls=Counter(
                "bot_ark_calls", "HTTP calls to the Ark task API, every attempt (retries too), by operation (create, "
                "get, list, delete) and answer: ok, an Ark error code family (bot.ark_errors), Timeout, "
                "ConnectionError, SSLError, rate_limited, client_error, server_error or other.",
                ["op", "code"], registry=reg),
            ark_call_seconds=Histogram(
                "bot_ark_call_seconds", "Time of one HTTP call to the Ark task API (one attempt), by operation.",
                ["op"], buckets=_CALL_BUCKETS, registry=reg),
            feishu_calls=Counter(
                "bot_feishu_calls", "Calls to the Feishu OpenAPI, every attempt (retries too), by operation (reply, "
                "patch_card, upload_video, …) and code: 0 = success, -1 = no Feishu code (transport, unparseable "
                "body), a known Feishu code (99991663, 230020, 230002, …), server_error or other.",
                ["op", "code"], registry=reg),
            feishu_call_seconds=Histogram(
                "bot_feishu_call_seconds", "Time of one call to the Feishu OpenAPI (one attempt), by operation.",
                ["op"], buckets=_CALL_BUCKETS, registry=reg),
            # --- the job pipeline (bot.engine, handlers) ---
            queue_wait=Histogram(
                "bot_queue_wait_seconds", "Time from accepting a request to its admission (an Ark slot taken), by "
                "pool; one observation per admission.",
                ["pool"], buckets=_WAIT_BUCKETS, registry=reg),
            detection_delay=Histogram(
                "bot_task_detection_seconds", "Time from an Ark task's end (its updated_at: whole seconds, Ark's "
                "clock) to the scheduler seeing it ended.",
                buckets=_DETECTION_BUCKETS, registry=reg),
            delivery_time=Histogram(
                "bot_delivery_seconds", "Time from seeing a task succeed to its video posted in the chat (download, "
                "uploads, reply; retries included).",
                buckets=_DELIVERY_BUCKETS, registry=reg),
            request_time=Histogram(
                "bot_request_seconds", "Time from accepting a request to its video posted in the chat.",
                buckets=_REQUEST_BUCKETS, registry=reg),
            quota_refusals=Counter(
                "bot_quota_refusals", "Requests refused at acceptance, by limit: queue_full (the user's open jobs), "
                "quota_daily (the user's seconds today), quota_total (the deployment's), full (Redis nearly full).",
                ["kind"], registry=reg),
            card_updates=Counter(
                "bot_card_updates", "Job card sends and patches, by outcome: sent (the first card), patched, "
                "deferred (waiting for the deployment's rate or the per-card gap), failed, rate_limited.",
                ["outcome"], registry=reg),
            worker_entries=Counter(
                "bot_worker_entries", "Stream entries a worker handled, by kind (message, card, admit, start, "
                "deliver, other) and outcome (ok; error: to be retried; gave_up: ended after too many errors).",
                ["kind", "outcome"], registry=reg),
            # --- the scheduler ---
            leader_changes=Counter(
                "bot_scheduler_leader_changes", "Times this process became the active scheduler (took the leader "
                "lease).", registry=reg),
            leader=Gauge(
                "bot_scheduler_leader", "1 while this process is the active scheduler, else 0 (the deployment's "
                "sum: 1).", registry=reg, multiprocess_mode="livesum"),
            # --- the Feishu long connection (FEISHU_CONNECTION=websocket) ---
            connection_held=Gauge(
                "bot_feishu_connection_held", "1 while this process holds the long connection's lease, else 0 "
                "(the deployment's sum: 1 in websocket mode).", registry=reg, multiprocess_mode="livesum"),
            connection_open=Gauge(
                "bot_feishu_connection_open", "1 while this process's long connection to Feishu is open, else 0 "
                "(the deployment's sum: 1 in websocket mode; 0 for minutes: no events arrive).",
                registry=reg, multiprocess_mode="livesum"),
        )


def observe_seconds(histogram: Any, seconds: float, *, tolerance: float = 2.0) -> bool:
    """Observe a duration measured across two clocks: slightly negative (rounding, skew within
    `tolerance`) counts as 0; more negative means the clocks disagree and nothing is observed."""
    if seconds < -tolerance:
        return False
    histogram.observe(max(seconds, 0.0))
    return True


# --- exposition ------------------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode, when this process is in it.

    The mode is chosen when prometheus_client is imported (``PROMETHEUS_MULTIPROC_DIR`` set then),
    so ask prometheus_client, not the environment alone.
    """
    # Deferred: see `ProcessMetrics.create`.
    from prometheus_client import values

    if getattr(values.ValueClass, "_multiprocess", False):
        return os.environ.get(MULTIPROC_ENV) or None
    return None


class _Union:
    """The metrics of several registries as one collector."""

    def __init__(self, *registries: CollectorRegistry) -> None:
        self.registries = registries

    def collect(self) -> Iterator[Any]:
        for registry in self.registries:
            yield from registry.collect()


def exposition(mine: ProcessMetrics | None, own: CollectorRegistry | None = None,
               *collectors: Collector) -> CollectorRegistry:
    """A registry for ``/metrics``: `mine` (the process's `ProcessMetrics`) and `own` (e.g. the web
    app's), or, in multiprocess mode, those of every process writing to the directory (`mine` and
    `own` write there too); then `collectors`."""
    # Deferred: see `ProcessMetrics.create`.
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Union(*(r for r in (mine.registry if mine else None, own) if r is not None)))
    for collector in collectors:
        registry.register(collector)
    return registry


def mark_process_dead(pid: int) -> None:
    """gunicorn ``child_exit``: drop a dead process's live gauges (its counters stay counted)."""
    path = multiprocess_dir()
    if path:
        # Deferred: see `ProcessMetrics.create`.
        from prometheus_client.multiprocess import mark_process_dead as forget

        forget(pid, path)


def authorized(token: str, header: str | None) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; always true without a token."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("latin-1", "replace"), token.encode("utf-8"))


def payload(registry: CollectorRegistry, token: str, authorization: str | None) -> tuple[int, bytes]:
    """(status, body) of a /metrics request: 401 without the bearer token when one is set."""
    if not authorized(token, authorization):
        return 401, b"unauthorized\n"
    # Deferred: see `ProcessMetrics.create`.
    from prometheus_client import generate_latest

    return 200, generate_latest(registry)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(registry: CollectorRegistry, token: str, other: WSGIApp | None = None) -> WSGIApp:
    """A WSGI app answering ``GET /metrics`` (behind `token`); every other path goes to `other`
    (404 without one)."""
    # Deferred: see `ProcessMetrics.create`.
    from prometheus_client import CONTENT_TYPE_LATEST

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            if other is not None:
                return other(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "GET")])
            return [b"method not allowed\n"]
        status, body = payload(registry, token, environ.get("HTTP_AUTHORIZATION"))
        if status == 401:
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [body]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return app
