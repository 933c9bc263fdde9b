#!/usr/bin/env bash
# The main command: bash scripts/run.sh [extra `livepark serve` args...]
# Creates .venv if missing, installs the package, runs `livepark serve --demo`.
set -euo pipefail
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
cd "$ROOT"
ensure_venv
exec "$VENV/bin/livepark" serve --demo "$@"
