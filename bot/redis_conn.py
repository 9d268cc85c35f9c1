"""One way to open Redis, with timeouts, so no role can hang forever on a dead server."""

from __future__ import annotations

from typing import cast

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


StreamEntries = list[tuple[str, list[tuple[str, dict[str, str]]]]]


def read_group(r: redis.Redis, group: str, consumer: str, streams: dict[str, str], *,
               count: int, block: int | None = None) -> StreamEntries:
    """XREADGROUP with the reply typed for a `decode_responses=True` client."""
    resp = r.xreadgroup(group, consumer, streams, count=count, block=block)  # type: ignore[arg-type]
    return cast(StreamEntries, resp or [])
