"""One finding of `seedance-bot doctor`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    BLOCKING = "blocking"  # the bot can't work (or can't start) until it is fixed
    WARNING = "warning"  # it works, with something missing or at risk


class Section(StrEnum):
    SETTINGS = "settings"
    ARK = "ark"
    REDIS = "redis"
    FEISHU = "feishu"
    EVENTS = "events"
    MACHINE = "machine"


@dataclass(frozen=True, slots=True)
class Check:
    """`ok`: all is well; otherwise `severity` says how bad, `message` what was found, `fix` what to do.

    `skipped`: not checked because something it depends on failed (said on its own line).
    """

    id: str
    section: Section
    ok: bool
    message: str
    fix: str = ""
    severity: Severity = Severity.BLOCKING
    skipped: bool = False

    @property
    def blocking(self) -> bool:
        return not self.ok and not self.skipped and self.severity is Severity.BLOCKING

    @property
    def warning(self) -> bool:
        return not self.ok and not self.skipped and self.severity is Severity.WARNING

    @property
    def mark(self) -> str:
        if self.skipped:
            return "⏭️"
        if self.ok:
            return "✅"
        return "❌" if self.severity is Severity.BLOCKING else "⚠️"
