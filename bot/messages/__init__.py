"""Every text the bot shows a person, in English and Chinese: one keyed catalogue, split by area.

Each section module holds `TEXT: dict[key, (en, zh)]`; render with `bot.i18n.t(key, lang,
**params)`. Why one catalogue: a translation is reviewed in one place, a test can prove every
key has both languages with the same `{params}`, and code never carries inline zh/en pairs.

Key names: the `code` of a `Reply`, `SpecError` or `ImageError` is a bare word (`bad_ratio`),
because it travels inside those objects; text used only for display is dotted by area
(`card.`, `toast.`, `ark.`, `help.`, `list.`, `quota.` …).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.messages import ark, cards, chat, doctor, info, jobs, requests, toasts
from bot.messages import help as help_

Entry = tuple[str, str]  # (en, zh)

SECTIONS: dict[str, Mapping[str, Entry]] = {
    "requests": requests.TEXT,
    "chat": chat.TEXT,
    "jobs": jobs.TEXT,
    "cards": cards.TEXT,
    "toasts": toasts.TEXT,
    "ark": ark.TEXT,
    "help": help_.TEXT,
    "info": info.TEXT,
    "doctor": doctor.TEXT,
}


def _merge(sections: Mapping[str, Mapping[str, Entry]]) -> dict[str, Entry]:
    """One flat table; a key defined in two sections is a mistake caught at import."""
    merged: dict[str, Entry] = {}
    for name, table in sections.items():
        for key, entry in table.items():
            if key in merged:
                raise ValueError(f"message key {key!r} of section {name!r} is defined twice")
            merged[key] = entry
    return merged


CATALOGUE: dict[str, Entry] = _merge(SECTIONS)
