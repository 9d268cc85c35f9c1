"""The start-up banner: on one screen, what this process is about to run and with what.

Printed by `serve`, `web`, `worker`, `scheduler` and `connect` before they start: version, role,
how events arrive, Redis, models, spending limits and the URLs to point Feishu, Ark, a load
balancer and Prometheus at. Never a secret: keys and tokens are only said to be set or not, the
Redis password is replaced by ``***``, and the printed text goes through the log redactor anyway.
With ``LOG_JSON=true`` it is one log record (one JSON line), not free text among JSON lines.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import TextIO

from bot import catalogue
from bot.config import Settings
from bot.doctor.facts import version, without_password
from bot.logs import Redactor, settings_secrets

log = logging.getLogger("bot.banner")

ROLE_PARTS = {
    "serve": ("web", "worker", "scheduler"),
    "web": ("web",),
    "worker": ("worker",),
    "scheduler": ("scheduler",),
    "connect": ("connect",),
}


def _limit(value: int) -> str:
    return "no limit" if value == 0 else str(value)


def _daily(seconds: int) -> str:
    return "no daily limit" if seconds == 0 else f"{seconds} s/day"


def _short_name(model: catalogue.ModelInfo) -> str:
    """What people type after --model: the first alias that isn't another spelling of an ID."""
    return next((a for a in model.aliases if not a.startswith("seedance")), model.id)


def banner_lines(settings: Settings, role: str) -> list[str]:
    """The banner of `role` (serve, web, worker, scheduler, connect) under these settings."""
    s = settings
    parts = list(ROLE_PARTS.get(role, (role,)))
    websocket = s.feishu_connection == "websocket"
    if role == "serve" and websocket:
        parts.append("connect")
    serves_http = "web" in parts
    public = s.bot_public_url

    if websocket:
        events = "long connection (FEISHU_CONNECTION=websocket): " + (
            "kept by this process" if "connect" in parts else "kept by `seedance-bot connect`")
    elif public:
        events = f"webhook {public}/feishu/events (events and card callbacks)"
    else:
        events = "webhook, but BOT_PUBLIC_URL is not set: Feishu has no URL to call (run `seedance-bot doctor`)"
    encryption = ("Encrypt Key set" if s.feishu_encrypt_key.get_secret_value()
                  else "no Encrypt Key" + (" (token only)" if s.feishu_verification_token.get_secret_value() else ""))

    if s.redis_url:
        redis = f"{without_password(s.redis_url)} · prefix {s.redis_prefix}"
    else:
        redis = (f"embedded under {s.bot_data_dir / 'redis'} (AOF on, maxmemory {s.embedded_redis_maxmemory}) · "
                 f"prefix {s.redis_prefix}")

    default = catalogue.lookup(s.seedance_default_model)
    default_name = f" ({default.info.name})" if default.info else " (not in the catalogue: passed through)"
    available = ", ".join(_short_name(m) for m in catalogue.MODELS if not m.retired)

    limits = (f"per user {_daily(s.user_daily_seconds)}, {_limit(s.user_max_jobs)} generating, "
              f"{_limit(s.user_max_queued)} queued · deployment {_daily(s.daily_seconds)} · "
              f"inbox ≤ {s.inbox_max} · Ark ≤ {s.ark_max_in_flight} tasks at once (+{s.ark_max_slow_in_flight} slow)")

    lines = [
        f"seedance-bot {version()} · {role} ({' + '.join(parts)}) · node {s.bot_node or socket.gethostname()}-{role} · "
        f"pid {os.getpid()}",
        f"  Feishu    app {s.feishu_app_id or '(FEISHU_APP_ID not set)'} at {s.feishu_base_url} · {events}"
        + ("" if websocket else f" · {encryption}"),
        f"  Ark       {s.ark_base_url} · key {'set' if s.ark_api_key else 'NOT SET'} · "
        + (f"callbacks to {public}/ark/callback/…" if public else "no callbacks (polling; BOT_PUBLIC_URL unset)"),
        f"  Models    default {default.model_id}{default_name} · available: {available}",
        f"  Redis     {redis}",
        f"  Limits    {limits}",
        f"  Access    admins {len(s.admin_ids)} · allowlist "
        + (f"{len(s.allowlist_ids)} chats/users" if s.allowlist_ids else "none (everyone)"),
    ]
    urls = []
    if serves_http:
        urls.append(f"listening on 0.0.0.0:{s.bot_port}: /healthz /livez /readyz")
        metrics_at = f"port {s.metrics_port}" if s.metrics_port else f"port {s.bot_port}"
        urls.append(f"/metrics on {metrics_at}" + (" (bearer token)" if s.metrics_token.get_secret_value() else ""))
    else:
        if s.health_port:
            urls.append(f"/livez /readyz on port {s.health_port}")
        if s.metrics_port:
            urls.append(f"/metrics on port {s.metrics_port}")
        elif s.health_port:
            urls.append(f"/metrics on port {s.health_port}")
    lines.append("  URLs      " + (" · ".join(urls) if urls else "none (set BOT_HEALTH_PORT for probes and metrics)"))
    lines.append(f"  Data      {s.bot_data_dir} · logs {'JSON' if s.log_json else 'text'} at {s.log_level} · "
                 "check the setup with `seedance-bot doctor`")
    return lines


def print_banner(settings: Settings, role: str, stream: TextIO | None = None) -> None:
    """The banner on stderr (redacted); with LOG_JSON one log record instead."""
    lines = banner_lines(settings, role)
    clean = Redactor(settings_secrets(settings)).clean
    if settings.log_json:
        log.info("starting: %s", " | ".join(line.strip() for line in lines))
        return
    out = stream if stream is not None else sys.stderr
    out.write(clean("\n".join(lines)) + "\n")
    out.flush()

