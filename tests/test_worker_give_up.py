"""A chat message whose handling keeps failing still gets one answer, and only when no job exists."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis

from bot.clients.ark import ArkClient
from bot.clients.feishu import FeishuClient
from bot.config import Settings
from bot.engine.context import Engine
from bot.engine.jobs import Job, message_rid
from bot.engine.worker import WorkerRole
from bot.sim.feishu import FeishuSimulator

pytest_plugins = ["fixtures_feishu"]


def _boom(_engine: Engine, _payload: dict[str, Any]) -> None:
    raise RuntimeError("handler keeps failing")


def test_repeatedly_failing_message_gets_one_apology(
    redis_url: str, feishu_sim_factory: Callable[..., FeishuSimulator]
) -> None:
    sim = feishu_sim_factory()
    settings = Settings(_env_file=None, REDIS_URL=redis_url)  # type: ignore[call-arg]
    engine = Engine(settings=settings, redis=redis.Redis.from_url(redis_url, decode_responses=True),
                    ark=ArkClient("http://127.0.0.1:9/api/v3", "unused"),
                    feishu=FeishuClient(sim.app_id, sim.app_secret, base_url=sim.origin))
    worker = WorkerRole(engine, threads=1, on_message=_boom, on_card=_boom)
    sent = sim.send(text="/video a kitten", chat_type="p2p", deliver=False)
    fields = {"kind": "message", "payload": json.dumps(sent["event"])}

    worker._give_up(engine.store.keys.inbox, fields, RuntimeError("x"))
    worker._give_up(engine.store.keys.inbox, fields, RuntimeError("x"))  # replayed: no second reply
    replies = [m for m in sim.messages(sender="bot") if m["parent_id"] == sent["message_id"]]
    assert len(replies) == 1
    assert "try" in replies[0]["text"].lower() or "send it again" in replies[0]["text"]

    # When the job exists, its card and reconcile carry on: no apology.
    other = sim.send(text="/video a puppy", chat_type="p2p", deliver=False)
    engine.store.create(Job(rid=message_rid(other["message_id"]), kind="video", chat_id="oc", user="ou",
                            reply_to=other["message_id"], spec="{}"))
    worker._give_up(engine.store.keys.inbox, {"kind": "message", "payload": json.dumps(other["event"])},
                    RuntimeError("x"))
    assert not [m for m in sim.messages(sender="bot") if m["parent_id"] == other["message_id"]]
