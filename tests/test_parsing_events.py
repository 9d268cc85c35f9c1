"""bot.parsing.events: Feishu event bodies → IncomingMessage / CardAction (pure, no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.parsing.events import CardAction, IncomingMessage, Mention, parse_card_action, parse_message_event

BOT = "ou_bot000"
USER = "ou_user111"
TOM = "ou_tom222"


def bot_mention(key: str = "@_user_1", name: str = "VideoBot", **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "id": {"open_id": BOT, "union_id": "on_bot", "user_id": ""},
        "name": name,
        "tenant_key": "t1",
        **extra,
    }


def user_mention(key: str = "@_user_2", open_id: str = TOM, name: str = "Tom") -> dict[str, Any]:
    return {
        "key": key,
        "id": {"open_id": open_id, "union_id": "on_x", "user_id": "u"},
        "name": name,
        "mentioned_type": "user",
        "tenant_key": "t1",
    }


def event(
    message_type: str = "text",
    content: Any = None,
    *,
    text: str | None = None,
    chat_type: str = "group",
    mentions: list[dict[str, Any]] | None = None,
    sender_type: str | None = "user",
    **message_fields: Any,
) -> dict[str, Any]:
    if text is not None:
        content = {"text": text}
    message: dict[str, Any] = {
        "message_id": "om_msg1",
        "create_time": "1609073151345",
        "update_time": "1609073151345",
        "chat_id": "oc_chat1",
        "chat_type": chat_type,
        "message_type": message_type,
        "content": content if isinstance(content, str) else json.dumps(content or {}, ensure_ascii=False),
        **message_fields,
    }
    if mentions is not None:
        message["mentions"] = mentions
    sender: dict[str, Any] = {
        "sender_id": {"open_id": USER, "union_id": "on_u", "user_id": "e33"},
        "tenant_key": "t1",
    }
    if sender_type is not None:
        sender["sender_type"] = sender_type
    return {
        "schema": "2.0",
        "header": {
            "event_id": "ev_1",
            "event_type": "im.message.receive_v1",
            "create_time": "1609073151000",
            "token": "tok",
            "app_id": "cli_x",
            "tenant_key": "t1",
        },
        "event": {"sender": sender, "message": message},
    }


def parse(ev: dict[str, Any], bot: str = BOT) -> IncomingMessage:
    msg = parse_message_event(ev, bot_open_id=bot)
    assert msg is not None
    return msg


# --- text messages -------------------------------------------------------------------------------


def test_text_p2p_fields() -> None:
    msg = parse(event(text="/video a kitten yawning", chat_type="p2p"))
    assert msg.event_id == "ev_1"
    assert msg.message_id == "om_msg1"
    assert msg.chat_id == "oc_chat1"
    assert msg.chat_type == "p2p" and not msg.is_group
    assert msg.sender_open_id == USER
    assert msg.sender_type == "user" and not msg.from_bot
    assert msg.message_type == "text"
    assert msg.text == "/video a kitten yawning"
    assert msg.image_keys == ()
    assert msg.mentions_bot is False
    assert msg.thread_id is None and msg.root_id is None and msg.parent_id is None
    assert not msg.is_reply
    assert msg.create_time == 1609073151345
    assert msg.tenant_key == "t1"


def test_reply_and_thread_ids() -> None:
    msg = parse(
        event(text="/video x", chat_type="p2p", root_id="om_root", parent_id="om_parent", thread_id="omt_1")
    )
    assert (msg.root_id, msg.parent_id, msg.thread_id) == ("om_root", "om_parent", "omt_1")
    assert msg.is_reply


def test_empty_ids_become_none() -> None:
    msg = parse(event(text="x", chat_type="p2p", root_id="", parent_id="", thread_id=""))
    assert msg.root_id is None and msg.parent_id is None and msg.thread_id is None


def test_group_bot_mention_removed() -> None:
    msg = parse(event(text="@_user_1 /video a kitten yawning", mentions=[bot_mention()]))
    assert msg.text == "/video a kitten yawning"
    assert msg.mentions_bot is True
    assert msg.is_group
    assert msg.mentions == (Mention(key="@_user_1", open_id=BOT, name="VideoBot", mentioned_type=""),)


def test_other_user_mention_kept_as_name() -> None:
    msg = parse(
        event(text="@_user_1 /video @_user_2 dancing in the rain", mentions=[bot_mention(), user_mention()])
    )
    assert msg.text == "/video @Tom dancing in the rain"
    assert msg.mentions_bot is True


def test_bot_mention_in_the_middle_takes_its_space_with_it() -> None:
    msg = parse(event(text="/video make @_user_1 a cat", mentions=[bot_mention()]))
    assert msg.text == "/video make a cat"


def test_bot_mention_at_the_end() -> None:
    msg = parse(event(text="/video a cat @_user_1", mentions=[bot_mention()]))
    assert msg.text == "/video a cat"


def test_mention_keys_do_not_collide_user_1_vs_user_12() -> None:
    mentions = [bot_mention("@_user_1"), user_mention("@_user_12", name="Twelve")]
    msg = parse(event(text="@_user_1 hi @_user_12", mentions=mentions))
    assert msg.text == "hi @Twelve"


def test_group_message_mentioning_only_someone_else() -> None:
    msg = parse(event(text="@_user_1 look at this", mentions=[user_mention("@_user_1")]))
    assert msg.mentions_bot is False
    assert msg.text == "@Tom look at this"


def test_mention_all() -> None:
    msg = parse(event(text="@_all /video x", chat_type="group", mentions=[]))
    assert msg.text == "@all /video x"
    assert msg.mentions_bot is False


def test_unknown_placeholder_kept() -> None:
    msg = parse(event(text="hi @_user_3", chat_type="p2p"))
    assert msg.text == "hi @_user_3"


def test_without_bot_open_id_a_bot_typed_mention_is_taken_as_ours() -> None:
    mentions = [bot_mention(mentioned_type="bot"), user_mention()]
    msg = parse(event(text="@_user_1 /video @_user_2", mentions=mentions), bot="")
    assert msg.mentions_bot is True
    assert msg.text == "/video @Tom"


def test_without_bot_open_id_and_untyped_mention_nothing_is_removed() -> None:
    msg = parse(event(text="@_user_1 /video x", mentions=[bot_mention()]), bot="")
    assert msg.mentions_bot is False
    assert msg.text == "@VideoBot /video x"


def test_other_bot_is_not_us() -> None:
    other = {"key": "@_user_1", "id": {"open_id": "ou_otherbot"}, "name": "OtherBot", "mentioned_type": "bot"}
    msg = parse(event(text="@_user_1 /video x", mentions=[other]))
    assert msg.mentions_bot is False
    assert msg.text == "@OtherBot /video x"


def test_api_style_mentions_with_string_ids() -> None:
    mentions = [{"key": "@_user_1", "id": BOT, "id_type": "open_id", "name": "VideoBot"}]
    msg = parse(event(text="@_user_1 /video x", mentions=mentions))
    assert msg.mentions_bot and msg.text == "/video x"


def test_at_tags_in_text_are_resolved() -> None:
    text = f'<at user_id="{BOT}">VideoBot</at> /video with <at user_id="{TOM}">Tom</at>'
    msg = parse(event(text=text, mentions=[bot_mention(), user_mention()]))
    assert msg.text == "/video with @Tom"


def test_emoji_and_spacing_inside_text_kept() -> None:
    msg = parse(event(text="/video a 🐱  and 👨\u200d👩\u200d👧\nsecond line", chat_type="p2p"))
    assert msg.text == "/video a 🐱  and 👨\u200d👩\u200d👧\nsecond line"


# --- posts ---------------------------------------------------------------------------------------

CAPTION_POST = {
    "title": "",
    "content": [
        [
            {"tag": "at", "user_id": "@_user_1", "user_name": "VideoBot"},
            {"tag": "text", "text": " /video make it dance"},
        ],
        [{"tag": "img", "image_key": "img_v3_a", "width": 1024, "height": 768}],
    ],
}


def _post_forms(post: dict[str, Any]) -> list[Any]:
    return [post, {"zh_cn": post}, {"en_us": post}, {"post": {"zh_cn": post}}, {"post": {"en_us": post}}]


@pytest.mark.parametrize(
    "content", _post_forms(CAPTION_POST), ids=["direct", "zh_cn", "en_us", "post.zh_cn", "post.en_us"]
)
def test_post_all_forms_image_and_caption(content: Any) -> None:
    msg = parse(event("post", content, mentions=[bot_mention()]))
    assert msg.message_type == "post"
    assert msg.text == "/video make it dance"
    assert msg.image_keys == ("img_v3_a",)
    assert msg.mentions_bot


def test_post_two_images_in_order_and_title() -> None:
    post = {
        "title": "Flowers",
        "content": [
            [{"tag": "img", "image_key": "first"}],
            [{"tag": "text", "text": "/video bloom"}],
            [{"tag": "img", "image_key": "second"}],
        ],
    }
    msg = parse(event("post", {"zh_cn": post}, chat_type="p2p"))
    assert msg.image_keys == ("first", "second")
    assert msg.text == "Flowers\n/video bloom"


def test_post_element_kinds() -> None:
    post = {
        "content": [
            [
                {"tag": "text", "text": "/video a "},
                {"tag": "a", "text": "link", "href": "https://x"},
                {"tag": "text", "text": " "},
                {"tag": "a", "href": "https://bare"},
            ],
            [
                {"tag": "emotion", "emoji_type": "SMILE"},
                {"tag": "text", "text": " and "},
                {"tag": "at", "user_id": "@_user_2", "user_name": "Tom"},
            ],
            [{"tag": "code_block", "language": "py", "text": "print(1)"}],
            [{"tag": "md", "text": "**bold**"}],
            [{"tag": "hr"}],
            [{"tag": "media", "file_key": "file_v", "image_key": "img_cover"}],
            "not an element",
            [{"tag": "unknown", "text": "fallback text"}],
        ]
    }
    msg = parse(event("post", post, chat_type="p2p", mentions=[user_mention()]))
    assert msg.text == "/video a link https://bare\n[SMILE] and @Tom\nprint(1)\n**bold**\nfallback text"
    assert msg.image_keys == ()  # a media element's cover is not an input image


def test_post_at_element_with_the_bots_open_id() -> None:
    post = {
        "content": [
            [{"tag": "at", "user_id": BOT, "user_name": "VideoBot"}, {"tag": "text", "text": " /video x"}]
        ]
    }
    msg = parse(event("post", post, mentions=[]))
    assert msg.text == "/video x"


def test_post_at_all_and_unknown_user() -> None:
    post = {
        "content": [
            [
                {"tag": "at", "user_id": "all"},
                {"tag": "text", "text": " hi "},
                {"tag": "at", "user_id": "ou_stranger", "user_name": "Ann"},
            ]
        ]
    }
    msg = parse(event("post", post, chat_type="p2p"))
    assert msg.text == "@all hi @Ann"


def test_post_mention_in_text_element_is_resolved() -> None:
    post = {"content": [[{"tag": "text", "text": "@_user_1 /video x"}]]}
    msg = parse(event("post", post, mentions=[bot_mention()]))
    assert msg.text == "/video x" and msg.mentions_bot


def test_post_only_images() -> None:
    post = {"content": [[{"tag": "img", "image_key": "a"}], [{"tag": "img", "image_key": "b"}]]}
    msg = parse(event("post", post, chat_type="p2p"))
    assert msg.text == "" and msg.image_keys == ("a", "b")


@pytest.mark.parametrize("content", ["{not json", "", "[]", json.dumps({"zh_cn": "x"}), json.dumps({"a": 1})])
def test_post_garbage_is_empty(content: str) -> None:
    msg = parse(event("post", content, chat_type="p2p"))
    assert msg.text == "" and msg.image_keys == ()


# --- other message types ---------------------------------------------------------------------------


def test_image_message() -> None:
    msg = parse(event("image", {"image_key": "img_v3_x"}, chat_type="p2p"))
    assert msg.message_type == "image"
    assert msg.text == ""
    assert msg.image_keys == ("img_v3_x",)


@pytest.mark.parametrize(
    "message_type,content",
    [
        ("file", {"file_key": "file_v3", "file_name": "x.pdf"}),
        ("audio", {"file_key": "f", "duration": 3000}),
        ("media", {"file_key": "f", "image_key": "img_cover", "file_name": "v.mp4", "duration": 5000}),
        ("sticker", {"file_key": "s"}),
        ("interactive", {"elements": []}),
        ("share_chat", {"chat_id": "oc"}),
        ("merge_forward", {}),
    ],
)
def test_unknown_types_parse_with_empty_text(message_type: str, content: dict[str, Any]) -> None:
    msg = parse(event(message_type, content, chat_type="p2p"))
    assert msg.message_type == message_type
    assert msg.text == "" and msg.image_keys == ()


def test_content_given_as_object_and_bad_json() -> None:
    ev = event(text="x", chat_type="p2p")
    ev["event"]["message"]["content"] = {"text": "/video from a dict"}
    assert parse(ev).text == "/video from a dict"
    ev["event"]["message"]["content"] = "{oops"
    assert parse(ev).text == ""


@pytest.mark.parametrize(
    "sender_type,from_bot", [("user", False), ("bot", True), ("app", True), (None, False)]
)
def test_sender_type_flag(sender_type: str | None, from_bot: bool) -> None:
    msg = parse(event(text="/video x", chat_type="p2p", sender_type=sender_type))
    assert msg.from_bot is from_bot


def test_not_a_message_event() -> None:
    card = {"schema": "2.0", "header": {"event_type": "card.action.trigger"}, "event": {}}
    assert parse_message_event(card, bot_open_id=BOT) is None
    no_id = event(text="x")
    del no_id["event"]["message"]["message_id"]
    assert parse_message_event(no_id, bot_open_id=BOT) is None
    assert parse_message_event({}, bot_open_id=BOT) is None
    assert parse_message_event("nope", bot_open_id=BOT) is None  # type: ignore[arg-type]


def test_missing_header_still_parses_message() -> None:
    ev = event(text="/video x", chat_type="p2p")
    del ev["header"]
    msg = parse(ev)
    assert msg.event_id == "" and msg.text == "/video x"


def test_round_trip_dict() -> None:
    msg = parse(event("post", CAPTION_POST, mentions=[bot_mention(), user_mention()], parent_id="om_p"))
    data = json.loads(json.dumps(msg.to_dict()))
    assert IncomingMessage.from_dict(data) == msg


# --- card actions ----------------------------------------------------------------------------------


def card_body(value: Any) -> dict[str, Any]:
    return {
        "schema": "2.0",
        "header": {
            "event_id": "f79",
            "token": "vt",
            "create_time": "1710000000000",
            "event_type": "card.action.trigger",
            "tenant_key": "t",
            "app_id": "cli",
        },
        "event": {
            "operator": {"tenant_key": "t", "user_id": "u", "open_id": USER, "union_id": "on"},
            "token": "c-295ee",
            "action": {
                "value": value,
                "tag": "button",
                "name": "b",
                "form_value": {"f": "1"},
                "input_value": "typed",
                "option": "opt",
            },
            "host": "im_message",
            "context": {"open_message_id": "om_card", "open_chat_id": "oc_chat"},
        },
    }


def test_card_action_v2() -> None:
    action = parse_card_action(card_body({"action": "approve_draft", "draft_id": "d42"}))
    assert action == CardAction(
        event_id="f79",
        operator_open_id=USER,
        value={"action": "approve_draft", "draft_id": "d42"},
        open_message_id="om_card",
        open_chat_id="oc_chat",
        token="c-295ee",
        tag="button",
        form_value={"f": "1"},
        input_value="typed",
        option="opt",
        create_time=1710000000000,
    )
    assert action.action == "approve_draft"


def test_card_action_string_values() -> None:
    assert parse_card_action(card_body('{"action": "discard"}')).value == {"action": "discard"}
    assert parse_card_action(card_body("discard")).value == {"value": "discard"}
    assert parse_card_action(card_body(None)).value == {}
    assert parse_card_action(card_body(None)).action == ""


def test_card_action_legacy_v1_body() -> None:
    legacy = {
        "open_id": USER,
        "user_id": "u",
        "tenant_key": "t",
        "open_message_id": "om_c",
        "open_chat_id": "oc_c",
        "token": "c-1",
        "action": {"value": {"action": "discard"}, "tag": "button"},
    }
    action = parse_card_action(legacy)
    assert (action.operator_open_id, action.open_message_id, action.open_chat_id, action.token) == (
        USER,
        "om_c",
        "oc_c",
        "c-1",
    )
    assert action.action == "discard" and action.event_id == ""


def test_card_action_empty() -> None:
    action = parse_card_action({})
    assert action.operator_open_id == "" and action.value == {} and action.open_message_id == ""
