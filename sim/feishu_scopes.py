"""The simulated app's permission scopes: what it asked for, what the tenant granted, and the refusals.

Real Feishu keeps, per app, the scopes the developer added in the console and whether the tenant
granted them (a scope is granted once a version that adds it is published and, for sensitive
ones, approved by the tenant admin). Two things show it to the bot:

* ``GET /open-apis/application/v6/scopes`` (open.feishu.cn "查询租户授权状态", tenant token, no
  scope of its own): ``{"code": 0, "data": {"scopes": [{"scope_name", "grant_status": 1|2,
  "scope_type"}]}}``, 1 = granted, 2 = not granted; a scope never added is absent. This is what
  ``seedance-bot doctor`` reads.
* An Open API call whose scopes the app lacks is refused before it does anything, with
  **99991672** (feishu-api.md §5.9: "app scope not enabled"), HTTP 400, and the scopes that would
  do in ``error.permission_violations`` [INF: the message wording and the HTTP status].

By default every scope a fully set-up VideoBot uses is granted, so nothing changes for the other
tests. Controls (not Feishu's): ``GET /__sim__/scopes``; ``POST /__sim__/scopes`` with any of
``{"granted": [...], "pending": [...], "revoke": [...], "grant": [...]}`` (``granted``/``pending``
replace the lists: pending = added but not granted); in Python ``sim.scopes.configure(...)``;
``seedance-bot sim feishu --without-scope SCOPE``.

Events are not withheld for a missing event scope (``im:message.group_at_msg:readonly``,
``im:message.p2p_msg:readonly``): the users' side delivers them regardless. Refusals are not in
the request log (GET /__sim__/requests) and take no injected faults: they happen before the route.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from sim import feishu_events as ev
from sim.feishu_openapi import ApiError
from sim.feishu_store import SimUsageError

if TYPE_CHECKING:
    from sim.feishu_store import FeishuState

JSON = dict[str, Any]

SCOPE_MISSING = 99991672
GRANTED, NOT_GRANTED = 1, 2

DEFAULT_SCOPES: tuple[str, ...] = (
    "im:message.group_at_msg:readonly",  # events: group messages that @mention the bot
    "im:message.p2p_msg:readonly",  # events: direct messages to the bot
    "im:message:send_as_bot",  # send, reply, PATCH cards
    "im:message:readonly",  # read messages, download their photos
    "im:resource",  # upload videos and images
    "im:message.reactions:write_only",  # reactions
    "im:message.group_msg",  # read group messages (a reply to a photo in a group)
)
"""What a fully set-up VideoBot has, all granted: the simulator's default."""

_SEND = ("im:message", "im:message:send_as_bot")
_READ = ("im:message", "im:message:readonly")
_RESOURCE = ("im:message", "im:message:readonly", "im:message.history:readonly")
_UPLOAD = ("im:resource", "im:resource:upload")
_REACT = ("im:message", "im:message.reactions:write_only")

_RULES: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("POST", re.compile(r"/open-apis/im/v1/messages"), _SEND),
    ("POST", re.compile(r"/open-apis/im/v1/messages/[^/]+/reply"), _SEND),
    ("PATCH", re.compile(r"/open-apis/im/v1/messages/[^/]+"), _SEND),
    ("GET", re.compile(r"/open-apis/im/v1/messages/[^/]+"), _READ),
    ("GET", re.compile(r"/open-apis/im/v1/messages/[^/]+/resources/[^/]+"), _RESOURCE),
    ("POST", re.compile(r"/open-apis/im/v1/(?:files|images)"), _UPLOAD),
    ("POST", re.compile(r"/open-apis/im/v1/messages/[^/]+/reactions"), _REACT),
    ("DELETE", re.compile(r"/open-apis/im/v1/messages/[^/]+/reactions/[^/]+"), _REACT),
)
"""(method, path, any one of these scopes) for the Open API routes the bot calls (the API docs' 权限要求)."""


def required_scopes(method: str, path: str) -> tuple[str, ...]:
    """The scopes of which a request needs one; () when the route needs none (token, bot info, …)."""
    for rule_method, pattern, scopes in _RULES:
        if method == rule_method and pattern.fullmatch(path):
            return scopes
    return ()


class ScopeGrants:
    """The app's added scopes and which of them the tenant granted. Thread-safe."""

    def __init__(self, granted: Iterable[str] = DEFAULT_SCOPES, pending: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._granted = set(granted)
        self._pending = set(pending) - self._granted

    def configure(self, *, granted: Iterable[str] | None = None, pending: Iterable[str] | None = None,
                  revoke: Iterable[str] = (), grant: Iterable[str] = ()) -> None:
        """Replace the lists and/or remove (`revoke`: not even added) or grant single scopes.

        A scope put in `pending` is no longer granted (unless `granted` lists it too)."""
        with self._lock:
            if granted is not None:
                self._granted = set(granted)
            if pending is not None:
                self._pending = set(pending)
                if granted is None:
                    self._granted -= self._pending
            for scope in revoke:
                self._granted.discard(scope)
                self._pending.discard(scope)
            for scope in grant:
                self._granted.add(scope)
                self._pending.discard(scope)
            self._pending -= self._granted

    def has_any(self, scopes: Iterable[str]) -> bool:
        with self._lock:
            return any(s in self._granted for s in scopes)

    def listing(self) -> list[JSON]:
        """The `scopes` of GET /open-apis/application/v6/scopes."""
        with self._lock:
            rows = [(s, GRANTED) for s in self._granted] + [(s, NOT_GRANTED) for s in self._pending]
        return [{"scope_name": s, "grant_status": g, "scope_type": "tenant"} for s, g in sorted(rows)]

    def state(self) -> JSON:
        with self._lock:
            return {"granted": sorted(self._granted), "pending": sorted(self._pending)}


def _strings(body: JSON, key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise SimUsageError(f"{key} must be a list of scope names")
    return value


def scopes_blueprint(sim: FeishuState, grants: ScopeGrants) -> Blueprint:
    """The scope listing route (Feishu's), the 99991672 check before every route, and the controls."""
    bp = Blueprint("feishu_scopes", __name__)

    def envelope(code: int, msg: str, status: int = 400, **error: Any) -> Response:
        resp = jsonify({"code": code, "msg": msg, "error": {"log_id": ev.new_log_id(), **error}})
        resp.status_code = status
        return resp

    @bp.before_app_request
    def check_scope() -> Response | None:
        needed = required_scopes(request.method, request.path)
        if not needed or grants.has_any(needed):
            return None
        try:  # a bad token is refused first, by the route (99991663), as the gateway does
            sim.authenticate(request.headers.get("Authorization"))
        except ApiError:
            return None
        listed = ", ".join(needed)
        return envelope(
            SCOPE_MISSING,
            f"Access denied. One of the following scopes is required: [{listed}]. "
            f"Apply for one of them in the developer console (Permissions & Scopes), then publish a version.",
            permission_violations=[{"type": "action_scope_required", "subject": s} for s in needed],
        )

    @bp.get("/open-apis/application/v6/scopes")
    def list_scopes() -> Response:
        try:
            sim.authenticate(request.headers.get("Authorization"))
        except ApiError as err:
            return envelope(err.code, err.msg, err.status)
        return jsonify({"code": 0, "msg": "success", "data": {"scopes": grants.listing()}})

    @bp.route("/__sim__/scopes", methods=["GET", "POST"])
    def control() -> Response:
        if request.method == "POST":
            body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict):
                raise SimUsageError("request body must be a JSON object")
            unknown = set(body) - {"granted", "pending", "revoke", "grant"}
            if unknown:
                raise SimUsageError(f"unknown keys {sorted(unknown)}; allowed: granted, pending, revoke, grant")
            grants.configure(granted=_strings(body, "granted"), pending=_strings(body, "pending"),
                             revoke=_strings(body, "revoke") or (), grant=_strings(body, "grant") or ())
        return jsonify(grants.state())

    return bp
