#!/usr/bin/env bash
# Install what the desk's browser tests drive: Debian's chromium (apt) and Playwright for
# Python (pip, into .venv). Idempotent: with both present it installs nothing and exits 0.
# Playwright's own browser download is never used; the tests point it at /usr/bin/chromium.
#
# Usage: scripts/install_browser.sh     (called by the browser tests' fixture when missing)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
say() { echo "[browser] $*"; }

if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    say "chromium is missing and this is not root: apt-get install -y chromium" >&2
    exit 1
  fi
  SUDO=$([[ $(id -u) -eq 0 ]] && echo "" || echo sudo)
  say "installing Debian's chromium (apt)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if ! "$PY" -c "import playwright" >/dev/null 2>&1; then
  say "installing Playwright for Python (pip; no browser download)"
  "$PY" -m pip --disable-pip-version-check install -q "playwright>=1.45"
fi
say "ready: $(command -v chromium), $("$PY" -c 'import importlib.metadata as m; print("playwright", m.version("playwright"))')"
