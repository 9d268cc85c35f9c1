"""Metrics and logs from every role, as separate processes: web (two gunicorn processes), worker,
scheduler, each scraped on its own port while a video goes through, and every log line of the job
carrying its ids.

Where /metrics is: web on BOT_PORT (the sum of its gunicorn processes), the worker next to its
probes on BOT_HEALTH_PORT, the scheduler on BOT_METRICS_PORT (its health port then has only the
probes); BOT_METRICS_TOKEN on every port. The Ark simulator stamps tasks on the wall clock, as
Ark does, so the detection delay (now − a task's updated_at) is measured for real.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from stack import Stack, free_port, wait_until

pytestmark = pytest.mark.slow

TOKEN = "e2e-metrics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text as {(name, labels): value}."""
    resp = requests.get(url, headers=AUTH, timeout=10)
    assert resp.status_code == 200, (url, resp.status_code)
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in resp.text.splitlines():
        m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if m and not line.startswith("#"):
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(data: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return data.get((name, frozenset(labels.items())), 0.0)


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # gunicorn's own lines, a traceback's continuation
        if isinstance(item, dict) and "event" in item:
            out.append(item)
    return out


def test_every_role_shows_the_health_metrics_and_every_line_of_a_job_has_its_ids(stack: Stack) -> None:
    stack.ark_config(wall_clock_timestamps=True)
    env = stack.bot_environment() | {"BOT_METRICS_TOKEN": TOKEN, "LOG_JSON": "true", "LOG_LEVEL": "DEBUG"}
    worker_health, scheduler_health, scheduler_metrics = free_port(), free_port(), free_port()
    stack.spawn("bot-web", ["web"], env | {"WEB_CONCURRENCY": "2", "LOG_LEVEL": "INFO"})
    stack.spawn("bot-worker", ["worker"], env | {"BOT_HEALTH_PORT": str(worker_health), "BOT_NODE": "obs-worker"})
    stack.spawn("bot-scheduler", ["scheduler"], env | {"BOT_HEALTH_PORT": str(scheduler_health),
                                                        "BOT_METRICS_PORT": str(scheduler_metrics),
                                                        "BOT_NODE": "obs-scheduler"})
    stack.wait_healthy(60, ["bot-web", "bot-worker", "bot-scheduler"])
    urls = {"web": f"{stack.bot_url}/metrics", "worker": f"http://127.0.0.1:{worker_health}/metrics",
            "scheduler": f"http://127.0.0.1:{scheduler_metrics}/metrics"}
    for url in urls.values():
        wait_until(lambda u=url: _answers(u), 60, what=f"{url} answering")
        assert requests.get(url, timeout=10).status_code == 401, "the metrics token applies on every port"
    assert requests.get(f"http://127.0.0.1:{scheduler_health}/metrics", timeout=10).status_code == 404
    assert requests.get(f"http://127.0.0.1:{scheduler_health}/livez", timeout=10).status_code == 200

    source = stack.send("/video a kitten yawning")["message_id"]
    wait_until(lambda: stack.bot_messages("media"), 90, what="the video")
    stack.at_rest()
    [task] = stack.ark_tasks()
    rid, task_id, chat_id = f"m-{source}", str(task["id"]), stack.chat_id

    web, worker, scheduler = (scrape(urls[r]) for r in ("web", "worker", "scheduler"))
    # web: the webhook (summed over its two processes), Ark's callback, the jobs read from Redis
    assert value(web, "bot_feishu_events_total", outcome="accepted") >= 1
    assert value(web, "bot_web_handling_seconds_count", route="feishu") >= 1
    assert value(web, "bot_ark_callbacks_total", outcome="known") >= 1
    # worker: Ark and Feishu calls by operation and code, queue wait, delivery, cards, entries
    assert value(worker, "bot_ark_calls_total", op="create", code="ok") == 1
    assert value(worker, "bot_ark_call_seconds_count", op="create") == 1
    assert value(worker, "bot_feishu_calls_total", op="reply", code="0") >= 2, "the card and the video"
    assert value(worker, "bot_feishu_calls_total", op="upload_video", code="0") == 1
    assert value(worker, "bot_queue_wait_seconds_count", pool="standard") == 1
    assert value(worker, "bot_delivery_seconds_count") == 1 and value(worker, "bot_delivery_seconds_sum") > 0
    assert value(worker, "bot_request_seconds_count") == 1
    assert value(worker, "bot_card_updates_total", outcome="sent") == 1
    assert value(worker, "bot_worker_entries_total", kind="message", outcome="ok") == 1
    assert value(worker, "bot_worker_entries_total", kind="deliver", outcome="ok") >= 1
    assert value(worker, "bot_scheduler_leader") == 0 and value(worker, "bot_quota_refusals_total") == 0
    # scheduler: leadership, looks at Ark, the detection delay
    assert value(scheduler, "bot_scheduler_leader_changes_total") >= 1
    assert value(scheduler, "bot_scheduler_leader") == 1
    assert value(scheduler, "bot_task_detection_seconds_count") == 1
    assert 0 <= value(scheduler, "bot_task_detection_seconds_sum") < 30
    assert sum(v for (name, labels), v in scheduler.items()
               if name == "bot_ark_calls_total" and dict(labels)["code"] == "ok") >= 1
    # every role: the engine gauges, the same from each (dashboards take their max)
    for data in (web, worker, scheduler):
        assert value(data, "bot_jobs_ended_total", state="done") == 1
    # The slot's release puts an `admit` entry in the inbox as the video goes out: once the worker
    # has taken it, every role reads an empty inbox and queue.
    for r in ("web", "worker", "scheduler"):
        wait_until(lambda r=r: (d := scrape(urls[r])) and value(d, "bot_jobs_queued") == 0
                   and value(d, "bot_inbox_length") == 0, 30, what=f"an empty inbox and queue on {r}'s /metrics")

    # The job's log lines (JSON) in the worker and the scheduler all carry its ids.
    for name in ("bot-worker", "bot-scheduler"):
        lines = json_lines(stack.log(name))
        mine = [x for x in lines if x.get("rid") == rid or rid in x["event"] or task_id in x["event"]]
        assert mine, f"no line of {rid} in {name}'s log"
        for x in mine:
            assert x.get("rid") == rid and x.get("chat_id") == chat_id, x
            if task_id in x["event"]:
                assert x.get("task_id") == task_id, x
        events = [x["event"] for x in mine]
        if name == "bot-worker":
            create = [x for x in mine if x["logger"] == "bot.clients.ark" and x["event"].startswith("ark POST")]
            assert create, "the Ark client's own line (stdlib logging, deep down) carries the ids"
            assert any(e.startswith(f"delivered {rid}") for e in events)
            assert [x.get("task_id") for x in mine if x["event"].startswith("delivered")] == [task_id]
        else:
            assert [x.get("task_id") for x in mine if x["event"].startswith(f"task {task_id} of {rid} ended")] == \
                [task_id]
        others = [x for x in lines if x.get("rid") not in (None, rid)]
        assert not others, f"lines of a job that does not exist: {others[:3]}"


def _answers(url: str) -> bool:
    try:
        return requests.get(url, headers=AUTH, timeout=2).status_code == 200
    except requests.RequestException:
        return False
