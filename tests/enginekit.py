"""Helpers for the in-process engine tier: real Redis, both simulators over real HTTP, real clients.

Nothing of ours is mocked. An `Engine` is built the way `bot.runtime.build_engine` builds one,
with explicit settings (a tiny `expected_time_factor`, so every scaled wait is short) and clients
that retry little and quickly (so faults injected into the simulators reach the engine's own
retry and adoption logic). Tests wait on conditions (`wait_until`), never for fixed times.

Also here: `HoldingProxy`, a TCP proxy that holds a connection until told to let it through (a
create that is "still on the wire"), and `assert_stats_exact`, the invariant that the per-state
counters kept by the scripts equal a count of the job records.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import redis
import requests

from bot.clients.ark import ArkClient
from bot.clients.feishu import FeishuClient
from bot.config import Settings
from bot.engine.engine import Engine
from bot.spec import VideoSpec, resolve, spec_to_json
from bot.store.jobs import Job, JobState, Pool
from bot.store.quotas import Acceptance
from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator
from sim.stack import wait_until as _wait_until

ARK_KEY = "test-key"
PREFIX = "t"
MODEL = "seedance-1-5-pro-251215"  # has seeds
MODEL_2_0 = "dreamina-seedance-2-0-260128"  # no seeds
FAST_MODEL = "seedance-1-0-pro-fast-251015"


def settings(redis_url: str, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url, "redis_prefix": PREFIX, "ark_timeout": 3.0,
        "expected_time_factor": 0.001, "ark_max_in_flight": 3, "ark_max_slow_in_flight": 2,
        "user_max_jobs": 0, "user_max_queued": 0, "user_daily_seconds": 0, "daily_seconds": 0,
        "feishu_app_id": "cli_sim_app", "feishu_app_secret": "sim-secret", "download_timeout": 20.0,
    }
    values.update(over)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def ark_client(base_url: str, *, timeout: float = 3.0, key: str = ARK_KEY) -> ArkClient:
    return ArkClient(base_url, key, timeout=timeout, max_retries=1, backoff=0.01)


def feishu_client(sim: FeishuSimulator) -> FeishuClient:
    """No retries inside the client: an injected fault reaches the engine's own retry logic."""
    return FeishuClient(sim.app_id, sim.app_secret, base_url=sim.origin, max_retries=0, backoff=0.01,
                        max_delay=0.05)


def make_engine(redis_url: str, ark_url: str, feishu: FeishuSimulator, *, node: str = "test-node",
                clock: Callable[[], float] = time.time, **over: Any) -> Engine:
    s = settings(redis_url, **over)
    return Engine(settings=s, redis=redis.Redis.from_url(redis_url, decode_responses=True),
                  ark=ark_client(ark_url, timeout=s.ark_timeout), feishu=feishu_client(feishu), node=node,
                  clock=clock)


def user_message(feishu: FeishuSimulator, text: str = "/video a kitten", *, user: str = "ou_alice") -> dict[str, Any]:
    """A chat message the job replies to (it must exist in the Feishu simulator)."""
    return feishu.send(text=text, chat_type="group", user={"open_id": user, "name": user}, deliver=False)


def new_job(rid: str, *, user: str = "ou_alice", prompt: str = "a kitten yawning", model: str = MODEL,
            resolution: str = "480p", duration: int = 4, pool: str = Pool.STANDARD, reply_to: str = "",
            chat_id: str = "oc_sim_group", spec: VideoSpec | None = None, **fields: Any) -> Job:
    spec = spec or resolve(VideoSpec(prompt=prompt, model=model, resolution=resolution, duration=duration,
                                     generate_audio=False))
    return Job(rid=rid, kind="video", chat_id=chat_id, user=user, reply_to=reply_to or f"om_{rid}",
               spec=spec_to_json(spec), pool=pool, model=spec.model or "", resolution=spec.resolution or "",
               duration=spec.duration or 0, accepted_at=time.time(), **fields)


def accept(engine: Engine, job: Job, seconds: int = 4) -> Job:
    assert engine.budgets.accept(job, seconds, engine.limits_for(job.user), now=engine.clock()) == Acceptance.OK
    return job


def admit(engine: Engine, job: Job, seconds: int = 4) -> Job:
    """Accept `job` and admit it (it must be the next job of its pool): it is STARTING."""
    accept(engine, job, seconds)
    rid = engine.queue.admit(job.pool, engine.cap(job.pool))
    assert rid == job.rid, rid
    got = engine.records.get(job.rid)
    assert got is not None and got.job_state == JobState.STARTING
    return got


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """`sim.stack.wait_until`, looking every 10 ms (these tests run the engine in-process)."""
    return _wait_until(cond, timeout, interval=0.01, what=what)


# --- what the simulators saw -----------------------------------------------------------------------


def sim_tasks(sim: ArkSimulator) -> list[dict[str, Any]]:
    """Every task the Ark simulator made, via its HTTP inspection route."""
    resp = requests.get(f"{sim.origin}/__sim__/tasks", timeout=10)
    resp.raise_for_status()
    return cast(list[dict[str, Any]], resp.json())


def tasks_with_prompt(sim: ArkSimulator, prompt: str) -> list[dict[str, Any]]:
    return [t for t in sim_tasks(sim) if t["prompt"] == prompt]


def ark_requests(sim: ArkSimulator, method: str | None = None, *, kind: str | None = None) -> list[dict[str, Any]]:
    """API requests the Ark simulator served; kind: create | list | get | delete."""
    out = []
    for r in sim.requests_log():
        path = r["path"]
        if not path.startswith("/api/v3/contents/generations/tasks"):
            continue
        has_id = path.rstrip("/") != "/api/v3/contents/generations/tasks"
        k = {"POST": "create", "DELETE": "delete"}.get(r["method"]) or ("get" if has_id else "list")
        if (method is None or r["method"] == method) and (kind is None or k == kind):
            out.append(r)
    return out


def inject(sim: ArkSimulator, op: str, mode: str, count: int = 1, delay: float | None = None) -> None:
    """A one-shot Ark fault through the simulator's HTTP control route."""
    spec: dict[str, Any] = {"op": op, "mode": mode, "count": count}
    if delay is not None:
        spec["delay"] = delay
    requests.post(f"{sim.origin}/__sim__/faults", json=spec, timeout=10).raise_for_status()


def feishu_fault(sim: FeishuSimulator, op: str, status: int, *, count: int = 1, when: str = "before") -> None:
    requests.post(f"{sim.origin}/__sim__/faults", json={"op": op, "status": status, "count": count, "when": when},
                  timeout=10).raise_for_status()


def bot_replies(feishu: FeishuSimulator, message_id: str, msg_type: str | None = None) -> list[dict[str, Any]]:
    """The bot's replies to one user message (optionally of one msg_type)."""
    return [m for m in feishu.messages(sender="bot")
            if m["parent_id"] == message_id and (msg_type is None or m["msg_type"] == msg_type)]


# --- invariants -------------------------------------------------------------------------------------


def assert_stats_exact(engine: Engine) -> None:
    """The per-state counters equal a count of the records, and in-flight jobs are STARTING/SUBMITTED."""
    r = engine.redis
    counted: Counter[str] = Counter()
    for key in r.scan_iter(match=f"{engine.keys.job_prefix}*", count=1000):
        state = r.hget(key, "state")
        if state:
            counted[str(state)] += 1
    stats = {k: v for k, v in engine.records.stats().items() if v}
    assert stats == dict(counted), (stats, dict(counted))
    for rid in engine.queue.in_flight():
        job = engine.records.get(rid)
        assert job is not None and job.job_state in (JobState.STARTING, JobState.SUBMITTED), (rid, job)


# --- a proxy that holds requests on the wire ---------------------------------------------------------


class HoldingProxy:
    """TCP proxy to `upstream` (host, port). While `holding`, a new connection's bytes wait in the
    proxy (the request has left the client but not reached the server) until `release()`;
    `hold(skip=n)` lets the next n new connections through first."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.holding = threading.Event()
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._skip = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="holding-proxy")
        self._thread.start()

    def base_url(self, path: str = "/api/v3") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hold(self, skip: int = 0) -> None:
        self._released.clear()
        self.arrived.clear()
        self._skip = skip
        self.holding.set()

    def release(self) -> None:
        self.holding.clear()
        self._released.set()

    def close(self) -> None:
        self._stop.set()
        self.release()
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            held = self.holding.is_set() and self._skip <= 0
            self._skip -= 1
        try:
            first = client.recv(65536)
            if held:
                self.arrived.set()
                self._released.wait(30)
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        if first:
            upstream.sendall(first)

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)


@contextmanager
def holding_proxy(sim: ArkSimulator) -> Iterator[HoldingProxy]:
    host, port = sim.origin.removeprefix("http://").split(":")
    proxy = HoldingProxy((host, int(port)))
    try:
        yield proxy
    finally:
        proxy.close()


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
