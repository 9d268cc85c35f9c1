"""The engine's collaborators in one object, built once per process by the role that runs.

APScheduler stores jobs as a textual function reference plus arguments, so the
scheduled functions (`bot.engine.watch.check_task`) find their collaborators
through `current()`, set by the scheduler role at start.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from bot.config import Settings
from bot.engine.jobs import JobStore
from bot.engine.polling import PollPolicy

if TYPE_CHECKING:
    from bot.clients.ark import ArkClient
    from bot.clients.feishu import FeishuClient

log = logging.getLogger(__name__)


@dataclass
class Engine:
    settings: Settings
    redis: redis.Redis
    ark: ArkClient
    feishu: FeishuClient
    clock: Callable[[], float] = time.time
    node: str = field(default_factory=lambda: f"{socket.gethostname()}")
    store: JobStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = JobStore(self.redis, self.settings.redis_prefix)

    @property
    def keys(self) -> Any:
        return self.store.keys

    @property
    def policy(self) -> PollPolicy:
        return PollPolicy(time_factor=self.settings.expected_time_factor,
                          callbacks=bool(self.settings.bot_public_url))

    def bot_open_id(self) -> str:
        """The bot's own open_id (to recognise its @mention), cached in Redis for a day."""
        key = f"{self.settings.redis_prefix}:bot:open_id"
        cached = self.redis.get(key)
        if cached:
            return str(cached)
        info = self.feishu.bot_info()
        self.redis.set(key, info.open_id, ex=86400)
        return info.open_id

    def emit(self, stream: str, **fields: Any) -> None:
        """Hand work to another role through a Redis stream (at-least-once)."""
        self.redis.xadd(stream, {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()},
                        maxlen=100_000, approximate=True)

    def callback_url(self) -> str | None:
        base = self.settings.bot_public_url
        return f"{base}/ark/callback/{{secret}}" if base else None


_current: Engine | None = None


def set_current(engine: Engine | None) -> None:
    global _current
    _current = engine


def current() -> Engine:
    if _current is None:
        raise RuntimeError("engine not initialised in this process")
    return _current
