"""Opening Redis (with timeouts, so no role can hang forever on a dead server), and the few
facts about the server other packages need, so that none of them imports redis-py.

`Unavailable` is what a caller catches to say "Redis is away, not my input at fault: retry
later"; `StoreError` is any Redis failure; `OutOfMemory` is a write refused under maxmemory.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


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
    """
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        health_check_interval=health_check_interval,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries),
        max_connections=max_connections,
    )


Client = redis.Redis
StoreError = redis.RedisError
DataError = redis.DataError
OutOfMemory = redis.exceptions.OutOfMemoryError
Unavailable = (redis.ConnectionError, redis.TimeoutError)


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, OutOfMemory) or str(exc).startswith("OOM")


def ping(r: redis.Redis) -> bool:
    """True if the server answers (the readiness of every role)."""
    try:
        return bool(r.ping())
    except redis.RedisError:
        return False


def memory_use(r: redis.Redis) -> tuple[int, int]:
    """(used_memory, maxmemory) in bytes; maxmemory 0 = no limit."""
    info = r.info("memory")
    return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0) or 0)


def bytes_pool(r: redis.Redis) -> redis.ConnectionPool:
    """A pool to the same server WITHOUT decode_responses: APScheduler's job store pickles (scale.md OBS F)."""
    kwargs = dict(r.connection_pool.connection_kwargs)
    for key in ("decode_responses", "encoding", "encoding_errors"):
        kwargs.pop(key, None)
    return redis.ConnectionPool(connection_class=r.connection_pool.connection_class, **kwargs)
