"""`seedance-bot doctor`: check every setting and dependency, one ✅ / ⚠️ / ❌ line each, with the fix.

The command only; the checks are `bot.doctor`. Exit status 1 when anything blocks the bot.
"""

from __future__ import annotations

import logging

import typer


def doctor(
    lang: str | None = typer.Option(None, "--lang", help="zh or en (default: BOT_LANGUAGE when zh or en, "
                                    "else the locale's language, else en)."),
    timeout: float = typer.Option(5.0, min=0.5, help="Seconds allowed for each network check."),
) -> None:
    """Check the setup: Ark key and model, Redis, the Feishu app (credentials, bot, scopes), how events
    arrive (webhook URL or long connection), Ark callbacks, disk and video tools.

    Prints one line per check with the fix for each problem, in Chinese or English. Exit status 1 if
    anything blocks the bot, else 0 (warnings included). Creates and changes nothing anywhere.
    """
    if lang is not None and lang not in ("zh", "en"):
        raise typer.BadParameter("must be zh or en", param_hint="--lang")
    from bot.doctor.report import diagnose, render  # deferred: lark-oapi and the clients load only here

    # The findings say what went wrong; the clients' own warnings would only repeat them on stderr.
    if not logging.getLogger().handlers:
        logging.getLogger().addHandler(logging.NullHandler())
    outcome = diagnose(lang=lang, timeout=timeout)
    render(outcome, typer.echo)
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
