"""The composition root: settings → clients → engine → roles; `serve`, `worker`, `scheduler`.

This is the one place that wires the chat features (`handlers`) into the engine
and the one place that keeps per-process state outside `bot.store`: the engines
this process runs, by name, because APScheduler stores its jobs as a textual
function reference plus arguments (`run_scheduled`).

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
from typing import Any

import handlers
from bot.clients.ark import ArkClient
from bot.clients.feishu import FeishuClient
from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.poller import tick
from bot.engine.scheduler import SchedulerRole, reconcile
from bot.engine.worker import WorkerRole
from bot.store.connection import Client, connect
from bot.store.embedded import EmbeddedRedis
from bot.web.app import create_app
from bot.web.server import InProcessServer

log = logging.getLogger(__name__)

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


def build_engine(settings: Settings, r: Client, *, role: str = "serve") -> Engine:
    ark = ArkClient(settings.ark_base_url, settings.require_ark_key(), timeout=settings.ark_timeout)
    feishu = FeishuClient.from_settings(settings)
    return Engine(settings=settings, redis=r, ark=ark, feishu=feishu, node=node_name(settings, role))


def worker_role(engine: Engine, *, threads: int = 4) -> WorkerRole:
    """A worker wired to the chat features."""
    return WorkerRole(engine, on_message=handlers.on_message, on_card=handlers.on_card, threads=threads)


def scheduler_role(engine: Engine) -> SchedulerRole:
    name = f"{engine.node}:{id(engine)}"
    register(name, engine)
    return SchedulerRole(engine, registered_as=name)


def wait_for_signal(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: draining", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop.is_set():
        stop.wait(0.5)


def run_roles(settings: Settings, *, web: bool, worker: bool, scheduler: bool,
              worker_threads: int = 4, ready: Callable[[], None] | None = None) -> None:
    """Run the chosen roles in this process until SIGTERM/SIGINT."""
    r, embedded = connect_redis(settings)
    role = "serve" if (worker and scheduler) else "worker" if worker else "scheduler" if scheduler else "web"
    try:
        engine = build_engine(settings, r, role=role)
    except BaseException:
        if embedded is not None:  # don't leave the server we just started behind
            embedded.stop()
        raise
    stop = threading.Event()
    parts: list[Any] = []
    server = None
    try:
        if scheduler:
            s = scheduler_role(engine)
            s.start()
            parts.append(s)
        if worker:
            w = worker_role(engine, threads=worker_threads)
            w.start()
            parts.append(w)
        if web:
            server = _start_web(settings, r)
        log.info("running roles: %s", ", ".join(n for n, on in
                                                 (("web", web), ("worker", worker), ("scheduler", scheduler))
                                                 if on))
        if ready:
            ready()
        wait_for_signal(stop)
    finally:
        if server is not None:
            server.close()
        for part in reversed(parts):
            part.stop()
        if embedded is not None:
            embedded.stop()


def _start_web(settings: Settings, r: Client) -> InProcessServer:
    """The web role inside `serve`: waitress, a threaded production server in this process."""
    server = InProcessServer(create_app(settings, redis=r), host="0.0.0.0", port=settings.bot_port)
    server.start()
    return server
