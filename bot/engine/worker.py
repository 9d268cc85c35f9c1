"""The worker role: consume the `inbox` and `deliver` streams with at-least-once semantics.

Entries are acknowledged (and deleted) only after their effect is stored.
Consumer names are stable per node and thread, so a restarted worker first
re-reads its own pending entries (`XREADGROUP … 0`) and finishes what the crash
interrupted; entries of a consumer that never comes back are claimed by others
once idle long enough. Every handler is idempotent, so a replay repeats nothing
the user can see (reply `uuid`s, delivered-markers, job records keyed by rid).

The chat features are handed in by the composition root (`on_message`,
`on_card`): the engine never imports them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bot import i18n
from bot.engine import delivery, lifecycle
from bot.engine.engine import Engine
from bot.parsing.events import parse_message_event
from bot.store.connection import StoreError, Unavailable
from bot.store.jobs import message_rid

log = logging.getLogger(__name__)

GROUP = "workers"
CLAIM_IDLE = 60.0  # service seconds an entry may sit unacknowledged before another worker takes it
CLAIM_EVERY = 10.0  # real seconds between looks for such entries
MAX_ATTEMPTS = 6

Handler = Callable[[Engine, dict[str, Any]], None]


class WorkerRole:
    def __init__(self, engine: Engine, *, on_message: Handler, on_card: Handler, threads: int = 4,
                 name: str | None = None) -> None:
        self.engine = engine
        self.threads = threads
        self.name = name or engine.node
        self.on_message = on_message
        self.on_card = on_card
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self.busy = 0
        self._busy_lock = threading.Lock()

    @property
    def streams(self) -> list[str]:
        k = self.engine.keys
        return [k.deliver, k.inbox]

    def start(self) -> None:
        for stream in self.streams:
            self.engine.streams.ensure_group(stream, GROUP)
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
        streams = self.engine.streams
        claim_idle_ms = int(self.engine.scaled(CLAIM_IDLE, floor=5.0) * 1000)
        backlog = True  # first finish what this consumer had in hand before a crash
        last_claim = 0.0
        while not self.stop_event.is_set():
            try:
                if backlog:
                    resp = streams.read(GROUP, consumer, {s: "0" for s in self.streams}, count=10)
                    if not any(entries for _, entries in resp):
                        backlog = False
                        continue
                else:
                    if time.monotonic() - last_claim > CLAIM_EVERY:
                        last_claim = time.monotonic()
                        if any(streams.claim_idle(s, GROUP, consumer, claim_idle_ms) for s in self.streams):
                            backlog = True  # claimed entries are now in our hands: handle them
                            continue
                    resp = streams.read(GROUP, consumer, {s: ">" for s in self.streams}, count=1, block=500)
                for stream, entries in resp:
                    for entry_id, fields in entries:
                        if self.stop_event.is_set() and not backlog:
                            return
                        self._handle(stream, entry_id, fields)
            except StoreError as exc:
                log.warning("worker %s: Redis error: %s", consumer, exc)
                self.stop_event.wait(1.0)
                if isinstance(exc, Unavailable):
                    backlog = True  # then redo the interrupted entries (still pending, ours)

    def _handle(self, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        streams = self.engine.streams
        if not fields:  # trimmed entry
            streams.done(stream, GROUP, entry_id)
            return
        with self._busy_lock:
            self.busy += 1
        try:
            self.dispatch(stream, fields)
        except Unavailable:
            raise  # Redis is away, not the entry at fault: _loop waits, then redoes it
        except Exception as exc:
            attempts = streams.deliveries(stream, GROUP, entry_id)
            log.exception("worker: entry %s of %s (rid %s) failed (attempt %d)", entry_id, stream,
                          fields.get("rid") or _payload_rid(fields), attempts)
            if attempts >= MAX_ATTEMPTS:
                self._give_up(stream, fields, exc)
                streams.done(stream, GROUP, entry_id)
            return
        finally:
            with self._busy_lock:
                self.busy -= 1
        streams.done(stream, GROUP, entry_id)

    def dispatch(self, stream: str, fields: dict[str, str]) -> None:
        e = self.engine
        if stream == e.keys.deliver:
            delivery.deliver(e, fields["rid"], fields.get("task", ""))
            return
        kind = fields.get("kind", "")
        payload = json.loads(fields.get("payload") or "{}")
        if kind == "message":
            self.on_message(e, payload)
            lifecycle.admit_and_start(e)
        elif kind == "card":
            self.on_card(e, payload)
            lifecycle.admit_and_start(e)
        elif kind == "admit":
            lifecycle.admit_and_start(e)
        elif kind == "start":
            lifecycle.start(e, str(payload["rid"]))
            lifecycle.admit_and_start(e)
        else:
            log.warning("worker: unknown inbox kind %r", kind)

    def _give_up(self, stream: str, fields: dict[str, str], exc: BaseException) -> None:
        """After repeated failures, end the job (or answer the message) instead of retrying forever."""
        e = self.engine
        rid = fields.get("rid") or _payload_rid(fields)
        job = e.records.get(rid) if rid else None
        if job is not None:
            code = "delivery_failed" if stream == e.keys.deliver else "start_failed"
            try:
                lifecycle.fail(e, job.rid, i18n.t(code, job.lang, task_id=job.task_id), "", code=code)
            except Exception:
                log.exception("could not report the failure of %s", job.rid)
        elif fields.get("kind") == "message":
            self._apologise(fields)

    def _apologise(self, fields: dict[str, str]) -> None:
        """A chat message that kept failing still gets an answer, so nobody waits in silence."""
        try:
            msg = parse_message_event(json.loads(fields.get("payload") or "{}"))
            if msg is None or msg.from_bot or self.engine.records.get(message_rid(msg.message_id)) is not None:
                return  # a job exists: reconcile carries it on, and its card speaks for it
            lang = i18n.detect(msg.text)
            self.engine.feishu.reply(msg.message_id, "text", {"text": i18n.t("message_failed", lang)},
                                     reply_in_thread=bool(msg.thread_id) or msg.is_group,
                                     uuid=f"err-{msg.message_id}"[:50])
        except Exception:
            log.exception("could not tell the user that their message failed")


def _payload_rid(fields: dict[str, str]) -> str:
    try:
        payload = json.loads(fields.get("payload") or "{}")
    except ValueError:
        return ""
    return str(payload.get("rid", "")) if isinstance(payload, dict) else ""
