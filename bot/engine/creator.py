"""Turning an admitted job into exactly one Ark task, even across crashes.

The Ark API has no idempotency key, so "never create two tasks for one request"
is built here:

1. Creates are serialised by one Redis lock (`{p}:lock:create`, a lease). Ark
   caps concurrency and RPM anyway, and a create call takes about a second.
2. Just before the call, the job records `creating_since`. Right after it,
   `bind_task` stores the task id (and clears `creating_since`) in one step.
3. If a job is found with `creating_since` set and no task id, a previous
   attempt died between the call and the save (or timed out after sending).
   Holding the same lock, we list Ark's newest tasks: any task created in that
   attempt's window that no job knows about can only be that attempt's, because
   no other create ran at the same time. Adopt it; only if there is none, create.

A create that failed ambiguously (timeout, 5xx after sending) is never resent
blindly: the job stays in `creating_since` and is resolved by step 3.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bot.engine.jobs import Job, JobState, JobStore, lease_identity

log = logging.getLogger(__name__)

# How far Ark's clock may be from ours, and how long after `creating_since` a
# task may still have been created by that attempt (the client's own timeout).
CLOCK_SKEW = 30.0


@dataclass
class CreateOutcome:
    task_id: str | None
    adopted: bool = False
    ambiguous: bool = False


class TaskCreator:
    """Serialised, crash-safe `create` (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        r: redis.Redis,
        *,
        create: Callable[[dict[str, object]], str],
        list_recent: Callable[[int, int], list[tuple[str, float]]],
        request_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.r = r
        self._create = create
        self._list_recent = list_recent  # (page_num, page_size) -> [(task_id, created_at)]
        self.request_timeout = request_timeout
        self.clock = clock

    def create(self, job: Job, body: dict[str, object]) -> CreateOutcome:
        """Create (or adopt) the Ark task of `job`. Raises the client's errors for rejections."""
        lock = self.r.lock(self.store.keys.create_lock, timeout=self.request_timeout + 30,
                           blocking_timeout=self.request_timeout + 60, thread_local=False)
        # Held under the worker's stable name, so a restarted worker frees it (release_held_by).
        if not lock.acquire(token=lease_identity()):
            raise TimeoutError("create lock not acquired")
        try:
            current = self.store.get(job.rid) or job
            if current.task_id:
                return CreateOutcome(current.task_id, adopted=True)
            if current.creating_since:
                found = self._find_orphan(current.creating_since)
                if found:
                    log.warning("adopting task %s for %s after an interrupted create", found, job.rid)
                    self._bind(job, found)
                    return CreateOutcome(found, adopted=True)
            secret = current.cb_secret or secrets.token_urlsafe(18)
            if "callback_url" in body and not current.cb_secret:
                body = {**body, "callback_url": str(body["callback_url"]).replace("{secret}", secret)}
            self.store.update(job.rid, creating_since=self.clock(), cb_secret=secret,
                              attempts=current.attempts + 1)
            if "callback_url" in body:
                self.store.set_callback(secret, job.rid)
            try:
                task_id = self._create(body)
            except Exception as exc:
                if not _is_ambiguous(exc):
                    # Certainly rejected (4xx, 429 before acceptance): nothing exists at Ark.
                    self.store.update(job.rid, creating_since=0)
                raise
            self._bind(job, task_id)
            return CreateOutcome(task_id)
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                log.warning("create lock expired while held for %s", job.rid)

    def _bind(self, job: Job, task_id: str) -> None:
        now = self.clock()
        self.store.bind_task(job.rid, task_id, submitted_at=now, task_status="queued")
        if job.state != JobState.SUBMITTED.value:
            self.store.update(job.rid, state=JobState.SUBMITTED.value)

    def _find_orphan(self, since: float) -> str | None:
        """The newest task created in [since - skew, since + timeout + skew] that no job knows."""
        lo = since - CLOCK_SKEW
        hi = since + self.request_timeout + CLOCK_SKEW
        for page in range(1, 6):
            items = self._list_recent(page, 50)
            if not items:
                break
            for task_id, created_at in items:
                if lo <= created_at <= hi and not self.store.knows_task(task_id):
                    return task_id
            if min(c for _, c in items) < lo:
                break
        return None


def _is_ambiguous(exc: BaseException) -> bool:
    from bot.errors import ArkAmbiguousError

    return isinstance(exc, ArkAmbiguousError)
