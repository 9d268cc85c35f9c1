"""Chaos: many users' requests through the real roles while everything around them goes wrong.

36 `/video` requests from 6 users in 3 chats go through the bot running as separate
processes (web, two workers, two schedulers) on a redis-server of its own, while:

* Ark fails some calls (500/429 before any work) and loses the answer of 25 % of the
  creates that DID make a task (a 500, a dropped connection, or an answer slower than
  the bot's timeout);
* Feishu fails some replies (before and after posting), uploads and card updates;
* another client creates tasks with the same API key, the same model and the same
  settings, all along (a teammate's script);
* a worker, a scheduler, the web process and another worker are SIGKILLed and
  restarted, and redis-server is SIGKILLed and restarted from its AOF.

Then every request must have exactly one video in its own thread (counted as
requests that created a message, not as messages), its job bound to exactly one Ark
task of its own, no video of the other client's in any chat, no failure text — and no
secret in any log line or Redis value. Nothing here asserts timing: waits only bound
how long the test may hang, and every kill happens at a moment chosen by looking at
Redis, never by sleeping.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from stack import (
    APP_SECRET,
    ARK_KEY,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    Stack,
    free_port,
    wait_until,
)

from bot.clients.ark import ArkClient
from bot.errors import ArkError
from sim.redis_server import RedisServer

pytestmark = pytest.mark.slow

PREFIX = "{bot}"  # REDIS_PREFIX default, hash-tagged
N = 36
USERS = [{"open_id": f"ou_chaos{i}", "name": f"Chaos {i}"} for i in range(6)]
CHATS = ["oc_chaos_a", "oc_chaos_b", "oc_chaos_c"]
MODEL = "seedance-1-5-pro-251215"
FINAL_WAIT = 240.0  # an upper bound against hangs, not a performance claim (the test's timeout is longer)
ARK_FAULTS = ["--wall-clock-timestamps", "--lost-create-rate", "0.25", "--lost-create-mode", "mixed",
              "--lost-create-delay", "6", "--error-rate", "0.05"]
FEISHU_FAULTS = ["reply:500:0.05", "reply:500:0.05:after", "upload_file:500:0.08", "upload_image:429:0.08",
                 "patch:502:0.05", "resource:500:0.05"]
BOT_ENV = {"ARK_TIMEOUT": "3", "ARK_MAX_IN_FLIGHT": "8", "BOT_USER_MAX_JOBS": "3", "BOT_USER_MAX_QUEUED": "10"}


def tag(i: int) -> str:
    return f"chaosreq{i:02d}"


class Chaos:
    """The deployment, its processes by name, and a Redis client for read-only probes."""

    def __init__(self, stack: Stack, rp: RedisServer) -> None:
        self.stack = stack
        self.rp = rp
        self.r = redis.Redis.from_url(rp.url, decode_responses=True, socket_timeout=5)
        self.kills: Counter[str] = Counter()
        self.roles: dict[str, tuple[str, dict[str, str]]] = {}

    def spawn(self, name: str, role: str, node: str = "") -> None:
        env = {**self.stack.bot_environment(), **({"BOT_NODE": node} if node else {})}
        self.roles[name] = (role, env)
        self.stack.spawn(name, [role], env)

    def kill_and_restart(self, name: str) -> None:
        # The whole unit, as a container or systemd ends it: a gunicorn worker outliving its killed
        # master answers /healthz for a moment, and the next wave would be pushed into the gap
        # before the new web listens (Feishu re-pushes only after 15 s, then 5 min).
        self.stack.kill(name, signal.SIGKILL, group=True)
        self.kills[name.split("-")[1] if "-" in name else name] += 1
        role, env = self.roles[name]
        self.stack.spawn(name, [role], env)

    def restart_redis(self) -> None:
        self.rp.kill(signal.SIGKILL)
        self.kills["redis"] += 1
        self.rp.start()

    def probe(self, fn: Any, default: Any) -> Any:
        try:
            return fn()
        except redis.RedisError:
            return default

    def jobs(self) -> list[dict[str, str]]:
        def read() -> list[dict[str, str]]:
            return [self.r.hgetall(k) for k in self.r.scan_iter(f"{PREFIX}:job:*", count=1000)]
        return list(self.probe(read, []))

    def with_task(self) -> int:
        return sum(1 for j in self.jobs() if j.get("task_id"))

    def done(self) -> int:
        return sum(1 for j in self.jobs() if j.get("state") == "done")


PUSHED: dict[str, Any] = {}  # message id -> how the simulator's first push of it went (for a failure's message)


def send(stack: Stack, i: int) -> tuple[str, str]:
    sent = stack.send(f"/video a paper lantern drifting {tag(i)}", user=USERS[i % len(USERS)],
                      chat_id=CHATS[i % len(CHATS)])
    PUSHED[str(sent["message_id"])] = {k: sent.get(k) for k in ("event_id", "status", "error", "latency_ms")}
    return str(sent["message_id"]), tag(i)


def send_wave(stack: Stack, ids: range) -> dict[str, str]:
    with ThreadPoolExecutor(len(ids)) as pool:
        return dict(pool.map(lambda i: send(stack, i), ids))


def stranger(stack: Stack, stop: threading.Event, made: list[str]) -> None:
    """A teammate's script on the same API key: tasks just like the bot's, all along."""
    ark = ArkClient(stack.ark_url, ARK_KEY, timeout=3, max_retries=0)
    i = 0
    while not stop.is_set() and i < 60:
        body: dict[str, Any] = {"model": MODEL, "content": [{"type": "text", "text": f"STRANGER clip {i}"}],
                                "resolution": "720p", "ratio": "16:9", "duration": 5, "return_last_frame": True}
        if i % 3 == 1:
            body["execution_expires_after"] = 21600 - (i * 37) % 1799  # close to what the bot sends
        if i % 3 == 2:
            body["seed"] = (i * 2654435761) % 2**32
        try:
            made.append(ark.create(body))
        except ArkError:
            pass  # a lost answer: the task may exist anyway (the simulator reports it)
        i += 1
        stop.wait(0.4)
    ark.close()


def media_replies(stack: Stack) -> dict[str, int]:
    """Per replied-to message: media replies that created a message (requests, not messages)."""
    out: Counter[str] = Counter()
    for req in stack.feishu_requests("reply"):
        if req.get("msg_type") == "media" and req.get("created"):
            out[str(req.get("message_id"))] += 1
    return dict(out)


def dump_redis(url: str) -> str:
    """Every key and value in Redis, as text (to look for secrets); binary values decoded loosely."""
    r = redis.Redis.from_url(url, decode_responses=False, socket_timeout=5)
    parts: list[str] = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        if kind == "string":
            value: Any = r.get(key)
        elif kind == "hash":
            value = r.hgetall(key)
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(r.smembers(key))
        elif kind == "zset":
            value = r.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = r.xrange(key)
        else:
            value = kind
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


@pytest.mark.timeout(720)  # the waits above are bounded one by one; their sum may exceed the default 300 s
def test_chaos_every_request_gets_exactly_its_own_video(tmp_path: Path) -> None:
    rp = RedisServer(tmp_path / "redis", free_port())
    rp.start()
    stack = Stack(workdir=tmp_path, redis_url=rp.url, ark_args=ARK_FAULTS,
                  feishu_args=[x for f in FEISHU_FAULTS for x in ("--fault", f)], bot_env=dict(BOT_ENV))
    chaos = Chaos(stack, rp)
    stop = threading.Event()
    strangers: list[str] = []
    other = threading.Thread(target=stranger, args=(stack, stop, strangers), daemon=True)
    try:
        stack.start_simulators()
        chaos.spawn("bot-web", "web")
        chaos.spawn("bot-worker-a", "worker", "chaos-a")
        chaos.spawn("bot-worker-b", "worker", "chaos-b")
        chaos.spawn("bot-scheduler-1", "scheduler", "chaos-s1")
        chaos.spawn("bot-scheduler-2", "scheduler", "chaos-s2")
        wait_until(lambda: _healthy(stack), 60, what="the web role")
        other.start()

        sources = send_wave(stack, range(12))
        wait_until(lambda: chaos.with_task() >= 4, 120, what="tasks being made")
        chaos.kill_and_restart("bot-worker-a")  # mid-start/mid-create, leases held
        wait_until(lambda: chaos.done() >= 2, 120, what="the first deliveries")
        chaos.kill_and_restart("bot-scheduler-1")  # leader or standby: the other takes over either way

        sources |= send_wave(stack, range(12, 24))
        wait_until(lambda: chaos.probe(lambda: len(chaos.jobs()), 0) >= 18, 120, what="the second wave accepted")
        chaos.restart_redis()  # SIGKILL, then restart from the AOF
        wait_until(lambda: _healthy(stack), 60, what="the web role after Redis came back")
        chaos.kill_and_restart("bot-web")
        wait_until(lambda: _healthy(stack), 60, what="the restarted web role")

        sources |= send_wave(stack, range(24, N))
        wait_until(lambda: chaos.probe(lambda: any(True for _ in chaos.r.scan_iter(f"{PREFIX}:lease:deliver:*")),
                                       False) or chaos.done() >= N - 4, 120, what="a delivery in progress")
        chaos.kill_and_restart("bot-worker-b")  # mid-delivery

        try:
            wait_until(lambda: all(media_replies(stack).get(mid) for mid in sources), FINAL_WAIT, interval=0.5,
                       what="a video for every request")
        except AssertionError:
            replies = media_replies(stack)
            lost = {sources[m]: (chaos.r.hgetall(f"{PREFIX}:job:m-{m}"), PUSHED.get(m))
                    for m in sources if not replies.get(m)}
            raise AssertionError(f"no video for {len(lost)} of {len(sources)} requests (job, push): {lost}; "
                                 f"inbox length {chaos.r.xlen(f'{PREFIX}:inbox')}") from None
        stop.set()
        other.join(10)
        _settle(chaos)

        replies = media_replies(stack)
        assert {sources[m]: replies.get(m, 0) for m in sources} == dict.fromkeys(sources.values(), 1), replies
        assert set(replies) <= set(sources), "a media reply to a message that asked for nothing"
        texts = [m.get("text") for m in stack.bot_messages("text") if m.get("parent_id") in sources]
        assert not texts, f"failure texts: {texts}"
        cards = Counter(str(m.get("parent_id")) for m in stack.bot_messages("interactive"))
        assert {mid: cards.get(mid, 0) for mid in sources} == dict.fromkeys(sources, 1), cards

        tasks = stack.ark_tasks()
        stranger_ids = {str(t["id"]) for t in tasks if "STRANGER" in str(t.get("prompt", ""))}
        callbacks = [str((t.get("body") or {}).get("callback_url", "")) for t in tasks if t["id"] not in stranger_ids]
        assert all(c.startswith(f"{stack.bot_url}/ark/callback/") and "{" not in c for c in callbacks), callbacks
        per_tag: dict[str, list[str]] = {t: [] for t in sources.values()}
        for t in tasks:
            hits = [x for x in per_tag if x in str(t.get("prompt", ""))]
            if hits:
                per_tag[hits[0]].append(str(t["id"]))
        assert {t: len(ids) for t, ids in per_tag.items()} == dict.fromkeys(per_tag, 1), per_tag
        for mid, t in sources.items():
            job = chaos.r.hgetall(f"{PREFIX}:job:m-{mid}")
            assert job.get("state") == "done", (t, job.get("state"))
            assert job.get("task_id") == per_tag[t][0], (t, job.get("task_id"), per_tag[t])
            assert job.get("task_id") not in stranger_ids
            assert job.get("video_message_id"), t

        ark_faults = stack.faults("ark")
        feishu_faults = stack.faults("feishu")
        lost = len(ark_faults.get("lost_tasks", []))
        ours_lost = len(set(ark_faults.get("lost_tasks", [])) - stranger_ids)
        assert ours_lost > 0 and ark_faults.get("total", 0) > lost, ark_faults.get("counts")
        assert feishu_faults.get("total", 0) > 0, feishu_faults.get("counts")
        assert sum(chaos.kills.values()) >= 5 and chaos.kills["redis"] == 1

        logs = "\n".join(stack.log(name) for name in chaos.roles)
        dump = dump_redis(rp.url)
        for secret in (ARK_KEY, APP_SECRET, ENCRYPT_KEY, VERIFICATION_TOKEN):
            assert secret not in logs, f"a secret in the logs: {secret[:4]}…"
            assert secret not in dump, f"a secret in Redis: {secret[:4]}…"

        print(f"\nchaos: {len(sources)} requests from {len(USERS)} users in {len(CHATS)} chats; "
              f"kills {dict(chaos.kills)}; Ark faults {ark_faults.get('counts')} ({lost} creates answered "
              f"lost, {ours_lost} of them the bot's, each adopted); Feishu faults {feishu_faults.get('counts')}; "
              f"other client's tasks {len(stranger_ids)}; "
              f"delivered {sum(replies.get(m, 0) for m in sources)}/{len(sources)}, lost 0, doubled 0, "
              f"strangers' videos delivered 0")
    finally:
        stop.set()
        stack.stop()
        rp.stop()
        stack.print_logs(chaos.roles, 3000)


def _healthy(stack: Stack) -> bool:
    import requests

    try:
        return requests.get(f"{stack.bot_url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _settle(chaos: Chaos) -> None:
    """No job unfinished, no entry pending, no lease held: nothing more can happen."""
    def quiet() -> bool:
        r = chaos.r
        active = r.zcard(f"{PREFIX}:active")
        leases = sum(1 for _ in r.scan_iter(f"{PREFIX}:lease:*"))
        pending = 0
        for stream in (f"{PREFIX}:inbox", f"{PREFIX}:deliver"):
            if r.exists(stream):
                pending += sum(int(g["pending"]) + int(g.get("lag") or 0) for g in r.xinfo_groups(stream))
        return active == 0 and leases == 0 and pending == 0

    wait_until(lambda: chaos.probe(quiet, False), 60, interval=0.25, what="the bot at rest")
