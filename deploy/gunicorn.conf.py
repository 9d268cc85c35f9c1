"""Gunicorn settings for the web role.

`seedance-bot web` loads this file (then binds 0.0.0.0:$BOT_PORT from Settings);
`gunicorn -c deploy/gunicorn.conf.py 'bot.wsgi:app'` works with it too. The web
role only verifies, deduplicates and XADDs, so requests are short and
I/O-bound: a few processes with a thread pool each (gthread) fit well.
Never start a scheduler or worker loop in this process.
"""

import os

# Processes: WEB_CONCURRENCY (the Heroku/gunicorn convention) or 2; about one per core.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
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


def when_ready(server):
    """BOT_METRICS_PORT set: serve /metrics on that port from the master (then not on BOT_PORT).

    The master has the preloaded app, so the Redis-derived engine gauges are exact there; the
    per-request web counters live in the worker processes and read zero on that port. To scrape
    those, leave BOT_METRICS_PORT unset: /metrics is then on BOT_PORT, behind BOT_METRICS_TOKEN.
    """
    from bot.web.server import serve_metrics_from_gunicorn_master

    serve_metrics_from_gunicorn_master(server)


def post_fork(server, worker):
    """Workers do not keep the master's metrics socket open."""
    from bot.web.server import close_inherited_metrics_socket

    close_inherited_metrics_socket(server, worker)
