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
from bot.engine.live_card import flush_cards
from bot.errors import Busy
from bot.health import Liveness
from bot.logs import job_context, log_scope
from bot.parsing.events import parse_message_event
from bot.store.connection import StoreError, Unavailable
from bot.store.jobs import message_rid

log = logging.getLogger(__name__)

GROUP = "workers"
CLAIM_IDLE = 60.0  # service seconds an entry may sit unacknowledged before another worker takes it
CLAIM_EVERY = 10.0  # real seconds between looks for such entries (at most half the claim idle time)
MAX_ATTEMPTS = 6
CARDS_EVERY = 0.2  # seconds between looks at the cards waiting for a patch

ENTRY_KINDS = frozenset({"message", "card", "admit", "start", "deliver"})  # `bot_worker_entries_total`

Handler = Callable[[Engine, dict[str, Any]], None]


class WorkerRole:
    def __init__(self, engine: Engine, *, on_message: Handler, on_card: Handler, threads: int = 4,
                 name: str | None = None, liveness: Liveness | None = None) -> None:
        self.engine = engine
        self.threads = threads
        self.name = name or engine.node
        self.on_message = on_message
        self.on_card = on_card
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self.busy = 0
        self._busy_lock = threading.Lock()
        # Each thread beats every time round (at least every 0.5 s when idle); one busy with an
        # entry for longer than BOT_STALL_SECONDS, or dead, makes the process not alive.
        self.liveness = liveness if liveness is not None else Liveness()

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
            self.liveness.watch(f"{self.name}-{i}", self.engine.settings.stall_seconds, t)
        cards = threading.Thread(target=self._cards, name="cards", daemon=True)
        cards.start()
        self._threads.append(cards)
        self.liveness.watch(f"{self.name}-cards", self.engine.settings.stall_seconds, cards)

    def _cards(self) -> None:
        """Patch the cards waiting for a token (`live_card.flush_cards`), a few times a second."""
        while not self.stop_event.wait(CARDS_EVERY):
            self.liveness.beat(f"{self.name}-cards")
            try:
                with log_scope():
                    flush_cards(self.engine)
            except StoreError as exc:
                log.warning("worker: card updates paused: %s", exc)
            except Exception:
                log.exception("worker: card updates failed")

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful: finish the entries in hand, take no new ones."""
        for name in [f"{self.name}-{i}" for i in range(self.threads)] + [f"{self.name}-cards"]:
            self.liveness.forget(name)  # draining threads end on purpose
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(deadline - time.monotonic(), 0.1))

    def _loop(self, consumer: str) -> None:
        streams = self.engine.streams
        claim_idle = self.engine.margin(CLAIM_IDLE, floor=5.0)
        claim_idle_ms = int(claim_idle * 1000)
        claim_every = min(CLAIM_EVERY, claim_idle / 2)
        backlog = True  # first finish what this consumer had in hand before a crash
        last_claim = 0.0
        while not self.stop_event.is_set():
            self.liveness.beat(consumer)
            try:
                if backlog:
                    resp = streams.read(GROUP, consumer, {s: "0" for s in self.streams}, count=10)
                    if not any(entries for _, entries in resp):
                        backlog = False
                        continue
                else:
                    if time.monotonic() - last_claim > claim_every:
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
        kind = "deliver" if stream == self.engine.keys.deliver else fields.get("kind", "")
        kind = kind if kind in ENTRY_KINDS else "other"
        ids = _entry_ids(fields)
        rid = ids.get("rid", "")
        try:
            with log_scope(**ids):  # the thread's next entry starts from a clean log context
                self._dispatch_entry(stream, entry_id, fields, kind, rid)
        finally:
            with self._busy_lock:
                self.busy -= 1

    def _dispatch_entry(self, stream: str, entry_id: str, fields: dict[str, str], kind: str, rid: str) -> None:
        streams = self.engine.streams
        try:
            self.dispatch(stream, fields)
        except Unavailable:
            raise  # Redis is away, not the entry at fault: _loop waits, then redoes it
        except Busy as exc:
            # Left pending, not counted: a claim redoes it once the holder's lease has run out
            # (a SIGKILLed holder must not make its request give up after a few claims).
            log.info("worker: entry %s of %s (rid %s) waits: %s", entry_id, stream, rid, exc)
            self.engine.metrics.worker_entries.labels(kind, "busy").inc()
            return
        except Exception as exc:
            attempts = streams.deliveries(stream, GROUP, entry_id)
            log.exception("worker: entry %s of %s (rid %s) failed (attempt %d)", entry_id, stream, rid, attempts)
            if attempts >= MAX_ATTEMPTS:
                self.engine.metrics.worker_entries.labels(kind, "gave_up").inc()
                self._give_up(stream, fields, exc)
                streams.done(stream, GROUP, entry_id)
            else:
                self.engine.metrics.worker_entries.labels(kind, "error").inc()
            return
        self.engine.metrics.worker_entries.labels(kind, "ok").inc()
        streams.done(stream, GROUP, entry_id)

    def dispatch(self, stream: str, fields: dict[str, str]) -> None:
        e = self.engine
        if stream == e.keys.deliver:
            with job_context(rid=fields["rid"]):
                delivery.deliver(e, fields["rid"], fields.get("task", ""))
            return
        kind = fields.get("kind", "")
        payload = json.loads(fields.get("payload") or "{}")
        # Each job's lines carry its own ids: the request's (bound by the handler), then those of
        # the jobs that admission starts (`lifecycle.admit_and_start`).
        if kind == "message":
            with job_context():
                self.on_message(e, payload)
            lifecycle.admit_and_start(e)
        elif kind == "card":
            with job_context():
                self.on_card(e, payload)
            lifecycle.admit_and_start(e)
        elif kind == "admit":
            lifecycle.admit_and_start(e)
        elif kind == "start":
            with job_context(rid=str(payload["rid"])):
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


def _entry_ids(fields: dict[str, str]) -> dict[str, str]:
    """The ids an entry's log lines carry before its handler knows more: its rid, or for a chat
    message the rid its job would have and its chat."""
    rid = fields.get("rid") or _payload_rid(fields)
    if rid or fields.get("kind") != "message":
        return {"rid": rid}
    try:
        message = json.loads(fields.get("payload") or "{}")["event"]["message"]
        message_id, chat_id = str(message.get("message_id") or ""), str(message.get("chat_id") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}
    return {"rid": message_rid(message_id) if message_id else "", "chat_id": chat_id}


def _payload_rid(fields: dict[str, str]) -> str:
    try:
        payload = json.loads(fields.get("payload") or "{}")
    except ValueError:
        return ""
    return str(payload.get("rid", "")) if isinstance(payload, dict) else ""
