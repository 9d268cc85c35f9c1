"""Task state of the Ark simulator: a service clock and an event-exact task lifecycle.

Transitions happen at the exact service time they are due (a slot freeing at
T starts the next queued task at T), whatever the polling or ticking rate, so
`running_at`/`finished_at` are precise and benchmarks can measure detection
delay. The store is not thread-safe on its own: the simulator holds one lock
around every call.
"""

from __future__ import annotations

import random
import string
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.catalogue import video_tokens
from sim.ark_validate import CreatePlan

QUEUED_FIELDS = ("doc", "full", "bare")
TERMINAL = frozenset({"succeeded", "failed", "expired", "cancelled"})
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
RETENTION = 7 * 86400  # every task is purged 7 days after created_at
CANCELLED_RETENTION = 86400  # cancelled tasks are purged 24 h after cancellation

FAIL_CODES: dict[str, str] = {
    "OutputVideoSensitiveContentDetected":
        "The request failed because the output video may contain sensitive information.",
    "OutputVideoSensitiveContentDetected.PolicyViolation":
        "The request failed because the output video may be related to copyright restrictions.",
    "OutputAudioSensitiveContentDetected":
        "The request failed because the output audio may contain sensitive information.",
}


class ServiceClock:
    """Service time = anchor + real elapsed × speed (+ manual advances); epoch seconds."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._real0 = time.monotonic()
        self._service0 = time.time() if start is None else start
        self.speed = speed

    def now(self) -> float:
        return self._service0 + (time.monotonic() - self._real0) * self.speed

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._service0 = self.now()
        self._real0 = time.monotonic()
        self.speed = speed

    def advance(self, seconds: float) -> None:
        self._service0 += seconds

    def wall_at(self, service_t: float) -> float:
        """Real wall-clock time (time.time()) at which the service clock reads `service_t`."""
        if self.speed <= 0:
            return time.time()
        mono = self._real0 + (service_t - self._service0) / self.speed
        return time.time() - (time.monotonic() - mono)


@dataclass
class Task:
    """One task, kept forever for inspection; `deleted`/`purged` hide it from the API."""

    id: str
    seq: int
    plan: CreatePlan
    body: dict[str, Any]
    created_at: float
    created_at_real: float
    width: int
    height: int
    status: str = "queued"
    updated_at: float = 0.0
    running_at: float | None = None
    running_at_real: float | None = None
    finished_at: float | None = None
    finished_at_real: float | None = None
    run_seconds: float | None = None
    error: dict[str, str] | None = None
    seed: int | None = None
    deleted: bool = False
    purged: bool = False
    video_url: str | None = None
    last_frame_url: str | None = None
    history: list[tuple[str, float]] = field(default_factory=list)
    # How the create request went (inspection only): who sent it and whether its answer was lost.
    api_key_id: str | None = None
    request_id: str | None = None
    client_request_id: str | None = None
    lost: str | None = None  # None, or how the create answer was lost: "500", "drop" or "delay"

    @property
    def visible(self) -> bool:
        return not (self.deleted or self.purged)

    @property
    def expires_at(self) -> float:
        return self.created_at + self.plan.execution_expires_after

    def api(self, fields: str = "doc", stamp: Callable[[float], float] | None = None) -> dict[str, Any]:
        """The task object exactly as GET / list / callbacks show it (ark-api.md §3.2).

        A succeeded task always carries every field. Which fields a queued, running, failed,
        expired or cancelled task carries is not documented (❓), so `fields` picks one of
        QUEUED_FIELDS: "doc" = the 🔶 recommendation (id, model, status, error, created_at,
        updated_at, service_tier, execution_expires_after), "full" = every parameter echo as on
        success (no content/usage: they do not exist yet), "bare" = id, model, status,
        created_at, updated_at (+ error when there is one). `stamp` maps service time to the
        reported timestamps (the wall clock, with --wall-clock-timestamps).
        """
        p = self.plan
        at = stamp or (lambda t: t)
        out: dict[str, Any] = {"id": self.id, "model": self.model_name, "status": self.status}
        if fields == "bare" and self.status != "succeeded":
            if self.error is not None:
                out["error"] = self.error
            out.update(created_at=int(at(self.created_at)), updated_at=int(at(self.updated_at)))
            return out
        out.update(error=self.error, created_at=int(at(self.created_at)), updated_at=int(at(self.updated_at)))
        if self.status != "succeeded" and fields != "full":
            out.update(service_tier=p.service_tier, execution_expires_after=p.execution_expires_after)
            return out
        if self.status == "succeeded":
            content = {"video_url": self.video_url}
            if p.return_last_frame:
                content["last_frame_url"] = self.last_frame_url
            tokens = self.tokens
            usage: dict[str, Any] = {"completion_tokens": tokens, "total_tokens": tokens}
            if p.tools:
                usage["tool_usage"] = {"web_search": 0}
            out.update(content=content, usage=usage)
        if self.seed is not None:  # models without seed support (2.0 series) report none
            out["seed"] = self.seed
        out.update(resolution=p.resolution, ratio=p.ratio)
        if p.frames is not None:
            out["frames"] = p.frames
        else:
            out["duration"] = p.duration
        out["framespersecond"] = 24
        out.update(service_tier=p.service_tier, execution_expires_after=p.execution_expires_after)
        if p.generate_audio is not None:
            out["generate_audio"] = p.generate_audio
        out["draft"] = p.draft
        if p.draft_task_id:
            out["draft_task_id"] = p.draft_task_id
        # §3.2's example shows priority 0 on a 1.5 Pro task: echoed for every model (sent or 0).
        out["priority"] = p.priority or 0
        if p.safety_identifier is not None:
            out["safety_identifier"] = p.safety_identifier
        return out

    @property
    def model_name(self) -> str:
        """The model ID as requested (BytePlus or Volcengine form); endpoint IDs map to the model ID."""
        p = self.plan
        return p.endpoint if p.endpoint in (p.info.id, p.info.volcengine_id) else p.info.id

    @property
    def tokens(self) -> int:
        p = self.plan
        if p.frames is not None:
            return self.width * self.height * p.frames // 1024
        return video_tokens(self.width, self.height, p.duration or 5)

    def inspect(self) -> dict[str, Any]:
        """Everything a test or benchmark may want, including the create body and exact timings."""
        p = self.plan
        return {
            "id": self.id, "status": self.status, "model": p.info.id, "endpoint": p.endpoint,
            "body": self.body, "api": self.api(), "mode": p.mode.value,
            "created_at": self.created_at, "created_at_real": self.created_at_real,
            "updated_at": self.updated_at,
            "running_at": self.running_at, "running_at_real": self.running_at_real,
            "finished_at": self.finished_at, "finished_at_real": self.finished_at_real,
            "run_seconds": self.run_seconds, "expires_at": self.expires_at,
            "width": self.width, "height": self.height, "seconds": p.seconds,
            "resolution": p.resolution, "ratio": p.ratio, "generate_audio": p.generate_audio,
            "callback_url": p.callback_url, "error": self.error, "deleted": self.deleted,
            "purged": self.purged, "history": [list(h) for h in self.history],
            # Mapping tasks back to the requests that made them (chaos tests count tasks per request).
            "prompt": p.text, "safety_identifier": p.safety_identifier, "params": self.params(),
            "api_key_id": self.api_key_id, "request_id": self.request_id,
            "client_request_id": self.client_request_id,
            "lost": self.lost is not None, "lost_mode": self.lost,
            "billed_tokens": self.tokens if self.status == "succeeded" else 0,
            # The reference videos/audios fetched at create, as the service fetches them.
            "media": [dict(m) for m in p.media],
        }

    def params(self) -> dict[str, Any]:
        """Every create parameter as the task will use it (defaults filled in, seed as picked)."""
        p = self.plan
        return {
            "resolution": p.resolution, "ratio": p.ratio, "duration": p.duration, "frames": p.frames,
            "seed": self.seed, "requested_seed": p.seed, "camera_fixed": p.camera_fixed,
            "watermark": p.watermark, "generate_audio": p.generate_audio, "draft": p.draft,
            "draft_task_id": p.draft_task_id, "return_last_frame": p.return_last_frame,
            "service_tier": p.service_tier, "execution_expires_after": p.execution_expires_after,
            "priority": p.priority, "safety_identifier": p.safety_identifier,
            "callback_url": p.callback_url, "tools": p.tools,
        }


@dataclass
class Event:
    """A status change to report to the task's callback_url (snapshot taken at the change)."""

    task_id: str
    status: str
    url: str
    payload: dict[str, Any]


class TaskStore:
    """All tasks of the (single) simulated account and the queue/slot logic."""

    def __init__(
        self, clock: ServiceClock, rng: random.Random, *, concurrency: int, fail_rate: float,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.concurrency = concurrency
        self.fail_rate = fail_rate
        self.tasks: dict[str, Task] = {}
        self.active: set[str] = set()  # queued or running
        self._seq = 0
        self.create_times: dict[str, deque[float]] = {}
        # Set by the simulator: fills the video/last-frame URLs when a task succeeds.
        self.on_success: Callable[[Task], None] | None = None
        # Set by the simulator: the task object as GET shows it (field set, timestamps), so that
        # callback bodies are exactly the GET representation at the moment of the change (§2.4).
        self.render: Callable[[Task], dict[str, Any]] = lambda t: t.api()

    # ---- ids and creation --------------------------------------------------------------------

    def new_id(self, at: float) -> str:
        stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H%M%S")
        alphabet = string.ascii_lowercase + string.digits
        while True:
            tid = f"cgt-{stamp}-{''.join(self.rng.choice(alphabet) for _ in range(5))}"
            if tid not in self.tasks:
                return tid

    def queued_count(self) -> int:
        return sum(1 for tid in self.active if self.tasks[tid].status == "queued")

    def add(
        self, plan: CreatePlan, body: dict[str, Any], size: tuple[int, int], now: float,
        id_at: float | None = None,
    ) -> tuple[Task, list[Event]]:
        """Create a queued task at `now` (the caller has advanced the store to `now`).

        `id_at` is the time stamped into the task ID (default `now`; the wall clock when the
        simulator reports wall-clock timestamps, so the ID agrees with `created_at`).
        """
        self._seq += 1
        task = Task(
            id=self.new_id(now if id_at is None else id_at), seq=self._seq, plan=plan, body=body, created_at=now,
            created_at_real=time.time(), width=size[0], height=size[1], updated_at=now,
        )
        if plan.seed is not None:
            task.seed = plan.seed if plan.seed != -1 else self.rng.randint(0, 2**31 - 1)
        self.tasks[task.id] = task
        self.active.add(task.id)
        events: list[Event] = []
        self._transition(task, "queued", now, events)
        self._fill_slots(plan.info.id, now, events)
        return task, events

    # ---- the clock-driven state machine ------------------------------------------------------

    def advance_to(self, now: float) -> list[Event]:
        """Apply every transition due at or before `now`, in time order; returns callback events."""
        events: list[Event] = []
        while True:
            best: tuple[float, int, Task, str] | None = None
            for tid in self.active:
                t = self.tasks[tid]
                when, what = t.expires_at, "expire"
                if t.status == "running" and t.running_at is not None and t.run_seconds is not None:
                    finish = t.running_at + t.run_seconds
                    if finish <= t.expires_at:
                        when, what = finish, "finish"
                if when <= now and (best is None or (when, t.seq) < (best[0], best[1])):
                    best = (when, t.seq, t, what)
            if best is None:
                break
            when, _, task, what = best
            if what == "finish":
                self._finish(task, when, events)
            else:
                self._end(task, "expired", when, events)
            self._fill_slots(task.plan.info.id, when, events)
        self._purge(now)
        return events

    def fill_all(self, now: float) -> list[Event]:
        """Start queued tasks after a concurrency change."""
        events: list[Event] = []
        for model in sorted({self.tasks[t].plan.info.id for t in self.active}):
            self._fill_slots(model, now, events)
        return events

    def _fill_slots(self, model: str, at: float, events: list[Event]) -> None:
        mine = [self.tasks[t] for t in self.active if self.tasks[t].plan.info.id == model]
        running = sum(1 for t in mine if t.status == "running")
        queued = sorted((t for t in mine if t.status == "queued"),
                        key=lambda t: (-(t.plan.priority or 0), t.seq))
        for task in queued:
            if running >= self.concurrency:
                break
            start = max(at, task.created_at)
            task.running_at = start
            task.running_at_real = self.clock.wall_at(start)
            p = task.plan
            expected = p.info.expected_seconds(p.resolution, round(p.seconds))
            task.run_seconds = expected * self.rng.uniform(0.9, 1.1)
            self._transition(task, "running", start, events)
            running += 1

    def _finish(self, task: Task, at: float, events: list[Event]) -> None:
        p = task.plan
        code: str | None = None
        if p.fail_video:
            code = "OutputVideoSensitiveContentDetected"
        elif p.fail_audio and p.generate_audio:
            code = "OutputAudioSensitiveContentDetected"
        elif self.fail_rate > 0 and self.rng.random() < self.fail_rate:
            code = self.rng.choice(
                ["OutputVideoSensitiveContentDetected", "OutputVideoSensitiveContentDetected.PolicyViolation"]
            )
        if code is not None:
            task.error = {"code": code, "message": FAIL_CODES[code]}
            self._end(task, "failed", at, events)
        else:
            self._end(task, "succeeded", at, events)

    def _end(self, task: Task, status: str, at: float, events: list[Event]) -> None:
        task.finished_at = at
        task.finished_at_real = self.clock.wall_at(at)
        self.active.discard(task.id)
        self._transition(task, status, at, events)

    def _transition(self, task: Task, status: str, at: float, events: list[Event]) -> None:
        task.status = status
        task.updated_at = at
        task.history.append((status, at))
        if status == "succeeded" and self.on_success is not None:
            self.on_success(task)
        if task.plan.callback_url and status != "cancelled":
            events.append(Event(task.id, status, task.plan.callback_url, self.render(task)))

    # ---- API operations ----------------------------------------------------------------------

    def get(self, task_id: str) -> Task | None:
        t = self.tasks.get(task_id)
        return t if t is not None and t.visible else None

    def cancel(self, task: Task, now: float) -> None:
        task.finished_at = now
        task.finished_at_real = time.time()
        self.active.discard(task.id)
        self._transition(task, "cancelled", now, [])

    def delete(self, task: Task) -> None:
        task.deleted = True

    def _purge(self, now: float) -> None:
        for t in self.tasks.values():
            if t.purged:
                continue
            if now >= t.created_at + RETENTION or (
                t.status == "cancelled" and now >= t.updated_at + CANCELLED_RETENTION
            ):
                t.purged = True
                self.active.discard(t.id)

    def listing(
        self, *, status: str | None, task_ids: list[str], model: str | None, service_tier: str | None,
    ) -> list[Task]:
        """Visible tasks matching the filters, newest first."""
        out = [
            t for t in self.tasks.values()
            if t.visible
            and (status is None or t.status == status)
            and (not task_ids or t.id in task_ids)
            and (model is None or model in (t.plan.endpoint, t.plan.info.id))
            and (service_tier is None or t.plan.service_tier == service_tier)
        ]
        out.sort(key=lambda t: (t.created_at, t.seq), reverse=True)
        return out
