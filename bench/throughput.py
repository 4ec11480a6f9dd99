#!/usr/bin/env python3
"""throughput.py - pushes 100,000 records of about 1 KB through the real crmsyncd with the test plugins
(memory source -> backlog -> capture sink, 4 writers) and prints enqueue and drain throughput and the
daemon's CPU time per record, once for each state driver: sqlite (the state directory's file) and
postgresql (a throwaway server on this machine, tests/lib/pgserver.py, over its unix socket; skipped with
a note when the PostgreSQL server binaries are absent). Run it with `make bench`; BENCH_DRIVERS=sqlite
runs one. Figures vary with the machine; nothing asserts them.

Enqueue: records / time from start until the reader logs that it caught up with the source.
Drain:   records / time from start until the backlog is empty and the daemon exits (--exit-when-idle).
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "runtime"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from summary import summary_of  # noqa: E402
from pgserver import PgServer, server_bindir  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", "100000"))


def bench(state):
    """One run with the configuration's `state` lines; 0 or 1."""
    crmsyncd, plugdir = os.environ["CRMSYNCD"], os.environ["TESTPLUG_DIR"]
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        conf = os.path.join(tmp, "bench.conf")
        with open(conf, "w") as f:
            f.write(f"""state_dir: {tmp}/state
{state}
plugin_dir: {plugdir}
plugins: [testplug]
log_level: notice
admin: {{listen: "127.0.0.1:0"}}
connections:
  mem: {{connector: memory-source, records: {RECORDS}, size: 1000, page: 1000}}
  cap: {{connector: capture-sink, file: {tmp}/captured}}
workflows:
  - id: bench
    source: mem
    sink: cap
    writers: 4
    batch_size: 200
    read_batch: 5000
    backlog: {{high_water: 1000000}}
    mappings: [{{stream: contacts}}]
""")
        start = time.monotonic()
        proc = subprocess.Popen([crmsyncd, "-c", conf, "--exit-when-idle"], stderr=subprocess.PIPE, text=True)
        caught_up = None
        summary, cpu = None, None
        for line in proc.stderr:
            if caught_up is None and "caught up with the source" in line:
                caught_up = time.monotonic() - start
            doc = summary_of(line)
            if doc is not None and "id" in doc:
                summary = doc
            elif doc is not None:
                cpu = doc
        rc = proc.wait()
        drained = time.monotonic() - start
        if rc != 0 or not summary or not cpu or caught_up is None:
            print(f"benchmark run failed (exit {rc})", file=sys.stderr)
            return 1
        written = summary["records_written"]
        cpu_s = cpu["cpu_user_s"] + cpu["cpu_system_s"]
        print(f"records:           {written} of ~1 KB (4 writers, batches of 200)")
        print(f"enqueue:           {RECORDS / caught_up:,.0f} records/s ({caught_up:.2f} s to read and commit all)")
        print(f"drain:             {written / drained:,.0f} records/s ({drained:.2f} s until the backlog was empty)")
        print(f"daemon CPU:        {cpu_s:.2f} s, {cpu_s / written * 1e6:.1f} us per record")
    return 0


def main():
    drivers = os.environ.get("BENCH_DRIVERS", "sqlite postgresql").split()
    rc = 0
    if "sqlite" in drivers:
        print("state driver:      sqlite", flush=True)
        rc |= bench("")
    if "postgresql" in drivers and not server_bindir():
        print("state driver:      postgresql skipped: the PostgreSQL server binaries are not installed")
    elif "postgresql" in drivers:
        with PgServer(durable=True) as pg, tempfile.TemporaryDirectory(prefix="crmsync-bench-dsn-") as tmp:
            pg.sql("CREATE DATABASE bench")
            dsn_file = os.path.join(tmp, "dsn")
            with open(os.open(dsn_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(pg.dsn("bench") + "\n")
            print("state driver:      postgresql (a server on this machine, over its unix socket)", flush=True)
            rc |= bench(f"state: {{driver: postgresql, dsn_file: {dsn_file}}}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
