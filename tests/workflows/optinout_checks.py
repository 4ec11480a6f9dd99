#!/usr/bin/env python3
"""optinout_checks.py - what the workflow "Opt In/Out" refuses and reports, with the real crmsyncd and both
emulators:

1. a field pair whose Campaign side is not one of the eight opt-out attributes and a mapping going a way
   its mode does not include are configuration errors (crmsyncd --check-config names file, line and the
   allowed values or the fix; the daemon refuses such a file); a D365 side that is not a boolean column
   (known only from Dataverse's metadata) fails its workflow at start with the reason; a workflow in mode
   disabled moves nothing;
2. no opt-out export for longer than export_max_age (26 h by default; 3 s here): the workflow stays RUNNING
   with a sub-state saying so, /metrics carries the export's age, and the sub-state goes once a file arrives.
"""
import json
import re
import subprocess
import tempfile

import optinoutlib as O
import wflib as W
from wflib import check


def export_age(d, wid):
    m = re.search(r'crmsync_plugin_gauge\{workflow="%s",name="acs_optout_export_age_seconds"\} (-?\d+)' % wid,
                  d.metrics())
    return int(m.group(1)) if m else None


def main():
    env = W.Env("optinout-checks", seed=5)
    exports = tempfile.mkdtemp(prefix="acs-optout-", dir=env.s.dir)
    try:
        env.acs.ctl("PATCH", "config", {"optout_export_dir": exports})
        path = O.config(env, "campaign-to-d365", exports, "checks.conf", export_max_age="3s")
        conf = json.load(open(path))
        stale = conf["workflows"][0]  # direction campaign-to-d365: that leg runs
        variants = {
            "bad-attribute": {"mode": "campaign-to-d365", "fields": {"donotbulkemail": "blackListSms"}},
            "not-boolean": {"mode": "campaign-to-d365", "fields": {"firstname": "blackListEmail"}},
            "wrong-way": {"mode": "d365-to-campaign", "fields": O.FIELDS},
            "disabled": {"mode": "disabled", "fields": O.FIELDS},
        }
        for wid, entity in variants.items():  # one-way workflows of their own, the handler's mode written
            wf = O.oneway(stale, O.FROM_CAMPAIGN, id=wid, title=wid)
            wf["mappings"][0]["entity"].update(entity)
            conf["workflows"].append(wf)
        with open(path, "w") as f:
            json.dump(conf, f, indent=1)
        p = subprocess.run([W.L.CRMSYNCD, "--check-config", "-c", path], capture_output=True, text=True)
        out = p.stdout + p.stderr
        check(p.returncode == 78, "--check-config refuses the file (exit 78)", (p.returncode, out[-2000:]))
        check(re.search(r"checks\.conf:\d+:\d+: workflows\[1\]\.mappings\[0\]: .*\"blackListSms\" is not a Campaign "
                        r"opt-out attribute; use one of blackList, blackListEmail, blackListFax, blackListMobile, "
                        r"blackListPhone, blackListPostalMail, blackListPushnotification or ccpaOptOut", out),
              "a Campaign attribute that is not an opt-out one is refused at file:line, naming the allowed ones", out)
        check(re.search(r"checks\.conf:\d+:\d+: workflows\[3\]\.mappings\[0\]: .*mode d365-to-campaign does not "
                        r"include; set mode to campaign-to-d365", out),
              "a mapping against its mode is refused at file:line, naming the mode to set", out)
        # the daemon runs the rest
        conf["workflows"] = [w for w in conf["workflows"] if w["id"] not in ("bad-attribute", "wrong-way")]
        with open(path, "w") as f:
            json.dump(conf, f, indent=1)
        cid = sorted(env.contacts())[0]
        O.set_contact(env, cid, donotbulkemail=False)
        d = W.Daemon(path, env.s.path("daemon.log"))
        try:
            d.wait_port()
            W.wait_until(lambda: O.workflow(d, "not-boolean")["status"] == "FAILED", 20, "not-boolean fails at start",
                         lambda: O.workflow(d, "not-boolean"))
            r = O.workflow(d, "not-boolean")["reason"]
            check("firstname" in r and "boolean" in r, "a D365 column that is not boolean is refused", r)

            # ---- 2. the export has stopped ------------------------------------------------------------------
            W.wait_until(lambda: "no opt-out export file has arrived" in (O.workflow(d, O.FROM_CAMPAIGN)["substate"] or ""),
                         30, "the stale-export sub-state", lambda: (O.workflow(d, O.FROM_CAMPAIGN), d.read_log()[-2000:]))
            w = O.workflow(d, O.FROM_CAMPAIGN)
            check(w["status"] == "RUNNING" and "restart it in Campaign" in w["substate"],
                  "RUNNING, with a sub-state saying the export workflow has stopped", w)
            age = export_age(d, O.WF)
            check(age is not None and age >= 3, "/metrics carries the export's age", age)
            code, _ = env.acs.ctl("PATCH", "resources/profile/externalId:" + cid, {"blackListEmail": True}) \
                if env.profile(cid) else env.acs.ctl("POST", "resources/profile",
                                                     {"externalId": cid, "email": "c@example.com", "blackListEmail": True})
            check(code in (200, 201), "an opt-out in Campaign")
            O.emulator_export(env)
            W.wait_until(lambda: O.workflow(d, O.FROM_CAMPAIGN)["substate"] is None and
                         O.contact(env, cid)["donotbulkemail"], 30, "a new export clears the sub-state and is applied",
                         lambda: (O.workflow(d, O.FROM_CAMPAIGN), O.contact(env, cid)))
            age = export_age(d, O.WF)
            check(age is not None and age < 3, "the export's age starts again from the new file", age)
            W.wait_until(lambda: O.workflow(d, "disabled")["records_read"] > 0 and
                         O.workflow(d, "disabled")["backlog"] == 0, 30, "the disabled workflow reads the export too",
                         lambda: O.workflow(d, "disabled"))
            w = O.workflow(d, "disabled")
            check(w["status"] == "RUNNING" and w["records_written"] == 0 and w["metrics"].get("optinout_not_moved", 0) >= 1,
                  "mode disabled: the export is read, nothing moves", w)
        finally:
            check(d.stop() == 0, "crmsyncd stops cleanly")
        print("optinout_checks: ok (attribute, column type, direction refused; stale export sub-state and metric)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
