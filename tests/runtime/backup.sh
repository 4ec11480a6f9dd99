#!/bin/sh
# backup.sh - crmsyncctl backup FILE while a load is running: the daemon writes a consistent, owner-only
# copy of its state database that opens as a sound database holding backlog rows and the cursor; it never
# replaces a file and needs an operator token (a viewer's is refused); restored into a state directory,
# the workflow resumes from the copy's cursor: the copy's backlog and every record after it are written,
# nothing before.
. "$RUNTIME_LIB"

CTL=$(dirname "$CRMSYNCD")/crmsyncctl
RECORDS=20000
WF='  - id: load
    source: mem
    sink: cap
    writers: 1
    mappings: [{stream: contacts}]'
printf 'backup-test-operator-token-0123456789\n' >"$T/token"
chmod 600 "$T/token"
printf 'backup-test-viewer-token-01234567890\n' >"$T/viewer"
chmod 600 "$T/viewer"
ADMIN_TOKEN_FILE=$T/token MEM_OPTS="records: $RECORDS, page: 100" CAP_OPTS='delay: 20ms' write_conf "$T/a.conf" "$WF"
sed -i "s|^\(admin: {.*\)}$|\1, tokens: [{token_file: \"$T/viewer\", role: viewer}]}|" "$T/a.conf"

"$CRMSYNCD" -c "$T/a.conf" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_for_backlog 500
port=$(admin_port)
ctl() {
    "$CTL" --url "http://127.0.0.1:$port" --token-file "$T/token" "$@"
}

# taken while the reader and the writer run
ctl backup "$T/backup.db" >"$T/ctl.out" 2>&1 || { cat "$T/ctl.out"; fail "crmsyncctl backup failed"; }
grep -qF "state database copied to $T/backup.db (" "$T/ctl.out" || { cat "$T/ctl.out"; fail "no report"; }
[ "$(stat -c %a "$T/backup.db")" = 600 ] || fail "the backup is mode $(stat -c %a "$T/backup.db"), expected 600"
[ "$("$SQLITE3" "$T/backup.db" "PRAGMA integrity_check")" = ok ] || fail "the backup is not a sound database"
queued=$("$SQLITE3" "$T/backup.db" "SELECT COUNT(*) FROM backlog WHERE workflow_id = 'load'")
pos=$("$SQLITE3" "$T/backup.db" \
    "SELECT json_extract(cursor, '$.pos') FROM source_cursor WHERE workflow_id = 'load' AND stream = 'contacts'")
[ "$queued" -gt 0 ] || fail "the backup holds no backlog rows"
[ -n "$pos" ] && [ "$pos" -gt 0 ] && [ "$pos" -lt "$RECORDS" ] || fail "the backup's cursor is \"$pos\""

# never over a file, and only for an operator
sum=$(md5sum <"$T/backup.db")
status=0
ctl backup "$T/backup.db" >"$T/ctl.out" 2>&1 || status=$?
[ "$status" -eq 5 ] && grep -qF "backup file $T/backup.db exists already" "$T/ctl.out" ||
    { cat "$T/ctl.out"; fail "a backup over an existing file was not refused (exit $status)"; }
[ "$(md5sum <"$T/backup.db")" = "$sum" ] || fail "the refused backup changed the file"
printf 'not-the-token-0123456789012345678901\n' >"$T/wrong"
chmod 600 "$T/wrong"
status=0
"$CTL" --url "http://127.0.0.1:$port" --token-file "$T/wrong" backup "$T/other.db" >"$T/ctl.out" 2>&1 || status=$?
[ "$status" -ne 0 ] && [ ! -e "$T/other.db" ] || { cat "$T/ctl.out"; fail "a backup without the token was made"; }
status=0
"$CTL" --url "http://127.0.0.1:$port" --token-file "$T/viewer" backup "$T/other.db" >"$T/ctl.out" 2>&1 || status=$?
[ "$status" -eq 1 ] && [ ! -e "$T/other.db" ] && grep -qF "a backup of the state database (personal data)" "$T/ctl.out" ||
    { cat "$T/ctl.out"; fail "a viewer's backup was not refused for want of an operator token (exit $status)"; }

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "the daemon did not stop cleanly"
DAEMON_PID=

# restored into a new state directory, the workflow resumes from the backup's cursor
"$SQLITE3" "$T/backup.db" "SELECT record_key FROM backlog WHERE workflow_id = 'load'" >"$T/expected"
"$PYTHON3" -c "import sys; [print('k%07d' % i) for i in range(int(sys.argv[1]), int(sys.argv[2]))]" "$pos" \
    "$RECORDS" >>"$T/expected"
sort -u "$T/expected" -o "$T/expected"
mkdir "$T/restored"
cp "$T/backup.db" "$T/restored/state.db"
chmod 600 "$T/restored/state.db"
MEM_OPTS="records: $RECORDS, page: 100" write_conf "$T/b.conf" "$WF"
sed -i "s|^state_dir: .*|state_dir: $T/restored|; s|file: $T/captured|file: $T/captured2|" "$T/b.conf"
run_until_idle "$T/b.conf" 300 || { tail -20 "$T/daemon.log"; fail "the restored daemon did not drain"; }
cut -f2 "$T/captured2" | sort -u >"$T/written"
cmp -s "$T/expected" "$T/written" || {
    diff "$T/expected" "$T/written" | head -5
    fail "after the restore: expected the backup's $queued queued keys and the keys from $pos on"
}
echo "backup: ok ($queued queued, cursor at $pos)"
