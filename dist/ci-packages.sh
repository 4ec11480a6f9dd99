#!/bin/sh
# ci-packages.sh - builds and proves the distribution packages (run as root on Debian 12; .ci/run and
# `make deb` call it):
#   ci-packages.sh deb   TARBALL OUTDIR   build the .deb files from a `make dist` tarball, lintian them
#   ci-packages.sh rpm   TARBALL OUTDIR   build the .rpm files with rpmbuild -tb (Debian's rpm package)
#   ci-packages.sh smoke DEBDIR SRCDIR    install the .deb files, run crmsyncd through its installed paths
#                                         against the emulators of SRCDIR, check `crmsyncctl workflows`,
#                                         reinstall (an upgrade keeps the state), remove, purge
set -eu

now() { date +%s; }
say() { echo "ci-packages: $*"; }
die() { echo "ci-packages: FAIL: $*" >&2; exit 1; }

# unpack TARBALL into a new directory; prints the source directory
unpack() {
    dir=$(mktemp -d /tmp/crmsync-pkg-XXXXXX)
    tar -xzf "$1" -C "$dir"
    echo "$dir/$(tar -tzf "$1" | head -1 | cut -d/ -f1)"
}

cmd_deb() {
    tarball=$1 out=$2
    t0=$(now)
    src=$(unpack "$tarball")
    (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" DEB_BUILD_PROFILES=nocheck \
        dpkg-buildpackage -us -uc -b -Pnocheck >"$src/../build.log" 2>&1) ||
        { tail -60 "$src/../build.log"; die "dpkg-buildpackage failed (log: $src/../build.log)"; }
    t1=$(now)
    say "dpkg-buildpackage -us -uc -b: $((t1 - t0))s"
    changes=$(ls "$src"/../crmsync_*.changes)
    # errors fail the build; warnings are printed for the record
    lintian --fail-on error --tag-display-limit 0 "$changes" >"$src/../lintian.log" 2>&1 ||
        { cat "$src/../lintian.log"; die "lintian found errors"; }
    say "lintian: $(grep -c '^E:' "$src/../lintian.log" || true) errors, $(grep -c '^W:' "$src/../lintian.log" || true) warnings ($(($(now) - t1))s)"
    sed 's/^/  /' "$src/../lintian.log"
    mkdir -p "$out"
    rm -f "$out"/*.deb
    cp "$src"/../*.deb "$out"/
    rm -rf "$(dirname "$src")"
    ls "$out"
}

cmd_rpm() {
    tarball=$1 out=$2
    t0=$(now)
    top=$(mktemp -d /tmp/crmsync-rpm-XXXXXX)
    without="--without check"
    # no rpm database of build dependencies on Debian (--nodeps), and no debugedit (no debuginfo)
    # shellcheck disable=SC2086
    rpmbuild -tb --nodeps $without --define "_topdir $top" --define 'debug_package %{nil}' \
        --define "_smp_mflags -j$(nproc)" "$tarball" >"$top/build.log" 2>&1 ||
        { tail -60 "$top/build.log"; die "rpmbuild failed (log: $top/build.log)"; }
    mkdir -p "$out"
    rm -f "$out"/*.rpm
    find "$top/RPMS" -name '*.rpm' -exec cp {} "$out"/ \;
    say "rpmbuild -tb: $(($(now) - t0))s: $(cd "$out" && ls -- *.rpm | tr '\n' ' ')"
    for r in "$out"/*.rpm; do rpm -qlp "$r" 2>/dev/null | sed "s|^|  $(basename "$r"): |"; done
    rm -rf "$top"
}

# ---- smoke test of the installed packages --------------------------------------------------------
W=/run/crmsync-ci
PIDS=""
cleanup() { # end what this script started (by pid) and wait for it
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}

start_emulator() { # NAME: started in the background; its base URL is the first line of $W/NAME.out
    "$PYTHON3" "$SRC/tests/emulators/$1.py" --port 0 --seed 200 >"$W/$1.out" 2>&1 &
    PIDS="$PIDS $!"
    i=0
    while [ "$i" -lt 100 ] && ! head -1 "$W/$1.out" 2>/dev/null | grep -q '^http'; do sleep 0.1; i=$((i + 1)); done
    head -1 "$W/$1.out" | grep -q '^http' || die "the $1 emulator did not start: $(cat "$W/$1.out")"
}

ctl() { crmsyncctl -c "$W/crmsync.conf" "$@"; }

start_daemon() { # as the packaged service would: user crmsync, installed binary, installed plugins
    setpriv --reuid=crmsync --regid=crmsync --init-groups --no-new-privs \
        /usr/sbin/crmsyncd -c "$W/crmsync.conf" >>"$W/daemon.log" 2>&1 &
    DAEMON=$!
    PIDS="$PIDS $DAEMON"
    i=0
    until ctl health >/dev/null 2>&1; do
        kill -0 "$DAEMON" 2>/dev/null || { cat "$W/daemon.log"; die "the installed crmsyncd exited"; }
        [ "$i" -lt 300 ] || { cat "$W/daemon.log"; die "crmsyncctl health never answered ok"; }
        sleep 0.1
        i=$((i + 1))
    done
}

stop_daemon() {
    kill -TERM "$DAEMON"
    rc=0
    wait "$DAEMON" || rc=$?
    [ "$rc" -eq 0 ] || { tail -30 "$W/daemon.log"; die "crmsyncd exited $rc on SIGTERM"; }
}

workflow_json() { ctl --json workflows | "$PYTHON3" -c 'import json,sys; w=json.load(sys.stdin)["workflows"][0]; print(w[sys.argv[1]])' "$1"; }

cmd_smoke() {
    debs=$(cd "$1" && pwd) SRC=$(cd "$2" && pwd) # apt-get takes a .deb by a path with a slash in front
    PYTHON3=${PYTHON3:-python3}
    t0=$(now)
    trap cleanup EXIT
    rm -rf "$W"
    mkdir -p "$W"
    ls "$debs"/crmsync_*.deb >/dev/null || die "no crmsync_*.deb in $debs"
    # shellcheck disable=SC2046
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(ls "$debs"/*.deb | grep -v dbgsym) >"$W/apt.log" 2>&1 ||
        { cat "$W/apt.log"; die "apt-get install of the packages failed"; }
    t1=$(now)
    say "apt-get install of $(ls "$debs"/*.deb | grep -vc dbgsym) packages: $((t1 - t0))s"

    # ---- what the packages put in place
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
    plugindir=/usr/lib/$multiarch/crmsync
    for f in /usr/sbin/crmsyncd /usr/bin/crmsyncctl /etc/crmsync/crmsync.conf /lib/systemd/system/crmsync.service \
        /usr/lib/sysusers.d/crmsync.conf /usr/lib/tmpfiles.d/crmsync.conf "$plugindir/stages.so" \
        "$plugindir/dynamics365.so" "$plugindir/campaign.so" "$plugindir/custom-entity.so" "$plugindir/adobe.so" \
        /etc/crmsync/conf.d /usr/share/crmsync/web/index.html /usr/include/crmsync/plugin.h \
        "/usr/lib/$multiarch/pkgconfig/crmsync-plugin.pc" /usr/share/man/man8/crmsyncd.8.gz \
        /usr/share/man/man5/crmsync.conf.5.gz /usr/share/man/man1/crmsyncctl.1.gz; do
        [ -e "$f" ] || die "$f is not installed"
    done
    ! ls "$plugindir" | grep -v '\.so$' || die "$plugindir holds something other than plugins"
    ! ls "$plugindir" | grep -q testplug || die "the test plugin is packaged"
    dpkg-query -W -f='${Provides}\n' crmsync | grep -q 'crmsync-abi-1' || die "crmsync does not provide crmsync-abi-1"
    dpkg-query -W -f='${Conffiles}\n' crmsync | grep -q '/etc/crmsync/crmsync.conf' || die "crmsync.conf is not a conffile"
    getent passwd crmsync >/dev/null || die "the system user crmsync was not created (sysusers)"
    [ "$(stat -c '%U:%G %a' /var/lib/crmsync)" = "crmsync:crmsync 750" ] ||
        die "/var/lib/crmsync is $(stat -c '%U:%G %a' /var/lib/crmsync), not crmsync:crmsync 750 (tmpfiles)"
    systemd-analyze verify /lib/systemd/system/crmsync.service || die "systemd-analyze verify refuses the unit"
    [ "$(pkg-config --variable=plugindir crmsync-plugin)" = "$plugindir" ] || die "crmsync-plugin.pc: wrong plugindir"
    /usr/sbin/crmsyncd --check-config || die "the packaged configuration does not pass --check-config"
    say "installed paths, user, state directory, conffile, unit (systemd-analyze verify), pkg-config: ok"

    # ---- the example plugin against the installed SDK (crmsync-dev)
    ex=/usr/share/doc/crmsync-dev/examples/account-entity
    cp -r "$ex" "$W/example"
    [ ! -f "$W/example/account.c.gz" ] || gunzip "$W/example/account.c.gz"
    make -s -C "$W/example" >/dev/null && make -s -C "$W/example" install DESTDIR="$W/example/dest" >/dev/null ||
        die "the example plugin does not build against crmsync-dev"
    [ -f "$W/example/dest$plugindir/account.so" ] || die "the example does not install into the packaged plugindir"
    say "example plugin built with the installed crmsync-dev: ok"

    # ---- the installed daemon, as the crmsync user, against the emulators
    start_emulator dataverse
    start_emulator campaign
    dv=$(head -1 "$W/dataverse.out")
    acs=$(head -1 "$W/campaign.out")
    port=$("$PYTHON3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    sed -e "s|@DV_URL@|$dv|g" -e "s|@ACS_URL@|$acs|g" -e "s|@PORT@|$port|g" -e "s|@DIR@|$W|g" \
        "$SRC/tests/install/installed.conf" >"$W/crmsync.conf"
    printf 'crmsync-secret\n' >"$W/d365.secret"
    printf 'crmsync-acs-secret\n' >"$W/acs.secret"
    printf 'ci-admin-token\n' >"$W/admin.token"
    chown crmsync:crmsync "$W"/*.secret "$W/admin.token"
    chmod 600 "$W"/*.secret "$W/admin.token"
    chmod 755 "$W"
    t2=$(now)
    start_daemon
    i=0
    until [ "$(workflow_json records_written)" -ge 200 ] 2>/dev/null && [ "$(workflow_json backlog)" = 0 ]; do
        [ "$i" -lt 600 ] || { ctl workflows; tail -30 "$W/daemon.log"; die "the 200 contacts never reached Campaign"; }
        sleep 0.1
        i=$((i + 1))
    done
    say "crmsyncctl workflows (installed crmsyncd, user crmsync, state in /var/lib/crmsync):"
    ctl workflows | tee "$W/workflows.out" | sed 's/^/  /'
    grep -q 'dynamics365-to-campaign' "$W/workflows.out" && grep -q 'RUNNING' "$W/workflows.out" ||
        die "crmsyncctl workflows does not show the workflow RUNNING"
    [ "$(stat -c %U /var/lib/crmsync/state.db)" = crmsync ] || die "state.db is not owned by crmsync"
    stop_daemon
    say "200 contacts synced through the installed plugins, clean stop: $(($(now) - t2))s"

    # ---- an upgrade (the same packages installed again) keeps the state database and its cursors
    sum=$(sha256sum /var/lib/crmsync/state.db)
    # shellcheck disable=SC2046
    dpkg -i $(ls "$debs"/*.deb | grep -v dbgsym) >>"$W/apt.log" 2>&1 || { cat "$W/apt.log"; die "reinstall failed"; }
    [ "$(sha256sum /var/lib/crmsync/state.db)" = "$sum" ] || die "reinstalling the packages changed state.db"
    start_daemon
    sleep 2
    [ "$(workflow_json records_read)" = 0 ] && [ "$(workflow_json running_revision)" = 1 ] ||
        { ctl workflows; die "after the upgrade the workflow read its source again or made a new revision"; }
    stop_daemon
    say "upgrade: state.db kept, the workflow resumes from its cursor (nothing read again), same revision"

    # ---- remove keeps configuration and state; purge removes them
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq crmsync-dev crmsync-plugin-dynamics365 \
        crmsync-plugin-campaign crmsync >>"$W/apt.log" 2>&1 || { cat "$W/apt.log"; die "apt-get remove failed"; }
    [ -f /var/lib/crmsync/state.db ] && [ -f /etc/crmsync/crmsync.conf ] && [ ! -e /usr/sbin/crmsyncd ] ||
        die "remove must delete the programs and keep /etc/crmsync/crmsync.conf and the state"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq 'crmsync*' >>"$W/apt.log" 2>&1 ||
        { cat "$W/apt.log"; die "apt-get purge failed"; }
    [ ! -e /var/lib/crmsync ] && [ ! -e /etc/crmsync ] || die "purge left /var/lib/crmsync or /etc/crmsync"
    say "remove keeps the configuration and state, purge removes them"
    say "smoke test of the installed packages: $(($(now) - t0))s"
}

case "${1:-}" in
deb) shift; cmd_deb "$@" ;;
rpm) shift; cmd_rpm "$@" ;;
smoke) shift; cmd_smoke "$@" ;;
*) die "usage: $0 deb TARBALL OUTDIR | rpm TARBALL OUTDIR | smoke DEBDIR SRCDIR" ;;
esac
