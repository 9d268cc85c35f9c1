"""The README's command table is the registry's: rendered from it, and checked against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.docs import BEGIN, END, README, with_table
from bot.parsing import COMMANDS, commands_table


def test_readme_command_table_is_generated_from_the_registry() -> None:
    readme = README.read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme
    assert commands_table() in readme, "README is out of date: run `seedance-bot readme-commands`"
    assert with_table(readme, commands_table()) == readme


def test_the_table_has_every_command_and_alias() -> None:
    table = commands_table()
    rows = table.strip().splitlines()[2:]
    assert len(rows) == len(COMMANDS)
    for spec, row in zip(COMMANDS, rows, strict=True):
        assert f"`/{spec.name}" in row
        assert all(f"`/{alias}`" in row for alias in spec.aliases)


def test_the_cli_regenerates_and_checks(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n\n{BEGIN}\n| old |\n{END}\n\nafter\n", encoding="utf-8")
    runner = CliRunner()
    checked = runner.invoke(app, ["readme-commands", "--check", "--path", str(stale)])
    assert checked.exit_code == 1
    assert runner.invoke(app, ["readme-commands", "--path", str(stale)]).exit_code == 0
    text = stale.read_text(encoding="utf-8")
    assert commands_table() in text and text.endswith(f"{END}\n\nafter\n") and "| old |" not in text
    assert runner.invoke(app, ["readme-commands", "--check", "--path", str(stale)]).exit_code == 0


def test_a_readme_without_markers_is_an_error() -> None:
    with pytest.raises(ValueError):
        with_table("# no table here\n", commands_table())
