#!/usr/bin/env python3
"""fleet.py - the ingress load of bench/ingress.py (BENCH_RECORDS contacts, default 20,000, in the Dataverse
emulator -> the real crmsyncd running the reference table mapping -> the Campaign emulator, each emulator its
own process adding LATENCY ms to every answer) with PostgreSQL state (a throwaway server on this machine,
tests/lib/pgserver.py), once with one crmsyncd and once with two on the same database: the same configuration,
node names a and b. Each run has a fresh database and fresh emulators. Run it with `make bench-fleet
[LATENCY=50]`; `make bench` runs it at 0 and at 50 ms.

Per run: records/s end to end (the daemons' start until every contact is a profile in Campaign), which node
held the reader lease, then per daemon the records it read and wrote (its workflow status), its CPU time per
record of the load and its peak RSS; and the projected time for 15,000,000 records. Nothing asserts the
figures; a run in which the profiles, or the records read or written by the fleet, differ from the contacts
exits non-zero with the reason. Skipped with a note when the PostgreSQL server binaries are absent.
"""
import json
import os
import sys
import time

import benchlib as B

sys.path.insert(0, os.path.join(B.HERE, "..", "tests", "lib"))
from pgserver import PgServer, secret_file, server_bindir  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", "20000"))
NODES = ("a", "b")
WRITERS = 4  # per daemon, as bench/ingress.py's
STALL_S = 300  # a run whose profile count has not moved for this long failed


def node_config(env, dsn_file, node):
    """The benchmark's workflow (as bench/ingress.py's) with the shared PostgreSQL state, as node `node`."""
    path = env.config(table_mapping=B.W.TABLE_MAPPING, page_size=5000, writers=WRITERS,
                      name="fleet-%s.conf" % node)
    with open(path) as f:
        conf = json.load(f)
    conf["state"] = {"driver": "postgresql", "dsn_file": dsn_file, "node": node}
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path


def failed(reason, daemons):
    """Exit non-zero with the reason and the tail of each daemon's log."""
    logs = "".join("\n--- node %s\n%s" % (node, d.read_log()[-2000:]) for node, d in daemons.items())
    sys.exit("fleet benchmark failed: %s%s" % (reason, logs))


def wait_for_profiles(env, daemons):
    """Poll Campaign's profile count until it holds every contact."""
    last, moved_at = -1, time.monotonic()
    while True:
        n = env.count()
        if n >= RECORDS:
            return
        if n != last:
            last, moved_at = n, time.monotonic()
        elif time.monotonic() - moved_at > STALL_S:
            failed("%d of %d profiles, none more for %d s" % (n, RECORDS, STALL_S), daemons)
        for node, d in daemons.items():
            if d.proc.poll() is not None:
                failed("node %s exited (status %d) with %d of %d profiles" % (node, d.proc.returncode, n, RECORDS),
                       daemons)
        time.sleep(0.05)


def settled(daemons):
    """Each daemon's workflow status once the backlog is empty and the fleet counts every record written."""
    deadline = time.monotonic() + 60
    while True:
        status = {node: d.workflow() for node, d in daemons.items()}
        written = sum(w["records_written"] for w in status.values())
        if written > RECORDS:
            failed("the fleet wrote %d records for %d contacts" % (written, RECORDS), daemons)
        if written == RECORDS and all(w["backlog"] == 0 for w in status.values()):
            return status
        if time.monotonic() > deadline:
            failed("the fleet counts %d records written of %d (%d rejected, %d dead letters, %d in the backlog)"
                   % (written, RECORDS, sum(w["records_rejected"] for w in status.values()),
                      max(w["dead_letters"] for w in status.values()), max(w["backlog"] for w in status.values())),
                   daemons)
        time.sleep(0.05)


def run(pg, n_daemons):
    """One load on a fresh database with the first n_daemons NODES: prints its figures, -> records/s."""
    db = "fleet%d" % n_daemons
    pg.sql("CREATE DATABASE " + db)
    env = B.ProcEnv("bench-fleet", seed=RECORDS)
    try:
        dsn_file = secret_file(env.s.dir, "dsn", pg.dsn(db))
        confs = {node: node_config(env, dsn_file, node) for node in NODES[:n_daemons]}
        start = time.monotonic()
        daemons = {node: B.W.Daemon(conf, env.s.path("fleet-%s.log" % node)) for node, conf in confs.items()}
        try:
            for d in daemons.values():
                d.wait_port()
            wait_for_profiles(env, daemons)
            wall = time.monotonic() - start
            status = settled(daemons)
            cpu_s = {node: B.cpu_seconds(d.proc.pid) for node, d in daemons.items()}
            peak_kb = {node: B.peak_kb(d.proc.pid) for node, d in daemons.items()}
            reader = pg.sql("SELECT holder FROM reader_lease", db)
            read = sum(w["records_read"] for w in status.values())
            if read != RECORDS:
                failed("the fleet read %d records of %d contacts" % (read, RECORDS), daemons)
            for node, d in daemons.items():
                if d.stop() != 0:
                    failed("node %s exited %d on SIGTERM" % (node, d.proc.returncode), daemons)
        finally:
            for d in daemons.values():
                d.stop()
        profiles = env.count()
        if profiles != RECORDS:
            sys.exit("fleet benchmark failed: %d profiles in Campaign for %d contacts" % (profiles, RECORDS))
    finally:
        env.close()
    rate = RECORDS / wall
    print("%d daemon%s at %g ms latency: %d records in %.1f s: %.0f records/s end to end"
          % (n_daemons, "s" if n_daemons > 1 else "", B.LATENCY, RECORDS, wall, rate))
    print("  reader (the lease holder): node %s" % reader)
    for node, w in status.items():
        print("  node %s: read %d, wrote %d, CPU %.2f s = %.0f us per record of the load, peak RSS %.1f MB"
              % (node, w["records_read"], w["records_written"], cpu_s[node], cpu_s[node] * 1e6 / RECORDS,
                 peak_kb[node] / 1024.0))
    print("  daemon CPU of the fleet: %.0f us per record" % (sum(cpu_s.values()) * 1e6 / RECORDS))
    print("  projected time for %d records: %s" % (B.FULL_LOAD, B.duration(B.FULL_LOAD / rate)), flush=True)
    return rate


def main():
    if not server_bindir():
        print("SKIP: bench/fleet.py: the PostgreSQL server binaries (initdb, pg_ctl) are not installed: install "
              "postgresql to run it")
        return
    print("ingress load on PostgreSQL state, one vs two crmsyncd on one database, %g ms latency, %d writers per "
          "daemon; %d cores here: two daemons on one host share the same CPUs, so the two-daemon figure shows the "
          "fleet's overhead and correctness, not its scaling (which needs two hosts)"
          % (B.LATENCY, WRITERS, os.cpu_count()), flush=True)
    with PgServer(durable=True) as pg:
        one = run(pg, 1)
        two = run(pg, 2)
    print("two daemons (%d writers in all): %.2fx the records/s of one (%d writers)"
          % (2 * WRITERS, two / one, WRITERS))


if __name__ == "__main__":
    main()
