"""Leases with fencing tokens (bot/store/leases.py).

Take, renew, release; another node can't take a live lease; the same node takes over a lease no
living thread of it holds (a killed predecessor); `kept()` keeps a lease alive through a block
longer than its TTL; a holder whose lease was taken over can neither renew nor drop it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from bot.store.jobs import JobKeys
from bot.store.leases import LeaseBook

KEYS = JobKeys("t")


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def book(r: redis.Redis, node: str) -> LeaseBook:
    return LeaseBook(r, KEYS, node)


def test_take_renew_release(r: redis.Redis) -> None:
    a = book(r, "node-a")
    lease = a.take("start", "m-1", 5.0)
    assert lease is not None and lease.held() and lease.token.startswith("node-a|")
    assert a.holder("start", "m-1") == lease.token
    assert 0 < r.pttl(lease.key) <= 5000
    r.pexpire(lease.key, 100)
    assert lease.renew() and r.pttl(lease.key) > 4000
    assert lease.renew(20.0) and r.pttl(lease.key) > 15000, "a renewal may ask for another term"
    assert a.take("start", "m-1", 5.0) is None, "another thread of this process holds it"
    assert a.take("deliver", "m-1", 5.0) is not None, "leases are per step"
    lease.release()
    assert a.holder("start", "m-1") is None and not lease.held() and not lease.renew()
    assert a.take("start", "m-1", 5.0) is not None


def test_another_node_cannot_take_a_live_lease(r: redis.Redis) -> None:
    a, b = book(r, "node-a"), book(r, "node-b")
    lease = a.take("start", "m-1", 5.0)
    assert lease is not None
    assert b.take("start", "m-1", 5.0) is None
    assert not b.is_free("start", "m-1")
    r.delete(lease.key)  # it expired
    assert b.is_free("start", "m-1")
    taken = b.take("start", "m-1", 5.0)
    assert taken is not None and not lease.held()


def test_the_same_node_takes_over_a_lease_left_by_a_killed_predecessor(r: redis.Redis) -> None:
    dead = book(r, "node-a")
    old = dead.take("start", "m-1", 30.0)
    assert old is not None
    restarted = book(r, "node-a")  # the same BOT_NODE, a new process: it holds no live tokens
    assert restarted.is_free("start", "m-1")
    assert not book(r, "node-b").is_free("start", "m-1")
    new = restarted.take("start", "m-1", 30.0)
    assert new is not None and new.token != old.token and new.held()
    # The predecessor (were it only stalled, not dead) is fenced out.
    assert not old.held() and not old.renew()
    old.release()
    assert new.held(), "dropping a lost lease never drops the new holder's"
    assert restarted.take("start", "m-1", 30.0) is None, "the new holder is alive"


def test_a_lease_lost_to_another_holder_cannot_be_renewed(r: redis.Redis) -> None:
    a, b = book(r, "node-a"), book(r, "node-b")
    lease = a.take("deliver", "m-1", 0.2)
    assert lease is not None
    deadline = time.monotonic() + 5
    while (other := b.take("deliver", "m-1", 5.0)) is None:  # wait for the unrenewed lease to lapse
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not lease.renew() and not lease.held()
    assert other.held()


def test_kept_renews_while_a_block_outlives_the_ttl(r: redis.Redis) -> None:
    a, b = book(r, "node-a"), book(r, "node-b")
    lease = a.take("start", "m-1", 0.15)
    assert lease is not None
    began = time.monotonic()
    with lease.kept(every=0.03):
        while time.monotonic() - began < 0.6:  # four TTLs
            assert lease.held(), "lapsed while kept"
            assert b.take("start", "m-1", 5.0) is None
            time.sleep(0.02)
    assert lease.held()
    lease.release()
    assert not [t for t in threading.enumerate() if t.name.startswith("lease:")], "the keeper stops"


def test_kept_stops_renewing_once_the_lease_is_taken_over(r: redis.Redis) -> None:
    a = book(r, "node-a")
    lease = a.take("start", "m-1", 0.5)
    assert lease is not None
    with lease.kept(every=0.02):
        r.delete(lease.key)
        other = book(r, "node-b").take("start", "m-1", 5.0)
        assert other is not None
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:  # the keeper keeps trying and never steals it back
            assert other.held()
            time.sleep(0.02)
    assert other.held() and not lease.held()


def test_tokens_of_released_leases_are_forgotten(r: redis.Redis) -> None:
    a = book(r, "node-a")
    lease = a.take("start", "m-1", 30.0)
    assert lease is not None
    lease.release()
    r.set(lease.key, lease.token)  # a stale write of a token this process no longer holds
    assert a.is_free("start", "m-1")
    assert a.take("start", "m-1", 5.0) is not None
