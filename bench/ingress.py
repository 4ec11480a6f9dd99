#!/usr/bin/env python3
"""ingress.py - the initial load of the workflow "Microsoft Dynamics 365 to Campaign" end to end:
100,000 contacts (BENCH_RECORDS) in the Dataverse emulator, the real crmsyncd with dynamics365.so,
stages.so and campaign.so running the reference table mapping (filter, replacements, fields, a date
conversion) with its default configuration (4 writers), into the Campaign emulator. Each emulator is its
own process and adds LATENCY ms (default 0) to every answer. Run it with `make bench-ingress [LATENCY=50]`.

Prints first the emulators' own ceilings (bench/emuceiling.py), then: end-to-end records/s (daemon start
to exit once idle) and, beside it, the records/s each emulator's ceiling allows, the Campaign requests and engine calls per record, the mean requests in flight in each
emulator, the daemon's CPU time per record and its peak RSS, the projected time for 15,000,000 records,
the daemon's CPU per record in each tenth of the load (records written), split into the writer threads'
and the rest's (the reader: it reads and enqueues the whole load ahead of the writers, so its CPU lands in
the first tenths), and that CPU as a multiple of bench/floor's (the
irreducible work per record: parse the page, SQLite backlog, serialise the body; FLOOR is its path).
Nothing asserts the figures.
"""
import os
import subprocess
import sys
import time

import benchlib as B

RECORDS = int(os.environ.get("BENCH_RECORDS", "100000"))


def floor_us():
    """bench/floor's CPU us per record for RECORDS rows (pages of 5000), or None without the program."""
    path = os.environ.get("FLOOR")
    if not path or not os.path.exists(path):
        return None
    out = subprocess.run([path, str(RECORDS), "5000"], stdout=subprocess.PIPE, text=True, check=True).stdout
    print(out.strip())
    return float(out.split("floor:", 1)[1].split()[0])


def main():
    ceilings = B.C.report(latency_ms=B.LATENCY)
    floor = floor_us()
    t0 = time.monotonic()
    env = B.ProcEnv("bench-ingress", seed=RECORDS)
    try:
        print("seeded %d contacts in %.1f s" % (RECORDS, time.monotonic() - t0))  # all are active
        conf = env.config(table_mapping=B.W.TABLE_MAPPING, page_size=5000, name="bench.conf")
        env.acs.reset_counts()
        before = env.load()
        progress = B.Progress(env.count, RECORDS)
        run, elapsed = B.run(conf, progress, 3600)
        emulators = B.emulator_load(before, env.load())
        w = run.workflow(B.W.WF)
        written, profiles = w.get("records_written", 0), env.count()
        if run.rc != 0 or written != RECORDS or profiles != RECORDS or not run.cpu:
            sys.exit("benchmark failed: exit %d, %d written, %d profiles, %d contacts\n%s" % (
                run.rc, written, profiles, RECORDS, run.log[-2000:]))
        counts = env.acs.counts()
        requests = sum(v for k, v in counts.items() if k.startswith("profile."))
        cpu_us = B.report("initial load", written, elapsed, run, requests, counts.get("engine_calls", 0), emulators,
                          progress)
        print("Campaign engine calls: %d create, %d update" % (counts.get("engine:create", 0),
                                                              counts.get("engine:update", 0)))
        B.beside_ceiling(written / elapsed, requests / written, ceilings["campaign"], "Campaign", "request")
        B.beside_ceiling(written / elapsed, 1.0, ceilings["dataverse rows"], "Dataverse", "row")
        if floor:
            print("daemon CPU per record is %.1fx the floor (%.1f us/record)" % (cpu_us / floor, floor))
    finally:
        env.close()


if __name__ == "__main__":
    main()
