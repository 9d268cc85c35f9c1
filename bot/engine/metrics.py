"""Job-engine gauges read from Redis at scrape time, so every process reports the same truth.

A scrape costs one pipelined round trip of O(1) reads: the per-state counters
kept by the state-changing scripts (`{p}:stats`), the slots held per pool, the
lengths of the hand-off streams and of the polling schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.store.connection import Client, StoreError
from bot.store.jobs import TERMINAL_STATES, JobState
from bot.store.keys import Keys
from bot.store.stats import snapshot


class EngineCollector(Collector):
    def __init__(self, r: Client, prefix: str) -> None:
        self.r = r
        self.keys = Keys(prefix)

    def collect(self) -> Iterator[Any]:
        try:
            data = snapshot(self.r, self.keys)
        except StoreError:
            return
        stats = data.states
        yield GaugeMetricFamily("bot_jobs_queued", "Requests waiting in the fair queue for an Ark slot.",
                                value=max(stats.get(JobState.QUEUED, 0), 0))
        slots = GaugeMetricFamily("bot_jobs_in_flight", "Requests holding an Ark slot, by pool.", labels=["pool"])
        for pool, n in data.slots.items():
            slots.add_metric([pool], n)
        yield slots
        active = GaugeMetricFamily("bot_jobs_active", "Unfinished requests by state.", labels=["state"])
        ended = CounterMetricFamily("bot_jobs_ended", "Requests that ended, by final state.", labels=["state"])
        for state in JobState:
            if state in TERMINAL_STATES:
                ended.add_metric([state.value], max(stats.get(state, 0), 0))
            else:
                active.add_metric([state.value], max(stats.get(state, 0), 0))
        yield active
        yield ended
        yield GaugeMetricFamily("bot_inbox_length", "Accepted events not yet handled by a worker.",
                                value=data.inbox)
        yield GaugeMetricFamily("bot_deliveries_waiting", "Finished tasks waiting for delivery.",
                                value=data.deliveries)
        yield GaugeMetricFamily("bot_tasks_watched", "Ark tasks with a planned look.", value=data.watched)
