"""When to look at an Ark task next: pure arithmetic, so it can be tested and benchmarked.

The seed polled every 15 s from creation: on average 7.5 s late and one GET per
15 s per job. Here the first look comes near the end of the model's expected
generation time (catalogue), then the gap grows slowly from a few seconds; a
queued task is looked at rarely. Callbacks (when `BOT_PUBLIC_URL` is set) make
most of these looks unnecessary; polling stays as the safety net.

All constants are service seconds; `time_factor` scales them for a sped-up
simulator (tests and benchmarks), so the schedule keeps its shape.
"""

from __future__ import annotations

from dataclasses import dataclass

# Tuned with bench/detection.py (simulator speed 10, 16-32 jobs over 8 models/sizes; polling only):
# 0.95 / 3.5 / 1.25 gave a median delay of 2.45 s at 3.25 GETs per task (delivery's own GET
# included) against the seed's 5.88; 1.0 / 2.5 / 1.15 gives 2.05 s at 2.72 against 5.84. The cost:
# a task finishing early waits for the look at the expected time (p90 5.3 s, max 0.1 x expected).
# With run times spread wider than the simulator's +-10 % (`bench/detection.py --model`): at
# 0.7-1.4x the median drops (3.0 vs 3.5 s) at equal GETs; at 0.5-2x it drops 1 s for ~12 % more GETs.
FIRST_CHECK_FRACTION = 1.0  # first look at the expected time
MIN_GAP = 2.5  # seconds between looks once the expected time has passed
GAP_GROWTH = 1.15  # each further look waits a bit longer ...
MAX_GAP = 30.0  # ... up to this
QUEUED_GAP = 20.0  # a task still queued at Ark
CALLBACK_SAFETY_GAP = 60.0  # with callbacks on, polling only guards against lost callbacks


@dataclass(frozen=True)
class PollPolicy:
    time_factor: float = 1.0
    callbacks: bool = False

    def first_delay(self, expected: float) -> float:
        """Seconds from submission to the first look."""
        if self.callbacks:
            return max(expected * 1.5, CALLBACK_SAFETY_GAP) * self.time_factor
        return max(expected * FIRST_CHECK_FRACTION, MIN_GAP) * self.time_factor

    def next_delay(self, *, status: str, expected: float, running_for: float | None, looks_after: int) -> float:
        """Seconds until the next look, given what the last look saw.

        `running_for` is how long the task has been running (None while queued),
        in real seconds; `looks_after` counts looks made after the expected time passed.
        """
        f = self.time_factor
        if self.callbacks:
            return CALLBACK_SAFETY_GAP * f
        if status == "queued" or running_for is None:
            return max(QUEUED_GAP, expected * 0.25) * f
        remaining = expected * f - running_for
        if remaining > MIN_GAP * f:
            return max(remaining - MIN_GAP * f * 0.5, MIN_GAP * f)
        return min(MIN_GAP * (GAP_GROWTH ** looks_after), MAX_GAP) * f
