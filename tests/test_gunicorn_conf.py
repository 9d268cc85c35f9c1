"""The web role's gunicorn settings: shipped in the package, and what `seedance-bot web` makes of them.

The real `seedance-bot web` under gunicorn is exercised by tests/test_webhook.py,
tests/test_hostile_input.py and tests/test_health.py (systemd's watchdog fed through /livez).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from bot.cli.roles import GUNICORN_CONF, gunicorn_options
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_settings_ship_inside_the_package() -> None:
    import bot.web

    assert Path(bot.web.__file__).with_name("gunicorn_conf.py") == GUNICORN_CONF and GUNICORN_CONF.is_file()


def test_defaults_then_settings_then_flags() -> None:
    options = gunicorn_options(settings(bot_port=8123, web_concurrency=3), None)
    assert options["bind"] == ["0.0.0.0:8123"] and options["workers"] == 3
    assert options["worker_class"] == "gthread" and options["threads"] == 32 and options["preload_app"] is True
    assert options["control_socket_disable"] is True, "no control socket under $HOME (read-only in containers)"
    assert options["worker_tmp_dir"] in ("/dev/shm", None)
    assert callable(options["when_ready"]) and callable(options["post_fork"])
    flagged = gunicorn_options(settings(web_concurrency=3), None, workers=5, threads=None)
    assert flagged["workers"] == 5 and flagged["threads"] == 32


def test_the_deploy_example_is_the_packaged_settings_plus_your_changes(tmp_path: Path) -> None:
    packaged = gunicorn_options(settings(), None)
    example = gunicorn_options(settings(), ROOT / "deploy" / "gunicorn.conf.py")
    assert example.keys() == packaged.keys()
    own = tmp_path / "mine.conf.py"
    own.write_text((ROOT / "deploy" / "gunicorn.conf.py").read_text() + "\nthreads = 64\nworkers = 7\n")
    mine = gunicorn_options(settings(web_concurrency=2), own)
    assert mine["threads"] == 64 and mine["workers"] == 7, "a file's own `workers` wins over WEB_CONCURRENCY"


def test_a_missing_config_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(typer.Exit):
        gunicorn_options(settings(), tmp_path / "nope.py")
