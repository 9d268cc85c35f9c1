"""Settings: the one place that reads the environment and `.env`.

Every other module receives a `Settings` instance (or the values it needs);
nothing else calls `os.environ`. Secrets are `SecretStr`, so they never show up
in `repr`, logs or error messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ARK_BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
DEFAULT_MODEL = "seedance-1-5-pro-251215"
ARK_KEY_HELP = (
    "ARK_API_KEY is not set: create an API key on the BytePlus ModelArk console "
    "(https://console.byteplus.com/ark/region:ark+ap-southeast-1/apiKey) and export it, "
    "e.g. `export ARK_API_KEY=...` or put it in .env."
)


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

    # --- Feishu / Lark -----------------------------------------------------------
    feishu_app_id: str = Field(default="", validation_alias="FEISHU_APP_ID")
    feishu_app_secret: SecretStr = Field(default=SecretStr(""), validation_alias="FEISHU_APP_SECRET")
    feishu_encrypt_key: SecretStr = Field(default=SecretStr(""), validation_alias="FEISHU_ENCRYPT_KEY")
    feishu_verification_token: SecretStr = Field(
        default=SecretStr(""), validation_alias="FEISHU_VERIFICATION_TOKEN"
    )
    feishu_domain: str = Field(default="feishu", validation_alias="FEISHU_DOMAIN")
    # Events whose X-Lark-Request-Timestamp is further than this from now are refused.
    feishu_max_skew: int = Field(default=300, ge=1, validation_alias="FEISHU_MAX_SKEW")
    # Without an Encrypt Key, Feishu neither signs nor encrypts events: anyone who learns the
    # verification token can forge them. Refused at start-up unless the admin opts in here.
    feishu_allow_token_only: bool = Field(default=False, validation_alias="FEISHU_ALLOW_TOKEN_ONLY")

    # --- The bot process ---------------------------------------------------------
    bot_public_url: str | None = Field(default=None, validation_alias="BOT_PUBLIC_URL")
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
    # /metrics: bearer token required when set; a separate port when set (0 = on BOT_PORT).
    metrics_token: SecretStr = Field(default=SecretStr(""), validation_alias="BOT_METRICS_TOKEN")
    metrics_port: int = Field(default=0, ge=0, le=65535, validation_alias="BOT_METRICS_PORT")
    max_video_bytes: int = Field(default=200 * 1024 * 1024, validation_alias="BOT_MAX_VIDEO_BYTES")
    download_timeout: float = Field(default=120.0, validation_alias="BOT_DOWNLOAD_TIMEOUT")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_json: bool = Field(default=False, validation_alias="LOG_JSON")

    @field_validator("ark_base_url", "bot_public_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

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


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning (tests, CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
