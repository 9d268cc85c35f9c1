"""What the bot knows about the asker: /quota (their budget), /whoami (their ids and rights).
Read-only, no arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.parsing.registry import CommandSpec, Invocation
from bot.parsing.results import Command, ParseResult


@dataclass(frozen=True, kw_only=True)
class QuotaCommand(Command):
    name: ClassVar[str] = "quota"


def _quota(inv: Invocation) -> ParseResult:
    return QuotaCommand(lang=inv.lang)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("quota", ("usage", "balance", "额度", "配额", "余额", "用量"), parse=_quota),
    # Not gated: someone the allowlist refuses needs their ids to be added to it.
    CommandSpec("whoami", ("me", "我是谁"), gated=False),
)
