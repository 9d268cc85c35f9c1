"""The lock files agree with pyproject.toml, so what CI tests is what a deployment installs.

`requirements.lock` (the image: [project] dependencies + [embedded]) and `requirements-dev.lock`
(deploy/test.sh: + [sim] and [test]) are made by `uv pip compile … --generate-hashes` (the command
heads each file). A range changed in pyproject.toml without re-locking, a pin outside its range, a
pin without hashes, or a test environment that drifted from the lock fails here.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>[^\s;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")


def pins(lock: str) -> dict[str, str]:
    """name → version of every pin in `lock` that applies to this interpreter, each checked for hashes."""
    found: dict[str, str] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text(encoding="utf-8"))
    for entry in entries:
        head = entry.splitlines()[0]
        m = PIN.match(head)
        if not m:
            assert head.startswith("#"), f"{lock}: not a pin: {head!r}"
            continue
        assert "--hash=sha256:" in entry, f"{lock}: {head} has no hash"
        marker = m["marker"]
        if marker and not Requirement(f"x; {marker}").marker.evaluate(default_environment()):  # type: ignore[union-attr]
            continue
        found[canonicalize_name(m["name"])] = m["version"]
    return found


def wanted(*extras: str) -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(default_environment())]


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", ("embedded",)),
                                              ("requirements-dev.lock", ("embedded", "sim", "test"))])
def test_every_dependency_is_pinned_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    locked = pins(lock)
    for req in wanted(*extras):
        name = canonicalize_name(req.name)
        assert name in locked, f"{lock}: {req} is not locked (re-run the command at the top of the file)"
        assert req.specifier.contains(locked[name], prereleases=True), \
            f"{lock}: {name}=={locked[name]} is outside pyproject.toml's {req}"


def test_the_image_lock_is_the_dev_lock_without_the_test_tools() -> None:
    prod, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {n: v for n, v in dev.items() if n in prod} == prod, "one version of each package in both locks"


def test_this_environment_is_the_locked_one() -> None:
    """deploy/test.sh installs requirements-dev.lock: the suite ran against exactly these versions."""
    drift = {}
    for name, version in pins("requirements-dev.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift[name] = (version, None)
            continue
        if canonicalize_name(installed) != canonicalize_name(version) and installed != version:
            drift[name] = (version, installed)
    assert not drift, f"installed versions differ from requirements-dev.lock (locked, installed): {drift}"
