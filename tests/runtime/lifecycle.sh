#!/bin/sh
# lifecycle.sh - the real daemon's process life: SIGTERM mid-run stops gracefully (exit 0, in-flight
# batches finish, nothing duplicated, the rest written after a restart); SIGHUP with a changed
# definition records a new revision while the running one is kept (the first start says the definition
# was loaded); a broken file on SIGHUP is refused and the daemon keeps running; the log lines carry their
# RFC 3339 time.
. "$RUNTIME_LIB"

wf() {
    cat <<WF
  - id: steady
    source: mem
    sink: cap
    writers: 2
    batch_size: 50
    poll_interval: $1
    mappings: [{stream: contacts}]
WF
}
MEM_OPTS='records: 30000, page: 200' CAP_OPTS='delay: 25ms' write_conf "$T/steady.conf" "$(wf 5s)"

"$CRMSYNCD" -c "$T/steady.conf" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
# the change below must come after revision 1 is recorded, or it would be revision 1 itself
wait_for_log '\[steady\] definition loaded from' || fail "the daemon did not load its definition"
# SIGHUP with a changed definition: a new revision, the running workflow keeps revision 1
MEM_OPTS='records: 30000, page: 200' CAP_OPTS='delay: 25ms' write_conf "$T/steady.conf" "$(wf 6s)"
kill -HUP "$DAEMON_PID"
wait_for_log '\[steady\] definition changed in .*steady.conf: revision 2' ||
    fail "SIGHUP did not record revision 2"
grep -q '\[steady\] definition loaded from .*steady.conf: revision 1' "$T/daemon.log" ||
    fail "the first start did not say the definition was loaded (revision 1)"
# a log written to a file: every line of crmsyncd's starts with its RFC 3339 time
grep 'crmsyncd: ' "$T/daemon.log" | grep -vqE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z crmsyncd: ' &&
    fail "a log line without its time: $(grep 'crmsyncd: ' "$T/daemon.log" | grep -vE '^[0-9]{4}-' | head -1)"
[ "$(sql "select count(*) from revision where workflow_id='steady'")" -eq 2 ] || fail "expected 2 revisions"
# a broken file on SIGHUP is refused, the daemon keeps running
echo "workflows: [oops" >>"$T/steady.conf"
kill -HUP "$DAEMON_PID"
wait_for_log 'reload of .*steady.conf refused; the running configuration stays' ||
    fail "a broken config on SIGHUP was not refused"
kill -0 "$DAEMON_PID" || fail "the daemon died on a broken reload"

kill -TERM "$DAEMON_PID"
status=0
wait "$DAEMON_PID" || status=$?
DAEMON_PID=
[ "$status" -eq 0 ] || fail "SIGTERM exit status $status"
written=$(wc -l <"$T/captured")
[ "$written" -gt 0 ] && [ "$written" -lt 30000 ] || fail "SIGTERM should land mid-run ($written written)"
[ "$(sql "select state from workflow where id='steady'")" = stopped ] || fail "state not recorded as stopped"
[ "$(sql "select desired_state from workflow where id='steady'")" = running ] ||
    fail "a shutdown must not change the desired state"

MEM_OPTS='records: 30000, page: 200' write_conf "$T/steady.conf" "$(wf 6s)"
run_until_idle "$T/steady.conf" || { tail -30 "$T/daemon.log"; fail "restart did not drain"; }
check_capture 30000 0 0 || fail "a graceful stop must lose and duplicate nothing"
echo "lifecycle: ok"
