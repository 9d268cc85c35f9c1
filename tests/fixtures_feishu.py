"""Fixtures for the Feishu simulator (tests/ is on sys.path: `pytest_plugins = ["fixtures_feishu"]`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sim.feishu import FeishuSimulator

TEST_ENCRYPT_KEY = "test-encrypt-key"
TEST_VERIFICATION_TOKEN = "test-verification-token"


def reset_lark_token_cache() -> None:
    """lark-oapi caches tenant tokens process-wide per app_id (feishu-api.md §6.6), so a token
    issued by one test's simulator would be sent to the next one's and refused (99991663)."""
    manager = sys.modules.get("lark_oapi.core.token.manager")
    if manager is None:  # SDK not imported yet: nothing cached
        return
    from lark_oapi.core.cache import LocalCache

    manager.TokenManager.cache = LocalCache()


@pytest.fixture
def feishu_sim_factory() -> Iterator[Callable[..., FeishuSimulator]]:
    """Build and start simulators with any constructor options; all are stopped at teardown."""
    sims: list[FeishuSimulator] = []

    def make(**options: Any) -> FeishuSimulator:
        reset_lark_token_cache()
        sim = FeishuSimulator(**options)
        sim.start()
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.stop()
    reset_lark_token_cache()


@pytest.fixture
def fresh_lark_tokens() -> Callable[[], None]:
    """Call it to make lark-oapi fetch a new tenant token (e.g. after `sim.expire_tokens()`)."""
    return reset_lark_token_cache


@pytest.fixture
def feishu_sim(feishu_sim_factory: Callable[..., FeishuSimulator]) -> FeishuSimulator:
    """A running simulator with encryption on (key/token as the bot's tests configure them)."""
    return feishu_sim_factory(encrypt_key=TEST_ENCRYPT_KEY, verification_token=TEST_VERIFICATION_TOKEN)
