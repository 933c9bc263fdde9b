# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; do not run it.
#   ROOT      repository root (absolute)
#   VENV      $ROOT/.venv (override with LIVEPARK_VENV)
#   PY        $VENV/bin/python (set by ensure_venv)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LIVEPARK_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive

log() { printf '[livepark] %s\n' "$*" >&2; }
die() { printf '[livepark] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [[ "$(id -u)" == 0 ]]; }

# Print the path of a Python 3.11 (or 3.12) interpreter, or fail.
find_python() {
    local c
    for c in "${LIVEPARK_PYTHON:-}" python3.11 /root/.pyenv/versions/3.11*/bin/python3.11 \
             /usr/local/bin/python3.11 /usr/bin/python3.11 python3.12 python3; do
        [[ -n "$c" ]] || continue
        command -v "$c" >/dev/null 2>&1 || [[ -x "$c" ]] || continue
        if "$c" -c 'import sys, venv, ensurepip; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))' \
            >/dev/null 2>&1; then
            command -v "$c" 2>/dev/null || echo "$c"
            return 0
        fi
    done
    return 1
}

_APT_UPDATED=0
# apt_install PKG... : install Debian packages (root only); runs apt-get update once.
apt_install() {
    is_root || { log "not root: cannot apt-get install $* (install it yourself)"; return 1; }
    command -v apt-get >/dev/null || { log "no apt-get: cannot install $*"; return 1; }
    if [[ "$_APT_UPDATED" == 0 ]]; then
        log "apt-get update"
        apt-get update -qq </dev/null >/dev/null || { log "apt-get update failed"; return 1; }
        _APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    apt-get install -y -qq "$@" </dev/null >/dev/null \
        || { log "apt-get install $* failed"; return 1; }
}

# ensure_venv: create $VENV if missing/broken and `pip install -e '.[test]'` when
# pyproject.toml (or the venv's location/Python) changed since the last install.
ensure_venv() {
    local py stamp_file want have
    if [[ -x "$PY" ]] && ! "$PY" -c 'import sys' >/dev/null 2>&1; then
        log "$VENV is broken; recreating"
        rm -rf "$VENV"
    fi
    if [[ ! -x "$PY" ]]; then
        py="$(find_python)" || die "no python3.11 found (need Python >=3.11,<3.13)"
        log "creating $VENV with $py"
        "$py" -m venv "$VENV" || die "python -m venv failed"
    fi
    stamp_file="$VENV/.livepark-install-stamp"
    # The C extension is built by the install: its sources count too.
    want="$( { cat "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT"/src/livepark/media/*.c; echo "$ROOT"; "$PY" -VV; } \
        | sha256sum | cut -d' ' -f1)"
    have="$(cat "$stamp_file" 2>/dev/null || true)"
    if [[ "$want" != "$have" ]] || ! "$PY" -c 'import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in ("livepark", "livepark.media._fastsend", "pytest", "playwright")))' >/dev/null 2>&1; then
        log "pip install -e '.[test]' (quiet)"
        rm -f "$stamp_file"
        "$PY" -m pip install -q -e "$ROOT[test]" </dev/null || die "pip install -e '.[test]' failed"
        echo "$want" >"$stamp_file"
    fi
}
