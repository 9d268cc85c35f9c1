"""The web role's Flask app factory: verify, deduplicate, hand off through Redis, answer in ms.

With FEISHU_CONNECTION=websocket the app has no POST /feishu/events (events arrive over the
long connection, `bot.web.longconn`); it still serves /healthz, /metrics and Ark's callbacks.

/metrics: with BOT_METRICS_TOKEN set it needs ``Authorization: Bearer <token>`` (401
otherwise). With BOT_METRICS_PORT set it is not served here at all but on that port:
by `bot.web.server.InProcessServer` under ``serve``, and by the gunicorn master
(``when_ready`` in deploy/gunicorn.conf.py) under ``web``. It shows the app's webhook metrics,
the process's own (`bot.metrics`: under ``serve`` the worker's and scheduler's too) and the
engine gauges read from Redis; under gunicorn, the sum over every process (`bot.metrics`).

Nothing here talks to Seedance, downloads files or waits on locks: Feishu gives
a webhook 3 s before it redelivers (feishu-api.md §3), and peers that did slow
work in the request billed users twice. Everything is built inside
`create_app`, so tests make as many independent apps as they like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from werkzeug.exceptions import RequestEntityTooLarge

from bot import metrics as process_metrics
from bot.config import MissingSettingError, Settings
from bot.engine.metrics import EngineCollector
from bot.health import Liveness, liveness_answer, readiness_answer
from bot.logs import detach_lark_handlers
from bot.metrics import ProcessMetrics
from bot.store.connection import Client, StoreError, connect
from bot.store.ingress import Ingress
from bot.store.keys import Keys
from bot.web.ark_callback import ark_blueprint
from bot.web.feishu_events import feishu_blueprint
from bot.web.media import media_blueprint
from bot.web.metrics import WebMetrics

log = logging.getLogger(__name__)

REDIS_URL_HELP = (
    "REDIS_URL is not set: the web role hands every event to the workers through Redis. "
    "Start a Redis (appendonly yes, maxmemory-policy noeviction) and export e.g. "
    "REDIS_URL=redis://127.0.0.1:6379/0."
)
FEISHU_AUTH_HELP = (
    "FEISHU_ENCRYPT_KEY and FEISHU_VERIFICATION_TOKEN are both empty: the webhook would accept "
    "anyone's events. Copy them from the Feishu developer console (Events & Callbacks → Encryption)."
)
TOKEN_ONLY_HELP = (
    "FEISHU_VERIFICATION_TOKEN is set but FEISHU_ENCRYPT_KEY is empty, so Feishu would send events "
    "unsigned and unencrypted and anyone who learns the token could forge chat messages and card "
    "clicks: set FEISHU_ENCRYPT_KEY (Feishu developer console → Events & Callbacks → Encryption "
    "strategy → Encrypt Key), or set FEISHU_ALLOW_TOKEN_ONLY=true to accept that risk."
)



def _quiet_lark_logger() -> None:
    """lark-oapi's logger writes to its own stdout handler, unredacted; route it through ours.

    lark-oapi adds a StreamHandler to the "Lark" logger when imported, which would print
    request details (and, at DEBUG, whole bodies) past the secret redaction of
    `bot.logs`. Drop it, let records propagate to the root handler, and never go below ERROR.
    """
    lark_logger = logging.getLogger("Lark")
    detach_lark_handlers(lark_logger)
    if lark_logger.level < logging.ERROR:
        lark_logger.setLevel(logging.ERROR)


def metrics_payload(registry: CollectorRegistry, token: str, authorization: str | None) -> tuple[int, bytes]:
    """(status, body) of a /metrics request: 401 without the bearer token when one is set."""
    return process_metrics.payload(registry, token, authorization)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def metrics_wsgi_app(app: Flask) -> WSGIApp:
    """A WSGI app serving only GET /metrics of `app` (for BOT_METRICS_PORT), nothing else."""
    ext = app.extensions["seedance_bot"]
    return process_metrics.wsgi_app(ext["metrics"].registry, ext["settings"].metrics_token.get_secret_value())


def create_app(settings: Settings, *, redis: Client | None = None, liveness: Liveness | None = None,
               metrics: ProcessMetrics | None = None) -> Flask:
    """Build the webhook app; `redis` defaults to a client on `settings.redis_url` with short timeouts.

    `liveness`: the loops of the process the app runs in (`serve`: its worker and scheduler),
    reported by ``/livez``; without it ``/livez`` only proves that the app answers.
    `metrics`: the process's own metrics, which /metrics shows beside the app's (`serve`: the one
    object its engine and clients record into, `bot.runtime`); without it a private one, or none
    in multiprocess mode (`WebMetrics.create`). Under gunicorn, build one app per process (the
    master's, `bot.cli.roles.web`): see `bot.web.metrics`.
    """
    # Over the long connection (FEISHU_CONNECTION=websocket, bot.web.longconn) no event reaches
    # this app: it serves no webhook, so it needs neither the Encrypt Key nor the token.
    webhook = settings.feishu_connection == "webhook"
    if webhook and not (settings.feishu_encrypt_key.get_secret_value()
                        or settings.feishu_verification_token.get_secret_value()):
        raise MissingSettingError(FEISHU_AUTH_HELP)
    if webhook and not settings.feishu_encrypt_key.get_secret_value() and not settings.feishu_allow_token_only:
        raise MissingSettingError(TOKEN_ONLY_HELP)
    if redis is None:
        if not settings.redis_url:
            raise MissingSettingError(REDIS_URL_HELP)
        # Short timeouts and one retry: a 503 within a second beats Feishu's 3 s deadline.
        redis = connect(settings.redis_url, socket_timeout=1.0, connect_timeout=0.5, retries=1)
    _quiet_lark_logger()

    client = redis
    ingress = Ingress(client, Keys(settings.redis_prefix), inbox_max=settings.inbox_max)
    web_metrics = WebMetrics.create(metrics)
    web_metrics.registry.register(EngineCollector(client, settings.redis_prefix))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["seedance_bot"] = {"settings": settings, "ingress": ingress, "metrics": web_metrics}
    if webhook:
        app.register_blueprint(feishu_blueprint(settings, ingress, web_metrics))
    app.register_blueprint(ark_blueprint(ingress, web_metrics))
    app.register_blueprint(media_blueprint(settings))  # chat videos/voice for Ark (Seedance 2.0 references)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: RequestEntityTooLarge) -> ResponseReturnValue:
        web_metrics.rejected.labels("too_large").inc()
        return jsonify(msg="request body too large"), 413

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        """Redis answers (kept for existing checks; probes use /livez and /readyz)."""
        try:
            client.ping()
        except StoreError as exc:
            log.warning("healthz: redis unreachable: %s", type(exc).__name__)
            return jsonify(ok=False, error="redis unreachable"), 503
        return jsonify(ok=True)

    @app.get("/livez")
    def livez() -> ResponseReturnValue:
        """Liveness: this process answers and its loops make progress. Never looks at Redis."""
        status, body = liveness_answer(liveness)
        return jsonify(body), status

    def ready() -> str | None:
        try:
            return None if ingress.has_room() else "inbox full"
        except StoreError as exc:
            log.warning("readyz: redis unreachable: %s", type(exc).__name__)
            return "redis unreachable"

    @app.get("/readyz")
    def readyz() -> ResponseReturnValue:
        """Readiness: a Feishu event would be accepted and enqueued now (Redis up, inbox below its bound)."""
        status, body = readiness_answer(ready)
        return jsonify(body), status

    if not settings.metrics_port:
        # With BOT_METRICS_PORT set, /metrics lives on that port only (bot/web/server.py).
        metrics_token = settings.metrics_token.get_secret_value()

        @app.get("/metrics")
        def metrics_view() -> ResponseReturnValue:
            status, body = metrics_payload(web_metrics.registry, metrics_token, request.headers.get("Authorization"))
            if status == 401:
                return "unauthorized\n", 401, {"WWW-Authenticate": "Bearer", "Content-Type": "text/plain"}
            return body, 200, {"Content-Type": CONTENT_TYPE_LATEST}

    return app
