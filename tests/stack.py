"""A whole deployment on loopback for end-to-end tests and benchmarks.

Every part is a separate process, started through the real console script:
`seedance-bot sim ark`, `seedance-bot sim feishu`, and the bot (`serve`, or
`web` + `worker` + `scheduler`), all sharing one real redis-server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BIN = str(Path(sys.executable).with_name("seedance-bot"))
ENCRYPT_KEY = "e2e-encrypt-key"
VERIFICATION_TOKEN = "e2e-verification-token"
APP_ID = "cli_e2e_app"
APP_SECRET = "e2e-app-secret"
ARK_KEY = "e2e-ark-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


@dataclass
class Stack:
    tmp: Path
    redis_url: str
    speed: float = 60.0
    callbacks: bool = True
    max_in_flight: int = 3
    ark_args: list[str] = field(default_factory=list)
    feishu_args: list[str] = field(default_factory=list)
    bot_env: dict[str, str] = field(default_factory=dict)
    # Variables the bot must NOT get (e.g. BOT_USER_DAILY_SECONDS, so its own default applies).
    bot_env_unset: set[str] = field(default_factory=set)
    ark_port: int = field(default_factory=free_port)
    feishu_port: int = field(default_factory=free_port)
    bot_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def ark_url(self) -> str:
        return f"http://127.0.0.1:{self.ark_port}/api/v3"

    @property
    def feishu_url(self) -> str:
        return f"http://127.0.0.1:{self.feishu_port}"

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.bot_port}"

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("ARK_", "FEISHU_", "BOT_", "SEEDANCE_", "REDIS_"))}
        full_env.update({"NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"})
        full_env.update(env or {})
        proc = subprocess.Popen([BIN, *args], stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                cwd=str(self.tmp))
        self.procs[name] = proc
        return proc

    def start_simulators(self) -> None:
        self._spawn("ark", ["sim", "ark", "--port", str(self.ark_port), "--speed", str(self.speed),
                            "--api-key", ARK_KEY, "--seed", "7", *self.ark_args])
        self._spawn("feishu", ["sim", "feishu", "--port", str(self.feishu_port),
                               "--webhook", f"{self.bot_url}/feishu/events", "--app-id", APP_ID,
                               "--app-secret", APP_SECRET, "--encrypt-key", ENCRYPT_KEY,
                               "--verification-token", VERIFICATION_TOKEN, *self.feishu_args])
        wait_until(lambda: _ok(f"{self.ark_url}/contents/generations/tasks?page_size=1",
                               headers={"Authorization": f"Bearer {ARK_KEY}"}), 30, what="ark simulator")
        wait_until(lambda: _ok(f"{self.feishu_url}/__sim__/messages"), 30, what="feishu simulator")

    def bot_environment(self) -> dict[str, str]:
        env = {
            "ARK_API_KEY": ARK_KEY, "ARK_BASE_URL": self.ark_url, "REDIS_URL": self.redis_url,
            "FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET, "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY,
            "FEISHU_VERIFICATION_TOKEN": VERIFICATION_TOKEN, "FEISHU_DOMAIN": self.feishu_url,
            "BOT_PORT": str(self.bot_port), "BOT_DATA_DIR": str(self.tmp / "data"),
            "SEEDANCE_EXPECTED_TIME_FACTOR": str(1 / self.speed), "ARK_MAX_IN_FLIGHT": str(self.max_in_flight),
            "LOG_LEVEL": "INFO",
            # Suites make many videos per user; the default daily budget has its own tests.
            "BOT_USER_DAILY_SECONDS": "0",
        }
        if self.callbacks:
            env["BOT_PUBLIC_URL"] = self.bot_url
        env.update(self.bot_env)
        for name in self.bot_env_unset:
            env.pop(name, None)
        return env

    def start_bot(self, roles: tuple[str, ...] = ("serve",), *, distinct_nodes: bool = False) -> None:
        """One process per role name; "worker-2" starts a second `worker` (process name bot-worker-2).

        `distinct_nodes`: every process gets its own `BOT_NODE` (`e2e-<role>`), as a deployment
        running several workers or schedulers on one host must (stream consumers, leases).
        """
        for role in roles:
            env = self.bot_environment()
            if distinct_nodes:
                env["BOT_NODE"] = f"e2e-{role}"
            self._spawn(f"bot-{role}", [role.split("-", 1)[0]], env)
        wait_until(lambda: _ok(f"{self.bot_url}/healthz"), 60, what="bot /healthz")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    # --- the users' side, through the Feishu simulator ---------------------------------
    def send(self, text: str = "", **kw: Any) -> dict[str, Any]:
        body = {"chat_id": "oc_e2e_group", "chat_type": "group", "mention_bot": True,
                "user": {"open_id": "ou_alice", "name": "Alice"}, "text": text, **kw}
        resp = requests.post(f"{self.feishu_url}/__sim__/send", json=body, timeout=30)
        resp.raise_for_status()
        return dict(resp.json())

    def user_image(self, width: int = 1024, height: int = 768) -> str:
        resp = requests.post(f"{self.feishu_url}/__sim__/images", json={"width": width, "height": height},
                             timeout=30)
        resp.raise_for_status()
        return str(resp.json()["image_key"])

    def click(self, message_id: str, button: Any, user: dict[str, str] | None = None) -> dict[str, Any]:
        body = {"message_id": message_id, "button": button,
                "user": user or {"open_id": "ou_alice", "name": "Alice"}}
        resp = requests.post(f"{self.feishu_url}/__sim__/click", json=body, timeout=30)
        resp.raise_for_status()
        return dict(resp.json())

    def messages(self) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.feishu_url}/__sim__/messages", timeout=30)
        resp.raise_for_status()
        data = resp.json()
        return list(data["messages"] if isinstance(data, dict) else data)

    def bot_messages(self, msg_type: str | None = None) -> list[dict[str, Any]]:
        out = [m for m in self.messages() if _is_bot(m)]
        return [m for m in out if msg_type is None or m.get("msg_type") == msg_type]

    def image(self, key: str) -> bytes:
        """The bytes of an image known to the Feishu simulator (a user's photo or a bot upload)."""
        resp = requests.get(f"{self.feishu_url}/__sim__/images/{key}", timeout=30)
        resp.raise_for_status()
        return resp.content

    def ark_config(self, **changes: Any) -> dict[str, Any]:
        """Read (no arguments) or change the Ark simulator's run-time settings."""
        url = f"{self.ark_url.rsplit('/api/v3', 1)[0]}/__sim__/config"
        resp = requests.post(url, json=changes, timeout=30) if changes else requests.get(url, timeout=30)
        resp.raise_for_status()
        return dict(resp.json())

    def file(self, key: str) -> bytes:
        resp = requests.get(f"{self.feishu_url}/__sim__/files/{key}", timeout=30)
        resp.raise_for_status()
        return resp.content

    def ark_tasks(self) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.ark_url.rsplit('/api/v3', 1)[0]}/__sim__/tasks", timeout=30)
        resp.raise_for_status()
        data = resp.json()
        return list(data["tasks"] if isinstance(data, dict) else data)

    def feishu_requests(self, ops: str = "") -> list[dict[str, Any]]:
        """Every Open API request the bot made (`ops`: e.g. "reply,send"), with what it created."""
        resp = requests.get(f"{self.feishu_url}/__sim__/requests", params={"op": ops} if ops else None, timeout=30)
        resp.raise_for_status()
        data = resp.json()
        return list(data["requests"] if isinstance(data, dict) else data)

    def faults(self, which: str) -> dict[str, Any]:
        """Faults injected so far by a simulator ("ark" or "feishu")."""
        base = self.ark_url.rsplit("/api/v3", 1)[0] if which == "ark" else self.feishu_url
        resp = requests.get(f"{base}/__sim__/faults", timeout=30)
        resp.raise_for_status()
        return dict(resp.json())

    def log(self, name: str) -> str:
        p = self.tmp / f"{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""


def _is_bot(message: dict[str, Any]) -> bool:
    sender = message.get("sender") or {}
    if isinstance(sender, dict):
        return sender.get("sender_type") == "app" or sender.get("id_type") == "app_id"
    return bool(message.get("from_bot"))


def _ok(url: str, **kw: Any) -> bool:
    try:
        return requests.get(url, timeout=2, **kw).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def running_stack(tmp: Path, redis_url: str, **kw: Any) -> Iterator[Stack]:
    stack = Stack(tmp=tmp, redis_url=redis_url, **kw)
    try:
        stack.start_simulators()
        yield stack
    finally:
        stack.stop()
