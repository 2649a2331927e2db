#!/usr/bin/env bash
# Sets up and starts the gateway with the shipped gateway.toml (embedded SQLite under var/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/gateway --config "${GATEWAY_CONFIG:-gateway.toml}" run
