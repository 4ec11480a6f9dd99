#!/bin/sh
# firefox.sh - the Workflows page in Firefox (firefox.mjs): skipped (exit 77) with the reason when
# firefox-esr, node or puppeteer-core is missing. puppeteer-core is looked for under $CRMSYNC_TEST_NODE,
# else /opt/crmsync-test-node (where tests/deps.sh installs it); $FIREFOX names another Firefox binary.
here=$(dirname "$0")
prefix=${CRMSYNC_TEST_NODE:-/opt/crmsync-test-node}
skip() {
    echo "SKIP: $*"
    exit 77
}
firefox=${FIREFOX:-$(command -v firefox-esr)}
[ -n "$firefox" ] && [ -x "$firefox" ] ||
    skip "firefox-esr is not installed: apt-get install firefox-esr (tests/deps.sh does)"
command -v node >/dev/null || skip "node is not installed: apt-get install nodejs (tests/deps.sh does)"
node -e 'require.resolve("puppeteer-core", { paths: [process.argv[1]] })' "$prefix" 2>/dev/null ||
    skip "puppeteer-core is not installed in $prefix: npm install --prefix $prefix puppeteer-core (tests/deps.sh does)"
exec node "$here/firefox.mjs" "$prefix" "$firefox"
