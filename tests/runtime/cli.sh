#!/bin/sh
# cli.sh - crmsyncd's command line as an operator meets it: --check-config accepts a good file and
# refuses bad ones with file:line:col and the key path (exit 78, nothing started), and what start would
# refuse about the admin API (an open token file, a listener beyond loopback without a token); --list-plugins
# shows options with secrets marked and the ranges and choices a plugin states, which --check-config
# enforces; secrets from files must be owner-only and never appear in logs; plugin problems name the config
# position and the file.
. "$RUNTIME_LIB"

WF='  - id: demo
    source: mem
    sink: cap
    mappings: [{stream: contacts}]'
write_conf "$T/good.conf" "$WF"
out=$("$CRMSYNCD" -c "$T/good.conf" --check-config) || fail "--check-config refused a good file"
[ "$out" = "$T/good.conf: OK (1 plugins, 2 connections, 1 workflows)" ] || fail "unexpected: $out"
[ ! -e "$T/state" ] || fail "--check-config must not create the state directory"

expect_refusal() { # FILE EXPECTED-SUBSTRING
    status=0
    "$CRMSYNCD" -c "$1" --check-config >"$T/out" 2>&1 || status=$?
    [ "$status" -eq 78 ] || { cat "$T/out"; fail "$1: exit status $status, expected 78"; }
    grep -qF -- "$2" "$T/out" || { cat "$T/out"; fail "$1: missing message: $2"; }
}

# core schema: unknown key with a hint, at its line and column
sed 's/^state_dir:/stat_dir:/' "$T/good.conf" >"$T/typo.conf"
expect_refusal "$T/typo.conf" "typo.conf:1:1: stat_dir: unknown key (did you mean \"state_dir\"?)"
# plugin options: checked against the connector's table
sed 's/records: 1000/recrods: 1000/' "$T/good.conf" >"$T/opt.conf"
expect_refusal "$T/opt.conf" "connections.mem.recrods: unknown"
expect_refusal "$T/opt.conf" "did you mean \"records\"?"
# plugin options: out of the range the table states, at the option's line and column
sed 's/records: 1000/records: 0/' "$T/good.conf" >"$T/zero.conf"
expect_refusal "$T/zero.conf" "zero.conf:7:35: connections.mem.records: must be at least 1, got 0"
# a connector nobody provides
sed 's/connector: capture-sink/connector: kafka-sink/' "$T/good.conf" >"$T/conn.conf"
expect_refusal "$T/conn.conf" "connections.cap.connector: no loaded plugin provides the connector \"kafka-sink\""
# a sink that cannot write
sed 's/    sink: cap/    sink: mem/' "$T/good.conf" >"$T/role.conf"
expect_refusal "$T/role.conf" "workflows[0].sink: connection \"mem\" uses the connector \"memory-source\", which cannot write"
# a stage nobody provides, with its path
sed 's/mappings: \[{stream: contacts}\]/mappings: [{stream: contacts, stages: [{name: nope}]}]/' "$T/good.conf" >"$T/stage.conf"
expect_refusal "$T/stage.conf" "workflows[0].mappings[0].stages[0].name: no loaded plugin provides the stage \"nope\""
# a replacement rule with a typo in its key: reported at its position (it crashed the check)
sed 's/mappings: \[{stream: contacts}\]/mappings: [{stream: contacts, fields: [{source: a, target: b}], replacements: [{fiel: a, from: 1, to: 2}]}]/' \
    "$T/good.conf" >"$T/repl.conf"
expect_refusal "$T/repl.conf" "repl.conf:14:84: workflows[0].mappings[0].replacements[0].field: required"
# what start refuses about the admin API, --check-config refuses too (it said OK): a token file others can
# read, and a listener that is not loopback without a token
printf 'tok3n-for-the-check-0123456789abcdef\n' >"$T/open.token"
chmod 644 "$T/open.token"
ADMIN_TOKEN_FILE="$T/open.token" write_conf "$T/opentoken.conf" "$WF"
expect_refusal "$T/opentoken.conf" "admin.token_file"
expect_refusal "$T/opentoken.conf" "$T/open.token"
ADMIN_LISTEN="0.0.0.0:0" write_conf "$T/exposed.conf" "$WF"
expect_refusal "$T/exposed.conf" "admin.listen 0.0.0.0:0 is not a loopback address: set admin.token_file"
# YAML syntax errors keep libyaml's words and their position, and say what a person needs: a tab used for
# indentation, a key indented more or less than the keys above it
printf 'state_dir: %s/state\nadmin:\n\tlisten: 127.0.0.1:0\n' "$T" >"$T/tab.conf"
expect_refusal "$T/tab.conf" "tab.conf:3:1: found character that cannot start any token"
expect_refusal "$T/tab.conf" "tabs are not allowed for indentation; use spaces"
printf 'state_dir: %s/state\nadmin:\n  listen: 127.0.0.1:0\n    web_dir: /x\n' "$T" >"$T/deeper.conf"
expect_refusal "$T/deeper.conf" "deeper.conf:4:12: mapping values are not allowed in this context: this line is indented more (4 spaces) than line 3 above it (2)"
printf 'state_dir: %s/state\nconnections:\n  mem:\n    connector: x\n   records: 5\n' "$T" >"$T/shallower.conf"
expect_refusal "$T/shallower.conf" "this line is indented less (3 spaces) than line 4 above it (4)"
# what the YAML reader refuses has its line and column too; an oversized file says what to do
printf 'state_dir: /tmp/x\nplugins: [caf\351]\n' >"$T/utf8.conf"
expect_refusal "$T/utf8.conf" "utf8.conf:2:15: invalid trailing UTF-8 octet (byte 32)"
printf 'state_dir: /tmp/x\n# a bell \007 here\n' >"$T/ctrl.conf"
expect_refusal "$T/ctrl.conf" "ctrl.conf:2:10: control characters are not allowed (byte 27)"
head -c 1100000 /dev/zero | tr '\0' '#' >"$T/huge.conf"
status=0
"$CRMSYNCD" -c "$T/huge.conf" --check-config >"$T/out" 2>&1 || status=$?
grep -qF "huge.conf: larger than the 1024 KiB a configuration file may have; move workflows or connections" "$T/out" ||
    { cat "$T/out"; fail "an oversized file: exit status $status"; }
# a plugin that is not there, at its position in `plugins`
sed 's/plugins: \[testplug\]/plugins: [testplug, nosuch]/' "$T/good.conf" >"$T/plug.conf"
expect_refusal "$T/plug.conf" "plug.conf:3:21: plugins[1]: plugin \"nosuch\": not found in plugin_dir"

# --list-plugins: components, options, secrets marked
"$CRMSYNCD" -c "$T/good.conf" --list-plugins >"$T/list" || fail "--list-plugins failed"
grep -q '^testplug 1.0 (plugin ABI 1\.[0-9]*) ' "$T/list" || fail "plugin line missing"
grep -q '^  connector memory-source \[source\]: ' "$T/list" || fail "source line missing"
grep -q '^  connector capture-sink \[sink\]: ' "$T/list" || fail "sink line missing"
grep -q '^  stage reject-every: ' "$T/list" || fail "stage line missing"
grep -Eq '^ +records +int +required ' "$T/list" || fail "required option not shown"
grep -Eq '^ +api_token +string +secret +stand-in .*\(set api_token_file or api_token_env\)$' "$T/list" ||
    { cat "$T/list"; fail "secret option not marked"; }
grep -Eq '^ +page +int +events per checkpoint \(default 500, at least 1\)$' "$T/list" ||
    { cat "$T/list"; fail "an option's lower bound not shown"; }
# ranges and choices of a plugin's settings, as text and as JSON
sed "s|plugins: \[testplug\]|plugins: [testplug, $FIXTURE_PLUGIN_DIR/fixture-ok.la]|" "$T/good.conf" >"$T/limits.conf"
"$CRMSYNCD" -c "$T/limits.conf" --list-plugins >"$T/list" || fail "--list-plugins failed"
grep -Eq '^ +limit +int +records at once \(default 10, range 1-100\)$' "$T/list" ||
    { cat "$T/list"; fail "an option's range not shown"; }
grep -Eq '^ +mode +string +how to write \(default safe, one of fast, safe\)$' "$T/list" ||
    { cat "$T/list"; fail "an option's choices not shown"; }
"$CRMSYNCD" -c "$T/limits.conf" --list-plugins=json >"$T/list.json" || fail "--list-plugins=json failed"
"$PYTHON3" - "$T/list.json" <<'PY' || fail "--list-plugins=json: ranges or choices missing"
import json, sys
options = {o["name"]: o for p in json.load(open(sys.argv[1]))["plugins"] for c in p["components"] for o in c["options"]}
assert (options["limit"]["min"], options["limit"]["max"]) == (1, 100), options["limit"]
assert options["mode"]["choices"] == ["fast", "safe"], options["mode"]
assert options["page"]["min"] == 1 and "max" not in options["page"], options["page"]
assert "min" not in options["size"] and "choices" not in options["size"], options["size"]
PY

# secrets: inline refused, group-readable file refused, owner-only file used and never logged
CAP_OPTS='api_token: let-me-in' write_conf "$T/inline.conf" "$WF"
expect_refusal "$T/inline.conf" "connections.cap.api_token: secrets are not accepted inline"
printf 'let-me-in\n' >"$T/token"
chmod 644 "$T/token"
CAP_OPTS="api_token_file: $T/token" write_conf "$T/secret.conf" "$WF"
expect_refusal "$T/secret.conf" "is readable by group or others (mode 0644); run: chmod 600 $T/token"
chmod 602 "$T/token"
expect_refusal "$T/secret.conf" "is writable by group or others (mode 0602); run: chmod 600 $T/token"
# a FIFO is refused at once (opening it waited for a writer for good)
mkfifo "$T/fifo"
CAP_OPTS="api_token_file: $T/fifo" write_conf "$T/fifo.conf" "$WF"
status=0
timeout 30 "$CRMSYNCD" -c "$T/fifo.conf" --check-config >"$T/out" 2>&1 || status=$?
[ "$status" -eq 78 ] && grep -qF "$T/fifo is not a regular file" "$T/out" ||
    { cat "$T/out"; fail "a FIFO as a secret file: exit status $status"; }
# a NUL byte or a Windows line end in a secret
printf 'let\000me-in\n' >"$T/nul"
printf 'let-me-in\r\n' >"$T/crlf"
chmod 600 "$T/nul" "$T/crlf"
CAP_OPTS="api_token_file: $T/nul" write_conf "$T/nul.conf" "$WF"
expect_refusal "$T/nul.conf" "$T/nul holds a NUL byte"
CAP_OPTS="api_token_file: $T/crlf" write_conf "$T/crlf.conf" "$WF"
expect_refusal "$T/crlf.conf" "$T/crlf ends its line with a carriage return"
# a secret another user owns (and could replace)
if [ "$(id -u)" -eq 0 ]; then
    cp "$T/crlf" "$T/theirs" && printf 'let-me-in\n' >"$T/theirs" && chown 65534 "$T/theirs"
    CAP_OPTS="api_token_file: $T/theirs" write_conf "$T/theirs.conf" "$WF"
    expect_refusal "$T/theirs.conf" "$T/theirs is owned by uid 65534, not by the user crmsyncd runs as (uid 0)"
fi
chmod 600 "$T/token"
LOG_LEVEL=debug CAP_OPTS="api_token_file: $T/token" write_conf "$T/secret.conf" "$WF"
run_until_idle "$T/secret.conf" || { cat "$T/daemon.log"; fail "the token from a file was not accepted"; }
[ "$(wc -l <"$T/captured")" -eq 1000 ] || fail "records not delivered with a file secret"
printf 'wrong-secret-value\n' >"$T/token"
rm -rf "$T/state"
status=0
run_until_idle "$T/secret.conf" || status=$?
[ "$status" -eq 1 ] || fail "a refused token must end the run with exit 1 (got $status)"
grep -q 'FAILED: sink "cap" could not start: 401 Unauthorized: the api_token was refused' "$T/daemon.log" ||
    fail "the refused token was not reported"
if grep -q 'wrong-secret-value\|let-me-in' "$T/daemon.log"; then fail "a secret value reached the log"; fi
API_ENV_VALUE=let-me-in
export API_ENV_VALUE
CAP_OPTS="api_token_env: API_ENV_VALUE" write_conf "$T/env.conf" "$WF"
"$CRMSYNCD" -c "$T/env.conf" --check-config >/dev/null || fail "a secret from the environment was refused"
# the checks are linear in the list sizes: 40,000 mappings (flow style, to stay under the 1 MiB a
# file may have) are checked within a CPU budget some twenty times what they need (they took minutes)
"$PYTHON3" - "$T/big.conf" "$T/state" "$TESTPLUG_DIR" <<'PY'
import sys
path, state, plugdir = sys.argv[1:]
n = 40000
with open(path, "w") as f:
    f.write("state_dir: %s\nplugin_dir: %s\nplugins: [testplug]\nconnections:\n" % (state, plugdir))
    f.write("  mem: {connector: memory-source, records: 10}\n  cap: {connector: capture-sink, file: /nonexistent}\n")
    f.write("workflows:\n  - id: big\n    source: mem\n    sink: cap\n    limits: {custom_entities: 1000000}\n")
    f.write("    mappings: [%s, {stream: s7, target: s9}]\n" % ", ".join("{stream: s%d}" % i for i in range(n)))
PY
status=0
(ulimit -t 60 && exec "$CRMSYNCD" -c "$T/big.conf" --check-config) >"$T/out" 2>&1 || status=$?
[ "$status" -eq 78 ] || { tail -5 "$T/out"; fail "40,000 mappings: exit status $status (78 expected; 137 or 152: out of CPU time)"; }
grep -qF "workflows[0].mappings[40000].stream: duplicate stream \"s7\"" "$T/out" || { tail -5 "$T/out"; fail "big: no duplicate"; }
# an admin port another process holds: refused at start naming the address and the cause
"$PYTHON3" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$T/port" &
HOLDER=$!
i=0
until [ -s "$T/port" ]; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || fail "the port holder did not start"
    sleep 0.1
done
port=$(cat "$T/port")
ADMIN_LISTEN="127.0.0.1:$port" write_conf "$T/taken.conf" "$WF"
status=0
timeout 60 "$CRMSYNCD" -c "$T/taken.conf" >"$T/taken.log" 2>&1 || status=$?
kill "$HOLDER" 2>/dev/null || true
[ "$status" -eq 78 ] || { cat "$T/taken.log"; fail "a taken admin port: exit status $status, expected 78"; }
grep -qF "admin.listen 127.0.0.1:$port: cannot listen there: Address already in use" "$T/taken.log" ||
    { cat "$T/taken.log"; fail "a taken admin port was not named with its cause"; }
if grep -q 'port 0' "$T/taken.log"; then fail "the refusal speaks of port 0"; fi
# plugins export exactly one symbol
so="$TESTPLUG_DIR/.libs/testplug.so"
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ { print $3 }')
[ "$exports" = cs_plugin_entry ] || fail "testplug.so exports more than cs_plugin_entry: $exports"
echo "cli: ok"
