"""Job-engine gauges read from Redis at scrape time, so every web process reports the same truth.

Counts in one process would be partial under gunicorn and several workers;
the queue, the in-flight slots and the jobs per state live in Redis, so the
collector asks Redis when /metrics is scraped (a handful of O(1)/O(n) reads).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.engine.jobs import JobStore


class EngineCollector(Collector):
    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.store = JobStore(r, prefix)

    def collect(self) -> Iterator[Any]:
        try:
            queued = self.store.queued_count()
            in_flight = len(self.store.in_flight())
            states = Counter(str(self.store.r.hget(self.store.keys.job(rid), "state") or "")
                             for rid in self.store.active_rids())
        except redis.RedisError:
            return
        yield GaugeMetricFamily("bot_jobs_queued", "Requests waiting in the fair queue for an Ark slot.",
                                value=queued)
        yield GaugeMetricFamily("bot_jobs_in_flight", "Requests holding an Ark slot (starting or generating).",
                                value=in_flight)
        by_state = GaugeMetricFamily("bot_jobs_active", "Unfinished requests by state.", labels=["state"])
        for state, n in sorted(states.items()):
            by_state.add_metric([state or "unknown"], n)
        yield by_state
