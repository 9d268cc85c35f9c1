"""The web transports' Prometheus metrics: what the webhook, Ark's callback and the long connection count.

Apart from the Flask app so the blueprints and `bot.web.longconn` can share them without
importing the app (which imports them).

Under gunicorn (`seedance-bot web`, prometheus_client's multiprocess mode) a process must hold one
object per metric name: values live in files keyed by name, and two objects of one name would
overwrite each other's counts. Nothing here caches one; the composition root guarantees it:
`bot.cli.roles.web` calls `create_app` once, in the process that becomes gunicorn's master, and
the worker processes inherit that app by fork. The other roles (`bot.runtime`) leave that mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from bot import metrics as process_metrics
from bot.metrics import ProcessMetrics

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
    def create(cls, process: ProcessMetrics | None = None) -> WebMetrics:
        """A new set, shown with `process` (the process's own metrics, `bot.metrics.exposition`).

        Without `process`: a private `ProcessMetrics`, except in multiprocess mode, where the
        exposition reads every process's files and the web role's processes need none (nothing
        in them records a `bot.metrics` metric). In multiprocess mode, once per process (see the
        module docstring).
        """
        if process is None and not process_metrics.multiprocess_dir():
            process = ProcessMetrics.create()
        reg = CollectorRegistry(auto_describe=True)
        return cls(
            registry=process_metrics.exposition(process, reg),
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

