# lib.sh - shared by the runtime tests: a scratch directory, config writing, running the real crmsyncd
# and checking what the capture sink received. Sourced; expects CRMSYNCD, TESTPLUG_DIR, PYTHON3, SQLITE3.
set -eu

: "${CRMSYNCD:?run through make check}" "${TESTPLUG_DIR:?}" "${PYTHON3:=python3}" "${SQLITE3:=sqlite3}"
HERE=$(cd "$(dirname "$RUNTIME_LIB")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-rt-XXXXXX")
DAEMON_PID=
cleanup() {
    [ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null || true
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# write_conf FILE WORKFLOW_YAML [EXTRA_CONNECTIONS_YAML]: a config with the test plugin, a memory source
# "mem" (options from $MEM_OPTS) and a capture sink "cap" writing $T/captured (options from $CAP_OPTS).
write_conf() {
    cat >"$1" <<CONF
state_dir: $T/state
plugin_dir: $TESTPLUG_DIR
plugins: [testplug]
log_level: ${LOG_LEVEL:-notice}
admin: {listen: "${ADMIN_LISTEN:-127.0.0.1:0}"${ADMIN_TOKEN_FILE:+, token_file: "$ADMIN_TOKEN_FILE"}}
connections:
  mem: {connector: memory-source, ${MEM_OPTS:-records: 1000}}
  cap: {connector: capture-sink, file: $T/captured${CAP_OPTS:+, $CAP_OPTS}}
${3:-}
workflows:
$2
CONF
}

# run_until_idle CONF [TIMEOUT]: the daemon in --exit-when-idle mode, its log in $T/daemon.log.
run_until_idle() {
    timeout "${2:-300}" "$CRMSYNCD" -c "$1" --exit-when-idle >>"$T/daemon.log" 2>&1
}

# wait_for_log PATTERN [SECONDS]: until a line of $T/daemon.log matches the grep pattern (a bound, not a
# timing: a loaded machine may take long); 1 when it never does.
wait_for_log() {
    n=$((${2:-60} * 10))
    while [ "$n" -gt 0 ]; do
        grep -q "$1" "$T/daemon.log" && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

# wait_for_backlog ROWS: until the state database holds more than ROWS backlog rows (60 s at most); fails
# with the daemon's last lines when it never does.
wait_for_backlog() {
    n=600
    until [ "$(sql "SELECT COUNT(*) FROM backlog" 2>/dev/null || echo 0)" -gt "$1" ]; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || { tail -20 "$T/daemon.log"; fail "no backlog built up"; }
        sleep 0.1
    done
}

# admin_port: the admin API's port, as the daemon logged it in $T/daemon.log.
admin_port() {
    sed -n 's/.*listening on http:\/\/[^ ]* (port \([0-9]*\)).*/\1/p' "$T/daemon.log"
}

# sql QUERY: one value from the state database.
sql() {
    "$SQLITE3" "$T/state/state.db" "$1"
}

# check_capture RECORDS UPDATES DELETES [MAX_DUPLICATES] [EXCLUDED_EVERY...]: see check_capture.py.
check_capture() {
    "$PYTHON3" "$HERE/check_capture.py" "$T/captured" "$@"
}
