"""The engine: one object holding a process's collaborators, passed explicitly to every step.

Built once per process by the composition root (`bot.runtime`); handlers,
the worker, the scheduler and delivery all receive it as an argument (the way
python-telegram-bot hands an `Application` to its handlers), so nothing looks
anything up in module globals.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.engine.polling import PollPolicy
from bot.metrics import ProcessMetrics
from bot.permissions import Access
from bot.store.cards import CardUpdates
from bot.store.connection import Client, StoreError, Unavailable, memory_use
from bot.store.jobs import JobRecords, Pool
from bot.store.keys import Keys
from bot.store.leases import LeaseBook
from bot.store.polls import Polls
from bot.store.queue import FairQueue
from bot.store.quotas import Budgets, Limits
from bot.store.streams import Streams

if TYPE_CHECKING:
    from bot.clients.ark import ArkClient
    from bot.clients.feishu import FeishuClient

log = logging.getLogger(__name__)

MARGIN_RELIEF = 10.0  # `Engine.margin`: floors shrink only for factors below 1/10 ...
MIN_MARGIN_SHARE = 0.3  # ... and never below 30 % of themselves



@dataclass
class Engine:
    settings: Settings
    redis: Client
    ark: ArkClient
    feishu: FeishuClient
    clock: Callable[[], float] = time.time
    node: str = field(default_factory=socket.gethostname)
    metrics: ProcessMetrics = field(default_factory=ProcessMetrics.create)
    """What the engine, the handlers and the roles record (`bot.metrics`). The composition root
    passes the process's one object, the same its `ark` and `feishu` clients record into; an
    engine built without one (a test's) has a private one."""
    keys: Keys = field(init=False)
    records: JobRecords = field(init=False)
    queue: FairQueue = field(init=False)
    budgets: Budgets = field(init=False)
    leases: LeaseBook = field(init=False)
    polls: Polls = field(init=False)
    streams: Streams = field(init=False)
    cards: CardUpdates = field(init=False)
    media_swept_at: dict[str, float] = field(init=False, default_factory=dict, repr=False)
    """When this engine last swept each media directory (monotonic; `bot.engine.references.sweep`)."""

    def __post_init__(self) -> None:
        self.keys = Keys(self.settings.redis_prefix)
        self.records = JobRecords(self.redis, self.keys)
        self.queue = FairQueue(self.redis, self.keys)
        self.budgets = Budgets(self.redis, self.keys)
        self.leases = LeaseBook(self.redis, self.keys, self.node)
        self.polls = Polls(self.redis, self.keys)
        self.streams = Streams(self.redis)
        self.cards = CardUpdates(self.redis, self.keys, rate=self.settings.card_updates_per_second)

    # --- time ------------------------------------------------------------------------------
    def scaled(self, seconds: float, floor: float = 0.05) -> float:
        """A service-time constant in this deployment's time (tests run a sped-up simulator)."""
        return max(seconds * self.settings.expected_time_factor, floor)

    def margin(self, seconds: float, floor: float) -> float:
        """`scaled(seconds, floor)` for a safety margin (claim idle, stale thresholds, a leader's lease)
        whose floor may shrink too against a much sped-up simulator.

        The floor guards work that runs at real speed whatever the factor (a download, a loaded host).
        Below a factor of 1/`MARGIN_RELIEF` (only a sped-up simulator: tests, benchmarks) it shrinks
        with the factor, to `MIN_MARGIN_SHARE` of itself at most, so a test does not wait out a
        production margin; from that factor up (every real deployment: 1) it is the floor as given.
        """
        share = min(1.0, max(MIN_MARGIN_SHARE, self.settings.expected_time_factor * MARGIN_RELIEF))
        return max(seconds * self.settings.expected_time_factor, floor * share)

    @property
    def policy(self) -> PollPolicy:
        return PollPolicy(time_factor=self.settings.expected_time_factor,
                          callbacks=bool(self.settings.bot_public_url))

    # --- who may do what (the rule itself: bot.permissions) ------------------------------
    @property
    def access(self) -> Access:
        return Access(admins=self.settings.admin_ids, allowlist=self.settings.allowlist_ids)

    def is_admin(self, uid: str) -> bool:
        return self.access.is_admin(uid)

    def is_allowed(self, chat_id: str, uid: str) -> bool:
        return self.access.is_allowed(chat_id, uid)

    def limits_for(self, uid: str) -> Limits:
        s = self.settings
        max_open = s.user_max_jobs + s.user_max_queued if s.user_max_jobs and s.user_max_queued else 0
        return Limits(user_daily=s.user_daily_seconds, total_daily=s.daily_seconds, max_open=max_open,
                      admin=self.is_admin(uid))

    def cap(self, pool: str) -> int:
        s = self.settings
        return s.ark_max_slow_in_flight if pool == Pool.SLOW else s.ark_max_in_flight

    @property
    def deployment(self) -> str:
        """Names this deployment in hashes sent to Ark (`safety_identifier`)."""
        return f"{self.settings.feishu_app_id}:{self.settings.redis_prefix}"

    # --- small helpers ---------------------------------------------------------------------
    def bot_open_id(self) -> str:
        """The bot's own open_id (to recognise its @mention), cached in Redis for a day."""
        cached = self.records.cached_bot_open_id()
        if cached:
            return cached
        info = self.feishu.bot_info()
        self.records.cache_bot_open_id(info.open_id)
        return info.open_id

    def emit(self, stream: str, **fields: Any) -> None:
        """Hand work to another role through a Redis stream (at-least-once)."""
        self.streams.emit(stream, **fields)

    def callback_url(self, secret: str) -> str | None:
        base = self.settings.bot_public_url
        return f"{base}/ark/callback/{secret}" if base else None

    def redis_nearly_full(self) -> bool:
        """Above the high-water mark of Redis's maxmemory: refuse new work, keep accepted jobs going.

        One INFO call per new request (cheap next to what a request costs); a Redis without a
        maxmemory is never "full" here, nor one that refuses INFO (some managed services do). A
        Redis that does not answer (`Unavailable`) raises: the worker redoes the entry later
        rather than accept it blind.
        """
        try:
            used, limit = memory_use(self.redis)
        except Unavailable:
            raise
        except StoreError:
            return False
        return bool(limit) and used >= limit * self.settings.redis_high_water
