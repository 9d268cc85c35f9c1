"""The in-process tier: the whole bot (web, worker and scheduler roles as threads of the test
process, built as `seedance-bot serve` builds them) against both simulators (threads too, on
loopback over real HTTP) and the session's real redis-server. Nothing is mocked and nothing starts
a process, so a whole conversation costs what its work costs; crashes (SIGKILL) and the split
into processes are the full-stack tier's (tests/e2e).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stack import Stack


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    s = Stack(workdir=tmp_path, redis_url=redis_url, simulators="thread", bot_mode="thread", speed=240.0)
    try:
        s.start_simulators()
        yield s
    finally:
        log = s.log("bot-serve")
        s.stop()
        if log:
            print(f"----- bot log (tail) -----\n{log[-4000:]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is of the `flow` tier (`-m flow` runs it alone, `-m "not flow"` leaves it out)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.flow)
