"""The composition root: settings → clients → engine → roles; `serve`, `worker`, `scheduler`.

This is the one place that wires the chat features (`handlers`) into the engine
and the one place that keeps per-process state outside `bot.store`: the engines
this process runs, by name, because APScheduler stores its jobs as a textual
function reference plus arguments (`run_scheduled`). It also makes the process's
one `ProcessMetrics` (`run_roles`) and hands that object to the Ark and Feishu
clients, the `Engine`, the web app and the long connection, so /metrics shows
what all of them record.

SIGTERM/SIGINT drain gracefully: the web server stops taking requests, workers
finish the entries in hand, the scheduler gives up its lease. SIGKILL loses
nothing either: every accepted request is in Redis and replayed on restart.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import handlers
from bot.clients.ark import ArkClient
from bot.clients.feishu import FeishuClient
from bot.config import MissingSettingError, Settings
from bot.engine.engine import Engine
from bot.engine.metrics import EngineCollector
from bot.engine.poller import tick
from bot.engine.scheduler import SchedulerRole, reconcile
from bot.engine.worker import WorkerRole
from bot.health import Liveness, health_wsgi_app
from bot.metrics import ProcessMetrics, exposition
from bot.metrics import wsgi_app as metrics_wsgi
from bot.store.connection import Client, connect, ping, probe_client
from bot.store.embedded import EmbeddedRedis
from bot.systemd import Notifier
from bot.web.app import create_app
from bot.web.metrics import WebMetrics
from bot.web.server import HealthServer, InProcessServer, MetricsServer

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

CONNECT_HELP = (
    "the long-connection role needs FEISHU_CONNECTION=websocket: with the default (webhook), Feishu POSTs "
    "events to BOT_PUBLIC_URL/feishu/events and the web role takes them."
)

_ENGINES: dict[str, Engine] = {}
"""This process's engines by registration name (see the module docstring)."""


def register(name: str, engine: Engine) -> None:
    _ENGINES[name] = engine


def unregister(name: str) -> None:
    _ENGINES.pop(name, None)


def run_scheduled(name: str, what: str) -> None:
    """The target of the scheduler's APScheduler jobs: `what` is "tick" or "reconcile"."""
    engine = _ENGINES.get(name)
    if engine is None:
        log.warning("scheduled %s for an engine this process does not run (%s)", what, name)
        return
    if what == "tick":
        tick(engine)
    elif what == "reconcile":
        reconcile(engine)


def connect_redis(settings: Settings) -> tuple[Client, EmbeddedRedis | None]:
    """A client for `REDIS_URL`, or an embedded persistent server when it is unset."""
    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.bot_data_dir, maxmemory=settings.embedded_redis_maxmemory)
        url = embedded.start()
        log.warning("REDIS_URL is not set: using an embedded Redis server under %s (AOF on)",
                    embedded.dir)
    return connect(url), embedded


def node_name(settings: Settings, role: str) -> str:
    """This process's stable name in Redis: `BOT_NODE` (else the host name) and its role."""
    return f"{settings.bot_node or socket.gethostname()}-{role}"


def build_engine(settings: Settings, r: Client, *, role: str = "serve",
                 metrics: ProcessMetrics | None = None) -> Engine:
    """The engine and its clients, all recording into `metrics` (the process's one object; a new
    one when not given)."""
    metrics = metrics or ProcessMetrics.create()
    ark = ArkClient(settings.ark_base_url, settings.require_ark_key(), timeout=settings.ark_timeout,
                    metrics=metrics)
    feishu = FeishuClient.from_settings(settings, metrics=metrics)
    return Engine(settings=settings, redis=r, ark=ark, feishu=feishu, node=node_name(settings, role),
                  metrics=metrics)


def worker_role(engine: Engine, *, threads: int = 4, liveness: Liveness | None = None) -> WorkerRole:
    """A worker wired to the chat features."""
    return WorkerRole(engine, on_message=handlers.on_message, on_card=handlers.on_card, threads=threads,
                      liveness=liveness)


def scheduler_role(engine: Engine, *, liveness: Liveness | None = None) -> SchedulerRole:
    name = f"{engine.node}:{id(engine)}"
    register(name, engine)
    return SchedulerRole(engine, registered_as=name, liveness=liveness)


def wait_for_signal(stop: threading.Event, every: Callable[[], None] | None = None) -> None:
    """Block until SIGTERM/SIGINT; `every` runs each half second meanwhile (the watchdog ping)."""
    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: draining", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop.is_set():
        if every is not None:
            every()
        stop.wait(0.5)


def run_roles(settings: Settings, *, web: bool, worker: bool, scheduler: bool, connect: bool | None = None,
              worker_threads: int = 4, ready: Callable[[], None] | None = None) -> None:
    """Run the chosen roles in this process until SIGTERM/SIGINT.

    `connect`: keep Feishu's long connection (or stand by for it, `bot.web.longconn`); by default
    whenever the web role runs here and FEISHU_CONNECTION=websocket (`serve`).
    """
    websocket = settings.feishu_connection == "websocket"
    if connect is None:
        connect = web and websocket
    if connect and not websocket:
        raise MissingSettingError(CONNECT_HELP)
    r, embedded = connect_redis(settings)
    metrics = ProcessMetrics.create()  # the process's one: every part below records into it
    role = ("serve" if (worker and scheduler) else "worker" if worker else "scheduler" if scheduler
            else "web" if web else "connect")
    engine: Engine | None = None
    try:
        if worker or scheduler:  # the web and connect roles only hand events over: no Ark key needed
            engine = build_engine(settings, r, role=role, metrics=metrics)
    except BaseException:
        if embedded is not None:  # don't leave the server we just started behind
            embedded.stop()
        raise
    stop = threading.Event()
    parts: list[Any] = []
    server = None
    health = None
    metrics_server = None
    liveness = Liveness()  # the loops of this process: /livez and systemd's watchdog
    notifier = Notifier()  # no-op outside a systemd Type=notify unit
    try:
        if scheduler and engine is not None:
            s = scheduler_role(engine, liveness=liveness)
            s.start()
            parts.append(s)
        if worker and engine is not None:
            w = worker_role(engine, threads=worker_threads, liveness=liveness)
            w.start()
            parts.append(w)
        if web:
            server = _start_web(settings, r, liveness, metrics)
        link_metrics = None
        if connect:  # after the web role: its app's metrics count the connection's events too
            link_metrics = None if server is not None else WebMetrics.create(metrics)
            parts.append(_start_connection(settings, r, server, liveness, role, metrics, link_metrics))
        # /metrics of a process without the web app (worker, scheduler, connect): on BOT_METRICS_PORT,
        # else next to the probes on BOT_HEALTH_PORT. With the web app, the app's /metrics has it all;
        # without it, a connect role's registry has the bot_feishu_* counters of its connection.
        exported = None
        if not web:
            exported = link_metrics.registry if link_metrics is not None else exposition(metrics)
            exported.register(EngineCollector(r, settings.redis_prefix))
        if exported is not None and settings.metrics_port:
            metrics_server = _start_metrics(settings, exported)
        if settings.health_port:
            health = _start_health(settings, r, liveness, None if settings.metrics_port else exported)
        names = ", ".join(n for n, on in (("web", web), ("worker", worker), ("scheduler", scheduler),
                                          ("connect", connect)) if on)
        log.info("running roles: %s", names)
        notifier.ready(f"running roles: {names}")
        if ready:
            ready()
        wait_for_signal(stop, every=lambda: notifier.watchdog(liveness))
    finally:
        notifier.stopping()
        if server is not None:
            server.close()
        for part in reversed(parts):
            part.stop()
        if health is not None:  # last: probes keep answering while the roles drain
            health.close()
        if metrics_server is not None:
            metrics_server.close()
        if embedded is not None:
            embedded.stop()


def _start_web(settings: Settings, r: Client, liveness: Liveness | None = None,
               metrics: ProcessMetrics | None = None) -> InProcessServer:
    """The web role inside `serve`: waitress, a threaded production server in this process."""
    app = create_app(settings, redis=r, liveness=liveness, metrics=metrics)
    server = InProcessServer(app, host="0.0.0.0", port=settings.bot_port)
    server.start()
    return server


def _start_connection(settings: Settings, r: Client, server: InProcessServer | None, liveness: Liveness,
                      role: str, process_metrics: ProcessMetrics, link_metrics: WebMetrics | None = None) -> Any:
    """The Feishu long connection (FEISHU_CONNECTION=websocket): the lease holder connects, others stand by."""
    # Deferred: lark-oapi's ws client (and its module-level event loop) loads only in websocket mode.
    from bot.web.longconn import long_connection

    metrics = server.app.extensions["seedance_bot"]["metrics"] if server is not None else link_metrics
    link = long_connection(settings, r, node=node_name(settings, role), metrics=metrics, liveness=liveness,
                           process_metrics=process_metrics)
    link.start()
    return link


def _start_health(settings: Settings, r: Client, liveness: Liveness,
                  metrics: CollectorRegistry | None = None) -> HealthServer:
    """/livez and /readyz on BOT_HEALTH_PORT (bot/health.py): ready while Redis answers a short ping;
    with `metrics`, /metrics too (behind BOT_METRICS_TOKEN)."""
    probe = probe_client(r)

    def ready() -> str | None:
        return None if ping(probe) else "redis unreachable"

    wsgi = health_wsgi_app(liveness, ready)
    if metrics is not None:
        wsgi = metrics_wsgi(metrics, settings.metrics_token.get_secret_value(), wsgi)
    server = HealthServer(wsgi, port=settings.health_port)
    server.start()
    log.info("health: /livez and /readyz%s on port %d", " and /metrics" if metrics is not None else "", server.port)
    return server


def _start_metrics(settings: Settings, registry: CollectorRegistry) -> MetricsServer:
    """/metrics on BOT_METRICS_PORT (behind BOT_METRICS_TOKEN) for a process without the web app."""
    server = MetricsServer(port=settings.metrics_port,
                           wsgi=metrics_wsgi(registry, settings.metrics_token.get_secret_value()))
    server.start()
    log.info("metrics: serving /metrics on port %d", server.port)
    return server
