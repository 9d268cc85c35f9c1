"""bot.parsing (parser, grammar, normalize): chat text → Command / Reply / Ignore (pure, table-driven)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot import i18n
from bot.catalogue import ALL_RATIOS
from bot.errors import SpecError
from bot.parsing import (
    COMMANDS,
    FLAGS,
    ApproveCommand,
    CancelCommand,
    Command,
    ExtendCommand,
    HelpCommand,
    Ignore,
    IncomingMessage,
    ListCommand,
    Mention,
    ModelsCommand,
    ParseResult,
    QuotaCommand,
    Reply,
    SettingsCommand,
    StatusCommand,
    VideoCommand,
    grammar,
    help_data,
    help_text,
    image_source,
    parse_command,
    parse_image_source,
    parse_message_event,
    render_reply,
    with_images,
)
from bot.parsing import normalize as nz
from bot.parsing.settings import coerce_defaults
from bot.spec import ImageInput

BOT = "ou_bot000"
PRO15 = "seedance-1-5-pro-251215"
PRO10 = "seedance-1-0-pro-250528"
V20 = "dreamina-seedance-2-0-260128"
LITE_I2V = "seedance-1-0-lite-i2v-250428"


def message(
    text: str = "",
    *,
    group: bool = False,
    images: tuple[str, ...] = (),
    parent: str | None = None,
    message_type: str | None = None,
    sender_type: str = "user",
    mention_bot: bool | None = None,
    mentions: tuple[Mention, ...] | None = None,
) -> IncomingMessage:
    """An IncomingMessage as parse_message_event would build it (bot mention already removed)."""
    if mention_bot is None:
        mention_bot = group
    if mentions is None:
        mentions = (Mention("@_user_1", BOT, "VideoBot"),) if mention_bot else ()
    return IncomingMessage(
        event_id="ev1",
        message_id="om_msg",
        chat_id="oc_chat",
        chat_type="group" if group else "p2p",
        sender_open_id="ou_user",
        sender_type=sender_type,
        message_type=message_type or ("post" if images and text else "text"),
        text=text,
        image_keys=images,
        mentions_bot=mention_bot,
        parent_id=parent,
        mentions=mentions,
    )


def parse(text: str = "", **kw: Any) -> ParseResult:
    lang = kw.pop("lang", None)
    defaults = kw.pop("user_defaults", None)
    default_model = kw.pop("default_model", None)
    return parse_command(
        message(text, **kw), bot_open_id=BOT, lang=lang, user_defaults=defaults, default_model=default_model
    )


def video(text: str, **kw: Any) -> VideoCommand:
    result = parse(text, **kw)
    assert isinstance(result, VideoCommand), result
    return result


def other_lang(lang: str) -> str:
    return "en" if lang == "zh" else "zh"


def assert_helpful_reply(result: ParseResult, code: str | None = None, must: tuple[str, ...] = ()) -> Reply:
    """A bad input: a Reply (never a Command) that renders in both languages, fully, with a hint."""
    assert isinstance(result, Reply), f"expected a Reply, got {result!r}"
    assert not isinstance(result, Command)
    if code is not None:
        assert result.code == code, (result.code, result.params)
    assert result.code in i18n.MESSAGES, f"no message for code {result.code}"
    for lang in ("en", "zh"):
        text = i18n.t(result.code, lang, **result.params)
        assert text.strip(), (lang, result)
        assert not re.search(r"\{[a-z_]+\}", text), f"unrendered placeholder in {text!r}"
        # it says what to do or what is allowed: an example, a command, an option or a value
        assert re.search(r"`|/\w|--\w|\d|:|：|ask for|drop|use |请", text), f"no hint in {text!r}"
        for piece in must:  # "a|b": either (the zh text may use the Chinese alias of a command)
            assert any(p in text for p in piece.split("|")), f"{piece!r} missing from {lang} text {text!r}"
    assert render_reply(result) == i18n.t(result.code, result.lang, **result.params)
    return result


# --- ignore / hints ----------------------------------------------------------------------------------


def test_messages_from_bots_are_ignored() -> None:
    assert parse("/video a cat", sender_type="bot") == Ignore("from_bot")
    assert parse("/video a cat", sender_type="app", group=True) == Ignore("from_bot")


def test_group_without_mention_is_ignored() -> None:
    assert parse("/video a cat", group=True, mention_bot=False) == Ignore("not_mentioned")
    only_tom = (Mention("@_user_1", "ou_tom", "Tom"),)
    assert parse("@Tom /video a cat", group=True, mention_bot=False, mentions=only_tom) == Ignore(
        "not_mentioned"
    )


def test_group_mention_via_mentions_list_even_if_flag_unset() -> None:
    result = parse(
        "/video a cat", group=True, mention_bot=False, mentions=(Mention("@_user_1", BOT, "VideoBot"),)
    )
    assert isinstance(result, VideoCommand)


def test_lone_mention_in_group_gets_a_hint() -> None:
    assert_helpful_reply(parse("", group=True), "lone_mention", ("/",))
    assert_helpful_reply(parse("   ", group=True), "lone_mention")


def test_p2p_text_without_command_is_not_a_video() -> None:
    r = assert_helpful_reply(parse("a kitten yawning"), "no_command_hint", ("/video a kitten yawning",))
    assert r.lang == "en"
    r = assert_helpful_reply(parse("小猫打哈欠"), "no_command_hint", ("/video 小猫打哈欠",))
    assert r.lang == "zh"


def test_forgotten_slash_suggests_the_command() -> None:
    assert_helpful_reply(parse("video a cat"), "no_command_hint", ("/video a cat",))
    assert_helpful_reply(parse("draft a cat"), "no_command_hint", ("/draft a cat",))


def test_group_text_with_mention_but_no_command() -> None:
    assert_helpful_reply(parse("make a cat", group=True), "no_command_hint", ("/video make a cat",))


def test_long_text_hint_is_shortened() -> None:
    r = assert_helpful_reply(parse("word " * 100), "no_command_hint")
    assert len(r.params["example"]) <= 60


def test_image_only_message() -> None:
    assert_helpful_reply(
        parse("", images=("img1",), message_type="image"), "image_only_hint", ("/video|/视频",)
    )


def test_post_with_only_images() -> None:
    assert_helpful_reply(parse("", images=("a", "b"), message_type="post"), "image_only_hint")


@pytest.mark.parametrize("kind", ["file", "sticker", "audio", "media", "interactive", "merge_forward"])
def test_unsupported_message_types(kind: str) -> None:
    r = assert_helpful_reply(parse("", message_type=kind), "unsupported_message", ("/video|/视频",))
    assert r.params["kind"] == kind


def test_unknown_command() -> None:
    assert_helpful_reply(parse("/xyz a cat"), "unknown_command", ("/video", "/help"))
    assert_helpful_reply(parse("/vidoe a cat"), "unknown_command_suggest", ("/video",))
    assert_helpful_reply(parse("/未知 小猫"), "unknown_command", ("/video",))


# --- commands --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,cls,fields",
    [
        ("/status", StatusCommand, {"target": None}),
        ("/status cgt-2025", StatusCommand, {"target": "cgt-2025"}),
        ("/状态 cgt-1", StatusCommand, {"target": "cgt-1", "lang": "zh"}),
        ("/cancel", CancelCommand, {"target": None}),
        ("/cancel cgt-9 now", CancelCommand, {"target": "cgt-9"}),
        ("/取消", CancelCommand, {"target": None, "lang": "zh"}),
        ("/list", ListCommand, {}),
        ("/列表", ListCommand, {"lang": "zh"}),
        ("/models", ModelsCommand, {}),
        ("/model", ModelsCommand, {}),
        ("/模型", ModelsCommand, {"lang": "zh"}),
        ("/help", HelpCommand, {"topic": None}),
        ("/help video", HelpCommand, {"topic": "video"}),
        ("/help /draft", HelpCommand, {"topic": "draft"}),
        ("/help 视频", HelpCommand, {"topic": "video"}),
        ("/help options", HelpCommand, {"topic": "options"}),
        ("/帮助 参数", HelpCommand, {"topic": "options", "lang": "zh"}),
        ("/help examples", HelpCommand, {"topic": "examples"}),
        ("/help nonsense", HelpCommand, {"topic": None}),
        ("/quota", QuotaCommand, {}),
        ("/额度", QuotaCommand, {"lang": "zh"}),
        ("/approve", ApproveCommand, {"resolution": "720p"}),
        ("/approve 1080p", ApproveCommand, {"resolution": "1080p"}),
        ("/approve 1080P", ApproveCommand, {"resolution": "1080p"}),
        ("/approve 1080", ApproveCommand, {"resolution": "1080p"}),
        ("/approve --res 1080p", ApproveCommand, {"resolution": "1080p"}),
        ("/approve --resolution=720p", ApproveCommand, {"resolution": "720p"}),
        ("/确认 1080p", ApproveCommand, {"resolution": "1080p", "lang": "zh"}),
        ("/通过", ApproveCommand, {"resolution": "720p", "lang": "zh"}),
        ("/extend", ExtendCommand, {"prompt": None, "changes": {}}),
        (
            "/extend the cat jumps --dur 8",
            ExtendCommand,
            {"prompt": "the cat jumps", "changes": {"duration": 8}},
        ),
        ("/延长 继续奔跑", ExtendCommand, {"prompt": "继续奔跑", "lang": "zh"}),
        ("/续写", ExtendCommand, {"prompt": None, "lang": "zh"}),
        ("/settings", SettingsCommand, {"changes": {}, "scope": "user", "reset": False}),
    ],
)
def test_simple_commands(text: str, cls: type, fields: dict[str, Any]) -> None:
    result = parse(text)
    assert isinstance(result, cls), result
    for name, value in fields.items():
        assert getattr(result, name) == value, (name, result)


def test_replies_carry_the_parent() -> None:
    for text, cls in [
        ("/approve", ApproveCommand),
        ("/extend", ExtendCommand),
        ("/status", StatusCommand),
        ("/cancel", CancelCommand),
    ]:
        result = parse(text, parent="om_job")
        assert isinstance(result, cls)
        assert getattr(result, "reply_to") == "om_job"  # noqa: B009


def test_command_names() -> None:
    assert VideoCommand.name == "video" and SettingsCommand.name == "settings"
    assert {c.name for c in COMMANDS} == {
        "video",
        "draft",
        "approve",
        "extend",
        "status",
        "cancel",
        "list",
        "models",
        "settings",
        "quota",
        "whoami",
        "help",
    }


# --- /video basics ---------------------------------------------------------------------------------


def test_video_text_defaults() -> None:
    cmd = video("/video a kitten yawning")
    assert cmd.spec.prompt == "a kitten yawning"
    assert cmd.spec.model == PRO15
    assert (cmd.spec.ratio, cmd.spec.duration, cmd.spec.resolution) == ("16:9", 5, "720p")
    assert cmd.spec.generate_audio is True
    assert cmd.spec.images == ()
    assert not cmd.draft and not cmd.use_parent_image
    assert cmd.lang == "en"
    assert cmd.message_id == "om_msg"


def test_video_in_group_with_mention() -> None:
    cmd = video("/video a kitten yawning", group=True)
    assert cmd.spec.prompt == "a kitten yawning"


def test_draft_command() -> None:
    cmd = video("/draft waves at sunset")
    assert cmd.draft and cmd.spec.draft is True
    assert cmd.spec.resolution == "480p"
    cmd = video("/样片 海浪")
    assert cmd.draft and cmd.lang == "zh"
    cmd = video("/video waves --draft")
    assert cmd.draft and cmd.spec.draft is True


@pytest.mark.parametrize(
    "text",
    [
        "/video a cat",
        "/Video a cat",
        "/VIDEO a cat",
        "／video a cat",
        "／ｖｉｄｅｏ a cat",
        "/ video a cat",
        "、video a cat",
        "/vid a cat",
        "/gen a cat",
        "/generate a cat",
        "/imagine a cat",
        "/视频 a cat",
        "/生成 a cat",
        "/生成视频 a cat",
        "/视频a cat",
        "  /video   a cat",
        "@VideoBot /video a cat",
        "@videobot /video a cat",
        "\u200b/video a cat",
    ],
)
def test_video_command_spellings(text: str) -> None:
    cmd = video(text)
    assert cmd.spec.prompt == "a cat"


def test_video_glued_chinese_prompt() -> None:
    assert video("/video小猫打哈欠").spec.prompt == "小猫打哈欠"
    assert video("/视频小猫打哈欠").spec.prompt == "小猫打哈欠"
    assert video("/生成视频小猫").spec.prompt == "小猫"


def test_ime_slash_only_before_a_known_command() -> None:
    assert_helpful_reply(parse("、随便说说"), "no_command_hint", ("/video 随便说说",))


def test_command_on_a_later_line() -> None:
    cmd = video("My title\n/video a cat on a mat")
    assert cmd.spec.prompt == "a cat on a mat"


def test_draft_alias_words() -> None:
    for text in ("/draft x", "/preview x", "/草稿 x", "/预览 x"):
        assert video(text).draft


# --- prompts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,prompt",
    [
        ("/video 小猫，打哈欠 --dur 5", "小猫，打哈欠"),
        ("/video 小猫，打哈欠。", "小猫，打哈欠。"),
        ("/video a  cat   with spaces", "a  cat   with spaces"),
        ("/video --ratio 9:16 a cat", "a cat"),
        ("/video a cat --dur 5 on a mat", "a cat on a mat"),
        ("/video a cat\nsecond line --dur 5", "a cat\nsecond line"),
        ("/video a cat --dur 5\nsecond line", "a cat\nsecond line"),
        ('/video "a kitten yawning"', "a kitten yawning"),
        ("/video “a kitten yawning” --ar 9:16", "a kitten yawning"),
        ("/video ‘a kitten yawning’", "a kitten yawning"),
        ("/video 「小猫打哈欠」", "小猫打哈欠"),
        ("/video 『小猫打哈欠』", "小猫打哈欠"),
        ('/video "a cat --dur 5 jumping" --dur 8', "a cat --dur 5 jumping"),
        ('/video a "big" cat', 'a "big" cat'),
        ('/video "big" and "small"', '"big" and "small"'),
        ("/video it's a cat's toy", "it's a cat's toy"),
        ("/video a 🐱 yawning 😺", "a 🐱 yawning 😺"),
        ("/video family 👨\u200d👩\u200d👧 at the beach", "family 👨\u200d👩\u200d👧 at the beach"),
        ("/video a cat — sleeping", "a cat — sleeping"),
        ("/video 小猫 ——然后跳起来", "小猫 ——然后跳起来"),
        ("/video - a cat\n- a dog", "- a cat\n- a dog"),
        ("/video a well-known -ish cat", "a well-known -ish cat"),
        ("/video a cat, --dur 5", "a cat"),
        ("/video 小猫，--dur 5", "小猫"),
        ("/video 小猫--dur 5", "小猫"),
        ("/video 小猫——dur 5", "小猫"),
        ("/video a cat\u00a0\u00a0in the sun", "a cat\u00a0\u00a0in the sun"),
        ("/video a 1980s disco 8s", "a 1980s disco 8s"),
    ],
)
def test_prompt_is_kept_as_typed(text: str, prompt: str) -> None:
    assert video(text).spec.prompt == prompt


def test_bot_mention_and_other_mentions_through_events() -> None:
    ev = {
        "schema": "2.0",
        "header": {"event_id": "e", "event_type": "im.message.receive_v1"},
        "event": {
            "sender": {"sender_id": {"open_id": "ou_u"}, "sender_type": "user"},
            "message": {
                "message_id": "om1",
                "chat_id": "oc",
                "chat_type": "group",
                "message_type": "text",
                "content": json.dumps({"text": "@_user_1 /video @_user_2 dancing"}),
                "mentions": [
                    {"key": "@_user_1", "id": {"open_id": BOT}, "name": "VideoBot"},
                    {"key": "@_user_2", "id": {"open_id": "ou_t"}, "name": "Tom"},
                ],
            },
        },
    }
    msg = parse_message_event(ev, bot_open_id=BOT)
    assert msg is not None
    cmd = parse_command(msg, bot_open_id=BOT)
    assert isinstance(cmd, VideoCommand)
    assert cmd.spec.prompt == "@Tom dancing"


def test_event_parsed_without_bot_id_still_works_when_command_knows_it() -> None:
    ev = {
        "schema": "2.0",
        "header": {"event_id": "e", "event_type": "im.message.receive_v1"},
        "event": {
            "sender": {"sender_id": {"open_id": "ou_u"}, "sender_type": "user"},
            "message": {
                "message_id": "om1",
                "chat_id": "oc",
                "chat_type": "group",
                "message_type": "text",
                "content": json.dumps({"text": "@_user_1 /video a cat"}),
                "mentions": [{"key": "@_user_1", "id": {"open_id": BOT}, "name": "VideoBot"}],
            },
        },
    }
    msg = parse_message_event(ev)  # no bot_open_id: "@VideoBot" stays in the text
    assert msg is not None and msg.text == "@VideoBot /video a cat"
    cmd = parse_command(msg, bot_open_id=BOT)
    assert isinstance(cmd, VideoCommand) and cmd.spec.prompt == "a cat"


def test_emoji_prompt_and_lang() -> None:
    cmd = video("/video 🐱🐱🐱")
    assert cmd.spec.prompt == "🐱🐱🐱" and cmd.lang == "en"


def test_prompt_at_the_limit_is_fine_and_over_it_is_a_reply() -> None:
    assert video("/video " + "x" * 4000).spec.prompt == "x" * 4000
    r = assert_helpful_reply(parse("/video " + "x" * 5000), "prompt_too_long", ("4000", "5000"))
    assert r.params["length"] == 5000
    r = assert_helpful_reply(parse("/视频 " + "猫" * 5000), "prompt_too_long", ("4000",))
    assert r.lang == "zh"


# --- flags: every spelling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags,field,value",
    [
        # ratio
        ("--ratio 9:16", "ratio", "9:16"),
        ("--ratio=9:16", "ratio", "9:16"),
        ("--ratio:9:16", "ratio", "9:16"),
        ("--ratio：9:16", "ratio", "9:16"),
        ("--ratio＝9:16", "ratio", "9:16"),
        ("--ratio １６：９", "ratio", "16:9"),
        ("－－ratio １６：９", "ratio", "16:9"),
        ("－－ｒａｔｉｏ ９：１６", "ratio", "9:16"),
        ("—ratio 9:16", "ratio", "9:16"),
        ("——ratio 9:16", "ratio", "9:16"),
        ("–ratio 9:16", "ratio", "9:16"),
        ("\u2212\u2212ratio 9:16", "ratio", "9:16"),
        ("--RATIO 9:16", "ratio", "9:16"),
        ("--ar 9:16", "ratio", "9:16"),
        ("--rt 21:9", "ratio", "21:9"),
        ("--aspect-ratio 4:3", "ratio", "4:3"),
        ("--ratio 9x16", "ratio", "9:16"),
        ("--ratio 9/16", "ratio", "9:16"),
        ("--ratio 9比16", "ratio", "9:16"),
        ("--ratio 1:1，", "ratio", "1:1"),
        ("--ratio (3:4)", "ratio", "3:4"),
        ("--ratio 【9:16】", "ratio", "9:16"),
        ("--ratio portrait", "ratio", "9:16"),
        ("--ratio 竖屏", "ratio", "9:16"),
        ("--ratio 横屏", "ratio", "16:9"),
        ("--ratio square", "ratio", "1:1"),
        ("--ratio adaptive", "ratio", "adaptive"),
        # duration
        ("--duration 8", "duration", 8),
        ("--duration=8", "duration", 8),
        ("--duration：8", "duration", 8),
        ("--dur 8", "duration", 8),
        ("-d 8", "duration", 8),
        ("--dur 8s", "duration", 8),
        ("--dur 8秒", "duration", 8),
        ("--dur ８", "duration", 8),
        ("--dur 8sec", "duration", 8),
        ("--dur -1", "duration", -1),
        ("--dur —1", "duration", -1),
        ("--dur auto", "duration", -1),
        ("—dur 6", "duration", 6),
        # resolution
        ("--resolution 1080p", "resolution", "1080p"),
        ("--res 1080P", "resolution", "1080p"),
        ("--rs 480p", "resolution", "480p"),
        ("--res 720", "resolution", "720p"),
        ("--res=1080", "resolution", "1080p"),
        ("--quality 高清", "resolution", "720p"),
        # model
        ("--model 1.0-pro", "model", PRO10),
        ("--model 1.5-PRO", "model", PRO15),
        ("-m 1.0-pro", "model", PRO10),
        ("--model=seedance-1-0-pro-250528", "model", PRO10),
        ("--model seedance-1-0-pro-250428", "model", PRO10),
        ("--model ep-20250101-abcde", "model", "ep-20250101-abcde"),
        # seed
        ("--seed 42", "seed", 42),
        ("--seed=-1", "seed", -1),
        ("--seed random", "seed", -1),
        ("--seed ４２", "seed", 42),
        # camera fixed
        ("--camera-fixed", "camera_fixed", True),
        ("--cf", "camera_fixed", True),
        ("--cf on", "camera_fixed", True),
        ("--cf off", "camera_fixed", False),
        ("--cf=false", "camera_fixed", False),
        ("--camerafixed true", "camera_fixed", True),
        ("--camera_fixed 关", "camera_fixed", False),
        # audio
        ("--audio off", "generate_audio", False),
        ("--audio on", "generate_audio", True),
        ("--audio", "generate_audio", True),
        ("--audio=OFF", "generate_audio", False),
        ("--no-audio", "generate_audio", False),
        ("--mute", "generate_audio", False),
        ("--generate-audio false", "generate_audio", False),
        ("--audio 关闭", "generate_audio", False),
        # flex / tier
        ("--flex", "service_tier", "flex"),
        ("--flex on", "service_tier", "flex"),
        ("--flex off", "service_tier", "default"),
        ("--tier flex", "service_tier", "flex"),
        # watermark
        ("--watermark", "watermark", True),
        ("--wm", "watermark", True),
        ("--wm false", "watermark", False),
        ("--no-watermark", "watermark", False),
        # expires
        ("--expires 7200", "execution_expires_after", 7200),
        ("--expires 2h", "execution_expires_after", 7200),
        ("--expires=1d", "execution_expires_after", 86400),
        ("--expires-after 3600s", "execution_expires_after", 3600),
        # return last frame
        ("--return-last-frame", "return_last_frame", True),
        ("--rlf off", "return_last_frame", False),
    ],
)
def test_flag_spellings(flags: str, field: str, value: Any) -> None:
    for text in (f"/video a cat {flags}", f"/video {flags} a cat"):
        cmd = video(text)
        assert getattr(cmd.spec, field) == value, (text, cmd.spec)
        assert cmd.spec.prompt == "a cat", (text, cmd.spec.prompt)


def test_flags_after_chinese_punctuation() -> None:
    cmd = video("/视频 小猫打哈欠——ratio 9:16，--res 1080P；—dur ８秒")
    assert (cmd.spec.prompt, cmd.spec.ratio, cmd.spec.resolution, cmd.spec.duration) == (
        "小猫打哈欠",
        "9:16",
        "1080p",
        8,
    )


def test_full_width_everything() -> None:
    cmd = video("／ｖｉｄｅｏ　小猫　－－ｒａｔｉｏ　９：１６　－－ｄｕｒ　８")
    assert (cmd.spec.prompt, cmd.spec.ratio, cmd.spec.duration) == ("小猫", "9:16", 8)


def test_last_flag_wins() -> None:
    assert video("/video a cat --dur 5 --dur 8").spec.duration == 8


def test_optional_bool_does_not_eat_prompt_words() -> None:
    cmd = video("/video --wm a cat")
    assert cmd.spec.watermark is True and cmd.spec.prompt == "a cat"
    cmd = video("/video --flex 1 cat sleeping")
    assert cmd.spec.service_tier == "flex" and cmd.spec.prompt == "1 cat sleeping"


def test_model_alias_is_rewritten_without_an_old_name_warning() -> None:
    cmd = video("/video a cat --model 2.0-fast")
    assert cmd.spec.model == "dreamina-seedance-2-0-fast-260128"
    assert not any("old name" in w for w in cmd.spec.warnings)


# --- images ----------------------------------------------------------------------------------------


def test_one_image_is_first_frame() -> None:
    cmd = video("/video make it dance", images=("img_a",))
    assert cmd.spec.images == (ImageInput("feishu-image:om_msg/img_a", "first_frame"),)
    assert cmd.spec.ratio == "adaptive"
    assert cmd.image_keys == ("img_a",) and not cmd.use_parent_image


def test_two_images_are_first_and_last() -> None:
    for text in ("/video bloom", "/video bloom --last-frame"):
        cmd = video(text, images=("a", "b"))
        assert [i.role for i in cmd.spec.images] == ["first_frame", "last_frame"]
        assert [i.source for i in cmd.spec.images] == ["feishu-image:om_msg/a", "feishu-image:om_msg/b"]


def test_images_with_empty_prompt_are_fine() -> None:
    cmd = video("/video", images=("a",))
    assert cmd.spec.prompt is None and len(cmd.spec.images) == 1


def test_reference_images() -> None:
    cmd = video("/video --ref --model 2.0 the cats play", images=("a", "b", "c"))
    assert [i.role for i in cmd.spec.images] == ["reference_image"] * 3
    assert cmd.spec.model == V20 and cmd.ref
    cmd = video("/video --ref --model lite-i2v play", images=("a", "b", "c", "d"))
    assert cmd.spec.model == LITE_I2V and len(cmd.spec.images) == 4


@pytest.mark.parametrize("form", ["direct", "zh_cn", "post"])
@pytest.mark.parametrize(
    "keys,roles", [(("a",), ["first_frame"]), (("a", "b"), ["first_frame", "last_frame"])]
)
def test_post_forms_through_events(form: str, keys: tuple[str, ...], roles: list[str]) -> None:
    paragraphs: list[list[dict[str, Any]]] = [
        [
            {"tag": "at", "user_id": "@_user_1", "user_name": "VideoBot"},
            {"tag": "text", "text": " /video make it dance"},
        ],
        *[[{"tag": "img", "image_key": k}] for k in keys],
    ]
    post: dict[str, Any] = {"title": "", "content": paragraphs}
    content = {"direct": post, "zh_cn": {"zh_cn": post}, "post": {"post": {"zh_cn": post}}}[form]
    ev = {
        "schema": "2.0",
        "header": {"event_id": "e", "event_type": "im.message.receive_v1"},
        "event": {
            "sender": {"sender_id": {"open_id": "ou_u"}, "sender_type": "user"},
            "message": {
                "message_id": "om_post",
                "chat_id": "oc",
                "chat_type": "group",
                "message_type": "post",
                "content": json.dumps(content),
                "mentions": [{"key": "@_user_1", "id": {"open_id": BOT}, "name": "VideoBot"}],
            },
        },
    }
    msg = parse_message_event(ev, bot_open_id=BOT)
    assert msg is not None
    cmd = parse_command(msg, bot_open_id=BOT)
    assert isinstance(cmd, VideoCommand)
    assert cmd.spec.prompt == "make it dance"
    assert [i.role for i in cmd.spec.images] == roles
    assert [i.source for i in cmd.spec.images] == [f"feishu-image:om_post/{k}" for k in keys]


def test_reply_to_an_image_defers_to_the_parent() -> None:
    cmd = video("/video slow zoom in", parent="om_photo")
    assert cmd.use_parent_image and cmd.parent_id == "om_photo"
    assert cmd.spec.images == () and cmd.spec.prompt == "slow zoom in"
    one = with_images(cmd, ["img_p"])
    assert one.images == (ImageInput("feishu-image:om_photo/img_p", "first_frame"),)
    assert one.ratio == "adaptive" and one.model == PRO15
    two = with_images(cmd, ["p1", "p2"])
    assert [i.role for i in two.images] == ["first_frame", "last_frame"]
    text_only = with_images(cmd, [])  # the parent had no image: a text video
    assert text_only.images == () and text_only.ratio == "16:9"
    explicit = with_images(cmd, ["k"], message_id="om_other")
    assert explicit.images[0].source == "feishu-image:om_other/k"
    passthrough = with_images(cmd, ["feishu-image:om_x/y"])
    assert passthrough.images[0].source == "feishu-image:om_x/y"


def test_reply_with_its_own_images_uses_them() -> None:
    cmd = video("/video dance", images=("own",), parent="om_photo")
    assert not cmd.use_parent_image
    assert cmd.spec.images[0].source == "feishu-image:om_msg/own"


def test_reply_with_empty_prompt_defers() -> None:
    cmd = video("/video", parent="om_photo")
    assert cmd.use_parent_image
    assert with_images(cmd, ["p"]).prompt is None
    with pytest.raises(SpecError) as err:
        with_images(cmd, [])
    assert err.value.code == "empty_prompt"


def test_with_images_errors() -> None:
    cmd = video("/video dance", parent="om_photo")
    with pytest.raises(SpecError) as err:
        with_images(cmd, ["a", "b", "c"])
    assert err.value.code == "too_many_images"
    assert "--ref" in err.value.render("en") and "--ref" in err.value.render("zh")
    ref = video("/video dance --ref --model 2.0", parent="om_photo")
    assert [i.role for i in with_images(ref, ["a", "b", "c"]).images] == ["reference_image"] * 3
    with pytest.raises(SpecError) as err:
        with_images(ref, [])
    assert err.value.code == "ref_without_images"


def test_reply_with_a_text_only_model_is_allowed_as_text() -> None:
    cmd = video("/video a cat --model lite-t2v", parent="om_text")
    assert cmd.use_parent_image
    assert with_images(cmd, []).model == "seedance-1-0-lite-t2v-250428"


def test_image_source_helpers() -> None:
    assert image_source("om_1", "img_2") == "feishu-image:om_1/img_2"
    assert parse_image_source("feishu-image:om_1/img_2") == ("om_1", "img_2")
    assert parse_image_source("https://x/y") is None
    assert parse_image_source("feishu-image:om_1") is None


# --- defaults --------------------------------------------------------------------------------------


def test_user_defaults_fill_what_is_missing() -> None:
    defaults = {
        "model": "1.0-pro",
        "ratio": "9:16",
        "duration": 8,
        "resolution": "1080p",
        "audio": False,
        "flex": True,
        "watermark": True,
    }
    cmd = video("/video a cat", user_defaults=defaults)
    s = cmd.spec
    assert (s.model, s.ratio, s.duration, s.resolution, s.service_tier, s.watermark) == (
        PRO10,
        "9:16",
        8,
        "1080p",
        "flex",
        True,
    )
    assert s.generate_audio is None  # 1.0 has no audio: nothing is sent


def test_explicit_flags_win_over_defaults() -> None:
    defaults = {"ratio": "9:16", "duration": 8, "resolution": "1080p", "audio": False, "flex": True}
    s = video(
        "/video a cat --ratio 1:1 --dur 4 --res 480p --audio on --flex off", user_defaults=defaults
    ).spec
    assert (s.ratio, s.duration, s.resolution, s.generate_audio, s.service_tier) == (
        "1:1",
        4,
        "480p",
        True,
        "default",
    )


def test_defaults_the_model_cannot_take_are_skipped() -> None:
    defaults = {"duration": 15, "resolution": "4k", "audio": True, "flex": True}
    s = video("/video a cat --model 1.0-pro", user_defaults=defaults).spec
    assert (s.duration, s.resolution, s.generate_audio, s.service_tier) == (5, "720p", None, "flex")
    s = video(
        "/video a cat --model 2.0", user_defaults={"duration": 20, "flex": True, "resolution": "4k"}
    ).spec
    assert (s.duration, s.resolution, s.service_tier) == (5, "4k", None)
    s = video(
        "/video a cat", user_defaults={"duration": "oops", "audio": 3, "ratio": "5:1", "lang": "fr"}
    ).spec
    assert (s.duration, s.generate_audio, s.ratio) == (5, True, "16:9")  # malformed defaults are ignored


def test_defaults_stored_as_strings() -> None:
    stored = {
        "model": "1.0-pro",
        "ratio": "9：16",
        "duration": "8",
        "resolution": "1080P",
        "audio": "False",
        "flex": "true",
        "watermark": "0",
        "lang": "zh",
    }
    cmd = video("/video a cat", user_defaults=stored)
    s = cmd.spec
    assert (s.model, s.ratio, s.duration, s.resolution, s.service_tier, s.watermark) == (
        PRO10,
        "9:16",
        8,
        "1080p",
        "flex",
        False,
    )
    assert cmd.lang == "zh"
    assert coerce_defaults({"audio": "off", "duration": 6, "x": 1, "model": None}) == {
        "audio": False,
        "duration": 6,
    }


def test_default_ratio_is_for_text_only() -> None:
    cmd = video("/video dance", images=("a",), user_defaults={"ratio": "9:16"})
    assert cmd.spec.ratio == "adaptive"
    cmd = video("/video dance --ratio 9:16", images=("a",), user_defaults={"ratio": "1:1"})
    assert cmd.spec.ratio == "9:16"


def test_draft_ignores_resolution_and_flex_defaults_and_picks_a_draft_model() -> None:
    cmd = video("/draft a cat", user_defaults={"model": "2.0", "resolution": "1080p", "flex": True})
    assert cmd.spec.model == PRO15 and cmd.spec.resolution == "480p" and cmd.spec.service_tier is None
    assert any("draft" in w for w in cmd.spec.warnings)


def test_deployment_default_model() -> None:
    assert video("/video a cat", default_model=V20).spec.model == V20
    assert video("/video a cat", default_model=V20, user_defaults={"model": "1.0-pro"}).spec.model == PRO10
    assert video("/video a cat", user_defaults={"model": "no-such-model"}).spec.model == PRO15


# --- language --------------------------------------------------------------------------------------


def test_language_detection_and_override() -> None:
    assert video("/video a cat").lang == "en"
    assert video("/视频 小猫").lang == "zh"
    assert video("/video 小猫").lang == "zh"
    assert video("/video a cat", lang="zh").lang == "zh"
    assert video("/视频 小猫", lang="en").lang == "en"
    assert video("/video a cat", user_defaults={"lang": "zh"}).lang == "zh"
    assert video("/video a cat", lang="xx").lang == "en"


def test_reply_language_follows_the_message() -> None:
    zh = assert_helpful_reply(parse("/视频 小猫 --ratio 4:1"), "bad_ratio")
    assert zh.lang == "zh" and re.search(r"[\u4e00-\u9fff]", render_reply(zh))
    en = assert_helpful_reply(parse("/video a cat --ratio 4:1"), "bad_ratio")
    assert en.lang == "en" and not re.search(r"[\u4e00-\u9fff]", render_reply(en))
    forced = assert_helpful_reply(parse("/video a cat --ratio 4:1", lang="zh"), "bad_ratio")
    assert re.search(r"[\u4e00-\u9fff]", render_reply(forced))


def test_chinese_mention_name_does_not_make_it_chinese() -> None:
    mentions = (Mention("@_user_1", BOT, "VideoBot"), Mention("@_user_2", "ou_z", "张三"))
    cmd = parse_command(message("/video @张三 dancing", group=True, mentions=mentions), bot_open_id=BOT)
    assert isinstance(cmd, VideoCommand) and cmd.lang == "en"


# --- bad input: always a helpful Reply, never a Command ---------------------------------------------

BAD: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    # empty prompts
    ("/video", {}, "video_usage", ("/video",)),
    ("/video --dur 5", {}, "video_usage", ("/video",)),
    ("/video   ", {}, "video_usage", ("/video",)),
    ("/draft", {}, "video_usage", ("/draft",)),
    ("/视频", {}, "video_usage", ("/视频",)),
    ('/video ""', {}, "video_usage", ("/video",)),
    # unknown options
    ("/video a cat --xyz", {}, "unknown_flag", ("--xyz", "--ratio")),
    ("/video a cat —xyz", {}, "unknown_flag", ("--xyz",)),
    ("/video a cat －－xyz", {}, "unknown_flag", ("--xyz",)),
    ("/video a cat --16:9", {}, "unknown_flag", ("--ratio",)),
    ("/video a cat --rato 9:16", {}, "unknown_flag_suggest", ("--ratio",)),
    ("/video a cat --durations 8", {}, "unknown_flag_suggest", ("--duration",)),
    ("/video a cat --fps 24", {}, "unknown_flag", ("--ratio",)),
    ("/video a cat --frames 29", {}, "unknown_flag", ("--duration",)),
    # bad values
    ("/video a cat --ratio 4:1", {}, "bad_ratio", ("16:9", "9:16")),
    ("/video a cat --ratio wide-ish", {}, "bad_ratio", ("16:9",)),
    ("/video a cat --ratio", {}, "missing_value", ("--ratio 9:16",)),
    ("/video a cat --ratio --dur 5", {}, "missing_value", ("--ratio 9:16",)),
    ("/video a cat --dur", {}, "missing_value", ("--duration 8",)),
    ("/video a cat --model", {}, "missing_value", ("--model",)),
    ("/video a cat --dur 30", {}, "bad_duration", ("4-12",)),
    ("/video a cat --dur 3", {}, "bad_duration", ("4-12",)),
    ("/video a cat --dur 1 --model 1.0-pro", {}, "bad_duration", ("2-12",)),
    ("/video a cat --dur -1 --model 1.0-pro", {}, "bad_duration", ("2-12",)),
    ("/video a cat --dur 16 --model 2.0", {}, "bad_duration", ("4-15",)),
    ("/video a cat --dur abc", {}, "bad_duration_value", ("--duration 8",)),
    ("/video a cat --dur 8.5", {}, "bad_duration_value", ("--duration 8",)),
    ("/video a cat --res 4k", {}, "bad_resolution", ("1080p",)),
    ("/video a cat --res 1080p --model 2.0-fast", {}, "bad_resolution", ("720p",)),
    ("/video a cat --res 8k", {}, "bad_resolution_value", ("1080p", "4k")),
    ("/video a cat --model gpt-5", {}, "unknown_model", ("1.5-pro", "/models|/模型")),
    ("/video a cat --model 1.0-pro --audio on", {}, "no_audio", ("--audio off",)),
    ("/video a cat --model 1.0-pro --audio", {}, "no_audio", ("--audio off",)),
    ("/draft a cat --res 1080p", {}, "draft_resolution", ("480p",)),
    ("/video a cat --draft --res 720p", {}, "draft_resolution", ("480p",)),
    ("/draft a cat --flex", {}, "no_flex", ("flex",)),
    ("/draft a cat --return-last-frame", {}, "draft_last_frame", ()),
    ("/draft a cat --model 2.0", {}, "no_draft", (PRO15,)),
    ("/video a cat --seed abc", {}, "bad_number", ("--seed 42",)),
    ("/video a cat --seed 99999999999", {}, "bad_seed", ("4294967295",)),
    ("/video a cat --seed -5", {}, "bad_seed", ("-1",)),
    ("/video a cat --model 2.0 --seed 5", {}, "no_seed", ("--seed",)),
    ("/video a cat --model 2.0 --cf", {}, "no_camera_fixed", ("2.0",)),
    ("/video a cat --model 2.0 --flex", {}, "no_flex", ("flex",)),
    ("/video a cat --cf=maybe", {}, "bad_bool", ("off",)),
    ("/video a cat --audio=perhaps", {}, "bad_bool", ("--audio off",)),
    ("/video a cat --ref=perhaps", {"images": ("a",)}, "bad_bool", ("--ref",)),
    ("/video a cat --expires 60", {}, "bad_expires", ("3600", "259200")),
    ("/video a cat --expires 100d", {}, "bad_expires", ("259200",)),
    ("/video a cat --expires soon", {}, "bad_number", ("--expires 86400",)),
    ("/video a cat --tier fast", {}, "bad_tier", ("flex",)),
    # images
    ("/video a cat --ref", {}, "ref_without_images", ("--ref",)),
    ("/video a cat --last-frame", {}, "last_frame_needs_two", ("--last-frame",)),
    ("/video a cat --last-frame", {"images": ("a",)}, "last_frame_needs_two", ("--last-frame",)),
    ("/video a cat --ref --last-frame", {"images": ("a", "b")}, "mixed_image_roles", ("--ref|参考图",)),
    ("/video play --ref", {"images": ("a", "b")}, "ref_unsupported", ("2.0", "--model")),
    ("/video play --ref --model 1.0-pro", {"images": ("a",)}, "ref_unsupported", ("2.0",)),
    ("/video play", {"images": ("a", "b", "c")}, "too_many_images", ("--ref", "2.0")),
    ("/video play", {"images": tuple("abcdefghij")}, "too_many_images", ("--ref",)),
    ("/video play --ref --model lite-i2v", {"images": tuple("abcde")}, "too_many_refs", ("4",)),
    ("/video play --ref --model 2.0", {"images": tuple("abcdefghij")}, "too_many_refs", ("9",)),
    ("/video play --model lite-t2v", {"images": ("a",)}, "mode_unsupported", (PRO15,)),
    ("/video play --model 1.0-pro-fast", {"images": ("a", "b")}, "mode_unsupported", (PRO15,)),
    ("/video play --model lite-i2v", {}, "mode_unsupported", (PRO15,)),
    # replies whose own options are already wrong
    ("/video a cat --dur 30", {"parent": "om_p"}, "bad_duration", ("4-12",)),
    ("/video --ref", {"parent": "om_p"}, "ref_unsupported", ("2.0",)),
    ("/video a cat --last-frame --model 1.0-pro-fast", {"parent": "om_p"}, "mode_unsupported", ()),
    ("/video " + "y" * 5000, {"parent": "om_p"}, "prompt_too_long", ("4000",)),
    # other commands
    ("/xyz", {}, "unknown_command", ("/video",)),
    ("/approve 480p", {}, "approve_usage", ("1080p",)),
    ("/approve 4k", {}, "approve_usage", ("720p",)),
    ("/approve looks good", {}, "approve_usage", ("/approve",)),
    ("/approve --model 2.0", {}, "approve_usage", ("/approve",)),
    ("/extend --ref", {}, "flag_not_allowed", ("--ref", "--duration")),
    ("/extend --last-frame", {}, "flag_not_allowed", ("--last-frame",)),
    ("/extend more --xyz", {}, "unknown_flag", ("--duration",)),
    ("/extend more --dur x", {}, "bad_duration_value", ("--duration 8",)),
    ("/settings foo=bar", {}, "settings_unknown_key", ("ratio", "/settings|/设置")),
    ("/settings ratio=5:1", {}, "bad_ratio", ("9:16",)),
    ("/settings duration=99", {}, "bad_setting_value", ("2-15",)),
    ("/settings duration=abc", {}, "bad_setting_value", ("2-15",)),
    ("/settings model=1.0-pro duration=14", {}, "bad_duration", ("2-12",)),
    ("/settings duration=14 model=1.0-pro", {}, "bad_duration", ("2-12",)),
    ("/settings model=1.0-pro audio=on", {}, "no_audio", ("--audio off",)),
    ("/settings model=2.0 flex=on", {}, "no_flex", ("flex",)),
    ("/settings model=gpt", {}, "unknown_model", ("1.5-pro",)),
    ("/settings resolution=8k", {}, "bad_resolution_value", ("1080p",)),
    ("/settings model=2.0-fast resolution=1080p", {}, "bad_resolution", ("720p",)),
    ("/settings lang=fr", {}, "bad_lang", ("zh", "en")),
    ("/settings audio=maybe", {}, "bad_bool", ("audio=off",)),
    ("/settings ratio", {}, "missing_value", ("ratio=9:16",)),
    ("/settings reset foo", {}, "settings_unknown_key", ("ratio",)),
    ("/设置 颜色=红", {}, "settings_unknown_key", ("ratio",)),
]


@pytest.mark.parametrize("text,kw,code,must", BAD, ids=[f"{i}:{b[0][:40]}" for i, b in enumerate(BAD)])
def test_bad_input_gets_a_helpful_reply(
    text: str, kw: dict[str, Any], code: str, must: tuple[str, ...]
) -> None:
    assert_helpful_reply(parse(text, **kw), code, must)


@pytest.mark.parametrize("text,kw,code,must", BAD[:30], ids=[f"group{i}" for i in range(30)])
def test_bad_input_in_groups_and_in_chinese(
    text: str, kw: dict[str, Any], code: str, must: tuple[str, ...]
) -> None:
    r = assert_helpful_reply(parse(text, group=True, **kw), code, must)
    assert r.lang == i18n.detect(text)
    r = assert_helpful_reply(parse(text, lang="zh", **kw), code, must)
    assert r.lang == "zh"


# --- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,changes,scope",
    [
        (
            "/settings model=1.5-pro ratio 9:16 duration=8 audio off lang zh",
            {"model": PRO15, "ratio": "9:16", "duration": 8, "audio": False, "lang": "zh"},
            "user",
        ),
        ("/settings chat ratio=9:16", {"ratio": "9:16"}, "chat"),
        ("/settings group ratio=9:16", {"ratio": "9:16"}, "chat"),
        ("/settings me ratio=9:16", {"ratio": "9:16"}, "user"),
        (
            "/settings ratio = 9:16 --dur=6 res:1080p",
            {"ratio": "9:16", "duration": 6, "resolution": "1080p"},
            "user",
        ),
        ("/settings ratio：竖屏 duration：８秒", {"ratio": "9:16", "duration": 8}, "user"),
        ("/settings flex=on watermark=off", {"flex": True, "watermark": False}, "user"),
        (
            "/settings model=2.0 duration=15 resolution=4k",
            {"model": V20, "duration": 15, "resolution": "4k"},
            "user",
        ),
        ("/settings ratio=default", {"ratio": None}, "user"),
        ("/settings reset ratio duration=6", {"ratio": None, "duration": 6}, "user"),
        ("/settings lang=auto", {"lang": None}, "user"),
        ("/settings lang=中文", {"lang": "zh"}, "user"),
        ("/设置 比例9:16 时长 8秒 声音 关", {"ratio": "9:16", "duration": 8, "audio": False}, "user"),
        ("/设置 比例：9:16 时长=8", {"ratio": "9:16", "duration": 8}, "user"),
        ("/设置 本群 比例=9:16", {"ratio": "9:16"}, "chat"),
        ("/设置 重置 比例", {"ratio": None}, "user"),
        ("/设置 语言 英文", {"lang": "en"}, "user"),
    ],
)
def test_settings(text: str, changes: dict[str, Any], scope: str) -> None:
    result = parse(text)
    assert isinstance(result, SettingsCommand), result
    assert result.changes == changes
    assert result.scope == scope and not result.reset


@pytest.mark.parametrize(
    "text,scope",
    [
        ("/settings reset", "user"),
        ("/settings chat reset", "chat"),
        ("/设置 重置", "user"),
        ("/设置 群 默认", "chat"),
    ],
)
def test_settings_reset(text: str, scope: str) -> None:
    result = parse(text)
    assert isinstance(result, SettingsCommand)
    assert result.reset and result.scope == scope and result.changes == {}


# --- normalize unit tests ---------------------------------------------------------------------------


def test_clean_text() -> None:
    assert nz.clean_text("a\u200bb\ufeff\u2060c\r\nd") == "abc\nd"
    assert nz.clean_text("\u200d/video") == "/video"
    assert nz.clean_text("👨\u200d👩") == "👨\u200d👩"


@pytest.mark.parametrize(
    "token,expected",
    [
        ("--ratio", (2, "ratio", None)),
        ("--ratio=9:16", (2, "ratio", "9:16")),
        ("--ratio:9:16", (2, "ratio", "9:16")),
        ("—ratio", (2, "ratio", None)),
        ("——ratio", (2, "ratio", None)),
        ("－－ＲＡＴＩＯ", (2, "ratio", None)),
        ("-d", (1, "d", None)),
        ("--camera_fixed", (2, "camera-fixed", None)),
        ("--ratio,", (2, "ratio", None)),
        ("-1", None),
        ("--", None),
        ("—", None),
        ("——然后", None),
        ("word", None),
        ("--16:9", (2, "16", "9")),
    ],
)
def test_split_flag(token: str, expected: Any) -> None:
    assert nz.split_flag(token) == expected


@pytest.mark.parametrize(
    "text,name,rest",
    [
        ("/video a", "video", " a"),
        ("／Video a", "video", " a"),
        ("/ video a", "video", " a"),
        ("、视频 a", "video", " a"),
        ("/视频小猫", "video", "小猫"),
        ("/设置比例", "settings", "比例"),
        ("/xyz a", None, " a"),
    ],
)
def test_split_command(text: str, name: str | None, rest: str) -> None:
    split = grammar.split_command(text)
    assert split is not None and split.name == name and split.rest == rest


@pytest.mark.parametrize("text", ["video a", "/123", "/", "/ xyz", "、随便", "", "@bot hi"])
def test_split_command_none(text: str) -> None:
    assert grammar.split_command(text) is None


@pytest.mark.parametrize(
    "fn,raw,expected",
    [
        (nz.parse_ratio, "16：9", "16:9"),
        (nz.parse_ratio, "09:16", "9:16"),
        (nz.parse_ratio, "abc", None),
        (nz.parse_ratio, "4:1", "4:1"),
        (nz.parse_duration, "8秒", 8),
        (nz.parse_duration, "auto", -1),
        (nz.parse_duration, "x", None),
        (nz.parse_resolution, "4K", "4k"),
        (nz.parse_resolution, "2160p", "4k"),
        (nz.parse_resolution, "8k", None),
        (nz.parse_bool, "ON", True),
        (nz.parse_bool, "关", False),
        (nz.parse_bool, "maybe", None),
        (nz.parse_int, "－1", -1),
        (nz.parse_int, "1e3", None),
        (nz.parse_seconds, "2h", 7200),
        (nz.parse_seconds, "30分钟", 1800),
        (nz.parse_seconds, "2x", None),
    ],
)
def test_value_parsers(fn: Any, raw: str, expected: Any) -> None:
    assert fn(raw) == expected


def test_tokenize_quotes_and_unquote() -> None:
    toks = nz.tokenize('say "a b" “c d” x')
    assert [(t.text, t.quoted) for t in toks] == [
        ("say", False),
        ('"a b"', True),
        ("“c d”", True),
        ("x", False),
    ]
    assert [t.text for t in nz.tokenize('"unclosed quote')] == ['"unclosed', "quote"]
    assert nz.unquote("“a”") == "a" and nz.unquote("“a” and “b”") == "“a” and “b”"


def test_strip_leading_mentions() -> None:
    assert grammar.strip_leading_mentions("@VideoBot /video x", ("VideoBot",)) == "/video x"
    assert grammar.strip_leading_mentions("@Video Bot /video x", ("Video Bot",)) == "/video x"
    assert grammar.strip_leading_mentions("@anyone /video x") == "/video x"
    assert grammar.strip_leading_mentions("@Tom hello") == "@Tom hello"


# --- help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_help_lists_every_command_and_flag(lang: str) -> None:
    text = help_text(lang)
    for c in COMMANDS:
        assert f"/{c.name}" in text
    for f in FLAGS:
        if f.shown:
            assert f"--{f.name}" in text
            assert f.help[1 if lang == "zh" else 0] in text
    for ratio in ALL_RATIOS:
        assert ratio in text
    assert "{" not in text


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("topic", [c.name for c in COMMANDS] + ["options", "examples", None])
def test_help_topics(lang: str, topic: str | None) -> None:
    text = help_text(lang, topic)
    assert text.strip()
    if topic in {c.name for c in COMMANDS}:
        assert f"/{topic}" in text
    if topic in ("video", "draft", "extend", "options"):
        assert "--ratio" in text


def test_help_data_is_structured() -> None:
    data = help_data("zh")
    assert data["title"] and data["labels"]["commands"]
    assert {c["name"] for c in data["commands"]} == {c.name for c in COMMANDS}
    video_entry = next(c for c in data["commands"] if c["name"] == "video")
    assert "/视频" not in video_entry["aliases"] and "视频" in video_entry["aliases"]
    assert all(o["usage"].startswith("--") for o in data["options"])
    assert data["examples"] and all(isinstance(e, str) for e in data["examples"])
    assert json.dumps(help_data("en"))


def test_every_new_message_code_renders_in_both_languages() -> None:
    codes = [
        "lone_mention",
        "no_command_hint",
        "image_only_hint",
        "unsupported_message",
        "unknown_command",
        "unknown_command_suggest",
        "unknown_flag",
        "unknown_flag_suggest",
        "flag_not_allowed",
        "missing_value",
        "bad_bool",
        "bad_duration_value",
        "bad_resolution_value",
        "bad_number",
        "unknown_model",
        "video_usage",
        "too_many_images",
        "ref_unsupported",
        "ref_without_images",
        "last_frame_needs_two",
        "approve_usage",
        "settings_unknown_key",
        "bad_setting_value",
        "bad_lang",
    ]
    params = {
        k: "X"
        for k in (
            "example",
            "kind",
            "value",
            "commands",
            "suggestion",
            "flags",
            "flag",
            "command",
            "allowed",
            "count",
            "models",
            "model",
            "keys",
            "key",
        )
    }
    for code in codes:
        en, zh = i18n.MESSAGES[code]
        assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[\u4e00-\u9fff]", en)
        for lang in ("en", "zh"):
            text = i18n.t(code, lang, **params)
            assert text and "{" not in text, (code, lang, text)
