"""Probes and supervision: liveness vs readiness, the health port, systemd's notify protocol.

Liveness ("the process loop is alive") must fail when a loop dies or hangs and must not care
about Redis; readiness ("can accept and enqueue") must fail while Redis is away or the inbox is
full, and is never a reason to restart. systemd's side is a real Unix datagram socket, as
systemd gives it; the roles run as the console script, as the units start them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import free_port
from enginekit import make_engine, wait_until
from werkzeug.test import Client

from bot.config import Settings
from bot.engine.engine import Engine
from bot.health import Liveness, health_wsgi_app
from bot.runtime import scheduler_role, worker_role
from bot.store.connection import connect, ping, probe_client
from bot.store.keys import Keys
from bot.systemd import Notifier
from bot.web.app import create_app
from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator

pytest_plugins = ["fixtures_ark", "fixtures_feishu"]

ENCRYPT_KEY = "test-encrypt-key"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- Liveness ---------------------------------------------------------------------------------------


def test_a_loop_that_stops_beating_is_a_problem_until_it_beats_again() -> None:
    clock = Clock()
    live = Liveness(clock)
    live.watch("worker-0", stall_after=30)
    assert live.alive()
    clock.now += 29
    assert live.alive()
    clock.now += 2
    assert live.problems() == ["worker-0: no progress for 31 s (limit 30 s)"]
    live.beat("worker-0")
    assert live.alive()


def test_a_dead_thread_is_a_problem_at_once_and_a_forgotten_loop_is_not() -> None:
    live = Liveness()
    t = threading.Thread(target=lambda: None)
    t.start()
    live.watch("scheduler", stall_after=60, thread=t)
    t.join()
    assert live.problems() == ["scheduler: thread ended"]
    live.forget("scheduler")
    assert live.alive() and live.watched == []
    live.beat("scheduler")  # beats of unwatched loops are ignored
    assert live.watched == []


def test_the_health_port_answers_livez_and_readyz_separately() -> None:
    live = Liveness()
    reason: list[str | None] = [None]
    client = Client(health_wsgi_app(live, lambda: reason[0]))
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").json == {"ok": True}
    reason[0] = "redis unreachable"
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json == {"ok": False, "error": "redis unreachable"}
    assert client.get("/livez").status_code == 200, "readiness never fails liveness"
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    live.watch("worker-1", stall_after=900, thread=t)
    r = client.get("/livez")
    assert r.status_code == 503 and r.json == {"ok": False, "error": "worker-1: thread ended"}
    assert client.get("/metrics").status_code == 404
    assert client.post("/livez").status_code == 405


# --- Readiness --------------------------------------------------------------------------------------


def test_the_probe_client_fails_fast_when_redis_does_not_answer(redis_url: str) -> None:
    assert ping(probe_client(connect(redis_url)))
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        probe = probe_client(connect(f"redis://127.0.0.1:{silent.getsockname()[1]}/0"), timeout=0.5)
        started = time.monotonic()
        assert not ping(probe)
        assert time.monotonic() - started < 2.0


def web_settings(redis_url: str, **over: Any) -> Settings:
    return Settings(_env_file=None, redis_url=redis_url, redis_prefix="h",  # type: ignore[call-arg]
                    feishu_encrypt_key=ENCRYPT_KEY, **over)


def test_web_readyz_fails_while_the_inbox_is_full_and_livez_does_not(redis_url: str) -> None:
    s = web_settings(redis_url, inbox_max=10)
    client = create_app(s).test_client()
    assert client.get("/readyz").json == {"ok": True}
    r = redis.Redis.from_url(redis_url)
    inbox = Keys("h").inbox
    ids = [r.xadd(inbox, {"kind": "admit", "payload": "{}"}) for _ in range(10)]
    res = client.get("/readyz")
    assert res.status_code == 503 and res.json == {"ok": False, "error": "inbox full"}
    assert client.get("/livez").status_code == 200
    assert client.get("/healthz").status_code == 200, "/healthz keeps its meaning: Redis answers"
    r.xdel(inbox, ids[0])
    assert client.get("/readyz").status_code == 200


def test_web_readyz_fails_without_redis_and_livez_reports_the_process_loops(redis_url: str) -> None:
    s = web_settings(redis_url)
    down = connect(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2, connect_timeout=0.2, retries=0)
    live = Liveness()
    client = create_app(s, redis=down, liveness=live).test_client()
    res = client.get("/readyz")
    assert res.status_code == 503 and res.json == {"ok": False, "error": "redis unreachable"}
    assert client.get("/livez").status_code == 200, "a Redis outage is no reason to restart"
    live.watch("worker-0", stall_after=0.001)
    time.sleep(0.01)
    res = client.get("/livez")
    assert res.status_code == 503 and "worker-0: no progress" in res.json["error"]


# --- The roles report their loops --------------------------------------------------------------------


@pytest.fixture
def e(redis_url: str, ark_sim_factory: Callable[..., ArkSimulator],
      feishu_sim_factory: Callable[..., FeishuSimulator]) -> Engine:
    return make_engine(redis_url, ark_sim_factory().base_url, feishu_sim_factory())


def test_worker_threads_and_the_scheduler_loop_are_watched_while_they_run(e: Engine) -> None:
    live = Liveness()
    w = worker_role(e, threads=2, liveness=live)
    s = scheduler_role(e, liveness=live)
    w.start()
    s.start()
    try:
        assert live.watched == sorted([f"{e.node}-0", f"{e.node}-1", f"{e.node}-cards", "scheduler"])
        wait_until(s.is_leader.is_set, what="leadership")
        before = time.monotonic()
        wait_until(lambda: all(loop.last > before for loop in live._loops.values()), what="every loop beating")
        assert live.alive()
    finally:
        s.stop()
        w.stop()
    assert live.watched == [] and live.alive(), "loops that end because the process stops are no problem"


# --- systemd's notify protocol -----------------------------------------------------------------------


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, Callable[[float], list[str]]]]:
    """A Unix datagram socket like systemd's; yields (path, receive(seconds) -> messages)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="notify-")  # short: AF_UNIX paths are limited to 107 bytes
    path = os.path.join(d, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)

    def receive(seconds: float) -> list[str]:
        got: list[str] = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                break
        return got

    yield path, receive
    sock.close()
    os.unlink(path)
    os.rmdir(d)


def test_notifier_sends_ready_stopping_and_pings_only_while_alive(
        notify_socket: tuple[str, Callable[[float], list[str]]]) -> None:
    path, receive = notify_socket
    clock = Clock()
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"}, clock=clock)
    assert n.enabled and n.watchdog_interval == 30.0
    assert n.ready("running roles: worker")
    live = Liveness(clock)
    live.watch("worker-0", stall_after=60)
    n.watchdog(live)
    n.watchdog(live)  # not due yet: a third of WatchdogSec between pings
    clock.now += 10
    n.watchdog(live)
    clock.now += 100  # the loop hangs: no ping, a status saying why
    n.watchdog(live)
    clock.now += 10
    n.watchdog(live)
    live.beat("worker-0")
    n.watchdog(live)
    n.stopping()
    assert receive(0.5) == [
        "READY=1\nSTATUS=running roles: worker", "WATCHDOG=1", "WATCHDOG=1",
        "STATUS=not alive: worker-0: no progress for 110 s (limit 60 s)",
        "STATUS=alive again", "WATCHDOG=1", "STOPPING=1\nSTATUS=draining",
    ]


def test_notifier_is_a_no_op_outside_systemd_and_for_another_process_watchdog() -> None:
    n = Notifier({})
    assert not n.enabled and not n.ready() and n.watchdog_interval == 0
    other = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval == 0, "WATCHDOG_PID names another process"
    assert not other.ready(), "an unreachable socket is logged, never raised"


def test_notifier_reaches_an_abstract_socket() -> None:
    name = f"seedance-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        sock.settimeout(2)
        assert sock.recv(100) == b"READY=1"


# --- The roles as systemd and the kubelet start them -----------------------------------------------------


def _get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.parametrize("role", ["worker", "scheduler", "web"])
def test_a_role_tells_systemd_it_is_ready_feeds_the_watchdog_and_answers_probes(
        role: str, redis_url: str, tmp_path: Path, notify_socket: tuple[str, Callable[[float], list[str]]]) -> None:
    path, receive = notify_socket
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARK_", "FEISHU_", "BOT_", "REDIS_", "SEEDANCE_"))}
    env.update({
        "REDIS_URL": redis_url, "REDIS_PREFIX": f"sd-{role}", "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1500000",
        "ARK_API_KEY": "test-key", "ARK_BASE_URL": f"http://127.0.0.1:{free_port()}/api/v3",
        "FEISHU_APP_ID": "cli_test", "FEISHU_APP_SECRET": "secret", "FEISHU_DOMAIN": f"http://127.0.0.1:{free_port()}",
        "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY, "WEB_CONCURRENCY": "1", "NO_PROXY": "127.0.0.1,localhost",
    })
    env["BOT_PORT" if role == "web" else "BOT_HEALTH_PORT"] = str(port)
    exe = Path(sys.executable).with_name("seedance-bot")
    proc = subprocess.Popen([str(exe), role], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        messages: list[str] = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and messages.count("WATCHDOG=1") < 2:
            messages += receive(0.5)
            assert proc.poll() is None, proc.communicate()[0]
        assert messages and messages[0].startswith("READY=1"), messages
        assert messages.count("WATCHDOG=1") >= 2, messages
        for probe in ("livez", "readyz"):
            status, body = _get(f"http://127.0.0.1:{port}/{probe}")
            assert status == 200 and body.replace(" ", "").strip() == '{"ok":true}', (probe, body)
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=40)[0]
        assert proc.returncode == 0, out
        if role != "web":  # gunicorn says nothing on the way out
            assert "STOPPING=1\nSTATUS=draining" in receive(0.5) + messages, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
