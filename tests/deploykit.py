"""Helpers for the offline checks of deploy/: where the files are, finding the validating tools.

The tools come from the `test` extra (pyproject.toml) or Debian's packages: kubectl (its built-in
kustomize), Docker Compose v2, Caddy and systemd-analyze. A tool that is missing on this platform
skips its check with a message saying which and how to get it; the structural checks that need
only Python always run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def tool(name: str) -> str | None:
    """`name` from this virtualenv's bin/ (the `test` extra's wheels), else from PATH."""
    local = Path(sys.executable).with_name(name)
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def need_tool(name: str, how: str) -> str:
    found = tool(name)
    if found is None:
        pytest.skip(f"{name} is not installed here ({how}); the structural checks ran without it")
    return found


def run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def load_yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_documents(text: str) -> list[Any]:
    import yaml

    return [doc for doc in yaml.safe_load_all(text) if doc is not None]
