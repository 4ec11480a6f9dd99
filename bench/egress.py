#!/usr/bin/env python3
"""egress.py - benchmark of the workflow "Campaign to Microsoft Dynamics 365": 50,000 email events (send,
open, click and hard bounce, a quarter each, for 1,000 contacts) in the Campaign emulator's I/O Events
journal, read by campaign.so (one stream per type), shaped by adobe.so's email-activity handler and
upserted by dynamics365.so into the four activity tables of the Dataverse emulator (by the event id
alternate key, regarding contact and owner bound), with the real crmsyncd (4 writers, batches of 100,
journal pages of 100) run until idle. Run it with `make bench-egress`. Prints records/s (events / wall
time of the whole run, daemon start included), requests per record (every request either emulator
answered: tokens, metadata, journal pages, $batch), and the daemon's CPU time per record. The figures
depend on the machine and mostly on the emulators (Python); nothing asserts them. The Dataverse
emulator's service protection is off (BENCH_THROTTLE=1 keeps it: 50,000 operations exceed its 6000 per
5 minutes). BENCH_EVENTS changes the number of events.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "workflows"))
import egresslib as E  # noqa: E402
import wflib as W  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "50000"))
CONTACTS = 1000


def main():
    env = W.Env("bench-egress", seed=CONTACTS)
    try:
        W.L.control(env.dv_url, "PATCH", "config", {"throttle": {"enabled": os.environ.get("BENCH_THROTTLE") == "1"}})
        env.acs.ctl("PATCH", "config", {"journal": {"retry_after": 1}})
        cids = sorted(env.contacts())
        E.profiles_for(env, cids)
        E.events(env, count=EVENTS, types=list(E.TYPES), profiles=cids)
        W.L.control(env.dv_url, "DELETE", "counts")  # only the run's requests are counted
        env.acs.ctl("DELETE", "counts")
        conf = E.config(env, list(E.TYPES), name="bench.conf", poll="1s")
        start = time.monotonic()
        r = W.L.run_daemon(conf, 1800)
        wall = time.monotonic() - start
        w = r.workflow(E.WF)
        written = sum(len(W.L.rows(env.dv, E.TABLES[k])) for k in E.TYPES)
        if r.rc != 0 or written != EVENTS or w["dead_letters"] != 0:
            sys.exit("egress run failed: rc %s, %d of %d activities, summary %s\n%s" % (r.rc, written, EVENTS, w,
                                                                                      r.log[-3000:]))
        dv = W.L.control(env.dv_url, "GET", "counts")
        acs = env.acs.ctl("GET", "counts")[1]
        requests = dv.get("requests", 0) + acs.get("requests", 0)
        cpu = r.cpu["cpu_user_s"] + r.cpu["cpu_system_s"]
        print("egress %d events -> %d activities: %.0f records/s, %.4f requests/record (%d $batch, %d journal, "
              "%d in all), daemon CPU %.1f us/record" % (EVENTS, written, EVENTS / wall, requests / EVENTS,
                                                         dv.get("batch", 0), acs.get("journal", 0), requests,
                                                         cpu * 1e6 / EVENTS))
    finally:
        env.close()


if __name__ == "__main__":
    main()
