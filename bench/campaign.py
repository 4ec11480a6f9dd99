#!/usr/bin/env python3
"""campaign.py - writes 10,000 profiles through the real crmsyncd into the Campaign emulator (memory
source -> campaign sink, 4 writers), then writes them again unchanged, and prints for each pass the
records/s, the engine calls per record the emulator counted (weighted as it is configured: create 1,
update 2, read 0) with the HTTP requests per record, and the daemon's CPU time per record. Run it
with `make bench-campaign`. Figures vary with the machine (the emulator is Python and shares the CPU);
nothing asserts them.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "connectors", "campaign"))

import acstest  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", "10000"))
TARGETS = """    resources:
      profiles: {resource: profile, key: externalId, fields: {lastName: name, cusScore: v}}
"""


def one_pass(h, wid):
    conf = h.write_conf(acstest.mem("src", RECORDS) + h.acs_connection(extra=TARGETS),
                        acstest.workflow(wid, "src", "acs", "[{stream: contacts, target: profiles}]", batch=200), wid)
    h.reset_counts()
    start = time.monotonic()
    rc, summ, cpu, out = h.run(conf)
    elapsed = time.monotonic() - start
    c = h.counts()
    if rc != 0 or summ.get(wid, {}).get("records_written") != RECORDS or not cpu:
        sys.exit("benchmark pass %s failed (exit %d)\n%s" % (wid, rc, out[-2000:]))
    campaign = sum(v for k, v in c.items() if k.startswith("profile."))
    us = (cpu["cpu_user_s"] + cpu["cpu_system_s"]) * 1e6 / RECORDS
    print("%-9s %6d records in %6.2f s: %8.0f records/s, %.2f engine calls/record (%d create, %d update), "
          "%.2f requests/record, daemon CPU %.0f us/record" % (
              wid, RECORDS, elapsed, RECORDS / elapsed, c.get("engine_calls", 0) / RECORDS, c.get("engine:create", 0),
              c.get("engine:update", 0), campaign / RECORDS, us))


def main():
    h = acstest.Harness("bench")
    try:
        one_pass(h, "insert")
        one_pass(h, "unchanged")
    finally:
        h.close()


if __name__ == "__main__":
    main()
