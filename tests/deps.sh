#!/bin/sh
# deps.sh - installs what building and testing crmsync needs on Debian/Ubuntu (run as root), and the
# packaging tools CI uses (debhelper, lintian, rpm for rpmbuild). The package names for Fedora/RHEL
# are in README.md.
set -eu
# another apt at work (an unattended upgrade, a second checkout's run) is waited for, not a failure
APT_CONFIG=$(mktemp)
echo 'DPkg::Lock::Timeout "600";' >"$APT_CONFIG"
export APT_CONFIG
trap 'rm -f "$APT_CONFIG"' EXIT
# apt-get update takes the package lists' lock, which that setting does not cover: try again for a while
tries=0
until apt-get update -qq; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || exit 1
    sleep 10
done
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    build-essential autoconf automake libtool pkgconf libltdl-dev libcurl4-openssl-dev \
    libjansson-dev libsqlite3-dev libpq-dev libyaml-dev libmicrohttpd-dev python3 sqlite3 openssl >/dev/null
# the postgresql state driver's tests (tests/state/) run a throwaway server of their own: initdb and pg_ctl
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# the configuration fuzzer (tests/fuzz/run.sh): clang and its libFuzzer runtime
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
# optional: an sshd of the test's own runs the sftp:// opt-out export test; without it that test skips
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null 2>&1 ||
    echo "openssh-server could not be installed: the sftp test will be skipped"
# the browser tests of the Workflows page (tests/web/): Debian's chromium, driven through its driver by
# python3-selenium; without them those tests are skipped with the reason
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver python3-selenium fonts-dejavu-core >/dev/null 2>&1 ||
    echo "chromium, chromium-driver or python3-selenium could not be installed: the browser tests will be skipped"
# the Firefox test of the Workflows page (tests/web/firefox.sh): Debian's firefox-esr, driven over WebDriver
# BiDi by puppeteer-core from npm (Debian has no geckodriver), installed into /opt/crmsync-test-node where
# the test looks for it; 24.x is the last line that runs on Debian 12's node 18. Without them it is skipped
PUPPETEER_CORE=puppeteer-core@24.43.1
if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends firefox-esr >/dev/null 2>&1 &&
    { command -v npm >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1; }; then
    npm install --prefix /opt/crmsync-test-node --no-audit --no-fund --silent "$PUPPETEER_CORE" >/dev/null 2>&1 ||
        echo "$PUPPETEER_CORE could not be installed from npm into /opt/crmsync-test-node: the Firefox test will be skipped"
else
    echo "firefox-esr, nodejs or npm could not be installed: the Firefox test will be skipped"
fi
# packaging (.ci/run builds, checks and installs the packages): dpkg-buildpackage, lintian, rpmbuild,
# and systemd's sysusers/tmpfiles/analyze tools the packages' scripts and checks use
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    dpkg-dev debhelper lintian rpm systemd man-db >/dev/null
echo "build, test and packaging dependencies installed"
