"""/models: what the service offers (read-only, no arguments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.parsing.registry import CommandSpec, Invocation
from bot.parsing.results import Command, ParseResult


@dataclass(frozen=True, kw_only=True)
class ModelsCommand(Command):
    name: ClassVar[str] = "models"


def _models(inv: Invocation) -> ParseResult:
    return ModelsCommand(lang=inv.lang)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("models", ("model", "模型", "模型列表"), parse=_models),
)
