#!/bin/sh
# deliver.sh - the real daemon, no faults: 100,000 records reach the capture sink exactly once; then
# creations, updates and deletes of the same keys arrive in per-key order with the right final state.
. "$RUNTIME_LIB"

WF='  - id: bulk
    source: mem
    sink: cap
    writers: 4
    batch_size: 200
    mappings: [{stream: contacts}]'

MEM_OPTS='records: 100000, size: 200, page: 1000' write_conf "$T/bulk.conf" "$WF"
run_until_idle "$T/bulk.conf" || { cat "$T/daemon.log"; fail "daemon did not finish cleanly"; }
check_capture 100000 0 0 || fail "100,000 records were not delivered exactly once"
[ "$(wc -l <"$T/captured")" -eq 100000 ] || fail "expected 100000 lines"
[ "$(sql 'select count(*) from backlog')" -eq 0 ] || fail "backlog not empty"
[ "$(sql 'select count(*) from dead_letter')" -eq 0 ] || fail "unexpected dead letters"
grep -q '"records_written":100000' "$T/daemon.log" || fail "summary does not report 100000 written"

# updates and deletes: coalescing may skip intermediate versions, never reorder or lose the last
rm -rf "$T/state" "$T/captured"
MEM_OPTS='records: 20000, updates: 30000, deletes: 5000, page: 500' write_conf "$T/mixed.conf" "$WF"
run_until_idle "$T/mixed.conf" || { cat "$T/daemon.log"; fail "daemon did not finish cleanly"; }
check_capture 20000 30000 5000 || fail "updates and deletes were not delivered in per-key order"
[ "$(sql 'select count(*) from backlog')" -eq 0 ] || fail "backlog not empty"
echo "deliver: ok"
