"""The web role's Flask app factory: verify, deduplicate, hand off through Redis, answer in ms.

Nothing here talks to Seedance, downloads files or waits on locks: Feishu gives
a webhook 3 s before it redelivers (feishu-api.md §3), and peers that did slow
work in the request billed users twice. Everything is built inside
`create_app`, so tests make as many independent apps as they like.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from redis import Redis, RedisError
from werkzeug.exceptions import RequestEntityTooLarge

from bot.config import MissingSettingError, Settings
from bot.redis_conn import connect
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

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class WebMetrics:
    """Prometheus metrics of one app, in its own registry so tests can build many apps."""

    registry: CollectorRegistry
    events: Counter
    rejected: Counter
    errors: Counter
    callbacks: Counter
    latency: Histogram

    @classmethod
    def create(cls) -> WebMetrics:
        reg = CollectorRegistry(auto_describe=True)
        return cls(
            registry=reg,
            events=Counter(
                "bot_feishu_events", "Feishu deliveries answered 200, by outcome "
                "(accepted, duplicate, dropped, ignored, refused, challenge).",
                ["outcome"], registry=reg),
            rejected=Counter(
                "bot_feishu_rejected", "Requests refused with 4xx before anything was enqueued, by reason.",
                ["reason"], registry=reg),
            errors=Counter(
                "bot_web_errors", "Our own failures answered 503 (Redis down), by route.",
                ["route"], registry=reg),
            callbacks=Counter(
                "bot_ark_callbacks", "Ark callback pushes, by outcome (known, unknown).",
                ["outcome"], registry=reg),
            latency=Histogram(
                "bot_web_handling_seconds", "Time from request to response inside the app, by route.",
                ["route"], buckets=_LATENCY_BUCKETS, registry=reg),
        )


class _DropSdkFailureTraces(logging.Filter):
    """Drop lark-oapi's traceback for each failed webhook request.

    The view logs one line per refusal with its reason, so the SDK's ERROR
    traceback for every forged or garbled request would only multiply an
    attacker's log volume. Other lark-oapi errors (the API client) pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("handle event failed"))


def _quiet_lark_logger() -> None:
    """lark-oapi logs whole request bodies at DEBUG; never let it go below ERROR here."""
    lark_logger = logging.getLogger("Lark")
    if lark_logger.level < logging.ERROR:
        lark_logger.setLevel(logging.ERROR)
    if not any(isinstance(f, _DropSdkFailureTraces) for f in lark_logger.filters):
        lark_logger.addFilter(_DropSdkFailureTraces())


def create_app(settings: Settings, *, redis: Redis | None = None) -> Flask:
    """Build the webhook app; `redis` defaults to a client on `settings.redis_url` with short timeouts."""
    from bot.web.ark_callback import ark_blueprint
    from bot.web.feishu_events import feishu_blueprint

    if not (settings.feishu_encrypt_key.get_secret_value()
            or settings.feishu_verification_token.get_secret_value()):
        raise MissingSettingError(FEISHU_AUTH_HELP)
    if redis is None:
        if not settings.redis_url:
            raise MissingSettingError(REDIS_URL_HELP)
        # Short timeouts and one retry: a 503 within a second beats Feishu's 3 s deadline.
        redis = connect(settings.redis_url, socket_timeout=1.0, connect_timeout=0.5, retries=1)
    _quiet_lark_logger()

    client = redis
    ingress = Ingress(client, Keys(settings.redis_prefix))
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

    @app.get("/metrics")
    def metrics_view() -> ResponseReturnValue:
        return generate_latest(metrics.registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    return app
