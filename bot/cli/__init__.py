"""`seedance-bot`: one console script for the operator's commands, the bot's roles and the simulators.

Sub-commands live in sibling modules, each exposing `register(app)`:
`tasks` (create/status/wait/list/delete, the seed's CLI), `sim` (simulators),
`roles` (serve/web/worker/scheduler/connect), `docs` (readme-commands), `doctor` (the setup check).
`seedance-bot --version` prints the installed version.
"""

from __future__ import annotations

import importlib

import typer

from bot.doctor.facts import version

app = typer.Typer(
    name="seedance-bot",
    help="Seedance video bot for Feishu/Lark: operator CLI, bot roles and local simulators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"seedance-bot {version()}")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit."),
) -> None:
    """Seedance video bot for Feishu/Lark: operator CLI, bot roles and local simulators."""


for _name in ("tasks", "sim", "roles", "demo", "docs", "doctor"):
    try:
        importlib.import_module(f"bot.cli.{_name}").register(app)
    except ModuleNotFoundError as exc:  # a role module not written yet
        if exc.name != f"bot.cli.{_name}":
            raise


def main() -> None:
    app()
