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
# A request that takes 30 s is a bug (the budget is 3 s); the arbiter kills the worker.
timeout = 30
# SIGTERM: stop accepting, finish in-flight requests for up to this long, then exit.
graceful_timeout = 20
# Keep-alive for the load balancer / Feishu's connection reuse.
keepalive = 5
# Import lark-oapi (~3 s) and build the app once in the master, then fork:
# faster worker (re)starts, and a misconfiguration fails before any fork.
preload_app = True
# Request-line and header limits; the body limit is the app's MAX_CONTENT_LENGTH (BOT_MAX_BODY_BYTES).
limit_request_line = 4094
limit_request_fields = 100
# Access log off by default (one line per Feishu event adds up); set accesslog = "-" to enable.
accesslog = None
errorlog = "-"
