#!/bin/sh
# kill9.sh - kill -9 the real daemon at random points of a 100,000-record run (with updates), restart it
# on the same state each time, and finally let it drain: every key reaches its final state, versions of
# a key never go backwards, duplicates are at most the batches in flight at each kill, and the backlog
# returns to 0.
. "$RUNTIME_LIB"

WRITERS=4 BATCH=100 KILLS=${KILLS:-5}
WF="  - id: crashy
    source: mem
    sink: cap
    writers: $WRITERS
    batch_size: $BATCH
    mappings: [{stream: contacts}]"
MEM_OPTS='records: 100000, updates: 20000, size: 300, page: 500' CAP_OPTS='delay: 20ms' \
    write_conf "$T/crashy.conf" "$WF"

kills=0
while [ "$kills" -lt "$KILLS" ]; do
    "$CRMSYNCD" -c "$T/crashy.conf" >>"$T/daemon.log" 2>&1 &
    DAEMON_PID=$!
    # a random point between 0.2 s and 2.2 s into the run
    sleep "$(awk -v s="$(od -An -N2 -tu2 /dev/urandom)" 'BEGIN { printf "%.2f", 0.2 + (s % 2000) / 1000 }')"
    kill -9 "$DAEMON_PID" 2>/dev/null || fail "the daemon died before it was killed"
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
    kills=$((kills + 1))
    echo "killed after $(wc -l <"$T/captured" 2>/dev/null || echo 0) lines, backlog $(sql 'select count(*) from backlog')"
done
run_until_idle "$T/crashy.conf" || { tail -50 "$T/daemon.log"; fail "the final run did not drain"; }
check_capture 100000 20000 0 --max-duplicates $((KILLS * WRITERS * BATCH)) ||
    fail "records lost, reordered or duplicated beyond the batches in flight"
[ "$(sql 'select count(*) from backlog')" -eq 0 ] || fail "backlog not empty"
[ "$(sql 'select count(*) from dead_letter')" -eq 0 ] || fail "unexpected dead letters"
echo "kill9: ok"
