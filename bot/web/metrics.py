"""The web transports' Prometheus metrics: what the webhook, Ark's callback and the long connection count.

Apart from the Flask app so the blueprints and `bot.web.longconn` can share them without
importing the app (which imports them).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from bot import metrics as process_metrics

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class WebMetrics:
    """Prometheus metrics of one app, in its own registry so tests can build many apps.

    `registry` is what the app's /metrics shows (`bot.metrics.exposition`): these metrics and the
    process's own, or under gunicorn (multiprocess mode) those of every process; `create_app` adds
    the engine gauges.
    """

    registry: CollectorRegistry
    events: Counter
    rejected: Counter
    errors: Counter
    deferred: Counter
    callbacks: Counter
    latency: Histogram

    @classmethod
    def create(cls) -> WebMetrics:
        if process_metrics.multiprocess_dir():
            # Values live in files keyed by name: two objects of one name in one process would
            # overwrite each other's counts, so a process has one set.
            return dataclasses.replace(_process_wide(), registry=process_metrics.exposition())
        return cls._create()

    @classmethod
    def _create(cls) -> WebMetrics:
        reg = CollectorRegistry(auto_describe=True)
        return cls(
            registry=process_metrics.exposition(reg),
            events=Counter(
                "bot_feishu_events", "Feishu deliveries answered 200, by outcome (accepted, duplicate, "
                "dropped: sent by a bot, unaddressed: a group message not for the bot, ignored: an event "
                "type not handled, refused: a card click refused with a toast, challenge).",
                ["outcome"], registry=reg),
            rejected=Counter(
                "bot_feishu_rejected", "Requests refused with 4xx before anything was enqueued, by reason.",
                ["reason"], registry=reg),
            errors=Counter(
                "bot_web_errors", "Our own failures answered 503 (Redis down), by route.",
                ["route"], registry=reg),
            deferred=Counter(
                "bot_feishu_deferred", "Feishu deliveries answered 503 so Feishu redelivers later, by reason "
                "(inbox_full, redis_oom, redis_error).",
                ["reason"], registry=reg),
            callbacks=Counter(
                "bot_ark_callbacks", "Ark callback pushes, by outcome (known, unknown).",
                ["outcome"], registry=reg),
            latency=Histogram(
                "bot_web_handling_seconds", "Time from request to response inside the app, by route.",
                ["route"], buckets=_LATENCY_BUCKETS, registry=reg),
        )


@functools.cache
def _process_wide() -> WebMetrics:
    """The one `WebMetrics` of a process in multiprocess mode (see `WebMetrics.create`)."""
    return WebMetrics._create()
