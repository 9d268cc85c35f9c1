"""A video request as the user means it, and its validation against the catalogue.

Pure code: no I/O. Chat parsing and the CLI both build a `VideoSpec`, call
`resolve()` to fill defaults and check it, and get back either a spec that the
Ark client can send or a `SpecError` naming what is allowed. Nothing that costs
money happens before this passes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from bot import catalogue
from bot.catalogue import ALL_RATIOS, REF_CLIP_SECONDS, REF_TOTAL_SECONDS, Mode, ModelInfo
from bot.errors import SpecError

ImageRole = Literal["first_frame", "last_frame", "reference_image"]
EXPIRES_RANGE = (3600, 259200)
SEED_RANGE = (-1, 2**32 - 1)
MAX_PROMPT_CHARS = 4000  # far above the recommended 500 zh chars / 1000 en words


@dataclass(frozen=True)
class ImageInput:
    """An image for the request: `url` is http(s), `data:` or `asset://`; or a local file path."""

    source: str
    role: ImageRole


@dataclass(frozen=True)
class MediaInput:
    """A reference video or audio (Seedance 2.0 series: `video_url` / `audio_url` contents).

    `source` is an http(s) URL, an `asset://` ID, or a chat file (`feishu-file:<message_id>/<key>`)
    that the worker downloads, checks and serves at a signed URL (`bot.engine.references`).
    `seconds` is its length when known before anything is fetched (Feishu states it for chat
    videos and voice messages): `resolve` checks it against the documented limits at once.
    """

    source: str
    seconds: float | None = None


@dataclass(frozen=True)
class VideoSpec:
    """Everything one create call needs. `None` means "not given: use the default"."""

    prompt: str | None = None
    model: str | None = None
    images: tuple[ImageInput, ...] = ()
    videos: tuple[MediaInput, ...] = ()  # reference videos (2.0 series)
    audios: tuple[MediaInput, ...] = ()  # reference audios (2.0 series)
    draft_task_id: str | None = None
    ratio: str | None = None
    duration: int | None = None
    resolution: str | None = None
    seed: int | None = None
    camera_fixed: bool | None = None
    watermark: bool | None = None
    generate_audio: bool | None = None
    draft: bool | None = None
    return_last_frame: bool | None = None
    service_tier: Literal["default", "flex"] | None = None
    execution_expires_after: int | None = None
    callback_url: str | None = None
    # Filled by resolve():
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def mode(self) -> Mode:
        if self.draft_task_id:
            return Mode.DRAFT_FINAL
        roles = [i.role for i in self.images]
        if "reference_image" in roles or self.videos or self.audios:
            return Mode.REFERENCE
        if "last_frame" in roles:
            return Mode.FIRST_LAST
        if roles:
            return Mode.FIRST_FRAME
        return Mode.TEXT

    @property
    def media(self) -> tuple[MediaInput, ...]:
        """The reference videos, then the reference audios."""
        return (*self.videos, *self.audios)

    def replace(self, **changes: Any) -> VideoSpec:
        return dataclasses.replace(self, **changes)


def resolve(spec: VideoSpec, default_model: str = catalogue.MODELS[0].id) -> VideoSpec:
    """Fill defaults (the seed's rules) and validate; raise `SpecError` on the first problem.

    Defaults: model from settings, 720p, 5 s, 16:9 for text-to-video and `adaptive`
    for image-to-video, audio on where the model has audio. For a final render
    from a draft only the fields the service allows to change are kept.
    """
    warnings: list[str] = list(spec.warnings)
    found = catalogue.lookup(spec.model or default_model)
    if found.alias_of:
        warnings.append(f"model {found.requested} is an old name; using {found.model_id}")
    info = found.info
    if info is None:
        warnings.append(f"model {found.model_id} is not in the catalogue; sending it unchecked")
    mode = spec.mode
    _check_shape(spec, mode)

    if mode is Mode.DRAFT_FINAL:
        # draft_task reuses model, prompt, images, audio, seed, ratio, duration and
        # camera_fixed of the draft; only these may be set anew.
        ignored = [name for name in ("prompt", "ratio", "duration", "seed", "camera_fixed", "generate_audio")
                   if getattr(spec, name) is not None]
        if ignored:
            warnings.append(
                f"a final render reuses the draft's {', '.join(ignored)}; the given values are ignored"
            )
        out = VideoSpec(
            model=found.model_id, draft_task_id=spec.draft_task_id,
            resolution=spec.resolution or "720p", watermark=spec.watermark,
            return_last_frame=spec.return_last_frame, service_tier=spec.service_tier,
            execution_expires_after=spec.execution_expires_after, callback_url=spec.callback_url,
            warnings=tuple(warnings),
        )
        if info is not None:
            _check_model(out, info, mode)
        _check_common(out)
        return out

    is_i2v = mode is not Mode.TEXT
    draft = bool(spec.draft)
    out = spec.replace(
        model=found.model_id,
        resolution=spec.resolution or ("480p" if draft else "720p"),
        duration=spec.duration if spec.duration is not None else 5,
        # A reference video sets the shape, as a first frame does (ark-api.md §5.3 `adaptive`).
        ratio=spec.ratio or ("adaptive" if (is_i2v and mode is not Mode.REFERENCE) or spec.videos else "16:9"),
        generate_audio=(
            spec.generate_audio if spec.generate_audio is not None else (info.audio if info else None)
        ),
        warnings=tuple(warnings),
    )
    if info is not None:
        if not info.audio and spec.generate_audio is None:
            out = out.replace(generate_audio=None)
        _check_model(out, info, mode)
        out = _drop_unsupported_defaults(out, info, mode)
    _check_common(out)
    return out


def _drop_unsupported_defaults(spec: VideoSpec, info: ModelInfo, mode: Mode) -> VideoSpec:
    """Leave out values that only restate a default on a model that lacks the feature.

    `--generate-audio false` on 1.0, `--seed -1` or `--camera-fixed false` on 2.0
    ask for nothing, but the API validates strongly: sending a parameter the
    model doesn't support can be a 400 even when its value is the default.
    """
    changes: dict[str, Any] = {}
    if spec.generate_audio is False and not info.audio:
        changes["generate_audio"] = None
    if spec.seed == -1 and not info.seed:
        changes["seed"] = None
    if spec.camera_fixed is False and (not info.camera_fixed or mode is Mode.REFERENCE):
        changes["camera_fixed"] = None
    return spec.replace(**changes) if changes else spec


def _check_shape(spec: VideoSpec, mode: Mode) -> None:
    """Rules that hold whatever the model."""
    roles = [i.role for i in spec.images]
    if mode is Mode.DRAFT_FINAL:
        if spec.images or spec.media:
            raise SpecError("draft_with_images")
        if spec.draft:
            raise SpecError("draft_of_draft")
        return
    if not (spec.prompt and spec.prompt.strip()) and not spec.images and not spec.videos:
        raise SpecError("empty_prompt")
    if spec.prompt and len(spec.prompt) > MAX_PROMPT_CHARS:
        raise SpecError("prompt_too_long", limit=MAX_PROMPT_CHARS, length=len(spec.prompt))
    if spec.media and any(r != "reference_image" for r in roles):
        raise SpecError("media_with_frames")
    if "reference_image" in roles and any(r != "reference_image" for r in roles):
        raise SpecError("mixed_image_roles")
    if spec.audios and not (spec.images or spec.videos):
        # Allowed on 2.0: text?+image, +video, +image+audio, +video+audio, …: never audio alone.
        raise SpecError("audio_needs_visual")
    check_media_lengths([m.seconds for m in spec.videos], [m.seconds for m in spec.audios])
    if mode in (Mode.FIRST_FRAME, Mode.FIRST_LAST):
        if roles.count("first_frame") > 1 or roles.count("last_frame") > 1 or len(roles) > 2:
            raise SpecError("too_many_frames", count=len(roles))
        if "last_frame" in roles and "first_frame" not in roles:
            raise SpecError("last_without_first")


def _check_model(spec: VideoSpec, info: ModelInfo, mode: Mode) -> None:
    m = info.id
    if mode not in info.modes:
        allowed = ", ".join(sorted(x.value for x in info.modes))
        capable = ", ".join(x.id for x in catalogue.MODELS if mode in x.modes and not x.retired)
        raise SpecError("mode_unsupported", model=m, mode=mode.value, allowed=allowed, models=capable)
    if mode is Mode.REFERENCE:
        n = len(spec.images)
        if spec.media and not info.media_references:
            capable = ", ".join(x.id for x in catalogue.MODELS if x.media_references and not x.retired)
            raise SpecError("media_unsupported", model=m, models=capable)
        if len(spec.videos) > info.max_reference_videos:
            raise SpecError("too_many_ref_videos", model=m, count=len(spec.videos), max=info.max_reference_videos)
        if len(spec.audios) > info.max_reference_audios:
            raise SpecError("too_many_ref_audios", model=m, count=len(spec.audios), max=info.max_reference_audios)
        # Images 1-9 alone; 0-9 next to a reference video or audio (ark-api.md §2.2).
        least = 0 if spec.media else 1
        if not least <= n <= info.max_reference_images:
            raise SpecError("too_many_refs", model=m, count=n, max=info.max_reference_images)
    if spec.resolution and spec.resolution not in info.resolutions:
        raise SpecError("bad_resolution", model=m, value=spec.resolution, allowed=", ".join(info.resolutions))
    if mode is Mode.REFERENCE and info.series == "1.0" and spec.resolution == "1080p":
        raise SpecError("bad_resolution", model=m, value="1080p", allowed="480p, 720p (reference images)")
    if spec.duration is not None:
        lo, hi = info.durations
        if not (lo <= spec.duration <= hi or (spec.duration == -1 and info.auto_duration)):
            raise SpecError("bad_duration", model=m, value=spec.duration, allowed=info.allowed_durations_text())
    if spec.generate_audio and not info.audio:
        raise SpecError("no_audio", model=m)
    if spec.draft and not info.draft:
        drafters = ", ".join(x.id for x in catalogue.MODELS if x.draft)
        raise SpecError("no_draft", model=m, models=drafters)
    if mode is Mode.DRAFT_FINAL and not info.draft:
        raise SpecError("no_draft", model=m, models=", ".join(x.id for x in catalogue.MODELS if x.draft))
    if spec.draft and spec.resolution not in (None, "480p"):
        raise SpecError("draft_resolution", value=spec.resolution)
    if spec.draft and spec.return_last_frame:
        raise SpecError("draft_last_frame")
    if spec.service_tier == "flex" and (not info.flex or spec.draft):
        raise SpecError("no_flex", model=m)
    if spec.seed is not None and spec.seed != -1 and not info.seed:
        raise SpecError("no_seed", model=m)
    if spec.camera_fixed and (not info.camera_fixed or mode is Mode.REFERENCE):
        raise SpecError("no_camera_fixed", model=m)


def check_media_lengths(videos: list[float | None], audios: list[float | None]) -> None:
    """Each reference video and audio 2-15 s, each kind at most 15 s in total (ark-api.md §5.4).

    Lengths are compared at 0.1 s (a clip a phone stamps 15.02 s is a 15 s clip); unknown
    lengths (None) are skipped here and checked once the file is at hand.
    """
    lo, hi = REF_CLIP_SECONDS
    for kind, lengths in (("video", videos), ("audio", audios)):
        known = [round(x, 1) for x in lengths if x is not None]
        for number, seconds in enumerate(lengths, 1):
            if seconds is not None and not lo <= round(seconds, 1) <= hi:
                raise SpecError(f"ref_{kind}_length", number=number, seconds=f"{seconds:.1f}",
                                lo=f"{lo:g}", hi=f"{hi:g}")
        if len(known) > 1 and round(sum(known), 1) > REF_TOTAL_SECONDS:
            raise SpecError(f"ref_{kind}s_total", count=len(known), seconds=f"{sum(known):.1f}",
                            limit=f"{REF_TOTAL_SECONDS:g}")


def _check_common(spec: VideoSpec) -> None:
    if spec.ratio is not None and spec.ratio not in ALL_RATIOS:
        raise SpecError("bad_ratio", value=spec.ratio, allowed=", ".join(ALL_RATIOS))
    if spec.seed is not None and not SEED_RANGE[0] <= spec.seed <= SEED_RANGE[1]:
        raise SpecError("bad_seed", value=spec.seed)
    if spec.execution_expires_after is not None:
        lo, hi = EXPIRES_RANGE
        if not lo <= spec.execution_expires_after <= hi:
            raise SpecError("bad_expires", value=spec.execution_expires_after, lo=lo, hi=hi)
    if spec.service_tier not in (None, "default", "flex"):
        raise SpecError("bad_tier", value=spec.service_tier)


def build_create_body(spec: VideoSpec, image_urls: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON body of `POST /contents/generations/tasks` for a resolved spec.

    `image_urls` maps an `ImageInput.source` or `MediaInput.source` to the URL to send (a data
    URL for a local image, a signed URL for a chat video); sources missing from it are sent as
    they are. Content order: text, images, videos, audios (the prompt's "video 1", "audio 1" count
    within their kind). Absent (None) fields are left out rather than sent as null.
    """
    urls = image_urls or {}
    content: list[dict[str, Any]] = []
    if spec.draft_task_id:
        content.append({"type": "draft_task", "draft_task": {"id": spec.draft_task_id}})
    else:
        if spec.prompt and spec.prompt.strip():
            content.append({"type": "text", "text": spec.prompt})
        for img in spec.images:
            content.append(
                {"type": "image_url", "image_url": {"url": urls.get(img.source, img.source)}, "role": img.role}
            )
        for video in spec.videos:
            content.append({"type": "video_url", "video_url": {"url": urls.get(video.source, video.source)},
                            "role": "reference_video"})
        for audio in spec.audios:
            content.append({"type": "audio_url", "audio_url": {"url": urls.get(audio.source, audio.source)},
                            "role": "reference_audio"})
    body: dict[str, Any] = {"model": spec.model, "content": content}
    optional = {
        "ratio": spec.ratio, "duration": spec.duration, "resolution": spec.resolution, "seed": spec.seed,
        "camera_fixed": spec.camera_fixed, "watermark": spec.watermark, "generate_audio": spec.generate_audio,
        "draft": spec.draft if spec.draft else None, "return_last_frame": spec.return_last_frame,
        "service_tier": spec.service_tier, "execution_expires_after": spec.execution_expires_after,
        "callback_url": spec.callback_url,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def spec_to_json(spec: VideoSpec) -> str:
    """Serialise a spec for storage in a job record (warnings are not kept)."""
    data = dataclasses.asdict(spec)
    data.pop("warnings", None)
    data["images"] = [[i.source, i.role] for i in spec.images]
    for kind in ("videos", "audios"):
        if getattr(spec, kind):
            data[kind] = [[m.source, m.seconds] for m in getattr(spec, kind)]
        else:
            data.pop(kind, None)  # a spec without them stores what it stored before they existed
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def spec_from_json(text: str) -> VideoSpec:
    data = json.loads(text or "{}")
    images = tuple(ImageInput(source=s, role=r) for s, r in data.pop("images", []) or [])
    videos = tuple(MediaInput(source=s, seconds=n) for s, n in data.pop("videos", []) or [])
    audios = tuple(MediaInput(source=s, seconds=n) for s, n in data.pop("audios", []) or [])
    known = {f.name for f in dataclasses.fields(VideoSpec)} - {"warnings", "images", "videos", "audios"}
    return VideoSpec(images=images, videos=videos, audios=audios, **{k: v for k, v in data.items() if k in known})
