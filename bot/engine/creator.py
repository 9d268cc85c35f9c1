"""Turning an admitted job into exactly one Ark task, across crashes, lost answers and strangers.

The Ark API has no idempotency key, so "one request, one task" is built here:

1. The job's start is done under a lease (`bot.store.leases`), kept alive while
   the step runs. Only the lease holder may begin a create attempt.
2. Each attempt gets a fingerprint (`bot.engine.fingerprint`): random values Ark
   echoes in the task object. The attempt (`creating_since` + the fingerprint) is
   stored *before* the call; the call is bounded so it ends before the lease can
   lapse (`ArkClient.create(within=...)`).
3. The answer's task id is bound with a compare-and-set on that attempt: if the
   job has meanwhile moved on (another holder adopted a task or began another
   attempt), the task we made is surplus and is cancelled at Ark.
4. An attempt whose answer was lost (timeout, 5xx, a crash) is resolved by listing
   recent tasks: exactly the task with this attempt's fingerprint is adopted. If
   none can be ours, the attempt is cleared and a new one made; if a candidate
   does not show the fingerprint yet, we wait and look again (bounded).

So neither a stranger creating tasks with the same key at the same moment nor
two of our own interrupted attempts can lead to someone else's video in a chat,
a job with two tasks, or a job with none.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from bot.clients.ark import Task
from bot.engine.engine import Engine
from bot.engine.fingerprint import Fingerprint, Match, new_fingerprint
from bot.errors import ArkAmbiguousError, ArkError
from bot.store.attempts import Attempts
from bot.store.jobs import Job
from bot.store.leases import Lease

log = logging.getLogger(__name__)

CLOCK_SKEW = 120.0  # how far Ark's created_at may be from our clock (only bounds the scan)
SETTLE = 2.0  # service seconds for Ark's list to show a task just created
UNKNOWN_PATIENCE = 1800.0  # service seconds to wait for a candidate to show its fingerprint
MAX_ATTEMPTS = 4  # create attempts per job (lost answers included) before giving up
LIST_PAGE = 100
LIST_PAGES = 20

class Outcome(StrEnum):
    CREATED = "created"
    ADOPTED = "adopted"  # the task of an interrupted attempt was found
    BOUND = "bound"  # the job already had its task
    WAIT = "wait"  # an attempt's outcome can't be told yet: look again later
    CANCELLED = "cancelled"  # a cancel won against the start: nothing was created
    LOST = "lost"  # the lease was lost or the job moved on: another holder carries it


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    task_id: str = ""


class TaskCreator:
    """Create (or adopt) the Ark task of one job under its start lease (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        r = engine.redis
        self.attempts = Attempts(r, engine.keys)

    def run(self, job: Job, lease: Lease, body: Any) -> Result:
        """Resolve an outstanding attempt, else create. `body` is the create body, or a callable
        building it (called only when a create is really needed: it fetches images)."""
        e = self.engine
        while True:
            job = e.records.get(job.rid) or job
            if job.task_id:
                return Result(Outcome.BOUND, job.task_id)
            if job.creating_since:
                resolved = self.resolve(job)
                if resolved.outcome != Outcome.CREATED:  # CREATED here means "nothing: create anew"
                    return resolved
                continue
            if job.attempts >= MAX_ATTEMPTS:
                raise ArkError(f"gave up after {job.attempts} create attempts whose answers were lost",
                               code="CreateUnresolved", retryable=False)
            if callable(body):
                body = body()
            result = self._attempt(job, lease, cast(dict[str, Any], body))
            if result is not None:
                return result
            # The answer was lost: let Ark's list catch up, then resolve (same lease).
            time.sleep(e.scaled(SETTLE, floor=0.2))

    # --- one attempt -----------------------------------------------------------------------
    def _attempt(self, job: Job, lease: Lease, body: dict[str, Any]) -> Result | None:
        """Begin, call, bind. None when the answer was lost (the attempt stays, to be resolved)."""
        e = self.engine
        now = e.clock()
        fp = new_fingerprint(body, deployment=e.deployment, user=job.user,
                             default_expires=e.settings.seedance_default_expires, since=now)
        secret = secrets.token_urlsafe(18)
        sent = fp.apply(body)
        callback = e.callback_url(secret)
        if callback:
            sent["callback_url"] = callback
        else:
            sent.pop("callback_url", None)
        began = self.attempts.begin(job.rid, lease, fp.to_json(), secret, now=now)
        if began == "cancelled":
            return Result(Outcome.CANCELLED)
        if began == "bound":
            current = e.records.get(job.rid)
            return Result(Outcome.BOUND, current.task_id if current else "")
        if began == "pending":
            return None  # an attempt is outstanding after all: resolve it
        if began != "ok":
            log.warning("start of %s: not beginning a create (%s)", job.rid, began)
            return Result(Outcome.LOST)
        budget = min(e.settings.ark_timeout, lease.ttl - 5.0)
        # The lease must outlive the call: renew it to its full term now, and bound the call by it.
        if not lease.renew():
            self.attempts.clear(job.rid, fp.to_json(), refused=True)
            return Result(Outcome.LOST)
        try:
            task_id = e.ark.create(sent, retries=0, within=budget)
        except ArkAmbiguousError as exc:
            log.warning("create for %s: answer lost (%s); resolving by fingerprint", job.rid, exc.code)
            return None
        except ArkError:
            # Certainly rejected (4xx, 429, nothing sent): nothing exists at Ark.
            self.attempts.clear(job.rid, fp.to_json(), refused=True)
            raise
        return self._take(job, task_id, fp, adopted=False)

    def _take(self, job: Job, task_id: str, fp: Fingerprint, *, adopted: bool) -> Result:
        e = self.engine
        bound = self.attempts.bind(job.rid, task_id, fp.to_json(), now=e.clock())
        if bound in ("ok", "same"):
            if adopted:
                log.warning("adopted task %s for %s (its create answer was lost)", task_id, job.rid)
            return Result(Outcome.ADOPTED if adopted else Outcome.CREATED, task_id)
        # The job moved on while this attempt ran: the task is surplus. Cancel it while it is queued.
        log.error("task %s made for %s is surplus (the job moved on); cancelling it", task_id, job.rid)
        self._cancel_surplus(task_id)
        return Result(Outcome.LOST)

    def _cancel_surplus(self, task_id: str) -> None:
        try:
            self.engine.ark.delete(task_id)
        except ArkError as exc:
            log.error("could not cancel surplus task %s: %s", task_id, exc)

    # --- resolving an interrupted attempt --------------------------------------------------
    def resolve(self, job: Job) -> Result:
        """Adopt the task of `job`'s outstanding attempt, or clear the attempt if there is none.

        Returns ADOPTED, WAIT (a candidate can't be told yet; or Ark's list failed) or
        CREATED meaning "the attempt made nothing, it was cleared: create anew".
        """
        e = self.engine
        fp = Fingerprint.from_json(job.attempt)
        if fp is None:
            self.attempts.clear(job.rid, job.attempt)
            return Result(Outcome.CREATED)
        skew = CLOCK_SKEW
        window = (fp.since - skew, fp.since + e.settings.ark_timeout + skew)
        try:
            tasks = self._recent(window[0])
        except ArkError as exc:
            log.warning("resolve %s: could not list tasks (%s); later", job.rid, exc)
            return Result(Outcome.WAIT)
        owners = e.records.rids_for_tasks([t.id for t in tasks])
        ours: list[Task] = []
        unknown = 0
        for task, owner in zip(tasks, owners, strict=True):
            if owner == job.rid:
                return self._take(job, task.id, fp, adopted=True)
            if owner is not None:
                continue  # another job's task
            verdict = fp.classify(task, window=window)
            if verdict == Match.OURS:
                ours.append(task)
            elif verdict == Match.UNKNOWN:
                unknown += 1
        if ours:
            ours.sort(key=lambda t: (t.created_at or 0, t.id))
            result = self._take(job, ours[0].id, fp, adopted=True)
            for extra in ours[1:]:
                log.error("task %s also carries %s's fingerprint; cancelling it", extra.id, job.rid)
                self._cancel_surplus(extra.id)
            return result
        if unknown and e.clock() - fp.since < e.scaled(UNKNOWN_PATIENCE, floor=5.0):
            log.info("resolve %s: %d task(s) in the window don't show a fingerprint yet; later",
                     job.rid, unknown)
            return Result(Outcome.WAIT)
        cleared = self.attempts.clear(job.rid, job.attempt)
        if cleared:
            log.info("resolve %s: the interrupted attempt made no task; creating anew", job.rid)
        return Result(Outcome.CREATED)

    def _recent(self, oldest: float) -> list[Task]:
        """Tasks created since `oldest` (Ark lists newest first; read on until older ones show)."""
        out: list[Task] = []
        for page_num in range(1, LIST_PAGES + 1):
            page = self.engine.ark.list(page_num=page_num, page_size=LIST_PAGE)
            out.extend(page.items)
            stamps = [t.created_at for t in page.items if t.created_at is not None]
            newest_first = all(a >= b for a, b in itertools.pairwise(stamps))
            if len(page.items) < LIST_PAGE or len(out) >= page.total:
                break
            if newest_first and stamps and stamps[-1] < oldest:
                break
        return out
