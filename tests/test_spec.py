"""VideoSpec resolution (the seed's defaults), every local rejection, and create bodies per mode."""

from __future__ import annotations

from typing import Any

import pytest

from bot.catalogue import Mode
from bot.errors import SpecError
from bot.spec import ImageInput, VideoSpec, build_create_body, resolve

PRO15 = "seedance-1-5-pro-251215"
PRO10 = "seedance-1-0-pro-250528"
FAST10 = "seedance-1-0-pro-fast-251015"
LITE_T2V = "seedance-1-0-lite-t2v-250428"
LITE_I2V = "seedance-1-0-lite-i2v-250428"
V20 = "dreamina-seedance-2-0-260128"
V20_FAST = "dreamina-seedance-2-0-fast-260128"


def first(src: str = "https://example.com/a.jpg") -> ImageInput:
    return ImageInput(src, "first_frame")


def last(src: str = "https://example.com/b.jpg") -> ImageInput:
    return ImageInput(src, "last_frame")


def refs(n: int) -> tuple[ImageInput, ...]:
    return tuple(ImageInput(f"https://example.com/r{i}.jpg", "reference_image") for i in range(n))


# ----------------------------------------------------------------------------- defaults


def test_text_defaults_follow_the_seed() -> None:
    s = resolve(VideoSpec(prompt="A kitten yawning at the camera"))
    assert s.model == PRO15
    assert (s.resolution, s.ratio, s.duration, s.generate_audio) == ("720p", "16:9", 5, True)
    assert s.mode is Mode.TEXT
    assert s.warnings == ()


def test_default_model_comes_from_settings() -> None:
    s = resolve(VideoSpec(prompt="x"), default_model=PRO10)
    assert s.model == PRO10
    assert s.generate_audio is None  # 1.0 has no audio: nothing sent
    assert s.resolution == "720p"


def test_image_to_video_defaults_to_adaptive() -> None:
    s = resolve(VideoSpec(prompt="turns and smiles", images=(first(),)))
    assert s.ratio == "adaptive" and s.mode is Mode.FIRST_FRAME
    s2 = resolve(VideoSpec(prompt="blooms", images=(first(), last())))
    assert s2.ratio == "adaptive" and s2.mode is Mode.FIRST_LAST


def test_reference_mode_defaults_to_16_9() -> None:
    s = resolve(VideoSpec(prompt="[Image 1] dancing", model=LITE_I2V, images=refs(2)))
    assert s.ratio == "16:9" and s.mode is Mode.REFERENCE and s.generate_audio is None


def test_explicit_values_kept() -> None:
    s = resolve(VideoSpec(prompt="City night", ratio="21:9", duration=8, resolution="1080p",
                          generate_audio=False))
    assert (s.ratio, s.duration, s.resolution, s.generate_audio) == ("21:9", 8, "1080p", False)


def test_draft_defaults_to_480p() -> None:
    s = resolve(VideoSpec(prompt="Waves", draft=True))
    assert s.resolution == "480p" and s.draft is True


def test_alias_rewritten_with_warning() -> None:
    s = resolve(VideoSpec(prompt="x", model="seedance-1-0-lite-i2v-250219", images=refs(1)))
    assert s.model == LITE_I2V
    assert any("old name" in w for w in s.warnings)


def test_unknown_model_passes_with_warning() -> None:
    s = resolve(VideoSpec(prompt="x", model="ep-20260101-abcde", draft=True, seed=5))
    assert s.model == "ep-20260101-abcde"
    assert any("not in the catalogue" in w for w in s.warnings)


def test_draft_final_keeps_only_changeable_fields() -> None:
    s = resolve(VideoSpec(draft_task_id="cgt-20260101000000-abcde", resolution="720p", watermark=True))
    assert s.mode is Mode.DRAFT_FINAL
    assert s.model == PRO15 and s.resolution == "720p" and s.watermark is True
    assert s.ratio is None and s.duration is None and s.generate_audio is None and s.prompt is None
    assert resolve(VideoSpec(draft_task_id="cgt-x")).resolution == "720p"
    assert resolve(VideoSpec(draft_task_id="cgt-x")).warnings == ()


def test_draft_final_warns_about_ignored_fields() -> None:
    s = resolve(VideoSpec(draft_task_id="cgt-x", ratio="9:16", generate_audio=False))
    assert s.ratio is None and s.generate_audio is None
    assert any("ratio" in w and "generate_audio" in w and "ignored" in w for w in s.warnings)


def test_defaults_the_model_lacks_are_not_sent() -> None:
    s = resolve(VideoSpec(prompt="x", model=PRO10, generate_audio=False))
    assert s.generate_audio is None
    s2 = resolve(VideoSpec(prompt="x", model=V20, seed=-1, camera_fixed=False))
    assert s2.seed is None and s2.camera_fixed is None
    s3 = resolve(VideoSpec(prompt="x", model=LITE_I2V, images=refs(1), camera_fixed=False))
    assert s3.camera_fixed is None
    kept = resolve(VideoSpec(prompt="x", model=PRO15, seed=-1, camera_fixed=False))
    assert kept.seed == -1 and kept.camera_fixed is False


# ----------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (VideoSpec(prompt="x", model=PRO10, draft=True), "no_draft"),
        (VideoSpec(prompt="x", model=LITE_T2V, draft=True), "no_draft"),
        (VideoSpec(prompt="x", draft=True, resolution="1080p"), "draft_resolution"),
        (VideoSpec(prompt="x", draft=True, resolution="720p"), "draft_resolution"),
        (VideoSpec(prompt="x", draft=True, return_last_frame=True), "draft_last_frame"),
        (VideoSpec(prompt="x", draft=True, service_tier="flex"), "no_flex"),
        (VideoSpec(prompt="x", model=V20, service_tier="flex"), "no_flex"),
        (VideoSpec(prompt="x", model=V20, seed=42), "no_seed"),
        (VideoSpec(prompt="x", model=V20, camera_fixed=True), "no_camera_fixed"),
        (VideoSpec(prompt="x", model=LITE_I2V, images=refs(1), camera_fixed=True), "no_camera_fixed"),
        (VideoSpec(prompt="x", model=LITE_I2V, images=refs(5)), "too_many_refs"),
        (VideoSpec(prompt="x", model=V20, images=refs(10)), "too_many_refs"),
        (VideoSpec(prompt="x", images=refs(1)), "mode_unsupported"),  # 1.5 Pro has no reference mode
        (VideoSpec(prompt="x", model=LITE_I2V), "mode_unsupported"),  # I2V model needs an image
        (VideoSpec(prompt="x", model=LITE_T2V, images=(first(),)), "mode_unsupported"),
        (VideoSpec(prompt="x", model=FAST10, images=(first(), last())), "mode_unsupported"),
        (VideoSpec(prompt="x", model=PRO10, duration=-1), "bad_duration"),
        (VideoSpec(prompt="x", model=PRO10, duration=13), "bad_duration"),
        (VideoSpec(prompt="x", duration=3), "bad_duration"),  # 1.5 Pro: 4-12
        (VideoSpec(prompt="x", model=V20, duration=16), "bad_duration"),
        (VideoSpec(prompt="x", model=PRO10, generate_audio=True), "no_audio"),
        (VideoSpec(prompt="x", resolution="4k"), "bad_resolution"),
        (VideoSpec(prompt="x", model=V20_FAST, resolution="1080p"), "bad_resolution"),
        (VideoSpec(prompt="x", model=LITE_I2V, images=refs(2), resolution="1080p"), "bad_resolution"),
        (VideoSpec(prompt="x", ratio="2:1"), "bad_ratio"),
        (VideoSpec(prompt="x", seed=2**32), "bad_seed"),
        (VideoSpec(prompt="x", seed=-2), "bad_seed"),
        (VideoSpec(prompt="x", execution_expires_after=3599), "bad_expires"),
        (VideoSpec(prompt="x", execution_expires_after=259201), "bad_expires"),
        (VideoSpec(prompt="x", service_tier="turbo"), "bad_tier"),  # type: ignore[arg-type]
        (VideoSpec(prompt="   "), "empty_prompt"),
        (VideoSpec(prompt="x" * 4001), "prompt_too_long"),
        (VideoSpec(prompt="x", images=(first(), *refs(1))), "mixed_image_roles"),
        (VideoSpec(prompt="x", images=(last(),)), "last_without_first"),
        (VideoSpec(prompt="x", images=(first(), first())), "too_many_frames"),
        (VideoSpec(draft_task_id="cgt-x", images=(first(),)), "draft_with_images"),
        (VideoSpec(draft_task_id="cgt-x", draft=True), "draft_of_draft"),
        (VideoSpec(draft_task_id="cgt-x", model=PRO10), "mode_unsupported"),
    ],
)
def test_rejections(spec: VideoSpec, code: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve(spec)
    assert info.value.code == code
    text = info.value.render("en")
    assert text and text != code  # every code has a rendered message
    assert info.value.render("zh") != code


def test_rejection_says_what_is_allowed() -> None:
    with pytest.raises(SpecError) as info:
        resolve(VideoSpec(prompt="x", model=PRO10, duration=-1))
    assert "2-12" in str(info.value)
    with pytest.raises(SpecError) as info:
        resolve(VideoSpec(prompt="x", model=PRO10, draft=True))
    assert PRO15 in str(info.value)


def test_accepted_edges() -> None:
    resolve(VideoSpec(prompt="x", duration=-1))  # 1.5 Pro auto
    resolve(VideoSpec(prompt="x", model=V20, duration=15, resolution="4k"))
    resolve(VideoSpec(prompt="x", model=LITE_I2V, images=refs(4)))
    resolve(VideoSpec(prompt="x", model=PRO10, duration=2, service_tier="flex"))
    resolve(VideoSpec(prompt="x", seed=2**32 - 1, execution_expires_after=3600))
    resolve(VideoSpec(images=(first(),)))  # an image alone is enough


# ----------------------------------------------------------------------------- create bodies


def body_of(spec: VideoSpec, urls: dict[str, str] | None = None) -> dict[str, Any]:
    return build_create_body(resolve(spec), urls)


def test_body_text() -> None:
    assert body_of(VideoSpec(prompt="A kitten yawning")) == {
        "model": PRO15,
        "content": [{"type": "text", "text": "A kitten yawning"}],
        "ratio": "16:9", "duration": 5, "resolution": "720p", "generate_audio": True,
    }


def test_body_first_frame_local_file_becomes_data_url() -> None:
    body = body_of(VideoSpec(prompt="smiles", images=(first("/tmp/photo.jpg"),)),
                   {"/tmp/photo.jpg": "data:image/jpeg;base64,AAAA"})
    assert body["content"][1] == {
        "type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}, "role": "first_frame",
    }
    assert body["ratio"] == "adaptive"


def test_body_first_frame_url_passes_through() -> None:
    body = body_of(VideoSpec(prompt="zoom", images=(first("https://example.com/i.jpg"),)))
    assert body["content"][1]["image_url"]["url"] == "https://example.com/i.jpg"


def test_body_first_and_last() -> None:
    body = body_of(VideoSpec(prompt="bloom", images=(first(), last())))
    assert [c.get("role") for c in body["content"]] == [None, "first_frame", "last_frame"]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_body_reference_images(n: int) -> None:
    body = body_of(VideoSpec(prompt="[Image 1] dancing", model=LITE_I2V, images=refs(n)))
    assert body["model"] == LITE_I2V
    roles = [c["role"] for c in body["content"][1:]]
    assert roles == ["reference_image"] * n
    assert "generate_audio" not in body and "camera_fixed" not in body


def test_body_draft() -> None:
    body = body_of(VideoSpec(prompt="Waves", draft=True))
    assert body["draft"] is True and body["resolution"] == "480p"
    assert "return_last_frame" not in body and "service_tier" not in body


def test_body_final_from_draft() -> None:
    body = body_of(VideoSpec(draft_task_id="cgt-20260101000000-abcde", resolution="720p"))
    assert body == {
        "model": PRO15,
        "content": [{"type": "draft_task", "draft_task": {"id": "cgt-20260101000000-abcde"}}],
        "resolution": "720p",
    }


def test_body_all_optional_fields() -> None:
    body = body_of(VideoSpec(
        prompt="x", model=PRO10, seed=11, camera_fixed=True, watermark=True, return_last_frame=True,
        service_tier="flex", execution_expires_after=3600, callback_url="https://example.com/cb",
        duration=8, ratio="9:16", resolution="1080p",
    ))
    for key, value in {"seed": 11, "camera_fixed": True, "watermark": True, "return_last_frame": True,
                       "service_tier": "flex", "execution_expires_after": 3600,
                       "callback_url": "https://example.com/cb", "duration": 8, "ratio": "9:16",
                       "resolution": "1080p"}.items():
        assert body[key] == value
    assert "draft" not in body and None not in body.values()
