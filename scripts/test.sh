#!/usr/bin/env bash
# The test command: bash scripts/test.sh [pytest args...]
#   e.g. bash scripts/test.sh tests/rooms -q
# Sets up .venv, Debian chromium, Redis and PostgreSQL (the machine's or throwaway ones),
# runs pytest, then ruff + mypy. Exits non-zero if anything failed.
#
# Env knobs: LIVEPARK_TEST_REDIS_URL / LIVEPARK_TEST_PG_DSN (use these servers as they are),
# LIVEPARK_REDIS_PORT / LIVEPARK_PG_PORT (ports to probe, default 6379/5432),
# LIVEPARK_FORCE_THROWAWAY=1 (always start own servers), LIVEPARK_SKIP_LINT=1 (pytest only),
# LIVEPARK_NOFILE (open-file limit to aim for, default 65536).
set -euo pipefail
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
# shellcheck source=scripts/services.sh
source "$ROOT/scripts/services.sh"
cd "$ROOT"
T0=$SECONDS

# Open-file limit: as high as allowed (root may raise the hard limit too).
want_nofile="${LIVEPARK_NOFILE:-65536}"
ulimit -n "$want_nofile" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open-file limit: $(ulimit -n)"

ensure_venv

if ! command -v chromium >/dev/null; then
    if is_root; then
        apt_install chromium || log "WARNING: could not install chromium; browser tests will fail"
    else
        log "WARNING: 'chromium' is not installed and we are not root: browser tests will fail." \
            "Install it with: sudo apt-get update && sudo apt-get install -y chromium"
    fi
fi

trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ensure_services
export LIVEPARK_TEST_REDIS_URL LIVEPARK_TEST_PG_DSN
log "setup done in $((SECONDS - T0))s"

# ---- tests -------------------------------------------------------------------------
status=0
set +e
"$PY" -m pytest "$@" </dev/null
rc=$?
set -e
if [[ $rc == 5 ]]; then
    log "FAIL: pytest collected no tests (exit 5) for: ${*:-<default testpaths>}"
    status=1
elif [[ $rc != 0 ]]; then
    log "FAIL: pytest exited with $rc"
    status=$rc
fi

# ---- lint (after the tests, so test output comes first) ----------------------------
if [[ "${LIVEPARK_SKIP_LINT:-0}" != 1 ]]; then
    log "ruff check + format check (src tests benchmarks)"
    if ! "$PY" -m ruff check src tests benchmarks || ! "$PY" -m ruff format --check src tests benchmarks; then
        log "FAIL: ruff"
        [[ $status != 0 ]] || status=1
    fi
    log "mypy (strict; files from pyproject.toml)"
    if ! "$PY" -m mypy; then
        log "FAIL: mypy"
        [[ $status != 0 ]] || status=1
    fi
fi

if [[ $status == 0 ]]; then
    log "all OK in $((SECONDS - T0))s"
else
    log "FAILED (exit $status) after $((SECONDS - T0))s"
fi
exit "$status"
