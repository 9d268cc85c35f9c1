"""Commands about jobs that exist: /approve and /extend (replies to a draft or a video),
/status and /cancel (a task id, a reply, or your latest), and /list.

Finding the job and checking who may touch it is the handlers' work (`bot.permissions`); here
only the arguments are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from bot.parsing.grammar import parse_args
from bot.parsing.normalize import clean_text, norm_value, parse_resolution, split_flag, tokenize
from bot.parsing.options import ALL_TARGETS
from bot.parsing.registry import CommandSpec, Invocation
from bot.parsing.results import Command, ParseResult, Reply

APPROVE_RESOLUTIONS = ("720p", "1080p")
EXTEND_TARGETS = ALL_TARGETS - {"ref", "last_frame", "draft"}  # a continuation's images are fixed


@dataclass(frozen=True, kw_only=True)
class ApproveCommand(Command):
    """Render the final video from a draft (the draft is `reply_to`, or the user's latest)."""

    name: ClassVar[str] = "approve"
    resolution: Literal["720p", "1080p"] = "720p"
    reply_to: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExtendCommand(Command):
    """Continue a video from its last frame; `changes` are VideoSpec fields from options."""

    name: ClassVar[str] = "extend"
    prompt: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None


@dataclass(frozen=True, kw_only=True)
class StatusCommand(Command):
    name: ClassVar[str] = "status"
    target: str | None = None
    reply_to: str | None = None  # the message replied to (a job card), if any


@dataclass(frozen=True, kw_only=True)
class CancelCommand(Command):
    name: ClassVar[str] = "cancel"
    target: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True, kw_only=True)
class ListCommand(Command):
    name: ClassVar[str] = "list"


def first_token(rest: str) -> str | None:
    """The first word of the arguments (a task id, a help topic), cleaned; None if there is none."""
    tokens = tokenize(clean_text(rest))
    return (norm_value(tokens[0].text) or None) if tokens else None


def _approve(inv: Invocation) -> ParseResult:
    lang = inv.lang
    allowed = ", ".join(APPROVE_RESOLUTIONS)
    words: list[str] = []
    for tok in tokenize(clean_text(inv.rest)):
        parsed = split_flag(tok.text)
        if parsed is not None:
            _, name, inline = parsed
            if name not in ("resolution", "res", "rs"):
                return Reply("approve_usage", {"allowed": allowed}, lang)
            if inline:
                words.append(inline)
            continue
        words.append(tok.text)
    resolution = "720p"
    if len(words) > 1:
        return Reply("approve_usage", {"allowed": allowed}, lang)
    if words:
        res = parse_resolution(words[0])
        if res not in APPROVE_RESOLUTIONS:
            return Reply("approve_usage", {"allowed": allowed}, lang)
        resolution = res
    return ApproveCommand(lang=lang, resolution="1080p" if resolution == "1080p" else "720p",
                          reply_to=inv.msg.parent_id)


def _extend(inv: Invocation) -> ParseResult:
    args = parse_args(inv.rest, command="/extend", allowed=EXTEND_TARGETS)
    return ExtendCommand(lang=inv.lang, prompt=args.prompt or None, changes=args.options,
                         reply_to=inv.msg.parent_id)


def _status(inv: Invocation) -> ParseResult:
    return StatusCommand(lang=inv.lang, target=first_token(inv.rest), reply_to=inv.msg.parent_id)


def _cancel(inv: Invocation) -> ParseResult:
    return CancelCommand(lang=inv.lang, target=first_token(inv.rest), reply_to=inv.msg.parent_id)


def _list(inv: Invocation) -> ParseResult:
    return ListCommand(lang=inv.lang)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("approve", ("ok", "final", "确认", "通过", "批准", "定稿"), parse=_approve),
    CommandSpec("extend", ("continue", "延长", "续写", "延续", "继续"), parse=_extend,
                options=EXTEND_TARGETS),
    CommandSpec("status", ("progress", "状态", "进度", "查询"), parse=_status),
    CommandSpec("cancel", ("stop", "abort", "取消", "停止"), parse=_cancel),
    CommandSpec("list", ("ls", "jobs", "tasks", "history", "列表", "任务", "历史", "记录"), parse=_list),
)
