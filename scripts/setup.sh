#!/usr/bin/env bash
# Creates .venv and installs the gateway into it (with the test tools when given "dev").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
if [ "${1:-}" = "dev" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
