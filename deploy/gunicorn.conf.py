"""A starting point for your own gunicorn settings of the web role: copy, edit, pass with --config.

`seedance-bot web` needs no file: it loads the settings shipped in the package
(bot/web/gunicorn_conf.py, with the reasons for each value), binds 0.0.0.0:$BOT_PORT and runs
WEB_CONCURRENCY processes. To change something, copy this file, override below the import, and
run `seedance-bot web --config /path/to/your.conf.py` (`--workers`/`--threads` still win).
The hooks (`when_ready`: /metrics on BOT_METRICS_PORT and systemd's watchdog; `post_fork`;
`child_exit`: a dead worker leaves the metrics' sum) come with the import: keep them if you replace it.
"""

from bot.web.gunicorn_conf import *  # noqa: F403

# Examples:
# threads = 64            # threads per process
# workers = 4             # processes (otherwise WEB_CONCURRENCY, default 2)
# accesslog = "-"         # one log line per request
