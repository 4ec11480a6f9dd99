#!/bin/sh
# state.sh - the state directory as the daemon guards it: one crmsyncd per state directory (a second
# is refused naming the PID of the first), state.db and its -wal and -shm owner-only, a damaged page
# refused at start (quick_check) and an emptied state.db refused, each naming the two fixes (restore a
# backup, crmsyncd --reset-state); --reset-state refuses while a daemon runs and without confirmation,
# moves the store aside (never deletes it) and the next start begins anew.
. "$RUNTIME_LIB"

WF='  - id: slow
    source: mem
    sink: cap
    writers: 1
    mappings: [{stream: contacts}]'
MEM_OPTS='records: 100000, page: 100' CAP_OPTS='delay: 20ms' write_conf "$T/a.conf" "$WF"

# start_refused CONF EXPECTED-SUBSTRING...: the daemon exits 1 at start, saying each substring
start_refused() {
    conf=$1
    shift
    status=0
    timeout 60 "$CRMSYNCD" -c "$conf" >"$T/refused.log" 2>&1 || status=$?
    [ "$status" -eq 1 ] || { cat "$T/refused.log"; fail "expected exit status 1 at start, got $status"; }
    for want in "$@"; do
        grep -qF -- "$want" "$T/refused.log" || { cat "$T/refused.log"; fail "missing message: $want"; }
    done
}

"$CRMSYNCD" -c "$T/a.conf" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_for_log '\[slow\] RUNNING' 30 || fail "the first daemon did not start"
for f in state.db state.db-wal state.db-shm; do
    [ "$(stat -c %a "$T/state/$f")" = 600 ] || fail "$f is mode $(stat -c %a "$T/state/$f"), expected 600"
done

# a second daemon on the same state directory, and a reset of the state it holds
start_refused "$T/a.conf" "crmsyncd PID $DAEMON_PID holds the lock on $T/state/crmsyncd.lock" "nothing was started"
status=0
"$CRMSYNCD" -c "$T/a.conf" --reset-state --yes >"$T/reset.log" 2>&1 || status=$?
[ "$status" -eq 1 ] && grep -qF "crmsyncd PID $DAEMON_PID holds the lock on $T/state/crmsyncd.lock; stop it first" \
    "$T/reset.log" || { cat "$T/reset.log"; fail "a reset while the daemon runs was not refused naming its PID"; }
[ -s "$T/state/state.db" ] && [ -z "$(ls "$T"/state/state.db.reset-* 2>/dev/null)" ] || fail "the refused reset moved files"
kill -0 "$DAEMON_PID" || fail "the first daemon died"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "the first daemon did not stop cleanly"
DAEMON_PID=

# a damaged table page: refused at start with the fix, not batch by batch
cp "$T/state/state.db" "$T/good.db"
root=$(sql "SELECT rootpage FROM sqlite_master WHERE name = 'revision'")
size=$(sql "PRAGMA page_size")
head -c "$size" /dev/urandom | dd of="$T/state/state.db" bs="$size" seek=$((root - 1)) conv=notrunc 2>/dev/null
FIXES="restore a backup (taken with: crmsyncctl backup FILE): copy it to $T/state/state.db, mode 600"
RESET="start anew with a full sync of every workflow: crmsyncd --reset-state -c $T/a.conf"
start_refused "$T/a.conf" "state database $T/state/state.db is damaged (quick_check: " "$FIXES" "$RESET"

# an emptied state.db where a daemon kept its state
: >"$T/state/state.db"
start_refused "$T/a.conf" "state database $T/state/state.db is empty (0 bytes)" "$FIXES" "$RESET"

# the backup works as documented (VACUUM INTO), and a restored copy starts
cp "$T/good.db" "$T/state/state.db"
rm -f "$T/state/state.db-wal" "$T/state/state.db-shm"
"$SQLITE3" "$T/state/state.db" "VACUUM INTO '$T/backup.db'"
[ "$("$SQLITE3" "$T/backup.db" "PRAGMA quick_check")" = ok ] || fail "the backup is not a sound database"
MEM_OPTS='records: 200, page: 100' write_conf "$T/a.conf" "$WF"
run_until_idle "$T/a.conf" 120 || { tail -20 "$T/daemon.log"; fail "the restored state did not start"; }
[ "$(sql "SELECT COUNT(*) FROM backlog")" = 0 ] || fail "the restored state did not drain"

# --reset-state: refused unless the state directory's path is typed (or --yes)
cp "$T/state/state.db" "$T/before-reset.db"
for answer in "" "yes" "$T/state/other"; do
    status=0
    printf '%s\n' "$answer" | "$CRMSYNCD" -c "$T/a.conf" --reset-state >"$T/reset.log" 2>&1 || status=$?
    [ "$status" -eq 1 ] && grep -qF "Type the state directory's path ($T/state) to confirm" "$T/reset.log" &&
        grep -qF "not confirmed: the state in $T/state stays as it is" "$T/reset.log" ||
        { cat "$T/reset.log"; fail "a reset answered \"$answer\" was not refused (exit $status)"; }
    cmp -s "$T/state/state.db" "$T/before-reset.db" || fail "a refused reset changed state.db"
done
# confirmed: moved aside with the time in its name, said where, and the next start begins anew
printf '%s\n' "$T/state" | "$CRMSYNCD" -c "$T/a.conf" --reset-state >"$T/reset.log" 2>&1 ||
    { cat "$T/reset.log"; fail "a confirmed reset failed"; }
aside=$(ls "$T"/state/state.db.reset-*Z)
grep -qF "moved the state database of $T/state aside to $aside" "$T/reset.log" || { cat "$T/reset.log"; fail "where?"; }
cmp -s "$aside" "$T/before-reset.db" || fail "the store moved aside is not the one that was there"
[ ! -e "$T/state/state.db" ] || fail "state.db is still there after the reset"
rm -f "$T/captured"
MEM_OPTS='records: 300, page: 100' write_conf "$T/a.conf" "$WF"
run_until_idle "$T/a.conf" 120 || { tail -20 "$T/daemon.log"; fail "the daemon did not start after the reset"; }
check_capture 300 0 0
# --yes confirms for scripts; a name a reset in the same second took is never replaced
now=$(date -u +%s) taken=
for t in 0 1 2 3; do
    taken="$taken $T/state/state.db.reset-$(date -u -d "@$((now + t))" +%Y%m%dT%H%M%SZ)"
done
for f in $taken; do [ -e "$f" ] || : >"$f"; done
"$CRMSYNCD" -c "$T/a.conf" --reset-state --yes >"$T/reset.log" 2>&1 </dev/null ||
    { cat "$T/reset.log"; fail "--reset-state --yes failed"; }
aside=$(sed -n "s|.* aside to \($T/state/state.db.reset-[^ ]*\) (with .*|\1|p" "$T/reset.log")
[ ! -e "$T/state/state.db" ] && [ -s "$aside" ] || { cat "$T/reset.log"; fail "--reset-state --yes did not move the store aside"; }
for f in $taken; do
    [ "$f" != "$aside" ] && { [ ! -s "$f" ] || cmp -s "$f" "$T/before-reset.db"; } ||
        fail "a reset took the name of a store moved aside before it: $f"
done
# a state directory that holds no state.db yet: nothing to reset, and no directory is made for it
sed "s|^state_dir: .*|state_dir: $T/none|" "$T/a.conf" >"$T/none.conf"
"$CRMSYNCD" -c "$T/none.conf" --reset-state >"$T/reset.log" 2>&1 </dev/null &&
    grep -qF "$T/none holds no state.db: nothing to reset" "$T/reset.log" && [ ! -e "$T/none" ] ||
    { cat "$T/reset.log"; fail "a reset of a state directory never used did not say there is nothing to do"; }
echo "state: ok"
