"""Create-body validation of the Ark simulator: ark-api.md §2 and the §5.2 capability matrix.

Body parameters are strongly validated (a wrong value is a 400); the legacy
text flags (`--rs 720p --dur 5 …`, §2.3) are weakly validated (a flag the model
cannot honour is ignored) and lose to the body. JSON `null` means "not given",
because the official SDK sends every unset parameter as null.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import requests
from PIL import Image

from bot.catalogue import (
    ALL_RATIOS,
    REF_AUDIO_MAX_BYTES,
    REF_CLIP_SECONDS,
    REF_TOTAL_SECONDS,
    REF_VIDEO_ASPECT,
    REF_VIDEO_FPS,
    REF_VIDEO_MAX_BYTES,
    REF_VIDEO_PIXELS,
    REF_VIDEO_SIDES,
    Mode,
    ModelInfo,
    nearest_ratio,
)
from sim.ark_errors import ApiError, invalid, missing, not_found

EXPIRES_RANGE = (3600, 259200)
DEFAULT_EXPIRES = 172800
SEED_MAX = 2**32 - 1
IMAGE_FORMATS = frozenset({"jpeg", "jpg", "png", "webp", "bmp", "tiff", "gif"})
HEIF_FORMATS = frozenset({"heic", "heif"})
MAX_IMAGE_BYTES = 30 * 1024 * 1024
MAX_MEDIA = {"video_url": 3, "audio_url": 3}

# Prompt markers that trigger the simulator's moderation paths (not part of the real API).
MARK_SENSITIVE = "[[sensitive]]"
MARK_REALPERSON = "[[realperson]]"
MARK_FAIL_AUDIO = "[[failaudio]]"
MARK_FAIL_VIDEO = "[[failvideo]]"
_MARK_MINBYTES = re.compile(r"\[\[minbytes:(\d+)\]\]")

_FLAG = re.compile(r"(?:^|\s)--([a-z]+)\s+(\S+)")
_FLAG_NAMES = {
    "rs": "resolution", "resolution": "resolution", "rt": "ratio", "ratio": "ratio",
    "dur": "duration", "duration": "duration", "frames": "frames", "seed": "seed",
    "cf": "camera_fixed", "camerafixed": "camera_fixed", "wm": "watermark", "watermark": "watermark",
    "fps": "framespersecond", "framespersecond": "framespersecond",
}


@dataclass
class ImageRef:
    """One input image: where it came from, its role and (when decodable) its size."""

    index: int
    url: str
    role: str
    width: int | None = None
    height: int | None = None


@dataclass
class DraftRef:
    """What a final render inherits from its succeeded draft task."""

    id: str
    model: str
    status: str
    draft: bool
    plan: CreatePlan | None


@dataclass
class CreatePlan:
    """A validated create request with every default filled in (what the task will produce)."""

    info: ModelInfo
    endpoint: str
    mode: Mode
    text: str = ""
    images: list[ImageRef] = field(default_factory=list)
    videos: int = 0
    audios: int = 0
    # What was fetched for each video_url/audio_url content (index, kind, url, bytes, seconds, …).
    media: list[dict[str, Any]] = field(default_factory=list)
    resolution: str = "720p"
    ratio: str = "16:9"  # resolved: never "adaptive"
    duration: int | None = 5
    frames: int | None = None
    seed: int | None = None  # None: model has no seed; -1: pick at random
    camera_fixed: bool = False
    watermark: bool = False
    generate_audio: bool | None = None
    draft: bool = False
    draft_task_id: str | None = None
    return_last_frame: bool = False
    service_tier: str = "default"
    execution_expires_after: int = DEFAULT_EXPIRES
    priority: int | None = None
    callback_url: str | None = None
    safety_identifier: str | None = None
    tools: list[dict[str, Any]] | None = None
    fail_video: bool = False
    fail_audio: bool = False
    min_bytes: int = 0

    @property
    def seconds(self) -> float:
        """Length of the output clip in seconds."""
        if self.frames is not None:
            return self.frames / 24
        return float(self.duration or 5)


def strip_nulls(value: Any) -> Any:
    """Recursively drop `null` members of objects: null means absent."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def _typed(body: dict[str, Any], key: str, kind: type, name: str) -> Any:
    """body[key] if it has JSON type `kind` (bool is not an integer), None if absent, else a 400."""
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise invalid(key, f"expected {name}, got {v!r}")
    return v


def _int(body: dict[str, Any], key: str) -> int | None:
    return cast(int | None, _typed(body, key, int, "an integer"))


def _bool(body: dict[str, Any], key: str) -> bool | None:
    return cast(bool | None, _typed(body, key, bool, "a boolean"))


def _str(body: dict[str, Any], key: str) -> str | None:
    return cast(str | None, _typed(body, key, str, "a string"))


def model_name(body: Any) -> str:
    """The `model` field, checked for presence and type (first thing the service looks at)."""
    if not isinstance(body, dict):
        raise invalid("body", "the request body must be a JSON object")
    name = body.get("model")
    if name is None or name == "":
        raise missing("model")
    if not isinstance(name, str):
        raise invalid("model", f"expected a string, got {name!r}")
    return name


def parse_flags(text: str) -> dict[str, str]:
    """Legacy `--flag value` pairs in a prompt, by body-field name (later flags win)."""
    out: dict[str, str] = {}
    for m in _FLAG.finditer(text):
        name = _FLAG_NAMES.get(m.group(1))
        if name:
            out[name] = m.group(2)
    return out


def _flag_value(name: str, raw: str) -> Any:
    """Convert a flag string to its body type; ValueError when it does not parse."""
    if name in ("duration", "frames", "seed", "framespersecond"):
        return int(raw)
    if name in ("camera_fixed", "watermark"):
        low = raw.lower()
        if low not in ("true", "false"):
            raise ValueError(raw)
        return low == "true"
    return raw.lower() if name == "resolution" else raw


class CreateValidator:
    """Validates one create body against one model; collaborators are passed in so this stays testable."""

    def __init__(
        self, info: ModelInfo, endpoint: str, *, draft_lookup: Callable[[str], DraftRef | None],
        fetch_timeout: float = 5.0,
    ) -> None:
        self.info = info
        self.endpoint = endpoint
        self.draft_lookup = draft_lookup
        self.fetch_timeout = fetch_timeout

    # ---- entry point -------------------------------------------------------------------------

    def validate(self, raw_body: dict[str, Any]) -> CreatePlan:
        body = strip_nulls(raw_body)
        content = body.get("content")
        if content is None:
            raise missing("content")
        if not isinstance(content, list) or not content:
            raise invalid("content", "content must be a non-empty array")
        plan = CreatePlan(info=self.info, endpoint=self.endpoint, mode=Mode.TEXT)
        items = self._classify(content, plan)
        self._common(body, plan)
        if plan.mode is Mode.DRAFT_FINAL:
            self._final(body, plan, items["draft_task"][0][1])
        else:
            self._generation(body, plan)
        self._markers(plan)
        return plan

    # ---- content -----------------------------------------------------------------------------

    def _classify(self, content: list[Any], plan: CreatePlan) -> dict[str, list[tuple[int, dict[str, Any]]]]:
        groups: dict[str, list[tuple[int, dict[str, Any]]]] = {
            "text": [], "image_url": [], "video_url": [], "audio_url": [], "draft_task": [],
        }
        for i, item in enumerate(content):
            if not isinstance(item, dict):
                raise invalid("content", f"content[{i}] must be an object")
            kind = item.get("type")
            if kind not in groups:
                raise invalid("content", f"content[{i}].type {kind!r} is not supported")
            groups[kind].append((i, item))
        info = self.info
        if groups["draft_task"]:
            others = [k for k in ("image_url", "video_url", "audio_url") if groups[k]]
            if len(groups["draft_task"]) > 1 or others:
                raise invalid("content", "draft_task cannot be combined with other media contents")
            plan.mode = Mode.DRAFT_FINAL
            if Mode.DRAFT_FINAL not in info.modes:
                raise invalid("content", f"model {info.id} does not support draft_task")
            return groups
        if len(groups["text"]) > 1:
            raise invalid("content", "only one text content is allowed")
        for _, item in groups["text"]:
            text = item.get("text")
            if not isinstance(text, str):
                raise invalid("content", "text content must have a string `text`")
            plan.text = text
        images = groups["image_url"]
        media = groups["video_url"] + groups["audio_url"]
        if media and info.series != "2.0":
            raise invalid("content", f"model {info.id} does not support video or audio contents")
        roles = [item.get("role") for _, item in images]
        if (len(images) > 1 or media) and images and any(r is None for r in roles):
            raise invalid("content", "role must be specified for image contents")
        for (i, _), role in zip(images, roles, strict=True):
            if role not in (None, "first_frame", "last_frame", "reference_image"):
                raise invalid("content", f"content[{i}].role {role!r} is not a valid image role")
        for kind in ("video_url", "audio_url"):
            want = "reference_video" if kind == "video_url" else "reference_audio"
            for i, item in groups[kind]:
                if item.get("role", want) != want:
                    raise invalid("content", f"content[{i}].role must be {want}")
        if media or "reference_image" in roles:
            if any(r != "reference_image" for r in roles):
                raise invalid("content",
                              "reference contents cannot be combined with first_frame/last_frame images")
            plan.mode = Mode.REFERENCE
        elif "last_frame" in roles:
            if roles.count("first_frame") != 1 or roles.count("last_frame") != 1 or len(roles) != 2:
                raise invalid("content",
                              "first and last frame mode needs exactly one first_frame and one last_frame")
            plan.mode = Mode.FIRST_LAST
        elif images:
            if len(images) != 1:
                raise invalid("content", "first frame mode accepts exactly one image")
            plan.mode = Mode.FIRST_FRAME
        elif not plan.text.strip():
            raise invalid("content", "a text prompt is required when no image is given")
        if plan.mode not in info.modes:
            raise invalid("content", f"model {info.id} does not support the {plan.mode.value} mode")
        if plan.mode is Mode.REFERENCE:
            n = len(images)
            if n > info.max_reference_images or (info.series != "2.0" and n < 1):
                raise invalid("content",
                              f"model {info.id} accepts 1-{info.max_reference_images} reference images")
            for kind, cap in MAX_MEDIA.items():
                if len(groups[kind]) > cap:
                    raise invalid("content", f"at most {cap} {kind} contents are allowed")
            if groups["audio_url"] and not (images or groups["video_url"]):
                raise invalid("content", "audio contents must accompany at least one image or video")
            plan.videos = len(groups["video_url"])
            plan.audios = len(groups["audio_url"])
            for kind in ("video_url", "audio_url"):
                for i, item in groups[kind]:
                    found = self._check_media_url(i, kind, item)
                    if found is not None:
                        plan.media.append(found)
            for kind in ("video_url", "audio_url"):
                total = sum(m["seconds"] for m in plan.media if m["kind"] == kind)
                if round(total, 1) > REF_TOTAL_SECONDS:
                    raise invalid("content", f"the total duration of the {kind} contents is {total:.1f}s; "
                                             f"it must be at most {REF_TOTAL_SECONDS:g}s")
        for i, item in images:
            role = item.get("role") or "first_frame"
            plan.images.append(self._check_image(i, item, role))
        return groups

    def _check_media_url(self, index: int, kind: str, item: dict[str, Any]) -> dict[str, Any] | None:
        """Fetch a reference video/audio like the service does and check it (ark-api.md §5.4)."""
        url = (item.get(kind) or {}).get("url") if isinstance(item.get(kind), dict) else None
        if not isinstance(url, str) or not url:
            raise invalid("content", f"content[{index}].{kind}.url is required")
        if url.startswith("asset://"):
            return None
        limit = REF_VIDEO_MAX_BYTES if kind == "video_url" else REF_AUDIO_MAX_BYTES
        if kind == "audio_url" and url.startswith("data:audio/"):
            m = re.match(r"data:audio/([A-Za-z0-9.+-]+);base64,", url)
            try:
                data = base64.b64decode(url[m.end():], validate=True) if m else b""
            except (binascii.Error, ValueError):
                data = b""
            if not data:
                raise invalid("content",
                              f"content[{index}].audio_url.url is not a valid data:audio/<format>;base64 URL")
        elif url.startswith(("http://", "https://")):
            data = self._fetch(index, kind, url, limit=limit)
        else:
            raise invalid("content", f"content[{index}].{kind}.url must be a public URL or asset:// ID")
        if len(data) > limit:
            raise invalid("content", f"{kind} content[{index}] must be at most {limit // 1_000_000} MB")
        found = _probe_media(index, kind, data)
        found.update({"index": index, "kind": kind, "url": url, "bytes": len(data)})
        return found

    def _check_image(self, index: int, item: dict[str, Any], role: str) -> ImageRef:
        holder = item.get("image_url")
        url = holder.get("url") if isinstance(holder, dict) else None
        if not isinstance(url, str) or not url:
            raise invalid("content", f"content[{index}].image_url.url is required")
        ref = ImageRef(index=index, url=url[:80], role=role)
        heif_ok = self.info.series in ("1.5", "2.0")
        if url.startswith("asset://"):
            if self.info.series != "2.0":
                raise invalid("content", f"model {self.info.id} does not support asset:// images")
            return ref
        if url.startswith("data:"):
            m = re.match(r"data:image/([A-Za-z0-9.+-]+);base64,", url)
            if not m:
                raise invalid("content",
                              f"content[{index}].image_url.url is not a valid data:image/<format>;base64 URL")
            fmt = m.group(1)
            if fmt != fmt.lower() or (fmt not in IMAGE_FORMATS and not (heif_ok and fmt in HEIF_FORMATS)):
                raise invalid("content", f"image format {fmt!r} of content[{index}] is not supported")
            try:
                data = base64.b64decode(url[m.end():], validate=True)
            except (binascii.Error, ValueError):
                raise invalid("content", f"content[{index}].image_url.url is not valid base64") from None
            if fmt in HEIF_FORMATS:
                self._check_bytes(index, data, decode=False)
                return ref
            ref.width, ref.height = self._check_bytes(index, data, decode=True)
            return ref
        if url.startswith(("http://", "https://")):
            data = self._fetch(index, "image_url", url)
            ref.width, ref.height = self._check_bytes(index, data, decode=True)
            return ref
        raise invalid("content", f"content[{index}].image_url.url must be http(s), data: or asset://")

    def _fetch(self, index: int, kind: str, url: str, *, limit: int = MAX_IMAGE_BYTES) -> bytes:
        """Download a referenced resource like the service would; failures are the caller's 400."""
        try:
            with requests.Session() as s:
                s.trust_env = False
                r = s.get(url, timeout=self.fetch_timeout, stream=True)
                if r.status_code >= 400:
                    where = f"content[{index}].{kind}.url"
                    raise invalid("content", f"failed to fetch resource {where}: HTTP {r.status_code}")
                data = r.raw.read(limit + 1, decode_content=True)
                r.close()
                return bytes(data)
        except requests.Timeout:
            raise invalid("content", f"timeout while fetching resource content[{index}].{kind}.url") from None
        except requests.RequestException:
            raise invalid(
                "content", f"timeout while fetching resource content[{index}].{kind}.url (connection failed)",
            ) from None

    def _check_bytes(self, index: int, data: bytes, *, decode: bool) -> tuple[int, int]:
        if len(data) >= MAX_IMAGE_BYTES:
            raise invalid("content", f"image content[{index}] must be smaller than 30 MB")
        if not decode:
            return (0, 0)
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt = (img.format or "").lower()
                w, h = img.size
        except Exception:
            raise invalid("content", f"image content[{index}] cannot be decoded") from None
        if fmt == "mpo":  # multi-picture JPEG (phone cameras)
            fmt = "jpeg"
        if fmt not in IMAGE_FORMATS:
            raise invalid("content", f"image format {fmt!r} of content[{index}] is not supported")
        if not (300 < w < 6000 and 300 < h < 6000):
            raise invalid("content",
                          f"image content[{index}] is {w}x{h}; each side must be in (300, 6000) px")
        if not 0.4 < w / h < 2.5:
            raise invalid("content", f"image content[{index}] aspect ratio {w / h:.3f} must be in (0.4, 2.5)")
        return w, h

    # ---- parameters --------------------------------------------------------------------------

    def _common(self, body: dict[str, Any], plan: CreatePlan) -> None:
        """Parameters that mean the same for finals and fresh generations."""
        info = self.info
        tier = _str(body, "service_tier")
        if tier is not None:
            if tier not in ("default", "flex"):
                raise invalid("service_tier", f"{tier!r} is not one of default, flex")
            if tier == "flex" and not info.flex:
                raise invalid("service_tier", f"model {info.id} does not support the flex service tier")
            plan.service_tier = tier
        eaa = _int(body, "execution_expires_after")
        if eaa is not None:
            if not EXPIRES_RANGE[0] <= eaa <= EXPIRES_RANGE[1]:
                raise invalid("execution_expires_after", f"{eaa} is out of range [3600, 259200]")
            plan.execution_expires_after = eaa
        plan.watermark = bool(_bool(body, "watermark"))
        plan.return_last_frame = bool(_bool(body, "return_last_frame"))
        cb = _str(body, "callback_url")
        if cb is not None:
            if not cb.startswith(("http://", "https://")):
                raise invalid("callback_url", "callback_url must be an http(s) URL")
            plan.callback_url = cb
        sid = _str(body, "safety_identifier")
        if sid is not None:
            if len(sid) > 64:
                raise invalid("safety_identifier", "safety_identifier must be at most 64 characters")
            plan.safety_identifier = sid
        priority = _int(body, "priority")
        if priority is not None:
            if not 0 <= priority <= 9:
                raise invalid("priority", f"{priority} is out of range [0, 9]")
            if priority and info.series != "2.0":
                raise invalid("priority", f"model {info.id} does not support priority")
            if priority and plan.service_tier == "flex":
                raise invalid("priority", "priority cannot be used with the flex service tier")
        if info.series == "2.0":
            plan.priority = priority or 0
        tools = body.get("tools")
        if tools is not None:
            if info.series != "2.0":
                raise invalid("tools", f"model {info.id} does not support tools")
            if not isinstance(tools, list) or any(
                not isinstance(t, dict) or t.get("type") != "web_search" for t in tools
            ):
                raise invalid("tools", "tools must be a list of {\"type\": \"web_search\"}")
            plan.tools = tools
        res = _str(body, "resolution")
        if res is not None:
            self._resolution(res, plan)

    def _resolution(self, res: str, plan: CreatePlan, param: str = "resolution") -> str:
        info = self.info
        if res not in info.resolutions:
            allowed = ", ".join(info.resolutions)
            raise invalid(param, f"{res!r} is not supported by model {info.id} (allowed: {allowed})")
        if plan.mode is Mode.REFERENCE and info.series == "1.0" and res == "1080p":
            raise invalid(param, "1080p is not supported with reference images")
        return res

    def _final(self, body: dict[str, Any], plan: CreatePlan, item: dict[str, Any]) -> None:
        holder = item.get("draft_task")
        draft_id = holder.get("id") if isinstance(holder, dict) else None
        if not isinstance(draft_id, str) or not draft_id:
            raise invalid("content", "draft_task.id is required")
        if _bool(body, "draft"):
            raise invalid("draft", "a draft_task cannot itself be rendered as a draft")
        ref = self.draft_lookup(draft_id)
        if ref is None or ref.plan is None:
            raise not_found("draft_task.id", f"draft task {draft_id}")
        if not ref.draft:
            raise invalid("content", f"task {draft_id} is not a draft task")
        if ref.status != "succeeded":
            raise invalid("content", f"draft task {draft_id} has status {ref.status}, not succeeded")
        if ref.model != self.info.id:
            raise invalid("model", f"the draft task {draft_id} was made with model {ref.model}")
        src = ref.plan
        plan.text, plan.images = src.text, list(src.images)
        plan.generate_audio, plan.seed, plan.ratio = src.generate_audio, src.seed, src.ratio
        plan.duration, plan.frames, plan.camera_fixed = src.duration, src.frames, src.camera_fixed
        plan.fail_video, plan.fail_audio = MARK_FAIL_VIDEO in src.text, MARK_FAIL_AUDIO in src.text
        plan.draft_task_id = draft_id
        res = _str(body, "resolution")
        plan.resolution = res if res is not None else self.info.default_resolution

    def _generation(self, body: dict[str, Any], plan: CreatePlan) -> None:
        info = self.info
        given: dict[str, Any] = {}
        for key, getter in (
            ("resolution", _str), ("ratio", _str), ("duration", _int), ("frames", _int), ("seed", _int),
            ("camera_fixed", _bool), ("generate_audio", _bool), ("draft", _bool),
        ):
            value = getter(body, key)
            if value is not None:
                given[key] = value
        # Strong validation of body values.
        draft = bool(given.get("draft"))
        if draft:
            if not info.draft:
                raise invalid("draft", f"model {info.id} does not support draft")
            if "resolution" in given and given["resolution"] != "480p":
                raise invalid("resolution", "draft mode only supports 480p")
            if plan.return_last_frame:
                raise invalid("return_last_frame", "return_last_frame is not supported in draft mode")
            if plan.service_tier == "flex":
                raise invalid("service_tier", "the flex service tier is not supported in draft mode")
        plan.draft = draft
        checks: dict[str, Callable[[Any, str], Any]] = {
            "resolution": lambda v, p: self._resolution(v, plan, p),
            "ratio": self._ratio, "duration": self._duration, "frames": self._frames, "seed": self._seed,
            "camera_fixed": lambda v, p: self._camera_fixed(v, p, plan), "generate_audio": self._audio,
        }
        values: dict[str, Any] = {}
        for key, value in given.items():
            if key in checks:
                values[key] = checks[key](value, key)
        # Weak validation of legacy text flags: ignored when unusable or given in the body.
        for key, raw in parse_flags(plan.text).items():
            if key in values or key not in checks or (draft and key == "resolution"):
                continue
            try:
                values[key] = checks[key](_flag_value(key, raw), key)
            except (ValueError, ApiError):
                continue
        plan.resolution = values.get("resolution") or ("480p" if draft else info.default_resolution)
        frames = values.get("frames")
        if frames is not None:
            plan.frames, plan.duration = frames, None
        else:
            duration = values.get("duration", 5)
            plan.duration = 5 if duration == -1 else duration
        plan.ratio = self._resolve_ratio(values.get("ratio"), plan)
        if info.seed:
            plan.seed = values.get("seed", -1)
        plan.camera_fixed = bool(values.get("camera_fixed", False))
        plan.generate_audio = values.get("generate_audio", True) if info.audio else None

    def _ratio(self, value: Any, param: str) -> str:
        if value not in ALL_RATIOS:
            raise invalid(param, f"{value!r} is not one of {', '.join(ALL_RATIOS)}")
        return str(value)

    def _duration(self, value: Any, param: str) -> int:
        lo, hi = self.info.durations
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(param, f"expected an integer, got {value!r}")
        if not (lo <= value <= hi or (value == -1 and self.info.auto_duration)):
            raise invalid(param, f"{value} is not supported by model {self.info.id} "
                                 f"(allowed: {self.info.allowed_durations_text()})")
        return value

    def _frames(self, value: Any, param: str) -> int:
        if not self.info.frames:
            raise invalid(param, f"model {self.info.id} does not support frames")
        if not (29 <= value <= 289 and (value - 25) % 4 == 0):
            raise invalid(param, f"{value} must be in [29, 289] and of the form 25+4n")
        return int(value)

    def _seed(self, value: Any, param: str) -> int:
        if not -1 <= value <= SEED_MAX:
            raise invalid(param, f"{value} is out of range [-1, {SEED_MAX}]")
        if value != -1 and not self.info.seed:
            raise invalid(param, f"model {self.info.id} does not support seed")
        return int(value)

    def _camera_fixed(self, value: Any, param: str, plan: CreatePlan) -> bool:
        if value and not self.info.camera_fixed:
            raise invalid(param, f"model {self.info.id} does not support camera_fixed")
        if value and plan.mode is Mode.REFERENCE:
            raise invalid(param, "camera_fixed is not supported with reference images")
        return bool(value)

    def _audio(self, value: Any, param: str) -> bool:
        if value and not self.info.audio:
            raise invalid(param, f"model {self.info.id} does not support generate_audio")
        return bool(value)

    def _resolve_ratio(self, ratio: str | None, plan: CreatePlan) -> str:
        """`adaptive` (explicit or default) becomes the ratio nearest the first image, else 16:9."""
        info = self.info
        if ratio is None:
            i2v = plan.mode in (Mode.FIRST_FRAME, Mode.FIRST_LAST)
            ratio = "adaptive" if info.series in ("1.5", "2.0") or i2v else "16:9"
        if ratio != "adaptive":
            return ratio
        first = next((i for i in plan.images if i.width and i.height), None)
        if first is None or first.width is None or first.height is None:
            return "16:9"
        return nearest_ratio(first.width, first.height)

    def _markers(self, plan: CreatePlan) -> None:
        text = plan.text
        if MARK_SENSITIVE in text:
            raise ApiError(400, "InputTextSensitiveContentDetected",
                           "The request failed because the input text may contain sensitive information")
        if MARK_REALPERSON in text:
            where = f"content[{plan.images[0].index}]" if plan.images else "content[1]"
            raise ApiError(400, "InputImageSensitiveContentDetected.PrivacyInformation",
                           f"The request failed because the input image '{where}' may contain real person")
        plan.fail_video = plan.fail_video or MARK_FAIL_VIDEO in text
        plan.fail_audio = plan.fail_audio or MARK_FAIL_AUDIO in text
        m = _MARK_MINBYTES.search(text)
        if m:
            plan.min_bytes = int(m.group(1))


def _probe_media(index: int, kind: str, data: bytes) -> dict[str, Any]:
    """Read a fetched reference video/audio with PyAV and check it against ark-api.md §5.4."""
    import av  # deferred: PyAV (FFmpeg) is heavy and only creates with video/audio references need it

    where = f"{kind.split('_')[0]} content[{index}]"
    try:
        container = av.open(io.BytesIO(data))
    except Exception:
        raise invalid("content", f"{where} cannot be decoded") from None
    with container:
        names = set((container.format.name or "").split(","))
        if kind == "video_url":
            if not container.streams.video or not names & {"mp4", "mov"}:
                raise invalid("content", f"{where} must be an mp4 or mov video")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in ("h264", "hevc"):
                raise invalid("content", f"{where} must be H.264 or H.265 encoded, not {codec}")
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
        else:
            if not container.streams.audio or not names & {"wav", "mp3"}:
                raise invalid("content", f"{where} must be a wav or mp3 audio")
            stream = container.streams.audio[0]
            width = height = 0
            fps = 0.0
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        else:
            seconds = (container.duration or 0) / 1_000_000
    lo, hi = REF_CLIP_SECONDS
    if not lo <= round(seconds, 1) <= hi:
        raise invalid("content", f"{where} lasts {seconds:.1f}s; it must be {lo:g}-{hi:g}s")
    if kind == "video_url":
        s_lo, s_hi = REF_VIDEO_SIDES
        p_lo, p_hi = REF_VIDEO_PIXELS
        a_lo, a_hi = REF_VIDEO_ASPECT
        f_lo, f_hi = REF_VIDEO_FPS
        if not (s_lo <= width <= s_hi and s_lo <= height <= s_hi and p_lo <= width * height <= p_hi):
            raise invalid("content", f"{where} is {width}x{height}; sides must be in [{s_lo}, {s_hi}] and "
                                     f"pixels in [{p_lo}, {p_hi}]")
        if not a_lo <= width / height <= a_hi:
            raise invalid("content", f"{where} aspect ratio {width / height:.3f} must be in [{a_lo}, {a_hi}]")
        if not f_lo <= round(fps) <= f_hi:
            raise invalid("content", f"{where} has {fps:.2f} fps; it must be {f_lo}-{f_hi}")
    return {"seconds": seconds, "width": width, "height": height, "fps": fps}
