"""The web role inside `seedance-bot serve`: waitress in a thread of the same process.

`seedance-bot web` runs the app under gunicorn (forked workers, for scaling out).
`serve` keeps every role in ONE process so that a SIGKILL leaves no orphan
behind holding the port; waitress is a production WSGI server that runs in a
thread, which gunicorn's forking model cannot.

Limits: the body is capped by waitress itself at ``max_body_bytes`` (413 before
the app sees a byte; its default is 1 GiB), headers at `MAX_HEADER_BYTES`. Waitress
reads requests in its event loop and hands a thread only complete requests, so slow
clients (slowloris) hold a socket each, never a worker thread; idle sockets are
closed after `CHANNEL_TIMEOUT` seconds.

With BOT_METRICS_PORT set, /metrics is served by a second, tiny waitress server on
that port (`MetricsServer`), and not on the main port.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from bot.metrics import mark_process_dead
from bot.web.app import metrics_wsgi_app

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 32 * 1024
"""Request line + headers; Feishu's and Ark's are well under 2 KiB."""
CHANNEL_TIMEOUT = 15
"""Seconds a connection may sit idle (mid-request or between keep-alive requests)."""
DEFAULT_MAX_BODY = 1_000_000


def _settings_of(app: Any) -> Any:
    ext = getattr(app, "extensions", {}).get("seedance_bot") if hasattr(app, "extensions") else None
    return ext["settings"] if ext else None


class _Waitress:
    def __init__(self, wsgi: Any, *, host: str, port: int, threads: int, max_body: int, name: str) -> None:
        from waitress.server import create_server  # deferred: only `serve` and the demo use waitress

        self._name = name
        self._server = create_server(
            wsgi, host=host, port=port, threads=threads, ident="seedance-bot",
            channel_timeout=CHANNEL_TIMEOUT, cleanup_interval=5, connection_limit=1000,
            max_request_body_size=max_body, max_request_header_size=MAX_HEADER_BYTES,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name=self._name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting, close every connection (keep-alive ones too), stop the threads.

        The closing runs inside the server's own loop thread (a trigger thunk): closing
        sockets from here while that thread sits in select() races with it, and the
        server's own close() leaves open keep-alive connections in its map, which
        kept the loop (and the port's clients) alive until they timed out.
        """
        from waitress import wasyncore  # deferred: see create_server above

        srv: Any = self._server
        if self._thread is not None and self._thread.is_alive():
            try:
                srv.trigger.pull_trigger(lambda: wasyncore.close_all(srv._map, ignore_all=True))
            except OSError:
                srv.close()
            self._thread.join(5)
        else:
            srv.close()
        srv.task_dispatcher.shutdown(timeout=1)


class MetricsServer(_Waitress):
    """GET /metrics on its own port (BOT_METRICS_PORT), in a thread: of a `create_app` app, or
    `wsgi` (`bot.metrics.wsgi_app`: a worker's or scheduler's)."""

    def __init__(self, app: Any = None, *, host: str = "0.0.0.0", port: int, wsgi: Any = None) -> None:
        if wsgi is None:
            wsgi = metrics_wsgi_app(app)
        super().__init__(wsgi, host=host, port=port, threads=2, max_body=1024, name="metrics")


class HealthServer(_Waitress):
    """GET /livez and /readyz (`bot.health.health_wsgi_app`) on BOT_HEALTH_PORT, in a thread."""

    def __init__(self, wsgi: Any, *, host: str = "0.0.0.0", port: int) -> None:
        super().__init__(wsgi, host=host, port=port, threads=4, max_body=1024, name="health")


class InProcessServer(_Waitress):
    """The webhook app on ``host:port``, plus the metrics server when BOT_METRICS_PORT is set."""

    def __init__(self, app: Any, *, host: str, port: int, threads: int = 16,
                 max_body_bytes: int | None = None) -> None:
        settings = _settings_of(app)
        if max_body_bytes is None:
            max_body_bytes = settings.max_body_bytes if settings is not None else DEFAULT_MAX_BODY
        super().__init__(app, host=host, port=port, threads=threads, max_body=max_body_bytes, name="web")
        self.app = app
        self.metrics: MetricsServer | None = None
        if settings is not None and settings.metrics_port:
            self.metrics = MetricsServer(app, host=host, port=settings.metrics_port)

    def start(self) -> None:
        super().start()
        if self.metrics is not None:
            self.metrics.start()
            log.info("metrics: serving /metrics on port %d", self.metrics.port)

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        super().close()


MASTER_METRICS_ATTR = "seedance_metrics"
"""Where the gunicorn hooks keep the master's `MetricsServer`: on gunicorn's arbiter, which both
hooks are handed (and which a forked worker inherits), so this module keeps no state of its own."""


def serve_metrics_from_gunicorn_master(server: Any) -> None:
    """gunicorn ``when_ready`` hook: serve /metrics on BOT_METRICS_PORT from the master process.

    With ``preload_app`` the master holds the app built by `create_app`. Under `seedance-bot web`
    every process writes its metrics to ``PROMETHEUS_MULTIPROC_DIR`` (`bot.metrics`), so this
    port shows the sum over all worker processes, plus the Redis-derived engine gauges.
    The server is kept on `server` (the arbiter) as ``seedance_metrics``.
    """
    app = server.app.wsgi()
    settings = _settings_of(app)
    if settings is None or not settings.metrics_port or getattr(server, MASTER_METRICS_ATTR, None) is not None:
        return
    metrics = MetricsServer(app, port=settings.metrics_port)
    setattr(server, MASTER_METRICS_ATTR, metrics)
    metrics.start()
    server.log.info("metrics: serving /metrics on port %d from the master", metrics.port)


def close_inherited_metrics_socket(server: Any = None, _worker: Any = None) -> None:
    """gunicorn ``post_fork`` hook: a worker must not keep the master's metrics socket open."""
    metrics: MetricsServer | None = getattr(server, MASTER_METRICS_ATTR, None)
    if metrics is not None:
        try:  # only the fd: the server's threads and locks belong to the master
            metrics._server.socket.close()
        except Exception:  # best effort in a fresh child
            pass


def forget_dead_worker(_server: Any, worker: Any) -> None:
    """gunicorn ``child_exit`` hook (in the master): a dead worker's live gauges leave the sum."""
    mark_process_dead(worker.pid)
