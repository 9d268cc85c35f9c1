"""One backoff policy for everything that retries, and which failures are worth another try.

The Ark and Feishu clients retry single calls with it (short base, a few tries);
the engine retries whole steps with it (a job's start or delivery). A step that
fails for a reason that passes (Feishu 5xx/429, Ark 5xx/429 on a read, a dropped
connection, a download that timed out) is tried again later with exponential
backoff and jitter, a bounded number of times; anything else ends the job with a
plain explanation at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import requests

from bot.errors import ArkAmbiguousError, ArkError, DownloadError, FeishuError


@dataclass(frozen=True)
class Backoff:
    """`base·2^n` seconds, capped, minus up to 25 % jitter; `tries` retries at most."""

    base: float = 2.0
    cap: float = 60.0
    tries: int = 5

    def delay(self, attempt: int, hinted: float | None = None, *, hint_cap: float | None = None) -> float:
        """Seconds before retry number `attempt` (0-based).

        `hinted`: what the server asked for (Retry-After, x-ogw-ratelimit-reset); honoured, up to
        `hint_cap` (default `cap`), and never less than the backoff itself.
        """
        delay = min(self.base * (2 ** max(attempt, 0)), self.cap) * (1 - 0.25 * random.random())
        if hinted is not None:
            delay = max(delay, min(hinted, self.cap if hint_cap is None else hint_cap))
        return delay


STEP_RETRY = Backoff(base=2.0, cap=60.0, tries=5)  # start and delivery of a job


def is_transient(exc: BaseException) -> bool:
    """A failure that may well pass if the same step runs again a little later."""
    if isinstance(exc, ArkAmbiguousError):
        return False  # handled by the creator (adoption), never by blind retry
    if isinstance(exc, (ArkError, FeishuError)):
        return bool(exc.retryable)
    if isinstance(exc, DownloadError):
        return exc.reason in ("timeout", "http", "connection", "network")
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError))
