#!/bin/sh
# deps.sh - installs what building and testing crmsync needs on Debian/Ubuntu (run as root), and the
# packaging tools CI uses (debhelper, lintian, rpm for rpmbuild). The package names for Fedora/RHEL
# are in README.md.
set -eu
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    build-essential autoconf automake libtool pkgconf libltdl-dev libcurl4-openssl-dev \
    libjansson-dev libsqlite3-dev libyaml-dev libmicrohttpd-dev python3 sqlite3 openssl >/dev/null
# optional: an sshd of the test's own runs the sftp:// opt-out export test; without it that test skips
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null 2>&1 ||
    echo "openssh-server could not be installed: the sftp test will be skipped"
# the browser tests of the Workflows page (tests/web/): Debian's chromium, driven through its driver by
# python3-selenium; without them those tests are skipped with the reason
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver python3-selenium fonts-dejavu-core >/dev/null 2>&1 ||
    echo "chromium, chromium-driver or python3-selenium could not be installed: the browser tests will be skipped"
# packaging (.ci/run builds, checks and installs the packages): dpkg-buildpackage, lintian, rpmbuild,
# and systemd's sysusers/tmpfiles/analyze tools the packages' scripts and checks use
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    dpkg-dev debhelper lintian rpm systemd man-db >/dev/null
echo "build, test and packaging dependencies installed"
