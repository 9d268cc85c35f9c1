"""The Seedance model catalogue: one table of what each model can do.

Sources: `shared/reference/ark-api.md` §5 (capability matrix, pixel sizes,
typical generation times) and the seed skill's model list. The seed's IDs
(`seedance-1-0-pro-250428`, `...-250219`) are not confirmed by any official
source, so they are kept as *aliases* of the current IDs rather than dropped.

The catalogue is data plus small pure helpers; validation of a whole request
lives in `bot.spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Mode(StrEnum):
    """The generation scenarios; first-frame, first+last and reference are mutually exclusive."""

    TEXT = "text"
    FIRST_FRAME = "first_frame"
    FIRST_LAST = "first_last"
    REFERENCE = "reference"
    DRAFT_FINAL = "draft_final"  # render the final video from a draft task


RATIOS: tuple[str, ...] = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
ALL_RATIOS: tuple[str, ...] = (*RATIOS, "adaptive")
RESOLUTIONS: tuple[str, ...] = ("480p", "720p", "1080p", "4k")
FPS = 24

# Reference videos and audios (Seedance 2.0 series; ark-api.md §2.2 and §5.4). Byte limits in
# decimal megabytes (the stricter reading of "200 MB" / "15 MB"); lengths compared at 0.1 s,
# frame rates at whole frames per second (a 23.976 fps clip counts as 24).
REF_CLIP_SECONDS = (2.0, 15.0)  # each video, each audio
REF_TOTAL_SECONDS = 15.0  # all videos together; all audios together
REF_VIDEO_MAX_BYTES = 200_000_000
REF_AUDIO_MAX_BYTES = 15_000_000
REF_VIDEO_SIDES = (300, 6000)  # each side, inclusive
REF_VIDEO_PIXELS = (409_600, 8_295_044)  # W×H, inclusive
REF_VIDEO_ASPECT = (0.4, 2.5)  # W/H, inclusive
REF_VIDEO_FPS = (24, 60)

# Output pixel sizes (W, H) per series, resolution and ratio (ark-api.md §5.3).
_PIXELS_20: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"16:9": (864, 496), "4:3": (752, 560), "1:1": (640, 640), "3:4": (560, 752),
             "9:16": (496, 864), "21:9": (992, 432)},
    "720p": {"16:9": (1280, 720), "4:3": (1112, 834), "1:1": (960, 960), "3:4": (834, 1112),
             "9:16": (720, 1280), "21:9": (1470, 630)},
    "1080p": {"16:9": (1920, 1080), "4:3": (1664, 1248), "1:1": (1440, 1440), "3:4": (1248, 1664),
              "9:16": (1080, 1920), "21:9": (2206, 946)},
    "4k": {"16:9": (3840, 2160), "4:3": (3326, 2494), "1:1": (2880, 2880), "3:4": (2494, 3326),
           "9:16": (2160, 3840), "21:9": (4398, 1886)},
}
_PIXELS_15 = {k: v for k, v in _PIXELS_20.items() if k != "4k"}
_PIXELS_10: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"16:9": (864, 480), "4:3": (736, 544), "1:1": (640, 640), "3:4": (544, 736),
             "9:16": (480, 864), "21:9": (960, 416)},
    "720p": {"16:9": (1248, 704), "4:3": (1120, 832), "1:1": (960, 960), "3:4": (832, 1120),
             "9:16": (704, 1248), "21:9": (1504, 640)},
    "1080p": {"16:9": (1920, 1088), "4:3": (1664, 1248), "1:1": (1440, 1440), "3:4": (1248, 1664),
              "9:16": (1088, 1920), "21:9": (2176, 928)},
}
PIXELS: dict[str, dict[str, dict[str, tuple[int, int]]]] = {
    "2.0": _PIXELS_20, "1.5": _PIXELS_15, "1.0": _PIXELS_10,
}


@dataclass(frozen=True)
class ModelInfo:
    """What one model can do. `id` is the BytePlus model ID sent to the API."""

    id: str
    name: str
    series: str  # "1.0" | "1.5" | "2.0": selects the pixel table
    modes: frozenset[Mode]
    durations: tuple[int, int]  # inclusive range in seconds
    auto_duration: bool  # accepts duration -1 (the model picks)
    resolutions: tuple[str, ...]
    default_resolution: str  # the service's own default
    max_reference_images: int = 0
    max_reference_videos: int = 0  # reference videos (`video_url`, 2.0 series: 0-3)
    max_reference_audios: int = 0  # reference audios (`audio_url`, 2.0 series: 0-3)
    audio: bool = False
    draft: bool = False
    flex: bool = True
    seed: bool = True
    camera_fixed: bool = True
    frames: bool = False
    # Typical generation time (seconds) for a 10-second clip, per resolution
    # (ComfyUI's estimates, ark-api.md §5.5); scales linearly with duration.
    seconds_per_10s: dict[str, float] = field(default_factory=dict)
    volcengine_id: str | None = None
    aliases: tuple[str, ...] = ()  # other names users or old docs use for this model
    # USD per million output tokens (third-party price lists; estimates only).
    usd_per_mtok: float = 0.0
    usd_per_mtok_audio: float | None = None
    retired: bool = False  # absent from current docs; kept so old IDs still resolve

    @property
    def media_references(self) -> bool:
        """Takes reference videos and audios (with or without reference images)."""
        return bool(self.max_reference_videos or self.max_reference_audios)

    @property
    def image_modes(self) -> bool:
        return bool(self.modes & {Mode.FIRST_FRAME, Mode.FIRST_LAST, Mode.REFERENCE})

    def pixel_size(self, resolution: str, ratio: str) -> tuple[int, int] | None:
        """Output W×H, or None for `adaptive` (decided by the service)."""
        return PIXELS[self.series].get(resolution, {}).get(ratio)

    def expected_seconds(self, resolution: str, duration: int) -> float:
        """Typical time from `running` to `succeeded` for this clip."""
        per10 = self.seconds_per_10s.get(resolution) or max(self.seconds_per_10s.values(), default=90.0)
        seconds = 8 if duration == -1 else duration
        return per10 * seconds / 10.0

    def allowed_durations_text(self) -> str:
        lo, hi = self.durations
        return f"{lo}-{hi}" + (" or -1 (auto)" if self.auto_duration else "")


_T2V_I2V = frozenset({Mode.TEXT, Mode.FIRST_FRAME, Mode.FIRST_LAST})

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="seedance-1-5-pro-251215", name="Seedance 1.5 Pro", series="1.5",
        modes=_T2V_I2V | {Mode.DRAFT_FINAL}, durations=(4, 12), auto_duration=True,
        resolutions=("480p", "720p", "1080p"), default_resolution="720p",
        audio=True, draft=True, seconds_per_10s={"480p": 80, "720p": 100, "1080p": 150},
        volcengine_id="doubao-seedance-1-5-pro-251215", aliases=("1.5-pro", "1.5pro", "1.5", "pro-1.5"),
        usd_per_mtok=1.2, usd_per_mtok_audio=2.4,
    ),
    ModelInfo(
        id="seedance-1-0-pro-250528", name="Seedance 1.0 Pro", series="1.0",
        modes=_T2V_I2V, durations=(2, 12), auto_duration=False,
        resolutions=("480p", "720p", "1080p"), default_resolution="1080p", frames=True,
        seconds_per_10s={"480p": 70, "720p": 85, "1080p": 115},
        volcengine_id="doubao-seedance-1-0-pro-250528",
        aliases=("seedance-1-0-pro-250428", "1.0-pro", "1.0pro", "pro-1.0"), usd_per_mtok=2.5,
    ),
    ModelInfo(
        id="seedance-1-0-pro-fast-251015", name="Seedance 1.0 Pro Fast", series="1.0",
        modes=frozenset({Mode.TEXT, Mode.FIRST_FRAME}), durations=(2, 12), auto_duration=False,
        resolutions=("480p", "720p", "1080p"), default_resolution="1080p", frames=True,
        seconds_per_10s={"480p": 50, "720p": 65, "1080p": 100},
        volcengine_id="doubao-seedance-1-0-pro-fast-251015",
        aliases=("seedance-1-0-pro-fast-250528", "1.0-pro-fast", "pro-fast", "fast-1.0"), usd_per_mtok=1.0,
    ),
    ModelInfo(
        id="seedance-1-0-lite-t2v-250428", name="Seedance 1.0 Lite T2V", series="1.0",
        modes=frozenset({Mode.TEXT}), durations=(2, 12), auto_duration=False,
        resolutions=("480p", "720p", "1080p"), default_resolution="720p", frames=True,
        seconds_per_10s={"480p": 40, "720p": 60, "1080p": 90},
        volcengine_id="doubao-seedance-1-0-lite-t2v-250428",
        aliases=("seedance-1-0-lite-t2v-250219", "lite-t2v", "1.0-lite-t2v"), usd_per_mtok=1.8, retired=True,
    ),
    ModelInfo(
        id="seedance-1-0-lite-i2v-250428", name="Seedance 1.0 Lite I2V", series="1.0",
        modes=frozenset({Mode.FIRST_FRAME, Mode.FIRST_LAST, Mode.REFERENCE}), durations=(2, 12),
        auto_duration=False, resolutions=("480p", "720p", "1080p"), default_resolution="720p",
        max_reference_images=4, frames=True, seconds_per_10s={"480p": 40, "720p": 60, "1080p": 90},
        volcengine_id="doubao-seedance-1-0-lite-i2v-250428",
        aliases=("seedance-1-0-lite-i2v-250219", "lite-i2v", "1.0-lite-i2v", "lite"), usd_per_mtok=1.8,
        retired=True,
    ),
    ModelInfo(
        id="dreamina-seedance-2-0-260128", name="Seedance 2.0", series="2.0",
        modes=_T2V_I2V | {Mode.REFERENCE}, durations=(4, 15), auto_duration=True,
        resolutions=("480p", "720p", "1080p", "4k"), default_resolution="720p",
        max_reference_images=9, max_reference_videos=3, max_reference_audios=3,
        audio=True, flex=False, seed=False, camera_fixed=False,
        seconds_per_10s={"480p": 90, "720p": 120, "1080p": 180, "4k": 300},
        volcengine_id="doubao-seedance-2-0-260128", aliases=("2.0", "seedance-2.0"), usd_per_mtok=7.0,
    ),
    ModelInfo(
        id="dreamina-seedance-2-0-fast-260128", name="Seedance 2.0 Fast", series="2.0",
        modes=_T2V_I2V | {Mode.REFERENCE}, durations=(4, 15), auto_duration=True,
        resolutions=("480p", "720p"), default_resolution="720p",
        max_reference_images=9, max_reference_videos=3, max_reference_audios=3,
        audio=True, flex=False, seed=False, camera_fixed=False,
        seconds_per_10s={"480p": 60, "720p": 90},
        volcengine_id="doubao-seedance-2-0-fast-260128", aliases=("2.0-fast", "fast"), usd_per_mtok=5.6,
    ),
    ModelInfo(
        id="dreamina-seedance-2-0-mini-260615", name="Seedance 2.0 Mini", series="2.0",
        modes=_T2V_I2V | {Mode.REFERENCE}, durations=(4, 15), auto_duration=True,
        resolutions=("480p", "720p"), default_resolution="720p",
        max_reference_images=9, max_reference_videos=3, max_reference_audios=3,
        audio=True, flex=False, seed=False, camera_fixed=False,
        seconds_per_10s={"480p": 45, "720p": 70},
        volcengine_id="doubao-seedance-2-0-mini-260615", aliases=("2.0-mini", "mini"), usd_per_mtok=5.6,
    ),
)

_BY_NAME: dict[str, ModelInfo] = {}
for _m in MODELS:
    for _name in (_m.id, _m.volcengine_id, *_m.aliases):
        if _name:
            _BY_NAME[_name.lower()] = _m


@dataclass(frozen=True)
class ModelLookup:
    """The result of resolving what a user typed as a model name."""

    requested: str
    model_id: str  # what is sent to the API
    info: ModelInfo | None  # None: unknown to the catalogue, passed through
    alias_of: str | None = None  # set when `requested` was an alias that was rewritten


def lookup(name: str) -> ModelLookup:
    """Resolve a model ID, a Volcengine ID or an alias; unknown names pass through."""
    key = name.strip()
    info = _BY_NAME.get(key.lower())
    if info is None:
        return ModelLookup(requested=key, model_id=key, info=None)
    if key.lower() == info.id.lower():
        return ModelLookup(requested=key, model_id=info.id, info=info)
    if info.volcengine_id and key.lower() == info.volcengine_id.lower():
        return ModelLookup(requested=key, model_id=info.volcengine_id, info=info)
    return ModelLookup(requested=key, model_id=info.id, info=info, alias_of=info.id)


def get(model_id: str) -> ModelInfo | None:
    """The catalogue entry for an ID or alias, or None."""
    return _BY_NAME.get(model_id.strip().lower())


def nearest_ratio(width: int, height: int) -> str:
    """The supported ratio closest to an image's aspect (what `adaptive` does for I2V)."""
    aspect = width / height

    def distance(r: str) -> float:
        a, b = (int(x) for x in r.split(":"))
        return abs(aspect - a / b)

    return min(RATIOS, key=distance)


def video_tokens(width: int, height: int, duration: int, fps: int = FPS) -> int:
    """Billed output tokens: W×H×(fps·d+1)/1024 (fits the official examples, ark-api.md §5.5)."""
    return (width * height * (fps * duration + 1)) // 1024


def estimate_usd(info: ModelInfo, tokens: int, audio: bool, flex: bool) -> float:
    rate = info.usd_per_mtok_audio if (audio and info.usd_per_mtok_audio) else info.usd_per_mtok
    if flex:
        rate /= 2
    return tokens / 1_000_000 * rate
