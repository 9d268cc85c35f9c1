"""Redis key builders: the one place that spells every key name.

Every key is ``{prefix}:...`` with the prefix in braces: a Redis Cluster hash tag,
so all of one deployment's keys share one slot and every multi-key script stays
legal on a cluster; several deployments (or tests) share one Redis by prefix.
Every other module gets its names from `Keys`, never by formatting strings.

    {p}:evt:{event_id} / {p}:msg:{message_id}  STRING  dedup markers (ingress)
    {p}:inbox / {p}:deliver / {p}:watch        STREAM  hand-offs between roles
    {p}:cb:{secret}                            STRING  Ark callback secret -> rid
    {p}:job:{rid}                              HASH    a job record (bot.store.jobs)
    {p}:active                                 ZSET    unfinished rids by acceptance time
    {p}:stats                                  HASH    jobs per state
    {p}:task:{task_id}                         STRING  rid of an Ark task
    {p}:sent:{rid}                             STRING  delivered-marker
    {p}:recent:{chat}:{uid}                    LIST    a user's latest rids in a chat
    {p}:settings:{scope}:{id}                  HASH    /settings defaults
    {p}:bymsg:{message_id}                     STRING  rid of a bot message's job
    {p}:q:{pool}:user:{uid} / :rr / :served    fair queue (bot.store.queue)
    {p}:inflight:{pool}                        ZSET    Ark slots held
    {p}:open:{uid}, {p}:spent:{day}:…          budgets (bot.store.quotas)
    {p}:lease:{name}:{rid}                     STRING  leases (bot.store.leases)
    {p}:polls / {p}:later                      ZSET    next looks, delayed work (bot.store.polls)
    {p}:cards:bucket / :due / :pause                   card patches within Feishu's limits
    {p}:scheduler:leader                       STRING  the scheduler's leader lock
    {p}:feishu:connection                      STRING  who holds the Feishu long connection (node|token)
    {p}:aps:jobs / {p}:aps:run_times                   APScheduler's job store
"""

from __future__ import annotations

from dataclasses import dataclass

DEDUP_TTL = 86_400
"""Seconds a dedup marker lives (24 h).

Feishu re-pushes an unanswered event at 15 s, 5 min, 1 h and 6 h, so copies can
arrive for ~7.1 h (feishu-api.md §3); the marker must outlive that window with
margin for clock skew and a slow first delivery.
"""

STREAM_MAXLEN = 100_000
"""Approximate cap (``MAXLEN ~``) of the watch stream, so a stalled consumer cannot fill Redis.

The inbox is never trimmed (that would drop unprocessed chat messages); it is bounded
by `INBOX_MAX` instead: the webhook refuses new events with 503 while it is full.
"""

INBOX_MAX = 10_000
"""Default bound on unprocessed inbox entries (``settings.inbox_max``, BOT_INBOX_MAX)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one deployment prefix (``settings.redis_prefix``)."""

    prefix: str

    @property
    def ns(self) -> str:
        """The hash-tagged namespace every key starts with."""
        return "{" + self.prefix + "}"

    # --- ingress ------------------------------------------------------------------------
    def event(self, event_id: str) -> str:
        """Dedup marker for a Feishu ``header.event_id`` (redelivery of the same envelope)."""
        return f"{self.ns}:evt:{event_id}"

    def message(self, message_id: str) -> str:
        """Dedup marker for a Feishu ``message_id`` (the same message in a new envelope)."""
        return f"{self.ns}:msg:{message_id}"

    @property
    def inbox(self) -> str:
        """Stream of accepted chat events and card clicks, consumed by the workers."""
        return f"{self.ns}:inbox"

    @property
    def watch(self) -> str:
        """Stream of hints that an Ark task may have changed state, consumed by the scheduler."""
        return f"{self.ns}:watch"

    @property
    def deliver(self) -> str:
        """Stream of jobs whose Ark task ended, consumed by the workers."""
        return f"{self.ns}:deliver"

    @property
    def bot_open_id(self) -> str:
        """The bot's own open_id, cached by the workers; the webhook reads it to filter groups."""
        return f"{self.ns}:bot:open_id"

    def callback(self, secret: str) -> str:
        """Per-task Ark callback secret → request id (written by the engine)."""
        return f"{self.ns}:cb:{secret}"

    # --- job records ----------------------------------------------------------------------
    def job(self, rid: str) -> str:
        return f"{self.ns}:job:{rid}"

    @property
    def job_prefix(self) -> str:
        return f"{self.ns}:job:"

    @property
    def active(self) -> str:
        return f"{self.ns}:active"

    @property
    def stats(self) -> str:
        return f"{self.ns}:stats"

    def task(self, task_id: str) -> str:
        return f"{self.ns}:task:{task_id}"

    def sent(self, rid: str) -> str:
        return f"{self.ns}:sent:{rid}"

    def recent(self, chat_id: str, uid: str) -> str:
        return f"{self.ns}:recent:{chat_id}:{uid}"

    def prefs(self, scope: str, ident: str) -> str:
        """HASH of /settings defaults; scope is "user" (open_id) or "chat" (chat_id)."""
        return f"{self.ns}:settings:{scope}:{ident}"

    def by_message(self, message_id: str) -> str:
        return f"{self.ns}:bymsg:{message_id}"

    @property
    def card_bucket(self) -> str:
        """HASH: the deployment's token bucket for card patches (bot.store.cards)."""
        return f"{self.ns}:cards:bucket"

    @property
    def card_due(self) -> str:
        """ZSET rid -> when its card should be patched."""
        return f"{self.ns}:cards:due"

    @property
    def card_pause(self) -> str:
        return f"{self.ns}:cards:pause"

    @property
    def card_positions(self) -> str:
        """HASH rid -> the queue position its card shows (so only changed cards are patched)."""
        return f"{self.ns}:cardpos"

    # --- fair queue and slots -----------------------------------------------------------
    def user_queue(self, pool: str, uid: str) -> str:
        return f"{self.ns}:q:{pool}:user:{uid}"

    def rr(self, pool: str) -> str:
        """LIST of users with queued work in a pool, round-robin order."""
        return f"{self.ns}:q:{pool}:rr"

    def served(self, pool: str) -> str:
        """HASH uid -> turn of the user's latest admission in a pool (fair-queue memory)."""
        return f"{self.ns}:q:{pool}:served"

    def inflight(self, pool: str) -> str:
        """ZSET of rids holding an Ark slot of a pool, scored by admission time."""
        return f"{self.ns}:inflight:{pool}"

    @property
    def admit_pause(self) -> str:
        return f"{self.ns}:admit:pause"

    # --- budgets ---------------------------------------------------------------------------
    def open_jobs(self, uid: str) -> str:
        """SET of a user's unfinished rids (queued or holding a slot)."""
        return f"{self.ns}:open:{uid}"

    def user_day(self, uid: str, day: str) -> str:
        return f"{self.ns}:spent:{day}:u:{uid}"

    def total_day(self, day: str) -> str:
        return f"{self.ns}:spent:{day}:all"

    # --- leases, polling, delayed work, the scheduler ----------------------------------
    def lease(self, name: str, rid: str) -> str:
        return f"{self.ns}:lease:{name}:{rid}"

    @property
    def lease_pattern(self) -> str:
        """SCAN pattern of every lease (the tests' "at rest" check: no lease left held)."""
        return f"{self.ns}:lease:*"

    @property
    def polls(self) -> str:
        """ZSET rid -> when the scheduler should next look at its Ark task."""
        return f"{self.ns}:polls"

    @property
    def later(self) -> str:
        """ZSET of stream entries to emit at a later time (retries with backoff)."""
        return f"{self.ns}:later"

    @property
    def leader(self) -> str:
        return f"{self.ns}:scheduler:leader"

    @property
    def feishu_connection(self) -> str:
        """The lease of the one process that keeps Feishu's long connection (FEISHU_CONNECTION=websocket)."""
        return f"{self.ns}:feishu:connection"

    @property
    def aps_jobs(self) -> str:
        return f"{self.ns}:aps:jobs"

    @property
    def aps_run_times(self) -> str:
        return f"{self.ns}:aps:run_times"
