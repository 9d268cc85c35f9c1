"""One local deployment: both simulators, a Redis and the bot, all on loopback.

`LocalStack` is what `seedance-bot demo` (`sim.demo`), the end-to-end tests (`tests/stack.py`)
and the benchmarks (`bench/`) run:

* the Ark and Feishu simulators, as `seedance-bot sim ark|feishu` processes
  (`simulators="process"`, the default) or as threads of this process (`"thread"`, the demo);
* a Redis: the one at `redis_url`, else an embedded one (`bot.store.embedded`, AOF on) under
  `workdir/redis`, emptied when it starts (`RedisServer` in `sim.redis_server` is a real
  redis-server of its own, for runs that kill and restart Redis), or the master that the
  sentinels at `redis_sentinels` name (`SentinelGroup` in `sim.redis_sentinel`, for failovers);
* the bot's roles (`serve`, or `web` + `worker` + `scheduler`, several of each), always as
  processes of the console script, so a test can SIGKILL one and start it again.

What the users do goes through the Feishu simulator's `/__sim__` routes (send, click, messages …)
and what happened at Ark through the Ark simulator's, over HTTP, so the helpers work the same
whichever way the simulators run. Every process writes `workdir/<name>.log` (truncated when a
name is first started, appended to when it is started again) and runs in `workdir`, so no `.env`
of a real deployment is read.

    stack = LocalStack(workdir=Path("/tmp/x"), redis_url=url)
    stack.start_simulators()
    stack.start_bot(("web", "worker", "scheduler"))
    src = stack.send("/video a kitten yawning")["message_id"]
    ...
    stack.stop()
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis
import requests

from bot.config import sentinel_url
from bot.store.embedded import EmbeddedRedis
from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator
from sim.redis_server import RedisServer, free_port

JSON = dict[str, Any]

# The credentials every part of a local stack shares (the simulators accept only these).
ARK_KEY = "local-ark-key"
APP_ID = "cli_local_app"
APP_SECRET = "local-app-secret"
ENCRYPT_KEY = "local-encrypt-key"
VERIFICATION_TOKEN = "local-verification-token"
BOT_NAME = "VideoBot"
ALICE: dict[str, str] = {"open_id": "ou_alice", "name": "Alice"}
ARK_SEED = 7  # the Ark simulator's RNG seed: task outcomes repeat from run to run
# Settings no process of the stack inherits from the caller's environment: the stack sets its own.
ENV_PREFIXES = ("ARK_", "FEISHU_", "BOT_", "SEEDANCE_", "REDIS_", "LOG_")
SIMULATORS = ("ark", "feishu")


class StackError(RuntimeError):
    """A part of the stack did not start, or a process of it exited."""


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """`check()`'s first truthy value within `timeout` seconds; AssertionError after that."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def bot_command() -> list[str]:
    """`seedance-bot` of this very environment (the console script, else this interpreter)."""
    script = Path(sys.executable).with_name("seedance-bot")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from bot.cli import main; main()"]


def clean_environment() -> dict[str, str]:
    """This process's environment without the bot's settings, loopback never through a proxy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"})
    return env


def _http(method: str, url: str, **kw: Any) -> requests.Response:
    """One request on loopback: never through a proxy; a new session per call (thread-safe)."""
    with requests.Session() as s:
        s.trust_env = False
        kw.setdefault("timeout", 30)
        return s.request(method, url, **kw)


def _answers(url: str, **kw: Any) -> bool:
    try:
        return _http("GET", url, timeout=2, **kw).status_code == 200
    except requests.RequestException:
        return False


def _start_on(start: Callable[[int], str], preferred: int) -> str:
    """Start an in-thread simulator on `preferred` (0 = any), or any free port when that one is taken."""
    try:
        return start(preferred)
    except (OSError, SystemExit):  # werkzeug exits (SystemExit) when the address is in use
        if preferred == 0:
            raise
        return start(0)


def _port_of(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


@dataclass
class LocalStack:
    """Simulators, Redis and bot processes on loopback; `start*()`, the users' side, `stop()`."""

    workdir: Path
    # None: start_redis() runs an embedded Redis under workdir/redis and empties it.
    redis_url: str | None = None
    # REDIS_SENTINELS (host:port,…; `sim.redis_sentinel.SentinelGroup.addresses`): the bot finds its Redis
    # through these sentinels; `redis_url`, if any, then gives only the data nodes' password and db.
    redis_sentinels: str | None = None
    redis_sentinel_master: str = "mymaster"
    speed: float = 60.0  # the Ark simulator runs this many times faster than the real service
    simulators: Literal["process", "thread"] = "process"
    callbacks: bool = True  # BOT_PUBLIC_URL set: Ark POSTs status changes to the bot
    max_in_flight: int = 3
    redis_prefix: str | None = None  # REDIS_PREFIX; None = the bot's default
    bot_data_dir: Path | None = None  # BOT_DATA_DIR; None = workdir/data
    ark_args: list[str] = field(default_factory=list)  # extra `sim ark` flags (process mode)
    feishu_args: list[str] = field(default_factory=list)  # extra `sim feishu` flags (process mode)
    # How the Feishu simulator pushes events and clicks: None = its default ("auto": over the long
    # connection while the bot holds one, FEISHU_CONNECTION=websocket; else the webhook), "websocket", "webhook".
    feishu_delivery: str | None = None
    # The bot's environment: the stack's settings, then bot_defaults, then bot_env, less bot_env_unset.
    bot_defaults: dict[str, str] = field(default_factory=dict)
    bot_env: dict[str, str] = field(default_factory=dict)
    bot_env_unset: set[str] = field(default_factory=set)
    # 0 = any free port. A simulator in a thread falls back to any free port when its own is taken.
    ark_port: int = 0
    feishu_port: int = 0
    bot_port: int = 0
    chat_id: str = "oc_local_group"  # where send() posts, and who sends, unless told otherwise
    user: dict[str, str] = field(default_factory=lambda: dict(ALICE))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ark: ArkSimulator | None = None  # in-thread simulators (simulators="thread")
    feishu: FeishuSimulator | None = None
    redis: EmbeddedRedis | None = None  # the embedded Redis, when the stack started one
    _logs_started: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        if self.simulators not in ("process", "thread"):
            raise ValueError(f"simulators must be 'process' or 'thread', not {self.simulators!r}")
        if self.simulators == "thread" and (self.ark_args or self.feishu_args):
            raise ValueError("ark_args / feishu_args are command-line flags: they need simulators='process'")
        self.bot_port = self.bot_port or free_port()  # the Feishu simulator's webhook needs it now
        if self.simulators == "process":  # the processes are told their ports
            self.ark_port = self.ark_port or free_port()
            self.feishu_port = self.feishu_port or free_port()

    # --- addresses ------------------------------------------------------------------------------

    @property
    def ark_origin(self) -> str:
        return f"http://127.0.0.1:{self.ark_port}"

    @property
    def ark_url(self) -> str:
        """ARK_BASE_URL of the Ark simulator."""
        return f"{self.ark_origin}/api/v3"

    @property
    def feishu_url(self) -> str:
        """FEISHU_DOMAIN of the Feishu simulator."""
        return f"http://127.0.0.1:{self.feishu_port}"

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.bot_port}"

    @property
    def data_dir(self) -> Path:
        return self.bot_data_dir if self.bot_data_dir is not None else self.workdir / "data"

    # --- starting -------------------------------------------------------------------------------

    def start(self, roles: Sequence[str] = ("serve",), **bot: Any) -> None:
        """Redis, both simulators and the bot (`start_bot(roles, **bot)`)."""
        self.start_redis()
        self.start_simulators()
        self.start_bot(roles, **bot)

    def start_redis(self) -> str:
        """The Redis URL: `redis_url`, or an embedded Redis started (and emptied) now; with
        `redis_sentinels`, the ``redis+sentinel://`` URL the bot makes of them (`bot.config.sentinel_url`)."""
        if self.redis_sentinels:
            return sentinel_url(self.redis_sentinels, self.redis_sentinel_master, self.redis_url)
        if self.redis_url is None:
            self.redis = EmbeddedRedis(self.workdir)
            url = self.redis.start()
            redis.Redis.from_url(url).flushdb()  # every run starts from an empty database
            self.redis_url = url
        return self.redis_url

    def start_simulators(self) -> None:
        self.start_ark()
        self.start_feishu()

    def start_ark(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.simulators == "thread":
            ark = self.ark = ArkSimulator(api_key=ARK_KEY, speed=self.speed, rng_seed=ARK_SEED)
            self.ark_port = _port_of(_start_on(lambda p: ark.start("127.0.0.1", p), self.ark_port))
        else:
            self.spawn("ark", ["sim", "ark", "--port", str(self.ark_port), "--speed", str(self.speed),
                               "--api-key", ARK_KEY, "--seed", str(ARK_SEED), *self.ark_args])
        self._wait_answering("ark", f"{self.ark_url}/contents/generations/tasks?page_size=1",
                             headers={"Authorization": f"Bearer {ARK_KEY}"})

    def start_feishu(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        webhook = f"{self.bot_url}/feishu/events"
        if self.simulators == "thread":
            feishu = self.feishu = FeishuSimulator(
                app_id=APP_ID, app_secret=APP_SECRET, encrypt_key=ENCRYPT_KEY,
                verification_token=VERIFICATION_TOKEN, webhook_url=webhook, bot_name=BOT_NAME,
                delivery=self.feishu_delivery or "auto",
            )
            self.feishu_port = _port_of(_start_on(lambda p: feishu.start("127.0.0.1", p), self.feishu_port))
        else:
            self.spawn("feishu", ["sim", "feishu", "--port", str(self.feishu_port), "--webhook", webhook,
                                  "--app-id", APP_ID, "--app-secret", APP_SECRET, "--encrypt-key", ENCRYPT_KEY,
                                  "--verification-token", VERIFICATION_TOKEN, "--bot-name", BOT_NAME,
                                  *(["--delivery", self.feishu_delivery] if self.feishu_delivery else []),
                                  *self.feishu_args])
        self._wait_answering("feishu", f"{self.feishu_url}/__sim__/messages")

    def _wait_answering(self, name: str, url: str, timeout: float = 30.0, **kw: Any) -> None:
        deadline = time.monotonic() + timeout
        while not _answers(url, **kw):
            self._check_started(name)
            if time.monotonic() > deadline:
                raise StackError(f"the {name} simulator did not answer {url} within {timeout:.0f} s"
                                 + (f"; see {self.log_path(name)}" if name in self.procs else ""))
            time.sleep(0.05)

    def bot_environment(self) -> dict[str, str]:
        """The bot's settings against this stack (what start_bot gives every role)."""
        if self.redis_url is None and not self.redis_sentinels:
            raise StackError("no Redis yet: pass redis_url or call start_redis() first")
        env = {
            "ARK_API_KEY": ARK_KEY, "ARK_BASE_URL": self.ark_url,
            "FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET, "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY,
            "FEISHU_VERIFICATION_TOKEN": VERIFICATION_TOKEN, "FEISHU_DOMAIN": self.feishu_url,
            "BOT_PORT": str(self.bot_port), "BOT_DATA_DIR": str(self.data_dir),
            # The bot's schedule (polling, "about how long") keeps in step with the sped-up simulator.
            "SEEDANCE_EXPECTED_TIME_FACTOR": repr(1 / self.speed), "ARK_MAX_IN_FLIGHT": str(self.max_in_flight),
            "LOG_LEVEL": "INFO", "LOG_JSON": "false",
        }
        if self.redis_url is not None:
            env["REDIS_URL"] = self.redis_url
        if self.redis_sentinels:
            env.update(REDIS_SENTINELS=self.redis_sentinels, REDIS_SENTINEL_MASTER=self.redis_sentinel_master)
        if self.redis_prefix is not None:
            env["REDIS_PREFIX"] = self.redis_prefix
        if self.callbacks:
            env["BOT_PUBLIC_URL"] = self.bot_url
        env.update(self.bot_defaults)
        env.update(self.bot_env)
        for name in self.bot_env_unset:
            env.pop(name, None)
        return env

    def start_bot(self, roles: Sequence[str] = ("serve",), *, distinct_nodes: bool = False,
                  names: Sequence[str] | None = None, timeout: float = 120.0,
                  env_of: dict[str, dict[str, str]] | None = None) -> None:
        """One process per role, then wait for /healthz. "worker-2" is a second `worker`.

        Processes are named `bot-<role>` (or `names`, one per role). `distinct_nodes`: every process
        gets its own `BOT_NODE` (`local-<role>`), as several workers or schedulers on one host need
        (stream consumers, leases). `env_of`: more settings for the process of a role (its health port).
        """
        self.start_redis()
        names = list(names) if names is not None else [f"bot-{role}" for role in roles]
        if len(names) != len(roles):
            raise ValueError("one name per role")
        for role, name in zip(roles, names, strict=True):
            env = self.bot_environment()
            if distinct_nodes:
                env["BOT_NODE"] = f"local-{role}"
            env.update((env_of or {}).get(role, {}))
            self.spawn(name, [role.split("-", 1)[0]], env)
        self.wait_healthy(timeout, names)

    def wait_healthy(self, timeout: float = 120.0, names: Sequence[str] = ()) -> None:
        """Until the bot answers /healthz; StackError when one of `names` exits first, or on timeout."""
        deadline = time.monotonic() + timeout
        while not _answers(f"{self.bot_url}/healthz"):
            for name in names:
                self._check_started(name)
            if time.monotonic() > deadline:
                logs = ", ".join(str(self.log_path(n)) for n in names) or str(self.workdir)
                raise StackError(f"the bot did not answer {self.bot_url}/healthz within {timeout:.0f} s; "
                                 f"see {logs}")
            time.sleep(0.1)

    def _check_started(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{name} exited with status {proc.returncode} while starting; see "
                             f"{self.log_path(name)}\n{self.log_tail(name)}")

    def spawn(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """`seedance-bot ARGS` as process `name`, logging to workdir/<name>.log; `env` on a clean base.

        Each process has its own session: a Ctrl-C in the terminal reaches only the caller, which
        stops the stack in order (`stop()`).
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        full_env = clean_environment()
        full_env.update(env or {})
        mode = "ab" if name in self._logs_started else "wb"
        self._logs_started.add(name)
        with open(self.log_path(name), mode) as log:  # the child keeps its own descriptor
            proc = subprocess.Popen([*bot_command(), *args], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=full_env, cwd=str(self.workdir),
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    # --- running and stopping -----------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL, *, group: bool = False) -> None:
        """Signal process `name` (SIGKILL: a crash) and wait for it; it is forgotten.

        `group`: its whole process group (it runs in a session of its own), as a container's or a
        systemd unit's end takes gunicorn's workers with their master; signalled alone, the workers
        keep answering for a moment after the master died.
        """
        proc = self.procs.pop(name)
        if group:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        else:
            proc.send_signal(sig)
        proc.wait(30)

    def check_running(self) -> None:
        """StackError if any process of the stack has exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise StackError(f"{name} exited with status {proc.returncode}; see {self.log_path(name)}")

    def stop(self, timeout: float = 30.0) -> None:
        """The bot first (SIGTERM: it drains; SIGKILL after `timeout`), then the simulators and Redis."""
        bot = {n: p for n, p in self.procs.items() if n not in SIMULATORS}
        sims = {n: p for n, p in self.procs.items() if n in SIMULATORS}
        for group in (bot, sims):
            for proc in group.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in group.values():
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.procs.clear()
        for part in (self.feishu, self.ark, self.redis):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        self.feishu = self.ark = None
        self.redis = None

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def log(self, name: str) -> str:
        p = self.log_path(name)
        return p.read_text(errors="replace") if p.exists() else ""

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return self.log(name)[-chars:]

    def print_logs(self, names: Iterable[str], chars: int = 4000) -> None:
        """The tail of each named process's log, for a failed test's output (pytest shows it then)."""
        for name in names:
            text = self.log(name)
            if text:
                print(f"----- {name} log (tail) -----\n{text[-chars:]}")

    # --- the users' side, through the Feishu simulator -----------------------------------------

    def _feishu(self, method: str, path: str, **kw: Any) -> requests.Response:
        resp = _http(method, f"{self.feishu_url}{path}", **kw)
        resp.raise_for_status()
        return resp

    def _ark(self, method: str, path: str, **kw: Any) -> requests.Response:
        resp = _http(method, f"{self.ark_origin}{path}", **kw)
        resp.raise_for_status()
        return resp

    def send(self, text: str = "", **kw: Any) -> JSON:
        """A user posts (default: `user` in `chat_id`, a group, @mentioning the bot); see FeishuUsers.send."""
        body = {"chat_id": self.chat_id, "chat_type": "group", "mention_bot": True, "user": self.user,
                "text": text, **kw}
        return dict(self._feishu("POST", "/__sim__/send", json=body).json())

    def user_image(self, width: int = 1024, height: int = 768, data: bytes | None = None) -> str:
        """The image_key of a photo a user is about to send (`data`, else a JPEG of that size)."""
        body: JSON = {"width": width, "height": height}
        if data is not None:
            body["data_b64"] = base64.b64encode(data).decode()
        return str(self._feishu("POST", "/__sim__/images", json=body).json()["image_key"])

    def user_video(self, seconds: float = 3.0, width: int = 864, height: int = 496, fps: int = 24,
                   data: bytes | None = None, file_name: str = "clip.mp4",
                   duration_ms: int | None = None) -> str:
        """The file_key of a video a user is about to send (`data`, else an H.264 mp4 made to measure).

        Send it alone (`send(files=[key])`: a `media` message) or with a caption (a post with a
        `media` element). `duration_ms`: what Feishu states (default: the clip's real length).
        """
        body: JSON = {"kind": "video", "seconds": seconds, "width": width, "height": height, "fps": fps,
                      "file_name": file_name}
        if data is not None:
            body["data_b64"] = base64.b64encode(data).decode()
        if duration_ms is not None:
            body["duration_ms"] = duration_ms
        return str(self._feishu("POST", "/__sim__/files", json=body).json()["file_key"])

    def user_audio(self, seconds: float = 3.0, fmt: str = "opus", data: bytes | None = None,
                   file_name: str | None = None, duration_ms: int | None = None) -> str:
        """The file_key of a voice message a user is about to send (`send(files=[key])`): Opus, as
        Feishu records them (`fmt` "mp3"/"wav" for audio files), of `seconds`, or `data`."""
        body: JSON = {"kind": "audio", "seconds": seconds, "format": fmt}
        if file_name:
            body["file_name"] = file_name
        if data is not None:
            body["data_b64"] = base64.b64encode(data).decode()
        if duration_ms is not None:
            body["duration_ms"] = duration_ms
        return str(self._feishu("POST", "/__sim__/files", json=body).json()["file_key"])

    def click(self, message_id: str, button: Any, user: dict[str, str] | None = None) -> JSON:
        """A user presses a card button (by index, label or value)."""
        body = {"message_id": message_id, "button": button, "user": user or self.user}
        return dict(self._feishu("POST", "/__sim__/click", json=body).json())

    def messages(self) -> list[JSON]:
        """Every message in every chat, oldest first, as the Feishu simulator recorded it."""
        data = self._feishu("GET", "/__sim__/messages").json()
        return list(data["messages"] if isinstance(data, dict) else data)

    def bot_messages(self, msg_type: str | None = None) -> list[JSON]:
        out = [m for m in self.messages() if _is_bot(m)]
        return [m for m in out if msg_type is None or m.get("msg_type") == msg_type]

    def image(self, key: str) -> bytes:
        """The bytes of an image known to the Feishu simulator (a user's photo or a bot upload)."""
        return self._feishu("GET", f"/__sim__/images/{key}").content

    def file(self, key: str) -> bytes:
        """The bytes of a file the bot uploaded (e.g. a video)."""
        return self._feishu("GET", f"/__sim__/files/{key}").content

    def files(self) -> list[JSON]:
        """Every uploaded file: file_key, file_type, file_name, size, duration, content_type."""
        return list(self._feishu("GET", "/__sim__/files").json()["files"])

    def feishu_requests(self, ops: str = "") -> list[JSON]:
        """Every Open API request the bot made (`ops`: e.g. "reply,send"), with what it created."""
        data = self._feishu("GET", "/__sim__/requests", params={"op": ops} if ops else None).json()
        return list(data["requests"] if isinstance(data, dict) else data)

    def longconn(self, **changes: Any) -> JSON:
        """The Feishu simulator's long connection (sim.feishu_ws): its state (no arguments), or change it:
        delivery, drop (True or "abort"), ack_drop, fragment_size, max_connections, client_config."""
        resp = self._feishu("POST", "/__sim__/longconn", json=changes) if changes else \
            self._feishu("GET", "/__sim__/longconn")
        return dict(resp.json())

    def feishu_config(self, **changes: Any) -> JSON:
        """Read (no arguments) or change the Feishu simulator's run-time settings."""
        resp = self._feishu("POST", "/__sim__/config", json=changes) if changes else \
            self._feishu("GET", "/__sim__/config")
        return dict(resp.json())

    # --- what happened at Ark, through the Ark simulator ----------------------------------------

    def ark_tasks(self) -> list[JSON]:
        """Every task ever created, oldest first, with its create body, prompt and timings."""
        data = self._ark("GET", "/__sim__/tasks").json()
        return list(data["tasks"] if isinstance(data, dict) else data)

    def ark_config(self, **changes: Any) -> JSON:
        """Read (no arguments) or change the Ark simulator's run-time settings."""
        resp = self._ark("POST", "/__sim__/config", json=changes) if changes else self._ark("GET", "/__sim__/config")
        return dict(resp.json())

    def faults(self, which: str) -> JSON:
        """Faults injected so far by a simulator ("ark" or "feishu")."""
        base = self.ark_origin if which == "ark" else self.feishu_url
        resp = _http("GET", f"{base}/__sim__/faults")
        resp.raise_for_status()
        return dict(resp.json())


def _is_bot(message: JSON) -> bool:
    sender = message.get("sender") or {}
    if isinstance(sender, dict):
        return sender.get("sender_type") == "app" or sender.get("id_type") == "app_id"
    return bool(message.get("from_bot"))


__all__ = [
    "ALICE", "APP_ID", "APP_SECRET", "ARK_KEY", "BOT_NAME", "ENCRYPT_KEY", "VERIFICATION_TOKEN", "LocalStack",
    "RedisServer", "StackError", "bot_command", "clean_environment", "free_port", "wait_until",
]
