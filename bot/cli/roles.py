"""`seedance-bot web` (and, later, `serve`, `worker`, `scheduler`): the bot's long-running roles.

Each role is one function registered in `ROLES`; `register` adds them all to
the CLI. Heavy imports (Flask, lark-oapi, gunicorn) happen inside the role, so
`seedance-bot --help` and the other commands stay fast.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from bot.config import Settings

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
"""Default gunicorn settings; used when present (a source checkout or an image that copies deploy/)."""

FALLBACK_GUNICORN: dict[str, Any] = {
    "workers": 2, "worker_class": "gthread", "threads": 32, "timeout": 15,
    "graceful_timeout": 20, "keepalive": 5, "preload_app": True,
    "limit_request_line": 4094, "limit_request_fields": 50, "limit_request_field_size": 8190,
    "when_ready": lambda server: __import__(
        "bot.web.server", fromlist=["_"]).serve_metrics_from_gunicorn_master(server),
    "post_fork": lambda server, worker: __import__(
        "bot.web.server", fromlist=["_"]).close_inherited_metrics_socket(server, worker),
}
"""The same defaults, for an install without deploy/ on disk."""


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def gunicorn_options(settings: Settings, config_file: Path | None, **overrides: Any) -> dict[str, Any]:
    """Settings from the conf file (or the fallback), then the bind address, then CLI overrides."""
    path = config_file or GUNICORN_CONF
    if path.is_file():
        options = {k: v for k, v in runpy.run_path(str(path)).items() if not k.startswith("_")}
    elif config_file is not None:
        raise _fail(f"gunicorn config file not found: {config_file}")
    else:
        options = dict(FALLBACK_GUNICORN)
    options["bind"] = [f"0.0.0.0:{settings.bot_port}"]
    options.update({k: v for k, v in overrides.items() if v is not None})
    return options


def serve_wsgi(app: Callable[..., Any], options: dict[str, Any]) -> None:
    """Run `app` under gunicorn's arbiter in this process (blocks until SIGTERM/SIGINT)."""
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
    config: Path | None = typer.Option(None, help="Gunicorn config file (default deploy/gunicorn.conf.py)."),
) -> None:
    """Serve the Feishu webhook and Ark callback on 0.0.0.0:BOT_PORT (gunicorn, gthread).

    Needs REDIS_URL and the Feishu encrypt key and/or verification token. The
    web role only verifies, deduplicates and hands events to the workers.
    """
    from bot.config import MissingSettingError, load_settings
    from bot.logs import configure_logging

    overrides: dict[str, object] = {"bot_port": port} if port is not None else {}
    settings = load_settings(**overrides)
    configure_logging(settings)
    if not settings.redis_url:
        from bot.web.app import REDIS_URL_HELP

        raise _fail(REDIS_URL_HELP)
    from bot.web.app import create_app

    try:
        app = create_app(settings)
    except MissingSettingError as exc:
        raise _fail(str(exc)) from None
    serve_wsgi(app, gunicorn_options(settings, config, workers=workers, threads=threads))


def _run(web_role: bool, worker_role: bool, scheduler_role: bool, threads: int) -> None:
    from bot.config import MissingSettingError, load_settings
    from bot.logs import configure_logging
    from bot.runtime import run_roles

    settings = load_settings()
    configure_logging(settings)
    try:
        run_roles(settings, web=web_role, worker=worker_role, scheduler=scheduler_role, worker_threads=threads)
    except MissingSettingError as exc:
        raise _fail(str(exc)) from None


def serve(
    threads: int = typer.Option(4, help="Worker threads (deliveries and requests handled at once)."),
) -> None:
    """Run every role in this one process: web (waitress), worker and scheduler.

    The default on one machine. With REDIS_URL unset, starts an embedded,
    persistent Redis under BOT_DATA_DIR. SIGTERM drains gracefully.
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


ROLES: dict[str, Callable[..., None]] = {"web": web, "serve": serve, "worker": worker, "scheduler": scheduler}
"""Role name → command."""


def register(app: typer.Typer) -> None:
    for name, command in ROLES.items():
        app.command(name)(command)
