"""The web role's Flask app factory: verify, deduplicate, hand off through Redis, answer in ms.

/metrics: with BOT_METRICS_TOKEN set it needs ``Authorization: Bearer <token>`` (401
otherwise). With BOT_METRICS_PORT set it is not served here at all but on that port:
by `bot.web.server.InProcessServer` under ``serve``, and by the gunicorn master
(``when_ready`` in deploy/gunicorn.conf.py) under ``web``.

Nothing here talks to Seedance, downloads files or waits on locks: Feishu gives
a webhook 3 s before it redelivers (feishu-api.md §3), and peers that did slow
work in the request billed users twice. Everything is built inside
`create_app`, so tests make as many independent apps as they like.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from redis import Redis, RedisError
from werkzeug.exceptions import RequestEntityTooLarge

from bot.config import MissingSettingError, Settings
from bot.store.connection import connect
from bot.store.ingress import Ingress
from bot.store.keys import Keys

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

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class WebMetrics:
    """Prometheus metrics of one app, in its own registry so tests can build many apps."""

    registry: CollectorRegistry
    events: Counter
    rejected: Counter
    errors: Counter
    deferred: Counter
    callbacks: Counter
    latency: Histogram

    @classmethod
    def create(cls) -> WebMetrics:
        reg = CollectorRegistry(auto_describe=True)
        return cls(
            registry=reg,
            events=Counter(
                "bot_feishu_events", "Feishu deliveries answered 200, by outcome (accepted, duplicate, "
                "dropped: sent by a bot, unaddressed: a group message not for the bot, ignored: an event "
                "type not handled, refused: a card click refused with a toast, challenge).",
                ["outcome"], registry=reg),
            rejected=Counter(
                "bot_feishu_rejected", "Requests refused with 4xx before anything was enqueued, by reason.",
                ["reason"], registry=reg),
            errors=Counter(
                "bot_web_errors", "Our own failures answered 503 (Redis down), by route.",
                ["route"], registry=reg),
            deferred=Counter(
                "bot_feishu_deferred", "Feishu deliveries answered 503 so Feishu redelivers later, by reason "
                "(inbox_full, redis_oom, redis_error).",
                ["reason"], registry=reg),
            callbacks=Counter(
                "bot_ark_callbacks", "Ark callback pushes, by outcome (known, unknown).",
                ["outcome"], registry=reg),
            latency=Histogram(
                "bot_web_handling_seconds", "Time from request to response inside the app, by route.",
                ["route"], buckets=_LATENCY_BUCKETS, registry=reg),
        )


def _quiet_lark_logger() -> None:
    """lark-oapi's logger writes to its own stdout handler, unredacted; route it through ours.

    lark-oapi adds a StreamHandler to the "Lark" logger when imported, which would print
    request details (and, at DEBUG, whole bodies) past the secret redaction of
    `bot.logs`. Drop it, let records propagate to the root handler, and never go below ERROR.
    """
    from bot.logs import detach_lark_handlers

    lark_logger = logging.getLogger("Lark")
    detach_lark_handlers(lark_logger)
    if lark_logger.level < logging.ERROR:
        lark_logger.setLevel(logging.ERROR)


def _authorized(token: str, header: str | None) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; always true without a token."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("latin-1", "replace"), token.encode("utf-8"))


def metrics_payload(registry: CollectorRegistry, token: str, authorization: str | None) -> tuple[int, bytes]:
    """(status, body) of a /metrics request: 401 without the bearer token when one is set."""
    if not _authorized(token, authorization):
        return 401, b"unauthorized\n"
    return 200, generate_latest(registry)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def metrics_wsgi_app(app: Flask) -> WSGIApp:
    """A WSGI app serving only GET /metrics of `app` (for BOT_METRICS_PORT), nothing else."""
    ext = app.extensions["seedance_bot"]
    registry: CollectorRegistry = ext["metrics"].registry
    token = ext["settings"].metrics_token.get_secret_value()

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "GET")])
            return [b"method not allowed\n"]
        status, body = metrics_payload(registry, token, environ.get("HTTP_AUTHORIZATION"))
        if status == 401:
            start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                ("WWW-Authenticate", "Bearer")])
            return [body]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


def create_app(settings: Settings, *, redis: Redis | None = None) -> Flask:
    """Build the webhook app; `redis` defaults to a client on `settings.redis_url` with short timeouts."""
    from bot.web.ark_callback import ark_blueprint
    from bot.web.feishu_events import feishu_blueprint

    if not (settings.feishu_encrypt_key.get_secret_value()
            or settings.feishu_verification_token.get_secret_value()):
        raise MissingSettingError(FEISHU_AUTH_HELP)
    if not settings.feishu_encrypt_key.get_secret_value() and not settings.feishu_allow_token_only:
        raise MissingSettingError(TOKEN_ONLY_HELP)
    if redis is None:
        if not settings.redis_url:
            raise MissingSettingError(REDIS_URL_HELP)
        # Short timeouts and one retry: a 503 within a second beats Feishu's 3 s deadline.
        redis = connect(settings.redis_url, socket_timeout=1.0, connect_timeout=0.5, retries=1)
    _quiet_lark_logger()

    client = redis
    ingress = Ingress(client, Keys(settings.redis_prefix), inbox_max=settings.inbox_max)
    metrics = WebMetrics.create()
    from bot.engine.metrics import EngineCollector

    metrics.registry.register(EngineCollector(client, settings.redis_prefix))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["seedance_bot"] = {"settings": settings, "ingress": ingress, "metrics": metrics}
    app.register_blueprint(feishu_blueprint(settings, ingress, metrics))
    app.register_blueprint(ark_blueprint(ingress, metrics))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: RequestEntityTooLarge) -> ResponseReturnValue:
        metrics.rejected.labels("too_large").inc()
        return jsonify(msg="request body too large"), 413

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        """Liveness + readiness: without Redis this process can only answer 503."""
        try:
            client.ping()
        except RedisError as exc:
            log.warning("healthz: redis unreachable: %s", type(exc).__name__)
            return jsonify(ok=False, error="redis unreachable"), 503
        return jsonify(ok=True)

    if not settings.metrics_port:
        # With BOT_METRICS_PORT set, /metrics lives on that port only (bot/web/server.py).
        metrics_token = settings.metrics_token.get_secret_value()

        @app.get("/metrics")
        def metrics_view() -> ResponseReturnValue:
            status, body = metrics_payload(metrics.registry, metrics_token, request.headers.get("Authorization"))
            if status == 401:
                return "unauthorized\n", 401, {"WWW-Authenticate": "Bearer", "Content-Type": "text/plain"}
            return body, 200, {"Content-Type": CONTENT_TYPE_LATEST}

    return app
