"""Is this process alive, and can it take work? The two probes every role answers.

They ask different questions, and a wrong answer costs different things:

* **liveness**, "the process loop is alive": every loop this process runs (each worker
  thread, the scheduler's leader/standby loop) is still running and reported progress within
  its stall limit. When it fails, only a restart helps (a thread died on a bug, a call hangs
  without a timeout), and the supervisor restarts the process: the kubelet, systemd's watchdog
  (`bot.systemd`), Docker's health status. It never looks at Redis: restarting does not cure an
  outage, and every loop rides one out (it keeps beating while it logs and retries).
* **readiness**, "can accept and enqueue": Redis answers, and for the web role the inbox is
  below ``BOT_INBOX_MAX``. When it fails, the process is taken out of the load balancer
  until it passes again; it is never a reason to restart.

Where they are answered: web and serve on ``BOT_PORT`` (``/livez``, ``/readyz``, next to the
older ``/healthz`` = readiness without the inbox bound; `bot.web.app`); worker, scheduler and
serve on ``BOT_HEALTH_PORT`` when it is set (`health_wsgi_app`, served by
`bot.web.server.HealthServer`). Nothing here imports anything of the bot: the engine reports
to a `Liveness`, the composition root (`bot.runtime`) decides where it is served.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Readiness = Callable[[], str | None]
"""Answers None when ready, else the reason in a few words ("redis unreachable")."""

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class _Loop:
    stall_after: float
    last: float
    thread: threading.Thread | None


class Liveness:
    """The loops of one process and when each last made progress.

    A loop is `watch`ed once its thread runs, calls `beat` every time round (at least every few
    seconds when idle), and is `forget`-ten when it ends because the process is stopping. A
    watched loop whose thread has ended, or that has not beaten for ``stall_after`` seconds, is
    a problem: the process is no longer doing its job and should be restarted.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._loops: dict[str, _Loop] = {}
        self._lock = threading.Lock()

    def watch(self, name: str, stall_after: float, thread: threading.Thread | None = None) -> None:
        """Start watching loop `name` (as having just made progress); `thread` runs it, if known."""
        with self._lock:
            self._loops[name] = _Loop(stall_after=stall_after, last=self._clock(), thread=thread)

    def beat(self, name: str) -> None:
        """Loop `name` made progress (cheap: call it every time round)."""
        loop = self._loops.get(name)
        if loop is not None:
            loop.last = self._clock()

    def forget(self, name: str) -> None:
        """Loop `name` ended on purpose (the process is stopping): no longer a problem."""
        with self._lock:
            self._loops.pop(name, None)

    @property
    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._loops)

    def problems(self) -> list[str]:
        """What is wrong, one phrase per loop; empty when the process is alive."""
        now = self._clock()
        with self._lock:
            loops = sorted(self._loops.items())
        found = []
        for name, loop in loops:
            if loop.thread is not None and not loop.thread.is_alive():
                found.append(f"{name}: thread ended")
            elif now - loop.last > loop.stall_after:
                found.append(f"{name}: no progress for {now - loop.last:.0f} s (limit {loop.stall_after:.0f} s)")
        return found

    def alive(self) -> bool:
        return not self.problems()


def liveness_answer(liveness: Liveness | None) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of ``GET /livez``: 200 ``{"ok": true}`` or 503 with the problems."""
    problems = liveness.problems() if liveness is not None else []
    if problems:
        return 503, {"ok": False, "error": "; ".join(problems)}
    return 200, {"ok": True}


def readiness_answer(ready: Readiness) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of ``GET /readyz``: 200 ``{"ok": true}`` or 503 with the reason."""
    reason = ready()
    if reason:
        return 503, {"ok": False, "error": reason}
    return 200, {"ok": True}


_REASONS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}


def health_wsgi_app(liveness: Liveness, ready: Readiness) -> WSGIApp:
    """A WSGI app answering only ``GET /livez`` and ``GET /readyz`` (for ``BOT_HEALTH_PORT``)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/livez":
            status, body = liveness_answer(liveness)
        elif path == "/readyz":
            status, body = readiness_answer(ready)
        else:
            status, body = 404, {"ok": False, "error": "not found"}
        headers = [("Content-Type", "application/json")]
        if status != 404 and environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, body = 405, {"ok": False, "error": "method not allowed"}
            headers.append(("Allow", "GET"))
        data = json.dumps(body).encode() + b"\n"
        headers.append(("Content-Length", str(len(data))))
        start_response(_REASONS[status], headers)
        return [data]

    return app
