"""/whoami (/我是谁, /me): the asker's ids and rights, for the admin filling BOT_ADMINS/BOT_ALLOWLIST.

Parsing is pure; the reply goes through the real handler, a real Redis and the Feishu simulator.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from enginekit import bot_replies, make_engine

import handlers
from bot.parsing import Ignore, IncomingMessage, ParseResult, PlainCommand, parse_command
from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator

pytest_plugins = ["fixtures_ark", "fixtures_feishu"]


def parse(text: str, *, group: bool = False) -> ParseResult:
    msg = IncomingMessage(event_id="ev1", message_id="om_1", chat_id="oc_1", chat_type="group" if group else "p2p",
                          sender_open_id="ou_user", sender_type="user", message_type="text", text=text)
    return parse_command(msg, bot_open_id="ou_bot")


@pytest.mark.parametrize("text", ["/whoami", "/我是谁", "/me", "／WhoAmI please"])
def test_whoami_and_its_aliases(text: str) -> None:
    result = parse(text)
    assert isinstance(result, PlainCommand) and result.command == "whoami"


def test_whoami_in_a_group_needs_the_mention() -> None:
    assert isinstance(parse("/whoami", group=True), Ignore)


@pytest.mark.parametrize("admins,allowlist,text,admin,allowed", [
    ("ou_alice", "", "/whoami", "yes", "yes"),
    ("", "oc_other", "/whoami", "no", "no"),  # refused by the allowlist, and still told its ids
    ("", "", "/我是谁", "否", "是"),
])
def test_whoami_replies_with_the_ids_and_rights(redis_url: str, ark_sim_factory: Callable[..., ArkSimulator],
                                                feishu_sim_factory: Callable[..., FeishuSimulator],
                                                admins: str, allowlist: str, text: str, admin: str,
                                                allowed: str) -> None:
    feishu = feishu_sim_factory()
    engine = make_engine(redis_url, ark_sim_factory().base_url, feishu, bot_admins=admins, bot_allowlist=allowlist)
    sent = feishu.send(text=text, chat_type="p2p", user={"open_id": "ou_alice", "name": "Alice"}, deliver=False)
    handlers.on_message(engine, sent["event"])
    [card] = bot_replies(feishu, sent["message_id"], "interactive")
    body = str(card["content"])
    chat_id = sent["event"]["event"]["message"]["chat_id"]
    for shown in ("ou_alice", chat_id, "p2p", f"**{admin}**", f"**{allowed}**"):
        assert shown in body, (shown, body)
