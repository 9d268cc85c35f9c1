"""The vendor SDK (volcengine-ark-runtime) against the simulator: proves the wire format.

The SDK sends every unset parameter as JSON null, merges `extra_body` at top
level, reads `{"error": {...}}` into typed exceptions and takes the request id
from `X-Client-Request-Id`; all of that must work unchanged.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pytest
from PIL import Image

from sim.ark import ArkSimulator

pytest_plugins = ["fixtures_ark"]  # tests/ is on sys.path (rootdir conftest); see fixtures_ark.py

sdk = pytest.importorskip("volcenginesdkarkruntime")
from volcenginesdkarkruntime._exceptions import (  # noqa: E402
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkInternalServerError,
    ArkNotFoundError,
    ArkRateLimitError,
)

PRO10 = "seedance-1-0-pro-250528"
PRO15 = "seedance-1-5-pro-251215"
V20 = "dreamina-seedance-2-0-260128"
Factory = Callable[..., ArkSimulator]


def client(sim: ArkSimulator, key: str = "test-key") -> object:
    return sdk.Ark(base_url=sim.base_url, api_key=key, max_retries=0, timeout=30)


def png_data_url(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_create_get_list_delete_through_the_sdk(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=1)
    c = client(sim)
    tasks = c.content_generation.tasks  # type: ignore[attr-defined]
    first = tasks.create(
        model=PRO10,
        content=[
            {"type": "text", "text": "a cat --rs 720p --dur 5"},
            {"type": "image_url", "image_url": {"url": png_data_url(800, 600)}, "role": "first_frame"},
        ],
        ratio="16:9",
        return_last_frame=True,
        watermark=False,
        extra_body={"foo": "bar"},
    )
    assert first.id.startswith("cgt-")
    second = tasks.create(model=PRO15, content=[{"type": "text", "text": "a dog"}], generate_audio=False)
    body = sim.task(first.id)["body"]
    assert body["seed"] is None and body["foo"] == "bar"  # the SDK really sent nulls and extra_body
    queued = tasks.get(task_id=second.id)
    assert queued.status in ("queued", "running")
    sim.advance(1000)
    done = tasks.get(task_id=first.id)
    assert done.status == "succeeded" and done.error is None
    assert done.content.video_url.startswith(sim.base_url.removesuffix("/api/v3") + "/__media__/")
    assert done.content.last_frame_url
    assert done.usage.completion_tokens == done.usage.total_tokens > 0
    assert (done.resolution, done.ratio, done.duration, done.framespersecond) == ("720p", "16:9", 5, 24)
    listed = tasks.list(page_num=1, page_size=10, status="succeeded", task_ids=[first.id, second.id])
    assert listed.total == 2 and [t.id for t in listed.items] == [second.id, first.id]
    assert tasks.list(model=PRO15).total == 1
    assert tasks.list(service_tier="flex").total == 0
    tasks.delete(first.id)
    with pytest.raises(ArkNotFoundError) as nf:
        tasks.get(task_id=first.id)
    assert nf.value.status_code == 404 and nf.value.code == "ResourceNotFound"


def test_cancel_queued_through_the_sdk(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(speed=0, concurrency=0)
    tasks = client(sim).content_generation.tasks  # type: ignore[attr-defined]
    tid = tasks.create(model=PRO10, content=[{"type": "text", "text": "x"}]).id
    tasks.delete(tid)
    assert tasks.get(task_id=tid).status == "cancelled"
    with pytest.raises(ArkBadRequestError) as refused:
        tasks.delete(tid)
    assert refused.value.param == "task_id"


def test_sdk_parses_error_envelopes(ark_sim: ArkSimulator) -> None:
    tasks = client(ark_sim).content_generation.tasks  # type: ignore[attr-defined]
    with pytest.raises(ArkBadRequestError) as bad:
        tasks.create(model=V20, content=[{"type": "text", "text": "x"}], seed=7)
    err = bad.value
    assert err.status_code == 400 and err.code == "InvalidParameter" and err.param == "seed"
    assert err.type == "BadRequest"
    assert err.request_id and len(err.request_id) == 34  # the SDK's own X-Client-Request-Id, echoed
    with pytest.raises(ArkBadRequestError) as roles:
        tasks.create(
            model=PRO15,
            content=[
                {"type": "image_url", "image_url": {"url": png_data_url(640, 480)}},
                {"type": "image_url", "image_url": {"url": png_data_url(640, 480)}},
            ],
        )
    assert roles.value.param == "content" and "role must be specified for image contents" in str(roles.value)
    with pytest.raises(ArkNotFoundError) as nf:
        tasks.create(model="seedance-9-9", content=[{"type": "text", "text": "x"}])
    assert nf.value.code == "InvalidEndpointOrModel.NotFound"
    with pytest.raises(ArkAuthenticationError) as auth:
        client(ark_sim, "wrong").content_generation.tasks.create(  # type: ignore[attr-defined]
            model=PRO10, content=[{"type": "text", "text": "x"}]
        )
    assert auth.value.code == "AuthenticationError"


def test_sdk_sees_injected_rate_limit_and_server_errors(ark_sim_factory: Factory) -> None:
    sim = ark_sim_factory(error_rate=1.0)
    tasks = client(sim).content_generation.tasks  # type: ignore[attr-defined]
    seen: set[type] = set()
    for _ in range(20):
        try:
            tasks.get(task_id="cgt-20260101000000-aaaaa")
        except (ArkRateLimitError, ArkInternalServerError) as exc:
            seen.add(type(exc))
            assert exc.code in ("RateLimitExceeded.EndpointRPMExceeded", "InternalServiceError")
    assert seen == {ArkRateLimitError, ArkInternalServerError}
