"""The Feishu permission scopes the bot needs (feishu-api.md §1.5; each API's required permissions, open.feishu.cn).

Each need is met by any one of its scopes; the first is the one to add (the narrowest). The setup
guides (README.md, README.zh-CN.md) name exactly these, which tests/test_setup_guide.py checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScopeNeed:
    scopes: tuple[str, ...]  # any one of them will do; the first is the one to request
    purpose: str  # message key (bot.messages.doctor): what the bot can't do without it
    required: bool = True  # False: one feature is missing without it (a warning)

    @property
    def scope(self) -> str:
        return self.scopes[0]


NEEDS: tuple[ScopeNeed, ...] = (
    ScopeNeed(("im:message.group_at_msg:readonly",), "doctor.scope.group_at"),
    ScopeNeed(("im:message.p2p_msg:readonly",), "doctor.scope.p2p"),
    ScopeNeed(("im:message:send_as_bot", "im:message"), "doctor.scope.send"),
    ScopeNeed(("im:message:readonly", "im:message", "im:message.history:readonly"), "doctor.scope.read"),
    ScopeNeed(("im:resource", "im:resource:upload"), "doctor.scope.upload"),
    ScopeNeed(("im:message.reactions:write_only", "im:message"), "doctor.scope.reactions", required=False),
    ScopeNeed(("im:message.group_msg",), "doctor.scope.group_msg", required=False),
)

ALL_SCOPES: frozenset[str] = frozenset(s for need in NEEDS for s in need.scopes)
"""Every scope name the doctor knows (the guides may name no other)."""
