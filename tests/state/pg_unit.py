#!/usr/bin/env python3
"""pg_unit.py - the state store's unit tests (test_backlog, test_kv) on the postgresql driver: a throwaway
PostgreSQL server (tests/lib/pgserver.py) and each test binary run with CS_TEST_STATE=postgresql against it.
SKIP (77) only when the PostgreSQL server binaries are not installed; .ci/run installs them.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pgserver import PgServer  # noqa: E402

TESTS = ["tests/unit/test_backlog", "tests/unit/test_kv"]


def main():
    builddir = os.path.dirname(os.path.abspath(os.environ["CRMSYNCD"]))
    failed = []
    with PgServer() as pg:
        env = dict(os.environ, CS_TEST_STATE="postgresql", CS_TEST_PG_DSN=pg.dsn())
        for test in TESTS:
            rc = subprocess.run([os.path.join(builddir, test)], env=env).returncode
            print(f"{'PASS' if rc == 0 else 'FAIL'}: {test} on postgresql (exit {rc})", flush=True)
            if rc != 0:
                failed.append(test)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
