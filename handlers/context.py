"""The context a chat handler gets: who asked, where to answer, and the engine's helpers.

Like Slack Bolt's `say` bound to a channel, `ctx.reply(...)` is bound to the
incoming message and its thread; every reply carries a `uuid` derived from the
message id and a purpose, so a redelivered event never posts twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from bot import i18n
from bot.cards import text_card
from bot.engine.engine import Engine
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
        return self.reply_text(i18n.t(code, self.lang, **params), purpose=purpose)

    def reply_card(self, card: dict[str, Any], *, purpose: str = "card") -> str:
        sent = self.engine.feishu.reply(self.message_id, "interactive", card,
                                        reply_in_thread=self.in_thread, uuid=self._uuid(purpose))
        return str(sent.message_id)

    def reply_info(self, title: str, markdown: str, *, purpose: str = "info") -> str:
        return self.reply_card(text_card(title, markdown), purpose=purpose)

    @property
    def is_admin(self) -> bool:
        return self.engine.is_admin(self.user)

    def may_see(self, job: Job) -> bool:
        """A job is visible in the chat it was asked in (a direct chat: only to its requester);
        admins see every job. Anything else answers exactly as an unknown id would."""
        if self.is_admin:
            return True
        if job.chat_id != self.chat_id:
            return False
        return job.chat_type != "p2p" or job.user == self.user

    def may_act_on(self, job: Job) -> bool:
        """Only the requester (or an admin) may press a job's buttons or cancel it."""
        return self.may_see(job) and (job.user == self.user or self.is_admin)
