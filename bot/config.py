"""Settings: the one place that reads the environment and `.env`.

Every other module receives a `Settings` instance (or the values it needs);
nothing else calls `os.environ`, except `bot.systemd` for the variables systemd sets
for its notify protocol (they are the supervisor's, never settings). Secrets are
`SecretStr`, so they never show up in `repr`, logs or error messages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ARK_BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
DEFAULT_MODEL = "seedance-1-5-pro-251215"
ARK_KEY_HELP = (
    "ARK_API_KEY is not set: create an API key on the BytePlus ModelArk console "
    "(https://console.byteplus.com/ark/region:ark+ap-southeast-1/apiKey) and export it, "
    "e.g. `export ARK_API_KEY=...` or put it in .env."
)


SENTINEL_SCHEME = "redis+sentinel"
"""The scheme of the URL `sentinel_url` builds and `bot.store.connection.connect` opens through Sentinel."""


def host_ports(text: str, what: str = "REDIS_SENTINELS") -> list[tuple[str, int]]:
    """``host:port,host:port`` (IPv6 as ``[::1]:26379``) as pairs; ValueError naming the bad entry."""
    out = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{what}: {entry!r} is not host:port (e.g. 10.0.0.5:26379)")
        out.append((host, int(port)))
    return out


def _joined(pairs: list[tuple[str, int]]) -> str:
    return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in pairs)


def sentinel_url(sentinels: str, master: str, data_url: str | None = None, sentinel_password: str = "") -> str:
    """``redis+sentinel://[user:password@]host:port,host:port/db?master=name[&sentinel_password=…]``.

    The sentinels' addresses and the master's name, plus the user, password and database of the
    data nodes taken from `data_url` (a ``redis://`` URL whose host is ignored; db 0 without one).
    """
    auth, db = "", "0"
    if data_url:
        parts = urlsplit(data_url)
        if parts.scheme != "redis":
            raise ValueError(f"with REDIS_SENTINELS, REDIS_URL gives the data nodes' password and database as "
                             f"redis://:password@ignored/0 (TLS and unix sockets are not supported); "
                             f"not a {parts.scheme}:// URL")
        if "@" in parts.netloc:
            auth = parts.netloc.rsplit("@", 1)[0] + "@"
        db = parts.path.strip("/") or "0"
        if not db.isdigit():
            raise ValueError(f"REDIS_URL: the database must be a number, not {db!r}")
    hosts = _joined(host_ports(sentinels))
    if not hosts:
        raise ValueError("REDIS_SENTINELS: no sentinel given (host:port,host:port)")
    query = f"master={quote(master, safe='')}"
    if sentinel_password:
        query += f"&sentinel_password={quote(sentinel_password, safe='')}"
    return f"{SENTINEL_SCHEME}://{auth}{hosts}/{db}?{query}"


class MissingSettingError(RuntimeError):
    """A required setting is absent; the message says which and where to get it."""


class Settings(BaseSettings):
    """Typed configuration for every role (web, worker, scheduler, CLI, simulators)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # --- Seedance / ModelArk -------------------------------------------------
    ark_api_key: SecretStr | None = Field(default=None, validation_alias="ARK_API_KEY")
    ark_base_url: str = Field(default=DEFAULT_ARK_BASE_URL, validation_alias="ARK_BASE_URL")
    seedance_default_model: str = Field(default=DEFAULT_MODEL, validation_alias="SEEDANCE_DEFAULT_MODEL")
    ark_timeout: float = Field(default=60.0, validation_alias="ARK_TIMEOUT")
    ark_max_in_flight: int = Field(default=3, ge=1, validation_alias="ARK_MAX_IN_FLIGHT")
    # Slots for jobs that may sit at Ark for hours (flex tier, or --expires beyond the default):
    # a separate pool, so they never hold the slots standard jobs need.
    ark_max_slow_in_flight: int = Field(default=2, ge=1, validation_alias="ARK_MAX_SLOW_IN_FLIGHT")
    # execution_expires_after sent when a request gives no --expires (seconds, 3600..259200).
    seedance_default_expires: int = Field(default=21600, ge=3600, le=259200,
                                          validation_alias="SEEDANCE_DEFAULT_EXPIRES")
    # Multiplies the catalogue's expected generation times; tests and benchmarks
    # against a sped-up simulator set it to 1/speed.
    expected_time_factor: float = Field(default=1.0, gt=0, validation_alias="SEEDANCE_EXPECTED_TIME_FACTOR")

    # --- Redis -----------------------------------------------------------------
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    redis_prefix: str = Field(default="bot", validation_alias="REDIS_PREFIX")
    # Redis Sentinel: the sentinels (host:port,…) to ask for the master named REDIS_SENTINEL_MASTER. Set,
    # every role follows that master through failovers, and `redis_url` becomes the redis+sentinel://
    # URL built from them (`sentinel_url`): REDIS_URL then gives only the data nodes' password and db.
    redis_sentinels: str = Field(default="", validation_alias="REDIS_SENTINELS")
    redis_sentinel_master: str = Field(default="mymaster", min_length=1, validation_alias="REDIS_SENTINEL_MASTER")
    redis_sentinel_password: SecretStr = Field(default=SecretStr(""), validation_alias="REDIS_SENTINEL_PASSWORD")

    # --- Feishu / Lark -----------------------------------------------------------
    feishu_app_id: str = Field(default="", validation_alias="FEISHU_APP_ID")
    feishu_app_secret: SecretStr = Field(default=SecretStr(""), validation_alias="FEISHU_APP_SECRET")
    feishu_encrypt_key: SecretStr = Field(default=SecretStr(""), validation_alias="FEISHU_ENCRYPT_KEY")
    feishu_verification_token: SecretStr = Field(
        default=SecretStr(""), validation_alias="FEISHU_VERIFICATION_TOKEN"
    )
    feishu_domain: str = Field(default="feishu", validation_alias="FEISHU_DOMAIN")
    # How events and card clicks arrive: "webhook" (Feishu POSTs to BOT_PUBLIC_URL/feishu/events) or
    # "websocket" (the bot keeps lark-oapi's long connection open: no public URL, no Encrypt Key,
    # no open port; one process of the deployment holds it, see bot/web/longconn.py).
    feishu_connection: Literal["webhook", "websocket"] = Field(default="webhook",
                                                               validation_alias="FEISHU_CONNECTION")
    # Events whose X-Lark-Request-Timestamp is further than this from now are refused.
    # Card patches per second for the whole deployment (Feishu allows an app 50 messages/s and a
    # message 5 patches/s); final states may use a reserve, the rest wait their turn.
    card_updates_per_second: float = Field(default=10.0, gt=0, le=50, validation_alias="BOT_CARD_UPDATES_PER_SECOND")
    feishu_max_skew: int = Field(default=300, ge=1, validation_alias="FEISHU_MAX_SKEW")
    # Without an Encrypt Key, Feishu neither signs nor encrypts events: anyone who learns the
    # verification token can forge them. Refused at start-up unless the admin opts in here.
    feishu_allow_token_only: bool = Field(default=False, validation_alias="FEISHU_ALLOW_TOKEN_ONLY")

    # --- The bot process ---------------------------------------------------------
    bot_public_url: str | None = Field(default=None, validation_alias="BOT_PUBLIC_URL")
    # Signs the URLs of chat videos and voice messages served to Ark at BOT_PUBLIC_URL/media/…
    # (Seedance 2.0 references, bot/shared_media.py). Empty: a key derived from FEISHU_APP_SECRET.
    media_secret: SecretStr = Field(default=SecretStr(""), validation_alias="BOT_MEDIA_SECRET")
    bot_port: int = Field(default=8000, ge=1, le=65535, validation_alias="BOT_PORT")
    bot_data_dir: Path = Field(default=Path("./data"), validation_alias="BOT_DATA_DIR")
    # Stable name of this bot process in Redis (stream consumer names, leases); default the
    # host name. Several worker processes on one host need distinct values (e.g. host-1, host-2).
    bot_node: str = Field(default="", validation_alias="BOT_NODE")
    bot_language: Literal["auto", "zh", "en"] = Field(default="auto", validation_alias="BOT_LANGUAGE")
    bot_admins: str = Field(default="", validation_alias="BOT_ADMINS", description="comma-separated open_ids")
    bot_allowlist: str = Field(default="", validation_alias="BOT_ALLOWLIST")
    # Jobs of one user generating at once; more wait in the fair queue (0 = no limit).
    user_max_jobs: int = Field(default=3, ge=0, validation_alias="BOT_USER_MAX_JOBS")
    # Jobs of one user waiting in the queue beyond the running ones; more are refused (0 = no limit).
    user_max_queued: int = Field(default=10, ge=0, validation_alias="BOT_USER_MAX_QUEUED")
    # Seconds of video one user may make per UTC day (0 = no limit).
    user_daily_seconds: int = Field(default=120, ge=0, validation_alias="BOT_USER_DAILY_SECONDS")
    # Seconds of video the whole deployment may make per UTC day (0 = no limit).
    daily_seconds: int = Field(default=0, ge=0, validation_alias="BOT_DAILY_SECONDS")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, validation_alias="BOT_MAX_BODY_BYTES")
    # Most accepted events waiting for a worker; beyond it the webhook answers 503 (Feishu retries).
    inbox_max: int = Field(default=10_000, ge=10, validation_alias="BOT_INBOX_MAX")
    # maxmemory of the embedded Redis (policy noeviction: jobs are never evicted).
    embedded_redis_maxmemory: str = Field(default="512mb", validation_alias="BOT_REDIS_MAXMEMORY")
    # Share of Redis maxmemory above which new requests are refused with a message (accepted
    # jobs keep going on the headroom left).
    redis_high_water: float = Field(default=0.85, gt=0, le=1, validation_alias="BOT_REDIS_HIGH_WATER")
    # /metrics (every role): bearer token required when set; on this port only when set (0 = web and
    # serve on BOT_PORT, worker and scheduler on BOT_HEALTH_PORT).
    metrics_token: SecretStr = Field(default=SecretStr(""), validation_alias="BOT_METRICS_TOKEN")
    metrics_port: int = Field(default=0, ge=0, le=65535, validation_alias="BOT_METRICS_PORT")
    # Probes (bot/health.py): /livez and /readyz of worker, scheduler and serve on this port, with
    # /metrics of worker and scheduler (0 = none; web and serve answer the probes on BOT_PORT anyway).
    health_port: int = Field(default=0, ge=0, le=65535, validation_alias="BOT_HEALTH_PORT")
    # Longest a worker thread may spend on one entry (download + upload + reply) before the
    # process counts as stuck: /livez fails and the systemd watchdog stops being fed.
    stall_seconds: float = Field(default=900.0, ge=30, validation_alias="BOT_STALL_SECONDS")
    # gunicorn processes of the web role (`seedance-bot web --workers` overrides it).
    web_concurrency: int = Field(default=2, ge=1, validation_alias="WEB_CONCURRENCY")
    max_video_bytes: int = Field(default=200 * 1024 * 1024, validation_alias="BOT_MAX_VIDEO_BYTES")
    download_timeout: float = Field(default=120.0, validation_alias="BOT_DOWNLOAD_TIMEOUT")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_json: bool = Field(default=False, validation_alias="LOG_JSON")

    @field_validator("ark_base_url", "bot_public_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels(cls, v: str, info: ValidationInfo) -> str:
        v = _joined(host_ports(v))
        if v:  # here, not below: an error of a model validator would print every setting's value
            sentinel_url(v, "check", info.data.get("redis_url"))
        return v

    @model_validator(mode="after")
    def _through_sentinel(self) -> Settings:
        if self.redis_sentinels:
            self.redis_url = sentinel_url(self.redis_sentinels, self.redis_sentinel_master, self.redis_url,
                                          self.redis_sentinel_password.get_secret_value())
        return self

    @field_validator("ark_api_key")
    @classmethod
    def _empty_key_is_none(cls, v: SecretStr | None) -> SecretStr | None:
        return v if v is not None and v.get_secret_value().strip() else None

    def require_ark_key(self) -> str:
        """The Ark key, or one clear sentence saying how to get one."""
        if self.ark_api_key is None:
            raise MissingSettingError(ARK_KEY_HELP)
        return self.ark_api_key.get_secret_value()

    @property
    def feishu_base_url(self) -> str:
        """`FEISHU_DOMAIN` as an origin: `feishu`, `lark` or an explicit base URL."""
        d = self.feishu_domain.strip()
        if d.lower() == "feishu":
            return "https://open.feishu.cn"
        if d.lower() == "lark":
            return "https://open.larksuite.com"
        return d.rstrip("/")

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(x.strip() for x in self.bot_admins.split(",") if x.strip())

    @property
    def allowlist_ids(self) -> frozenset[str]:
        return frozenset(x.strip() for x in self.bot_allowlist.split(",") if x.strip())


def locale_language() -> Literal["zh", "en"] | None:
    """The language of this machine's locale (LC_ALL, LC_MESSAGES, then LANG): "zh" for zh_*, "en" for
    en_*, None for anything else (C, POSIX, unset). The operator commands (`seedance-bot doctor`)
    speak it when BOT_LANGUAGE is auto; it is the system's variable, not a setting of the bot."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "").strip().lower()
        if value:
            return "zh" if value.startswith("zh") else "en" if value.startswith("en") else None
    return None


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning (tests, CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
