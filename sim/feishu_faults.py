"""Per-operation fault injection of the Feishu simulator (for chaos tests).

Operations (the Open API routes the bot calls, feishu-api.md §5): `token`, `bot_info`, `send`,
`reply`, `patch`, `get_message`, `card_update`, `upload_file`, `upload_image`, `resource` and
`reaction` (add, list and delete). `"*"` means every operation except `token` (what the legacy
`fault_rate` / `inject_faults` always meant).

A fault is an HTTP status (429 or 5xx) and a *when*:

* `before` — the request is refused before any work (nothing is posted, uploaded, …);
* `after` — the work IS done (a reply/send is posted, idempotently by its `uuid` as the real API
  does; an upload is stored; a card is patched) and then the answer is replaced by the error, so
  a client that retries must rely on the uuid not to post twice. An `after` fault is only used by
  a request that succeeded (a refused request has nothing to lose and leaves it in place).

Bodies (the docs say nothing about 5xx bodies, 🔶): `{"code": 2200, "msg": "internal error",
"error": {"log_id": …}}` (the msg follows the status: bad gateway, service unavailable, …).
A 429 is the gateway rate limit of §5: code 99991400 with `x-ogw-ratelimit-limit` and
`x-ogw-ratelimit-reset` (seconds, configurable) headers. Any fault may override the code.

One-shots queue per operation (first in, first out; an operation's own queue before the `"*"`
queue); rates are rules `(op, status, when) → probability`, rolled on every request of that op.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

OPS = (
    "token", "bot_info", "send", "reply", "patch", "get_message", "card_update",
    "upload_file", "upload_image", "resource", "reaction",
)
ANY = "*"
WHEN = ("before", "after")
MAX_LOG = 10000
STATUS_MSG = {500: "internal error", 502: "bad gateway", 503: "service unavailable", 504: "gateway timeout"}


@dataclass
class Fault:
    """One fault spec: a one-shot (`count`) or a rate rule (`rate`)."""

    op: str
    status: int
    when: str = "before"
    code: int | None = None
    count: int = 1
    rate: float | None = None
    source: str = "one-shot"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "status": self.status, "when": self.when}
        if self.rate is not None:
            out["rate"] = self.rate
        else:
            out["count"] = self.count
        if self.code is not None:
            out["code"] = self.code
        return out

    @property
    def key(self) -> str:
        """How the counters name it: "500", or "500:after" for an answer lost after the work."""
        return f"{self.status}:after" if self.when == "after" else str(self.status)


def make_fault(
    op: Any = ANY, status: Any = 429, *, when: Any = "before", count: Any = None, rate: Any = None,
    code: Any = None,
) -> Fault:
    """A validated fault spec; ValueError explains what is wrong."""
    op = str(op).strip().lower()
    if op != ANY and op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)} or '*', not {op!r}")
    try:
        st = int(status)
    except (TypeError, ValueError):
        raise ValueError(f"status must be an integer, not {status!r}") from None
    if st != 429 and not 500 <= st <= 599:
        raise ValueError(f"status must be 429 or 5xx, not {st}")
    w = str(when).strip().lower()
    if w not in WHEN:
        raise ValueError(f"when must be before or after, not {when!r}")
    if w == "after" and st == 429:
        raise ValueError("a 429 refuses the request: it cannot happen after the work (use a 5xx)")
    fault = Fault(op, st, w, None if code is None else int(code))
    if rate is not None:
        if count is not None:
            raise ValueError("give either count (one-shot) or rate, not both")
        r = float(rate)
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"rate must be in [0, 1], not {r}")
        fault.rate, fault.source = r, "rate"
    else:
        n = 1 if count is None else int(count)
        if n < 1:
            raise ValueError("count must be >= 1")
        fault.count = n
    return fault


def parse_cli_fault(text: str) -> Fault:
    """`OP:STATUS:RATE[:after]` (the --fault option), e.g. `reply:500:0.1:after`."""
    parts = text.strip().split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] not in WHEN):
        raise ValueError(f"expected OP:STATUS:RATE[:after], got {text!r}")
    return make_fault(parts[0], parts[1], rate=parts[2], when=parts[3] if len(parts) == 4 else "before")


class FaultPlan:
    """Pending one-shots, rate rules and counters; not thread-safe (FeishuState's lock is)."""

    def __init__(self) -> None:
        self.pending: dict[str, deque[Fault]] = {}
        self.rules: list[Fault] = []
        self.counts: dict[str, Counter[str]] = {}
        self.log: list[dict[str, Any]] = []

    def add(self, fault: Fault) -> None:
        if fault.rate is None:
            self.pending.setdefault(fault.op, deque()).append(fault)
            return
        self.rules = [r for r in self.rules
                      if (r.op, r.status, r.when) != (fault.op, fault.status, fault.when)]
        if fault.rate > 0:
            self.rules.append(fault)

    def _head(self, queue: deque[Fault] | None, when: str) -> Fault | None:
        if not queue or queue[0].when != when:
            return None
        head = queue[0]
        head.count -= 1
        if head.count <= 0:
            queue.popleft()
        return Fault(head.op, head.status, head.when, head.code, 1, None, "one-shot")

    def take(self, op: str, when: str, roll: Any) -> Fault | None:
        """The fault for this request of `op` at `when`, if any (`roll()` gives a uniform [0, 1))."""
        fault = self._head(self.pending.get(op), when)
        if fault is None and op != "token":
            fault = self._head(self.pending.get(ANY), when)
        if fault is not None:
            return fault
        for rule in self.rules:
            applies = rule.when == when and (rule.op == op or (rule.op == ANY and op != "token"))
            if applies and roll() < (rule.rate or 0.0):
                return Fault(op, rule.status, when, rule.code, 1, None, "rate")
        return None

    def record(self, op: str, fault: Fault, **info: Any) -> None:
        self.counts.setdefault(op, Counter())[fault.key] += 1
        if len(self.log) < MAX_LOG:
            self.log.append({"op": op, "status": fault.status, "when": fault.when, "source": fault.source,
                             "time": time.time(), **info})

    def clear(self, *, rules: bool) -> None:
        self.pending.clear()
        self.counts.clear()
        self.log.clear()
        if rules:
            self.rules.clear()

    def counts_dict(self) -> dict[str, dict[str, int]]:
        return {op: dict(sorted(c.items())) for op, c in sorted(self.counts.items())}

    def snapshot(self) -> dict[str, Any]:
        return {
            "counts": self.counts_dict(),
            "total": sum(sum(c.values()) for c in self.counts.values()),
            "pending": [f.as_dict() for q in self.pending.values() for f in q],
            "rules": [r.as_dict() for r in self.rules],
            "log": [dict(x) for x in self.log],
        }


def status_message(status: int) -> str:
    return STATUS_MSG.get(status, "internal error")
