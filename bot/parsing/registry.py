"""The command registry: every chat command declared once, and everything else reads it.

A `CommandSpec` names a command, the other words people type for it (English and Chinese),
the options it takes, how its arguments are parsed, and whether the allowlist applies. Its
help (usage line and summary, zh/en) is in the message catalogue under `help.usage.<name>` and
`help.cmd.<name>`. The feature that runs it binds itself with a decorator, Slack Bolt style:

    CommandSpec("status", ("progress", "状态"), parse=_status)   # bot/parsing/jobs.py, in SPECS

    @commands.handler("status")                                 # handlers/info.py
    def on_status(ctx: ChatContext, command: StatusCommand) -> None: ...

Readers: `grammar.split_command` (which words are commands), `parser.parse_command` (which
parser runs), `help` (/help and the README table), `handlers.route` (which handler runs).
This module knows nothing of handlers: a handler is just a callable stored under a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.parsing.events import IncomingMessage
from bot.parsing.normalize import IME_SLASH, SLASHES, nfkc
from bot.parsing.results import ParseResult, PlainCommand


@dataclass(frozen=True)
class Invocation:
    """One message's command as its parser gets it."""

    msg: IncomingMessage
    name: str  # the canonical command name ("video" for "/视频")
    typed: str  # as the user wrote it, with its slash ("/视频"), for usage hints
    rest: str  # everything after the command word
    lang: str  # the language to answer in
    defaults: Mapping[str, Any]  # the user's and chat's settings, typed (see settings.coerce_defaults)
    default_model: str


Parser = Callable[[Invocation], ParseResult]
Handler = Callable[..., None]  # handler(ctx, command): ctx is the handlers' ChatContext
H = TypeVar("H", bound=Handler)


def no_arguments(inv: Invocation) -> ParseResult:
    """The parser of a command that takes no arguments: anything after it is ignored."""
    return PlainCommand(invoked=inv.name, lang=inv.lang)


@dataclass(frozen=True)
class CommandSpec:
    """One chat command. Help text: catalogue keys `help.usage.<name>` and `help.cmd.<name>`."""

    name: str
    aliases: tuple[str, ...] = ()  # other words for it, without the slash: "vid", "视频"
    parse: Parser = no_arguments
    options: frozenset[str] | None = frozenset()  # option targets it accepts; None = all of them
    gated: bool = True  # False: answered even where the allowlist refuses the asker (/whoami)

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def zh_aliases(self) -> tuple[str, ...]:
        return tuple(w for w in self.aliases if not w.isascii())

    @property
    def en_aliases(self) -> tuple[str, ...]:
        return tuple(w for w in self.aliases if w.isascii())

    @property
    def usage_key(self) -> str:
        return f"help.usage.{self.name}"

    @property
    def summary_key(self) -> str:
        return f"help.cmd.{self.name}"


def command_key(word: str) -> str:
    """How a typed command word is looked up: `／Ｖｉｄｅｏ` → `video`."""
    return nfkc(word).strip().lstrip(SLASHES + IME_SLASH).casefold()


class Registry:
    """The commands in the order they were added (the order /help and the README show)."""

    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._words: dict[str, str] = {}
        self._handlers: dict[str, Handler] = {}
        self._cjk: tuple[str, ...] = ()

    def add(self, spec: CommandSpec) -> CommandSpec:
        """Declare a command. Each word may mean one command only."""
        if spec.name in self._specs:
            raise ValueError(f"command {spec.name!r} is declared twice")
        for word in spec.words:
            key = command_key(word)
            if key in self._words:
                raise ValueError(f"/{word} of {spec.name!r} already means /{self._words[key]}")
        self._specs[spec.name] = spec
        self._words.update({command_key(w): spec.name for w in spec.words})
        self._cjk = tuple(sorted((w for w in self._words if not w.isascii()), key=len, reverse=True))
        return spec

    def add_all(self, specs: Iterable[CommandSpec]) -> None:
        for spec in specs:
            self.add(spec)

    def handler(self, *names: str) -> Callable[[H], H]:
        """Decorator: run the decorated function for these commands (`handler(ctx, command)`)."""

        def bind(fn: H) -> H:
            for name in names:
                if name not in self._specs:
                    raise KeyError(f"no command {name!r} to bind {_qualname(fn)} to")
                bound = self._handlers.get(name)
                if bound is not None and _qualname(bound) != _qualname(fn):
                    raise ValueError(f"/{name} is already handled by {_qualname(bound)}")
                self._handlers[name] = fn
            return fn

        return bind

    def handler_for(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def unbound(self) -> list[str]:
        """Commands nobody handles yet (tests/test_registry.py proves it is empty once `handlers` is imported)."""
        return [name for name in self._specs if name not in self._handlers]

    def get(self, name: str) -> CommandSpec | None:
        return self._specs.get(name)

    def canonical(self, word: str) -> str | None:
        """`Video`, `ｖｉｄｅｏ`, `视频`, `/生成` → "video"; unknown words → None."""
        return self._words.get(command_key(word))

    def cjk_words(self) -> tuple[str, ...]:
        """The Chinese words, longest first: a command may be glued to its prompt (`/视频小猫`)."""
        return self._cjk

    def words(self) -> dict[str, str]:
        """Every word people may type (lookup form) → its command."""
        return dict(self._words)

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


def _qualname(fn: Handler) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


commands = Registry()
"""The bot's commands, filled from each family module's `SPECS` by `bot.parsing.parser` (which the
`bot.parsing` package imports, so the registry is complete whenever any part of it is used)."""
