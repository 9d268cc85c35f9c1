"""Who may do what: the one rule behind the webhook's button check, the handlers and the engine.

The rule, in full:

* **Admins** (BOT_ADMINS) may use the bot anywhere, see every job and act on every job.
* **The allowlist** (BOT_ALLOWLIST, chat ids and/or open_ids): when it is set, only the chats and
  people on it (and admins) may use the bot; when empty, everyone may.
* **Seeing a job** (/status, /cancel, replying to its card): a job is visible only in the chat it
  was asked in, and in a direct (p2p) chat only to the person who asked. Anything else is
  answered exactly as an unknown id would be, so ids leak nothing.
* **Acting on a job** (its buttons, /cancel, /approve, /extend): only the person who asked (or an
  admin), and only where the job is visible.
* **A chat's defaults** (/settings chat …): admins, or anyone in a direct chat (the chat is theirs).

Pure: sets and ids in, booleans out; no settings object, Redis or Flask here, so the web process
(which has no job record yet) and the worker (which has one) apply literally the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class OwnedJob(Protocol):
    """What the rule needs to know about a job (`bot.store.jobs.Job` has it)."""

    @property
    def chat_id(self) -> str: ...

    @property
    def chat_type(self) -> str: ...

    @property
    def user(self) -> str: ...


class Press(StrEnum):
    """The webhook's verdict on a button press, before any job is read."""

    OK = "ok"
    NOT_ALLOWED = "not_allowed"  # the presser may not use the bot here
    NOT_OWNER = "not_owner"  # someone else's job, and not an admin


@dataclass(frozen=True)
class Access:
    """The deployment's admins and allowlist (`Settings.admin_ids`, `Settings.allowlist_ids`)."""

    admins: frozenset[str] = frozenset()
    allowlist: frozenset[str] = frozenset()  # chat ids or open_ids; empty = everyone

    def is_admin(self, user: str | None) -> bool:
        return user is not None and user in self.admins

    def is_allowed(self, chat_id: str | None, user: str | None) -> bool:
        """May `user` use the bot in `chat_id`? The chat or the person may be on the allowlist."""
        allow = self.allowlist
        return not allow or chat_id in allow or user in allow or self.is_admin(user)

    def may_see(self, user: str, chat_id: str, job: OwnedJob) -> bool:
        """Whether `job` exists as far as `user`, writing in `chat_id`, can tell."""
        if self.is_admin(user):
            return True
        if job.chat_id != chat_id:
            return False
        return job.chat_type != "p2p" or job.user == user

    def may_act_on(self, user: str, chat_id: str, job: OwnedJob) -> bool:
        """Cancel, approve, extend, reroll: the requester (or an admin), where the job is visible."""
        return self.may_see(user, chat_id, job) and (job.user == user or self.is_admin(user))

    def may_press(self, operator: str | None, card_chat: str | None, owner: str) -> Press:
        """The webhook's check of a button, from the button's own value (`owner`) and the card's chat.

        It answers with a toast within Feishu's 3 s, before any job is read; the worker checks the
        job itself again with `may_use_button`.
        """
        if not self.is_allowed(card_chat, operator):
            return Press.NOT_ALLOWED
        if operator != owner and not self.is_admin(operator):
            return Press.NOT_OWNER
        return Press.OK

    def may_use_button(self, operator: str, card_chat: str, job: OwnedJob) -> bool:
        """The worker's check of a button against the job: the card must be in the job's chat (a
        forged or replayed value acts on nothing), and the presser allowed there and entitled."""
        if card_chat != job.chat_id:
            return False
        return self.is_allowed(job.chat_id, operator) and self.may_act_on(operator, job.chat_id, job)

    def may_set_chat_defaults(self, user: str, chat_type: str) -> bool:
        """/settings chat …: admins anywhere; anyone in a direct chat, which is theirs alone."""
        return self.is_admin(user) or chat_type == "p2p"
