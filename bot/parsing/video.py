"""/video and /draft: a prompt, options and images become a validated `VideoSpec`.

Images: one = first frame, two = first + last frame, with --ref = reference images. Sources are
`feishu-image:<message_id>/<image_key>`; the worker downloads them. A reply without images of
its own uses the parent message's images, which only the worker can read: then the request is
checked now as far as it can be, and `with_images` finishes it. The user's and the chat's
defaults fill what the message leaves open, only where the model can take them.

With --ref on the 2.0 series, videos and voice messages are references too (ark-api.md §2.2):
the message's own (a post's video) and, for a reply, the parent's (a video, a voice message,
an mp4/mp3/wav file). Sources are `feishu-file:<message_id>/<file_key>`; the worker downloads,
checks and serves them (`bot.engine.references`). Without --ref a parent's video is not used
(a `/video` reply to the bot's own video stays text-to-video, as before).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot import catalogue
from bot.catalogue import ALL_RATIOS, RESOLUTIONS, Mode
from bot.errors import SpecError
from bot.parsing.events import Attachment
from bot.parsing.grammar import parse_args
from bot.parsing.options import DEFAULT_MODEL, model_id, model_label, ref_models
from bot.parsing.registry import CommandSpec, Invocation
from bot.parsing.results import Command, ParseResult, Reply
from bot.spec import ImageInput, MediaInput, VideoSpec, resolve

FEISHU_IMAGE = "feishu-image:"
FEISHU_FILE = "feishu-file:"


@dataclass(frozen=True, kw_only=True)
class VideoCommand(Command):
    """Make a video (or a draft).

    `spec` is resolved and validated against the catalogue — except when `use_parent_image`
    is set: then the images live in the parent message, `spec` is the *unresolved* request
    (it was pre-checked with a stand-in image), and the worker must call
    `with_images(cmd, keys_of_parent)` to get the spec it may send.
    """

    name: ClassVar[str] = "video"
    spec: VideoSpec
    draft: bool = False
    image_keys: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()  # the message's own videos/voice messages (used with --ref)
    use_parent_image: bool = False
    use_parent_media: bool = False  # --ref in a reply: the parent's videos/voice messages join the references
    message_id: str = ""
    parent_id: str | None = None
    ref: bool = False  # images are reference images
    last_frame: bool = False
    request: VideoSpec = field(default_factory=VideoSpec)  # what the user typed, before defaults
    defaults: dict[str, Any] = field(default_factory=dict)
    default_model: str = DEFAULT_MODEL


def image_source(message_id: str, image_key: str) -> str:
    """The `ImageInput.source` for an image of a chat message (downloaded later by the worker)."""
    return f"{FEISHU_IMAGE}{message_id}/{image_key}"


def parse_image_source(source: str) -> tuple[str, str] | None:
    """(message_id, image_key) of a `feishu-image:` source, else None."""
    if not source.startswith(FEISHU_IMAGE):
        return None
    message_id, sep, key = source[len(FEISHU_IMAGE):].partition("/")
    return (message_id, key) if sep and message_id and key else None


def file_source(message_id: str, file_key: str) -> str:
    """The `MediaInput.source` of a video or voice message of a chat message (the worker fetches it)."""
    return f"{FEISHU_FILE}{message_id}/{file_key}"


def parse_file_source(source: str) -> tuple[str, str] | None:
    """(message_id, file_key) of a `feishu-file:` source, else None."""
    if not source.startswith(FEISHU_FILE):
        return None
    message_id, sep, key = source[len(FEISHU_FILE):].partition("/")
    return (message_id, key) if sep and message_id and key else None


def media_inputs(attachments: Sequence[Attachment], message_id: str) -> tuple[tuple[MediaInput, ...],
                                                                            tuple[MediaInput, ...]]:
    """(videos, audios) of a message's attachments; other files are not references."""
    videos = tuple(MediaInput(file_source(message_id, a.file_key), a.seconds) for a in attachments
                   if a.kind == "video")
    audios = tuple(MediaInput(file_source(message_id, a.file_key), a.seconds) for a in attachments
                   if a.kind == "audio")
    return videos, audios


def _assign_roles(sources: Sequence[str], *, ref: bool, last_frame: bool,
                  media: bool = False) -> tuple[ImageInput, ...]:
    """One image = first frame, two = first + last, --ref = all reference images (none: only next
    to a reference video or audio)."""
    n = len(sources)
    if ref:
        if n == 0 and not media:
            raise SpecError("ref_without_images")
        return tuple(ImageInput(s, "reference_image") for s in sources)
    if last_frame and n != 2:
        raise SpecError("last_frame_needs_two", count=n)
    if n == 0:
        return ()
    if n == 1:
        return (ImageInput(sources[0], "first_frame"),)
    if n == 2:
        return (ImageInput(sources[0], "first_frame"), ImageInput(sources[1], "last_frame"))
    raise SpecError("too_many_images", count=n, models=", ".join(model_label(m) for m in ref_models()))


def apply_defaults(spec: VideoSpec, defaults: Mapping[str, Any], default_model: str) -> VideoSpec:
    """User/chat defaults fill what the message left open — only where the model can take them.

    Explicit flags always win. A default the chosen model can't do (a 15 s default on 1.5 Pro, audio
    on 1.0, 1080p or flex on a draft) is skipped rather than turned into an error the user didn't
    cause by this message. A default ratio applies to text-to-video only: with a photo the
    video follows the photo's shape (`adaptive`).
    """
    warnings = list(spec.warnings)
    model = spec.model or model_id(str(defaults.get("model") or "")) or default_model
    info = catalogue.get(model)
    draft = bool(spec.draft)
    if draft and spec.model is None and info is not None and not info.draft:
        drafter = next(m for m in catalogue.MODELS if m.draft)
        warnings.append(f"drafts need {drafter.name}; using {drafter.id} instead of {model}")
        model, info = drafter.id, drafter
    changes: dict[str, Any] = {"model": model}
    ratio = defaults.get("ratio")
    if spec.ratio is None and spec.mode is Mode.TEXT and isinstance(ratio, str) and ratio in ALL_RATIOS:
        changes["ratio"] = ratio
    duration = defaults.get("duration")
    if spec.duration is None and isinstance(duration, int) and not isinstance(duration, bool) and (
        info is None or info.durations[0] <= duration <= info.durations[1]
        or (duration == -1 and info.auto_duration)
    ):
        changes["duration"] = duration
    res = defaults.get("resolution")
    if spec.resolution is None and not draft and isinstance(res, str) and (
        res in RESOLUTIONS if info is None else res in info.resolutions
    ):
        changes["resolution"] = res
    audio = defaults.get("audio")
    if spec.generate_audio is None and isinstance(audio, bool) and (info is None or info.audio):
        changes["generate_audio"] = audio
    flex = defaults.get("flex") is True and (info is None or info.flex)
    if spec.service_tier is None and not draft and flex:
        changes["service_tier"] = "flex"
    watermark = defaults.get("watermark")
    if spec.watermark is None and isinstance(watermark, bool):
        changes["watermark"] = watermark
    changes["warnings"] = tuple(warnings)
    return spec.replace(**changes)


def _build(request: VideoSpec, *, sources: Sequence[str], ref: bool, last_frame: bool,
           defaults: Mapping[str, Any], default_model: str, videos: Sequence[MediaInput] = (),
           audios: Sequence[MediaInput] = ()) -> VideoSpec:
    """Images (+ reference videos/audios) + defaults + catalogue validation; raises `SpecError`
    naming what is allowed."""
    images = _assign_roles(sources, ref=ref, last_frame=last_frame, media=bool(videos or audios))
    spec = apply_defaults(request.replace(images=images, videos=tuple(videos), audios=tuple(audios)),
                          defaults, default_model)
    info = catalogue.get(spec.model or default_model)
    if (videos or audios) and info is not None and Mode.REFERENCE in info.modes and not info.media_references:
        capable = [m for m in ref_models() if m.media_references]
        raise SpecError("media_unsupported", model=info.name, models=", ".join(model_label(m) for m in capable))
    if ref and info is not None and Mode.REFERENCE not in info.modes:
        capable = ref_models()
        raise SpecError("ref_unsupported", model=info.name,
                        models=", ".join(model_label(m) for m in capable),
                        example=model_label(capable[0]) if capable else "2.0")
    return resolve(spec, default_model)


def with_images(cmd: VideoCommand, image_keys: Sequence[str], *, message_id: str | None = None,
                parent_attachments: Sequence[Attachment] = ()) -> VideoSpec:
    """The validated spec once the images are known (for `use_parent_image`: the parent's keys).

    Keys become `feishu-image:<message_id>/<key>` sources (message_id defaults to the parent);
    values that already are sources pass through. With --ref the message's own videos and voice
    messages are references, and (`use_parent_media`) the parent's `parent_attachments` after
    them. Raises `SpecError` (render it with `err.render(cmd.lang)` or `Reply(err.code,
    err.params, cmd.lang)`). With no images at all the request is read as text-to-video, which
    needs a prompt.
    """
    mid = message_id or cmd.parent_id or cmd.message_id
    sources = [k if k.startswith(FEISHU_IMAGE) else image_source(mid, k) for k in image_keys]
    videos: tuple[MediaInput, ...] = ()
    audios: tuple[MediaInput, ...] = ()
    if cmd.ref:
        videos, audios = media_inputs(cmd.attachments, cmd.message_id)
        if cmd.parent_id and parent_attachments:
            more_videos, more_audios = media_inputs(parent_attachments, cmd.parent_id)
            videos, audios = videos + more_videos, audios + more_audios
    return _build(cmd.request, sources=sources, ref=cmd.ref, last_frame=cmd.last_frame,
                  defaults=cmd.defaults, default_model=cmd.default_model, videos=videos, audios=audios)


def _video(inv: Invocation) -> ParseResult:
    """/video and /draft: options, prompt and images → a validated `VideoCommand`."""
    msg, lang, command = inv.msg, inv.lang, inv.typed
    draft = inv.name == "draft"
    defaults, default_model = inv.defaults, inv.default_model
    args = parse_args(inv.rest, command=command)
    options = dict(args.options)
    ref = bool(options.pop("ref", False))
    last_frame = bool(options.pop("last_frame", False))
    if options.pop("draft", None) is True:
        draft = True
    if ref and last_frame:
        return Reply("mixed_image_roles", {}, lang)
    request = VideoSpec(prompt=args.prompt or None, draft=True if draft else None, **options)
    keys = msg.image_keys
    own = tuple(a for a in msg.attachments if a.kind in ("video", "audio"))
    if own and not ref:
        return Reply("media_needs_ref", {}, lang)
    videos, audios = media_inputs(own, msg.message_id)
    # --ref in a reply: the parent's videos and voice messages (read by the worker) join in.
    use_parent_media = bool(ref and msg.parent_id)
    common: dict[str, Any] = {
        "lang": lang, "draft": draft, "image_keys": keys, "message_id": msg.message_id,
        "parent_id": msg.parent_id, "ref": ref, "last_frame": last_frame, "request": request,
        "defaults": dict(defaults), "default_model": default_model, "attachments": own,
        "use_parent_media": use_parent_media,
    }
    build: dict[str, Any] = {"ref": ref, "last_frame": last_frame, "defaults": defaults,
                             "default_model": default_model, "videos": videos, "audios": audios}
    if keys or not msg.parent_id:
        if not keys and not own:
            if ref:
                return Reply("ref_without_images", {}, lang)
            if last_frame:
                return Reply("last_frame_needs_two", {"count": 0}, lang)
            if not args.prompt:
                return Reply("video_usage", {"command": command}, lang)
        sources = [image_source(msg.message_id, k) for k in keys]
        spec = _build(request, sources=sources, **build)
        return VideoCommand(spec=spec, use_parent_image=False, **common)
    # A reply without its own images: the images (if any) are in the parent message. Check now
    # what can be checked — with a stand-in image, or as text-to-video — and defer the rest.
    stand_in = [image_source(msg.parent_id, "pending")] * (2 if last_frame else 1)
    try:
        _build(request, sources=stand_in, **build)
    except SpecError:
        if ref or last_frame:
            raise
        try:
            _build(request, sources=[], **build)
        except SpecError:
            pass
        else:
            return VideoCommand(spec=request, use_parent_image=True, **common)
        raise
    return VideoCommand(spec=request, use_parent_image=True, **common)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("video", ("vid", "gen", "generate", "imagine", "视频", "生成", "生成视频", "做视频", "拍"),
                parse=_video, options=None),
    CommandSpec("draft", ("preview", "样片", "草稿", "预览", "小样"), parse=_video, options=None),
)
