"""The suites' local deployment: `sim.stack.LocalStack`, as the flow and end-to-end tests run it.

Two ways to run the bot (`bot_mode`):

* `"process"` (the full-stack tier, tests/e2e): every part is a separate process started through
  the real console script (`seedance-bot sim ark`, `seedance-bot sim feishu`, and the bot:
  `serve`, or `web` + `worker` + `scheduler`), all sharing one real redis-server (`redis_url`);
* `"thread"` (the in-process tier, tests/flows): the same roles, built the way `bot.runtime`
  builds them (settings from the same environment, the real clients, engine, worker, scheduler
  and waitress web server), as threads of the test process, usually with the simulators in
  threads too (`simulators="thread"`). No process start-up; a role is stopped gracefully (as by
  SIGTERM) and started again with `kill(name, SIGTERM)` / `spawn(name, [role], env)`. A crash
  (SIGKILL) needs processes: the full-stack tier.

What differs from a plain `LocalStack`: no per-user daily budget, since the suites make many videos
per user (the default budget has its own tests in `e2e/test_spend.py`, which lift this with
`bot_env_unset`), a 5 s Ark timeout (the simulator answers in milliseconds unless told
otherwise; a start lease is the Ark timeout plus a margin, and a test whose worker dies mid-start
waits that long), and the suites' own group chat. Plus what the tests wait on, never on time:
`settled()` (the workers have acknowledged every inbox entry) and `at_rest()` (nothing left to
do anywhere: no job open, no entry waiting, no lease held, no retry planned), and `reset()` for a
stack reused by the tests of one module.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis
import requests

from bot.store.connection import connect
from bot.store.keys import Keys
from sim.stack import (
    APP_ID,
    APP_SECRET,
    ARK_KEY,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    LocalStack,
    RedisServer,
    StackError,
    free_port,
    wait_until,
)

BOT_ROLES = {"serve": ("web", "worker", "scheduler"), "web": ("web",), "worker": ("worker",),
             "scheduler": ("scheduler",)}
SUITE_DEFAULTS = {"BOT_USER_DAILY_SECONDS": "0", "ARK_TIMEOUT": "5"}


# --- barriers: what the tests wait on ------------------------------------------------------------------


def inbox_drained(r: redis.Redis, keys: Keys) -> bool:
    """Every inbox entry has been read and acknowledged by a worker.

    Acknowledged entries are deleted (`bot.store.streams`), so an empty stream means nothing is
    pending *and* nothing is unread. (XINFO GROUPS' `lag` would say the latter only on Redis ≥ 7:
    on 6.2 it is missing, and reading a missing lag as 0 lets a barrier pass before any worker
    has even read the entry.)"""
    try:
        if int(r.xlen(keys.inbox)):
            return False
        groups = r.xinfo_groups(keys.inbox)
    except redis.ResponseError:  # no stream yet: nothing was ever handed over
        return True
    return all(int(g.get("pending") or 0) == 0 for g in groups)


def cards_flushed(r: redis.Redis, keys: Keys) -> bool:
    """No card update is waiting for its turn (`bot.store.cards`)."""
    due = getattr(keys, "card_due", None)
    return due is None or not int(r.zcard(due))


def unrest(r: redis.Redis, keys: Keys) -> dict[str, Any]:
    """What keeps the bot from being at rest (empty when it is): for failure messages."""
    out: dict[str, Any] = {}
    for name, key in (("active", keys.active), ("later", keys.later)):
        if int(r.zcard(key)):
            out[name] = r.zrange(key, 0, 9)
    for stream in (keys.inbox, keys.deliver, keys.watch):
        if int(r.xlen(stream)):
            out[stream] = r.xrange(stream, count=5)
    due = getattr(keys, "card_due", None)
    if due is not None and int(r.zcard(due)):
        out["cards"] = r.zrange(due, 0, 9, withscores=True)
    leases = {k: (r.get(k), r.pttl(k)) for k in r.scan_iter(match=keys.lease_pattern, count=1000)}
    if leases:
        out["leases"] = leases
    return out


def at_rest(r: redis.Redis, keys: Keys) -> bool:
    """Nothing can happen any more: no job open, no entry waiting in any stream, no lease held,
    no delayed retry planned. What a duplicate would come from (a replayed entry, a stale delivery
    re-emitted, a retry) is gone, so counting what happened is final."""
    if int(r.zcard(keys.active)) or int(r.zcard(keys.later)):
        return False
    for stream in (keys.inbox, keys.deliver, keys.watch):
        if int(r.xlen(stream)):
            return False
    if not cards_flushed(r, keys):
        return False
    return not any(True for _ in r.scan_iter(match=keys.lease_pattern, count=1000))


# --- the bot's roles as threads of this process (bot_mode="thread") -------------------------------------


class ThreadRoles:
    """One "process" of the bot (serve, web, worker or scheduler) as threads of this one."""

    def __init__(self, name: str, command: str, env: dict[str, str]) -> None:
        from bot.config import Settings
        from bot.metrics import ProcessMetrics
        from bot.runtime import build_engine, scheduler_role, unregister, worker_role
        from bot.store.connection import connect
        from bot.web.app import create_app
        from bot.web.server import InProcessServer

        if command not in BOT_ROLES:
            raise StackError(f"bot_mode='thread' runs the bot's roles, not {command!r}")
        self.name = name
        self.roles = BOT_ROLES[command]
        self.settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
        self.redis = connect(self.settings.redis_url or "")
        self.parts: list[Any] = []
        self.server: Any = None
        self._unregister = unregister
        self._scheduled: list[str] = []
        metrics = ProcessMetrics.create()  # one per "process", as bot.runtime makes it
        if "worker" in self.roles or "scheduler" in self.roles:
            engine = build_engine(self.settings, self.redis, role=command, metrics=metrics)
            if "scheduler" in self.roles:
                s = scheduler_role(engine)
                self._scheduled.append(s.registered_as)
                self.parts.append(s)
            if "worker" in self.roles:
                self.parts.append(worker_role(engine))
        if "web" in self.roles:
            app = create_app(self.settings, redis=self.redis, metrics=metrics)
            self.server = InProcessServer(app, host="127.0.0.1", port=self.settings.bot_port)

    def start(self) -> None:
        for part in self.parts:
            part.start()
        if self.server is not None:
            self.server.start()

    def stop(self) -> None:
        """Drain as on SIGTERM: the web server stops taking requests, the loops finish what they hold."""
        if self.server is not None:
            self.server.close()
        stoppers = [threading.Thread(target=part.stop, daemon=True) for part in self.parts]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(60)
        for name in self._scheduled:
            self._unregister(name)
        self.redis.close()


class _LogTo(logging.FileHandler):
    """The bot's log lines (loggers `bot`, `handlers`) while thread-mode roles run, in one file."""

    LOGGERS = ("bot", "handlers")

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8")
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
        self.levels: dict[str, int] = {}
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self.levels[name] = logger.level
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
            logger.addHandler(self)

    def detach(self) -> None:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self)
            logger.setLevel(self.levels[name])
        self.close()


@dataclass
class Stack(LocalStack):
    bot_defaults: dict[str, str] = field(default_factory=lambda: dict(SUITE_DEFAULTS))
    chat_id: str = "oc_e2e_group"  # where send() posts unless told otherwise
    # "process": the bot's roles as processes of the console script; "thread": as threads of this one.
    bot_mode: Literal["process", "thread"] = "process"
    threads: dict[str, ThreadRoles] = field(default_factory=dict, repr=False)
    _thread_log: _LogTo | None = field(default=None, repr=False)
    _initial: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bot_mode not in ("process", "thread"):
            raise ValueError(f"bot_mode must be 'process' or 'thread', not {self.bot_mode!r}")
        self._initial = {"bot_env": dict(self.bot_env), "bot_env_unset": set(self.bot_env_unset),
                         "max_in_flight": self.max_in_flight, "callbacks": self.callbacks}

    # --- the bot in threads -------------------------------------------------------------------------

    def spawn(self, name: str, args: Any, env: dict[str, str] | None = None) -> Any:
        """`LocalStack.spawn`; in thread mode a bot role (`serve`, `web`, `worker`, `scheduler`) starts
        as threads of this process instead (with the same environment on the same clean base)."""
        args = list(args)
        if self.bot_mode != "thread" or not args or args[0] not in BOT_ROLES:
            return super().spawn(name, args, env)
        if name in self.threads:
            raise StackError(f"{name} is running already")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._thread_log is None:
            self._thread_log = _LogTo(self.workdir / "bot-threads.log")
        full_env = {k: v for k, v in (env or {}).items()}
        roles = ThreadRoles(name, args[0], full_env)
        roles.start()
        self.threads[name] = roles
        return roles

    def kill(self, name: str, sig: int = signal.SIGKILL, *, group: bool = False) -> None:
        """`LocalStack.kill`; a thread-mode role can only be drained (SIGTERM/SIGINT), not crashed."""
        if name not in self.threads:
            super().kill(name, sig, group=group)
            return
        if sig not in (signal.SIGTERM, signal.SIGINT):
            raise StackError(f"{name} runs in threads: it can be stopped (SIGTERM), not crashed; "
                             "crash tests need bot_mode='process'")
        self.threads.pop(name).stop()

    def stop_bot(self) -> None:
        """Stop every bot role (drained, as on SIGTERM), leaving the simulators and Redis running."""
        for name in list(self.threads):
            self.threads.pop(name).stop()
        bot = [self.procs.pop(n) for n in list(self.procs) if n not in ("ark", "feishu")]
        for proc in bot:  # all at once: each drains in parallel
            if proc.poll() is None:
                proc.terminate()
        for proc in bot:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        for name in list(self.threads):
            self.threads.pop(name).stop()
        try:
            super().stop(timeout)
        finally:
            if self._thread_log is not None:
                self._thread_log.detach()
                self._thread_log = None

    def log(self, name: str) -> str:
        """A process's log; in thread mode every role logs to one file (`bot-threads.log`)."""
        own = super().log(name)
        if own or self.bot_mode != "thread" or not name.startswith("bot"):
            return own
        return super().log("bot-threads")

    # --- Redis, and the barriers ----------------------------------------------------------------------

    @property
    def keys(self) -> Keys:
        return Keys(self.redis_prefix or "bot")

    def redis_client(self) -> redis.Redis:
        """A client (str replies) on the stack's Redis (through Sentinel, as the bot, with `redis_sentinels`)."""
        if self.redis_sentinels:
            return connect(self.start_redis(), socket_timeout=10)
        return redis.Redis.from_url(self.start_redis(), decode_responses=True, socket_timeout=10)

    def settled(self, timeout: float = 60.0, *, cards: bool = True) -> None:
        """Barrier: the workers have acknowledged every inbox entry (see `inbox_drained`) and (`cards`)
        no card update is waiting to be sent (cards are patched by the workers' flusher, after the entry)."""
        r = self.redis_client()
        try:
            wait_until(lambda: inbox_drained(r, self.keys) and (not cards or cards_flushed(r, self.keys)), timeout,
                       interval=0.02, what="the workers to drain the inbox and send the card updates")
        finally:
            r.close()

    def at_rest(self, timeout: float = 120.0) -> None:
        """Barrier: nothing left to do anywhere (see `at_rest`); then what happened is final."""
        r = self.redis_client()
        try:
            wait_until(lambda: _probe(lambda: at_rest(r, self.keys)), timeout, interval=0.05,
                       what="the bot at rest (no open job, entry, lease or retry)")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still: {_probe(lambda: unrest(r, self.keys))}") from None
        finally:
            r.close()

    # --- simulators ---------------------------------------------------------------------------------

    def ark_advance(self, seconds: float) -> float:
        """Move the Ark simulator's service clock forward now; returns its new time."""
        return float(self._ark("POST", "/__sim__/advance", json={"seconds": seconds}).json()["now"])

    def media_posts(self) -> Counter[str]:
        """Media replies the bot POSTed successfully, per replied-to message: requests, not messages
        (Feishu keeps one message per reply uuid, so a repeated POST shows only here)."""
        out: Counter[str] = Counter()
        for req in self.feishu_requests("reply"):
            if req.get("msg_type") == "media" and req.get("status") == 200:
                out[str(req.get("message_id"))] += 1
        return out

    def feishu_idle(self, timeout: float = 30.0) -> bool:
        """Until the Feishu simulator has no event left to push again (its retry schedule)."""
        resp = self._feishu("POST", "/__sim__/wait-idle", json={"timeout": timeout}, timeout=timeout + 10)
        return bool(resp.json().get("idle"))

    def reset(self, *, redis_db: bool = True) -> None:
        """For a stack reused by the tests of one module: stop the bot, empty both simulators (back to
        their start-up settings), empty the Redis database, forget per-test bot settings. (No event of
        the previous test is left for Feishu to push again: it waits for that first.)"""
        self.feishu_idle()
        self.stop_bot()
        if redis_db:
            r = self.redis_client()
            r.flushdb()
            r.close()
        for url in (f"{self.ark_origin}/__sim__/reset", f"{self.feishu_url}/__sim__/reset"):
            resp = requests.post(url, timeout=30, proxies={"http": "", "https": ""})
            resp.raise_for_status()
        self.bot_env = dict(self._initial["bot_env"])
        self.bot_env_unset = set(self._initial["bot_env_unset"])
        self.max_in_flight = self._initial["max_in_flight"]
        self.callbacks = self._initial["callbacks"]


def _probe(check: Any) -> Any:
    try:
        return check()
    except redis.RedisError:  # Redis restarting: not at rest yet
        return False


__all__ = ["APP_ID", "APP_SECRET", "ARK_KEY", "ENCRYPT_KEY", "VERIFICATION_TOKEN", "RedisServer", "Stack",
           "StackError", "at_rest", "cards_flushed", "free_port", "inbox_drained", "wait_until"]
