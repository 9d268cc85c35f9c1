"""The Ark simulator over real HTTP: lifecycle, media, validation, errors, callbacks, limits.

State-sensitive tests use `speed=0` (a frozen service clock moved only by
`advance()`), so nothing depends on how fast the machine is.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from bot import catalogue
from sim.ark import ArkSimulator
from sim.media import make_mp4, probe_mp4

pytest_plugins = ["fixtures_ark"]  # tests/ is on sys.path (rootdir conftest); see fixtures_ark.py

KEY = "test-key"
PRO15 = "seedance-1-5-pro-251215"
PRO10 = "seedance-1-0-pro-250528"
FAST10 = "seedance-1-0-pro-fast-251015"
LITE_I2V = "seedance-1-0-lite-i2v-250428"
V20 = "dreamina-seedance-2-0-260128"
V20_FAST = "dreamina-seedance-2-0-fast-260128"

Factory = Callable[..., ArkSimulator]


class Api:
    """A tiny client for the simulator (no proxies, bearer auth)."""

    def __init__(self, sim: ArkSimulator, key: str | None = KEY) -> None:
        self.base = sim.base_url
        self.s = requests.Session()
        self.s.trust_env = False
        if key is not None:
            self.s.headers["Authorization"] = f"Bearer {key}"

    def create(self, body: dict[str, Any], **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return self.s.post(f"{self.base}/contents/generations/tasks", json=body, **kw)

    def create_id(self, body: dict[str, Any]) -> str:
        r = self.create(body)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    def get(self, task_id: str) -> requests.Response:
        return self.s.get(f"{self.base}/contents/generations/tasks/{task_id}", timeout=30)

    def task(self, task_id: str) -> dict[str, Any]:
        r = self.get(task_id)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def list(self, params: list[tuple[str, Any]] | None = None) -> requests.Response:
        return self.s.get(f"{self.base}/contents/generations/tasks", params=params or [], timeout=30)

    def delete(self, task_id: str) -> requests.Response:
        return self.s.delete(f"{self.base}/contents/generations/tasks/{task_id}", json={}, timeout=30)


def text_body(model: str, prompt: str = "a cat yawns", **params: Any) -> dict[str, Any]:
    return {"model": model, "content": [{"type": "text", "text": prompt}], **params}


def png_data_url(width: int, height: int, fmt: str = "png") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buf, format="PNG")
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode()


def image_item(url: str, role: str | None = "first_frame") -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if role is not None:
        item["role"] = role
    return item


def assert_envelope(r: requests.Response, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "param", "type"}
    assert err["code"] == code, err
    if param is not None:
        assert err["param"] == param, err
    types = {
        400: "BadRequest",
        401: "Unauthorized",
        404: "NotFound",
        429: "TooManyRequests",
        500: "InternalServerError",
    }
    assert err["type"] == types[status]
    assert err["message"].endswith(f"Request id: {r.headers['X-Request-Id']}")
    return dict(err)


def download(url: str, dest: Path) -> requests.Response:
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(url, timeout=60)
    if r.status_code == 200:
        dest.write_bytes(r.content)
    return r


def wait_for(pred: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for an outcome (not a timing assertion: the deadline only stops a hung test)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


# ---- lifecycle and media ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "params", "seconds", "audio"),
    [
        (PRO15, {"resolution": "720p", "ratio": "16:9", "duration": 5}, 5, True),
        (PRO10, {"resolution": "480p", "ratio": "9:16", "duration": 3}, 3, False),
        (V20_FAST, {"resolution": "480p", "ratio": "21:9", "duration": 4, "generate_audio": False}, 4, False),
        (FAST10, {"resolution": "1080p", "ratio": "1:1", "duration": 2}, 2, False),
        (PRO10, {"resolution": "720p", "ratio": "4:3", "frames": 29}, 29 / 24, False),
    ],
)
def test_lifecycle_produces_real_video_of_catalogue_size(
    ark_sim_factory: Factory,
    tmp_path: Path,
    model: str,
    params: dict[str, Any],
    seconds: float,
    audio: bool,
) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    tid = api.create_id(text_body(model, return_last_frame=True, **params))
    assert tid.startswith("cgt-") and len(tid.split("-")[1]) == 14 and len(tid.split("-")[2]) == 5
    running = api.task(tid)
    assert running["status"] == "running"
    assert running["error"] is None and "content" not in running and "usage" not in running
    for key in ("id", "model", "created_at", "updated_at", "service_tier", "execution_expires_after"):
        assert key in running
    sim.advance(1000)
    done = api.task(tid)
    info = catalogue.get(model)
    assert info is not None
    w, h = info.pixel_size(params["resolution"], params["ratio"]) or (0, 0)
    assert done["status"] == "succeeded"
    assert done["resolution"] == params["resolution"] and done["ratio"] == params["ratio"]
    assert done["framespersecond"] == 24
    if "frames" in params:
        assert done["frames"] == 29 and "duration" not in done
        tokens = w * h * 29 // 1024
    else:
        assert done["duration"] == params["duration"] and "frames" not in done
        tokens = catalogue.video_tokens(w, h, params["duration"])
    assert done["usage"] == {"completion_tokens": tokens, "total_tokens": tokens}
    assert ("seed" in done) is info.seed
    assert done.get("generate_audio", False) is audio
    video = tmp_path / "v.mp4"
    r = download(done["content"]["video_url"], video)
    assert r.status_code == 200 and r.headers["Content-Type"] == "video/mp4"
    assert "X-Tos-Expires=86400" in done["content"]["video_url"]
    probe = probe_mp4(video)
    assert (probe["width"], probe["height"]) == (w, h)
    assert probe["duration"] == pytest.approx(seconds, abs=0.01)
    assert probe["codec"] == "h264" and probe["has_audio"] is audio
    frame = tmp_path / "last.png"
    assert download(done["content"]["last_frame_url"], frame).status_code == 200
    with Image.open(frame) as img:
        assert img.format == "PNG" and img.size == (w, h)
    record = sim.task(tid)
    assert record["running_at"] == record["created_at"]
    assert record["finished_at"] == pytest.approx(record["running_at"] + record["run_seconds"])
    expected = info.expected_seconds(params["resolution"], round(seconds))
    assert 0.9 * expected <= record["run_seconds"] <= 1.1 * expected
    assert record["running_at_real"] is not None and record["finished_at_real"] is not None


def test_adaptive_ratio_follows_first_image_and_audio_default(
    ark_sim_factory: Factory, tmp_path: Path
) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    body = {
        "model": PRO15,
        "content": [{"type": "text", "text": "wave"}, image_item(png_data_url(600, 1000))],
    }
    tid = api.create_id(body)
    sim.advance(1000)
    done = api.task(tid)
    assert done["ratio"] == "9:16" and done["resolution"] == "720p" and done["duration"] == 5
    assert done["generate_audio"] is True and "last_frame_url" not in done["content"]
    video = tmp_path / "a.mp4"
    download(done["content"]["video_url"], video)
    probe = probe_mp4(video)
    assert (probe["width"], probe["height"]) == (720, 1280) and probe["has_audio"]
    t2v = api.create_id(text_body(V20, "sea", duration=-1))
    sim.advance(1000)
    out = api.task(t2v)
    assert out["ratio"] == "16:9" and out["duration"] == 5 and "seed" not in out and out["priority"] == 0


def test_failures_by_marker_and_rate(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    video = api.create_id(text_body(PRO10, "x [[failvideo]]"))
    audio_on = api.create_id(text_body(PRO15, "x [[failaudio]]"))
    audio_off = api.create_id(text_body(PRO15, "x [[failaudio]]", generate_audio=False))
    sim.advance(1000)
    v = api.task(video)
    assert v["status"] == "failed" and v["error"]["code"] == "OutputVideoSensitiveContentDetected"
    assert v["error"]["message"] and "content" not in v
    assert api.task(audio_on)["error"]["code"] == "OutputAudioSensitiveContentDetected"
    assert api.task(audio_off)["status"] == "succeeded"
    sim.configure(fail_rate=1.0)
    ids = [api.create_id(text_body(PRO10)) for _ in range(3)]
    sim.advance(1000)
    for tid in ids:
        t = api.task(tid)
        assert t["status"] == "failed"
        assert t["error"]["code"].startswith("OutputVideoSensitiveContentDetected")


def test_reset_starts_from_scratch_with_the_start_up_settings(ark_sim_factory: Factory) -> None:
    """POST /__sim__/reset (a suite reusing one simulator between tests): no task, request, callback or
    one-shot fault is left, the settings are the ones it started with, and the dice repeat."""
    sim = ark_sim_factory(speed=0, concurrency=2, rng_seed=5)
    api = Api(sim)
    for i in range(3):
        api.create_id(text_body(PRO15, f"clip {i}"))
    seeds = [sim.tasks()[i]["params"]["seed"] for i in range(3)]
    sim.configure(speed=50, fail_rate=1.0, concurrency=0)
    requests.post(f"{sim.origin}/__sim__/faults", json={"op": "create", "mode": "500"}, timeout=10).raise_for_status()
    requests.post(f"{sim.origin}/__sim__/reset", timeout=10).raise_for_status()
    assert sim.tasks() == [] and sim.requests_log() == [] and sim.callbacks_log() == []
    config = sim.config()
    assert (config["speed"], config["fail_rate"], config["concurrency"]) == (0.0, 0.0, 2)
    for i in range(3):  # (the one-shot 500 was dropped too: these succeed)
        api.create_id(text_body(PRO15, f"clip {i}"))
    assert [t["params"]["seed"] for t in sim.tasks()] == seeds, "the dice start over"
    assert [t["status"] for t in sim.tasks()] == ["running", "running", "queued"]


def test_queued_tasks_expire(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=0)
    api = Api(sim)
    tid = api.create_id(text_body(PRO10, execution_expires_after=3600))
    sim.advance(3599)
    assert api.task(tid)["status"] == "queued"
    sim.advance(2)
    t = api.task(tid)
    assert t["status"] == "expired" and t["execution_expires_after"] == 3600
    assert t["updated_at"] == t["created_at"] + 3600


def test_delete_semantics_per_status(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=1)
    api = Api(sim)
    a = api.create_id(text_body(PRO10))
    b = api.create_id(text_body(PRO10))
    assert api.task(a)["status"] == "running" and api.task(b)["status"] == "queued"
    r = api.delete(b)
    assert r.status_code == 200 and r.json() == {}
    assert api.task(b)["status"] == "cancelled"
    assert_envelope(api.delete(b), 400, "InvalidParameter", "task_id")
    assert_envelope(api.delete(a), 400, "InvalidParameter", "task_id")
    sim.advance(1000)
    assert api.task(a)["status"] == "succeeded"
    assert api.delete(a).json() == {}
    assert_envelope(api.get(a), 404, "ResourceNotFound")
    assert_envelope(api.delete(a), 404, "ResourceNotFound")
    assert_envelope(api.get("cgt-20250101000000-zzzzz"), 404, "ResourceNotFound")
    ids = [t["id"] for t in api.list().json()["items"]]
    assert ids == [b]
    record = {t["id"]: t for t in sim.tasks()}
    assert record[a]["deleted"] and record[a]["status"] == "succeeded"
    sim.advance(86401)  # cancelled tasks are purged after 24 h
    assert api.get(b).status_code == 404
    c = api.create_id(text_body(PRO10, "x [[failvideo]]"))
    sim.advance(1000)
    assert api.task(c)["status"] == "failed"
    sim.advance(7 * 86400)  # everything is purged after 7 days
    assert api.get(c).status_code == 404
    assert api.list().json() == {"total": 0, "items": []}
    assert len(sim.tasks()) == 3 and sim.create_count == 3


def test_list_filters_paging_and_order(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=1)
    api = Api(sim)
    ids = []
    for i in range(5):
        ids.append(
            api.create_id(
                text_body(PRO10 if i % 2 == 0 else FAST10, service_tier="flex" if i == 4 else "default")
            )
        )
        sim.advance(1)
    lst = api.list().json()
    assert lst["total"] == 5 and [t["id"] for t in lst["items"]] == ids[::-1]
    page = api.list([("page_num", 2), ("page_size", 2)]).json()
    assert page["total"] == 5 and [t["id"] for t in page["items"]] == [ids[2], ids[1]]
    by_ids = api.list([("filter.task_ids", ids[0]), ("filter.task_ids", ids[3])]).json()
    assert by_ids["total"] == 2 and {t["id"] for t in by_ids["items"]} == {ids[0], ids[3]}
    assert api.list([("filter.model", FAST10)]).json()["total"] == 2
    assert api.list([("filter.service_tier", "flex")]).json()["items"][0]["id"] == ids[4]
    running = api.list([("filter.status", "running")]).json()
    assert {t["id"] for t in running["items"]} == {ids[0], ids[1]}  # one slot per model
    assert api.list([("filter.status", "queued")]).json()["total"] == 3
    assert_envelope(api.list([("page_size", 0)]), 400, "InvalidParameter", "page_size")
    assert_envelope(api.list([("page_size", 501)]), 400, "InvalidParameter", "page_size")
    assert_envelope(api.list([("page_num", "x")]), 400, "InvalidParameter", "page_num")
    assert_envelope(api.list([("filter.status", "done")]), 400, "InvalidParameter", "filter.status")


def test_concurrency_keeps_extra_tasks_queued_and_slots_hand_over_exactly(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=2)
    api = Api(sim)
    ids = [api.create_id(text_body(PRO10)) for _ in range(4)]
    other = api.create_id(text_body(FAST10))
    assert [api.task(t)["status"] for t in ids] == ["running", "running", "queued", "queued"]
    assert api.task(other)["status"] == "running"
    sim.advance(100000)
    recs = {t["id"]: t for t in sim.tasks()}
    assert all(recs[t]["status"] == "succeeded" for t in [*ids, other])
    first_done = sorted(recs[t]["finished_at"] for t in ids[:2])
    assert recs[ids[2]]["running_at"] == first_done[0]
    assert recs[ids[3]]["running_at"] == first_done[1]


def test_queue_cap_and_rpm(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=0, queue_cap=2)
    api = Api(sim)
    api.create_id(text_body(PRO10))
    api.create_id(text_body(FAST10))
    full = api.create(text_body(PRO10))
    assert_envelope(full, 429, "ServerOverloaded")
    assert full.headers["Retry-After"] == "1"
    assert sim.create_count == 2
    sim2 = ark_sim_factory(speed=0, rpm=2)
    api2 = Api(sim2)
    api2.create_id(text_body(PRO10))
    api2.create_id(text_body(PRO10))
    over = api2.create(text_body(PRO10))
    assert_envelope(over, 429, "RateLimitExceeded.EndpointRPMExceeded")
    assert int(over.headers["Retry-After"]) >= 1
    api2.create_id(text_body(FAST10))  # the limit is per model
    sim2.advance(61)
    api2.create_id(text_body(PRO10))


# ---- validation -----------------------------------------------------------------------------------

BIG = png_data_url(640, 400)
SMALL = png_data_url(200, 200)
WIDE = png_data_url(1500, 500)


@pytest.mark.parametrize(
    ("body", "status", "code", "param", "fragment"),
    [
        (text_body(V20, seed=5), 400, "InvalidParameter", "seed", "seed"),
        (text_body(V20, camera_fixed=True), 400, "InvalidParameter", "camera_fixed", ""),
        (text_body(V20, service_tier="flex"), 400, "InvalidParameter", "service_tier", "flex"),
        (text_body(PRO10, generate_audio=True), 400, "InvalidParameter", "generate_audio", ""),
        (text_body(PRO10, draft=True), 400, "InvalidParameter", "draft", ""),
        (text_body(PRO15, draft=True, resolution="720p"), 400, "InvalidParameter", "resolution", "480p"),
        (
            text_body(PRO15, draft=True, return_last_frame=True),
            400,
            "InvalidParameter",
            "return_last_frame",
            "",
        ),
        (text_body(PRO15, draft=True, service_tier="flex"), 400, "InvalidParameter", "service_tier", ""),
        (text_body(PRO15, duration=13), 400, "InvalidParameter", "duration", ""),
        (text_body(PRO15, duration=3), 400, "InvalidParameter", "duration", ""),
        (text_body(PRO10, duration=-1), 400, "InvalidParameter", "duration", ""),
        (text_body(PRO10, duration="5"), 400, "InvalidParameter", "duration", ""),
        (text_body(V20_FAST, resolution="1080p"), 400, "InvalidParameter", "resolution", ""),
        (text_body(PRO15, resolution="4k"), 400, "InvalidParameter", "resolution", ""),
        (text_body(PRO10, ratio="2:1"), 400, "InvalidParameter", "ratio", ""),
        (
            text_body(PRO10, execution_expires_after=3599),
            400,
            "InvalidParameter",
            "execution_expires_after",
            "",
        ),
        (
            text_body(PRO10, execution_expires_after=259201),
            400,
            "InvalidParameter",
            "execution_expires_after",
            "",
        ),
        (text_body(PRO15, frames=29), 400, "InvalidParameter", "frames", ""),
        (text_body(PRO10, frames=30), 400, "InvalidParameter", "frames", ""),
        (text_body(PRO10, seed=2**32), 400, "InvalidParameter", "seed", ""),
        (text_body(PRO15, priority=3), 400, "InvalidParameter", "priority", ""),
        (
            {"model": PRO15, "content": [image_item(BIG, None), image_item(BIG, None)]},
            400,
            "InvalidParameter",
            "content",
            "role must be specified for image contents",
        ),
        (
            {"model": FAST10, "content": [image_item(BIG), image_item(BIG, "last_frame")]},
            400,
            "InvalidParameter",
            "content",
            "",
        ),
        (
            {"model": PRO15, "content": [image_item(BIG, "reference_image")]},
            400,
            "InvalidParameter",
            "content",
            "",
        ),
        (
            {"model": LITE_I2V, "content": [image_item(BIG, "reference_image")] * 5},
            400,
            "InvalidParameter",
            "content",
            "",
        ),
        (
            {"model": LITE_I2V, "content": [image_item(BIG, "reference_image")], "resolution": "1080p"},
            400,
            "InvalidParameter",
            "resolution",
            "",
        ),
        (
            {"model": LITE_I2V, "content": [image_item(BIG, "reference_image")], "camera_fixed": True},
            400,
            "InvalidParameter",
            "camera_fixed",
            "",
        ),
        ({"model": PRO10, "content": [image_item(SMALL)]}, 400, "InvalidParameter", "content", "300"),
        ({"model": PRO10, "content": [image_item(WIDE)]}, 400, "InvalidParameter", "content", "aspect"),
        (
            {"model": PRO10, "content": [image_item(BIG.replace("image/png", "image/PNG"))]},
            400,
            "InvalidParameter",
            "content",
            "format",
        ),
        (
            {"model": PRO10, "content": [image_item("http://127.0.0.1:9/nope.png")]},
            400,
            "InvalidParameter",
            "content",
            "timeout while fetching resource",
        ),
        (
            {"model": PRO10, "content": [{"type": "audio_url", "audio_url": {"url": "asset://a"}}]},
            400,
            "InvalidParameter",
            "content",
            "",
        ),
        (
            {
                "model": V20,
                "content": [
                    {"type": "text", "text": "x"},
                    {"type": "audio_url", "audio_url": {"url": "asset://a"}, "role": "reference_audio"},
                ],
            },
            400,
            "InvalidParameter",
            "content",
            "audio",
        ),
        (
            {"model": PRO10, "content": [{"type": "text", "text": " "}]},
            400,
            "InvalidParameter",
            "content",
            "",
        ),
        (
            {
                "model": PRO15,
                "content": [{"type": "draft_task", "draft_task": {"id": "cgt-20250101000000-abcde"}}],
            },
            404,
            "ResourceNotFound",
            None,
            "",
        ),
        (text_body("seedance-1-0-pro"), 404, "InvalidEndpointOrModel.NotFound", "", "seedance-1-0-pro"),
        (text_body("1.5-pro"), 404, "InvalidEndpointOrModel.NotFound", "", ""),
        ({"content": [{"type": "text", "text": "x"}]}, 400, "MissingParameter", "model", ""),
        ({"model": PRO10}, 400, "MissingParameter", "content", ""),
        (text_body(PRO10, "a [[sensitive]] prompt"), 400, "InputTextSensitiveContentDetected", "", ""),
        (
            {"model": V20, "content": [{"type": "text", "text": "[[realperson]]"}, image_item(BIG)]},
            400,
            "InputImageSensitiveContentDetected.PrivacyInformation",
            "",
            "real person",
        ),
    ],
)
def test_validation_errors_use_the_documented_envelope(
    ark_sim: ArkSimulator,
    body: dict[str, Any],
    status: int,
    code: str,
    param: str | None,
    fragment: str,
) -> None:
    api = Api(ark_sim)
    err = assert_envelope(api.create(body), status, code, param)
    assert fragment in err["message"]
    if code == "InvalidParameter":
        assert err["message"].startswith(f"The parameter `{param}` specified in the request is not valid: ")
    assert ark_sim.create_count == 0


def test_model_not_opened_and_endpoint_ids(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(not_opened=frozenset({V20}), endpoints={"ep-20260101-abc": PRO10})
    api = Api(sim)
    err = assert_envelope(api.create(text_body(V20)), 404, "ModelNotOpen")
    assert "has not activated the model" in err["message"]
    tid = api.create_id(text_body("ep-20260101-abc"))
    assert api.task(tid)["model"] == PRO10
    assert api.list([("filter.model", "ep-20260101-abc")]).json()["total"] == 1
    volc = api.create_id(text_body("doubao-seedance-1-0-pro-250528"))  # the Volcengine ID is accepted too
    assert api.task(volc)["model"] == "doubao-seedance-1-0-pro-250528"


def test_auth_and_request_ids(ark_sim: ArkSimulator) -> None:
    for key in (None, "wrong"):
        assert_envelope(Api(ark_sim, key).create(text_body(PRO10)), 401, "AuthenticationError", "")
    r = Api(ark_sim, None).s.get(
        f"{ark_sim.base_url}/contents/generations/tasks",
        headers={"Authorization": "Basic dGVzdC1rZXk="},
        timeout=10,
    )
    assert_envelope(r, 401, "AuthenticationError")
    r = Api(ark_sim).create(
        text_body(PRO10), headers={"X-Client-Request-Id": "20260101000000abcdefghij0123456789"}
    )
    assert r.status_code == 200 and r.headers["X-Client-Request-Id"] == "20260101000000abcdefghij0123456789"
    assert len(Api(ark_sim).list().headers["X-Client-Request-Id"]) == 34
    assert ark_sim.create_count == 1
    log = ark_sim.requests_log()
    assert [(x["method"], x["status"]) for x in log[:3]] == [("POST", 401), ("POST", 401), ("GET", 401)]


def test_any_bearer_token_is_accepted_without_api_key(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(api_key=None)
    assert Api(sim, "anything").create(text_body(PRO10)).status_code == 200
    assert_envelope(Api(sim, None).create(text_body(PRO10)), 401, "AuthenticationError")


def test_null_means_absent(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    nulls = dict.fromkeys(
        (
            "safety_identifier",
            "callback_url",
            "return_last_frame",
            "service_tier",
            "execution_expires_after",
            "priority",
            "generate_audio",
            "draft",
            "camera_fixed",
            "seed",
            "resolution",
            "ratio",
            "duration",
            "frames",
            "tools",
            "output_format",
            "omni_reference_task_type",
        ),
    )
    tid = api.create_id({"model": V20, "content": [{"type": "text", "text": "x"}], **nulls, "foo": "bar"})
    sim.advance(1000)
    t = api.task(tid)
    assert (t["resolution"], t["ratio"], t["duration"], t["generate_audio"]) == ("720p", "16:9", 5, True)
    assert t["service_tier"] == "default" and t["execution_expires_after"] == 172800
    assert sim.task(tid)["body"]["foo"] == "bar"


def test_legacy_text_flags_merge_with_body_winning(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    a = api.create_id(
        text_body(PRO10, "a cat --rs 480p --rt 9:16 --dur 3 --seed 11 --cf true --wm true", ratio="1:1")
    )
    b = api.create_id(text_body(PRO10, "a dog --resolution 720p --duration 99 --fps 16 --frames 33"))
    c = api.create_id(text_body(V20, "sea --seed 5 --cf true --dur 6"))
    sim.advance(1000)
    ta, tb, tc = api.task(a), api.task(b), api.task(c)
    assert (ta["resolution"], ta["ratio"], ta["duration"], ta["seed"]) == ("480p", "1:1", 3, 11)
    assert (tb["resolution"], tb["frames"]) == ("720p", 33) and "duration" not in tb
    assert tc["status"] == "succeeded" and tc["duration"] == 6 and "seed" not in tc


def test_draft_then_final(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    plain = api.create_id(text_body(PRO15))
    draft = api.create_id(text_body(PRO15, "a fox", draft=True, seed=42, ratio="4:3", duration=6))
    r = api.create({"model": PRO15, "content": [{"type": "draft_task", "draft_task": {"id": draft}}]})
    assert_envelope(r, 400, "InvalidParameter", "content")  # draft not finished yet
    sim.advance(1000)
    d = api.task(draft)
    assert d["draft"] is True and d["resolution"] == "480p" and d["seed"] == 42
    assert_envelope(
        api.create({"model": PRO15, "content": [{"type": "draft_task", "draft_task": {"id": plain}}]}),
        400,
        "InvalidParameter",
        "content",
    )
    final = api.create_id(
        {
            "model": PRO15,
            "content": [{"type": "draft_task", "draft_task": {"id": draft}}],
            "resolution": "1080p",
            "return_last_frame": True,
        }
    )
    sim.advance(1000)
    f = api.task(final)
    assert f["status"] == "succeeded" and f["draft_task_id"] == draft and f["draft"] is False
    assert (f["resolution"], f["ratio"], f["duration"], f["seed"]) == ("1080p", "4:3", 6, 42)
    assert "last_frame_url" in f["content"]


# ---- callbacks ----------------------------------------------------------------------------------


class Receiver:
    """A local callback endpoint that records POSTs and fails the first `fail_first` per (task, status)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.posts: list[dict[str, Any]] = []
        self.attempts: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = (body["id"], body["status"])
                with outer.lock:
                    n = outer.attempts[key] = outer.attempts.get(key, 0) + 1
                    ok = n > outer.fail_first or body["status"] in ("queued", "running")
                    if ok:
                        outer.posts.append(body)
                self.send_response(200 if ok else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/ark/callback"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def statuses(self, task_id: str) -> list[str]:
        with self.lock:
            return [p["status"] for p in self.posts if p["id"] == task_id]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(fail_first=2)
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def test_callbacks_on_every_status_change_with_retries(ark_sim_factory: Factory, receiver: Receiver) -> None:
    sim = ark_sim_factory(callback_retry_delay=0.01, speed=0, concurrency=2)
    api = Api(sim)
    ok = api.create_id(text_body(PRO10, callback_url=receiver.url))
    bad = api.create_id(text_body(PRO10, "[[failvideo]]", callback_url=receiver.url))
    late = api.create_id(text_body(PRO10, callback_url=receiver.url, execution_expires_after=3600))
    wait_for(lambda: receiver.statuses(ok) == ["queued", "running"] and len(receiver.statuses(late)) == 1)
    sim.configure(concurrency=0)  # nothing new starts: late expires while still queued
    sim.advance(100000)
    wait_for(
        lambda: (
            len(receiver.statuses(late)) == 2
            and len(receiver.statuses(bad)) == 3
            and len(receiver.statuses(ok)) == 3
        )
    )
    assert receiver.statuses(ok) == ["queued", "running", "succeeded"]
    assert receiver.statuses(bad) == ["queued", "running", "failed"]
    assert receiver.statuses(late) == ["queued", "expired"]
    final = next(p for p in receiver.posts if p["id"] == ok and p["status"] == "succeeded")
    assert final == api.task(ok)
    log = sim.callbacks_log()
    succeeded = [x for x in log if x["task_id"] == ok and x["status"] == "succeeded"]
    assert [x["http_status"] for x in succeeded] == [500, 500, 200]
    assert [x["attempt"] for x in succeeded] == [1, 2, 3]


def test_callback_retries_stop_after_three_more_attempts(ark_sim_factory: Factory) -> None:
    rec = Receiver(fail_first=99)
    try:
        sim = ark_sim_factory(callback_retry_delay=0.01, speed=0)
        tid = Api(sim).create_id(text_body(PRO10, callback_url=rec.url))
        sim.advance(1000)
        wait_for(lambda: rec.attempts.get((tid, "succeeded"), 0) == 4)
        time.sleep(0.1)
        assert rec.attempts[(tid, "succeeded")] == 4
    finally:
        rec.server.shutdown()
        rec.server.server_close()


# ---- media URLs and failure injection ---------------------------------------------------------


def test_media_url_expires_and_checks_signature(ark_sim_factory: Factory, tmp_path: Path) -> None:
    sim = ark_sim_factory(speed=0, url_ttl=3600)
    api = Api(sim)
    tid = api.create_id(text_body(PRO10, duration=2, resolution="480p"))
    sim.advance(1000)
    url = api.task(tid)["content"]["video_url"]
    assert "X-Tos-Expires=3600" in url
    assert download(url, tmp_path / "ok.mp4").status_code == 200
    tampered = download(url.replace("X-Tos-Expires=3600", "X-Tos-Expires=999999"), tmp_path / "x")
    assert tampered.status_code == 403 and b"SignatureDoesNotMatch" in tampered.content
    sim.advance(3700)
    r = download(url, tmp_path / "late.mp4")
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text and r.headers["Content-Type"].startswith("application/xml")


def test_range_requests_and_padding_marker(ark_sim_factory: Factory, tmp_path: Path) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    tid = api.create_id(text_body(PRO10, "big [[minbytes:3000000]]", duration=2, resolution="480p"))
    sim.advance(1000)
    url = api.task(tid)["content"]["video_url"]
    with requests.Session() as s:
        s.trust_env = False
        part = s.get(url, headers={"Range": "bytes=0-99"}, timeout=30)
    assert part.status_code == 206 and len(part.content) == 100
    path = tmp_path / "big.mp4"
    download(url, path)
    assert path.stat().st_size >= 3_000_000
    assert probe_mp4(path)["duration"] == pytest.approx(2.0)


def test_make_mp4_large_padded_file_still_plays(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "big.mp4", 640, 360, 1.0, audio=True, min_bytes=25_000_000)
    info = probe_mp4(path)
    assert info["size"] == 25_000_000
    assert (info["width"], info["height"], info["has_audio"]) == (640, 360, True)
    import av

    with av.open(str(path)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 24


def test_error_rate_injects_429_and_500_envelopes(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(error_rate=1.0)
    api = Api(sim)
    codes = set()
    for _ in range(30):
        r = api.create(text_body(PRO10))
        err = assert_envelope(
            r,
            r.status_code,
            "RateLimitExceeded.EndpointRPMExceeded" if r.status_code == 429 else "InternalServiceError",
        )
        codes.add(err["code"])
    assert codes == {"RateLimitExceeded.EndpointRPMExceeded", "InternalServiceError"}
    assert sim.create_count == 0
    sim.configure(error_rate=0.0)
    assert api.create(text_body(PRO10)).status_code == 200


def test_slow_responses_happen_after_the_work(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(slow_rate=1.0, slow_seconds=1.0)
    api = Api(sim)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.create(text_body(PRO10), timeout=0.3)
    wait_for(lambda: sim.create_count == 1)  # the task exists although the client timed out


def test_sim_control_routes(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    tid = api.create_id(text_body(PRO10))
    origin = sim.base_url.removesuffix("/api/v3")
    with requests.Session() as s:
        s.trust_env = False
        before = s.get(f"{origin}/__sim__/config", timeout=10).json()["now"]
        assert (
            s.post(f"{origin}/__sim__/advance", json={"seconds": 1000}, timeout=10).json()["now"]
            >= before + 1000
        )
        cfg = s.post(
            f"{origin}/__sim__/config", json={"error_rate": 0.5, "fail_rate": 0.25}, timeout=10
        ).json()
        assert cfg["error_rate"] == 0.5 and cfg["fail_rate"] == 0.25
        assert s.post(f"{origin}/__sim__/config", json={"bogus": 1}, timeout=10).status_code == 400
        tasks = s.get(f"{origin}/__sim__/tasks", timeout=10).json()
        assert (
            tasks[0]["id"] == tid and tasks[0]["status"] == "succeeded" and tasks[0]["body"]["model"] == PRO10
        )
        reqs = s.get(f"{origin}/__sim__/requests", timeout=10).json()
        assert reqs[0]["method"] == "POST" and reqs[0]["task_id"] == tid


def test_cli_runs_in_foreground_until_sigterm(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "seedance-bot"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.cli"]
    env = {**os.environ, "NO_PROXY": "127.0.0.1"}
    proc = subprocess.Popen(
        [*cmd, "sim", "ark", "--port", "0", "--speed", "60", "--api-key", "k", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        base = line.strip().split()[-1]
        with requests.Session() as s:
            s.trust_env = False
            r = s.get(f"{base}/contents/generations/tasks", headers={"Authorization": "Bearer k"}, timeout=10)
        assert r.json() == {"total": 0, "items": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "stopped" in out


def test_state_machine_runs_without_polling_and_fires_callbacks(ark_sim_factory: Factory) -> None:
    rec = Receiver()
    try:
        sim = ark_sim_factory(speed=3000)
        tid = Api(sim).create_id(text_body(PRO10, duration=2, resolution="480p", callback_url=rec.url))
        wait_for(lambda: rec.statuses(tid) == ["queued", "running", "succeeded"])
        assert sim.task(tid)["status"] == "succeeded"
    finally:
        rec.server.shutdown()
        rec.server.server_close()


def test_http_image_url_is_fetched_like_the_service(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    first = api.create_id(
        text_body(PRO10, resolution="720p", ratio="9:16", duration=2, return_last_frame=True)
    )
    sim.advance(1000)
    frame_url = api.task(first)["content"]["last_frame_url"]
    chained = api.create_id(
        {"model": PRO15, "content": [{"type": "text", "text": "go on"}, image_item(frame_url)]}
    )
    sim.advance(1000)
    assert api.task(chained)["ratio"] == "9:16"
    missing = frame_url.replace("X-Tos-Signature=", "X-Tos-Signature=0")
    err = assert_envelope(
        api.create({"model": PRO10, "content": [image_item(missing)]}), 400, "InvalidParameter"
    )
    assert "HTTP 403" in err["message"]


# ---- task objects echo the create parameters (ark-api.md §3.2) ----------------------------------


def test_task_object_echoes_the_create_parameters(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    sent = api.create_id(
        text_body(PRO15, seed=11, resolution="480p", ratio="adaptive", duration=4, service_tier="flex",
                  execution_expires_after=7200, generate_audio=False, safety_identifier="hash-of-user-1")
    )
    random_ids = [api.create_id(text_body(PRO10, seed=-1)), api.create_id(text_body(PRO10))]
    draft = api.create_id(text_body(PRO15, draft=True))
    v20 = api.create_id(text_body(V20, priority=4))
    sim.advance(10000)
    t = api.task(sent)
    assert t["seed"] == 11 and t["resolution"] == "480p" and t["ratio"] == "16:9"  # adaptive, resolved
    assert t["duration"] == 4 and t["service_tier"] == "flex" and t["execution_expires_after"] == 7200
    assert t["generate_audio"] is False and t["draft"] is False and t["priority"] == 0
    assert t["safety_identifier"] == "hash-of-user-1"
    assert isinstance(t["created_at"], int) and t["updated_at"] >= t["created_at"]
    seeds = [api.task(tid)["seed"] for tid in random_ids]
    assert all(isinstance(x, int) and 0 <= x <= 2**32 - 1 for x in seeds) and seeds[0] != seeds[1]
    plain = api.task(random_ids[1])
    assert plain["service_tier"] == "default" and plain["execution_expires_after"] == 172800
    assert "safety_identifier" not in plain and "generate_audio" not in plain  # 1.0 Pro has no audio
    d = api.task(draft)
    assert d["draft"] is True and d["resolution"] == "480p" and d["generate_audio"] is True
    v = api.task(v20)
    assert v["priority"] == 4 and "seed" not in v  # the 2.0 series does not support seed
    assert {t["id"]: t["params"]["seed"] for t in sim.tasks()}[random_ids[0]] == seeds[0]


DOC_FIELDS = {"id", "model", "status", "error", "created_at", "updated_at", "service_tier",
              "execution_expires_after"}
BARE_FIELDS = {"id", "model", "status", "created_at", "updated_at"}
FULL_EXTRA = {"seed", "resolution", "ratio", "duration", "framespersecond", "generate_audio", "draft",
              "priority", "safety_identifier"}


@pytest.mark.parametrize("mode", ["doc", "full", "bare"])
def test_queued_fields_modes_shape_get_list_and_callbacks(
    ark_sim_factory: Factory, receiver: Receiver, mode: str
) -> None:
    sim = ark_sim_factory(speed=0, concurrency=1, queued_fields=mode)
    api = Api(sim)
    body = text_body(PRO15, safety_identifier="sid", callback_url=receiver.url)
    running, queued = api.create_id(body), api.create_id(body)
    failed = api.create_id(text_body(PRO15, "[[failvideo]]"))
    expected = {"doc": DOC_FIELDS, "bare": BARE_FIELDS, "full": DOC_FIELDS | FULL_EXTRA}[mode]
    assert api.task(running)["status"] == "running" and set(api.task(running)) == expected
    assert api.task(queued)["status"] == "queued" and set(api.task(queued)) == expected
    items = api.list([("filter.task_ids", running), ("filter.task_ids", queued)]).json()["items"]
    assert len(items) == 2 and all(set(item) == expected for item in items)
    wait_for(lambda: len(receiver.statuses(running)) == 2)
    assert all(set(p) == expected for p in receiver.posts if p["id"] == running)
    sim.advance(100000)
    done = api.task(running)
    assert {"content", "usage", "seed", "duration", "service_tier"} <= set(done)  # succeeded: always full
    f = api.task(failed)
    assert f["status"] == "failed" and f["error"]["code"] == "OutputVideoSensitiveContentDetected"
    assert set(f) == (expected | {"error"}) - ({"safety_identifier"} if mode == "full" else set())
    assert "content" not in f and "usage" not in f


def test_queued_fields_can_change_at_run_time(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=0)
    api = Api(sim)
    tid = api.create_id(text_body(PRO10))
    assert set(api.task(tid)) == DOC_FIELDS
    assert sim.configure(queued_fields="bare")["queued_fields"] == "bare"
    assert set(api.task(tid)) == BARE_FIELDS
    sim.configure(queued_fields="full")
    full = api.task(tid)
    assert full["status"] == "queued" and full["seed"] == sim.task(tid)["params"]["seed"]
    assert "content" not in full and "usage" not in full


def test_wall_clock_timestamps_follow_real_time_and_can_be_switched(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0)
    api = Api(sim)
    sim.advance(5 * 86400)  # the service clock runs days ahead of the wall clock
    ahead = api.task(api.create_id(text_body(PRO10)))
    assert ahead["created_at"] > time.time() + 4 * 86400
    assert sim.configure(wall_clock_timestamps=True)["wall_clock_timestamps"] is True
    tid = api.create_id(text_body(PRO10))
    t = api.task(tid)
    assert abs(t["created_at"] - time.time()) < 5
    stamp = datetime.strptime(tid.split("-")[1], "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
    assert abs(stamp - t["created_at"]) < 2  # the id's timestamp agrees with created_at
    assert abs(api.task(ahead["id"])["created_at"] - time.time()) < 5
    assert abs(api.list().json()["items"][0]["created_at"] - time.time()) < 5


def test_list_task_ids_filter_pages_and_counts(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=3, queue_cap=1000)
    api = Api(sim)
    ids = []
    for i in range(130):
        ids.append(api.create_id(text_body(PRO10, f"n{i}")))
        if i % 10 == 9:
            sim.advance(1)
    newest_first = ids[::-1]
    everything = api.list([("page_size", 500)]).json()
    assert everything["total"] == 130 and [t["id"] for t in everything["items"]] == newest_first
    assert api.list([("page_size", 500), ("page_num", 2)]).json() == {"total": 130, "items": []}
    chosen = ids[5:45]  # 40 ids, repeated filter.task_ids
    wanted = [t for t in newest_first if t in chosen]
    pages: list[str] = []
    for page in range(1, 8):
        got = api.list([*[("filter.task_ids", t) for t in chosen], ("page_size", 7), ("page_num", page)]).json()
        assert got["total"] == 40
        pages += [t["id"] for t in got["items"]]
    assert pages == wanted
    running = api.list([*[("filter.task_ids", t) for t in [*ids[:5], "cgt-20250101000000-nope0"]],
                        ("filter.status", "running")]).json()
    assert running["total"] == 3 and [t["id"] for t in running["items"]] == ids[:3][::-1]
    queued = api.list([("filter.status", "queued"), ("page_size", 100), ("page_num", 2)]).json()
    assert queued["total"] == 127 and [t["id"] for t in queued["items"]] == newest_first[100:127]
    assert api.list([("filter.task_ids", "cgt-20250101000000-nope0")]).json() == {"total": 0, "items": []}
