"""Toasts: the one-line answer Feishu shows right away when someone presses a card button.

The webhook sends both languages (`i18n` of the toast) so the client can pick its own.
"""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    "toast.working": ("Working on it…", "处理中…"),
    "toast.not_owner": ("Only {name} can use these buttons.", "只有{name}可以使用这些按钮。"),
    "toast.requester": ("the person who made this request", "发起这个请求的人"),
    "toast.stale_button": ("This button no longer works.", "这个按钮已失效。"),
    "toast.not_allowed": (
        "This bot isn't enabled for you here. Ask an admin.",
        "此处尚未为你开通本机器人，请联系管理员。",
    ),
}
