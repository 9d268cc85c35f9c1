"""Opening Redis (with timeouts, so no role can hang forever on a dead server), and the few
facts about the server other packages need, so that none of them imports redis-py.

`Unavailable` is what a caller catches to say "Redis is away, not my input at fault: retry
later"; `StoreError` is any Redis failure; `OutOfMemory` is a write refused under maxmemory.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection

from bot.config import SENTINEL_SCHEME, host_ports

MASTER_CHECK_EVERY = 1.0
"""Seconds between two questions to Sentinel about where the master is, while connections are taken.

Sentinel announces a new master about a second after promoting it, but leaves the old one a writable
master for about ten more seconds before turning it into a replica (measured with Redis 6.2 and 7.0):
what a client writes there meanwhile is lost. Asking again this often drops those connections soon
after the announcement instead of at the next error.
"""

RETRIED = (redis.ConnectionError, redis.TimeoutError, socket.timeout, redis.ReadOnlyError)
"""What a command is sent again for, on a new connection: the server away, or a master turned replica
(READONLY: a failover moved the master; through Sentinel, or behind a DNS name that now points elsewhere)."""


def connect(
    url: str,
    *,
    socket_timeout: float = 5.0,
    connect_timeout: float = 2.0,
    retries: int = 3,
    health_check_interval: int = 30,
    max_connections: int | None = None,
) -> redis.Redis:
    """A client for application data (``decode_responses=True``: every value is ``str``).

    The defaults suit background roles. The web role passes short timeouts and
    one retry: Feishu gives it 3 s, and answering 503 quickly (so Feishu
    redelivers) beats hanging on a dead Redis. ``health_check_interval`` pings
    connections idle that long before reuse, so a restarted Redis or a NAT that
    dropped the socket shows up as a reconnect, not as an error to the caller.
    APScheduler's job store needs bytes and must not use this client
    (scale.md §1.1).

    A ``redis+sentinel://`` URL (`bot.config.sentinel_url`, from REDIS_SENTINELS) gives a client of
    the master Sentinel names, with the same timeouts and retries: it follows the master through
    failovers (`MasterPool`, `MasterConnection`).
    """
    options: dict[str, Any] = dict(
        decode_responses=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        health_check_interval=health_check_interval,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries, supported_errors=RETRIED),
        max_connections=max_connections,
    )
    if is_sentinel_url(url):
        return _master(SentinelTarget.parse(url), sentinel_timeout=connect_timeout, **options)
    return redis.Redis.from_url(url, **options)


def is_sentinel_url(url: str) -> bool:
    return url.startswith(f"{SENTINEL_SCHEME}:")


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names: the sentinels, the master's name, and how to log in to the data nodes."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelTarget:
        parts = urlsplit(url)
        auth, _, hosts = parts.netloc.rpartition("@")
        user, _, password = auth.partition(":")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        sentinels = tuple(host_ports(hosts, "the redis+sentinel:// URL"))
        if not sentinels or not query.get("master"):
            raise ValueError("a redis+sentinel:// URL names the sentinels and ?master=; see bot.config.sentinel_url")
        db = parts.path.strip("/") or "0"
        if not db.isdigit():
            raise ValueError(f"the database of a redis+sentinel:// URL must be a number, not {db!r}")
        return cls(sentinels, query["master"], int(db), unquote(user) or None, unquote(password) or None,
                   query.get("sentinel_password") or None)


class MasterConnection(SentinelManagedConnection):
    """A connection to the master Sentinel names, dropped when that server no longer takes writes.

    redis-py already does it for READONLY (a master turned replica). This adds NOREPLICAS (a master
    with ``min-replicas-to-write`` that lost its replicas, as the old master of a failover does the
    moment its replica is promoted) and both errors as Redis 6.2 wraps them in a Lua script's error.
    Either becomes a ConnectionError: the retry asks Sentinel again, and a caller that runs out of
    retries sees Redis as away (`Unavailable`), not a bug.
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except redis.ResponseError as exc:
            text = str(exc)
            if not (text.startswith("NOREPLICAS ") or "-NOREPLICAS " in text or "-READONLY " in text):
                raise
            self.disconnect()
            raise redis.ConnectionError(f"the master refuses writes ({text[:80]}); asking Sentinel again") from exc


class MasterPool(SentinelConnectionPool):
    """Sentinel's pool of master connections, asking again where the master is every `MASTER_CHECK_EVERY`.

    When the answer changes, idle connections are closed and busy ones are not taken back
    (`SentinelConnectionPool.owns_connection`): the next command goes to the new master.
    """

    def __init__(self, service_name: str, sentinel_manager: Sentinel, *, target: SentinelTarget,
                 **kwargs: Any) -> None:
        self.target = target
        self._checked = time.monotonic()
        super().__init__(service_name, sentinel_manager, **kwargs)

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if self.master_address is not None and now - self._checked >= MASTER_CHECK_EVERY:
            self._checked = now
            try:
                self.get_master_address()  # closes idle connections when the master moved
            except redis.ConnectionError:
                pass  # no sentinel answers: keep the master we have, its own errors will tell
        return super().get_connection(*args, **kwargs)


def _master(target: SentinelTarget, *, sentinel_timeout: float, **options: Any) -> redis.Redis:
    """A client of `target`'s master: a sentinel that does not answer is skipped at once (no retries)."""
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs={
        "socket_timeout": sentinel_timeout, "socket_connect_timeout": sentinel_timeout,
        "password": target.sentinel_password, "retry": Retry(NoBackoff(), 0)})
    options = {"db": target.db, "username": target.username, "password": target.password, **options}
    return sentinel.master_for(target.master, redis_class=redis.Redis, connection_pool_class=MasterPool,
                               connection_class=MasterConnection, target=target, **options)


Client = redis.Redis
StoreError = redis.RedisError
DataError = redis.DataError
OutOfMemory = redis.exceptions.OutOfMemoryError
Unavailable = (redis.ConnectionError, redis.TimeoutError)


def is_out_of_memory(exc: BaseException) -> bool:
    """A write refused under maxmemory: raised as such, or wrapped in a Lua script's error."""
    return isinstance(exc, OutOfMemory) or (
        isinstance(exc, redis.ResponseError) and "OOM command not allowed" in str(exc))


def ping(r: redis.Redis) -> bool:
    """True if the server answers (the readiness of every role)."""
    try:
        return bool(r.ping())
    except redis.RedisError:
        return False


def probe_client(r: redis.Redis, *, timeout: float = 1.0) -> redis.Redis:
    """A client to the same server with short timeouts and no retries, for health probes.

    A probe must answer within the prober's timeout (a few seconds) even while Redis is away,
    and must not queue behind the role's own connections; the roles' clients retry for longer.
    """
    kwargs = _connection_kwargs(r)
    kwargs.update(socket_timeout=timeout, socket_connect_timeout=timeout / 2, retry=None,
                  retry_on_timeout=False, max_connections=4)
    if isinstance(r.connection_pool, MasterPool):  # its own sentinel clients too: short timeouts, no retries
        return _master(r.connection_pool.target, sentinel_timeout=timeout / 2, **kwargs)
    pool = redis.ConnectionPool(connection_class=r.connection_pool.connection_class, **kwargs)
    return redis.Redis(connection_pool=pool)


def sentinel_of(r: redis.Redis) -> SentinelTarget | None:
    """What Sentinel `r` follows, None for a client of one server."""
    pool = r.connection_pool
    return pool.target if isinstance(pool, MasterPool) else None


def _connection_kwargs(r: redis.Redis) -> dict[str, Any]:
    """How `r`'s pool makes connections, less its own back-reference (a Sentinel pool's proxy)."""
    kwargs = dict(r.connection_pool.connection_kwargs)
    kwargs.pop("connection_pool", None)
    return kwargs


def memory_use(r: redis.Redis) -> tuple[int, int]:
    """(used_memory, maxmemory) in bytes; maxmemory 0 = no limit."""
    info = r.info("memory")
    return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0) or 0)


def bytes_pool(r: redis.Redis) -> redis.ConnectionPool:
    """A pool to the same server WITHOUT decode_responses: APScheduler's job store pickles (scale.md OBS F)."""
    kwargs = _connection_kwargs(r)
    for key in ("decode_responses", "encoding", "encoding_errors"):
        kwargs.pop(key, None)
    pool = r.connection_pool
    if isinstance(pool, MasterPool):  # the same sentinels, so the job store follows the master too
        return MasterPool(pool.service_name, pool.sentinel_manager, target=pool.target,
                          connection_class=pool.connection_class, **kwargs)
    return redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
