"""What a Redis server is and how it is set up, for `seedance-bot doctor` (so the doctor never imports redis-py).

Everything comes from one ``INFO`` (server, persistence, memory): managed Redis services often
disable ``CONFIG GET``, but they answer ``INFO``. Through Sentinel, that is the master's, and
`sentinel_facts` says which master the sentinels name and which of them answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.store.connection import SentinelTarget, StoreError, connect, is_sentinel_url

MIN_VERSION = (6, 2, 0)
"""The oldest Redis the bot runs on: XAUTOCLAIM (streams), ZADD … LT (polls) and LPOS (queues)."""


@dataclass(frozen=True, slots=True)
class ServerFacts:
    version: str
    aof: bool  # appendonly yes
    policy: str  # maxmemory-policy
    maxmemory: int  # bytes; 0 = no limit
    used_memory: int

    @property
    def version_tuple(self) -> tuple[int, ...]:
        parts = []
        for piece in self.version.split(".")[:3]:
            digits = "".join(ch for ch in piece if ch.isdigit())
            parts.append(int(digits) if digits else 0)
        return tuple(parts)

    @property
    def recent_enough(self) -> bool:
        return self.version_tuple >= MIN_VERSION


class ServerUnreachable(Exception):
    """No answer, or the answer was a refusal (wrong password, TLS, …); the text says which, without the URL."""


def server_facts(url: str, *, timeout: float = 5.0) -> ServerFacts:
    """One short-lived connection, one INFO, closed again."""
    client = connect(url, socket_timeout=timeout, connect_timeout=timeout, retries=0, health_check_interval=0)
    try:
        info = client.info()
    except StoreError as exc:
        raise ServerUnreachable(f"{type(exc).__name__}: {exc}") from None
    finally:
        client.close()
    return ServerFacts(
        version=str(info.get("redis_version", "0")),
        aof=str(info.get("aof_enabled", "0")) == "1",
        policy=str(info.get("maxmemory_policy", "")),
        maxmemory=int(info.get("maxmemory", 0) or 0),
        used_memory=int(info.get("used_memory", 0) or 0),
    )


@dataclass(frozen=True, slots=True)
class SentinelFacts:
    master_name: str
    masters: tuple[str, ...]  # host:port of the master, as the answering sentinels name it (one when they agree)
    answering: tuple[str, ...]  # the sentinels (host:port) that answered
    silent: tuple[str, ...]  # … and those that did not, with why


def sentinel_facts(url: str, *, timeout: float = 5.0) -> SentinelFacts | None:
    """For a ``redis+sentinel://`` URL, every sentinel asked once for the master; None for any other URL."""
    if not is_sentinel_url(url):
        return None
    target = SentinelTarget.parse(url)
    masters: list[str] = []
    answering: list[str] = []
    silent: list[str] = []
    for host, port in target.sentinels:
        name = f"{host}:{port}"
        client = redis.Redis(host=host, port=port, password=target.sentinel_password, socket_timeout=timeout,
                             socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
        try:
            addr = client.sentinel_get_master_addr_by_name(target.master)
        except StoreError as exc:
            silent.append(f"{name} ({type(exc).__name__})")
            continue
        finally:
            client.close()
        answering.append(name)
        if isinstance(addr, tuple):
            host_seen = addr[0].decode() if isinstance(addr[0], bytes) else addr[0]
            master = f"{host_seen}:{addr[1]}"
            if master not in masters:
                masters.append(master)
    return SentinelFacts(target.master, tuple(masters), tuple(answering), tuple(silent))
