"""Settings: names, defaults, the missing-key sentence, and secrets that never leak."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.config import ARK_KEY_HELP, MissingSettingError, Settings
from bot.logs import RedactSecrets

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_follow_the_seed() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.ark_base_url == "https://ark.ap-southeast.bytepluses.com/api/v3"
    assert s.seedance_default_model == "seedance-1-5-pro-251215"
    assert s.feishu_base_url == "https://open.feishu.cn"


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "ARK_API_KEY": "k-123456", "ARK_BASE_URL": "http://127.0.0.1:9/api/v3/", "SEEDANCE_DEFAULT_MODEL": "2.0",
        "REDIS_URL": "redis://127.0.0.1:1/0", "FEISHU_APP_ID": "cli_x", "FEISHU_APP_SECRET": "sec-abcdef",
        "FEISHU_ENCRYPT_KEY": "enc-abcdef", "FEISHU_VERIFICATION_TOKEN": "tok-abcdef", "FEISHU_DOMAIN": "lark",
        "BOT_PUBLIC_URL": "https://bot.example.com/", "BOT_PORT": "8123", "BOT_DATA_DIR": "/tmp/x",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.require_ark_key() == "k-123456"
    assert s.ark_base_url == "http://127.0.0.1:9/api/v3"
    assert s.feishu_base_url == "https://open.larksuite.com"
    assert s.bot_public_url == "https://bot.example.com"
    assert s.bot_port == 8123 and str(s.bot_data_dir) == "/tmp/x"
    text = repr(s) + str(s) + str(s.model_dump())
    for secret in ("k-123456", "sec-abcdef", "enc-abcdef", "tok-abcdef"):
        assert secret not in text


def test_custom_feishu_domain() -> None:
    s = Settings(_env_file=None, FEISHU_DOMAIN="http://127.0.0.1:18081/")  # type: ignore[call-arg]
    assert s.feishu_base_url == "http://127.0.0.1:18081"


def test_missing_ark_key_is_one_clear_sentence() -> None:
    s = Settings(_env_file=None, ARK_API_KEY="  ")  # type: ignore[call-arg]
    with pytest.raises(MissingSettingError) as err:
        s.require_ark_key()
    assert "ARK_API_KEY" in str(err.value) and "console" in str(err.value)
    assert str(err.value) == ARK_KEY_HELP


def test_env_example_documents_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    names = re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.M)
    aliases = {str(f.validation_alias) for f in Settings.model_fields.values()}
    assert aliases <= set(names), aliases - set(names)
    lines = example.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]+=", line):
            assert lines[i - 1].startswith("#"), f"{line} has no comment line above it"


def test_log_filter_masks_secrets_and_bearer_tokens(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    handler_filter = RedactSecrets(["super-secret-key"])
    record = logger.makeRecord("test.redact", logging.ERROR, __file__, 1,
                               "call failed with key %s and header %s", ("super-secret-key", "Bearer abc.def"),
                               None)
    assert handler_filter.filter(record)
    message = record.getMessage()
    assert "super-secret-key" not in message and "abc.def" not in message
    assert "***" in message
