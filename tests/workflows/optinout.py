#!/usr/bin/env python3
"""optinout.py - the workflow "Opt In/Out" end to end in each mode: the Campaign emulator (profiles, its opt-out
export in a file:// directory), the real crmsyncd with campaign.so, adobe.so (opt-in-out) and dynamics365.so,
and the Dataverse emulator's contacts. Pairs: donotbulkemail <-> blackListEmail, donotemail <-> blackList.
Every check reads what ended up in the emulators.

1. campaign-to-d365: the export's paired attributes reach the contacts, an unpaired one does not; a malformed
   line and a profile without externalId are dead letters that say why; a manual Dataverse edit is
   overwritten by a later Campaign change;
2. d365-to-campaign: contact edits reach the profiles (opt-out and opt-in); a contact whose profile does not
   exist yet keeps its opt-out queued until the profile exists;
3. bidirectional, Adobe's rule: Campaign newer -> Campaign's value; Dataverse newer -> TRUE wins (both when the
   export comes after the edit and when Campaign was changed first); equal times -> TRUE wins; and no
   ping-pong: a value crmsync wrote to one side is not written back to the other.
"""
import tempfile

import egresslib as E
import optinoutlib as O
import wflib as W
from wflib import check

N = 24


def wait(what, pred, detail, timeout=30):
    W.wait_until(pred, timeout, what, detail)


def drained(d, wids):
    wait("the backlogs drained", lambda: all(O.workflow(d, w)["backlog"] == 0 for w in wids),
         lambda: [O.workflow(d, w) for w in wids] + [d.read_log()[-3000:]], 60)


def main():
    env = W.Env("optinout", seed=N)
    exports = tempfile.mkdtemp(prefix="acs-optout-", dir=env.s.dir)
    try:
        env.acs.ctl("PATCH", "config", {"optout_export_dir": exports})
        cids = sorted(env.contacts())
        for c in cids:  # a known start: nobody opted out
            O.set_contact(env, c, donotbulkemail=False, donotemail=False)
        noprof = cids[-1]
        E.profiles_for(env, cids[:-1])
        code, _ = env.acs.ctl("POST", "resources/profile", {"email": "only.email@example.com", "lastName": "Mail",
                                                            "blackListEmail": True})
        check(code in (200, 201), "a profile without externalId, opted out")

        # ---- 1. campaign-to-d365 ----------------------------------------------------------------------------------
        c0, c1, c2, c3 = cids[0:4]
        O.set_profile(env, c0, blackListEmail=True)
        O.set_profile(env, c1, blackList=True)
        O.set_profile(env, c2, blackListFax=True)  # not paired: stays in Campaign
        O.set_contact(env, c3, donotbulkemail=True)  # a CRM user's edit, overwritten below
        first = O.emulator_export(env)
        check(first["rows"] >= 4, "the export holds the changed attributes", first)
        bad = O.export_file(exports, [], ["%s,,blackListEmail,maybe,2026-01-01 00:00:00.000Z" % c3])
        d = W.Daemon(O.config(env, "campaign-to-d365", exports, "c2d.conf"), env.s.path("daemon.log"))
        try:
            d.wait_port()
            wait("the exported opt-outs reach the contacts",
                 lambda: O.contact(env, c0)["donotbulkemail"] and O.contact(env, c1)["donotemail"],
                 lambda: (O.contact(env, c0), O.contact(env, c1), d.read_log()[-3000:]))
            drained(d, [O.FROM_CAMPAIGN])
            check(not O.contact(env, c2)["donotbulkemail"] and not O.contact(env, c2)["donotemail"],
                  "an unpaired attribute (blackListFax) changes no contact")
            check(O.contact(env, c3)["donotbulkemail"], "the contact edited in Dataverse keeps its value while Campaign "
                  "has no change for it")
            dead = O.dead_letters(d, O.FROM_CAMPAIGN)
            malformed = [x for x in dead if x["stream"] == "opt-outs-malformed"]
            noext = [x for x in dead if x["stream"] == "opt-outs" and "externalId" in x["detail"]]
            check(len(malformed) == 1 and malformed[0]["payload"]["file"] == bad and
                  malformed[0]["payload"]["line"] == 2 and "boolean" in malformed[0]["payload"]["error"],
                  "the malformed line is a dead letter naming its file, line and fault", malformed)
            check(len(noext) == 1 and "only.email@example.com" in noext[0]["detail"] and len(dead) == 2,
                  "the profile without externalId is a dead letter saying no contact can be told", dead)
            O.set_profile(env, c3, blackListEmail=True)
            O.set_profile(env, c3, blackListEmail=False)  # Campaign's newer value: opted in
            O.emulator_export(env)
            wait("Campaign's change overwrites the manual Dataverse edit", lambda: not O.contact(env, c3)["donotbulkemail"],
                 lambda: (O.contact(env, c3), d.read_log()[-2000:]))
        finally:
            check(d.stop() == 0, "crmsyncd stops cleanly")

        # ---- 2. d365-to-campaign -------------------------------------------------------------------------------
        c5, c6 = cids[5:7]
        d = W.Daemon(O.config(env, "d365-to-campaign", exports, "d2c.conf"), env.s.path("daemon.log"))
        try:
            d.wait_port()
            drained(d, [O.TO_CAMPAIGN])
            seq = O.campaign_seq(env)
            O.set_contact(env, c5, donotbulkemail=True)
            O.set_contact(env, c6, donotemail=True)
            O.set_contact(env, noprof, donotbulkemail=True)
            wait("the contacts' opt-outs reach the profiles",
                 lambda: O.profile(env, c5)["blackListEmail"] and O.profile(env, c6)["blackList"],
                 lambda: (O.profile(env, c5), O.profile(env, c6), d.read_log()[-2000:]))
            check(len(O.campaign_writes(env, seq)) == 2, "one PATCH per changed profile, none for unchanged ones",
                  O.campaign_writes(env, seq))
            W.wait_until(lambda: O.workflow(d, O.TO_CAMPAIGN)["write_retries"] >= 2, 20,
                         "the opt-out without profile is retried", lambda: O.workflow(d, O.TO_CAMPAIGN))
            w = O.workflow(d, O.TO_CAMPAIGN)
            check(w["backlog"] == 1 and w["dead_letters"] == 0, "the opt-out of the contact without profile stays "
                  "queued, neither dropped nor dead", w)
            code, _ = env.acs.ctl("POST", "resources/profile", {"externalId": noprof, "email": "late@example.com"})
            check(code in (200, 201), "the ingress side creates the missing profile")
            wait("the queued opt-out reaches the new profile", lambda: (O.profile(env, noprof) or {}).get("blackListEmail"),
                 lambda: (O.profile(env, noprof), O.workflow(d, O.TO_CAMPAIGN)), 20)
            O.set_contact(env, c5, donotbulkemail=False)
            wait("an opt-in in Dataverse reaches the profile (Dataverse is the source of truth)",
                 lambda: not O.profile(env, c5)["blackListEmail"], lambda: O.profile(env, c5))
            drained(d, [O.TO_CAMPAIGN])
        finally:
            check(d.stop() == 0, "crmsyncd stops cleanly")

        # ---- 3. bidirectional ------------------------------------------------------------------------------------
        c10, c11, c12, c13 = cids[10:14]
        d = W.Daemon(O.config(env, "bidirectional", exports, "bi.conf"), env.s.path("daemon.log"))
        try:
            d.wait_port()
            drained(d, [O.FROM_CAMPAIGN, O.TO_CAMPAIGN])
            # Campaign newer: its opt-in wins over the older Dataverse opt-out
            m10 = O.set_contact(env, c10, donotbulkemail=True)
            wait("the Dataverse opt-out reaches Campaign", lambda: O.profile(env, c10)["blackListEmail"],
                 lambda: O.profile(env, c10))
            drained(d, [O.TO_CAMPAIGN])
            O.set_profile(env, c10, blackListEmail=False)
            seq = O.campaign_seq(env)
            O.export_file(exports, [(c10, "", "blackListEmail", False, m10 + 60000)])
            wait("Campaign newer: its value (false) wins in Dataverse", lambda: not O.contact(env, c10)["donotbulkemail"],
                 lambda: (O.contact(env, c10), d.read_log()[-2000:]))
            drained(d, [O.FROM_CAMPAIGN, O.TO_CAMPAIGN])
            check(not O.profile(env, c10)["blackListEmail"] and not O.campaign_writes(env, seq),
                  "no ping-pong: the contact crmsync changed is not written back to Campaign", O.campaign_writes(env, seq))

            # Dataverse newer, Campaign changed first: TRUE wins on both sides
            O.set_profile(env, c11, blackListEmail=False)
            t11 = int(O.dv_ms(O.contact(env, c11)["modifiedon"]))  # before the Dataverse edit below
            m11 = O.set_contact(env, c11, donotbulkemail=True)
            wait("Dataverse newer and TRUE: Campaign gets TRUE", lambda: O.profile(env, c11)["blackListEmail"],
                 lambda: (O.profile(env, c11), d.read_log()[-2000:]))
            drained(d, [O.TO_CAMPAIGN])
            v11 = O.contact(env, c11)["versionnumber"]
            O.export_file(exports, [(c11, "", "blackListEmail", False, min(t11, m11 - 60000))])
            # Dataverse newer and FALSE, the export after the edit: TRUE wins in Dataverse
            O.set_profile(env, c13, blackListEmail=True)
            t13 = m11 - 30000
            m13 = O.set_contact(env, c13, donotbulkemail=False, donotemail=False)
            O.export_file(exports, [(c13, "", "blackListEmail", True, min(t13, m13 - 1000))])
            wait("Dataverse newer, Campaign TRUE: Dataverse becomes TRUE", lambda: O.contact(env, c13)["donotbulkemail"],
                 lambda: (O.contact(env, c13), d.read_log()[-2000:]))
            drained(d, [O.FROM_CAMPAIGN, O.TO_CAMPAIGN])
            check(O.contact(env, c11)["donotbulkemail"] and O.contact(env, c11)["versionnumber"] == v11,
                  "Dataverse newer: the older Campaign FALSE changes nothing (the contact is not written)")
            check(O.profile(env, c11)["blackListEmail"] and O.profile(env, c13)["blackListEmail"],
                  "and Campaign holds TRUE too")

            # equal times: TRUE wins
            O.set_profile(env, c12, blackListEmail=True)
            m12 = O.set_contact(env, c12, donotbulkemail=False)
            O.export_file(exports, [(c12, "", "blackListEmail", True, m12)])
            wait("equal times: TRUE wins in Dataverse", lambda: O.contact(env, c12)["donotbulkemail"],
                 lambda: (O.contact(env, c12), d.read_log()[-2000:]))
            drained(d, [O.FROM_CAMPAIGN, O.TO_CAMPAIGN])
            check(O.profile(env, c12)["blackListEmail"], "equal times: Campaign keeps TRUE")

            # no ping-pong the other way: Campaign's export of crmsync's own write changes no contact
            versions = {c: O.contact(env, c)["versionnumber"] for c in (c10, c11, c12, c13)}
            doc = O.emulator_export(env)
            check(doc["rows"] >= 2, "Campaign exports the attributes crmsync wrote", doc)
            W.wait_until(lambda: O.workflow(d, O.FROM_CAMPAIGN)["records_read"] > 0 and
                         O.workflow(d, O.FROM_CAMPAIGN)["backlog"] == 0, 20, "the export is read")
            drained(d, [O.FROM_CAMPAIGN, O.TO_CAMPAIGN])
            check({c: O.contact(env, c)["versionnumber"] for c in versions} == versions,
                  "no ping-pong: the export of values crmsync wrote writes no contact", versions)
            for wid in (O.FROM_CAMPAIGN, O.TO_CAMPAIGN):
                check(O.workflow(d, wid)["status"] == "RUNNING", "%s RUNNING" % wid, O.workflow(d, wid))
            dead = sorted(x["stream"] for x in O.dead_letters(d, O.FROM_CAMPAIGN))
            check(dead == ["opt-outs", "opt-outs-malformed"] and not O.dead_letters(d, O.TO_CAMPAIGN),
                  "the only dead letters are the two lines of the old files this new state read again", dead)
        finally:
            check(d.stop() == 0, "crmsyncd stops cleanly")
        log = open(env.s.path("daemon.log")).read()
        check(W.acstest.SECRET not in log and W.L.SECRET not in log, "no secret in the daemon's log")
        print("optinout: ok (campaign-to-d365, d365-to-campaign, bidirectional: Campaign newer, Dataverse newer, "
              "equal, no ping-pong)")
    finally:
        env.close()


if __name__ == "__main__":
    main()
