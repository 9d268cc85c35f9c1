"""Create-attempt fingerprints (bot/engine/fingerprint.py): what makes a task provably ours.

The jittered expiry stays inside Ark's range and never lands a whole minute away from the base
(nor on a whole minute, the values people and scripts send); a seed is drawn only where the
model takes one and the request is not a final; and `classify` is checked over a table of every
field present / absent / mismatching, plus the attempt's time window. Tasks are real
`bot.clients.ark.Task` objects parsed from JSON shaped like Ark's.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bot.clients.ark import Task
from bot.engine.fingerprint import (
    EXPIRES_MAX,
    EXPIRES_MIN,
    JITTER_MAX,
    Fingerprint,
    Match,
    jittered_expiry,
    new_fingerprint,
    user_identifier,
)

BASES = [1, 3599, 3600, 3601, 3659, 3660, 5000, 5399, 21600, 21630, 86400, 172800, 257401, 259140, 259199,
         259200, 259201, 10**7]


@pytest.mark.parametrize("base", BASES)
def test_jittered_expiry_stays_in_range_and_off_the_minute(base: int) -> None:
    clamped = min(max(base, EXPIRES_MIN), EXPIRES_MAX)
    for _ in range(400):
        got = jittered_expiry(base)
        assert EXPIRES_MIN <= got <= EXPIRES_MAX, (base, got)
        moved = abs(got - clamped)
        assert 1 <= moved <= JITTER_MAX, (base, got)
        assert moved % 60, f"{got} is a whole number of minutes away from {clamped}"


@pytest.mark.parametrize("base", BASES)
def test_jittered_expiry_never_lands_on_a_whole_minute(base: int) -> None:
    """Whole minutes (3600, 21600, 86400 ...) are what other clients of the same key send: a
    jittered value equal to one could match a stranger's task (a base of 21630 moved by 30)."""
    for _ in range(2000):
        got = jittered_expiry(base)
        assert got % 60, f"{got} (from {base}) is a whole minute"


def test_jittered_expiry_is_random() -> None:
    assert len({jittered_expiry(21600) for _ in range(50)}) > 40


MODEL = "seedance-1-5-pro-251215"
MODEL_NO_SEED = "dreamina-seedance-2-0-260128"


def body(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": MODEL, "content": [{"type": "text", "text": "a cat"}],
                           "resolution": "720p", "duration": 5}
    out.update(over)
    return out


def fp_of(b: dict[str, Any], user: str = "ou_a") -> Fingerprint:
    return new_fingerprint(b, deployment="cli_app:bot", user=user, default_expires=21600, since=1000.0)


def test_a_seed_is_drawn_for_models_with_seeds() -> None:
    fps = [fp_of(body()) for _ in range(20)]
    assert all(fp.seed is not None and 0 <= fp.seed < 2**32 and fp.seed_is_random for fp in fps)
    assert len({fp.seed for fp in fps}) == 20
    random_seed = fp_of(body(seed=-1))
    assert random_seed.seed is not None and random_seed.seed >= 0 and random_seed.seed_is_random


def test_a_users_seed_is_sent_as_given_and_proves_nothing() -> None:
    fp = fp_of(body(seed=42))
    assert (fp.seed, fp.seed_is_random) == (42, False)


@pytest.mark.parametrize("b", [
    body(model=MODEL_NO_SEED),
    body(model="dreamina-seedance-2-0-fast-260128"),
    body(model="not-a-model"),
    {"model": MODEL, "content": [{"type": "draft_task", "draft_task": {"id": "cgt-20260101000000-abcde"}}]},
    {"model": MODEL, "content": [{"type": "draft_task", "draft_task": {"id": "cgt-20260101000000-abcde"}}],
     "seed": 7},
], ids=["2.0", "2.0-fast", "unknown-model", "final", "final-with-seed"])
def test_no_seed_for_models_without_seeds_nor_for_finals(b: dict[str, Any]) -> None:
    fp = fp_of(b)
    assert fp.seed is None and not fp.seed_is_random
    assert "seed" not in fp.apply(b) or fp.apply(b)["seed"] == b.get("seed")


def test_finals_and_auto_durations_carry_no_duration() -> None:
    final = {"model": MODEL, "content": [{"type": "draft_task", "draft_task": {"id": "cgt-1"}}], "duration": 5}
    assert fp_of(final).duration is None
    assert fp_of(body(duration=-1)).duration is None
    assert fp_of(body(duration=8)).duration == 8


def test_the_fingerprint_goes_into_the_body_and_round_trips() -> None:
    b = body(execution_expires_after=7200, service_tier="flex", draft=True)
    fp = fp_of(b)
    assert abs(fp.expires - 7200) <= JITTER_MAX and fp.expires != 7200
    assert (fp.service_tier, fp.draft, fp.resolution) == ("flex", True, "720p")
    sent = fp.apply(b)
    assert sent["execution_expires_after"] == fp.expires and sent["seed"] == fp.seed
    assert sent["safety_identifier"] == fp.safety_identifier == user_identifier("cli_app:bot", "ou_a")
    assert b.get("seed") is None and "safety_identifier" not in b, "the caller's body is left alone"
    assert Fingerprint.from_json(fp.to_json()) == fp
    assert Fingerprint.from_json("not json") is None and Fingerprint.from_json("[1]") is None
    assert Fingerprint.from_json('{"unknown": 1}') is None
    assert fp_of(body()).expires != 21600 and abs(fp_of(body()).expires - 21600) <= JITTER_MAX


def test_safety_identifiers_are_short_stable_and_per_user() -> None:
    a = user_identifier("app:bot", "ou_a")
    assert a == user_identifier("app:bot", "ou_a") and len(a) <= 64 and "ou_a" not in a
    assert a != user_identifier("app:bot", "ou_b") and a != user_identifier("app:other", "ou_a")


# --- classify -------------------------------------------------------------------------------------------

FP = Fingerprint(expires=21599, seed=123456789, safety_identifier="sid-ours", resolution="720p", duration=5,
                 service_tier="default", draft=False, since=1000.0, seed_is_random=True)
WINDOW = (880.0, 1180.0)
FULL: dict[str, Any] = {
    "execution_expires_after": 21599, "safety_identifier": "sid-ours", "service_tier": "default",
    "draft": False, "seed": 123456789, "resolution": "720p", "duration": 5,
}
OTHER: dict[str, Any] = {
    "execution_expires_after": 21600, "safety_identifier": "sid-theirs", "service_tier": "flex",
    "draft": True, "seed": 123456790, "resolution": "1080p", "duration": 4,
}


def task(fields: dict[str, Any], created_at: int | None = 1000) -> Task:
    obj: dict[str, Any] = {"id": "cgt-20260101000000-abcde", "model": MODEL, "status": "queued", **fields}
    if created_at is not None:
        obj["created_at"] = created_at
    return Task.from_json(obj)


def expected(fields: dict[str, Any], fp: Fingerprint = FP) -> Match:
    """The rule: any field shown with another value → not ours; else ours when a random value shows."""
    if any(fields.get(k) is not None and fields[k] != FULL[k] for k in FULL):
        return Match.NOT_OURS
    shows_random = fields.get("execution_expires_after") is not None or (
        fp.seed_is_random and fields.get("seed") is not None)
    return Match.OURS if shows_random else Match.UNKNOWN


def test_classify_over_every_field_present_absent_or_mismatching() -> None:
    """All 3^7 combinations of the seven echoed fields, each present, absent or mismatching."""
    wrong = []
    for states in itertools.product(("present", "absent", "other"), repeat=len(FULL)):
        fields: dict[str, Any] = {}
        for name, state in zip(FULL, states, strict=True):
            if state == "present":
                fields[name] = FULL[name]
            elif state == "other":
                fields[name] = OTHER[name]
        got = FP.classify(task(fields), window=WINDOW)
        if got != expected(fields):
            wrong.append((fields, got))
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("created_at", [879, 0, 1181, 10**9])
def test_a_task_created_outside_the_window_is_never_ours(created_at: int) -> None:
    assert FP.classify(task(FULL, created_at), window=WINDOW) == Match.NOT_OURS
    assert FP.classify(task({}, created_at), window=WINDOW) == Match.NOT_OURS


@pytest.mark.parametrize("created_at", [880, 1000, 1180, None])
def test_a_task_inside_the_window_is_judged_by_its_fields(created_at: int | None) -> None:
    assert FP.classify(task(FULL, created_at), window=WINDOW) == Match.OURS
    assert FP.classify(task({}, created_at), window=WINDOW) == Match.UNKNOWN


@pytest.mark.parametrize("delta", [-61, -60, -59, -1, 1, 59, 60, 61])
def test_expiries_close_to_ours_are_not_ours(delta: int) -> None:
    assert FP.classify(task({"execution_expires_after": FP.expires + delta}), window=WINDOW) == Match.NOT_OURS
    assert FP.classify(task({**FULL, "execution_expires_after": FP.expires + delta}), window=WINDOW) \
        == Match.NOT_OURS, "our seed and identifier do not rescue a wrong expiry"


def test_a_users_own_seed_is_no_proof() -> None:
    fp = Fingerprint(expires=21599, seed=42, safety_identifier="sid-ours", since=1000.0, seed_is_random=False)
    assert fp.classify(task({"seed": 42}), window=WINDOW) == Match.UNKNOWN
    assert fp.classify(task({"seed": 43}), window=WINDOW) == Match.NOT_OURS
    assert fp.classify(task({"seed": 42, "execution_expires_after": 21599}), window=WINDOW) == Match.OURS


def test_a_final_ignores_the_seed_its_draft_chose() -> None:
    fp = Fingerprint(expires=21599, seed=None, safety_identifier="sid-ours", since=1000.0)
    assert fp.classify(task({"seed": 99, "execution_expires_after": 21599}), window=WINDOW) == Match.OURS
    assert fp.classify(task({"seed": 99}), window=WINDOW) == Match.UNKNOWN
