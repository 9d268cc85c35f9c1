"""HTTP face of the Feishu simulator: Open API routes (Feishu envelopes) and `/__sim__` controls.

Thin on purpose: every rule lives in `FeishuSimulator` / `feishu_openapi`, so the Python API that
tests use and the HTTP API that the bot (and a developer's curl) uses behave identically.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.sim import feishu_events as ev
from bot.sim.feishu_openapi import UPLOAD_TOO_LARGE, ApiError, parse_multipart

if TYPE_CHECKING:
    from bot.sim.feishu import FeishuSimulator

JSON = dict[str, Any]
View = Callable[..., Any]

SEND_KEYS = frozenset(
    {
        "text",
        "chat_id",
        "chat_type",
        "user",
        "mention_bot",
        "mentions",
        "images",
        "parent_id",
        "thread_id",
        "message_type",
        "post_form",
        "images_first",
        "event_id",
        "message_id",
        "deliver",
        "timestamp",
    }
)


def _envelope_error(err: ApiError) -> Response:
    resp = jsonify({"code": err.code, "msg": err.msg, "error": {"log_id": g.get("log_id", "")}})
    resp.status_code = err.status
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp


def _ok(data: Any) -> Response:
    return jsonify({"code": 0, "msg": "success", "data": data})


def _json_body() -> Any:
    """Request JSON whatever the Content-Type (lark-oapi's token call sends none, §5.1)."""
    return request.get_json(force=True, silent=True)


def build_app(sim: FeishuSimulator) -> Flask:
    from bot.sim.feishu import SimUsageError

    app = Flask("feishu_sim")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # Oversize uploads must reach the handler so they get Feishu's 234006, not a bare 413.
    app.config["MAX_CONTENT_LENGTH"] = 2 * max(sim.file_limit, sim.image_limit) + (1 << 20)

    def open_api(auth: bool = True) -> Callable[[View], View]:
        def wrap(fn: View) -> View:
            @functools.wraps(fn)
            def inner(*args: Any, **kwargs: Any) -> Any:
                try:
                    fault = sim.maybe_fault()
                    if fault is not None:
                        raise fault
                    if auth:
                        sim.authenticate(request.headers.get("Authorization"))
                    return fn(*args, **kwargs)
                except ApiError as err:
                    return _envelope_error(err)

            return inner

        return wrap

    @app.before_request
    def _log_id() -> None:
        g.log_id = ev.new_log_id()

    @app.after_request
    def _stamp(resp: Response) -> Response:
        resp.headers["X-Tt-Logid"] = g.get("log_id") or ev.new_log_id()
        resp.headers["X-Request-Id"] = g.get("log_id", "")
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if request.path.startswith("/open-apis/"):
            if exc.code == 413:
                return _envelope_error(ApiError(UPLOAD_TOO_LARGE, "request body too large"))
            resp = jsonify({"code": exc.code, "msg": f"{exc.code} {exc.name}".lower()})
            resp.status_code = exc.code or 500
            return resp
        resp = jsonify({"error": exc.description or exc.name})
        resp.status_code = exc.code or 500
        return resp

    @app.errorhandler(SimUsageError)
    def _usage(exc: SimUsageError) -> Any:
        return jsonify({"error": str(exc)}), 400

    # --- Open API ----------------------------------------------------------------------------------

    @app.post("/open-apis/auth/v3/tenant_access_token/internal")
    def token() -> Any:
        try:
            return jsonify(sim.issue_token(_json_body()))
        except ApiError as err:
            return jsonify({"code": err.code, "msg": err.msg}), err.status

    @app.get("/open-apis/bot/v3/info")
    @open_api()
    def bot_info() -> Any:
        return jsonify(sim.bot_info())

    @app.post("/open-apis/im/v1/messages")
    @open_api()
    def create_message() -> Any:
        return _ok(sim.create_message(request.args.get("receive_id_type"), _json_body()))

    @app.post("/open-apis/im/v1/messages/<message_id>/reply")
    @open_api()
    def reply(message_id: str) -> Any:
        return _ok(sim.reply(message_id, _json_body()))

    @app.patch("/open-apis/im/v1/messages/<message_id>")
    @open_api()
    def patch(message_id: str) -> Any:
        return _ok(sim.patch_message(message_id, _json_body()))

    @app.get("/open-apis/im/v1/messages/<message_id>")
    @open_api()
    def get_message(message_id: str) -> Any:
        return _ok(sim.get_message(message_id))

    @app.post("/open-apis/interactive/v1/card/update")
    @open_api()
    def card_update() -> Any:
        return _ok(sim.card_update(_json_body()))

    @app.post("/open-apis/im/v1/files")
    @open_api()
    def upload_file() -> Any:
        return _ok(sim.upload_file(parse_multipart(request.get_data(), request.content_type or "")))

    @app.post("/open-apis/im/v1/images")
    @open_api()
    def upload_image() -> Any:
        return _ok(sim.upload_image(parse_multipart(request.get_data(), request.content_type or "")))

    @app.get("/open-apis/im/v1/messages/<message_id>/resources/<key>")
    @open_api()
    def resource(message_id: str, key: str) -> Any:
        data, ctype, name = sim.resource(message_id, key, request.args.get("type"))
        return _binary(data, ctype, name)

    @app.post("/open-apis/im/v1/messages/<message_id>/reactions")
    @open_api()
    def add_reaction(message_id: str) -> Any:
        return _ok(sim.add_reaction(message_id, _json_body()))

    @app.get("/open-apis/im/v1/messages/<message_id>/reactions")
    @open_api()
    def list_reactions(message_id: str) -> Any:
        return _ok(sim.list_reactions(message_id, request.args.get("reaction_type")))

    @app.delete("/open-apis/im/v1/messages/<message_id>/reactions/<reaction_id>")
    @open_api()
    def delete_reaction(message_id: str, reaction_id: str) -> Any:
        return _ok(sim.delete_reaction(message_id, reaction_id))

    # --- users' side and controls -----------------------------------------------------------------------

    def body() -> JSON:
        data = _json_body()
        if data is None and not request.get_data():
            return {}
        if not isinstance(data, dict):
            raise SimUsageError("request body must be a JSON object")
        return data

    @app.get("/__sim__/health")
    def health() -> Any:
        return jsonify(
            {"ok": True, "app_id": sim.app_id, "bot_open_id": sim.bot_open_id, "webhook_url": sim.webhook_url}
        )

    @app.post("/__sim__/images")
    def sim_upload_image() -> Any:
        b = body()
        data = None
        if b.get("data_b64"):
            try:
                data = base64.b64decode(b["data_b64"], validate=True)
            except (binascii.Error, ValueError):
                raise SimUsageError("data_b64 is not valid base64") from None
        return jsonify(
            sim.upload_user_image(data, width=int(b.get("width", 640)), height=int(b.get("height", 480)))
        )

    @app.get("/__sim__/images/<key>")
    def sim_image(key: str) -> Any:
        im = sim.image(key)
        return Response(im.data, content_type=im.content_type)

    @app.get("/__sim__/files")
    def sim_files() -> Any:
        return jsonify({"files": sim.files()})

    @app.get("/__sim__/files/<key>")
    def sim_file(key: str) -> Any:
        f = sim.file(key)
        return _binary(f.data, f.content_type, f.file_name)

    @app.post("/__sim__/send")
    def sim_send() -> Any:
        b = body()
        unknown = set(b) - SEND_KEYS
        if unknown:
            raise SimUsageError(f"unknown send fields {sorted(unknown)}; allowed: {sorted(SEND_KEYS)}")
        return jsonify(sim.send(**b))

    @app.post("/__sim__/redeliver")
    def sim_redeliver() -> Any:
        b = body()
        return jsonify(sim.redeliver(str(b.get("event_id", "")), timestamp=b.get("timestamp")))

    @app.post("/__sim__/challenge")
    def sim_challenge() -> Any:
        b = body()
        return jsonify(sim.challenge(b.get("challenge"), encrypt=b.get("encrypt"), token=b.get("token")))

    @app.post("/__sim__/click")
    def sim_click() -> Any:
        b = body()
        if "message_id" not in b:
            raise SimUsageError("message_id is required")
        return jsonify(
            sim.click(
                str(b["message_id"]),
                b.get("button", 0),
                user=b.get("user"),
                form_value=b.get("form_value"),
                timestamp=b.get("timestamp"),
            )
        )

    @app.get("/__sim__/messages")
    def sim_messages() -> Any:
        a = request.args
        return jsonify(
            {
                "messages": sim.messages(
                    chat_id=a.get("chat_id"), thread_id=a.get("thread_id"), sender=a.get("sender")
                )
            }
        )

    @app.get("/__sim__/messages/<message_id>")
    def sim_message(message_id: str) -> Any:
        return jsonify(sim.message(message_id))

    @app.get("/__sim__/deliveries")
    def sim_deliveries() -> Any:
        return jsonify({"deliveries": sim.deliveries()})

    @app.get("/__sim__/reactions")
    def sim_reactions() -> Any:
        return jsonify({"reactions": sim.reactions()})

    @app.post("/__sim__/reset")
    def sim_reset() -> Any:
        sim.reset()
        return jsonify({"ok": True})

    @app.post("/__sim__/config")
    def sim_config() -> Any:
        b = body()
        for key, conv in (
            ("webhook_url", lambda v: v or None),
            ("ack_timeout", float),
            ("chat_qps", int),
            ("fault_rate", float),
            ("retry_schedule", lambda v: tuple(float(x) for x in v)),
        ):
            if key in b:
                setattr(sim, key, conv(b[key]))
        return jsonify(
            {
                "webhook_url": sim.webhook_url,
                "ack_timeout": sim.ack_timeout,
                "chat_qps": sim.chat_qps,
                "fault_rate": sim.fault_rate,
                "retry_schedule": list(sim.retry_schedule),
            }
        )

    @app.post("/__sim__/faults")
    def sim_faults() -> Any:
        b = body()
        sim.inject_faults(int(b.get("count", 1)), int(b.get("status", 429)))
        return jsonify({"ok": True})

    @app.post("/__sim__/expire-tokens")
    def sim_expire_tokens() -> Any:
        sim.expire_tokens()
        return jsonify({"ok": True})

    @app.post("/__sim__/clock")
    def sim_clock() -> Any:
        sim.advance_clock(float(body().get("advance", 0)))
        return jsonify({"ok": True})

    @app.post("/__sim__/wait-idle")
    def sim_wait_idle() -> Any:
        return jsonify({"idle": sim.wait_idle(float(body().get("timeout", 30)))})

    return app


def _binary(data: bytes, content_type: str, filename: str) -> Response:
    """A download with Content-Disposition and single-range support (Feishu serves Range, §5.7)."""
    from urllib.parse import quote

    rng = request.range
    status, chunk, extra = 200, data, {}
    if rng is not None and rng.units == "bytes":
        span = rng.range_for_length(len(data))
        if span is None:
            resp = Response(status=416)
            resp.headers["Content-Range"] = f"bytes */{len(data)}"
            return resp
        start, stop = span
        status, chunk = 206, data[start:stop]
        extra["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
    resp = Response(chunk, status=status, content_type=content_type)
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "")
    resp.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    )
    resp.headers["Accept-Ranges"] = "bytes"
    resp.headers.update(extra)
    return resp
