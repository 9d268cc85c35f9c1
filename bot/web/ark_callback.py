"""POST /ark/callback/<secret>: Ark's status push, turned into a hint for the scheduler.

Ark POSTs the task object on every status change (ark-api.md §2.4) and
documents no signature, so the body is not trusted: the per-task secret in the
path says which request it is about, and the scheduler confirms the real state
with its own GET. Known secret → 200 ``{}``; unknown → 404; Redis down → 503
(Ark retries terminal statuses, and the scheduler's slow poll is the safety net).
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from bot.store.connection import StoreError
from bot.store.ingress import Ingress
from bot.web import safe_json

if TYPE_CHECKING:
    from bot.web.metrics import WebMetrics

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64 * 1024
"""A task object is ~1 KB; anything near this cap is not Ark."""

SECRET_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
"""Shape of the secrets the engine issues; others are refused before touching Redis."""


def ark_blueprint(ingress: Ingress, metrics: WebMetrics) -> Blueprint:
    """A fresh blueprint per app, bound to that app's ingress and metrics."""
    bp = Blueprint("ark", __name__)

    @bp.post("/ark/callback/<secret>")
    def callback(secret: str) -> Response:
        started = time.perf_counter()
        try:
            return _handle(secret)
        finally:
            metrics.latency.labels("ark").observe(time.perf_counter() - started)

    def _handle(secret: str) -> Response:
        if not SECRET_RE.fullmatch(secret):
            metrics.callbacks.labels("unknown").inc()
            return _json({"error": "unknown callback"}, 404)
        request.max_content_length = min(MAX_CALLBACK_BYTES, request.max_content_length or MAX_CALLBACK_BYTES)
        body: Any
        try:  # bounded nesting, no RecursionError: the body is not trusted
            body = safe_json.loads(request.get_data(cache=False))
        except safe_json.BadJson:
            body = None  # still a hint that something changed
        try:
            known = ingress.ark_callback(secret, body if isinstance(body, dict) else None)
        except StoreError as exc:
            metrics.errors.labels("ark").inc()
            log.error("ark callback: could not enqueue (%s); answering 503", type(exc).__name__)
            return _json({"error": "temporarily unavailable"}, 503)
        if not known:
            metrics.callbacks.labels("unknown").inc()
            log.info("ark callback: unknown secret")
            return _json({"error": "unknown callback"}, 404)
        metrics.callbacks.labels("known").inc()
        return _json({}, 200)

    return bp


def _json(body: dict[str, Any], status: int) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    return resp
