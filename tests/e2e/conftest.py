"""End-to-end fixtures: simulators and the bot as separate processes, a real Redis.

`stack`: a stack of its own for one test (simulators started for it). `shared_stack`: one stack
(simulator processes, a Redis database of its own) for every test of a module, reset between
tests (`Stack.reset`: the bot stopped, both simulators emptied and back to their start-up
settings, the database flushed, the per-test bot settings forgotten); for tests that start the
bot themselves and need nothing else fresh. A module that uses it is one `xdist_group`, so its
tests run one after another on one pytest-xdist worker.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stack import Stack

BOT_NAMES = ("bot-serve", "bot-web", "bot-worker", "bot-scheduler")
_DATABASES = itertools.count(1)  # db 0 is the per-test `redis_url`; one more per module stack


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    s = Stack(workdir=tmp_path, redis_url=redis_url)
    try:
        s.start_simulators()
        yield s
    finally:
        s.stop()
        s.print_logs(BOT_NAMES)


@pytest.fixture(scope="module")
def _module_stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(workdir=tmp_path_factory.mktemp("stack"), redis_url=f"{redis_server}/{next(_DATABASES)}")
    try:
        s.start_simulators()
        yield s
    finally:
        s.stop()


@pytest.fixture
def shared_stack(_module_stack: Stack) -> Iterator[Stack]:
    _module_stack.reset()
    start = {name: len(_module_stack.log(name)) for name in BOT_NAMES}
    try:
        yield _module_stack
    finally:
        _module_stack.feishu_idle()  # while the bot still answers: nothing is pushed into the next test
        _module_stack.stop_bot()
        for name in BOT_NAMES:  # this test's part of each log
            text = _module_stack.log(name)[start[name]:]
            if text:
                print(f"----- {name} log (tail) -----\n{text[-4000:]}")
