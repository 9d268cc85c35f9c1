"""`Ingress` against a real Redis: atomic dedup + hand-off, exact stream entries, no partial writes."""

from __future__ import annotations

import json
import threading

import pytest
import redis

from bot.store.connection import connect
from bot.store.ingress import InboxFull, Ingress
from bot.store.keys import DEDUP_TTL, Keys

KEYS = Keys("ing")


@pytest.fixture
def rds(redis_url: str) -> redis.Redis:
    return connect(redis_url)


@pytest.fixture
def ingress(rds: redis.Redis) -> Ingress:
    return Ingress(rds, KEYS)


def _inbox(rds: redis.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in rds.xrange(KEYS.inbox)]


def test_key_names() -> None:
    k = Keys("bot")
    assert k.event("e1") == "{bot}:evt:e1"
    assert k.message("om_1") == "{bot}:msg:om_1"
    assert k.inbox == "{bot}:inbox"
    assert k.watch == "{bot}:watch"
    assert k.callback("s") == "{bot}:cb:s"
    assert k.bot_open_id == "{bot}:bot:open_id"  # what the workers cache (GET /bot/v3/info)
    assert DEDUP_TTL > 7.2 * 3600  # outlives Feishu's retry window (15 s, 5 min, 1 h, 6 h)


def test_new_event_is_enqueued_with_exact_fields(ingress: Ingress, rds: redis.Redis) -> None:
    payload = {"schema": "2.0", "header": {"event_id": "e1"}, "event": {"text": "小猫 🐱"}}
    assert ingress.accept_event("e1", "om_1", "message", payload) is True
    [entry] = _inbox(rds)
    assert set(entry) == {"kind", "payload", "received_at"}
    assert entry["kind"] == "message"
    assert json.loads(entry["payload"]) == payload
    assert entry["received_at"].isdigit()
    evt_ttl = rds.ttl(KEYS.event("e1"))
    msg_ttl = rds.ttl(KEYS.message("om_1"))
    assert DEDUP_TTL - 60 < evt_ttl <= DEDUP_TTL
    assert DEDUP_TTL - 60 < msg_ttl <= DEDUP_TTL
    # the markers point at the stream entry they guard
    [(entry_id, _)] = rds.xrange(KEYS.inbox)
    assert rds.get(KEYS.event("e1")) == entry_id


def test_same_event_id_is_a_duplicate(ingress: Ingress, rds: redis.Redis) -> None:
    assert ingress.accept_event("e1", "om_1", "message", {})
    assert not ingress.accept_event("e1", "om_1", "message", {})
    assert not ingress.accept_event("e1", None, "message", {})
    assert rds.xlen(KEYS.inbox) == 1


def test_same_message_in_a_new_envelope_is_a_duplicate_and_changes_nothing(
    ingress: Ingress, rds: redis.Redis
) -> None:
    assert ingress.accept_event("e1", "om_1", "message", {})
    before = sorted(rds.keys("*"))
    assert not ingress.accept_event("e2", "om_1", "message", {})
    assert sorted(rds.keys("*")) == before
    assert not rds.exists(KEYS.event("e2"))
    assert rds.xlen(KEYS.inbox) == 1


def test_event_without_message_id_dedups_on_event_id_only(ingress: Ingress, rds: redis.Redis) -> None:
    assert ingress.accept_event("e1", None, "message", {})
    assert ingress.accept_event("e2", None, "message", {})
    assert rds.keys(f"{KEYS.ns}:msg:*") == []
    assert rds.xlen(KEYS.inbox) == 2


def test_empty_event_id_is_a_programming_error(ingress: Ingress) -> None:
    with pytest.raises(ValueError):
        ingress.accept_event("", "om_1", "message", {})


def test_card_action_dedups_on_event_id(ingress: Ingress, rds: redis.Redis) -> None:
    payload = {"event": {"action": {"value": {"a": "approve", "rid": "r1"}}}}
    assert ingress.accept_card_action("c1", payload)
    assert not ingress.accept_card_action("c1", payload)
    assert ingress.accept_card_action("c2", payload)  # a second click is a second event
    entries = _inbox(rds)
    assert [e["kind"] for e in entries] == ["card", "card"]
    assert json.loads(entries[0]["payload"]) == payload


def test_racing_web_processes_enqueue_a_redelivery_once(redis_url: str, rds: redis.Redis) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def deliver() -> None:
        mine = Ingress(connect(redis_url), KEYS)  # one client per "process"
        barrier.wait()
        results.append(mine.accept_event("race", "om_race", "message", {"n": 1}))

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    assert rds.xlen(KEYS.inbox) == 1


def test_ark_callback_known_secret(ingress: Ingress, rds: redis.Redis) -> None:
    rds.set(KEYS.callback("sec"), "rid-1")
    assert ingress.ark_callback("sec", {"id": "cgt-1", "status": "running"})
    assert ingress.ark_callback("sec", {"status": "<script>"})  # unknown status text is not copied
    assert ingress.ark_callback("sec")
    entries = [f for _, f in rds.xrange(KEYS.watch)]
    assert entries == [
        {"rid": "rid-1", "reason": "callback", "status": "running"},
        {"rid": "rid-1", "reason": "callback"},
        {"rid": "rid-1", "reason": "callback"},
    ]


def test_ark_callback_unknown_secret_writes_nothing(ingress: Ingress, rds: redis.Redis) -> None:
    assert not ingress.ark_callback("nope", {"status": "succeeded"})
    assert rds.dbsize() == 0


def test_redis_errors_propagate(redis_url: str) -> None:
    from conftest import free_port

    dead = connect(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.2, retries=0)
    with pytest.raises(redis.ConnectionError):
        Ingress(dead, KEYS).accept_event("e1", "om_1", "message", {})


def test_full_inbox_raises_and_writes_nothing(rds: redis.Redis) -> None:
    ingress = Ingress(rds, KEYS, inbox_max=3)
    for i in range(3):
        assert ingress.accept_event(f"e{i}", f"om_{i}", "message", {})
    before = sorted(rds.keys("*"))
    with pytest.raises(InboxFull):
        ingress.accept_event("e-late", "om_late", "message", {})
    assert sorted(rds.keys("*")) == before  # no marker, no entry
    assert not ingress.accept_event("e1", "om_1", "message", {})  # a duplicate is still just a duplicate
    rds.xdel(KEYS.inbox, rds.xrange(KEYS.inbox, count=1)[0][0])  # a worker done with one entry
    assert ingress.accept_event("e-late", "om_late", "message", {})
    assert rds.xlen(KEYS.inbox) == 3


def test_lone_surrogates_are_stored_as_replacement_characters(ingress: Ingress, redis_url: str) -> None:
    payload = {"event": {"text": "a\ud800b", "\udfffkey": ["\udc80"]}}
    assert ingress.accept_event("e\ud800", "om_\udc00", "message", payload)
    raw = redis.Redis.from_url(redis_url)  # bytes: strict UTF-8 decoding must work
    [(_, fields)] = raw.xrange(KEYS.inbox)
    stored = json.loads(fields[b"payload"].decode("utf-8"))
    assert stored == {"event": {"text": "a\ufffdb", "\ufffdkey": ["\ufffd"]}}
    assert raw.exists(KEYS.event("e\ufffd"))


def test_bot_open_id_reads_the_workers_cache(ingress: Ingress, rds: redis.Redis) -> None:
    assert ingress.bot_open_id() is None
    rds.set(KEYS.bot_open_id, "ou_bot")
    assert ingress.bot_open_id() == "ou_bot"
