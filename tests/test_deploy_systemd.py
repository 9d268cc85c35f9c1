"""deploy/systemd/*.service: hardened, supervised by the notify protocol, accepted by systemd.

`systemd-analyze verify` (Debian's systemd package) loads each unit as systemd would, with the
install path /opt/seedance-bot pointed at a stand-in tree (it checks that ExecStart's program
exists), and must print nothing: systemd only warns, on stderr, about unknown or misspelt keys.
`systemd-analyze security --offline` rates the sandbox. The notify protocol itself is exercised
for real by tests/test_health.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deploykit import DEPLOY, need_tool, run

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALL = "/opt/seedance-bot"


def service_section(path: Path) -> dict[str, list[str]]:
    """[Service] as key → every value given (systemd allows repeated keys)."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_there_is_a_unit_per_role() -> None:
    from bot.cli.roles import ROLES

    assert [u.name for u in UNITS] == ["seedance-bot-connect@.service", "seedance-bot-scheduler@.service",
                                       "seedance-bot-serve.service", "seedance-bot-web@.service",
                                       "seedance-bot-worker@.service"]
    assert {re.sub(r"@?\.service$", "", u.name).removeprefix("seedance-bot-") for u in UNITS} == set(ROLES)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_unit_is_sandboxed_and_watched(unit: Path) -> None:
    s = service_section(unit)
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert int(one["WatchdogSec"]) >= 15 and one["Restart"] == "always"
    assert one["DynamicUser"] == "yes" and one["User"] == "seedance-bot"
    assert one["ProtectSystem"] == "strict" and one["NoNewPrivileges"] == "yes"
    assert one["ProtectHome"] == "yes" and one["PrivateTmp"] == "yes" and one["CapabilityBoundingSet"] == ""
    assert "@system-service" in s["SystemCallFilter"]
    assert one["EnvironmentFile"] == f"{INSTALL}/.env"
    assert "WorkingDirectory" not in one, "no working directory with a .env the dynamic user can't read"
    exec_start = one["ExecStart"]
    assert f"{INSTALL}/.venv/bin/seedance-bot " in exec_start
    role = re.search(r"seedance-bot (serve|web|worker|scheduler|connect)\b", exec_start)
    assert role and unit.name.startswith(f"seedance-bot-{role.group(1)}")
    assert "--config" not in exec_start, "the gunicorn settings ship in the package"
    if role.group(1) in ("worker", "scheduler", "connect"):
        assert f"BOT_NODE=%H-{role.group(1)}-%i" in exec_start, "distinct names in Redis per instance"
    if role.group(1) == "connect":
        # It only hands events over through Redis: no state directory, no listening port of its own.
        assert "StateDirectory" not in one and "--port" not in exec_start
    if role.group(1) == "serve":
        assert one["StateDirectory"] == "seedance-bot" and "BOT_DATA_DIR=%S/seedance-bot" in exec_start


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The units with /opt/seedance-bot replaced by a stand-in tree that has the console script."""
    root = tmp_path / "opt"
    (root / ".venv" / "bin").mkdir(parents=True)
    script = root / ".venv" / "bin" / "seedance-bot"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    (root / ".env").write_text("")
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        name = unit.name.replace("@.service", "@1.service")  # an instance of each template
        (units / name).write_text(unit.read_text(encoding="utf-8").replace(INSTALL, str(root)))
    return units


def test_systemd_analyze_verify_accepts_every_unit(installed: Path) -> None:
    exe = need_tool("systemd-analyze", "apt-get install systemd")
    units = sorted(str(p) for p in installed.iterdir())
    result = run([exe, "verify", *units])
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), \
        result.stdout + result.stderr


def test_the_sandbox_rates_ok(installed: Path) -> None:
    exe = need_tool("systemd-analyze", "apt-get install systemd")
    probe = run([exe, "security", "--help"])
    if "--offline" not in probe.stdout:
        pytest.skip("this systemd-analyze cannot rate unit files offline (systemd < 250)")
    for unit in sorted(installed.iterdir()):
        # exposure 0 (locked down) … 10 (unprotected); the threshold is ×10. These units rate 1.4.
        result = run([exe, "security", "--offline=yes", "--threshold=20", "--no-pager", str(unit)])
        assert result.returncode == 0, result.stdout[-800:] + result.stderr
