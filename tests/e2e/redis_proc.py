"""A dedicated redis-server that a test can SIGKILL and restart from the same data directory.

The session fixture's server is shared by every test, so crash tests that kill
Redis start their own: AOF on with `appendfsync everysec` (the production
setting, scale.md §3.5), `noeviction`, a fixed port so clients reconnect to the
same address after a restart.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis


class RedisProc:
    def __init__(self, data_dir: Path, port: int, *, extra_args: tuple[str, ...] = ()) -> None:
        self.dir = data_dir
        self.port = port
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
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
