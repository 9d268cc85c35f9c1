"""The worker role: consume the `inbox` and `deliver` streams with at-least-once semantics.

Entries are acknowledged only after their effect is stored. Consumer names are
stable per host and thread, so a restarted worker first re-reads its own
pending entries (`XREADGROUP … 0`) and finishes what the crash interrupted;
entries of a consumer that never comes back are claimed by others after
`CLAIM_IDLE` seconds. Every handler is idempotent, so a replay repeats nothing
the user can see (reply `uuid`s, delivered-markers, job records keyed by rid).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from bot.engine import delivery, lifecycle
from bot.engine.context import Engine
from bot.engine.jobs import message_rid, set_lease_identity
from bot.redis_conn import read_group

log = logging.getLogger(__name__)

GROUP = "workers"
CLAIM_IDLE_MS = 60_000
MAX_ATTEMPTS = 6


class WorkerRole:
    def __init__(self, engine: Engine, *, threads: int = 4, name: str | None = None,
                 on_message: Callable[[Engine, dict[str, Any]], None] | None = None,
                 on_card: Callable[[Engine, dict[str, Any]], None] | None = None) -> None:
        self.engine = engine
        self.threads = threads
        self.name = name or f"{engine.node}-worker"
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        if on_message is None or on_card is None:
            import handlers

            on_message = on_message or handlers.on_message
            on_card = on_card or handlers.on_card
        self.on_message = on_message
        self.on_card = on_card
        self.busy = 0
        self._busy_lock = threading.Lock()

    @property
    def streams(self) -> list[str]:
        k = self.engine.store.keys
        return [k.deliver, k.inbox]

    def start(self) -> None:
        r = self.engine.redis
        for stream in self.streams:
            try:
                r.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except redis.ResponseError:
                pass
        # Our consumer names are stable: leases still held under them were left by our killed
        # predecessor, whose pending entries we are about to replay. Free them, or the replay
        # would skip that work until the leases expire.
        freed = self.engine.store.release_held_by([f"{self.name}-{i}" for i in range(self.threads)])
        if freed:
            log.warning("worker %s: freed %d lease(s) left by a killed predecessor", self.name, freed)
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, args=(f"{self.name}-{i}",), name=f"worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful: finish the entries in hand, take no new ones."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(deadline - time.monotonic(), 0.1))

    def _loop(self, consumer: str) -> None:
        r = self.engine.redis
        set_lease_identity(consumer)  # leases record our stable name (see start)
        backlog = True  # first finish what this consumer had in hand before a crash
        last_claim = 0.0
        outage = False
        while not self.stop_event.is_set():
            try:
                if outage:
                    # Redis went away under a handler: leases it could not drop are still held under
                    # our name, and would hold up the retry of that very work until they expire.
                    self.engine.store.release_held_by([consumer])
                    outage = False
                if backlog:
                    resp = read_group(r, GROUP, consumer, {s: "0" for s in self.streams}, count=10)
                    if not any(entries for _, entries in resp or []):
                        backlog = False
                        continue
                else:
                    if time.monotonic() - last_claim > 10:
                        last_claim = time.monotonic()
                        if self._claim_stale(consumer):
                            backlog = True  # claimed entries are now in our PEL: handle them
                            continue
                    resp = read_group(r, GROUP, consumer, {s: ">" for s in self.streams}, count=1, block=500)
                for stream, entries in resp or []:
                    for entry_id, fields in entries:
                        if self.stop_event.is_set() and not backlog:
                            return
                        self._handle(consumer, stream, entry_id, fields)
            except redis.RedisError as exc:
                log.warning("worker %s: Redis error: %s", consumer, exc)
                self.stop_event.wait(1.0)
                if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
                    outage = backlog = True  # then redo the interrupted entries (still pending, ours)

    def _claim_stale(self, consumer: str) -> bool:
        """Take over entries idle in other (dead) consumers' PELs; True if any were claimed."""
        r = self.engine.redis
        claimed = False
        for stream in self.streams:
            try:
                resp = r.xautoclaim(stream, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS, start_id="0-0",
                                    count=10)
            except redis.ResponseError:
                continue
            claimed = claimed or bool(resp and len(resp) > 1 and resp[1])
        return claimed

    def _handle(self, consumer: str, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        r = self.engine.redis
        if not fields:  # trimmed entry
            r.xack(stream, GROUP, entry_id)
            return
        with self._busy_lock:
            self.busy += 1
        try:
            self.dispatch(stream, fields)
        except (redis.ConnectionError, redis.TimeoutError):
            raise  # Redis is away, not the entry at fault: _loop waits, then redoes it
        except Exception as exc:
            attempts = self._attempts(stream, entry_id)
            log.exception("worker: entry %s of %s failed (attempt %d)", entry_id, stream, attempts)
            if attempts >= MAX_ATTEMPTS:
                self._give_up(stream, fields, exc)
                r.xack(stream, GROUP, entry_id)
            return
        finally:
            with self._busy_lock:
                self.busy -= 1
        r.xack(stream, GROUP, entry_id)

    def _attempts(self, stream: str, entry_id: str) -> int:
        try:
            info = self.engine.redis.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
            return int(info[0]["times_delivered"]) if info else 1
        except redis.RedisError:
            return 1

    def dispatch(self, stream: str, fields: dict[str, str]) -> None:
        keys = self.engine.store.keys
        if stream == keys.deliver:
            delivery.deliver(self.engine, fields["rid"])
            return
        kind = fields.get("kind", "")
        payload = json.loads(fields.get("payload") or "{}")
        if kind == "message":
            self.on_message(self.engine, payload)
            lifecycle.admit_and_start(self.engine)
        elif kind == "card":
            self.on_card(self.engine, payload)
            lifecycle.admit_and_start(self.engine)
        elif kind == "admit":
            lifecycle.admit_and_start(self.engine)
        elif kind == "start":
            lifecycle.start(self.engine, payload["rid"])
        else:
            log.warning("worker: unknown inbox kind %r", kind)

    def _give_up(self, stream: str, fields: dict[str, str], exc: BaseException) -> None:
        """After repeated failures, end the job with a message instead of retrying forever."""
        rid = fields.get("rid")
        if stream == self.engine.store.keys.deliver and rid:
            job = self.engine.store.get(rid)
            if job is not None:
                from bot import i18n

                try:
                    lifecycle.fail(self.engine, rid, i18n.t("delivery_failed", job.lang, task_id=job.task_id),
                                   "", code="delivery_failed")
                except Exception:
                    log.exception("could not report the failed delivery of %s", rid)
        elif fields.get("kind") == "message":
            self._apologise(fields)

    def _apologise(self, fields: dict[str, str]) -> None:
        """A chat message that kept failing still gets an answer, so nobody waits in silence."""
        from bot import i18n
        from bot.parsing.events import parse_message_event

        try:
            msg = parse_message_event(json.loads(fields.get("payload") or "{}"))
            if msg is None or msg.from_bot or self.engine.store.get(message_rid(msg.message_id)) is not None:
                return  # a job exists: reconcile carries it on, and its card speaks for it
            lang = i18n.detect(msg.text)
            self.engine.feishu.reply(msg.message_id, "text", {"text": i18n.t("message_failed", lang)},
                                     reply_in_thread=bool(msg.thread_id) or msg.is_group,
                                     uuid=f"err-{msg.message_id}"[:50])
        except Exception:
            log.exception("could not tell the user that their message failed")
