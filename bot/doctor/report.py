"""Running `seedance-bot doctor` and printing its findings: ✅ / ⚠️ / ❌ lines by section, then a summary.

Everything printed goes through the log redactor (`bot.logs.Redactor`) with every configured
secret: a check quoting an upstream error can't leak a key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from bot import i18n
from bot.config import Settings, load_settings, locale_language
from bot.doctor.checks import run_checks
from bot.doctor.facts import version
from bot.doctor.result import Check, Section, Severity
from bot.logs import Redactor, settings_secrets

Lang = Literal["zh", "en"]


def choose_language(flag: str | None, settings: Settings | None) -> Lang:
    """--lang, else BOT_LANGUAGE when it is zh or en, else the locale (LANG), else English."""
    if flag is not None and flag in ("zh", "en"):
        return "zh" if flag == "zh" else "en"
    if settings is not None and settings.bot_language != "auto":
        return "zh" if settings.bot_language == "zh" else "en"
    return locale_language() or "en"


@dataclass(frozen=True)
class Outcome:
    checks: list[Check]
    lang: Lang
    settings: Settings | None

    @property
    def blocking(self) -> int:
        return sum(c.blocking for c in self.checks)

    @property
    def warnings(self) -> int:
        return sum(c.warning for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking else 0


def diagnose(*, lang: str | None = None, timeout: float = 5.0) -> Outcome:
    """Read the settings (a value that doesn't parse is a finding) and run every check."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        chosen = choose_language(lang, None)
        checks = [
            Check(id=f"settings.{_name(err['loc'])}", section=Section.SETTINGS, ok=False,
                  message=i18n.t("doctor.settings.bad", chosen, name=_name(err["loc"]), error=err["msg"]),
                  fix=i18n.t("doctor.settings.bad_fix", chosen, name=_name(err["loc"])))
            for err in exc.errors()
        ]
        return Outcome(checks, chosen, None)
    chosen = choose_language(lang, settings)
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    source = i18n.t("doctor.settings.source_file" if env_file.is_file() else "doctor.settings.source_env", chosen,
                    path=env_file.resolve())
    first = Check(id="settings", section=Section.SETTINGS, ok=True,
                  message=i18n.t("doctor.settings.ok", chosen, source=source,
                                 mode=settings.feishu_connection))
    return Outcome([first, *run_checks(settings, lang=chosen, timeout=timeout)], chosen, settings)


def _name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "?"


def render(outcome: Outcome, echo: Callable[[str], None]) -> None:
    """The report, line by line: a heading per section, a mark per finding, the fix under a problem."""
    lang = outcome.lang
    clean = Redactor(settings_secrets(outcome.settings)).clean if outcome.settings is not None else (lambda s: s)
    echo(i18n.t("doctor.title", lang, version=version()))
    section: Section | None = None
    for check in outcome.checks:
        if check.section is not section:
            section = check.section
            echo("")
            echo(i18n.t(f"doctor.section.{section.value}", lang))
        echo(clean(f"{check.mark} {check.message}"))
        if check.fix and not check.ok and not check.skipped:
            echo(clean(f"   → {check.fix}"))
    echo("")
    if outcome.blocking:
        echo(i18n.t("doctor.summary.blocked", lang, problems=outcome.blocking, warnings=outcome.warnings))
    elif outcome.warnings:
        echo(i18n.t("doctor.summary.warnings", lang, warnings=outcome.warnings))
    else:
        echo(i18n.t("doctor.summary.ok", lang))


__all__ = ["Check", "Outcome", "Severity", "choose_language", "diagnose", "render", "version"]
