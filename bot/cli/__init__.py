"""`seedance-bot`: one console script for the operator's commands, the bot's roles and the simulators.

Sub-commands live in sibling modules, each exposing `register(app)`:
`tasks` (create/status/wait/list/delete, the seed's CLI), `sim` (simulators),
`roles` (serve/web/worker/scheduler), `docs` (readme-commands).
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="seedance-bot",
    help="Seedance video bot for Feishu/Lark: operator CLI, bot roles and local simulators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

for _name in ("tasks", "sim", "roles", "demo", "docs"):
    try:
        importlib.import_module(f"bot.cli.{_name}").register(app)
    except ModuleNotFoundError as exc:  # a role module not written yet
        if exc.name != f"bot.cli.{_name}":
            raise


def main() -> None:
    app()
