"""HTTP face of the Feishu simulator: Open API routes (Feishu envelopes) and `/__sim__` controls.

Thin on purpose: every rule lives in `FeishuUsers` (and its `FeishuState`) / `feishu_openapi`, so
the Python API that tests use and the HTTP API that the bot (and a developer's curl) uses behave
identically. The one
HTTP-only concern is `open_api(op)`: per-operation faults before/after the work
(`sim.feishu_faults`), the per-app limit, and the request log behind GET /__sim__/requests.
"""

from __future__ import annotations

import base64
import binascii
import functools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sim import feishu_events as ev
from sim.feishu_faults import ANY, Fault, make_fault
from sim.feishu_openapi import UPLOAD_TOO_LARGE, ApiError, parse_multipart
from sim.feishu_store import SimUsageError
from sim.feishu_users import FeishuUsers
from sim.playground import playground_blueprint

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
        "files",
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


def _token_error(err: ApiError) -> Response:
    """Errors of tenant_access_token/internal: like its success, no `data`/`error` wrapper (§5.1)."""
    resp = jsonify({"code": err.code, "msg": err.msg})
    resp.status_code = err.status
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp


# Request-body fields copied into the request log (GET /__sim__/requests).
_LOGGED_FIELDS = ("uuid", "msg_type", "reply_in_thread", "receive_id")
_JSON_OPS = frozenset({"send", "reply", "patch", "card_update", "reaction"})


def _request_entry(op: str, view_args: dict[str, Any]) -> JSON:
    entry: JSON = {
        "op": op, "method": request.method, "path": request.path, "time": time.time(),
        "log_id": g.get("log_id", ""), "message_id": view_args.get("message_id"),
    }
    if op == "send":
        entry["receive_id_type"] = request.args.get("receive_id_type")
    if op == "resource":
        entry.update(key=view_args.get("key"), type=request.args.get("type"))
    if op in _JSON_OPS and request.method in ("POST", "PATCH"):
        body = _json_body()
        if isinstance(body, dict):
            entry.update({k: body[k] for k in _LOGGED_FIELDS if k in body})
            if op == "reaction" and isinstance(body.get("reaction_type"), dict):
                entry["emoji_type"] = body["reaction_type"].get("emoji_type")
    return entry


def _ok(data: Any) -> Response:
    return jsonify({"code": 0, "msg": "success", "data": data})


def _json_body() -> Any:
    """Request JSON whatever the Content-Type (lark-oapi's token call sends none, §5.1)."""
    return request.get_json(force=True, silent=True)


def build_app(sim: FeishuUsers) -> Flask:
    app = Flask("feishu_sim")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # Oversize uploads must reach the handler so they get Feishu's 234006, not a bare 413.
    app.config["MAX_CONTENT_LENGTH"] = 2 * max(sim.file_limit, sim.image_limit) + (1 << 20)

    def open_api(op: str, auth: bool = True) -> Callable[[View], View]:
        """Faults (before/after), auth, the per-app limit and the request log around one route."""

        def wrap(fn: View) -> View:
            @functools.wraps(fn)
            def inner(*args: Any, **kwargs: Any) -> Any:
                outcome: JSON = {}
                g.outcome = outcome
                entry = _request_entry(op, kwargs)
                fault: Fault | None = None
                try:
                    fault = sim.take_fault(op, "before", path=request.path, message_id=kwargs.get("message_id"))
                    if fault is not None:
                        raise sim.fault_error(fault)
                    if auth:
                        sim.authenticate(request.headers.get("Authorization"))
                    sim.app_rate_limit(op)
                    resp = app.make_response(fn(*args, **kwargs))
                    fault = sim.take_fault(
                        op, "after", path=request.path,
                        message_id=outcome.get("message_id") or kwargs.get("message_id"),
                    )
                    if fault is not None:  # the work is done; only the answer is lost
                        raise sim.fault_error(fault)
                    entry["code"] = 0
                except ApiError as err:
                    resp = _token_error(err) if op == "token" else _envelope_error(err)
                    entry["code"] = err.code
                entry.update(
                    status=resp.status_code,
                    fault=None if fault is None else {"status": fault.status, "when": fault.when,
                                                      "source": fault.source},
                    chat_id=outcome.get("chat_id"),
                    result_message_id=outcome.get("message_id"),
                    created=bool(outcome.get("created")),
                    deduplicated=bool(outcome.get("deduplicated")),
                )
                for key in ("file_key", "image_key", "reaction_id"):
                    if key in outcome:
                        entry[key] = outcome[key]
                sim.record_request(entry)
                return resp

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
    @open_api("token", auth=False)
    def token() -> Any:
        return jsonify(sim.issue_token(_json_body()))

    @app.get("/open-apis/bot/v3/info")
    @open_api("bot_info")
    def bot_info() -> Any:
        return jsonify(sim.bot_info())

    @app.post("/open-apis/im/v1/messages")
    @open_api("send")
    def create_message() -> Any:
        return _ok(sim.create_message(request.args.get("receive_id_type"), _json_body(), g.outcome))

    @app.post("/open-apis/im/v1/messages/<message_id>/reply")
    @open_api("reply")
    def reply(message_id: str) -> Any:
        return _ok(sim.reply(message_id, _json_body(), g.outcome))

    @app.patch("/open-apis/im/v1/messages/<message_id>")
    @open_api("patch")
    def patch(message_id: str) -> Any:
        data = sim.patch_message(message_id, _json_body())
        g.outcome["updated"] = True
        return _ok(data)

    @app.get("/open-apis/im/v1/messages/<message_id>")
    @open_api("get_message")
    def get_message(message_id: str) -> Any:
        return _ok(sim.get_message(message_id))

    @app.post("/open-apis/interactive/v1/card/update")
    @open_api("card_update")
    def card_update() -> Any:
        return _ok(sim.card_update(_json_body()))

    @app.post("/open-apis/im/v1/files")
    @open_api("upload_file")
    def upload_file() -> Any:
        data = sim.upload_file(parse_multipart(request.get_data(), request.content_type or ""))
        g.outcome["file_key"] = data["file_key"]
        return _ok(data)

    @app.post("/open-apis/im/v1/images")
    @open_api("upload_image")
    def upload_image() -> Any:
        data = sim.upload_image(parse_multipart(request.get_data(), request.content_type or ""))
        g.outcome["image_key"] = data["image_key"]
        return _ok(data)

    @app.get("/open-apis/im/v1/messages/<message_id>/resources/<key>")
    @open_api("resource")
    def resource(message_id: str, key: str) -> Any:
        data, ctype, name = sim.resource(message_id, key, request.args.get("type"))
        return _binary(data, ctype, name)

    @app.post("/open-apis/im/v1/messages/<message_id>/reactions")
    @open_api("reaction")
    def add_reaction(message_id: str) -> Any:
        data = sim.add_reaction(message_id, _json_body())
        g.outcome["reaction_id"] = data["reaction_id"]
        return _ok(data)

    @app.get("/open-apis/im/v1/messages/<message_id>/reactions")
    @open_api("reaction")
    def list_reactions(message_id: str) -> Any:
        return _ok(sim.list_reactions(message_id, request.args.get("reaction_type")))

    @app.delete("/open-apis/im/v1/messages/<message_id>/reactions/<reaction_id>")
    @open_api("reaction")
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

    @app.post("/__sim__/files")
    def sim_upload_file() -> Any:
        """A video, voice message or file a user is about to send: `data_b64`, else one made here
        (`kind` video: an mp4 of `seconds`, `width`×`height`, `fps`; audio: Opus/MP3/WAV `format`)."""
        # Deferred: PyAV (FFmpeg) is heavy and only made-up videos and voice messages need it.
        from sim.media import user_audio_bytes, user_video_bytes

        b = body()
        kind = str(b.get("kind") or "file")
        fmt = str(b.get("format", "opus"))
        if b.get("data_b64"):
            try:
                data = base64.b64decode(b["data_b64"], validate=True)
            except (binascii.Error, ValueError):
                raise SimUsageError("data_b64 is not valid base64") from None
        elif kind == "video":
            data = user_video_bytes(float(b.get("seconds", 3.0)), int(b.get("width", 864)),
                                    int(b.get("height", 496)), int(b.get("fps", 24)))
        elif kind == "audio":
            data = user_audio_bytes(float(b.get("seconds", 3.0)), fmt)
        else:
            raise SimUsageError("data_b64 is required for a file")
        default_name = {"video": "clip.mp4", "audio": "voice." + ("ogg" if fmt == "opus" else fmt)}
        name = str(b.get("file_name") or default_name.get(kind, "file.bin"))
        duration = b.get("duration_ms")
        return jsonify(sim.upload_user_file(data, file_name=name, kind=kind,
                                            duration_ms=int(duration) if duration is not None else None))

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

    config_keys: dict[str, Callable[[Any], Any]] = {
        "webhook_url": lambda v: v or None,
        "ack_timeout": float,
        "chat_qps": int,
        "patch_qps": int,
        "app_qps": int,
        "fault_rate": float,
        "fault_statuses": lambda v: tuple(int(x) for x in v),
        "ratelimit_reset": float,
        "retry_schedule": lambda v: tuple(float(x) for x in v),
    }

    @app.route("/__sim__/config", methods=["GET", "POST"])
    def sim_config() -> Any:
        if request.method == "POST":
            b = body()
            unknown = set(b) - set(config_keys)
            if unknown:
                raise SimUsageError(f"unknown settings {sorted(unknown)}; allowed: {sorted(config_keys)}")
            try:
                converted = {k: config_keys[k](v) for k, v in b.items()}
            except (TypeError, ValueError) as exc:
                raise SimUsageError(f"bad setting: {exc}") from None
            for key, value in converted.items():
                setattr(sim, key, value)
        out: JSON = {}
        for key in config_keys:
            value = getattr(sim, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        out["faults"] = sim.fault_state()["counts"]  # read-only: injected faults per op/status
        return jsonify(out)

    @app.route("/__sim__/faults", methods=["GET", "POST", "DELETE"])
    def sim_faults() -> Any:
        if request.method == "DELETE":
            sim.clear_faults()
        elif request.method == "POST":
            data = _json_body()
            specs = data if isinstance(data, list) else [data if data is not None else {}]
            faults = []
            for spec in specs:
                if not isinstance(spec, dict):
                    raise SimUsageError("a fault is a JSON object (or send a list of them)")
                extra = set(spec) - {"op", "status", "count", "rate", "when", "code"}
                if extra:
                    raise SimUsageError(f"unknown fault fields {sorted(extra)}")
                try:
                    faults.append(make_fault(
                        spec.get("op", ANY), spec.get("status", 429), when=spec.get("when", "before"),
                        count=spec.get("count"), rate=spec.get("rate"), code=spec.get("code"),
                    ))
                except (TypeError, ValueError) as exc:
                    raise SimUsageError(str(exc)) from None
            sim.add_faults(faults)
        return jsonify({"ok": True, **sim.fault_state()})

    @app.get("/__sim__/requests")
    def sim_requests() -> Any:
        ops = [x for v in request.args.getlist("op") for x in v.split(",") if x]
        return jsonify({"requests": sim.requests_log(ops or None)})

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

    app.register_blueprint(playground_blueprint(sim))  # /playground: the chat in a browser
    return app


def _binary(data: bytes, content_type: str, filename: str) -> Response:
    """A download with Content-Disposition and single-range support (Feishu serves Range, §5.7)."""
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
