#!/bin/sh
# stop_bound.sh - SIGTERM stops the daemon within stop_timeout even while an admin request is busy: a
# connectivity check of a Dataverse connection whose identity provider accepts the connection and never
# answers holds an admin thread for the request timeout (120 s); the workflows stop gracefully first,
# the daemon exits 0 within the bound, and the backlog is intact: a restart writes every record.
. "$RUNTIME_LIB"

D365_PLUGIN=$(dirname "$CRMSYNCD")/plugins/dynamics365/dynamics365.la
[ -f "$D365_PLUGIN" ] || { echo "SKIP: the dynamics365 plugin is not built"; exit 77; }
STOP_S=5
RECORDS=20000

# an identity provider that takes connections and never answers; it says its port, then each connection
"$PYTHON3" -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    held.append(s.accept()[0])
    open(sys.argv[2], "a").write("accepted\n")
' "$T/hole.port" "$T/hole.log" &
HOLE_PID=$!
trap 'kill "$HOLE_PID" 2>/dev/null; cleanup' EXIT
i=0
until [ -s "$T/hole.port" ]; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || fail "the silent identity provider did not start"
    sleep 0.1
done
hole="http://127.0.0.1:$(cat "$T/hole.port")"

printf 'stop-bound-operator-token-0123456789\n' >"$T/token"
printf 'd365-client-secret\n' >"$T/d365.secret"
chmod 600 "$T/token" "$T/d365.secret"
WF='  - id: load
    source: mem
    sink: cap
    writers: 1
    mappings: [{stream: contacts}]'
D365="  d365: {connector: dynamics365, url: \"$hole\", authority: \"$hole\", tenant: t, client_id: c,
         client_secret_file: $T/d365.secret, timeout: 120s}"
ADMIN_TOKEN_FILE=$T/token MEM_OPTS="records: $RECORDS, page: 100" CAP_OPTS='delay: 200ms' \
    write_conf "$T/a.conf" "$WF" "$D365"
sed -i "s|^plugins: \[testplug\]|plugins: [testplug, $D365_PLUGIN]\nstop_timeout: ${STOP_S}s|" "$T/a.conf"
"$CRMSYNCD" -c "$T/a.conf" --check-config >/dev/null || fail "the configuration is refused"

"$CRMSYNCD" -c "$T/a.conf" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_for_backlog 100
port=$(admin_port)

# the busy admin request: in progress once the identity provider has its connection
"$PYTHON3" -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=300)
try:
    c.request("POST", "/api/v1/connections/d365/check", headers={"Authorization": "Bearer " + sys.argv[2]})
    c.getresponse().read()
except OSError:
    pass
' "$port" "$(cat "$T/token")" &
CLIENT_PID=$!
i=0
until [ -s "$T/hole.log" ]; do
    i=$((i + 1))
    [ "$i" -lt 300 ] || { tail -20 "$T/daemon.log"; fail "the connectivity check never reached the identity provider"; }
    sleep 0.1
done

started=$(date +%s)
kill -TERM "$DAEMON_PID"
status=0
wait "$DAEMON_PID" || status=$?
took=$(($(date +%s) - started))
DAEMON_PID=
kill "$CLIENT_PID" 2>/dev/null || true
[ "$status" -eq 0 ] || { tail -20 "$T/daemon.log"; fail "crmsyncd exited $status on SIGTERM"; }
# the bound: stop_timeout, and a few seconds for the process to end and this shell to see it
[ "$took" -le $((STOP_S + 5)) ] || fail "SIGTERM took ${took}s with an admin request busy; stop_timeout is ${STOP_S}s"
grep -qF "the stop took longer than stop_timeout (${STOP_S}000 ms) while waiting for the admin API's requests" \
    "$T/daemon.log" || { tail -20 "$T/daemon.log"; fail "the workflows were not stopped before the admin API"; }
# the forced exit skips the sanitizers' reports at exit: what they found before is in the log
! grep -E "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:" "$T/daemon.log" ||
    fail "a sanitizer reported an error in the stopping daemon"

# the backlog is intact: sound, still holding what was queued, and drained by a restart without a loss
[ "$(sql "PRAGMA integrity_check")" = ok ] || fail "the state database is damaged after the stop"
[ "$(sql "SELECT COUNT(*) FROM backlog")" -gt 0 ] || fail "nothing was left queued to prove the backlog kept"
sed -i 's|delay: 200ms|delay: 0|' "$T/a.conf"
run_until_idle "$T/a.conf" 300 || { tail -20 "$T/daemon.log"; fail "the restart did not drain"; }
check_capture "$RECORDS" 0 0
echo "stop_bound: ok (SIGTERM to exit ${took}s, bound ${STOP_S}s)"
