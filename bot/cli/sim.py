"""`seedance-bot sim ark|feishu`: the local simulators of BytePlus Ark and Feishu/Lark."""

from __future__ import annotations

import importlib

import typer

sim_app = typer.Typer(help="Run a local simulator of BytePlus Ark or Feishu/Lark on loopback.", no_args_is_help=True,
                      pretty_exceptions_show_locals=False)


def register(app: typer.Typer) -> None:
    for name in ("bot.sim.ark", "bot.sim.feishu"):
        try:
            importlib.import_module(name).register_cli(sim_app)
        except ModuleNotFoundError as exc:  # simulator not present in this build
            if exc.name != name:
                raise
    app.add_typer(sim_app, name="sim")
