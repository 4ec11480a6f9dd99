#!/usr/bin/env python3
"""ingress.py - the initial load of the workflow "Microsoft Dynamics 365 to Campaign" end to end:
100,000 contacts (BENCH_RECORDS) in the Dataverse emulator, the real crmsyncd with dynamics365.so,
stages.so and campaign.so running the reference table mapping (filter, replacements, fields, a date
conversion) with 4 writers, into the Campaign emulator. Prints end-to-end records/s (daemon start to
exit once idle), the daemon's CPU time per record, its peak RSS, and the Campaign engine calls and
HTTP requests per record the emulator counted. Run it with `make bench-ingress`. Both emulators are
Python in this process and share the 2 CPUs with the daemon; nothing asserts the figures.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "workflows"))

import wflib as W  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", "100000"))


def main():
    t0 = time.monotonic()
    env = W.Env("bench-ingress", seed=RECORDS)
    try:
        active = sum(1 for r in env.contacts().values() if r.get("statecode") == 0)
        print("seeded %d contacts (%d active) in %.1f s" % (RECORDS, active, time.monotonic() - t0))
        conf = env.config(table_mapping=W.TABLE_MAPPING, page_size=5000, writers=4, name="bench.conf")
        env.acs.reset_counts()
        start = time.monotonic()
        run = W.L.run_daemon(conf, timeout=3600)
        elapsed = time.monotonic() - start
        w = run.workflow(W.WF)
        written, profiles = w.get("records_written", 0), env.count()
        if run.rc != 0 or written != active or profiles != active or not run.cpu:
            sys.exit("benchmark failed: exit %d, %d written, %d profiles, %d active contacts\n%s" % (
                run.rc, written, profiles, active, run.log[-2000:]))
        counts = env.acs.counts()
        requests = sum(v for k, v in counts.items() if k.startswith("profile."))
        cpu_us = (run.cpu["cpu_user_s"] + run.cpu["cpu_system_s"]) * 1e6
        print("initial load: %d contacts read, %d profiles written in %.1f s: %.0f records/s end to end" % (
            w.get("records_read", 0), written, elapsed, written / elapsed))
        print("daemon CPU %.0f us/record, peak RSS %.1f MB" % (cpu_us / written, run.peak_kb / 1024.0))
        print("Campaign: %.2f engine calls/record (%d create, %d update), %.2f requests/record" % (
            counts.get("engine_calls", 0) / written, counts.get("engine:create", 0), counts.get("engine:update", 0),
            requests / written))
    finally:
        env.close()


if __name__ == "__main__":
    main()
