"""Callback delivery of the Ark simulator (ark-api.md §2.4).

Each status change is POSTed as the task object; 5 s timeout; terminal states
(succeeded, failed, expired) are retried up to 3 more times on a non-2xx answer
or a timeout, `retry_delay` real seconds apart. Deliveries of one task keep
their order (queued before running before succeeded) and run on their own
thread, so a slow receiver never blocks the state machine or other tasks.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

import requests

from sim.ark_state import Event

TIMEOUT = 5.0
RETRIED = frozenset({"succeeded", "failed", "expired"})
EXTRA_ATTEMPTS = 3


class CallbackDispatcher:
    """Per-task ordered, retrying, non-blocking POSTs; every attempt is logged."""

    def __init__(self, retry_delay: float = 1.0) -> None:
        self.retry_delay = retry_delay
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Event]] = {}
        self._busy: set[str] = set()
        self._log: list[dict[str, Any]] = []
        self._stopped = threading.Event()

    def submit(self, events: list[Event]) -> None:
        for ev in events:
            with self._lock:
                self._queues.setdefault(ev.task_id, deque()).append(ev)
                if ev.task_id in self._busy:
                    continue
                self._busy.add(ev.task_id)
            threading.Thread(target=self._drain, args=(ev.task_id,), daemon=True,
                             name=f"ark-callback-{ev.task_id}").start()

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(x) for x in self._log]

    def clear(self) -> None:
        """Forget the log and the callbacks not sent yet (the simulator's reset)."""
        with self._lock:
            self._log.clear()
            for q in self._queues.values():
                q.clear()

    def stop(self) -> None:
        self._stopped.set()

    def _drain(self, task_id: str) -> None:
        with requests.Session() as session:
            session.trust_env = False  # receivers are local; never go through a proxy
            while True:
                with self._lock:
                    q = self._queues[task_id]
                    if not q or self._stopped.is_set():
                        self._busy.discard(task_id)
                        q.clear()
                        return
                    ev = q.popleft()
                self._deliver(session, ev)

    def _deliver(self, session: requests.Session, ev: Event) -> None:
        attempts = 1 + (EXTRA_ATTEMPTS if ev.status in RETRIED else 0)
        body = json.dumps(ev.payload).encode()
        for attempt in range(1, attempts + 1):
            if self._stopped.is_set():
                return
            entry: dict[str, Any] = {
                "task_id": ev.task_id, "status": ev.status, "url": ev.url, "attempt": attempt,
                "time": time.time(), "http_status": None, "error": None,
            }
            ok = False
            try:
                r = session.post(ev.url, data=body, timeout=TIMEOUT,
                                 headers={"Content-Type": "application/json"})
                entry["http_status"] = r.status_code
                ok = 200 <= r.status_code < 300
                r.close()
            except requests.RequestException as exc:
                entry["error"] = type(exc).__name__
            with self._lock:
                self._log.append(entry)
            if ok or attempt == attempts:
                return
            self._stopped.wait(self.retry_delay)
