#!/usr/bin/env python3
"""ingress_kill.py - kill -9 of crmsyncd during the initial load of the workflow "Microsoft Dynamics 365
to Campaign" (20,000 contacts), twice: once early (while the source is still paging through Dataverse)
and once with thousands of profiles written, each followed by a restart on the same state. In the end
every contact is exactly one profile in the Campaign emulator (no duplicate by externalId, none
missing) with its mapped values, the birthDate of the full load included, and no dead letter.
"""
import time

import wflib as W
from wflib import check

N = 20000


def main():
    env = W.Env("ingress-kill", seed=N)
    try:
        conf = env.config(page_size=1000)
        log = env.s.path("daemon.log")
        kills = []
        t0 = time.time()
        for at in (1, 8000):  # profiles in Campaign when the daemon is killed
            d = W.Daemon(conf, log)
            d.wait_port()
            W.wait_until(lambda: env.count() >= at, 120, "%d profiles before the kill" % at,
                         lambda: d.read_log()[-3000:], step=0.01)
            d.kill9()
            kills.append(env.count())
            check(kills[-1] < N, "kill -9 #%d lands during the initial load (%d of %d profiles written)"
                  % (len(kills), kills[-1], N))
        d = W.Daemon(conf, log)
        try:
            d.wait_port()
            W.wait_until(lambda: env.count() >= N, 300, "all %d profiles after the restarts" % N,
                         lambda: (env.count(), d.read_log()[-3000:]), step=0.2)
            W.wait_until(lambda: d.workflow()["backlog"] == 0, 120, "backlog drained", lambda: d.workflow())
            total = time.time() - t0
            w = d.workflow()
        finally:
            rc = d.stop()
        check(rc == 0, "crmsyncd stops cleanly after the restarts", rc)
        profiles, rows = env.profiles(), env.contacts()
        dups = {k: len(v) for k, v in profiles.items() if len(v) != 1}
        check(not dups, "no duplicate profile by externalId after two kill -9", list(dups.items())[:5])
        check(set(profiles) == set(rows), "every one of the %d contacts is a profile, nothing lost" % N,
              (len(profiles), len(set(rows) - set(profiles))))
        wrong = [k for k in rows if W.actual_profile(profiles[k][0]) != W.expected_profile(rows[k])]
        check(not wrong, "every profile has its contact's values, the full load's birthDate included", wrong[:3])
        check(w["dead_letters"] == 0 and w["status"] == "RUNNING", "no dead letter, RUNNING", w)
        print("measure: %d contacts with kill -9 at %s profiles: %.1fs end to end (%.0f profiles/s)"
              % (N, kills, total, N / total))
        print("ingress_kill: ok")
    finally:
        env.close()


if __name__ == "__main__":
    main()
