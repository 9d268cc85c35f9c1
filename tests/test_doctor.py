"""`seedance-bot doctor` against real simulators and real Redis servers, `--version`, and the start-up banner.

Broken on purpose: a wrong Ark key (the Ark simulator checks it), a wrong Feishu secret (the
Feishu simulator checks it), a Redis without AOF and with an evicting policy, a BOT_PUBLIC_URL
nothing answers, no Encrypt Key in webhook mode, missing scopes. Each problem must be named with
its fix, and the exit status must be 1. A good configuration must be all ✅ with exit status 0.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from conftest import free_port
from typer.testing import CliRunner
from werkzeug.serving import make_server

from bot.cli import app
from bot.config import load_settings
from bot.doctor.banner import banner_lines, print_banner
from bot.doctor.facts import version, without_password
from bot.doctor.report import choose_language
from bot.doctor.scopes import NEEDS
from bot.web.app import create_app
from sim.ark import ArkSimulator
from sim.feishu import FeishuSimulator
from sim.redis_server import RedisServer

pytest_plugins = ["fixtures_ark", "fixtures_feishu"]

ARK_KEY = "ark-right-key-7f3c"
APP_SECRET = "feishu-right-secret-91b2"
ENCRYPT_KEY = "doctor-encrypt-key-5d1e"
TOKEN = "doctor-verification-token-77aa"

runner = CliRunner()


@pytest.fixture(scope="module")
def redis_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Redis set up as the bot needs it, and one as Debian ships it plus an evicting policy."""
    good = RedisServer(tmp_path_factory.mktemp("redis-good"), extra_args=("--maxmemory", "256mb"))
    bad = RedisServer(tmp_path_factory.mktemp("redis-bad"),
                      extra_args=("--appendonly", "no", "--maxmemory-policy", "allkeys-lru"))
    good.start()
    bad.start()
    yield {"good": good.url, "bad": bad.url}
    good.stop()
    bad.stop()


@pytest.fixture
def sims(ark_sim_factory: Callable[..., ArkSimulator],
         feishu_sim_factory: Callable[..., FeishuSimulator]) -> tuple[ArkSimulator, FeishuSimulator]:
    ark = ark_sim_factory(api_key=ARK_KEY)
    feishu = feishu_sim_factory(app_secret=APP_SECRET, encrypt_key=ENCRYPT_KEY, verification_token=TOKEN)
    return ark, feishu


def doctor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run `seedance-bot doctor` in a directory without .env, with exactly these settings."""
    monkeypatch.chdir(tmp_path)
    for name in ("LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["doctor", "--timeout", "3", *args])
    return result.exit_code, result.output


def good_env(ark: ArkSimulator, feishu: FeishuSimulator, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "ARK_API_KEY": ARK_KEY, "ARK_BASE_URL": ark.base_url, "REDIS_URL": redis_url,
        "FEISHU_APP_ID": "cli_sim_app", "FEISHU_APP_SECRET": APP_SECRET, "FEISHU_DOMAIN": feishu.origin,
        "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY, "FEISHU_VERIFICATION_TOKEN": TOKEN, "BOT_ADMINS": "ou_admin",
        "BOT_DATA_DIR": str(tmp_path / "data"),
    }


def lines_after(output: str, start: str) -> list[str]:
    """The line starting with `start` and the one after it (the fix)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(start):
            return lines[i:i + 2]
    raise AssertionError(f"no line starts with {start!r} in:\n{output}")


def marks(output: str) -> list[str]:
    return [line for line in output.splitlines() if line[:1] in ("✅", "❌", "⚠", "⏭")]


# --- broken on purpose --------------------------------------------------------------------------------


def test_a_broken_configuration_names_each_problem_and_its_fix(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sims: tuple[ArkSimulator, FeishuSimulator],
        redis_servers: dict[str, str]) -> None:
    ark, feishu = sims
    env = good_env(ark, feishu, redis_servers["bad"], tmp_path) | {
        "ARK_API_KEY": "ark-wrong-key-0000", "FEISHU_APP_SECRET": "feishu-wrong-secret-0000",
        "FEISHU_ENCRYPT_KEY": "", "BOT_PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
        "BOT_PORT": str(free_port()),
    }
    code, out = doctor(monkeypatch, tmp_path, env, "--lang", "en")
    assert code == 1, out

    problem, fix = lines_after(out, "❌ Ark refused ARK_API_KEY")
    assert "AuthenticationError" in problem and fix.startswith("   → Copy the key again")
    problem, fix = lines_after(out, "❌ Feishu refused FEISHU_APP_ID / FEISHU_APP_SECRET")
    assert "99991543" in problem and "Credentials & Basic Info" in fix and "FEISHU_DOMAIN=lark" in fix
    problem, fix = lines_after(out, "❌ AOF persistence is off")
    assert "appendonly yes" in fix
    problem, fix = lines_after(out, "❌ maxmemory-policy is allkeys-lru")
    assert "noeviction" in fix
    problem, fix = lines_after(out, "⚠️ maxmemory is not set")
    assert "maxmemory 512mb" in fix
    problem, fix = lines_after(out, "❌ FEISHU_ENCRYPT_KEY is not set")
    assert "Encrypt Key" in fix and "FEISHU_CONNECTION=websocket" in fix
    problem, fix = lines_after(out, f"❌ {env['BOT_PUBLIC_URL']}/healthz does not answer")
    assert "start the bot" in fix
    # What depends on a failure is said to be unchecked, not reported as a second problem.
    assert "⏭️ The bot's info: not checked until FEISHU_APP_ID and FEISHU_APP_SECRET work" in out
    assert "⏭️ Ark callback URL: not checked until BOT_PUBLIC_URL answers" in out
    # Every problem has its fix right under it, and the summary counts them.
    for i, line in enumerate(out.splitlines()):
        if line.startswith(("❌", "⚠️")) and not line.startswith("❌ 6 problem"):
            assert out.splitlines()[i + 1].startswith("   → "), line
    assert "❌ 6 problem(s) keep the bot from working, and 2 warning(s)" in out
    # No secret, right or wrong, is printed.
    for secret in ("ark-wrong-key-0000", "feishu-wrong-secret-0000", TOKEN):
        assert secret not in out


def test_the_same_problems_in_chinese(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      sims: tuple[ArkSimulator, FeishuSimulator],
                                      redis_servers: dict[str, str]) -> None:
    ark, feishu = sims
    env = good_env(ark, feishu, redis_servers["bad"], tmp_path) | {
        "ARK_API_KEY": "ark-wrong-key-0000", "FEISHU_APP_SECRET": "feishu-wrong-secret-0000",
        "FEISHU_ENCRYPT_KEY": "", "BOT_LANGUAGE": "zh"}
    code, out = doctor(monkeypatch, tmp_path, env)  # BOT_LANGUAGE=zh: no --lang needed
    assert code == 1
    assert "❌ 方舟拒绝了 ARK_API_KEY（AuthenticationError）" in out
    assert "❌ 飞书拒绝了 FEISHU_APP_ID / FEISHU_APP_SECRET（错误码 99991543" in out
    assert "❌ AOF 持久化未开启" in out
    assert "❌ maxmemory-policy 为 allkeys-lru" in out
    assert "❌ FEISHU_ENCRYPT_KEY 未设置" in out
    assert "❌ BOT_PUBLIC_URL 未设置" in out
    assert "   → 在 redis.conf 中设置 appendonly yes" in out
    assert "请按 ❌ 行的提示修复后" in out


def test_missing_scopes_are_named_with_where_to_add_them(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sims: tuple[ArkSimulator, FeishuSimulator],
        redis_servers: dict[str, str]) -> None:
    ark, feishu = sims
    feishu.scopes.configure(revoke=["im:resource", "im:message.group_msg"], pending=["im:message:readonly"])
    env = good_env(ark, feishu, redis_servers["good"], tmp_path) | {"FEISHU_CONNECTION": "websocket"}
    code, out = doctor(monkeypatch, tmp_path, env, "--lang", "en")
    assert code == 1, out
    problem, fix = lines_after(out, "❌ Scope im:resource is not added")
    assert "upload the videos" in problem
    assert fix == "   → Add im:resource at https://open.feishu.cn/app/cli_sim_app/auth (Permissions & Scopes), " \
                  "then create a version and publish it."
    problem, fix = lines_after(out, "❌ Scope im:message:readonly is added but not granted yet")
    assert "Version Management & Release" in fix
    problem, _ = lines_after(out, "⚠️ Optional scope im:message.group_msg is not added")
    assert "reply to a photo" in problem
    assert "1 warning(s)" in out and "2 problem(s)" in out


def test_no_credentials_at_all_says_where_to_get_each(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out = doctor(monkeypatch, tmp_path, {"BOT_DATA_DIR": str(tmp_path / "data")}, "--lang", "en")
    assert code == 1
    _, fix = lines_after(out, "❌ ARK_API_KEY is not set.")
    assert "API Key Management" in fix and "ARK_API_KEY=" in fix
    _, fix = lines_after(out, "❌ FEISHU_APP_ID or FEISHU_APP_SECRET is not set.")
    assert "Create Custom App" in fix and "Credentials & Basic Info" in fix
    assert "there is no" in out  # says the settings came from the environment only, no .env here


def test_a_value_that_does_not_parse_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out = doctor(monkeypatch, tmp_path, {"BOT_PORT": "eighty", "FEISHU_CONNECTION": "ws"}, "--lang", "en")
    assert code == 1
    assert "❌ BOT_PORT has a value the bot can't use" in out
    assert "❌ FEISHU_CONNECTION has a value the bot can't use: Input should be 'webhook' or 'websocket'" in out
    assert "   → Correct BOT_PORT in .env or the environment; .env.example says what it takes." in out


# --- good configurations --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_good_configuration_is_all_green(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sims: tuple[ArkSimulator, FeishuSimulator],
        redis_servers: dict[str, str], lang: str) -> None:
    ark, feishu = sims
    env = good_env(ark, feishu, redis_servers["good"], tmp_path) | {"FEISHU_CONNECTION": "websocket"}
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where each video waits on its way
    code, out = doctor(monkeypatch, tmp_path, env, "--lang", lang)
    assert code == 0, out
    assert f"BOT_DATA_DIR {tmp_path / 'data'}" in out and f"TMPDIR {tmp_path / 'tmp'}" in out, out
    found = marks(out)
    assert len(found) >= 14 and all(line.startswith("✅") for line in found), out
    if lang == "zh":
        assert "✅ 全部检查通过。" in out and "✅ 机器人 VideoBot 已启用" in out
        assert "✅ 长连接：飞书为该应用分配了连接地址" in out
    else:
        assert "✅ Everything checks out." in out
        assert "✅ All 7 permission scopes the bot uses are granted." in out
        assert "✅ Long connection: Feishu gives this app a connection endpoint" in out


@pytest.fixture
def running_bot(redis_servers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The real web app (webhook mode) on a loopback port, as the target of BOT_PUBLIC_URL."""
    monkeypatch.setenv("FEISHU_ENCRYPT_KEY", ENCRYPT_KEY)
    monkeypatch.setenv("FEISHU_VERIFICATION_TOKEN", TOKEN)
    monkeypatch.setenv("REDIS_URL", redis_servers["good"])
    web = create_app(load_settings(), redis=redis.Redis.from_url(redis_servers["good"], decode_responses=True))
    server = make_server("127.0.0.1", 0, web, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_port)
    server.shutdown()
    thread.join(5)


def test_webhook_mode_checks_the_url_as_feishu_does_and_the_ark_callback_route(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sims: tuple[ArkSimulator, FeishuSimulator],
        redis_servers: dict[str, str], running_bot: int) -> None:
    ark, feishu = sims
    public = f"http://127.0.0.1:{running_bot}"
    env = good_env(ark, feishu, redis_servers["good"], tmp_path) | {"BOT_PUBLIC_URL": public}
    code, out = doctor(monkeypatch, tmp_path, env, "--lang", "en")
    assert code == 0, out
    assert f"✅ {public}/feishu/events answers Feishu's URL check (tested from this machine" in out
    assert f"✅ Ark's callbacks reach the bot at {public}/ark/callback/…" in out
    _, fix = lines_after(out, f"⚠️ BOT_PUBLIC_URL {public} is not HTTPS.")
    assert "HTTPS reverse proxy" in fix

    # The doctor's token differs from the running bot's: Feishu's check would fail the same way.
    code, out = doctor(monkeypatch, tmp_path, env | {"FEISHU_VERIFICATION_TOKEN": "another-token-1234"}, "--lang", "en")
    assert code == 1
    _, fix = lines_after(out, f"❌ The bot at {public}/feishu/events refused Feishu's URL check")
    assert "same .env" in fix


def test_a_proxy_that_forwards_elsewhere_is_not_taken_for_the_bot(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sims: tuple[ArkSimulator, FeishuSimulator],
        redis_servers: dict[str, str]) -> None:
    ark, feishu = sims
    env = good_env(ark, feishu, redis_servers["good"], tmp_path) | {"BOT_PUBLIC_URL": feishu.origin}
    code, out = doctor(monkeypatch, tmp_path, env, "--lang", "en")
    assert code == 1
    _, fix = lines_after(out, f"❌ {feishu.origin}/healthz answered HTTP")
    assert "forwards somewhere else" in fix


# --- language, version ------------------------------------------------------------------------------------


def test_the_language_comes_from_the_flag_then_bot_language_then_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    assert choose_language(None, load_settings()) == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert choose_language(None, load_settings()) == "zh"
    assert choose_language("en", load_settings()) == "en"
    assert choose_language(None, load_settings(bot_language="en")) == "en"
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert choose_language(None, load_settings(bot_language="zh")) == "zh"
    assert choose_language(None, None) == "en"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"seedance-bot {version()}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version())


# --- the simulator's scopes ---------------------------------------------------------------------------------


def test_the_feishu_simulator_lists_scopes_and_refuses_calls_without_theirs(
        feishu_sim_factory: Callable[..., FeishuSimulator]) -> None:
    feishu = feishu_sim_factory()
    token = requests.post(f"{feishu.origin}/open-apis/auth/v3/tenant_access_token/internal",
                          json={"app_id": "cli_sim_app", "app_secret": "sim-secret"}).json()["tenant_access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    listed = requests.get(f"{feishu.origin}/open-apis/application/v6/scopes", headers=auth).json()
    assert listed["code"] == 0
    assert {s["scope_name"] for s in listed["data"]["scopes"]} >= {n.scope for n in NEEDS}
    feishu.scopes.configure(revoke=["im:resource"], pending=["im:resource:upload"])
    refused = requests.post(f"{feishu.origin}/open-apis/im/v1/images", headers=auth,
                            files={"image": ("a.png", b"x")}, data={"image_type": "message"})
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == 99991672
    assert [v["subject"] for v in body["error"]["permission_violations"]] == ["im:resource", "im:resource:upload"]
    rows = {s["scope_name"]: s["grant_status"] for s in
            requests.get(f"{feishu.origin}/open-apis/application/v6/scopes", headers=auth).json()["data"]["scopes"]}
    assert "im:resource" not in rows and rows["im:resource:upload"] == 2
    # A bad token is still refused as one (99991663), before any scope is looked at.
    assert requests.post(f"{feishu.origin}/open-apis/im/v1/images",
                         headers={"Authorization": "Bearer t-nope"}).json()["code"] == 99991663


# --- the start-up banner --------------------------------------------------------------------------------------


SECRETS = {
    "ARK_API_KEY": "banner-ark-key-secret", "FEISHU_APP_SECRET": "banner-app-secret",
    "FEISHU_ENCRYPT_KEY": "banner-encrypt-key", "FEISHU_VERIFICATION_TOKEN": "banner-verification-token",
    "BOT_METRICS_TOKEN": "banner-metrics-token",
}


def banner_settings(**extra: Any) -> Any:
    return load_settings(
        ark_api_key=SECRETS["ARK_API_KEY"], feishu_app_id="cli_banner", feishu_app_secret=SECRETS["FEISHU_APP_SECRET"],
        feishu_encrypt_key=SECRETS["FEISHU_ENCRYPT_KEY"],
        feishu_verification_token=SECRETS["FEISHU_VERIFICATION_TOKEN"], metrics_token=SECRETS["BOT_METRICS_TOKEN"],
        redis_url="redis://:banner-redis-password@10.0.0.5:6379/0", bot_public_url="https://bot.example.com",
        bot_admins="ou_a,ou_b", **extra)


@pytest.mark.parametrize("role", ["serve", "web", "worker", "scheduler", "connect"])
def test_the_banner_says_what_runs_on_one_screen_and_never_a_secret(role: str) -> None:
    settings = banner_settings(feishu_connection="websocket" if role == "connect" else "webhook", health_port=8081)
    text = "\n".join(banner_lines(settings, role))
    for secret in [*SECRETS.values(), "banner-redis-password"]:
        assert secret not in text
    lines = text.splitlines()
    assert len(lines) <= 12 and all(len(line) <= 240 for line in lines)
    assert lines[0].startswith(f"seedance-bot {version()} · {role}")
    assert "redis://:***@10.0.0.5:6379/0" in text
    assert "default seedance-1-5-pro-251215 (Seedance 1.5 Pro)" in text
    assert "per user 120 s/day, 3 generating, 10 queued · deployment no daily limit" in text
    assert "Ark ≤ 3 tasks at once" in text and "available: 1.5-pro, 1.0-pro, 1.0-pro-fast, 2.0, 2.0-fast" in text
    assert "admins 2" in text
    if role in ("serve", "web"):
        assert "webhook https://bot.example.com/feishu/events" in text
        assert "listening on 0.0.0.0:8000: /healthz /livez /readyz" in text and "/metrics on port 8000" in text
    if role == "connect":
        assert "long connection (FEISHU_CONNECTION=websocket)" in text
    if role in ("worker", "scheduler"):
        assert "/livez /readyz on port 8081" in text
    assert "callbacks to https://bot.example.com/ark/callback/…" in text


def test_the_banner_is_printed_redacted_and_is_one_record_in_json_mode(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    print_banner(banner_settings(), "serve", stream=out)
    assert "seedance-bot" in out.getvalue() and "banner-" not in out.getvalue()
    caplog.set_level(logging.INFO, logger="bot.banner")
    quiet = io.StringIO()
    print_banner(banner_settings(log_json=True), "worker", stream=quiet)
    assert quiet.getvalue() == ""
    records = [r for r in caplog.records if r.name == "bot.banner"]
    assert len(records) == 1 and "\n" not in records[0].getMessage()
    assert json.dumps(records[0].getMessage())  # one line, JSON-safe


def test_a_url_without_its_password() -> None:
    assert without_password("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert without_password("redis://user:pw@h:6379/0") == "redis://user:***@h:6379/0"
    assert without_password("redis://h:6379/0") == "redis://h:6379/0"
    assert without_password("unix:///run/redis.sock") == "unix:///run/redis.sock"


def test_a_role_prints_the_banner_before_it_starts(redis_url: str, tmp_path: Path) -> None:
    """`seedance-bot worker` without an Ark key: the banner comes first, then the one-sentence refusal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARK_", "FEISHU_", "BOT_", "REDIS_"))}
    env |= {"REDIS_URL": redis_url, "FEISHU_APP_SECRET": "banner-app-secret", "BOT_HEALTH_PORT": "0"}
    done = subprocess.run([str(Path(sys.executable).parent / "seedance-bot"), "worker"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    banner, _, rest = done.stderr.partition("\n  Data ")
    assert banner.startswith(f"seedance-bot {version()} · worker (worker)")
    assert "key NOT SET" in banner and "ARK_API_KEY is not set" in rest
    assert "banner-app-secret" not in done.stderr
