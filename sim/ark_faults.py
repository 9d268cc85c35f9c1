"""Fault injection bookkeeping of the Ark simulator: one-shot faults per operation, and counters.

Operations are the four task routes of ark-api.md §1: `create`, `get`, `list`, `delete`
(`other` = any other path under `/api/v3`, reachable only by the random `error_rate`).

Modes (what the client sees):

* `"500"` — HTTP 500 `InternalServiceError` (§4.2); nothing was done.
* `"429"` — HTTP 429 `RateLimitExceeded.EndpointRPMExceeded` with a `Retry-After` header; nothing
  was done. (The docs never mention `Retry-After` (❓) and the official SDK ignores it (§4.4); the
  simulator sends one so a client that honours it can be tested; its value is configurable.)
* `"drop"` — the connection is closed without any HTTP response; nothing was done.
* `"lost-500"`, `"lost-drop"`, `"lost-delay"` (create only) — the task IS created (it is queued,
  runs, is listed and billed, callbacks fire) but the answer is lost: a 500 envelope, a closed
  connection, or the `{"id"}` answer sent only after a delay longer than the client's timeout.

One-shots queue per operation, first in first out. A request takes the head of its operation's
queue when the head applies to it: a rejecting mode (500/429/drop) is taken by the next request
of that operation before any work; a lost-* mode is taken only by a create that actually creates
a task (a create refused with a 400 leaves it in place for the next one). Every injected fault —
one-shot, `lost_create_rate` or `error_rate` — is counted per operation and mode.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

OPS = ("create", "get", "list", "delete")
REJECT_MODES = ("500", "429", "drop")
LOST_MODES = ("lost-500", "lost-drop", "lost-delay")
MODES: dict[str, tuple[str, ...]] = {
    "create": REJECT_MODES + LOST_MODES,
    "get": REJECT_MODES,
    "list": REJECT_MODES,
    "delete": REJECT_MODES,
}
LOST_CREATE_MODES = ("500", "drop", "delay", "mixed")  # --lost-create-mode
MAX_LOG = 10000


@dataclass
class Shot:
    """`count` more injections of `mode` on one operation (`delay` only for lost-delay)."""

    op: str
    mode: str
    count: int
    delay: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "mode": self.mode, "count": self.count}
        if self.delay is not None:
            out["delay"] = self.delay
        return out


def normalise_mode(mode: Any) -> str:
    """Accept 500 / "500" / "lost_500" / "LOST-DROP" and return the canonical spelling."""
    return str(mode).strip().lower().replace("_", "-")


class FaultBook:
    """Pending one-shots and injected-fault counters; not thread-safe (the simulator's lock is)."""

    def __init__(self) -> None:
        self.pending: dict[str, deque[Shot]] = {op: deque() for op in OPS}
        self.counts: dict[str, Counter[str]] = {}
        self.log: list[dict[str, Any]] = []

    def add(self, op: Any, mode: Any, count: Any = 1, delay: Any = None) -> Shot:
        """Queue a one-shot; ValueError on an unknown op/mode or a bad count/delay."""
        shot = self.make(op, mode, count, delay)
        self.pending[shot.op].append(shot)
        return shot

    @staticmethod
    def make(op: Any, mode: Any, count: Any = 1, delay: Any = None) -> Shot:
        """A validated one-shot (not queued yet)."""
        op = str(op).strip().lower()
        if op not in MODES:
            raise ValueError(f"op must be one of {', '.join(OPS)}, not {op!r}")
        mode = normalise_mode(mode)
        if mode not in MODES[op]:
            raise ValueError(f"mode for {op} must be one of {', '.join(MODES[op])}, not {mode!r}")
        try:
            n = int(count)
        except (TypeError, ValueError):
            raise ValueError(f"count must be an integer, not {count!r}") from None
        if n < 1:
            raise ValueError("count must be >= 1")
        wait: float | None = None
        if delay is not None:
            if mode != "lost-delay":
                raise ValueError("delay only applies to mode lost-delay")
            wait = float(delay)
            if wait < 0:
                raise ValueError("delay must be >= 0")
        return Shot(op, mode, n, wait)

    def _take(self, op: str, modes: tuple[str, ...]) -> Shot | None:
        queue = self.pending.get(op)
        if not queue or queue[0].mode not in modes:
            return None
        head = queue[0]
        head.count -= 1
        if head.count <= 0:
            queue.popleft()
        return Shot(head.op, head.mode, 1, head.delay)

    def take_reject(self, op: str) -> Shot | None:
        """The head one-shot of `op` if it rejects the request before any work."""
        return self._take(op, REJECT_MODES)

    def take_lost(self) -> Shot | None:
        """The head create one-shot if it loses the answer of a task just created."""
        return self._take("create", LOST_MODES)

    def record(self, op: str, mode: str, source: str, **info: Any) -> None:
        """Count one injected fault (source: one-shot, lost_create_rate or error_rate)."""
        self.counts.setdefault(op, Counter())[mode] += 1
        if len(self.log) < MAX_LOG:
            self.log.append({"op": op, "mode": mode, "source": source, "time": time.time(), **info})

    def clear(self) -> None:
        for queue in self.pending.values():
            queue.clear()
        self.counts.clear()
        self.log.clear()

    def counts_dict(self) -> dict[str, dict[str, int]]:
        return {op: dict(sorted(c.items())) for op, c in sorted(self.counts.items())}

    def snapshot(self) -> dict[str, Any]:
        return {
            "counts": self.counts_dict(),
            "total": sum(sum(c.values()) for c in self.counts.values()),
            "pending": [s.as_dict() for q in self.pending.values() for s in q],
            "log": [dict(x) for x in self.log],
        }
