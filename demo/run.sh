#!/bin/sh
# run.sh - the Quick start demo (README.md): on Debian 12 as root, installs the dependencies
# (tests/deps.sh), bootstraps, configures and builds in build/, then starts the Dataverse and Campaign
# emulators with sample data (demo/emulators.py; the Dataverse org as a new one is: no activity tables,
# change tracking off) and `build/crmsyncd -c conf/demo.conf` with its three workflows, runs the real
# sequence of a new org (`crmsyncctl preflight`: what is missing; `crmsyncctl setup dynamics365`: creates
# it; `crmsyncctl preflight` again: every check passes; then the workflows that could not start are
# started), and prints their progress (`build/crmsyncctl -c conf/demo.conf workflows`) until Ctrl-C,
# which stops crmsyncd (SIGTERM, waited for) and then the emulators.
#
# Usage: sh demo/run.sh [--no-build]
#   --no-build        use the build in $DEMO_BUILD as it is (no deps.sh, bootstrap, configure, make)
# Environment:
#   DEMO_PORTS="A D C"  the admin API's, the Dataverse emulator's and the Campaign emulator's ports
#                       (default "8470 8471 8472", those of conf/demo.conf; others run a copy of it,
#                       build/demo/demo.conf, with only the ports changed)
#   DEMO_SECONDS=N      stop by itself after N seconds; the exit status is then 0 when every workflow
#                       was RUNNING with an empty backlog, else 1
#   DEMO_BUILD=DIR      the build directory (default: build/ of the checkout)
#   DEMO_DIR=DIR        where the demo's files go, in DIR/build/demo/ (default: the checkout; tests/demo/demo.py
#                       uses a scratch one); crmsyncd then runs a copy of conf/demo.conf kept there
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DEMO_BUILD:-$top/build}
dir=${DEMO_DIR:-$top}
ports=${DEMO_PORTS:-8470 8471 8472}
no_build=0
case "${1:-}" in
    --no-build) no_build=1 ;;
    "") ;;
    *) echo "usage: sh demo/run.sh [--no-build]" >&2; exit 2 ;;
esac
say() { echo "demo: $*"; }

# ---- 1. dependencies and build ----------------------------------------------------------------------
if [ "$no_build" = 0 ]; then
    cd "$top"
    if [ "$(id -u)" -eq 0 ]; then
        say "installing the build dependencies (tests/deps.sh)"
        sh tests/deps.sh
    else
        say "not root: assuming the dependencies are installed (tests/deps.sh installs them as root)"
    fi
    say "generating configure (./bootstrap)"
    ./bootstrap >/dev/null 2>&1 || { ./bootstrap; exit 1; }
    mkdir -p "$build"
    cd "$build"
    if [ ! -f Makefile ]; then
        say "configuring in $build (output in $build/demo-configure.log)"
        "$top/configure" >demo-configure.log 2>&1 || { tail -40 demo-configure.log; say "configure failed"; exit 1; }
    fi
    say "building in $build (make -j$(nproc); output in $build/demo-make.log)"
    make -j"$(nproc)" >demo-make.log 2>&1 || { tail -40 demo-make.log; say "the build failed"; exit 1; }
fi
for f in crmsyncd crmsyncctl; do
    [ -x "$build/$f" ] || { say "$build/$f is missing: build first, or run without --no-build"; exit 1; }
done
build=$(cd "$build" && pwd)

# ---- 2. the demo's directory: build/demo/ under $dir, as conf/demo.conf names it ---------------------
# shellcheck disable=SC2086 # split into the three ports
set -- $ports
[ $# -eq 3 ] || { say "DEMO_PORTS must hold three ports: admin API, Dataverse, Campaign"; exit 2; }
admin_port=$1 dv_port=$2 acs_port=$3
python3 - "$admin_port" "$dv_port" "$acs_port" <<'EOF' || exit 1
import socket, sys
for what, port in zip(("the admin API", "the Dataverse emulator", "the Campaign emulator"), sys.argv[1:]):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT does not count
    try:
        s.bind(("127.0.0.1", int(port)))
        s.listen(1)
    except OSError as e:
        sys.exit("demo: port %s (%s) is taken (%s): another demo or an installed crmsyncd? Stop it, or run "
                 "with other ports: DEMO_PORTS='9470 9471 9472' sh demo/run.sh" % (port, what, e.strerror))
    finally:
        s.close()
EOF
cd "$dir"
demo=build/demo
mkdir -p "$demo"
rm -rf "$demo/state" "$demo/optout" "$demo/plugins" "$demo/web" "$demo/emulators.json"  # the emulators start empty: so does the state
mkdir -p "$demo/plugins" "$demo/optout"
ln -s "$top/web" "$demo/web"  # admin.web_dir: the Workflows page
# plugin_dir: one directory holding the plugins, which the build leaves in build/plugins/<name>/.libs/
for p in dynamics365 campaign stages custom-entity adobe; do
    so=$build/plugins/$p/.libs/$p.so
    [ -f "$so" ] || { say "$so is missing: was the build configured with the $p plugin?"; exit 1; }
    ln -s "$so" "$demo/plugins/$p.so"
done
# the secrets the configuration points at, new for every run, owner-only; the emulators read them too
(
    umask 077
    mkdir -p "$demo/secrets"
    for s in d365.secret acs.secret admin.token; do
        rm -f "$demo/secrets/$s"
        printf '%s\n' "$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')" >"$demo/secrets/$s"
    done
)
conf=conf/demo.conf  # its paths (../build/demo/...) are taken from conf/: the checkout's build/demo/
if [ "$ports" != "8470 8471 8472" ] || [ "$dir" != "$top" ]; then
    sed -e "s/127\.0\.0\.1:8470/127.0.0.1:$admin_port/g" -e "s/127\.0\.0\.1:8471/127.0.0.1:$dv_port/g" \
        -e "s/127\.0\.0\.1:8472/127.0.0.1:$acs_port/g" -e "s|: \.\./build/demo/|: |" "$top/conf/demo.conf" \
        >"$demo/demo.conf"
    conf=$demo/demo.conf
    say "ports $ports: running $conf, a copy of conf/demo.conf with these ports and its paths taken from $demo"
fi
daemon="$build/crmsyncd"
ctl="$build/crmsyncctl"
[ "$build" != "$top/build" ] || [ "$dir" != "$top" ] || { daemon=build/crmsyncd; ctl=build/crmsyncctl; }
out=$("$daemon" --check-config -c "$conf") || { say "$conf has errors (above)"; exit 1; }
say "$out"

# ---- 3. start the emulators, then crmsyncd; stop both on Ctrl-C or on exit --------------------------
emu_pid="" daemon_pid=""
alive() { # PID: running (not exited, not a zombie waiting for wait)
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
stop() { # PID NAME: SIGTERM, wait up to 60 s, then SIGKILL
    [ -n "$1" ] || return 0
    if alive "$1"; then
        say "stopping $2 (SIGTERM to $1)"
        kill -TERM "$1" 2>/dev/null || true
        i=0
        while alive "$1" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
        if alive "$1"; then
            say "$2 did not stop within 60 s: SIGKILL"
            kill -KILL "$1" 2>/dev/null || true
        fi
    fi
    st=0
    wait "$1" 2>/dev/null || st=$?
    say "$2 stopped (exit status $st)"
}
cleanup() { # once; a second Ctrl-C does not cut it short (crmsyncd gets 60 s, then SIGKILL)
    trap '' INT TERM
    trap - EXIT
    stop "$daemon_pid" crmsyncd
    stop "$emu_pid" "the emulators"
    say "stopped; crmsyncd's log: $demo/crmsyncd.log"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

python3 "$top/demo/emulators.py" --dataverse-port "$dv_port" --campaign-port "$acs_port" \
    --secrets "$demo/secrets" --optout-dir "$demo/optout" --status "$demo/emulators.json" </dev/null &
emu_pid=$!
i=0
until [ -f "$demo/emulators.json" ]; do
    alive "$emu_pid" || { emu_pid=""; say "the emulators did not start"; exit 1; }
    [ $i -lt 600 ] || { say "the emulators did not start within 60 s"; exit 1; }
    sleep 0.1
    i=$((i + 1))
done
say "starting: $daemon -c $conf (log: $demo/crmsyncd.log)"
"$daemon" -c "$conf" >"$demo/crmsyncd.log" 2>&1 </dev/null &
daemon_pid=$!

# ---- 4. a new org: preflight lists what is missing, setup creates it, preflight passes ---------------
i=0
until "$ctl" -c "$conf" workflows >/dev/null 2>&1; do
    alive "$daemon_pid" || { say "crmsyncd exited:"; tail -20 "$demo/crmsyncd.log"; exit 1; }
    [ $i -lt 600 ] || { say "the admin API did not answer within 60 s"; exit 1; }
    sleep 0.1
    i=$((i + 1))
done
say "---- $ctl -c $conf preflight (the systems as they are: the workflows cannot start yet)"
"$ctl" -c "$conf" preflight || say "preflight: exit status $? (some prerequisites are missing, as above)"
say "---- $ctl -c $conf setup dynamics365 (creates what Dynamics 365 lacks)"
"$ctl" -c "$conf" setup dynamics365 || { say "setup failed (above)"; exit 1; }
say "---- $ctl -c $conf preflight"
"$ctl" -c "$conf" preflight || { say "preflight still fails (above)"; exit 1; }
for wf in $("$ctl" -c "$conf" --json workflows | python3 -c '
import json, sys
print(" ".join(w["id"] for w in json.load(sys.stdin)["workflows"] if w["status"] in ("FAILED", "STOPPED")))'); do
    "$ctl" -c "$conf" start "$wf" >/dev/null || { say "starting $wf failed"; exit 1; }
    say "started $wf (it could not start before setup)"
done

# ---- 5. progress, until every workflow is RUNNING with an empty backlog; then now and then ----------
ready() { # every workflow RUNNING with an empty backlog, after the emulators' first events and export
    "$ctl" -c "$conf" --json workflows 2>/dev/null | python3 -c '
import json, sys
w = json.load(sys.stdin)["workflows"]
s = json.load(open(sys.argv[1]))
sys.exit(0 if w and s["events"] and s["exports"] and
         all(x["status"] == "RUNNING" and x["backlog"] == 0 for x in w) else 1)' "$demo/emulators.json"
}
summary() { # what the workflows did, as the emulators show it
    python3 - "$demo/emulators.json" <<'EOF'
import json, sys, urllib.request
s = json.load(open(sys.argv[1]))
get = lambda url: json.load(urllib.request.urlopen(url, timeout=10))
acs, dv = get(s["campaign"] + "/_emulator/resources"), get(s["dataverse"] + "/_emulator/tables")
acts = [dv["new_acsemail%ss" % t] for t in ("send", "open", "click", "bounce")]
out = sum(1 for c in s["opted_out"] if get(s["dataverse"] + "/_emulator/tables/contacts/" + c)["donotbulkemail"])
print("demo:   Dynamics 365 to Campaign: %d contacts -> %d profiles, %d vehicles -> %d cusVehicle records"
      % (dv["contacts"], acs["profile"], dv["new_vehicles"], acs["cusVehicle"]))
print("demo:   Campaign to Dynamics 365: %d email events -> %d activities (%d sends, %d opens, %d clicks, %d bounces)"
      % (s["events"], sum(acts), *acts))
print("demo:   Opt In/Out: %d of the %d recipients who unsubscribed in Campaign are opted out in Dynamics 365"
      % (out, len(s["opted_out"])))
EOF
}
start=$(date +%s)
ready_at=""
every=1
while :; do
    pause=$every
    if [ -n "${DEMO_SECONDS:-}" ] && [ $(($(date +%s) - start + every)) -gt "$DEMO_SECONDS" ]; then
        pause=$((DEMO_SECONDS - $(date +%s) + start))
        [ "$pause" -gt 0 ] || pause=0
    fi
    sleep "$pause"
    alive "$daemon_pid" || { say "crmsyncd exited:"; tail -20 "$demo/crmsyncd.log"; exit 1; }
    alive "$emu_pid" || { say "the emulators exited"; exit 1; }
    t=$(($(date +%s) - start))
    say "---- ${t}s: $ctl -c $conf workflows"
    "$ctl" -c "$conf" workflows || true
    if [ -z "$ready_at" ] && ready; then
        ready_at=$t every=15
        say "ready after ${t}s: every workflow RUNNING, every backlog drained"
        summary || true
        say "Workflows page: http://127.0.0.1:$admin_port/"
        say "  it asks for the admin token, new at every run, in $dir/$demo/secrets/admin.token: cat $dir/$demo/secrets/admin.token"
        say "in another terminal, from any directory: $build/crmsyncctl -c $dir/$conf show dynamics365-to-campaign" \
            "(see man $top/doc/crmsyncctl.1)"
        say "new email events arrive every 3 s, new opt-outs every 30 s; Ctrl-C stops everything"
    elif [ -n "$ready_at" ]; then
        summary || true
    fi
    if [ -n "${DEMO_SECONDS:-}" ] && [ "$t" -ge "$DEMO_SECONDS" ]; then
        say "DEMO_SECONDS=$DEMO_SECONDS reached"
        cleanup
        [ -n "$ready_at" ] || { say "not every workflow became RUNNING with an empty backlog"; exit 1; }
        exit 0
    fi
done
