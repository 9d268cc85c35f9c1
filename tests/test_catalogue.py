"""The model catalogue: lookups, pixel sizes, expected times and tokens (ark-api.md §5)."""

from __future__ import annotations

import pytest

from bot import catalogue
from bot.catalogue import MODELS, Mode, lookup, nearest_ratio, video_tokens


def test_every_model_reachable_by_id_and_volcengine_id() -> None:
    for m in MODELS:
        assert catalogue.get(m.id) is m
        assert lookup(m.id).model_id == m.id
        assert lookup(m.id).alias_of is None
        assert m.volcengine_id is not None
        found = lookup(m.volcengine_id)
        assert found.info is m
        assert found.model_id == m.volcengine_id  # sent as typed: the user may be on Volcengine
        assert found.alias_of is None


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("seedance-1-0-pro-250428", "seedance-1-0-pro-250528"),  # the seed's unconfirmed IDs
        ("seedance-1-0-pro-fast-250528", "seedance-1-0-pro-fast-251015"),
        ("seedance-1-0-lite-t2v-250219", "seedance-1-0-lite-t2v-250428"),
        ("seedance-1-0-lite-i2v-250219", "seedance-1-0-lite-i2v-250428"),
        ("1.5-pro", "seedance-1-5-pro-251215"),
        ("2.0", "dreamina-seedance-2-0-260128"),
        ("mini", "dreamina-seedance-2-0-mini-260615"),
    ],
)
def test_aliases_rewrite_to_current_id(alias: str, canonical: str) -> None:
    found = lookup(alias)
    assert found.model_id == canonical
    assert found.alias_of == canonical
    assert found.requested == alias


def test_lookup_is_case_insensitive_and_canonicalises() -> None:
    found = lookup("  SEEDANCE-1-5-PRO-251215 ")
    assert found.model_id == "seedance-1-5-pro-251215"
    assert found.alias_of is None


def test_unknown_model_passes_through() -> None:
    found = lookup("ep-20260101-abcde")
    assert found.info is None
    assert found.model_id == "ep-20260101-abcde"
    assert catalogue.get("nope") is None


def test_seed_model_capabilities() -> None:
    pro15 = catalogue.get("seedance-1-5-pro-251215")
    assert pro15 is not None
    assert pro15.audio and pro15.draft and pro15.auto_duration
    assert pro15.durations == (4, 12)
    assert Mode.DRAFT_FINAL in pro15.modes and Mode.REFERENCE not in pro15.modes
    fast = catalogue.get("seedance-1-0-pro-fast-251015")
    assert fast is not None and Mode.FIRST_LAST not in fast.modes
    lite_t2v = catalogue.get("seedance-1-0-lite-t2v-250428")
    assert lite_t2v is not None and lite_t2v.modes == frozenset({Mode.TEXT})
    lite_i2v = catalogue.get("seedance-1-0-lite-i2v-250428")
    assert lite_i2v is not None and lite_i2v.max_reference_images == 4 and Mode.TEXT not in lite_i2v.modes
    two = catalogue.get("dreamina-seedance-2-0-260128")
    assert two is not None and not two.flex and not two.seed and not two.camera_fixed
    assert "4k" in two.resolutions


@pytest.mark.parametrize(
    ("model", "res", "ratio", "size"),
    [
        ("seedance-1-5-pro-251215", "480p", "16:9", (864, 496)),
        ("seedance-1-5-pro-251215", "720p", "16:9", (1280, 720)),
        ("seedance-1-5-pro-251215", "1080p", "9:16", (1080, 1920)),
        ("seedance-1-5-pro-251215", "720p", "21:9", (1470, 630)),
        ("seedance-1-0-pro-250528", "480p", "16:9", (864, 480)),
        ("seedance-1-0-pro-250528", "720p", "16:9", (1248, 704)),
        ("seedance-1-0-pro-250528", "1080p", "16:9", (1920, 1088)),
        ("seedance-1-0-lite-i2v-250428", "720p", "9:16", (704, 1248)),
        ("dreamina-seedance-2-0-260128", "4k", "16:9", (3840, 2160)),
    ],
)
def test_pixel_sizes(model: str, res: str, ratio: str, size: tuple[int, int]) -> None:
    info = catalogue.get(model)
    assert info is not None
    assert info.pixel_size(res, ratio) == size


def test_pixel_size_adaptive_and_unavailable() -> None:
    info = catalogue.get("seedance-1-5-pro-251215")
    assert info is not None
    assert info.pixel_size("720p", "adaptive") is None
    assert info.pixel_size("4k", "16:9") is None  # 4k is 2.0 only


def test_expected_seconds_scale_with_duration() -> None:
    info = catalogue.get("seedance-1-5-pro-251215")
    assert info is not None
    assert info.expected_seconds("720p", 10) == 100
    assert info.expected_seconds("720p", 5) == 50
    assert info.expected_seconds("1080p", 12) == pytest.approx(180)
    assert info.expected_seconds("720p", -1) == 80  # auto duration counted as 8 s
    assert info.expected_seconds("4k", 5) == 75  # unknown resolution → the slowest known


def test_tokens_match_official_examples() -> None:
    assert video_tokens(1280, 720, 5) == 108_900  # V-GET example
    assert video_tokens(1920, 1088, 5) == 246_840


def test_nearest_ratio() -> None:
    assert nearest_ratio(1920, 1080) == "16:9"
    assert nearest_ratio(1000, 1000) == "1:1"
    assert nearest_ratio(1080, 1920) == "9:16"
    assert nearest_ratio(2100, 900) == "21:9"


def test_allowed_durations_text() -> None:
    pro15 = catalogue.get("seedance-1-5-pro-251215")
    pro10 = catalogue.get("seedance-1-0-pro-250528")
    assert pro15 is not None and pro10 is not None
    assert pro15.allowed_durations_text() == "4-12 or -1 (auto)"
    assert pro10.allowed_durations_text() == "2-12"


def test_estimate_usd_flex_halves() -> None:
    info = catalogue.get("seedance-1-5-pro-251215")
    assert info is not None
    full = catalogue.estimate_usd(info, 1_000_000, audio=True, flex=False)
    assert full == pytest.approx(2.4)
    assert catalogue.estimate_usd(info, 1_000_000, audio=True, flex=True) == pytest.approx(1.2)
    assert catalogue.estimate_usd(info, 1_000_000, audio=False, flex=False) == pytest.approx(1.2)
