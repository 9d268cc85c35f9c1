"""`seedance-bot serve`, `web`, `worker`, `scheduler` and `connect`: the bot's long-running roles.

Each role is one function registered in `ROLES`; `register` adds them all to
the CLI. Heavy imports (Flask, lark-oapi, gunicorn) happen inside the role, so
`seedance-bot --help` and the other commands stay fast.
"""

from __future__ import annotations

import logging
import os
import runpy
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from bot.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's multiprocess mode (`bot.metrics`): read when prometheus_client is imported."""

GUNICORN_CONF = Path(__file__).resolve().parents[1] / "web" / "gunicorn_conf.py"
"""Default gunicorn settings, shipped in the package (bot/web/gunicorn_conf.py)."""


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def gunicorn_options(settings: Settings, config_file: Path | None, **overrides: Any) -> dict[str, Any]:
    """Settings from the conf file, then the bind address (and WEB_CONCURRENCY unless the file sets
    ``workers``), then CLI overrides."""
    path = config_file or GUNICORN_CONF
    if not path.is_file():
        raise _fail(f"gunicorn config file not found: {path}")
    options = {k: v for k, v in runpy.run_path(str(path)).items() if not k.startswith("_")}
    options["bind"] = [f"0.0.0.0:{settings.bot_port}"]
    options.setdefault("workers", settings.web_concurrency)
    options.update({k: v for k, v in overrides.items() if v is not None})
    return options


def serve_wsgi(app: Callable[..., Any], options: dict[str, Any]) -> None:
    """Run `app` under gunicorn's arbiter in this process (blocks until SIGTERM/SIGINT)."""
    # Deferred: gunicorn is only needed by the web role, and only on POSIX.
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            return app

    _Server().run()


def web(
    port: int | None = typer.Option(None, help="Listen port (default: BOT_PORT, 8000)."),
    workers: int | None = typer.Option(None, help="Processes (default: WEB_CONCURRENCY or 2)."),
    threads: int | None = typer.Option(None, help="Threads per process (default 32)."),
    config: Path | None = typer.Option(
        None, help="Gunicorn config file (default: the packaged bot/web/gunicorn_conf.py)."),
) -> None:
    """Serve the Feishu webhook and Ark callback on 0.0.0.0:BOT_PORT (gunicorn, gthread).

    Needs REDIS_URL and the Feishu encrypt key and/or verification token. The
    web role only verifies, deduplicates and hands events to the workers. With
    FEISHU_CONNECTION=websocket it serves no webhook: run `connect` for the events.
    """
    # Deferred (here and below): `seedance-bot --help` must not pay for pydantic, Flask and lark-oapi.
    from bot.config import MissingSettingError, load_settings
    from bot.logs import configure_logging

    overrides: dict[str, object] = {"bot_port": port} if port is not None else {}
    settings = load_settings(**overrides)
    configure_logging(settings)
    if not settings.redis_url:
        from bot.web.app import REDIS_URL_HELP  # deferred: see above

        raise _fail(REDIS_URL_HELP)
    metrics_dir, own_dir = multiprocess_metrics_dir()
    # Deferred: after the metrics' mode is chosen (prometheus_client reads it when imported).
    from bot.web.app import create_app

    try:
        # The one app of every gunicorn process: built here, in what becomes gunicorn's master, and
        # inherited by the workers through fork. Multiprocess mode needs one set of metrics per process, and no
        # ProcessMetrics: nothing in these processes records one (`bot.web.metrics`).
        app = create_app(settings)
    except MissingSettingError as exc:
        raise _fail(str(exc)) from None
    from bot.doctor.banner import print_banner  # deferred like every import of a role: `--help` stays fast

    print_banner(settings, "web")
    if settings.feishu_connection == "websocket":
        # Not from gunicorn's processes: run `seedance-bot connect` (one or more, one holds it).
        logging.getLogger(__name__).warning(
            "FEISHU_CONNECTION=websocket: this web role serves no Feishu webhook (only /healthz, /metrics and "
            "Ark callbacks); events arrive over the long connection kept by `seedance-bot connect`")
    try:
        serve_wsgi(app, gunicorn_options(settings, config, workers=workers, threads=threads))
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def multiprocess_metrics_dir() -> tuple[Path, bool]:
    """Put this process and the gunicorn workers it forks in prometheus_client's multiprocess mode.

    Each process writes its metrics to files in PROMETHEUS_MULTIPROC_DIR and any of them answers a
    scrape with the sum (`bot.metrics`). Must run before prometheus_client is imported. A configured
    directory (one per web role: nothing else may write there) is emptied of a previous run's files;
    without one, a fresh directory is made in the temporary directory (systemd's PrivateTmp, the
    containers' /tmp) and removed on exit. Returns the directory and whether it was made here.
    """
    configured = os.environ.get(MULTIPROC_ENV, "")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path, False
    path = Path(tempfile.mkdtemp(prefix="seedance-bot-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    return path, True


def _run(web_role: bool, worker_role: bool, scheduler_role: bool, threads: int, connect_role: bool | None = None,
         ) -> None:
    # One process: its own metrics in memory. PROMETHEUS_MULTIPROC_DIR is for gunicorn's (`web`),
    # and it is read when prometheus_client is imported (by bot.runtime).
    os.environ.pop(MULTIPROC_ENV, None)
    # Deferred: the roles' imports (Flask, lark-oapi, prometheus_client) load only when one runs.
    from bot.config import MissingSettingError, load_settings
    from bot.logs import configure_logging
    from bot.runtime import run_roles

    settings = load_settings()
    configure_logging(settings)
    if connect_role and not settings.redis_url:
        # Deferred: Flask (under bot.web) loads only for the roles that serve or hand over events.
        from bot.web.app import REDIS_URL_HELP  # deferred: see above

        raise _fail(REDIS_URL_HELP)
    from bot.doctor.banner import print_banner  # deferred like every import of a role: `--help` stays fast

    role = ("serve" if web_role and worker_role and scheduler_role else "worker" if worker_role
            else "scheduler" if scheduler_role else "connect" if connect_role else "web")
    print_banner(settings, role)
    try:
        run_roles(settings, web=web_role, worker=worker_role, scheduler=scheduler_role, connect=connect_role,
                  worker_threads=threads)
    except MissingSettingError as exc:
        raise _fail(str(exc)) from None


def serve(
    threads: int = typer.Option(4, help="Worker threads (deliveries and requests handled at once)."),
) -> None:
    """Run every role in this one process: web (waitress), worker and scheduler.

    The default on one machine. With REDIS_URL unset, starts an embedded,
    persistent Redis under BOT_DATA_DIR. SIGTERM drains gracefully. With
    FEISHU_CONNECTION=websocket it also keeps Feishu's long connection (`connect`).
    """
    _run(True, True, True, threads)


def worker(
    threads: int = typer.Option(4, help="Worker threads."),
) -> None:
    """Turn accepted requests into Ark tasks and deliver finished videos (needs REDIS_URL to scale out)."""
    _run(False, True, False, threads)


def scheduler() -> None:
    """Watch Ark tasks with APScheduler; one is active, others wait on the Redis lock as standbys."""
    _run(False, False, True, 0)


def connect() -> None:
    """Keep Feishu's long connection (FEISHU_CONNECTION=websocket): events and card clicks to the workers.

    No public URL, Encrypt Key or open port: it connects out with FEISHU_APP_ID and
    FEISHU_APP_SECRET. Needs REDIS_URL. Run one or more: one holds the connection (a Redis
    lease), the others stand by and take over within seconds when it dies.
    """
    _run(False, False, False, 0, connect_role=True)


ROLES: dict[str, Callable[..., None]] = {"web": web, "serve": serve, "worker": worker, "scheduler": scheduler,
                                         "connect": connect}
"""Role name → command."""


def register(app: typer.Typer) -> None:
    for name, command in ROLES.items():
        app.command(name)(command)
