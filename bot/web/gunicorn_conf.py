"""Gunicorn settings of the web role, shipped in the package: what `seedance-bot web` loads.

`seedance-bot web` reads this file (``--config PATH`` loads another one instead), then sets
the bind address ``0.0.0.0:$BOT_PORT`` and the processes (``WEB_CONCURRENCY``, default 2,
unless the file sets ``workers``) from the settings, then the ``--workers``/``--threads``
flags. deploy/gunicorn.conf.py is a copy-and-edit starting point that imports these values.

The web role only verifies, deduplicates and XADDs, so requests are short and I/O-bound: a
few processes with a thread pool each (gthread) fit well. Never start a scheduler or worker
loop in this process.
"""

from __future__ import annotations

import os
from typing import Any

worker_class = "gthread"
# Threads per process: handlers wait on Redis for well under a millisecond, but gthread ties a
# thread to a new connection until its first request arrives; with only 8, a handful of idle
# connections (scanners, TCP health checks) delayed real events by seconds (bench/README.md).
threads = 32
# A worker silent for this long is killed and replaced: requests take milliseconds
# (Feishu's budget is 3 s), so 15 s only ever means a stuck process.
timeout = 15
# SIGTERM: stop accepting, finish in-flight requests for up to this long, then exit.
graceful_timeout = 20
# Keep-alive for the load balancer / Feishu's connection reuse.
keepalive = 5
# Import lark-oapi (~3 s) and build the app once in the master, then fork:
# faster worker (re)starts, and a misconfiguration fails before any fork.
preload_app = True
# Request-line and header limits; the body limit is the app's MAX_CONTENT_LENGTH (BOT_MAX_BODY_BYTES),
# which Flask enforces from Content-Length before reading (and while reading a chunked body).
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# Slow clients: a gthread worker hands a connection to a thread as soon as it is readable, and the
# thread then blocks until the request is complete, so slowloris connections can hold threads.
# Expose `web` through a buffering reverse proxy (nginx, a cloud load balancer), or use
# `seedance-bot serve` (waitress reads requests in its event loop; tests/test_hostile_input.py).
# Access log off by default (one line per Feishu event adds up); set accesslog = "-" to enable.
accesslog = None
errorlog = "-"
# The workers' heartbeat files: on tmpfs, so a slow disk never stalls a worker into a timeout,
# and writable under a read-only root filesystem (containers) or ProtectSystem=strict (systemd).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn >= 25.1 opens a control socket under $HOME (or $XDG_RUNTIME_DIR) by default: not used
# here, and there is no writable home in the image, under DynamicUser or a read-only root.
control_socket_disable = True


def _port(server: Any) -> int | None:
    for address in server.cfg.bind:
        host, sep, port = str(address).rpartition(":")
        if sep and host and port.isdigit():
            return int(port)
    return None


def when_ready(server: Any) -> None:
    """In the master, once it listens: /metrics on BOT_METRICS_PORT, and systemd's watchdog.

    BOT_METRICS_PORT set: /metrics is served on that port from the master (then not on
    BOT_PORT). Every process writes its metrics to PROMETHEUS_MULTIPROC_DIR (`seedance-bot web`
    sets it up, `bot.metrics`), so the master's answer, like any worker's on BOT_PORT, is the
    sum over all of them.

    Under a systemd unit with ``WatchdogSec=`` (gunicorn itself sends READY=1), a thread pings
    the watchdog after each ``GET /livez`` that the worker processes answer on the role's port.
    """
    # Deferred: this file is read as gunicorn settings (runpy) before any app exists; the hooks
    # import what they use when gunicorn calls them.
    from bot.systemd import Notifier, http_watchdog
    from bot.web.server import serve_metrics_from_gunicorn_master

    serve_metrics_from_gunicorn_master(server)
    port = _port(server)
    if port is not None and http_watchdog(f"http://127.0.0.1:{port}/livez", Notifier()) is not None:
        server.log.info("systemd: watchdog fed by GET /livez on port %d", port)


def post_fork(server: Any, worker: Any) -> None:
    """Workers do not keep the master's metrics socket open."""
    from bot.web.server import close_inherited_metrics_socket  # deferred: see when_ready

    close_inherited_metrics_socket(server, worker)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker process ends: its live gauges leave the metrics' sum (`bot.metrics`)."""
    from bot.web.server import forget_dead_worker  # deferred: see when_ready

    forget_dead_worker(server, worker)
