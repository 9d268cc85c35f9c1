"""REDIS_SENTINELS as settings and as clients, without servers (the failovers: tests/e2e/test_sentinel.py)."""

from __future__ import annotations

import pytest
import redis
from pydantic import ValidationError

from bot.config import Settings, sentinel_url
from bot.doctor.facts import without_password
from bot.logs import settings_secrets
from bot.store.connection import (
    RETRIED,
    MasterConnection,
    MasterPool,
    SentinelTarget,
    bytes_pool,
    connect,
    probe_client,
    sentinel_of,
)


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def test_sentinels_make_the_redis_url_with_the_data_nodes_password_and_db() -> None:
    s = settings(REDIS_SENTINELS=" 10.0.0.5:26379, [::1]:26380 ", REDIS_URL="redis://u:p%40ss@ignored/3",
                 REDIS_SENTINEL_MASTER="cache", REDIS_SENTINEL_PASSWORD="s&cret")
    assert s.redis_sentinels == "10.0.0.5:26379,[::1]:26380"
    assert s.redis_url == ("redis+sentinel://u:p%40ss@10.0.0.5:26379,[::1]:26380/3"
                           "?master=cache&sentinel_password=s%26cret")
    target = SentinelTarget.parse(s.redis_url)
    assert target == SentinelTarget((("10.0.0.5", 26379), ("::1", 26380)), "cache", 3, "u", "p@ss", "s&cret")
    assert without_password(s.redis_url) == ("redis+sentinel://u:***@10.0.0.5:26379,[::1]:26380/3"
                                             "?master=cache&sentinel_password=***")
    assert "s&cret" in settings_secrets(s)


def test_without_sentinels_nothing_changes() -> None:
    assert settings(REDIS_URL="redis://h:6379/1").redis_url == "redis://h:6379/1"
    assert settings().redis_url is None
    assert sentinel_url("h:1", "m") == "redis+sentinel://h:1/0?master=m"  # no REDIS_URL: db 0, no password


@pytest.mark.parametrize("bad", ["sentinel-a", "h:0", "h:65536", ":26379", "h:port", "h:1,oops"])
def test_a_bad_sentinel_address_is_named(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not host:port"):
        settings(REDIS_SENTINELS=bad)


@pytest.mark.parametrize("url", ["rediss://:pw@h/0", "unix:///run/redis.sock", "redis+sentinel://h:1/0?master=m"])
def test_redis_url_of_another_kind_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings(REDIS_SENTINELS="h:26379", REDIS_URL=url, ARK_API_KEY="sk-do-not-print")
    text = str(info.value)
    assert "REDIS_URL gives the data nodes' password" in text
    assert "pw" not in text.replace("password", "") and "sk-do-not-print" not in text


def test_clients_through_sentinel_keep_their_timeouts_retries_and_sentinels() -> None:
    r = connect(settings(REDIS_SENTINELS="127.0.0.1:1,127.0.0.1:2").redis_url or "", socket_timeout=1.0,
                connect_timeout=0.5, retries=1)  # nothing connects until a command is sent
    pool = r.connection_pool
    assert isinstance(pool, MasterPool) and pool.connection_class is MasterConnection
    assert sentinel_of(r) == pool.target and pool.service_name == "mymaster"
    kwargs = pool.connection_kwargs
    assert kwargs["decode_responses"] and kwargs["socket_timeout"] == 1.0
    assert kwargs["socket_connect_timeout"] == 0.5
    assert set(RETRIED) >= {redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError}
    probe = probe_client(r, timeout=0.4)
    assert isinstance(probe.connection_pool, MasterPool) and probe.connection_pool.max_connections == 4
    assert probe.connection_pool.connection_kwargs["socket_timeout"] == 0.4
    pickles = bytes_pool(r)  # APScheduler's job store: bytes, and the same sentinels
    assert isinstance(pickles, MasterPool) and pickles.sentinel_manager is pool.sentinel_manager
    assert "decode_responses" not in pickles.connection_kwargs
    with pytest.raises(redis.ConnectionError):  # no sentinel answers: Redis is away, not a bug
        r.ping()
    assert sentinel_of(connect("redis://127.0.0.1:1/0")) is None
