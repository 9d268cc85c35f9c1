"""Telling our own Ark task from anyone else's, when a create's answer was lost.

The create API has no idempotency key, and teams share API keys (the project's
CLI, a teammate's script, a second deployment). So every create attempt carries
values Ark echoes back in the task object (ark-api.md §3.2), chosen at random
per attempt, and an interrupted attempt adopts a task only when those values
match exactly:

- ``execution_expires_after``: the requested expiry moved by a random 1..1799 s
  that is never a whole minute (every model accepts it; nobody else sends it);
- ``seed``: a random 32-bit seed when the user gave none (models with seeds);
- ``safety_identifier``: a hash of the deployment and the requesting user
  (what Ark asks for anyway), so strangers' tasks never carry it;
- the resolution, duration, tier and draft flag sent, and the attempt's time window.

A task that shows any of these with another value is not ours. A task that shows
none of the random values (some task objects omit fields while queued) cannot be
told apart yet: the attempt waits for it to show them rather than guess.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from bot import catalogue

EXPIRES_MIN = 3600
EXPIRES_MAX = 259200
JITTER_MAX = 1799


class Match(StrEnum):
    OURS = "ours"
    NOT_OURS = "not_ours"
    UNKNOWN = "unknown"  # could be ours: none of the random values is visible yet


@dataclass(frozen=True)
class Fingerprint:
    """The values one create attempt sent that Ark echoes (None = not sent or not comparable)."""

    expires: int
    seed: int | None  # the seed sent (None: none sent, or a final that reuses its draft's)
    safety_identifier: str
    resolution: str | None = None
    duration: int | None = None  # only a fixed duration (not -1)
    service_tier: str = "default"
    draft: bool = False
    since: float = 0.0  # when the attempt began (our clock)
    seed_is_random: bool = False  # the seed was drawn by us (proof), not chosen by the user

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Fingerprint | None:
        try:
            data = json.loads(text)
            return cls(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            return None

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """The create body carrying this fingerprint."""
        out = dict(body)
        out["execution_expires_after"] = self.expires
        out["safety_identifier"] = self.safety_identifier
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    def classify(self, task: Any, *, window: tuple[float, float]) -> Match:
        """Whether `task` (a `bot.clients.ark.Task`) is the one this attempt created."""
        created = getattr(task, "created_at", None)
        if created is not None and not (window[0] <= float(created) <= window[1]):
            return Match.NOT_OURS
        checks: list[tuple[object, object]] = [
            (task.execution_expires_after, self.expires),
            (getattr(task, "safety_identifier", None), self.safety_identifier),
            (task.service_tier, self.service_tier),
            (task.draft, self.draft),
        ]
        if self.seed is not None:
            checks.append((task.seed, self.seed))
        if self.resolution:
            checks.append((task.resolution, self.resolution))
        if self.duration:
            checks.append((task.duration, self.duration))
        for seen, sent in checks:
            if seen is not None and seen != sent:
                return Match.NOT_OURS
        random_values = [task.execution_expires_after]
        if self.seed_is_random:
            random_values.append(task.seed)
        return Match.OURS if any(v is not None for v in random_values) else Match.UNKNOWN


def user_identifier(deployment: str, user: str) -> str:
    """Ark's `safety_identifier` (≤ 64 chars): a stable hash of the end user, never their id."""
    return hashlib.sha256(f"{deployment}\x00{user}".encode()).hexdigest()[:32]


def jittered_expiry(base: int) -> int:
    """`base` moved by 1..1799 s, never a whole minute, inside Ark's [3600, 259200].

    Neither the move nor the result is a whole number of minutes: a base that is not one
    (`--expires 21630`) must not land on a value other clients send (21600)."""
    base = min(max(base, EXPIRES_MIN), EXPIRES_MAX)
    while True:
        j = 1 + secrets.randbelow(JITTER_MAX)
        out = base - j if base - j >= EXPIRES_MIN else min(base + j, EXPIRES_MAX)
        if j % 60 and out % 60:
            return out


def new_fingerprint(body: dict[str, Any], *, deployment: str, user: str, default_expires: int,
                    since: float) -> Fingerprint:
    """A fresh fingerprint for a create `body` (random values drawn anew for every attempt)."""
    model = catalogue.get(str(body.get("model") or ""))
    is_final = any(isinstance(c, dict) and c.get("type") == "draft_task" for c in body.get("content") or [])
    sent_seed = body.get("seed")
    seed = int(sent_seed) if isinstance(sent_seed, int) and sent_seed >= 0 and not is_final else None
    seed_is_random = False
    if model is not None and model.seed and not is_final and seed is None:
        seed, seed_is_random = secrets.randbelow(2**32), True
    duration = body.get("duration")
    return Fingerprint(
        expires=jittered_expiry(int(body.get("execution_expires_after") or default_expires)),
        seed=seed,
        seed_is_random=seed_is_random,
        safety_identifier=user_identifier(deployment, user),
        resolution=str(body["resolution"]) if body.get("resolution") else None,
        duration=int(duration) if isinstance(duration, int) and duration > 0 and not is_final else None,
        service_tier=str(body.get("service_tier") or "default"),
        draft=bool(body.get("draft")),
        since=since,
    )
