"""A Redis master, its replica(s) and three Sentinels on loopback, for runs that fail the master over.

Every server is a `RedisServer` (AOF on, `noeviction`) in a directory of its own; every sentinel is
the same redis-server binary in sentinel mode (``redis-server sentinel.conf --sentinel``). The
sentinels start knowing each other and the replicas (``known-sentinel``, ``known-replica``), so they
are ready at once instead of after their discovery rounds. `LocalStack` takes `addresses` as
`redis_sentinels`.

    group = SentinelGroup(tmp / "redis")
    group.start()
    old = group.master_port()
    group.failover()  # SENTINEL FAILOVER, then wait until every sentinel names the new master
    ...
    group.stop()
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sim.redis_server import RedisServer, free_port, redis_server_binary

MASTER_NAME = "mymaster"
LOOPBACK = "127.0.0.1"


class SentinelUnavailable(RuntimeError):
    """This redis-server binary does not run in sentinel mode."""


class SentinelGroup:
    """`start()`, the users' side (`master_port`, `fence`, `caught_up`, `failover`, `kill_master`), `stop()`."""

    def __init__(self, root: Path, *, replicas: int = 1, sentinels: int = 3, master_name: str = MASTER_NAME,
                 down_after_ms: int = 1000, failover_timeout_ms: int = 5000) -> None:
        self.root = root
        self.master_name = master_name
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        first = free_port()
        self.servers: dict[int, RedisServer] = {first: RedisServer(root / f"redis-{first}", first)}
        for _ in range(replicas):
            port = free_port()
            self.servers[port] = RedisServer(root / f"redis-{port}", port,
                                             extra_args=("--replicaof", LOOPBACK, str(first)))
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinel_procs: dict[int, subprocess.Popen[bytes]] = {}
        self._first_master = first

    # --- addresses ----------------------------------------------------------------------------------

    @property
    def addresses(self) -> str:
        """The sentinels as REDIS_SENTINELS wants them: host:port,host:port,…"""
        return ",".join(f"{LOOPBACK}:{p}" for p in self.sentinel_ports)

    def client(self, port: int) -> redis.Redis:
        """A client (str replies, no retries) of one server or sentinel."""
        return redis.Redis(host=LOOPBACK, port=port, decode_responses=True, socket_timeout=2,
                           socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))

    # --- starting and stopping ----------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        for server in self.servers.values():
            server.start()
        ids = {port: secrets.token_hex(20) for port in self.sentinel_ports}
        binary = redis_server_binary()
        for port in self.sentinel_ports:
            d = self.root / f"sentinel-{port}"
            d.mkdir(parents=True, exist_ok=True)
            lines = [f"port {port}", f"bind {LOOPBACK}", "protected-mode no", f'dir "{d}"',
                     f"sentinel myid {ids[port]}",
                     f"sentinel monitor {self.master_name} {LOOPBACK} {self._first_master} 2",
                     f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}",
                     f"sentinel failover-timeout {self.master_name} {self.failover_timeout_ms}"]
            lines += [f"sentinel known-replica {self.master_name} {LOOPBACK} {p}"
                      for p in self.servers if p != self._first_master]
            lines += [f"sentinel known-sentinel {self.master_name} {LOOPBACK} {p} {ids[p]}"
                      for p in self.sentinel_ports if p != port]
            conf = d / "sentinel.conf"
            conf.write_text("\n".join(lines) + "\n")
            with open(d / "sentinel.log", "ab") as log:
                self.sentinel_procs[port] = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=log,
                                                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._ready():
            for port, proc in self.sentinel_procs.items():
                if proc.poll() is not None:
                    log_text = (self.root / f"sentinel-{port}" / "sentinel.log").read_text(errors="replace")
                    raise SentinelUnavailable(f"{binary} did not run in sentinel mode (exit {proc.returncode}): "
                                              f"{log_text[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sentinels did not see the master, its replicas and each other within "
                                   f"{timeout:.0f} s; see {self.root}/sentinel-*/sentinel.log")
            time.sleep(0.1)

    def _ready(self) -> bool:
        replicas = len(self.servers) - 1
        for port in self.sentinel_ports:
            try:
                state = self.client(port).sentinel_master(self.master_name)
                known = self.client(port).sentinel_slaves(self.master_name)
            except redis.RedisError:
                return False
            if not isinstance(state, dict) or int(state.get("num-other-sentinels", 0)) < len(self.sentinel_ports) - 1:
                return False
            if sum(1 for r in known if r.get("master-link-status") == "ok") < replicas:
                return False
        return True

    def stop(self) -> None:
        for proc in self.sentinel_procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.sentinel_procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.sentinel_procs.clear()
        for server in self.servers.values():
            server.stop()

    # --- the master, and moving it ----------------------------------------------------------------

    def master_port(self, sentinel: int | None = None) -> int | None:
        """The master's port as one sentinel (the first by default) names it; None when it does not answer."""
        try:
            addr = self.client(sentinel or self.sentinel_ports[0]).sentinel_get_master_addr_by_name(self.master_name)
        except redis.RedisError:
            return None
        return int(addr[1]) if isinstance(addr, tuple) else None

    def agreed_master(self) -> int | None:
        """The master's port when every running sentinel names the same one."""
        ports = {self.master_port(p) for p, proc in self.sentinel_procs.items() if proc.poll() is None}
        return ports.pop() if len(ports) == 1 else None

    def role(self, port: int) -> str | None:
        """"master" or "slave" as the server says; None when it does not answer."""
        try:
            return str(self.client(port).info("replication")["role"])
        except redis.RedisError:
            return None

    def fence(self, port: int, on: bool = True) -> None:
        """Make a master refuse every write (NOREPLICAS: it wants more replicas than there are), or stop."""
        self.client(port).config_set("min-replicas-to-write", 1000 if on else 0)

    def caught_up(self, port: int) -> bool:
        """Every replica of master `port` has acknowledged everything it wrote (offsets equal)."""
        info = self.client(port).info("replication")
        offset = int(info["master_repl_offset"])
        links = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        return bool(links) and all(int(link.get("offset", -1)) == offset for link in links)

    def failover(self, timeout: float = 60.0) -> int:
        """``SENTINEL FAILOVER``, then wait until every sentinel names the new master, the new master says
        so itself and the old one has become its replica; returns the new master's port."""
        old = self.agreed_master()
        deadline = time.monotonic() + timeout
        while True:  # refused while the sentinel has no fresh view of a replica yet (NOGOODSLAVE) or is busy
            try:
                self.client(self.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", self.master_name)
                break
            except redis.ResponseError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        while time.monotonic() < deadline:
            new = self.agreed_master()
            if new is not None and new != old and self.role(new) == "master" and \
                    (old is None or self.role(old) in ("slave", None)):
                return new
            time.sleep(0.1)
        raise RuntimeError(f"no failover from {old} within {timeout:.0f} s; see {self.root}/sentinel-*/sentinel.log")

    def kill_master(self) -> int:
        """SIGKILL the master's redis-server (it is not started again); returns its port."""
        port = self.agreed_master()
        if port is None:
            raise RuntimeError("the sentinels do not agree on a master")
        self.servers[port].kill()
        return port

    def wait_new_master(self, old: int, timeout: float = 60.0) -> int:
        """Until every sentinel names a master other than `old`, and it says it is one; its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self.agreed_master()
            if new is not None and new != old and self.role(new) == "master":
                return new
            time.sleep(0.1)
        raise RuntimeError(f"no new master after {old} within {timeout:.0f} s; see {self.root}/sentinel-*/sentinel.log")


__all__ = ["MASTER_NAME", "SentinelGroup", "SentinelUnavailable"]
