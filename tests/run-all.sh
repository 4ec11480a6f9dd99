#!/bin/sh
# run-all.sh - the README's test command: installs the dependencies (Debian 12, as root), builds with
# warnings as errors and runs the whole suite with `make check`, ending with the test runner's summary.
# SANITIZE=1 builds with ASan and UBSan (in build-sanitize/), SANITIZE=thread with ThreadSanitizer (in
# build-tsan/).
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" -ne 0 ] || sh tests/deps.sh
./bootstrap >/dev/null 2>&1
build=build flags="--enable-werror"
if [ "${SANITIZE:-0}" = 1 ]; then
    build=build-sanitize flags="$flags --enable-asan --enable-ubsan"
elif [ "${SANITIZE:-0}" = thread ]; then
    build=build-tsan flags="$flags --enable-tsan"
fi
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086
../configure -q $flags
make -j"$(nproc)" >/dev/null
status=0
make -j"$(nproc)" check >check.out 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    grep -E '^(FAIL|ERROR|XPASS):' check.out || true
    for log in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find tests -name '*.trs') 2>/dev/null | sed 's/\.trs$/.log/'); do
        echo "==== $log"
        tail -40 "$log"
    done
fi
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' check.out || true
grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' check.out
exit "$status"
