"""The scheduler role: exactly one active APScheduler over a Redis job store.

Two schedulers on one RedisJobStore run jobs twice and die silently
(shared/reference/scale.md §1.4), so a scheduler first takes a Redis lock lease
(`{p}:scheduler:leader`) and only then starts APScheduler; a standby blocks on
the lock and takes over within the lease time when the leader dies. Losing the
lease stops the scheduler at once. Work arrives through the `watch` stream and
is turned into APScheduler jobs *in this process*, so the scheduler wakes up
for them (jobs added from other processes would not wake it).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis

from bot.engine import watch
from bot.engine.context import Engine, set_current
from bot.redis_conn import read_group

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0
RENEW_EVERY = 3.0
RECONCILE_EVERY = 15.0
GROUP = "scheduler"

_active: Any = None


def active_scheduler() -> Any:
    return _active


def build_apscheduler(engine: Engine) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.redis import RedisJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    prefix = engine.settings.redis_prefix
    # The job store pickles jobs: it needs a client WITHOUT decode_responses (scale.md OBS F).
    kwargs = dict(engine.redis.connection_pool.connection_kwargs)
    kwargs.pop("decode_responses", None)
    kwargs.pop("encoding", None)
    kwargs.pop("encoding_errors", None)
    pool = redis.ConnectionPool(connection_class=engine.redis.connection_pool.connection_class, **kwargs)
    store = RedisJobStore(jobs_key=f"{prefix}:aps:jobs", run_times_key=f"{prefix}:aps:run_times",
                          connection_pool=pool)
    return BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(8)},
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        timezone="UTC",
    )


class SchedulerRole:
    """Leader election + APScheduler + the `watch` stream consumer."""

    def __init__(self, engine: Engine, *, consumer: str | None = None) -> None:
        self.engine = engine
        self.consumer = consumer or f"{engine.node}-sched"
        self.stop_event = threading.Event()
        self.is_leader = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        set_current(self.engine)
        t = threading.Thread(target=self._run, name="scheduler", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout)

    # --- leadership ---------------------------------------------------------------
    def _run(self) -> None:
        lock = self.engine.redis.lock(f"{self.engine.settings.redis_prefix}:scheduler:leader",
                                      timeout=LEASE_SECONDS, thread_local=False)
        while not self.stop_event.is_set():
            try:
                if not lock.acquire(blocking=True, blocking_timeout=1.0):
                    continue
            except redis.RedisError as exc:
                log.warning("scheduler: cannot reach Redis for the leader lock: %s", exc)
                self.stop_event.wait(1.0)
                continue
            log.info("scheduler: leader (%s)", self.consumer)
            try:
                self._lead(lock)
            finally:
                self.is_leader.clear()
                try:
                    lock.release()
                except redis.RedisError:
                    pass
            if not self.stop_event.is_set():
                log.warning("scheduler: lost leadership; back to standby")

    def _lead(self, lock: Any) -> None:
        global _active
        sched = build_apscheduler(self.engine)
        sched.start()
        _active = sched
        self.is_leader.set()
        sched.add_job("bot.engine.watch:reconcile", trigger="interval",
                      seconds=max(RECONCILE_EVERY * min(self.engine.settings.expected_time_factor * 4, 1), 1),
                      id="reconcile", replace_existing=True)
        sched.add_job("bot.engine.watch:reconcile", trigger="date", id="reconcile-now", replace_existing=True)
        consumer = threading.Thread(target=self._consume, args=(sched,), name="watch-consumer", daemon=True)
        consumer.start()
        try:
            last_renew = time.monotonic()
            while not self.stop_event.is_set():
                self.stop_event.wait(0.5)
                if time.monotonic() - last_renew >= RENEW_EVERY:
                    try:
                        if not lock.reacquire():
                            return
                    except (redis.RedisError, Exception) as exc:  # LockNotOwnedError included
                        log.error("scheduler: lease renewal failed: %s", exc)
                        return
                    last_renew = time.monotonic()
                if not sched.running or (getattr(sched, "_thread", None) and not sched._thread.is_alive()):
                    log.error("scheduler: APScheduler thread died; giving up leadership")
                    return
        finally:
            _active = None
            try:
                sched.shutdown(wait=False)
            except Exception:  # already stopped
                pass
            consumer.join(3)

    # --- the watch stream -------------------------------------------------------------
    def _consume(self, sched: Any) -> None:
        r = self.engine.redis
        stream = self.engine.store.keys.watch
        try:
            r.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError:
            pass
        pending_first = True
        while self.is_leader.is_set() and not self.stop_event.is_set():
            try:
                start_id = "0" if pending_first else ">"
                resp = read_group(r, GROUP, "leader", {stream: start_id}, count=100, block=500)
                entries = resp[0][1] if resp else []
                if pending_first and not entries:
                    pending_first = False
                    continue
                for entry_id, fields in entries:
                    rid = fields.get("rid", "")
                    if rid:
                        watch.on_watch_entry(self.engine, sched, rid, fields.get("reason", "created"),
                                             fields.get("status", ""))
                    r.xack(stream, GROUP, entry_id)
            except redis.RedisError as exc:
                log.warning("scheduler: watch stream read failed: %s", exc)
                time.sleep(0.5)
            except Exception:
                log.exception("scheduler: watch entry failed")
                time.sleep(0.2)
