"""End-to-end fixtures: simulators and the bot as separate processes, a real Redis."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stack import Stack


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    s = Stack(workdir=tmp_path, redis_url=redis_url)
    try:
        s.start_simulators()
        yield s
    finally:
        s.stop()
        for name in ("bot-serve", "bot-web", "bot-worker", "bot-scheduler"):
            text = s.log(name)
            if text:
                print(f"----- {name} log (tail) -----\n{text[-4000:]}")
