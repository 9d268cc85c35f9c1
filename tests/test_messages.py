"""The message catalogue (bot.messages, rendered by bot.i18n): complete, consistent, and the only
place user-facing text lives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import i18n
from bot.ark_errors import CODES
from bot.messages import SECTIONS
from bot.parsing import COMMANDS, FLAGS
from bot.parsing.help import EXAMPLES
from bot.store.jobs import JobState

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")])
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# A literal key passed to something that renders or carries a catalogue message.
KEY_CALL = re.compile(
    r"""\b(?:t|both|text|reply_code|Reply|SpecError|ImageError|Problem|_Problem)\(\s*(?:f?)["']([a-z][\w.\-]*)["']"""
)
TOAST_CALL = re.compile(r"""\b_toast\(\s*"\w+",\s*"(\w+)\"""")


def test_every_message_has_both_languages() -> None:
    for key, (en, zh) in i18n.MESSAGES.items():
        assert en.strip() and zh.strip(), key


@pytest.mark.parametrize("key", sorted(i18n.MESSAGES))
def test_both_languages_take_the_same_params(key: str) -> None:
    en, zh = i18n.MESSAGES[key]
    assert i18n.placeholders(en) == i18n.placeholders(zh), key


def test_sections_do_not_overlap() -> None:
    seen: dict[str, str] = {}
    for name, table in SECTIONS.items():
        for key in table:
            assert key not in seen, f"{key} is in {seen.get(key)} and {name}"
            seen[key] = name
    assert len(seen) == len(i18n.MESSAGES)


def used_keys() -> dict[str, list[str]]:
    """Every literal catalogue key in the source, with where it is used."""
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        if "messages" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for m in KEY_CALL.finditer(text):
            if "{" not in m.group(1):
                found.setdefault(m.group(1), []).append(path.name)
        for m in TOAST_CALL.finditer(text):
            found.setdefault(f"toast.{m.group(1)}", []).append(path.name)
    return found


def test_every_key_used_in_the_code_exists() -> None:
    used = used_keys()
    assert len(used) > 80, "the scan found too few keys: is the pattern still right?"
    missing = {key: where for key, where in used.items() if key not in i18n.MESSAGES}
    assert not missing, missing


def test_every_dynamic_key_exists() -> None:
    """Keys built at run time: card headers per state, Ark codes, /help entries."""
    states = [s.value for s in JobState] + ["draft_done", "discarded", "expired_draft"]
    keys = [f"card.{s}" for s in states]
    keys += [f"ark.{part}.{code}" for code in (*CODES, "unknown") for part in ("what", "fix")]
    keys += [k for spec in COMMANDS for k in (spec.usage_key, spec.summary_key)]
    keys += [f.help_key for f in FLAGS if f.shown]
    keys += list(EXAMPLES)
    keys += [f"toast.{code}" for code in ("working", "not_owner", "requester", "stale_button", "not_allowed")]
    assert [k for k in keys if k not in i18n.MESSAGES] == []


def test_no_text_for_people_outside_the_catalogue() -> None:
    """Chinese in the code is a sign of an inline translation; only the words people *type*
    (bot/parsing: command aliases, option values) may be Chinese outside bot/messages."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in SOURCES if "messages" not in path.parts and "parsing" not in path.parts
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if CJK.search(line)
    ]
    assert offenders == []


def test_unknown_key_and_missing_params_render_visibly() -> None:
    assert i18n.t("no.such.key", "zh") == "no.such.key"
    assert "{value}" in i18n.t("bad_ratio", "en")  # a param missing: shown, not a crash
    assert i18n.t("bad_setting_value", "en", key="ratio", value="x", allowed="y").startswith("ratio = x")
