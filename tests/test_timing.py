"""Every wait of the engine is in the deployment's time: production keeps its margins, a sped-up
simulator (tests, benchmarks: SEEDANCE_EXPECTED_TIME_FACTOR = 1/speed) shrinks them too.

`Engine.margin` lets a floor shrink only below a factor of 1/10, and to 30 % of itself at most;
at a factor of 1 every margin is exactly what it was before margins could shrink at all.
"""

from __future__ import annotations

import redis
from enginekit import settings

from bot.engine import delivery, lifecycle, scheduler, worker
from bot.engine.engine import Engine
from bot.engine.scheduler import SchedulerRole


def engine(redis_url: str, factor: float) -> Engine:
    return Engine(settings=settings(redis_url, expected_time_factor=factor, ark_timeout=60.0),
                  redis=redis.Redis.from_url(redis_url, decode_responses=True), ark=None, feishu=None)  # type: ignore[arg-type]


def test_production_margins_are_unchanged(redis_url: str) -> None:
    e = engine(redis_url, 1.0)
    assert e.margin(worker.CLAIM_IDLE, floor=5.0) == 60.0
    assert min(worker.CLAIM_EVERY, e.margin(worker.CLAIM_IDLE, floor=5.0) / 2) == 10.0
    assert e.margin(scheduler.STARTING_STALE, floor=2.0) == 10.0
    assert e.margin(scheduler.FINISHED_STALE, floor=2.0) == 120.0
    role = SchedulerRole(e, registered_as="x")
    assert (role.lease_seconds, role.renew_every) == (10.0, 3.0)
    assert e.scaled(delivery.DELIVERY_LEASE, floor=5.0) == 30.0
    assert e.scaled(lifecycle.START_LEASE_MARGIN, floor=5.0) == 20.0


def test_a_slightly_sped_up_deployment_keeps_its_floors(redis_url: str) -> None:
    e = engine(redis_url, 0.1)
    assert e.margin(worker.CLAIM_IDLE, floor=5.0) == 6.0  # 60 × 0.1, above the floor
    assert e.margin(scheduler.STARTING_STALE, floor=2.0) == 2.0  # the floor, whole
    assert SchedulerRole(e, registered_as="x").lease_seconds == 10.0


def test_against_a_fast_simulator_margins_shrink_but_not_below_a_third(redis_url: str) -> None:
    e = engine(redis_url, 1 / 60)
    assert e.margin(worker.CLAIM_IDLE, floor=5.0) == 1.5  # 5 s × 30 %
    assert e.margin(scheduler.STARTING_STALE, floor=2.0) == 0.6
    assert e.margin(scheduler.FINISHED_STALE, floor=2.0) == 2.0  # 120 / 60
    role = SchedulerRole(e, registered_as="x")
    assert role.lease_seconds == 3.0 and role.renew_every == 0.9
    assert e.scaled(delivery.DELIVERY_LEASE, floor=5.0) == 5.0  # a delivery runs at real speed: 5 s at least
    e = engine(redis_url, 1 / 12)
    assert round(e.margin(worker.CLAIM_IDLE, floor=5.0), 6) == 5.0  # 60 / 12
    assert 3.0 < SchedulerRole(e, registered_as="x").lease_seconds < 10.0
