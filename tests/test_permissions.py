"""bot.permissions: the one rule for who may see and act on a job (pure, table-driven)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.permissions import Access, Press

ADMIN, ALICE, BOB = "ou_admin", "ou_alice", "ou_bob"
GROUP, OTHER_GROUP, DM = "oc_group", "oc_other", "oc_dm_alice"


@dataclass(frozen=True)
class J:
    chat_id: str
    chat_type: str
    user: str


IN_GROUP = J(GROUP, "group", ALICE)
IN_DM = J(DM, "p2p", ALICE)
OPEN = Access(admins=frozenset({ADMIN}))
LISTED = Access(admins=frozenset({ADMIN}), allowlist=frozenset({GROUP, BOB}))


@pytest.mark.parametrize("access,chat,user,allowed", [
    (OPEN, GROUP, ALICE, True),  # no allowlist: everyone
    (LISTED, GROUP, ALICE, True),  # the chat is listed
    (LISTED, OTHER_GROUP, BOB, True),  # the person is listed
    (LISTED, OTHER_GROUP, ALICE, False),
    (LISTED, OTHER_GROUP, ADMIN, True),  # admins everywhere
    (LISTED, None, None, False),
])
def test_allowlist(access: Access, chat: str | None, user: str | None, allowed: bool) -> None:
    assert access.is_allowed(chat, user) is allowed


@pytest.mark.parametrize("job,user,chat,sees,acts", [
    (IN_GROUP, ALICE, GROUP, True, True),  # the requester, in the job's chat
    (IN_GROUP, BOB, GROUP, True, False),  # others in that group see it, can't act
    (IN_GROUP, ALICE, OTHER_GROUP, False, False),  # never from another chat, even the requester
    (IN_DM, ALICE, DM, True, True),
    (IN_DM, BOB, DM, False, False),  # a direct chat's job: only its requester
    (IN_GROUP, ADMIN, OTHER_GROUP, True, True),  # admins see and act on everything
    (IN_DM, ADMIN, GROUP, True, True),
])
def test_see_and_act(job: J, user: str, chat: str, sees: bool, acts: bool) -> None:
    assert OPEN.may_see(user, chat, job) is sees
    assert OPEN.may_act_on(user, chat, job) is acts


@pytest.mark.parametrize("access,operator,chat,owner,verdict", [
    (OPEN, ALICE, GROUP, ALICE, Press.OK),
    (OPEN, BOB, GROUP, ALICE, Press.NOT_OWNER),
    (OPEN, ADMIN, GROUP, ALICE, Press.OK),
    (OPEN, None, GROUP, ALICE, Press.NOT_OWNER),
    (LISTED, ALICE, OTHER_GROUP, ALICE, Press.NOT_ALLOWED),  # the allowlist comes first
    (LISTED, BOB, OTHER_GROUP, ALICE, Press.NOT_OWNER),  # listed, but not the owner
])
def test_webhook_press(access: Access, operator: str | None, chat: str, owner: str, verdict: Press) -> None:
    assert access.may_press(operator, chat, owner) is verdict


@pytest.mark.parametrize("access,operator,card_chat,ok", [
    (OPEN, ALICE, GROUP, True),
    (OPEN, ALICE, OTHER_GROUP, False),  # a card value replayed in another chat acts on nothing
    (OPEN, BOB, GROUP, False),
    (OPEN, ADMIN, GROUP, True),
    (LISTED, ADMIN, GROUP, True),
    (Access(allowlist=frozenset({OTHER_GROUP})), ALICE, GROUP, False),  # the job's chat was delisted
])
def test_worker_button_check(access: Access, operator: str, card_chat: str, ok: bool) -> None:
    assert access.may_use_button(operator, card_chat, IN_GROUP) is ok


def test_chat_defaults() -> None:
    assert OPEN.may_set_chat_defaults(ADMIN, "group")
    assert not OPEN.may_set_chat_defaults(ALICE, "group")
    assert OPEN.may_set_chat_defaults(ALICE, "p2p")
