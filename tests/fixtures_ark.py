"""Pytest fixtures that run the Ark simulator as a real HTTP server on loopback.

Register with `pytest_plugins = ["fixtures_ark"]` (tests/ is on sys.path; the
repo root is not, so "tests.fixtures_ark" only imports under `python -m pytest`
or with `pythonpath = ["."]` in the pytest config). `ark_sim` is a ready
simulator (speed 60, rng seed 1, API key "test-key"); `ark_sim_factory(**kw)`
starts one with other options (e.g. `speed=0` for a frozen clock driven only
by `advance()`, which makes state assertions race-free). All are stopped at
the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.ark import ArkSimulator

ARK_TEST_KEY = "test-key"


@pytest.fixture
def ark_sim_factory(tmp_path: Path) -> Iterator[Callable[..., ArkSimulator]]:
    """Start simulators with custom options; defaults match `ark_sim`."""
    started: list[ArkSimulator] = []

    def make(**options: Any) -> ArkSimulator:
        host = options.pop("host", "127.0.0.1")
        port = options.pop("port", 0)
        settings: dict[str, Any] = {
            "speed": 60.0,
            "rng_seed": 1,
            "api_key": ARK_TEST_KEY,
            "media_dir": tmp_path / f"ark-media-{len(started)}",
        }
        settings.update(options)
        sim = ArkSimulator(**settings)
        sim.start(host, port)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def ark_sim(ark_sim_factory: Callable[..., ArkSimulator]) -> ArkSimulator:
    """A running simulator: `ark_sim.base_url` is `http://127.0.0.1:PORT/api/v3`."""
    return ark_sim_factory()
