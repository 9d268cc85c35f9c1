"""What understanding a message produces: say nothing (`Ignore`), say something (`Reply`), or run a
`Command`.

Each command family module (`video`, `jobs`, `settings`, `info`, `help`) defines the typed
commands it produces; a command without arguments needs no class of its own (`PlainCommand`).
`Command.command` is the registry name whose handler runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Ignore:
    """Say nothing (a bot's message, a group message that doesn't @ the bot)."""

    reason: str


@dataclass(frozen=True)
class Reply:
    """Answer with catalogue message `code` in `lang`; nothing was started."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    lang: str = "en"


@dataclass(frozen=True, kw_only=True)
class Command:
    """An understood request. `lang` is the language to answer in."""

    name: ClassVar[str] = ""
    lang: str = "en"

    @property
    def command(self) -> str:
        """The registry name of the command (what dispatch looks the handler up by)."""
        return self.name


@dataclass(frozen=True, kw_only=True)
class PlainCommand(Command):
    """A command that takes no arguments (/whoami): all there is to it is which one it was."""

    invoked: str

    @property
    def command(self) -> str:
        return self.invoked


ParseResult = Ignore | Reply | Command


class Problem(Exception):
    """A bad input found while parsing; `parse_command` turns it into a `Reply` with the same code."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params
