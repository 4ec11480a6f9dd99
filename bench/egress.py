#!/usr/bin/env python3
"""egress.py - benchmark of the workflow "Campaign to Microsoft Dynamics 365": 50,000 email events (send,
open, click and hard bounce, a quarter each, for 1,000 contacts) in the Campaign emulator's I/O Events
journal, read by campaign.so (one stream per type), shaped by adobe.so's email-activity handler and
upserted by dynamics365.so into the four activity tables of the Dataverse emulator (by the event id
alternate key, regarding contact and owner bound), with the real crmsyncd (4 writers, batches of 100,
journal pages of 100) run until idle. Each emulator is its own process and adds LATENCY ms (default 0) to
every answer. Run it with `make bench-egress [LATENCY=50]`.

Prints first the emulators' own ceilings (bench/emuceiling.py), then: records/s (events / wall time of the
whole run, daemon start included), requests per record (every request either emulator answered: tokens,
metadata, journal pages, $batch) and Campaign engine calls per record, the mean requests in flight in each
emulator, the daemon's CPU time per record and its peak RSS, the projected time for 15,000,000 events, and
the daemon's CPU per record in each tenth of the load. Nothing asserts the figures. The Dataverse
emulator's service protection is off (BENCH_THROTTLE=1 keeps it: 50,000 operations exceed its 6000 per
5 minutes). BENCH_EVENTS changes the number of events.
"""
import os
import sys

import benchlib as B

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "workflows"))
import egresslib as E  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "50000"))
CONTACTS = 1000


def main():
    ceilings = B.C.report(latency_ms=B.LATENCY)
    env = B.ProcEnv("bench-egress", seed=CONTACTS)
    tables = [E.TABLES[k] for k in E.TYPES]
    try:
        B.W.L.control(env.dv_url, "PATCH", "config", {"throttle": {"enabled": os.environ.get("BENCH_THROTTLE") == "1"}})
        env.acs.ctl("PATCH", "config", {"journal": {"retry_after": 1}})
        cids = sorted(env.contacts())
        E.profiles_for(env, cids)
        E.events(env, count=EVENTS, types=list(E.TYPES), profiles=cids)
        B.W.L.control(env.dv_url, "DELETE", "counts")  # only the run's requests are counted
        env.acs.ctl("DELETE", "counts")
        conf = E.config(env, list(E.TYPES), name="bench.conf", poll="1s")
        before = env.load()
        progress = B.Progress(lambda: env.rows_in(tables), EVENTS)
        r, wall = B.run(conf, progress, 1800)
        emulators = B.emulator_load(before, env.load())
        w = r.workflow(E.WF)
        written = env.rows_in(tables)
        if r.rc != 0 or written != EVENTS or w["dead_letters"] != 0:
            sys.exit("egress run failed: rc %s, %d of %d activities, summary %s\n%s" % (r.rc, written, EVENTS, w,
                                                                                      r.log[-3000:]))
        dv = B.W.L.control(env.dv_url, "GET", "counts")
        acs = env.acs.counts()
        requests = dv.get("requests", 0) + acs.get("requests", 0)
        B.report("egress (events -> activities)", EVENTS, wall, r, requests, acs.get("engine_calls", 0), emulators,
                 progress)
        B.beside_ceiling(EVENTS / wall, 1.0, ceilings["dataverse upserts"], "Dataverse", "upsert")
        print("requests: %d $batch, %d journal, %d in all" % (dv.get("batch", 0), acs.get("journal", 0), requests))
    finally:
        env.close()


if __name__ == "__main__":
    main()
