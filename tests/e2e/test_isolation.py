"""No stranger's data: a job is seen and acted on only where it was asked for, by whom it may be.

Real processes (both simulators and the bot) on a real Redis. People talk through the Feishu
simulator; events Feishu itself would never send (a reply to a message of another chat, a
button value naming someone else's job) are built here and posted to the bot's webhook
*signed and encrypted with the app's keys* — the strongest forgery there is: only the
bot's own checks stand between it and the job. Every "nothing happened" is read after the
`settled()` barrier from what the simulators recorded.
"""

from __future__ import annotations

import re
import signal
from typing import Any

import pytest
import requests
from chat import (
    ADA,
    ALICE,
    BOB,
    WAIT,
    actions,
    ark_config,
    header,
    job_cards,
    message,
    replies,
    settled,
    strings,
    thread,
    wait_card,
)
from stack import APP_ID, ENCRYPT_KEY, VERIFICATION_TOKEN, Stack, wait_until

from bot.store.jobs import message_rid
from sim import feishu_events as ev

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-isolation")]


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    """One stack for the module (e2e/conftest.py), reset before each test: each starts its own bot."""
    return shared_stack

CHAT_A = "oc_iso_team_a"  # Alice's team
CHAT_B = "oc_iso_team_b"  # somewhere Alice's jobs were never asked for
UNKNOWN_TASK = "cgt-20250101000000-zzzzz"
UNKNOWN_RID = message_rid("om_" + "0" * 32)


# --- talking to the bot --------------------------------------------------------------------------------


def reply_of(stack: Stack, src: str) -> dict[str, Any]:
    """The bot's one reply to a message (text or card)."""
    return dict(wait_until(lambda: next(iter(replies(stack, src)), None), WAIT, what=f"the reply to {src}"))


def ask_all(stack: Stack, questions: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Send every (text, send-kwargs) question, then collect each one's reply (in order)."""
    sources = [str(stack.send(text, **kw)["message_id"]) for text, kw in questions]
    return [reply_of(stack, src) for src in sources]


def post_signed(stack: Stack, payload: dict[str, Any]) -> dict[str, Any]:
    """POST an event to the bot's webhook, encrypted and signed as Feishu does it."""
    body, headers = ev.wire_body(payload, encrypt_key=ENCRYPT_KEY)
    resp = requests.post(f"{stack.bot_url}/feishu/events", data=body, headers=headers, timeout=30)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return dict(resp.json())


def tenant_key(stack: Stack) -> str:
    """The simulator's tenant (read from an event it recorded without delivering it)."""
    probe = stack.send("probe", chat_id="oc_iso_probe", mention_bot=False, deliver=False)
    return str(probe["event"]["header"]["tenant_key"])


def forged_click(stack: Stack, *, operator: dict[str, str], on_card: dict[str, Any],
                 value: dict[str, Any]) -> dict[str, Any]:
    """A `card.action.trigger` for a button that never was on the card: its value is ours to choose.
    The context (message and chat of the card) is the real one of `on_card`. Returns the toast."""
    tenant = tenant_key(stack)
    header_ = ev.event_header("card.action.trigger", event_id=ev.new_event_id(), token=VERIFICATION_TOKEN,
                              app_id=APP_ID, tenant_key=tenant, create_time_ms=ev.now_ms())
    payload = ev.card_action_event(header_, operator=operator, tenant_key=tenant,
                                   action={"value": value, "tag": "button"}, message_id=on_card["message_id"],
                                   chat_id=on_card["chat_id"], card_token=ev.new_card_token())
    return post_signed(stack, payload)


def forged_reply(stack: Stack, text: str, *, user: dict[str, str], chat_id: str, parent_id: str) -> str:
    """A message in `chat_id` replying to `parent_id` — whatever chat that one is in, or if it does
    not exist at all. Recorded by the simulator (so the bot can answer it), pushed by us."""
    rec = stack.send(text, user=user, chat_id=chat_id, deliver=False)
    payload = rec["event"]
    payload["event"]["message"].update(parent_id=parent_id, root_id=parent_id)
    post_signed(stack, payload)
    return str(rec["message_id"])


# --- what the simulators recorded --------------------------------------------------------------------------


def bot_messages_in(stack: Stack, *chats: str) -> list[str]:
    return [m["message_id"] for m in stack.bot_messages() if m.get("chat_id") in chats]


def task_of(stack: Stack, words: str) -> dict[str, Any]:
    [task] = [t for t in stack.ark_tasks() if words in (t.get("prompt") or "")]
    return task


def assert_reveals_nothing(reply: dict[str, Any], *secrets: str) -> None:
    assert reply.get("msg_type") == "text", reply  # never a card
    text = reply.get("text") or ""
    for s in secrets:
        assert s not in text, (s, text)


def held_job(stack: Stack, prompt: str, **kw: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A job whose task waits at Ark (the simulator's clock is stopped): (source id, card, task)."""
    src = str(stack.send(f"/video {prompt}", **kw)["message_id"])
    card = wait_card(stack, src, lambda c: "Task" in strings(c) and "cancel" in actions(c), f"the card of {prompt}")
    return src, card, task_of(stack, prompt)


# --- 1. by id, from another chat -----------------------------------------------------------------------------


def test_a_job_asked_for_by_id_from_elsewhere_answers_as_an_unknown_id(stack: Stack) -> None:
    stack.bot_env["BOT_ADMINS"] = ADA["open_id"]
    stack.start_bot()
    ark_config(stack, speed=0, concurrency=0)  # tasks wait at Ark: a /cancel that got through deletes them
    group_src, _, group_task = held_job(stack, "a secret garden plan", user=ALICE, chat_id=CHAT_A)
    dm_src, _, dm_task = held_job(stack, "a private diary page", user=ALICE, chat_type="p2p")
    alice_dm = str(message(stack, dm_src)["chat_id"])
    secrets = ("secret garden", "private diary", group_task["id"], dm_task["id"])
    alice_threads_before = [m["message_id"] for src in (group_src, dm_src) for m in thread(stack, src)]

    places = {
        "another group": {"user": BOB, "chat_id": CHAT_B},
        "Bob's direct chat": {"user": BOB, "chat_type": "p2p"},
        # Feishu never delivers Bob's message into Alice's direct chat; a forged event can.
        "Alice's direct chat, forged": {"user": BOB, "chat_id": alice_dm, "chat_type": "p2p"},
    }
    real_ids = [group_task["id"], message_rid(group_src), dm_task["id"], message_rid(dm_src)]
    for place, kw in places.items():
        unknown = dict(zip(["/status", "/cancel"], [
            ask_all(stack, [(f"{cmd} {UNKNOWN_TASK}", kw), (f"{cmd} {UNKNOWN_RID}", kw)])
            for cmd in ("/status", "/cancel")], strict=True))
        for cmd in ("/status", "/cancel"):
            assert unknown[cmd][0]["text"] == unknown[cmd][1]["text"], unknown[cmd]
            answers = ask_all(stack, [(f"{cmd} {rid}", kw) for rid in real_ids])
            for rid, got in zip(real_ids, answers, strict=True):
                assert_reveals_nothing(got, *secrets)
                assert got["text"] == unknown[cmd][0]["text"], (place, cmd, rid, got["text"])

    settled(stack)
    # Nothing happened to Alice's jobs: both tasks still wait at Ark, not a message more in their threads.
    assert {t["status"] for t in stack.ark_tasks()} == {"queued"}, [t["status"] for t in stack.ark_tasks()]
    assert [m["message_id"] for src in (group_src, dm_src) for m in thread(stack, src)] == alice_threads_before
    assert not [m for m in stack.bot_messages() if m.get("chat_id") == CHAT_A and m["message_id"]
                not in alice_threads_before], "nothing was posted in Alice's group"
    for src in (group_src, dm_src):
        assert not header(job_cards(stack, src)[0]["content"]).lower().endswith("cancelled")

    # The ids are real: where the job was asked for it is found (a group's members may look) ...
    [seen] = ask_all(stack, [(f"/status {group_task['id']}", {"user": BOB, "chat_id": CHAT_A})])
    assert group_task["id"] in strings(seen["content"])
    # ... and an admin sees any job from anywhere, by task id or request id.
    admin = ask_all(stack, [(f"/status {group_task['id']}", {"user": ADA, "chat_id": CHAT_B}),
                            (f"/status {message_rid(dm_src)}", {"user": ADA, "chat_type": "p2p"})])
    assert group_task["id"] in strings(admin[0]["content"]) and "secret garden" in strings(admin[0]["content"])
    assert dm_task["id"] in strings(admin[1]["content"]) and "private diary" in strings(admin[1]["content"])


# --- 2. buttons -------------------------------------------------------------------------------------------------


def test_buttons_act_only_for_the_requester_in_the_jobs_own_chat(stack: Stack) -> None:
    stack.bot_env["BOT_ADMINS"] = ADA["open_id"]
    stack.start_bot()
    ark_config(stack, speed=0, concurrency=0)  # tasks wait, queued at Ark (DELETE would cancel them)
    alice_src, alice_card, alice_task = held_job(stack, "a locked treasure chest", user=ALICE, chat_id=CHAT_A)
    bob_src, bob_card, _ = held_job(stack, "a plain wooden box", user=BOB, chat_id=CHAT_B)
    alice_card, bob_card = message(stack, alice_card["message_id"]), message(stack, bob_card["message_id"])
    before = bot_messages_in(stack, CHAT_A, CHAT_B)
    alice_rid = message_rid(alice_src)

    # Bob presses Alice's Cancel: the webhook refuses with a toast.
    refused = stack.click(alice_card["message_id"], {"a": "cancel"}, user=BOB)
    assert refused["toast"]["type"] == "error" and "Only" in refused["toast"]["content"], refused["toast"]

    # Button values Feishu would never send, signed: they pass the webhook's owner check
    # (the forger names themselves as owner) and must still act on nothing.
    forged = [
        # Bob, on Alice's card in her chat, naming himself the owner of her job
        (BOB, alice_card, {"a": "cancel", "rid": alice_rid, "owner": BOB["open_id"], "lang": "en"}),
        (BOB, alice_card, {"a": "reroll", "rid": alice_rid, "owner": BOB["open_id"], "lang": "en"}),
        # Bob, on his own card in another chat, naming Alice's job
        (BOB, bob_card, {"a": "cancel", "rid": alice_rid, "owner": BOB["open_id"], "lang": "en"}),
        (BOB, bob_card, {"a": "reroll", "rid": alice_rid, "owner": BOB["open_id"], "lang": "en"}),
        # Alice herself, or an admin: a card in another chat never acts on the job
        (ALICE, bob_card, {"a": "cancel", "rid": alice_rid, "owner": ALICE["open_id"], "lang": "en"}),
        (ADA, bob_card, {"a": "cancel", "rid": alice_rid, "owner": ALICE["open_id"], "lang": "en"}),
        (ADA, bob_card, {"a": "reroll", "rid": alice_rid, "owner": ALICE["open_id"], "lang": "en"}),
    ]
    for operator, card, value in forged:
        answer = forged_click(stack, operator=operator, on_card=card, value=value)
        assert answer["toast"]["type"] == "info", answer  # accepted by the webhook: the worker decides

    settled(stack)
    assert [(t["status"], t["id"]) for t in stack.ark_tasks() if t["id"] == alice_task["id"]] == \
        [("queued", alice_task["id"])], "Alice's task was not cancelled"
    assert len(stack.ark_tasks()) == 2, "no reroll was made"
    assert bot_messages_in(stack, CHAT_A, CHAT_B) == before, "nothing was posted"
    for src in (alice_src, bob_src):
        content = job_cards(stack, src)[0]["content"]
        assert "cancel" in actions(content) and not header(content).lower().endswith("cancelled")

    # The same press by Alice on her own card works: the refusals above were the checks, not a dead path.
    stack.click(alice_card["message_id"], {"a": "cancel"}, user=ALICE)
    wait_card(stack, alice_src, lambda c: "cancelled" in header(c).lower(), "Alice's job cancelled")
    wait_until(lambda: task_of(stack, "a locked treasure chest")["status"] == "cancelled", WAIT,
               what="Alice's task deleted at Ark")


def test_card_actions_obey_the_allowlist(stack: Stack) -> None:
    stack.bot_env["BOT_ALLOWLIST"] = ALICE["open_id"]
    stack.start_bot()
    ark_config(stack, speed=0, concurrency=0)  # tasks wait, queued at Ark (DELETE would cancel them)
    src, card, _ = held_job(stack, "a marching band", user=ALICE, chat_id=CHAT_A)
    # Alice is taken off the allowlist (the bot restarts with the new setting; her job lives on in Redis).
    stack.kill("bot-serve", signal.SIGKILL)
    stack.bot_env["BOT_ALLOWLIST"] = BOB["open_id"]
    stack.start_bot()
    before = bot_messages_in(stack, CHAT_A)

    stack.click(card["message_id"], {"a": "cancel"}, user=ALICE)
    settled(stack)
    assert task_of(stack, "a marching band")["status"] == "queued", "the press did nothing"
    assert not header(message(stack, card["message_id"])["content"]).lower().endswith("cancelled")
    assert bot_messages_in(stack, CHAT_A) == before
    # The text command says why.
    [refused] = ask_all(stack, [("/cancel", {"user": ALICE, "chat_id": CHAT_A})])
    assert "isn't enabled for this chat" in refused["text"], refused
    settled(stack)
    assert task_of(stack, "a marching band")["status"] == "queued"
    assert [m["message_id"] for m in thread(stack, src)] == [card["message_id"]], "its thread got nothing more"


# --- 3. replies to another chat's messages -------------------------------------------------------------------


def test_a_reply_to_another_chats_message_reveals_nothing(stack: Stack) -> None:
    stack.start_bot()
    draft_src = str(stack.send("/draft a hidden lighthouse", user=ALICE, chat_id=CHAT_A)["message_id"])
    card = wait_card(stack, draft_src, lambda c: "approve_720p" in actions(c), "Alice's draft card")
    [draft_video] = wait_until(lambda: thread(stack, draft_src, "media"), WAIT, what="the draft video")
    photo = str(stack.send(images=[stack.user_image()], user=ALICE, chat_id=CHAT_A,
                           mention_bot=False)["message_id"])
    # Bob's own message in his chat: replying to it is the "no job here" answer to compare with.
    plain = str(stack.send("just chatting", user=BOB, chat_id=CHAT_B, mention_bot=False)["message_id"])
    settled(stack)
    tasks_before = [t["id"] for t in stack.ark_tasks()]
    alice_before = bot_messages_in(stack, CHAT_A)
    secrets = ("hidden lighthouse", tasks_before[0])

    for text, alices in (("/status", card["message_id"]), ("/status", draft_video["message_id"]),
                         ("/cancel", card["message_id"]), ("/approve", card["message_id"]),
                         ("/approve 1080p", draft_video["message_id"]),
                         ("/extend the lighthouse beam sweeps", draft_video["message_id"])):
        # Feishu cannot reply across chats; the simulator's own (signed) event does it here.
        theirs = str(stack.send(text, user=BOB, chat_id=CHAT_B, parent_id=alices)["message_id"])
        control = str(stack.send(text, user=BOB, chat_id=CHAT_B, parent_id=plain)["message_id"])
        got, expected = reply_of(stack, theirs), reply_of(stack, control)
        assert_reveals_nothing(got, *secrets)
        assert got["text"] == expected["text"], (text, got["text"], expected["text"])

    # A /video replying to Alice's photo in another chat: her photo is not used; the answer is the
    # one for a message that cannot be read (a forged reply to a message that does not exist).
    theirs = forged_reply(stack, "/video make it move", user=BOB, chat_id=CHAT_B, parent_id=photo)
    missing = forged_reply(stack, "/video make it move", user=BOB, chat_id=CHAT_B,
                           parent_id="om_" + "f" * 32)
    got, expected = reply_of(stack, theirs), reply_of(stack, missing)
    assert_reveals_nothing(got, *secrets)
    assert got["text"] == expected["text"], (got["text"], expected["text"])

    settled(stack)
    assert [t["id"] for t in stack.ark_tasks()] == tasks_before, "no final, no extension, no video of her photo"
    assert bot_messages_in(stack, CHAT_A) == alice_before, "nothing was posted in Alice's chat"
    assert not [m for m in stack.bot_messages("interactive") if m.get("chat_id") == CHAT_B]
    assert re.search(r"approve_720p", str(actions(message(stack, card["message_id"])["content"])))
