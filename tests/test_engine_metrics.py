"""/metrics reports the engine's queue and slots straight from Redis."""

from __future__ import annotations

import redis

from bot.config import Settings
from bot.engine.jobs import Job, JobStore
from bot.web.app import create_app


def test_metrics_show_queue_and_in_flight(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(r, "bot")
    for i, user in enumerate(["ou_a", "ou_a", "ou_b"]):
        job = Job(rid=f"m-{i}", kind="video", chat_id="oc_1", user=user, reply_to=f"om_{i}", spec="{}")
        assert store.create(job)
        store.enqueue(job.rid, user)
    assert store.admit(cap=1) == "m-0"
    settings = Settings(_env_file=None, REDIS_URL=redis_url, FEISHU_VERIFICATION_TOKEN="tok")  # type: ignore[call-arg]
    body = create_app(settings, redis=r).test_client().get("/metrics").get_data(as_text=True)
    assert "bot_jobs_queued 2.0" in body
    assert "bot_jobs_in_flight 1.0" in body
    assert 'bot_jobs_active{state="queued"} 3.0' in body
