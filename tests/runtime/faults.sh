#!/bin/sh
# faults.sh - the real daemon under injected faults: whole-batch RETRYs (with Retry-After) and
# per-record RETRYs still deliver every record exactly once; rejected keys (by the sink and by a
# mapping stage) end in dead letters with their reason while every other key is delivered.
. "$RUNTIME_LIB"

WF='  - id: faulty
    source: mem
    sink: cap
    writers: 3
    batch_size: 50
    retry: {base: 5ms, cap: 50ms}
    mappings: [{stream: contacts}]'

MEM_OPTS='records: 20000, updates: 5000, page: 400' \
CAP_OPTS='retry_every: 7, retry_after: 20ms, record_retry_every: 13' write_conf "$T/retry.conf" "$WF"
run_until_idle "$T/retry.conf" || { cat "$T/daemon.log"; fail "daemon did not finish cleanly"; }
check_capture 20000 5000 0 || fail "records were lost or reordered under RETRY"
retries=$(sed -n 's/.*"write_retries":\([0-9]*\).*/\1/p' "$T/daemon.log" | tail -1)
[ "${retries:-0}" -gt 1000 ] || fail "expected many retries, the summary says ${retries:-none}"
grep -q 'backing off until [0-9:]*: 429 Too Many Requests (injected) from cap' "$T/daemon.log" ||
    fail "no backing-off sub-state was logged"
[ "$(sql 'select count(*) from backlog')" -eq 0 ] || fail "backlog not empty"

# rejects: the sink refuses every 100th key (400), the stage every 250th (mapping failure)
rm -rf "$T/state" "$T/captured" "$T/daemon.log"
WF_REJECT='  - id: faulty
    source: mem
    sink: cap
    writers: 3
    batch_size: 50
    mappings:
      - stream: contacts
        stages: [{name: reject-every, every: 250}]'
MEM_OPTS='records: 20000, page: 400' CAP_OPTS='reject_every: 100' write_conf "$T/reject.conf" "$WF_REJECT"
run_until_idle "$T/reject.conf" || { cat "$T/daemon.log"; fail "daemon did not finish cleanly"; }
check_capture 20000 0 0 --excluded-every 100 --excluded-every 250 || fail "wrong keys delivered"
[ "$(sql "select count(*) from dead_letter where error_class='mapping_failed'")" -eq 80 ] ||
    fail "expected 80 mapping dead letters"
[ "$(sql "select count(*) from dead_letter where error_class='mapping_failed' and failed_in='reject-every'
          and error_detail like 'key k% is rejected by the test stage'")" -eq 80 ] ||
    fail "mapping dead letters lack their stage and reason"
# keys multiple of 100 but not of 250 reach the sink and are rejected there: 200 - 40 = 160
[ "$(sql "select count(*) from dead_letter where error_class='rejected' and http_status=400
          and failed_in='testplug' and attempts=1
          and error_detail='400 Bad Request: invalid email address (injected)'")" -eq 160 ] ||
    fail "expected 160 sink rejections with status 400 and detail"
[ "$(sql 'select count(*) from backlog')" -eq 0 ] || fail "backlog not empty"

echo "faults: ok"
