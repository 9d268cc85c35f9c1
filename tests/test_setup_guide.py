"""The setup guides (README.md's Admin section in English, README.zh-CN.md in Chinese) name only real things.

Every variable they name is a setting (and the ones an admin must fill in are named in both),
every scope is one the doctor checks (and every scope the bot needs is named), every
`seedance-bot …` command exists, every event and callback is one the bot handles, and every
line of doctor output they quote is one the doctor can print, in that guide's language.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import typer

from bot import i18n
from bot.cli import app
from bot.config import Settings
from bot.doctor.scopes import ALL_SCOPES, NEEDS
from bot.web.intake import CARD_EVENT, MESSAGE_EVENT

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ZH = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")


def admin_section(readme: str) -> str:
    start = readme.index("## Admin: setting it up")
    return readme[start:readme.index("\n## ", start + 10)]


GUIDES = {"en": admin_section(README), "zh": ZH}

SETTINGS = {str(f.validation_alias) for f in Settings.model_fields.values()}
EXAMPLE = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
MUST_EXPLAIN = {
    "ARK_API_KEY", "ARK_BASE_URL", "SEEDANCE_DEFAULT_MODEL", "FEISHU_APP_ID", "FEISHU_APP_SECRET",
    "FEISHU_DOMAIN", "FEISHU_CONNECTION", "FEISHU_ENCRYPT_KEY", "FEISHU_VERIFICATION_TOKEN", "BOT_PUBLIC_URL",
    "REDIS_URL", "BOT_ADMINS", "BOT_ALLOWLIST", "BOT_PORT", "BOT_DATA_DIR", "BOT_LANGUAGE",
}
"""What an admin fills in (or decides) to get from nothing to a working bot."""

VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
SCOPE = re.compile(r"\bim:[a-z0-9_.:]*[a-z0-9]")
EVENT = re.compile(r"\b(?:im|card)\.[a-z0-9_.]*[a-z0-9]\b")
COMMAND = re.compile(r"seedance-bot (--?[a-z][\w-]*|[a-z][\w-]*)")
MARKS = ("✅ ", "❌ ", "⚠️ ", "⏭️ ")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_variable_named_is_a_setting(lang: str) -> None:
    named = set(VARIABLE.findall(GUIDES[lang]))
    assert named - SETTINGS - EXAMPLE == set()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_setting_an_admin_fills_in_is_explained(lang: str) -> None:
    assert MUST_EXPLAIN <= SETTINGS
    assert MUST_EXPLAIN - set(VARIABLE.findall(GUIDES[lang])) == set()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_scope_named_is_one_the_doctor_checks_and_each_needed_one_is_named(lang: str) -> None:
    named = set(SCOPE.findall(GUIDES[lang]))
    assert named - ALL_SCOPES == set()
    assert {need.scope for need in NEEDS} <= named


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_command_named_exists(lang: str) -> None:
    group = typer.main.get_command(app)
    commands = set(group.commands)  # type: ignore[attr-defined]
    options = {opt for param in group.params for opt in getattr(param, "opts", [])}
    named = set(COMMAND.findall(GUIDES[lang]))
    assert {"doctor", "serve", "connect", "--version"} <= named
    assert {n for n in named if not n.startswith("-")} - commands == set()
    assert {n for n in named if n.startswith("-")} - options == set()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_event_and_callback_named_is_handled(lang: str) -> None:
    named = set(EVENT.findall(GUIDES[lang]))
    assert named == {MESSAGE_EVENT, CARD_EVENT}


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(".+?")
    return re.compile("".join(parts))


def _doctor_lines(text: str) -> list[str]:
    """Lines of doctor output quoted in code blocks: a mark, or a fix (→) under one."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        stripped = line.strip()
        if inside and (stripped.startswith(MARKS) or stripped.startswith("→ ")):
            lines.append(stripped)
    return lines


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_doctor_output_quoted_in_the_guide_is_what_the_doctor_prints(lang: str) -> None:
    templates = [_template_pattern(pair[1] if lang == "zh" else pair[0])
                 for key, pair in i18n.MESSAGES.items() if key.startswith("doctor.")]
    quoted = _doctor_lines(GUIDES[lang])
    assert len(quoted) >= 30
    unknown = []
    for line in quoted:
        body = line.split(" ", 1)[1]
        if not any(p.fullmatch(body) or p.fullmatch(line) for p in templates):
            unknown.append(line)
    assert unknown == []


def test_the_guides_link_to_each_other() -> None:
    assert "README.zh-CN.md" in "\n".join(README.splitlines()[:5])
    assert "README.md" in "\n".join(ZH.splitlines()[:5])
    assert "README.zh-CN.md" in GUIDES["en"]
