#!/usr/bin/env python3
"""drift.py - schema drift without data loss. Adobe tells operators to stop the ingress workflow before
publishing a schema change in Campaign; here nobody does. 300 contacts are synced with a table mapping
that also writes statecode into the profile extension field cusLoyaltyTier; then the extension is
republished without that field (in the Campaign emulator) and 5 contacts change in Dataverse:

1. Campaign refuses the updates; the workflow goes FAILED with a reason naming cusLoyaltyTier, and
   the 5 records stay in the backlog (no dead letter);
2. starting it again unchanged fails at start, naming the field (checked against Campaign's
   metadata), and still keeps the records;
3. after the mapping is fixed through the admin API (the field removed) and the workflow started,
   the 5 changes reach their profiles and the backlog drains: nothing was lost.
"""
import json

import wflib as W
from wflib import check

N = 300
DRIFTED = "cusLoyaltyTier"


def main():
    env = W.Env("drift", seed=N)
    try:
        table = json.loads(json.dumps(W.TABLE_MAPPING))
        table["fields"].append({"source": "statecode", "target": DRIFTED})
        d = W.Daemon(env.config(table_mapping=table, name="drift.conf"), env.s.path("daemon.log"))
        try:
            d.wait_port()
            W.wait_until(lambda: env.count() == N and d.workflow()["backlog"] == 0, 120, "initial load",
                         lambda: d.workflow())
            ids = sorted(env.contacts())[:5]
            check(all(env.profile(k).get(DRIFTED) == "0" for k in ids), "the drifting field is written at first",
                  env.profile(ids[0]))

            # ---- 1. the extension loses the field while the workflow runs -----------------------------
            with env.acs.emu.lock:
                del env.acs.emu.store.resources["profile"].ext_fields[DRIFTED]
            for k in ids:
                env.crm("PATCH", "tables/contacts/" + k, {"firstname": "Drifted"})
            W.wait_until(lambda: d.workflow()["status"] == "FAILED", 60, "the workflow fails on the drift",
                         lambda: d.workflow())
            w = d.workflow()
            check(DRIFTED in (w["reason"] or ""), "the FAILED reason names the field", w["reason"])
            check(w["backlog"] == 5 and w["dead_letters"] == 0, "the 5 changes stay queued, none dead-lettered", w)
            print("reason: %s" % w["reason"])

            # ---- 2. a start with the mapping unchanged fails at start --------------------------------
            check(d.api("POST", "/workflows/%s/start" % W.WF)[0] == 200, "start accepted")
            W.wait_until(lambda: d.workflow()["status"] == "FAILED", 60, "the start fails", lambda: d.workflow())
            w = d.workflow()
            check("Campaign resource profiles has no field \"%s\"" % DRIFTED in (w["reason"] or ""),
                  "the start-time check names the missing field", w["reason"])
            check(w["backlog"] == 5 and w["dead_letters"] == 0, "still queued after the failed start", w)

            # ---- 3. fix the mapping, start: the changes are written ----------------------------------
            code, doc = d.api("GET", "/workflows/%s/definition" % W.WF)
            definition = doc["definition"]
            definition["mappings"][0]["fields"] = [f for f in definition["mappings"][0]["fields"]
                                                   if f["target"] != DRIFTED]
            code, doc = d.api("PUT", "/workflows/%s/definition" % W.WF, definition)
            check(code == 200, "the fixed mapping is accepted", (code, doc))
            check(d.api("POST", "/workflows/%s/start" % W.WF)[0] == 200, "start accepted")
            W.wait_until(lambda: d.workflow()["status"] == "RUNNING" and d.workflow()["backlog"] == 0, 60,
                         "RUNNING with the fixed mapping and the backlog drained", lambda: d.workflow())
            check(all(env.profile(k)["firstName"] == "Drifted" for k in ids),
                  "every change made during the drift reached its profile", [env.profile(k)["firstName"] for k in ids])
            check(d.workflow()["dead_letters"] == 0, "no dead letter", d.workflow())
        finally:
            rc = d.stop()
        check(rc == 0, "crmsyncd stops cleanly on SIGTERM", rc)
        print("drift: ok (failed naming %s, 5 changes kept and written after the fix)" % DRIFTED)
    finally:
        env.close()


if __name__ == "__main__":
    main()
