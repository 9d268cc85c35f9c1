"""Starting and stopping the roles: `serve` (all in one process), `worker`, `scheduler`.

SIGTERM/SIGINT drain gracefully: the web server stops taking requests, workers
finish the entries in hand, the scheduler gives up its lease. SIGKILL loses
nothing either: every accepted request is in Redis and replayed on restart.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

import redis

from bot.config import Settings
from bot.engine.context import Engine, set_current

log = logging.getLogger(__name__)


def connect_redis(settings: Settings) -> tuple[redis.Redis, Any]:
    """A client for `REDIS_URL`, or an embedded persistent server when it is unset."""
    from bot.redis_conn import connect

    embedded = None
    url = settings.redis_url
    if not url:
        from bot.engine.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(settings.bot_data_dir)
        url = embedded.start()
        log.warning("REDIS_URL is not set: using an embedded Redis server under %s (AOF on)",
                    embedded.dir)
    return connect(url), embedded


def build_engine(settings: Settings, r: redis.Redis) -> Engine:
    from bot.clients.ark import ArkClient
    from bot.clients.feishu import FeishuClient

    ark = ArkClient(settings.ark_base_url, settings.require_ark_key(), timeout=settings.ark_timeout)
    feishu = FeishuClient.from_settings(settings)
    engine = Engine(settings=settings, redis=r, ark=ark, feishu=feishu)
    if settings.bot_node:
        engine.node = settings.bot_node
    set_current(engine)
    return engine


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
    try:
        engine = build_engine(settings, r)
    except BaseException:
        if embedded is not None:  # don't leave the server we just started behind
            embedded.stop()
        raise
    stop = threading.Event()
    parts: list[Any] = []
    server = None
    try:
        if scheduler:
            from bot.engine.scheduler import SchedulerRole

            s = SchedulerRole(engine)
            s.start()
            parts.append(s)
        if worker:
            from bot.engine.worker import WorkerRole

            w = WorkerRole(engine, threads=worker_threads)
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


def _start_web(settings: Settings, r: redis.Redis) -> Any:
    """The web role inside `serve`: waitress-free, a threaded production server in this process."""
    from bot.web.app import create_app
    from bot.web.server import InProcessServer

    server = InProcessServer(create_app(settings, redis=r), host="0.0.0.0", port=settings.bot_port)
    server.start()
    return server
