"""`seedance-bot sim ark|feishu`: the local simulators of BytePlus Ark and Feishu/Lark.

The simulators are the top-level `sim` package, installed with `pip install -e '.[sim]'` and
left out of the production image. `bot` never imports `sim` at module level: this command and
`seedance-bot demo` import it when they run (`import_simulators`), and say how to install it
when it is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import typer

INSTALL_HINT = "install the simulators: pip install -e '.[sim]'"
# Third-party modules that only the simulators use: what the `sim` extra installs.
_SIM_ONLY_MODULES = ("Crypto",)


def import_simulators(module: str, command: str) -> ModuleType:
    """`sim.<module>`, or exit with one sentence saying how to install the simulators."""
    try:
        # Deferred on purpose: `sim` is the optional [sim] extra, absent from the production image.
        return importlib.import_module(f"sim.{module}")
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".", 1)[0]
        if top != "sim" and top not in _SIM_ONLY_MODULES:
            raise
        typer.echo(f"seedance-bot {command} needs the simulators, which are not installed here; "
                   f"{INSTALL_HINT} (in a checkout of the repository).", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    @app.command(
        "sim",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,  # `seedance-bot sim --help` is the simulators' own help
    )
    def sim(ctx: typer.Context) -> None:
        """Run a local simulator of BytePlus Ark or Feishu/Lark on loopback: `sim ark`, `sim feishu`."""
        cli = import_simulators("cli", "sim")
        cli.app(args=ctx.args, prog_name="seedance-bot sim")
