"""/help [command|options|examples], and the README's command table: both read the registry.

Every command in `registry.commands` appears with its usage line and summary from the
catalogue (`help.usage.<name>`, `help.cmd.<name>`), its aliases, and the options it takes.
Nothing here lists commands by hand, so a new command shows up in /help and the README by
being registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bot.i18n import t
from bot.parsing.jobs import first_token
from bot.parsing.normalize import nfkc
from bot.parsing.options import shown_flags
from bot.parsing.registry import CommandSpec, Invocation, commands
from bot.parsing.results import Command, ParseResult

EXAMPLES: tuple[str, ...] = tuple(f"help.example.{name}" for name in (
    "text", "photo", "two_photos", "reply", "draft", "refs", "media_refs", "settings"))
_OPTION_TOPICS = frozenset({"options", "flags", "option", "flag", "参数", "选项"})
_EXAMPLE_TOPICS = frozenset({"examples", "example", "例子", "示例", "举例"})


@dataclass(frozen=True, kw_only=True)
class HelpCommand(Command):
    name: ClassVar[str] = "help"
    topic: str | None = None  # a command name, "options" or "examples"


def help_topic(rest: str) -> str | None:
    """What /help was asked about: a command (any of its words), "options", "examples" or None."""
    word = first_token(rest)
    if not word:
        return None
    w = nfkc(word).casefold().lstrip("/")
    name = commands.canonical(w)
    if name is not None:
        return name
    if w in _OPTION_TOPICS:
        return "options"
    if w in _EXAMPLE_TOPICS:
        return "examples"
    return None


def _help(inv: Invocation) -> ParseResult:
    return HelpCommand(lang=inv.lang, topic=help_topic(inv.rest))


def _command_data(spec: CommandSpec, lang: str) -> dict[str, Any]:
    return {"name": spec.name, "usage": t(spec.usage_key, lang), "summary": t(spec.summary_key, lang),
            "aliases": list(spec.zh_aliases if lang == "zh" else spec.aliases)}


def help_data(lang: str = "en") -> dict[str, Any]:
    """/help as data (for a card or for text): commands, options, examples in `lang`."""
    return {
        "title": t("help.title", lang),
        "commands": [_command_data(spec, lang) for spec in commands],
        "options": [
            {"name": f.name, "usage": f.usage, "summary": f.summary(lang),
             "aliases": [f"--{a}" for a in f.aliases[:2]] + [f"-{s}" for s in f.short]}
            for f in shown_flags()
        ],
        "examples": [t(key, lang) for key in EXAMPLES],
        "labels": {key: t(f"help.{key}", lang) for key in ("commands", "options", "examples", "aliases")},
    }


def help_text(lang: str = "en", topic: str | None = None) -> str:
    """Plain-text /help: everything, or one command / "options" / "examples"."""
    data = help_data(lang)
    labels = data["labels"]

    def command_line(c: dict[str, Any]) -> str:
        also = f" ({labels['aliases']} {' '.join('/' + a for a in c['aliases'][:3])})" if c["aliases"] else ""
        return f"• {c['usage']} — {c['summary']}{also}"

    def option_lines(targets: frozenset[str] | None = None) -> list[str]:
        out = [labels["options"]]
        for f in shown_flags(targets):
            aliases = [f"--{a}" for a in f.aliases[:2]] + [f"-{s}" for s in f.short]
            also = f" ({' '.join(aliases)})" if aliases else ""
            out.append(f"• {f.usage}{also} — {f.summary(lang)}")
        return out

    examples = [f"• {e}" for e in data["examples"]]
    spec = commands.get(topic) if topic else None
    if spec is not None:
        lines = [command_line(_command_data(spec, lang))]
        if spec.options is None or spec.options:
            lines += ["", *option_lines(spec.options)]
        mine = [e for e in data["examples"]
                if any(f"/{w} " in e or e.endswith(f"/{w}") for w in spec.words)]
        if mine:
            lines += ["", labels["examples"], *(f"• {e}" for e in mine)]
        return "\n".join(lines)
    if topic == "options":
        return "\n".join(option_lines())
    if topic == "examples":
        return "\n".join([labels["examples"], *examples])
    lines = [f"🎬 {data['title']}", labels["commands"], *(command_line(c) for c in data["commands"])]
    lines += ["", *option_lines(), "", labels["examples"], *examples]
    return "\n".join(lines)


def commands_table() -> str:
    """The README's command table (English), rendered from the registry."""
    rows = ["| command | Chinese aliases | English aliases | what it does |", "|---|---|---|---|"]
    for spec in commands:
        usage = t(spec.usage_key, "en").replace("|", "\\|")
        zh = " ".join(f"`/{a}`" for a in spec.zh_aliases)
        en = " ".join(f"`/{a}`" for a in spec.en_aliases)
        rows.append(f"| `{usage}` | {zh} | {en} | {t(spec.summary_key, 'en')} |")
    return "\n".join(rows) + "\n"


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("help", ("h", "start", "帮助", "说明", "使用说明", "菜单"), parse=_help),
)
