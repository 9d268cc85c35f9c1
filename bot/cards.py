"""Interactive cards (Card JSON 2.0): the one live card per job, plus help and models.

Pure builders: a `CardView` in, a card dict out; every text comes from the catalogue
(`card.*` in `bot.messages.cards`). Buttons carry a callback value
`{"a": action, "rid": rid, "owner": open_id, "lang": lang}` that the webhook checks
(only the owner or an admin may press) and the worker acts on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot import catalogue
from bot.i18n import t


@dataclass
class CardView:
    """What the job card shows; built by the engine from a `Job`."""

    rid: str
    owner: str
    lang: str
    state: str  # a JobState value, or draft_done / discarded / expired_draft
    prompt: str = ""
    model: str = ""
    resolution: str = ""
    ratio: str = ""
    duration: int = 0
    kind: str = "video"
    position: int = 0
    elapsed: float = 0.0
    expected: float = 0.0
    task_id: str = ""
    seed: int | None = None
    tokens: int = 0
    error_what: str = ""
    error_fix: str = ""
    note: str = ""
    actions: list[str] = field(default_factory=list)  # buttons to show


def _fmt_seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _button(text: str, action: str, view: CardView, style: str = "default", **extra: Any) -> dict[str, Any]:
    value = {"a": action, "rid": view.rid, "owner": view.owner, "lang": view.lang, **extra}
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": text},
        "type": style,
        "behaviors": [{"type": "callback", "value": value}],
    }


def final_cost(view: CardView, resolution: str) -> str:
    info = catalogue.get(view.model)
    if info is None:
        return "?"
    ratio = view.ratio if view.ratio in catalogue.RATIOS else "16:9"
    size = info.pixel_size(resolution, ratio) or info.pixel_size(resolution, "16:9")
    if size is None:
        return "?"
    tokens = catalogue.video_tokens(size[0], size[1], max(view.duration, 1))
    return f"{catalogue.estimate_usd(info, tokens, audio=info.audio, flex=False):.2f}"


def job_card(view: CardView) -> dict[str, Any]:
    """The live job card for every state; buttons depend on `view.actions`."""
    lang = view.lang
    template = {"done": "green", "draft_done": "turquoise", "failed": "red", "cancelled": "grey",
                "discarded": "grey", "expired_draft": "orange"}.get(view.state, "blue")
    lines: list[str] = []
    if view.prompt:
        p = view.prompt if len(view.prompt) <= 300 else view.prompt[:297] + "…"
        lines.append(f"**{t('card.prompt', lang)}:** {p}")
    info = catalogue.get(view.model)
    settings = " · ".join(x for x in (
        info.name if info else view.model,
        view.resolution, view.ratio, f"{view.duration}s" if view.duration else "") if x)
    if settings:
        lines.append(f"**{t('card.settings', lang)}:** {settings}")
    if view.state == "queued" and view.position:
        lines.append(t("card.position", lang, n=view.position))
    if view.state in ("submitted", "running", "starting") and view.expected:
        lines.append(t("card.elapsed", lang, elapsed=_fmt_seconds(view.elapsed),
                        expected=_fmt_seconds(view.expected)))
    if view.task_id:
        lines.append(f"**{t('card.task', lang)}:** `{view.task_id}`")
    if view.state in ("done", "draft_done"):
        extra = []
        if view.seed is not None and view.seed >= 0:
            extra.append(f"{t('card.seed', lang)} {view.seed}")
        if view.tokens:
            extra.append(f"{t('card.tokens', lang)} {view.tokens:,}")
        if extra:
            lines.append(" · ".join(extra))
    if view.error_what:
        lines.append(view.error_what)
    if view.error_fix:
        lines.append(f"**{t('card.fix', lang)}:** {view.error_fix}")
    if view.note:
        lines.append(view.note)
    elements: list[dict[str, Any]] = [{"tag": "markdown", "content": "\n".join(lines) or " "}]
    for action in view.actions:
        if action == "cancel":
            elements.append(_button(t("card.cancel", lang), "cancel", view, "danger"))
        elif action == "reroll":
            elements.append(_button(t("card.reroll", lang), "reroll", view))
        elif action == "extend":
            elements.append(_button(t("card.extend", lang), "extend", view))
        elif action in ("approve_720p", "approve_1080p"):
            res = action.split("_")[1]
            elements.append(_button(t("card.approve", lang, res=res, cost=final_cost(view, res)), action, view,
                                    "primary"))
        elif action == "discard":
            elements.append(_button(t("card.discard", lang), "discard", view, "danger"))
        elif action == "redo":
            elements.append(_button(t("card.redo", lang), "redo", view, "primary"))
    return {
        "schema": "2.0",
        "config": {"update_multi": True},
        "header": {"title": {"tag": "plain_text", "content": t(f"card.{view.state}", lang)},
                   "template": template},
        "body": {"elements": elements},
    }


def text_card(title: str, markdown: str, template: str = "blue") -> dict[str, Any]:
    """A plain information card (help, models, settings, quota)."""
    return {
        "schema": "2.0",
        "config": {"update_multi": True},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": template},
        "body": {"elements": [{"tag": "markdown", "content": markdown}]},
    }
