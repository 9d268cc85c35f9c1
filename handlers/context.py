"""The context a chat handler gets: who asked, where to answer, and the engine's helpers.

Like Slack Bolt's `say` bound to a channel, `ctx.reply(...)` is bound to the
incoming message and its thread; every reply carries a `uuid` derived from the
message id and a purpose, so a redelivered event never posts twice. Who may see or
act on a job is `bot.permissions`; the context only supplies who is asking, and where.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from bot.cards import text_card
from bot.engine.engine import Engine
from bot.i18n import t
from bot.permissions import Access
from bot.store.jobs import Job


@dataclass
class ChatContext:
    engine: Engine
    message_id: str  # the message to reply to
    chat_id: str
    user: str  # the person who asked (open_id)
    lang: str
    in_thread: bool = False
    chat_type: str = "group"

    def _uuid(self, purpose: str) -> str:
        digest = hashlib.sha1(f"{self.message_id}:{purpose}".encode()).hexdigest()[:24]
        return f"{purpose[:20]}-{digest}"[:50]

    def reply_text(self, text: str, *, purpose: str = "reply") -> str:
        sent = self.engine.feishu.reply(self.message_id, "text", {"text": text},
                                        reply_in_thread=self.in_thread, uuid=self._uuid(purpose))
        return str(sent.message_id)

    def reply_code(self, code: str, *, purpose: str = "reply", **params: Any) -> str:
        """Reply with catalogue message `code` in the asker's language."""
        return self.reply_text(t(code, self.lang, **params), purpose=purpose)

    def reply_card(self, card: dict[str, Any], *, purpose: str = "card") -> str:
        sent = self.engine.feishu.reply(self.message_id, "interactive", card,
                                        reply_in_thread=self.in_thread, uuid=self._uuid(purpose))
        return str(sent.message_id)

    def reply_info(self, title: str, markdown: str, *, purpose: str = "info") -> str:
        return self.reply_card(text_card(title, markdown), purpose=purpose)

    def text(self, key: str, **params: Any) -> str:
        """Catalogue message `key` in the asker's language (for building cards)."""
        return t(key, self.lang, **params)

    @property
    def access(self) -> Access:
        return self.engine.access

    @property
    def is_admin(self) -> bool:
        return self.access.is_admin(self.user)

    def may_see(self, job: Job) -> bool:
        """Whether the job exists as far as the asker can tell (see `bot.permissions`)."""
        return self.access.may_see(self.user, self.chat_id, job)

    def may_act_on(self, job: Job) -> bool:
        """Only the requester (or an admin) may press a job's buttons or cancel it."""
        return self.access.may_act_on(self.user, self.chat_id, job)
