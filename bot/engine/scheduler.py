"""The scheduler role: exactly one active APScheduler, driving the polling tick and reconcile.

Two schedulers on one RedisJobStore run jobs twice and die silently
(shared/reference/scale.md §1.4), so a scheduler first takes a Redis lock
lease and only then starts a fresh APScheduler over the Redis job store, with
two interval jobs: `tick` (look at the Ark tasks that are due, see
`bot.engine.poller`) and `reconcile` (re-create what a crash lost). A standby
blocks on the lock and takes over within the lease time when the leader dies;
losing the lease, or APScheduler's thread dying (a long Redis outage kills it,
scale.md §1.3), ends the leadership, and the next one starts a new APScheduler.
The leader's own thread consumes the `watch` stream (callback hints) and pulls
the named tasks' looks forward: no job is ever added to APScheduler from outside.

APScheduler stores a job as a textual function reference plus arguments, so the
interval jobs call `bot.runtime:run_scheduled` with the name under which
the composition root registered this process's engine.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from bot.engine import lifecycle, poller, references
from bot.engine.engine import Engine
from bot.health import Liveness
from bot.logs import job_context, log_scope
from bot.store.connection import StoreError, bytes_pool
from bot.store.jobs import JobState
from bot.store.leader import LeaderLock

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # the leader's lease (`Engine.margin`: shorter only against a much sped-up simulator)
RENEW_EVERY = 3.0  # real seconds between renewals of a full-length lease
TICK_EVERY = 0.5  # service seconds between polling ticks (the policy's smallest gap is 2.5 s)
RECONCILE_EVERY = 15.0  # service seconds
GROUP = "scheduler"
SCHEDULED = "bot.runtime:run_scheduled"
STARTING_STALE = 10.0  # service seconds after admission before an unleased start is redone
FINISHED_STALE = 120.0  # service seconds before an undelivered finished job is handed out again
STALL_AFTER = 60.0  # real seconds without a turn of the leader/standby loop (it turns every few) = stuck


class _QuietSkips(logging.Filter):
    """A tick still running when the next is due is simply skipped; that is not worth a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def build_apscheduler(engine: Engine) -> Any:
    # Deferred: only the scheduler role needs APScheduler (and its Redis job store) loaded.
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.redis import RedisJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    aps_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _QuietSkips) for f in aps_log.filters):
        aps_log.addFilter(_QuietSkips())
    store = RedisJobStore(jobs_key=engine.keys.aps_jobs, run_times_key=engine.keys.aps_run_times,
                          connection_pool=bytes_pool(engine.redis))
    return BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        timezone="UTC",
    )


class SchedulerRole:
    """Leader election + APScheduler + the `watch` stream consumer."""

    def __init__(self, engine: Engine, *, registered_as: str, liveness: Liveness | None = None) -> None:
        self.engine = engine
        self.registered_as = registered_as
        self.liveness = liveness if liveness is not None else Liveness()
        self.stop_event = threading.Event()
        self.is_leader = threading.Event()
        self.leaderships = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()
        self.liveness.watch("scheduler", STALL_AFTER, self._thread)

    def stop(self, timeout: float = 10.0) -> None:
        self.liveness.forget("scheduler")  # the loop ends on purpose
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def lease_seconds(self) -> float:
        return self.engine.margin(LEASE_SECONDS, floor=LEASE_SECONDS)

    @property
    def renew_every(self) -> float:
        return RENEW_EVERY * self.lease_seconds / LEASE_SECONDS  # the same share of a shorter lease

    # --- leadership ---------------------------------------------------------------
    def _run(self) -> None:
        lock = LeaderLock(self.engine.redis, self.engine.keys, lease=self.lease_seconds)
        while not self.stop_event.is_set():
            self.liveness.beat("scheduler")
            if not lock.acquire(wait=1.0):
                continue
            self.leaderships += 1
            self.engine.metrics.leader_changes.inc()
            self.engine.metrics.leader.inc()  # inc/dec: right with several schedulers in one process too
            log.info("scheduler: leader (%s)", self.engine.node)
            try:
                self._lead(lock)
            except Exception:
                log.exception("scheduler: leadership ended by an error")
            finally:
                self.engine.metrics.leader.dec()
                self.is_leader.clear()
                lock.release()
            if not self.stop_event.is_set():
                log.warning("scheduler: lost leadership; back to standby")
                self.stop_event.wait(0.5)

    def _lead(self, lock: LeaderLock) -> None:
        e = self.engine
        sched = build_apscheduler(e)
        sched.start(paused=True)
        try:
            args = [self.registered_as]
            sched.add_job(SCHEDULED, trigger="interval", seconds=e.scaled(TICK_EVERY, floor=0.1), args=[*args, "tick"],
                          id="tick", replace_existing=True)
            sched.add_job(SCHEDULED, trigger="interval", seconds=e.scaled(RECONCILE_EVERY, floor=1.0),
                          args=[*args, "reconcile"], id="reconcile", replace_existing=True)
            sched.resume()
            self.is_leader.set()
            reconcile(e)
            streams = e.streams
            streams.ensure_group(e.keys.watch, GROUP)
            pending_first = True
            last_renew = time.monotonic()
            while not self.stop_event.is_set():
                self.liveness.beat("scheduler")
                if time.monotonic() - last_renew >= self.renew_every:
                    if not lock.renew():
                        return
                    last_renew = time.monotonic()
                thread = getattr(sched, "_thread", None)
                if not sched.running or (thread is not None and not thread.is_alive()):
                    log.error("scheduler: APScheduler's thread died; giving up leadership")
                    return
                pending_first = self._consume(pending_first)
        except StoreError as exc:
            log.error("scheduler: Redis failed while leading: %s", exc)
        finally:
            try:
                sched.shutdown(wait=False)
            except Exception:  # already stopped
                pass

    def _consume(self, pending_first: bool) -> bool:
        """Read callback hints for up to half a second; returns whether old entries remain."""
        e = self.engine
        resp = e.streams.read(GROUP, "leader", {e.keys.watch: "0" if pending_first else ">"}, count=100, block=500)
        entries = resp[0][1] if resp else []
        for entry_id, fields in entries:
            rid = fields.get("rid", "")
            if rid:
                with log_scope():
                    poller.on_hint(e, rid, fields.get("status", ""))
            e.streams.done(e.keys.watch, GROUP, entry_id)
        return pending_first and bool(entries)


def reconcile(engine: Engine) -> None:
    """Re-create what a crash or restart lost: looks, deliveries, interrupted starts, queue entries."""
    with log_scope():  # APScheduler's threads are reused: no ids of a previous round
        now = engine.clock()
        for rid in engine.records.active_rids():
            with job_context(rid=rid):
                _reconcile_job(engine, rid, now)
        engine.emit(engine.keys.inbox, kind="admit", payload="{}")
        references.sweep(engine)  # expired reference videos/audios (every few minutes at most)


def _reconcile_job(engine: Engine, rid: str, now: float) -> None:
    e = engine
    job = e.records.get(rid)
    if job is None:
        e.records.forget_active(rid)
        return
    state = job.job_state
    if state == JobState.SUBMITTED and job.task_id:
        if e.polls.planned(rid) is None:
            log.info("reconcile: planning the missing look at %s", rid)
            lifecycle.watch(e, job)
    elif state == JobState.FINISHED and not e.records.is_sent(rid):
        if now - job.finished_at > e.margin(FINISHED_STALE, floor=2.0) and e.leases.is_free("deliver", rid):
            e.emit(e.keys.deliver, rid=rid)  # delivery entry lost or stuck
    elif state == JobState.FAILED and not e.records.is_sent(rid):
        e.emit(e.keys.deliver, rid=rid)  # its explanation was never posted
    elif state == JobState.QUEUED:
        e.queue.enqueue(rid, job.user, job.pool)
    elif state == JobState.STARTING and now - (job.admitted_at or now) > e.margin(STARTING_STALE, floor=2.0) \
            and e.leases.is_free("start", rid):  # free, or held by a dead predecessor of this node
        log.info("reconcile: redoing the interrupted start of %s", rid)
        e.emit(e.keys.inbox, kind="start", payload=json.dumps({"rid": rid}))
