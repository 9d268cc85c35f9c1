"""Seedance 2.0 video/audio references from chat: which messages carry them, how a `/video --ref`
becomes reference content, and the combinations, counts and lengths of ark-api.md §2.2/§5.4
checked before anything is created. Pure: no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot import i18n
from bot.errors import SpecError
from bot.parsing import (
    Attachment,
    IncomingMessage,
    Reply,
    VideoCommand,
    content_attachments,
    file_source,
    parse_command,
    parse_file_source,
    parse_message_event,
    with_images,
)
from bot.spec import ImageInput, MediaInput, VideoSpec, build_create_body, resolve, spec_from_json, spec_to_json

V20 = "dreamina-seedance-2-0-260128"
PRO15 = "seedance-1-5-pro-251215"


def event(message_type: str, content: Any, *, message_id: str = "om_src", parent_id: str | None = None,
          chat_type: str = "p2p") -> dict[str, Any]:
    message: dict[str, Any] = {"message_id": message_id, "chat_id": "oc_1", "chat_type": chat_type,
                               "message_type": message_type, "content": json.dumps(content)}
    if parent_id:
        message["parent_id"] = parent_id
    return {"header": {"event_type": "im.message.receive_v1", "event_id": "ev_1"},
            "event": {"sender": {"sender_id": {"open_id": "ou_alice"}, "sender_type": "user"},
                      "message": message}}


def msg(message_type: str, content: Any, **kw: Any) -> IncomingMessage:
    parsed = parse_message_event(event(message_type, content, **kw))
    assert parsed is not None
    return parsed


def command(text: str, **kw: Any) -> Any:
    return parse_command(msg("text", {"text": text}, **kw), bot_open_id="")


def post(text: str, *, videos: tuple[str, ...] = (), images: tuple[str, ...] = ()) -> dict[str, Any]:
    rows: list[list[dict[str, Any]]] = [[{"tag": "text", "text": text}]]
    rows += [[{"tag": "img", "image_key": k}] for k in images]
    rows += [[{"tag": "media", "file_key": k, "image_key": "img_cover"}] for k in videos]
    return {"title": "", "content": rows}


def video_msg(key: str = "file_v", ms: int = 3000) -> tuple[str, dict[str, Any]]:
    return "media", {"file_key": key, "image_key": "img_cover", "file_name": "clip.mp4", "duration": ms}


def audio_msg(key: str = "file_a", ms: int = 3000) -> tuple[str, dict[str, Any]]:
    return "audio", {"file_key": key, "duration": ms}


def code(exc: pytest.ExceptionInfo[SpecError]) -> str:
    return exc.value.code


# --- what messages carry (feishu-api.md §1.4) ---------------------------------------------------------


def test_attachments_of_each_message_type() -> None:
    assert content_attachments(*video_msg()) == [Attachment("video", "file_v", "clip.mp4", 3000)]
    assert content_attachments(*audio_msg(ms=4500)) == [Attachment("audio", "file_a", "", 4500)]
    assert content_attachments("file", {"file_key": "f1", "file_name": "Take 2.MOV"})[0].kind == "video"
    assert content_attachments("file", {"file_key": "f2", "file_name": "song.mp3"})[0].kind == "audio"
    assert content_attachments("file", {"file_key": "f3", "file_name": "notes.pdf"})[0].kind == "file"
    assert [a.file_key for a in content_attachments("post", post("x", videos=("v1", "v2")))] == ["v1", "v2"]
    assert content_attachments("post", {"zh_cn": post("x", videos=("v1",))})[0].kind == "video"  # wrapped form
    assert content_attachments("text", {"text": "hi"}) == []
    assert content_attachments("media", "not json") == []
    assert Attachment("audio", "k", duration_ms=0).seconds is None


def test_incoming_message_keeps_its_attachments_through_the_queue() -> None:
    m = msg("post", post("/video --ref x", videos=("file_v",), images=("img_1",)))
    assert m.image_keys == ("img_1",) and m.attachments == (Attachment("video", "file_v"),)
    assert IncomingMessage.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    old = m.to_dict()
    del old["attachments"]  # an entry queued by a bot without this field
    assert IncomingMessage.from_dict(old).attachments == ()


def test_a_video_or_voice_alone_gets_a_hint_in_a_direct_chat() -> None:
    for kind, content in (video_msg(), audio_msg(), ("file", {"file_key": "f", "file_name": "a.mp4"})):
        result = parse_command(msg(kind, content), bot_open_id="")
        assert isinstance(result, Reply) and result.code == "media_only_hint", kind
    pdf = parse_command(msg("file", {"file_key": "f", "file_name": "a.pdf"}), bot_open_id="")
    assert isinstance(pdf, Reply) and pdf.code == "unsupported_message"


# --- /video --ref with videos and voice messages -------------------------------------------------------


def test_a_post_with_a_video_and_ref_makes_reference_content() -> None:
    cmd = parse_command(msg("post", post("/video --ref --model 2.0 make it anime", videos=("file_v",),
                                         images=("img_1",))), bot_open_id="")
    assert isinstance(cmd, VideoCommand)
    spec = cmd.spec
    assert spec.model == V20 and spec.mode.value == "reference"
    assert [i.role for i in spec.images] == ["reference_image"]
    assert spec.videos == (MediaInput(file_source("om_src", "file_v")),)
    body = build_create_body(spec, {file_source("om_src", "file_v"): "https://bot.example/media/x?exp=1&sig=s"})
    assert [(c["type"], c.get("role")) for c in body["content"]] == [
        ("text", None), ("image_url", "reference_image"), ("video_url", "reference_video")]
    assert body["content"][2]["video_url"]["url"] == "https://bot.example/media/x?exp=1&sig=s"
    assert body["ratio"] == "adaptive"  # the reference video sets the shape


def test_a_video_in_the_message_without_ref_is_a_hint_not_a_silent_text_video() -> None:
    result = parse_command(msg("post", post("/video --model 2.0 make it anime", videos=("file_v",))),
                           bot_open_id="")
    assert isinstance(result, Reply) and result.code == "media_needs_ref"


def test_a_reply_with_ref_reads_the_parents_videos_and_voice() -> None:
    cmd = command("/video --ref --model 2.0 the dog sings", message_id="om_reply", parent_id="om_parent")
    assert isinstance(cmd, VideoCommand) and cmd.use_parent_image and cmd.use_parent_media
    spec = with_images(cmd, [], message_id="om_parent", parent_attachments=content_attachments(*video_msg()))
    assert spec.videos == (MediaInput(file_source("om_parent", "file_v"), 3.0),)
    assert spec.images == () and spec.mode.value == "reference"
    # The parent's voice message with this message's own photo: image + audio is allowed.
    with_photo = parse_command(msg("post", post("/video --ref --model 2.0 the dog sings", images=("img_1",)),
                                   message_id="om_reply", parent_id="om_parent"), bot_open_id="")
    assert isinstance(with_photo, VideoCommand) and not with_photo.use_parent_image and with_photo.use_parent_media
    spec = with_images(with_photo, list(with_photo.image_keys), message_id="om_reply",
                       parent_attachments=content_attachments(*audio_msg()))
    assert [i.source for i in spec.images] == ["feishu-image:om_reply/img_1"]
    assert spec.audios == (MediaInput(file_source("om_parent", "file_a"), 3.0),)
    body = build_create_body(spec)
    assert [c["type"] for c in body["content"]] == ["text", "image_url", "audio_url"]
    assert body["content"][2]["role"] == "reference_audio"


def test_without_ref_a_reply_to_a_video_stays_text_to_video() -> None:
    cmd = command("/video --model 2.0 a cat", message_id="om_reply", parent_id="om_parent")
    assert isinstance(cmd, VideoCommand) and not cmd.use_parent_media
    spec = with_images(cmd, [], message_id="om_parent", parent_attachments=content_attachments(*video_msg()))
    assert spec.videos == () and spec.mode.value == "text"


def test_voice_alone_is_refused_with_what_to_add() -> None:
    cmd = command("/video --ref --model 2.0 sing", message_id="om_reply", parent_id="om_parent")
    with pytest.raises(SpecError) as exc:
        with_images(cmd, [], message_id="om_parent", parent_attachments=content_attachments(*audio_msg()))
    assert code(exc) == "audio_needs_visual"
    assert "photo or video" in exc.value.render("en") and "图片" in exc.value.render("zh")


def test_references_need_a_2_0_model() -> None:
    cmd = command("/video --ref sing", message_id="om_reply", parent_id="om_parent")
    assert isinstance(cmd, Reply) and cmd.code == "ref_unsupported"  # 1.5 Pro: no reference mode at all
    spec = VideoSpec(prompt="x", model="seedance-1-0-lite-i2v-250428", videos=(MediaInput("https://x/v.mp4"),),
                     images=())
    with pytest.raises(SpecError) as exc:
        resolve(spec)
    assert code(exc) == "media_unsupported"  # reference images, but no videos or audios


def test_declared_lengths_are_checked_before_anything_is_fetched() -> None:
    cmd = command("/video --ref --model 2.0 x", message_id="om_reply", parent_id="om_parent")
    with pytest.raises(SpecError) as exc:
        with_images(cmd, [], message_id="om_parent", parent_attachments=content_attachments(*video_msg(ms=16_000)))
    assert code(exc) == "ref_video_length"
    assert exc.value.render("en") == ("Video 1 is 16.0 s long; a reference video must be 2–15 s. Trim it and send "
                                      "it again.")
    with pytest.raises(SpecError) as exc:
        with_images(cmd, [], message_id="om_parent", parent_attachments=content_attachments(*video_msg(ms=1_500)))
    assert code(exc) == "ref_video_length"
    # 15.04 s is a 15 s clip (compared at 0.1 s); 2.0 s exactly is fine.
    for ms in (15_040, 2_000):
        with_images(cmd, [], message_id="om_parent", parent_attachments=content_attachments(*video_msg(ms=ms)))


@pytest.mark.parametrize(
    ("videos", "audios", "images", "expected"),
    [
        ((3.0,) * 4, (), 0, "too_many_ref_videos"),
        ((3.0,), (3.0,) * 4, 0, "too_many_ref_audios"),
        ((8.0, 8.0), (), 0, "ref_videos_total"),
        ((3.0,), (8.0, 8.0), 0, "ref_audios_total"),
        ((), (3.0,), 0, "audio_needs_visual"),
        ((3.0,), (), 10, "too_many_refs"),
        ((20.0,), (), 0, "ref_video_length"),
        ((3.0,), (1.0,), 0, "ref_audio_length"),
    ],
)
def test_combinations_and_counts(videos: tuple[float, ...], audios: tuple[float, ...], images: int,
                                 expected: str) -> None:
    spec = VideoSpec(
        prompt="x", model=V20,
        images=tuple(ImageInput(f"https://x/{i}.png", "reference_image") for i in range(images)),
        videos=tuple(MediaInput(f"https://x/v{i}.mp4", s) for i, s in enumerate(videos)),
        audios=tuple(MediaInput(f"https://x/a{i}.mp3", s) for i, s in enumerate(audios)),
    )
    with pytest.raises(SpecError) as exc:
        resolve(spec)
    assert code(exc) == expected
    en, zh = exc.value.render("en"), exc.value.render("zh")
    assert "{" not in en and "{" not in zh  # every param filled in both languages


@pytest.mark.parametrize(
    ("videos", "audios", "images"),
    [((3.0,), (), 0), ((3.0, 4.0, 8.0), (), 0), ((3.0,), (3.0,), 0), ((), (3.0, 3.0, 9.0), 2),
     ((3.0,) * 3, (3.0,) * 3, 9), ((None,), (None,), 0)],
)
def test_allowed_combinations(videos: tuple[float | None, ...], audios: tuple[float | None, ...],
                              images: int) -> None:
    spec = resolve(VideoSpec(
        prompt="x", model=V20,
        images=tuple(ImageInput(f"https://x/{i}.png", "reference_image") for i in range(images)),
        videos=tuple(MediaInput(f"https://x/v{i}.mp4", s) for i, s in enumerate(videos)),
        audios=tuple(MediaInput(f"https://x/a{i}.mp3", s) for i, s in enumerate(audios)),
    ))
    assert spec.mode.value == "reference" and len(spec.media) == len(videos) + len(audios)


def test_a_video_alone_needs_no_prompt_but_frames_and_media_do_not_mix() -> None:
    resolve(VideoSpec(model=V20, videos=(MediaInput("https://x/v.mp4"),)))  # text? + video
    with pytest.raises(SpecError) as exc:
        resolve(VideoSpec(prompt="x", model=V20, videos=(MediaInput("https://x/v.mp4"),),
                          images=(ImageInput("https://x/1.png", "first_frame"),)))
    assert code(exc) == "media_with_frames"
    with pytest.raises(SpecError) as exc:
        resolve(VideoSpec(model=PRO15, draft_task_id="cgt-1", videos=(MediaInput("https://x/v.mp4"),)))
    assert code(exc) == "draft_with_images"


def test_specs_with_media_survive_the_job_record() -> None:
    spec = VideoSpec(prompt="x", model=V20, videos=(MediaInput("feishu-file:om_1/f", 3.5),),
                     audios=(MediaInput("feishu-file:om_2/a", None),))
    assert spec_from_json(spec_to_json(spec)) == spec
    plain = VideoSpec(prompt="x")
    assert "videos" not in json.loads(spec_to_json(plain))  # records of other jobs are as before


def test_file_sources() -> None:
    assert parse_file_source(file_source("om_1", "file_v3_x")) == ("om_1", "file_v3_x")
    assert parse_file_source("feishu-image:om_1/img") is None
    assert parse_file_source("feishu-file:om_1") is None


def test_every_new_message_renders_in_both_languages() -> None:
    params = {"number": 1, "seconds": "16.0", "lo": 2, "hi": 15, "count": 2, "limit": 15, "value": "VP9",
              "width": 640, "height": 480, "pixels": 307200, "aspect": "1.33", "fps": "15", "mb": "250.0",
              "detail": "x", "model": "m", "models": "2.0", "max": 3}
    for key in ("media_with_frames", "audio_needs_visual", "media_unsupported", "too_many_ref_videos",
                "too_many_ref_audios", "ref_video_length", "ref_audio_length", "ref_videos_total",
                "ref_audios_total", "ref_video_format", "ref_video_codec", "ref_video_audio_codec",
                "ref_video_sides", "ref_video_pixels", "ref_video_aspect", "ref_video_fps", "ref_video_bytes",
                "ref_audio_bytes", "ref_video_unreadable", "ref_audio_unreadable", "media_needs_public_url",
                "media_only_hint", "media_needs_ref"):
        for lang in ("en", "zh"):
            text = i18n.t(key, lang, **params)
            assert text != key and "{" not in text, (key, lang)
    assert "BOT_PUBLIC_URL" in i18n.t("media_needs_public_url", "en")
    assert "BOT_PUBLIC_URL" in i18n.t("media_needs_public_url", "zh")
