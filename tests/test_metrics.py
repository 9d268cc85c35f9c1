"""Metrics from every role: one process's own, gunicorn's processes added up, the health port's.

The roles started as separate processes and scraped while a video goes through are in
tests/e2e/test_observability.py; here, the parts: what a scrape of a process without the web app
shows and who may read it, the one set of metrics `serve` makes and hands to its engine, clients and
app, durations across clocks, and the real `seedance-bot web` with two gunicorn processes whose
counters add up whichever process (or the master) answers.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

import pytest
import redis
import requests
from builders import ENCRYPT_KEY, TOKEN, delivery, message_event
from conftest import free_port
from prometheus_client import Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.test import Client

from bot import metrics, runtime
from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.metrics import EngineCollector
from bot.health import Liveness, health_wsgi_app
from bot.runtime import _start_health
from bot.store.connection import connect
from bot.store.keys import Keys
from bot.web.app import create_app
from bot.web.server import close_inherited_metrics_socket, serve_metrics_from_gunicorn_master
from sim.ark import ArkSimulator

pytest_plugins = ["fixtures_ark"]  # ark_sim_factory; tests/ is on sys.path (rootdir conftest)

METRICS_TOKEN = "metrics-token-123"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus text, or None when it is not there."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if m and m.group(1) == name and ",".join(sorted((m.group(2) or "").split(","))) == want:
            return float(m.group(3))
    return None


# --- one process ------------------------------------------------------------------------------------------


def test_a_process_without_the_web_app_exports_its_metrics_and_the_engine_gauges_behind_the_token(
        redis_url: str) -> None:
    """What runtime puts on BOT_HEALTH_PORT for a worker or scheduler: the probes, and /metrics."""
    settings = Settings(_env_file=None, redis_url=redis_url, redis_prefix="obs", health_port=free_port(),  # type: ignore[call-arg]
                        metrics_token=METRICS_TOKEN)
    r = connect(redis_url)
    mine = metrics.ProcessMetrics.create()
    mine.leader_changes.inc()
    server = _start_health(settings, r, Liveness(), metrics.exposition(mine, None, EngineCollector(r, "obs")))
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert requests.get(base + "/livez", timeout=5).json() == {"ok": True}
        assert requests.get(base + "/metrics", timeout=5).status_code == 401
        assert requests.get(base + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
        resp = requests.get(base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5)
        assert resp.status_code == 200
        assert (sample(resp.text, "bot_scheduler_leader_changes_total") or 0) >= 1
        assert sample(resp.text, "bot_jobs_queued") == 0.0, "the engine gauges, read from Redis"
        assert "# TYPE bot_ark_calls_total counter" in resp.text
        assert requests.post(base + "/metrics", timeout=5).status_code == 405
    finally:
        server.close()
        r.close()


def test_the_probes_get_metrics_only_when_the_process_has_no_web_app() -> None:
    """Without a registry (web and serve: the app's /metrics has everything) the port stays probes only."""
    app = metrics.wsgi_app(metrics.exposition(metrics.ProcessMetrics.create()), "",
                           health_wsgi_app(Liveness(), lambda: None))
    client = Client(app)
    assert client.get("/metrics").status_code == 200 and client.get("/readyz").status_code == 200
    assert Client(health_wsgi_app(Liveness(), lambda: None)).get("/metrics").status_code == 404


def test_serve_makes_one_set_of_metrics_that_its_engine_clients_and_app_share(
        redis_url: str, ark_sim_factory: Callable[..., ArkSimulator], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The composition root (`bot.runtime.run_roles`, as `seedance-bot serve` calls it) makes ONE
    `ProcessMetrics` and hands it to the Ark and Feishu clients, the engine and the web app: an Ark
    call made through the engine's client shows on the app's /metrics."""
    made: list[metrics.ProcessMetrics] = []
    create = metrics.ProcessMetrics.create.__func__  # type: ignore[attr-defined]

    def counted(cls: type[metrics.ProcessMetrics]) -> metrics.ProcessMetrics:
        made.append(create(cls))
        return made[-1]

    monkeypatch.setattr(metrics.ProcessMetrics, "create", classmethod(counted))
    engines: list[Engine] = []
    build_engine = runtime.build_engine

    def kept(*args: Any, **kwargs: Any) -> Engine:
        engines.append(build_engine(*args, **kwargs))
        return engines[-1]

    monkeypatch.setattr(runtime, "build_engine", kept)
    ark_sim = ark_sim_factory(api_key="one-key")
    port = free_port()
    scraped: list[str] = []

    def while_running(_stop: Any, every: Any = None) -> None:  # instead of waiting for SIGTERM
        [engine] = engines
        engine.ark.list(retries=0)
        scraped.append(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)

    monkeypatch.setattr(runtime, "wait_for_signal", while_running)
    settings = Settings(_env_file=None, redis_url=redis_url, redis_prefix="one", bot_port=port,  # type: ignore[call-arg]
                        bot_data_dir=str(tmp_path), ark_base_url=ark_sim.base_url, ark_api_key="one-key",
                        feishu_app_id="cli_one", feishu_app_secret="secret", feishu_encrypt_key=ENCRYPT_KEY)
    runtime.run_roles(settings, web=True, worker=True, scheduler=True, worker_threads=1)

    [engine] = engines
    assert len(made) == 1, "one ProcessMetrics in the process"
    assert engine.metrics is made[0] and engine.ark.metrics is made[0] and engine.feishu.metrics is made[0]
    [text] = scraped
    assert sample(text, "bot_ark_calls_total", op="list", code="ok") == 1.0, \
        "the engine's Ark call, on the app's /metrics"
    assert sample(text, "bot_ark_call_seconds_count", op="list") == 1.0


def test_the_gunicorn_hooks_keep_the_masters_metrics_server_on_the_arbiter(redis_url: str) -> None:
    """`when_ready` starts /metrics on BOT_METRICS_PORT once per arbiter and keeps it there (no module
    state); `post_fork` closes the inherited socket of that arbiter's server, if it has one."""
    port = free_port()
    settings = Settings(_env_file=None, redis_url=redis_url, feishu_encrypt_key=ENCRYPT_KEY,  # type: ignore[call-arg]
                        metrics_port=port)
    app = create_app(settings)
    arbiter = SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app), log=logging.getLogger("test"))
    serve_metrics_from_gunicorn_master(arbiter)
    served = arbiter.seedance_metrics  # type: ignore[attr-defined]
    try:
        assert served.port == port
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
        serve_metrics_from_gunicorn_master(arbiter)
        assert arbiter.seedance_metrics is served, "started once"  # type: ignore[attr-defined]
    finally:
        served.close()
    inherited = SimpleNamespace(seedance_metrics=SimpleNamespace(_server=SimpleNamespace(socket=Mock())))
    close_inherited_metrics_socket(inherited, None)
    inherited.seedance_metrics._server.socket.close.assert_called_once_with()
    close_inherited_metrics_socket(SimpleNamespace(), None)  # an arbiter without a metrics server


def test_durations_across_two_clocks() -> None:
    h = Histogram("bot_test_seconds", "test", registry=None)
    assert metrics.observe_seconds(h, 3.5)
    assert metrics.observe_seconds(h, -1.0), "a second of rounding (Ark's updated_at) counts as 0"
    assert not metrics.observe_seconds(h, -30.0), "clocks that disagree: nothing observed"
    samples = {s.name: s.value for s in h.collect()[0].samples}
    assert samples["bot_test_seconds_sum"] == 3.5 and samples["bot_test_seconds_count"] == 2


# --- gunicorn: several processes, one sum -------------------------------------------------------------


def _cli() -> str:
    return str(Path(sys.executable).parent / "seedance-bot")


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(x) for x in f.read().split()}


@pytest.fixture
def gunicorn_web(redis_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    """`seedance-bot web` with two gunicorn processes and its own PROMETHEUS_MULTIPROC_DIR."""
    metrics_port = free_port() if request.param else 0
    port = free_port()
    mp_dir = tmp_path / "metrics"
    mp_dir.mkdir()
    (mp_dir / "counter_1.db").write_bytes(b"stale")  # a previous run's file: removed at start
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "REDIS_", "BOT_", "PROMETHEUS_"))}
    env.update(REDIS_URL=redis_url, REDIS_PREFIX="mp", FEISHU_ENCRYPT_KEY=ENCRYPT_KEY, FEISHU_VERIFICATION_TOKEN=TOKEN,
               BOT_PORT=str(port), WEB_CONCURRENCY="2", LOG_LEVEL="WARNING", BOT_METRICS_TOKEN=METRICS_TOKEN,
               BOT_METRICS_PORT=str(metrics_port), PROMETHEUS_MULTIPROC_DIR=str(mp_dir))
    proc = subprocess.Popen([_cli(), "web"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"seedance-bot web exited: {proc.stdout.read().decode() if proc.stdout else ''}")
            try:
                if requests.get(base + "/readyz", timeout=1).status_code == 200 and len(_children(proc.pid)) == 2:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "seedance-bot web did not come up"
            time.sleep(0.05)
        yield {"base": base, "proc": proc, "dir": mp_dir,
               "metrics_url": f"http://127.0.0.1:{metrics_port or port}/metrics"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _accepted_per_process(mp_dir: Path) -> dict[int, float]:
    """bot_feishu_events_total{outcome="accepted"} in each process's own file."""
    out: dict[int, float] = {}
    for f in mp_dir.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(f)], accumulate=False):
            for s in family.samples:
                if s.name == "bot_feishu_events_total" and s.labels.get("outcome") == "accepted":
                    out[int(f.stem.split("_")[1])] = s.value
    return out


@pytest.mark.parametrize("gunicorn_web", [False, True], ids=["on-BOT_PORT", "on-BOT_METRICS_PORT"], indirect=True)
def test_gunicorn_processes_add_up_whichever_answers(gunicorn_web: dict[str, object], redis_url: str) -> None:
    """Events handled by two gunicorn processes: every scrape (a worker on BOT_PORT, or the master on
    BOT_METRICS_PORT) shows all of them; a worker that dies takes none of its counts with it."""
    base, proc, mp_dir, url = (gunicorn_web[k] for k in ("base", "proc", "dir", "metrics_url"))
    assert isinstance(proc, subprocess.Popen) and isinstance(mp_dir, Path)
    assert not (mp_dir / "counter_1.db").exists(), "the previous run's files are gone"
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}

    def push(_: int) -> None:
        body, headers = delivery(message_event(chat_type="p2p"))
        headers["Connection"] = "close"  # a new connection each: any process may take it
        assert requests.post(f"{base}/feishu/events", data=body, headers=headers, timeout=10).status_code == 200

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while len([v for v in _accepted_per_process(mp_dir).values() if v]) < 2:
            assert sent < 400, f"one process took every event: {_accepted_per_process(mp_dir)}"
            list(pool.map(push, range(sent, sent + 16)))
            sent += 16
    assert sum(_accepted_per_process(mp_dir).values()) == sent
    assert requests.get(str(url), timeout=5).status_code == 401

    def scraped() -> float | None:
        text = requests.get(str(url), headers={**auth, "Connection": "close"}, timeout=5).text
        return sample(text, "bot_feishu_events_total", outcome="accepted")

    assert [scraped() for _ in range(8)] == [float(sent)] * 8, "the same sum from every process"
    text = requests.get(str(url), headers=auth, timeout=5).text
    assert sample(text, "bot_inbox_length") == float(redis.Redis.from_url(redis_url).xlen(Keys("mp").inbox)), \
        "the engine gauges too"
    assert (sample(text, "bot_web_handling_seconds_count", route="feishu") or 0) >= sent

    victim = min(_children(proc.pid))  # a worker dies; gunicorn starts another
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in _children(proc.pid) or len(_children(proc.pid)) < 2:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.05)
    push(0)
    assert [scraped() for _ in range(4)] == [float(sent + 1)] * 4, "a dead process's counts stay counted"
