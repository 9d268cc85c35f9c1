"""systemd's service notification protocol (sd_notify(3)) in a few lines, without libsystemd.

A ``Type=notify`` unit counts as started when the process sends ``READY=1``; with
``WatchdogSec=`` systemd expects ``WATCHDOG=1`` at least that often and otherwise kills and
restarts the service. Each is one datagram to the Unix socket named by ``$NOTIFY_SOCKET``
(a path, or ``@name`` in the abstract namespace). Outside systemd every call is a no-op.

`Notifier.watchdog` pings only while the process is alive (`bot.health.Liveness`): a worker
thread that died or hangs stops the pings, and systemd restarts the process after
``WatchdogSec``. The web role (gunicorn) has no loop of ours in its master process, so
`http_watchdog` pings from a thread there after each successful ``GET /livez`` through its
own port, which proves the worker processes still answer.

This module reads ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` from the
environment: systemd sets them for the process it starts. They belong to the supervisor, not
to the bot's settings (bot/config.py), and must never come from ``.env``: an empty value there
would switch the protocol off.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping

from bot.health import Liveness

log = logging.getLogger(__name__)


class Notifier:
    """READY=1, STOPPING=1, STATUS=… and watchdog pings for the unit that started this process."""

    def __init__(self, environ: Mapping[str, str] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        env = os.environ if environ is None else environ
        self.socket_path = env.get("NOTIFY_SOCKET", "")
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())  # the watchdog is meant for this process
        self.watchdog_interval = int(usec) / 1e6 if usec.isdigit() and mine and self.socket_path else 0.0
        """``WatchdogSec`` in seconds; 0 when systemd expects no pings from this process."""
        self._clock = clock
        self._last_ping = -math.inf
        self._complaining = False

    @property
    def enabled(self) -> bool:
        return bool(self.socket_path)

    def notify(self, *assignments: str) -> bool:
        """Send ``VAR=value`` lines in one datagram; False outside systemd or when it fails."""
        if not self.socket_path:
            return False
        address = "\0" + self.socket_path[1:] if self.socket_path.startswith("@") else self.socket_path
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(address)
                s.sendall("\n".join(assignments).encode("utf-8"))
        except OSError as exc:
            log.warning("systemd: could not notify %s: %s", self.socket_path, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=draining")

    def watchdog(self, liveness: Liveness) -> None:
        """Call often (each turn of the main loop): pings every third of ``WatchdogSec`` while alive.

        While `liveness` reports problems nothing is sent but ``STATUS=`` with them (shown by
        ``systemctl status``), so systemd restarts the process once ``WatchdogSec`` has passed.
        """
        if not self.watchdog_interval:
            return
        now = self._clock()
        if now - self._last_ping < self.watchdog_interval / 3:
            return
        problems = "; ".join(liveness.problems())
        if problems:
            if not self._complaining:
                log.error("systemd: not alive, withholding the watchdog ping: %s", problems)
                self.notify(f"STATUS=not alive: {problems}")
                self._complaining = True
            return
        if self._complaining:
            self.notify("STATUS=alive again")
            self._complaining = False
        if self.notify("WATCHDOG=1"):
            self._last_ping = now


def http_watchdog(url: str, notifier: Notifier, stop: threading.Event | None = None) -> threading.Thread | None:
    """Ping systemd's watchdog from a daemon thread after each ``GET url`` that answers 200.

    For the web role's gunicorn master (``when_ready`` in bot/web/gunicorn_conf.py): it runs no
    loop of ours, but its worker processes answer ``/livez`` on the role's own port. None when
    systemd expects no pings.
    """
    if not notifier.watchdog_interval:
        return None
    every = notifier.watchdog_interval / 3
    halt = stop or threading.Event()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy

    def run() -> None:
        failures = 0
        while not halt.wait(every):
            try:
                with opener.open(url, timeout=every) as response:
                    ok = response.status == 200
            except OSError as exc:
                ok = False
                failures += 1
                if failures == 2:  # once per outage, and not for the last look while gunicorn stops
                    log.warning("systemd: %s did not answer (withholding the watchdog ping): %s", url, exc)
            if ok:
                failures = 0
                notifier.notify("WATCHDOG=1")

    thread = threading.Thread(target=run, name="systemd-watchdog", daemon=True)
    thread.start()
    return thread
