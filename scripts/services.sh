# shellcheck shell=bash
# Redis / PostgreSQL for the test suite.
#
# Source it (after scripts/_lib.sh and ensure_venv), then:
#   ensure_services   # exports LIVEPARK_TEST_REDIS_URL and LIVEPARK_TEST_PG_DSN
#   stop_services     # stops only the servers ensure_services started (call from a trap)
#
# Rules, per service:
#   * LIVEPARK_TEST_REDIS_URL / LIVEPARK_TEST_PG_DSN already set -> used as they are.
#   * else the machine's server on 127.0.0.1:$LIVEPARK_REDIS_PORT (6379) /
#     127.0.0.1:$LIVEPARK_PG_PORT (5432) is used if it answers (PING / SELECT 1 on db "test").
#   * else a throwaway server is started on a free port in a temp dir and stopped afterwards.
#   LIVEPARK_FORCE_THROWAWAY=1 skips the probe and always starts throwaway servers.
#
# Run directly (`bash scripts/services.sh`) for a self-test of the throwaway servers.

LIVEPARK_REDIS_DB="${LIVEPARK_REDIS_DB:-15}"
_STARTED_REDIS_DIR=""
_STARTED_PG_DIR=""
_STARTED_PG_USER=""
_PG_BIN=""

_probe() { "$PY" "$ROOT/scripts/probe.py" "$@" 2>/dev/null; }
free_tcp_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

_tmpdir() {  # world-traversable parent so a non-root PostgreSQL can use it
    local base=/tmp
    [[ -d "$base" && -w "$base" ]] || base="${TMPDIR:-/tmp}"
    mktemp -d "$base/livepark-$1.XXXXXX"
}

start_throwaway_redis() {
    local port dir i
    if ! command -v redis-server >/dev/null; then
        apt_install redis-server || die "redis-server is missing and could not be installed"
    fi
    port="$(free_tcp_port)"
    dir="$(_tmpdir redis)"
    _STARTED_REDIS_DIR="$dir"
    log "starting throwaway redis-server on 127.0.0.1:$port ($dir)"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        --maxclients 10000 >/dev/null \
        || die "redis-server failed to start: $(tail -5 "$dir/redis.log" 2>/dev/null)"
    for i in $(seq 1 50); do
        _probe redis "redis://127.0.0.1:$port/0" && break
        sleep 0.1
    done
    _probe redis "redis://127.0.0.1:$port/0" \
        || die "throwaway redis did not answer: $(tail -5 "$dir/redis.log" 2>/dev/null)"
    export LIVEPARK_TEST_REDIS_URL="redis://127.0.0.1:$port/$LIVEPARK_REDIS_DB"
}

_find_pg_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [[ -z "$d" || ! -x "$d/initdb" ]]; then
        apt_install postgresql >/dev/null || die "PostgreSQL is missing and could not be installed"
        d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    fi
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] || die "initdb/pg_ctl not found under /usr/lib/postgresql/*/bin"
    _PG_BIN="$d"
}

# Run a command as the PostgreSQL owner (root may not run initdb/postgres).
_as_pg() {
    if [[ -n "$_STARTED_PG_USER" ]]; then
        (cd "$_STARTED_PG_DIR" && runuser -u "$_STARTED_PG_USER" -- "$@")
    else
        (cd "$_STARTED_PG_DIR" && "$@")
    fi
}

start_throwaway_pg() {
    local port dir
    _find_pg_bin
    port="$(free_tcp_port)"
    dir="$(_tmpdir pg)"
    _STARTED_PG_DIR="$dir"
    if is_root; then
        if id postgres >/dev/null 2>&1; then _STARTED_PG_USER=postgres; else _STARTED_PG_USER=nobody; fi
        chown "$_STARTED_PG_USER" "$dir"
    fi
    log "starting throwaway PostgreSQL ($_PG_BIN) on 127.0.0.1:$port ($dir${_STARTED_PG_USER:+, as $_STARTED_PG_USER})"
    _as_pg "$_PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
        >"$dir/initdb.log" 2>&1 || die "initdb failed: $(tail -20 "$dir/initdb.log")"
    _as_pg "$_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || die "pg_ctl start failed: $(tail -20 "$dir/pg.log" 2>/dev/null)"
    export LIVEPARK_TEST_PG_DSN="postgresql://postgres@127.0.0.1:$port/test"
    _probe pg "$LIVEPARK_TEST_PG_DSN" --create-db \
        || die "throwaway PostgreSQL did not answer: $(tail -20 "$dir/pg.log" 2>/dev/null)"
}

ensure_services() {
    local rport="${LIVEPARK_REDIS_PORT:-6379}" pport="${LIVEPARK_PG_PORT:-5432}" url
    if [[ -n "${LIVEPARK_TEST_REDIS_URL:-}" ]]; then
        log "Redis: using LIVEPARK_TEST_REDIS_URL=$LIVEPARK_TEST_REDIS_URL (preset)"
    else
        url="redis://127.0.0.1:$rport/$LIVEPARK_REDIS_DB"
        if [[ "${LIVEPARK_FORCE_THROWAWAY:-0}" != 1 ]] && _probe redis "$url"; then
            export LIVEPARK_TEST_REDIS_URL="$url"
            log "Redis: using running server $url"
        else
            log "Redis: nothing usable on 127.0.0.1:$rport"
            start_throwaway_redis
        fi
    fi
    if [[ -n "${LIVEPARK_TEST_PG_DSN:-}" ]]; then
        log "PostgreSQL: using LIVEPARK_TEST_PG_DSN=$LIVEPARK_TEST_PG_DSN (preset)"
    else
        url="postgresql://postgres@127.0.0.1:$pport/test"
        if [[ "${LIVEPARK_FORCE_THROWAWAY:-0}" != 1 ]] && _probe pg "$url" --create-db; then
            export LIVEPARK_TEST_PG_DSN="$url"
            log "PostgreSQL: using running server $url"
        else
            log "PostgreSQL: nothing usable on 127.0.0.1:$pport"
            start_throwaway_pg
        fi
    fi
}

stop_services() {
    local pid
    if [[ -n "$_STARTED_REDIS_DIR" ]]; then
        pid="$(cat "$_STARTED_REDIS_DIR/redis.pid" 2>/dev/null || true)"
        if [[ -n "$pid" ]]; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -rf "$_STARTED_REDIS_DIR"
        log "stopped throwaway redis"
        _STARTED_REDIS_DIR=""
    fi
    if [[ -n "$_STARTED_PG_DIR" ]]; then
        if [[ -f "$_STARTED_PG_DIR/data/postmaster.pid" ]]; then
            _as_pg "$_PG_BIN/pg_ctl" -D "$_STARTED_PG_DIR/data" -m immediate -w -t 30 stop \
                >/dev/null 2>&1 || true
        fi
        rm -rf "$_STARTED_PG_DIR"
        log "stopped throwaway PostgreSQL"
        _STARTED_PG_DIR=""
    fi
}

# Self-test when run directly: start throwaway servers, probe them, stop them.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    # shellcheck source=scripts/_lib.sh
    source "$(dirname "$0")/_lib.sh"
    ensure_venv
    trap stop_services EXIT
    trap 'exit 130' INT TERM
    unset LIVEPARK_TEST_REDIS_URL LIVEPARK_TEST_PG_DSN
    LIVEPARK_FORCE_THROWAWAY=1 ensure_services
    _probe redis "$LIVEPARK_TEST_REDIS_URL" && log "OK $LIVEPARK_TEST_REDIS_URL"
    _probe pg "$LIVEPARK_TEST_PG_DSN" && log "OK $LIVEPARK_TEST_PG_DSN"
fi
