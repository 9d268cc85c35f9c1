"""The command registry: one declaration per command, read by parsing, /help and dispatch; and the
layering it keeps (bot.parsing is pure and knows nothing of handlers or the engine)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import handlers
from bot.parsing import COMMANDS, PlainCommand, help_text
from bot.parsing.registry import CommandSpec, Registry, no_arguments

ROOT = Path(__file__).resolve().parents[1]


def imports_of(package: str) -> dict[str, set[str]]:
    """Module file → the top modules it imports (absolute names)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package,forbidden", [
    ("bot.parsing", ("handlers", "bot.engine", "bot.store", "bot.web", "bot.clients", "flask", "redis", "os")),
    ("bot.engine", ("handlers",)),
    ("bot.messages", ("bot.parsing", "handlers", "bot.engine")),
])
def test_layering(package: str, forbidden: tuple[str, ...]) -> None:
    bad = {f"{module}: {name}" for module, names in imports_of(package).items() for name in names
           if any(name == f or name.startswith(f + ".") for f in forbidden)}
    assert not bad


def test_every_command_has_one_handler_with_a_docstring() -> None:
    assert handlers.unhandled() == []
    for spec in COMMANDS:
        handler = COMMANDS.handler_for(spec.name)
        assert handler is not None and handler.__module__.startswith("handlers."), spec.name
        assert (handler.__doc__ or "").strip(), f"{handler.__qualname__} needs a one-line docstring"


def test_every_word_finds_its_command() -> None:
    for spec in COMMANDS:
        for word in spec.words:
            assert COMMANDS.canonical(word) == spec.name
            assert COMMANDS.canonical("/" + word.upper()) == spec.name
    assert COMMANDS.canonical("nope") is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_help_for_each_command_comes_from_the_registry(lang: str) -> None:
    full = help_text(lang)
    for spec in COMMANDS:
        one = help_text(lang, spec.name)
        assert one.splitlines()[0] in full  # the same line as in the full help
        assert f"/{spec.name}" in one


def test_a_word_may_mean_one_command_only() -> None:
    registry = Registry()
    registry.add(CommandSpec("one", ("uno", "一")))
    with pytest.raises(ValueError):
        registry.add(CommandSpec("two", ("UNO",)))
    with pytest.raises(ValueError):
        registry.add(CommandSpec("one"))


def test_handlers_bind_to_registered_commands_only_once() -> None:
    registry = Registry()
    registry.add(CommandSpec("ping"))

    @registry.handler("ping")
    def on_ping(ctx: object, command: object) -> None:
        """Pong."""

    assert registry.handler_for("ping") is on_ping and registry.unbound() == []
    with pytest.raises(KeyError):
        registry.handler("pong")(on_ping)

    def other(ctx: object, command: object) -> None:
        """Another."""

    with pytest.raises(ValueError):
        registry.handler("ping")(other)


def test_a_command_without_arguments_needs_no_class() -> None:
    spec = CommandSpec("ping")
    assert spec.parse is no_arguments and spec.options == frozenset() and spec.gated
    assert PlainCommand(invoked="ping").command == "ping"
