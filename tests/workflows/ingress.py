#!/usr/bin/env python3
"""ingress.py - the workflow "Microsoft Dynamics 365 to Campaign" end to end: the Dataverse emulator,
the real crmsyncd with dynamics365.so, stages.so (filter, replace, map, convert) and campaign.so, and
the Campaign emulator. Every check reads what ended up in the Campaign emulator.

1. initial load of 2,000 contacts (10 inactive, filtered out): each active contact is exactly one
   profile keyed by externalId = contactid with the mapped, replaced and converted values;
2. an update in Dataverse reaches Campaign after one poll, without the apply_updates:false birthDate;
3. a create arrives; a delete in Dataverse deletes the profile; a contact made inactive stops passing
   the filter and its profile is deleted (delete_filtered);
4. replay through the admin API, pending until stop + start, then re-sends everything, the birthDate
   included;
5. picklists as labels (the mapping's `picklists: label`), with a replacement matched on a label;
6. edits through the admin API: a saved mapping's table pair and key cannot change, two fields onto one
   target and an unknown filter operator are refused where they are; apply_deletes off keeps the
   profile of a contact deleted in Dataverse, while delete_filtered still deletes.
The mapping is written in the table-mapping form (wflib.TABLE_MAPPING), which the core compiles. Each
part is a case of its own (tests/lib/checks.py's Scenario): a failure names its case, the cases that
build on it are reported as not run, and the clean stop and the labels run are checked regardless.
"""
import json
import time
from types import SimpleNamespace

import wflib as W
from checks import Scenario
from wflib import check

N = 2000
INACTIVE = 10


def main():
    env = W.Env("ingress", seed=N)
    st = SimpleNamespace(d=None)  # what the cases hand on to the ones after them
    sc = Scenario("ingress")

    @sc.case("1. initial load: every active contact is one profile with the mapped values")
    def initial_load():
        ids = st.ids = sorted(env.contacts())
        for rid in ids[:INACTIVE]:
            env.crm("PATCH", "tables/contacts/" + rid, {"statecode": 1, "statuscode": 2})
        active = st.active = ids[INACTIVE:]
        d = st.d = W.Daemon(env.config(table_mapping=W.TABLE_MAPPING), env.s.path("daemon.log"))
        d.wait_port()
        t0 = time.time()
        secs = W.wait_until(lambda: env.count() >= len(active), 180, "initial load of %d profiles" % len(active),
                            lambda: (env.count(), d.read_log()[-3000:]))
        W.wait_until(lambda: d.workflow()["backlog"] == 0, 60, "backlog drained after the initial load",
                     lambda: d.workflow())
        load_s = time.time() - t0
        w = d.workflow()
        check(w["status"] == "RUNNING" and w["dead_letters"] == 0,
              "workflow RUNNING with no dead letter after the initial load", w)
        profiles, rows = env.profiles(), env.contacts()
        dups = {k: len(v) for k, v in profiles.items() if len(v) != 1}
        check(not dups, "no two profiles share an externalId", dups)
        check(set(profiles) == set(active), "exactly the %d active contacts are profiles (the %d inactive ones "
              "filtered out)" % (len(active), INACTIVE), (len(profiles), set(profiles) ^ set(active)))
        wrong = [(k, W.actual_profile(profiles[k][0]), W.expected_profile(rows[k])) for k in active
                 if W.actual_profile(profiles[k][0]) != W.expected_profile(rows[k])]
        check(not wrong, "every profile has the mapped values (firstName, lastName, email, location.city, "
              "gender replaced 1->male 2->female, birthDate converted to a date)", wrong[:3])
        check({p[0]["gender"] for p in profiles.values()} == {"male", "female"}, "both replacements applied")
        print("measure: initial load of %d contacts: %.1fs to the last profile (%.0f profiles/s), %.1fs to an "
              "empty backlog" % (len(active), secs, len(active) / secs, load_s))
        st.rows = rows

    @sc.case("2. an update reaches the profile, without the apply_updates:false birthDate")
    def update():
        active, rows = st.active, st.rows
        x = active[0]
        before = env.profile(x)
        check(before and before["birthDate"] == rows[x]["birthdate"][:10], "the profile to update has its birthDate",
              before)
        new_gender = 2 if rows[x]["gendercode"] == 1 else 1
        env.crm("PATCH", "tables/contacts/" + x, {"firstname": "Changed", "lastname": "Updated",
                                                 "birthdate": "1999-09-09", "gendercode": new_gender})
        lat = W.wait_until(lambda: (env.profile(x) or {}).get("firstName") == "Changed", 30,
                           "an update in Dataverse reaches the profile", lambda: env.profile(x))
        after = env.profile(x)
        check(after["lastName"] == "Updated" and after["gender"] == {1: "male", 2: "female"}[new_gender],
              "the update's other fields are written (lastName, gender replaced)", after)
        check(after["birthDate"] == before["birthDate"], "birthDate (apply_updates: false) is NOT changed by the "
              "incremental update", (before["birthDate"], after["birthDate"]))
        print("measure: Dataverse update -> Campaign profile: %.2fs (poll_interval 1s)" % lat)
        st.x = x

    @sc.case("3. a create, a delete and a contact filtered out (delete_filtered) reach Campaign")
    def create_delete():
        d, active, ids = st.d, st.active, st.ids
        new = env.crm("POST", "tables/contacts", {"firstname": "Nina", "lastname": "Newcomer",
                                                  "emailaddress1": "nina.newcomer@example.com", "gendercode": 2,
                                                  "birthdate": "1990-01-02"})["contactid"]
        nogender = env.crm("POST", "tables/contacts", {"firstname": "Sam", "lastname": "Nogender",
                                                       "emailaddress1": "sam.nogender@example.com"})["contactid"]
        y, z = active[1], active[2]
        env.crm("DELETE", "tables/contacts/" + y)
        env.crm("PATCH", "tables/contacts/" + z, {"statecode": 1, "statuscode": 2})
        check(env.profile(y) and env.profile(z), "the profiles to delete exist before the changes are read")
        W.wait_until(lambda: env.profile(new) is not None and env.profile(y) is None and env.profile(z) is None,
                     30, "create, delete and filtered-out delete reach Campaign",
                     lambda: (env.profile(new), env.profile(y), env.profile(z)))
        p = env.profile(new)
        check(p["firstName"] == "Nina" and p["email"] == "nina.newcomer@example.com" and p["gender"] == "female",
              "a contact created in Dataverse is created in Campaign", p)
        W.wait_until(lambda: env.profile(nogender) is not None, 30, "a contact without gender is created too",
                     lambda: d.api("GET", "/workflows/%s/dead-letters" % W.WF))
        check(env.profile(nogender)["gender"] == "unknown", "no gender: Campaign's enumeration keeps its default "
              "(a null is not sent to an enumeration)", env.profile(nogender))
        check(env.profile(y) is None, "a contact deleted in Dataverse is deleted from Campaign")
        check(env.profile(z) is None, "a contact that stops passing the filter is deleted from Campaign "
              "(delete_filtered)")
        check(env.profile(ids[0]) is None, "an inactive contact is still not in Campaign")
        W.wait_until(lambda: d.workflow()["backlog"] == 0, 30, "backlog drained", lambda: d.workflow())

    @sc.case("4. a replay waits for stop + start, then sends everything again, birthDate included")
    def replay():
        d, x = st.d, st.x
        rows = env.contacts()
        live_active = sorted(k for k, r in rows.items() if r["statecode"] == 0)
        edited = live_active[5]
        code, _ = env.acs.ctl("PATCH", "resources/profile/externalId:" + edited, {"lastName": "EditedInCampaign"})
        check(code == 200 and env.profile(edited)["lastName"] == "EditedInCampaign",
              "a profile's lastName is changed in Campaign")
        read_before = d.workflow()["records_read"]
        code, doc = d.api("POST", "/workflows/%s/replay" % W.WF, {"mapping": "contacts"})
        check(code == 200, "replay accepted by the admin API", (code, doc))
        check(d.workflow()["replay_pending"] == ["contacts"], "the replay is pending until stop + start",
              d.workflow())
        time.sleep(1.5)  # a poll interval and more: a replay begun at once would have read rows by now
        check(d.workflow()["records_read"] == read_before, "nothing is read again before the restart",
              d.workflow())
        for action in ("stop", "start"):
            code, doc = d.api("POST", "/workflows/%s/%s" % (W.WF, action))
            check(code == 200, "%s accepted" % action, (code, doc))
        W.wait_until(lambda: (env.profile(x) or {}).get("birthDate") == "1999-09-09", 120,
                     "replay writes the apply_updates:false birthDate", lambda: env.profile(x))
        # the backlog can be empty between two pages: wait until every row was read again, then drained
        W.wait_until(lambda: d.workflow()["records_read"] >= read_before + len(rows) and
                     d.workflow()["backlog"] == 0, 60, "every row read again and the backlog drained",
                     lambda: d.workflow())
        profiles = env.profiles()
        dups = {k: len(v) for k, v in profiles.items() if len(v) != 1}
        check(not dups and set(profiles) == set(live_active),
              "after the replay: one profile per active contact, none for the deleted or inactive ones",
              (dups, len(profiles), len(live_active)))
        wrong = [k for k in live_active if W.actual_profile(profiles[k][0]) != W.expected_profile(rows[k])]
        check(not wrong, "after the replay every profile equals its contact, birthDate included", wrong[:3])
        check(env.profile(edited)["lastName"] == rows[edited]["lastname"],
              "the replay restores the lastName changed in Campaign", env.profile(edited))
        w = d.workflow()
        check(w["status"] == "RUNNING" and w["dead_letters"] == 0, "RUNNING, no dead letter after the replay", w)
        st.live_active = live_active

    @sc.case("6. edits through the admin API: refused where they are wrong; apply_deletes off")
    def edits():
        d, live_active = st.d, st.live_active
        code, doc = d.api("GET", "/workflows/%s/definition" % W.WF)
        definition = doc["definition"]

        def put(mutate):
            edited = json.loads(json.dumps(definition))
            mutate(edited["mappings"][0])
            return d.api("PUT", "/workflows/%s/definition" % W.WF, edited)

        def errors(doc):
            return {(e["path"], e["message"]) for e in doc.get("error", {}).get("details", [])}

        code, doc = put(lambda m: m.update(target="customers"))
        check(code == 400 and any(p == "mappings[0].target" and "fixed once saved" in msg for p, msg in errors(doc)),
              "changing a saved mapping's table pair is refused, naming the member", (code, doc))
        code, doc = put(lambda m: m["key"].update(target="cusCrmid"))
        check(code == 400 and any("key" in p and "fixed once saved" in msg for p, msg in errors(doc)),
              "changing a saved mapping's key is refused", (code, doc))
        code, doc = put(lambda m: m["fields"].append({"source": "lastname", "target": "firstName"}))
        check(code == 400 and any(p == "mappings[0].fields[6].target" and "already the target" in msg
                                  for p, msg in errors(doc)),
              "two Dynamics 365 fields onto one Campaign field are refused at the field", (code, doc))
        code, doc = put(lambda m: m["fields"].append({"source": "lastname", "target": "cusNoSuchField"}))
        check(code == 400 and any(p == "mappings[0].fields[6]" and "has no field \"cusNoSuchField\"" in msg
                                  for p, msg in errors(doc)),
              "a Campaign field that does not exist is refused when saved (live metadata), at the field",
              (code, doc))
        code, doc = put(lambda m: m["fields"].append({"source": "nosuchcolumn", "target": "cusCrmid"}))
        check(code == 400 and any(p == "mappings[0].fields[6]" and "no column \"nosuchcolumn\"" in msg
                                  for p, msg in errors(doc)),
              "a Dynamics 365 column that does not exist is refused when saved, at the field", (code, doc))
        code, doc = put(lambda m: m["filters"]["rules"].append({"field": "statecode", "op": "between", "value": 1}))
        check(code == 400 and any(p == "mappings[0].filters.rules[1].op" for p, _ in errors(doc)),
              "an unknown filter operator is refused at the rule", (code, doc))
        code, doc = put(lambda m: (m.update(apply_deletes=False),
                                   m["fields"].append({"source": "telephone1", "target": "phone"})))
        check(code == 200 and doc["pending"] and doc["warnings"] == [],
              "apply_deletes: false and a new column accepted (checked against both systems), pending until "
              "stop + start", (code, doc))
        for action in ("stop", "start"):
            check(d.api("POST", "/workflows/%s/%s" % (W.WF, action))[0] == 200, "%s accepted" % action)
        W.wait_until(lambda: d.workflow()["status"] == "RUNNING", 30, "RUNNING again", lambda: d.workflow())
        rows = env.contacts()
        phones = {k: r.get("telephone1") or "" for k, r in rows.items() if r["statecode"] == 0}
        W.wait_until(lambda: all((env.profile(k) or {}).get("phone", "") == v for k, v in list(phones.items())[:50])
                     and d.workflow()["backlog"] == 0, 60,
                     "a column added to the mapping reaches the existing profiles (the table is read again)",
                     lambda: [(k, (env.profile(k) or {}).get("phone"), v) for k, v in list(phones.items())[:3]])
        env.crm("PATCH", "tables/contacts/" + live_active[6], {"telephone1": "+44 20 7946 0000"})
        W.wait_until(lambda: env.profile(live_active[6])["phone"] == "+44 20 7946 0000", 30,
                     "a change of the added column reaches Campaign", lambda: env.profile(live_active[6]))
        kept = live_active[3]
        env.crm("DELETE", "tables/contacts/" + kept)
        gone = live_active[4]
        env.crm("PATCH", "tables/contacts/" + gone, {"statecode": 1, "statuscode": 2})
        W.wait_until(lambda: env.profile(gone) is None, 30, "a contact made inactive is still deleted "
                     "(delete_filtered) with apply_deletes off", lambda: env.profile(gone))
        check(env.profile(kept) is not None, "with apply_deletes off a contact deleted in Dataverse keeps its "
              "profile", kept)

    @sc.case("the daemon stops cleanly and its log holds no secret and no payload", needs=())
    def clean_stop():
        check(st.d is not None, "the daemon was started")
        rc = st.d.stop()
        check(rc == 0, "crmsyncd stops cleanly on SIGTERM", rc)
        log = st.d.read_log()
        check(W.acstest.SECRET not in log and W.L.SECRET not in log and W.ADMIN_TOKEN not in log,
              "no secret in the daemon's log")
        check("Newcomer" not in log and "nina.newcomer" not in log, "no payload value in the daemon's log")

    @sc.case("5. picklists as labels, a replacement matched on a label", needs=())
    def labels():
        env.acs.ctl("POST", "reset", {})
        labels_table = {"key": {"source": "contactid", "target": "externalId"}, "picklists": "label",
                        "fields": [{"source": "gendercode", "target": "cusLoyaltyTier"},
                                   {"source": "lastname", "target": "lastName"}],
                        "replacements": [{"field": "gendercode", "from": "Female", "to": "F"}]}
        r = W.L.run_daemon(env.config(table_mapping=labels_table, name="labels.conf"), 180)
        check(r.rc == 0 and r.workflow(W.WF)["dead_letters"] == 0, "labels run ends idle with no dead letter",
              r.log[-3000:])
        rows, profiles = env.contacts(), env.profiles()
        want = {k: {1: "Male", 2: "F"}[r_["gendercode"]] for k, r_ in rows.items() if r_.get("gendercode")}
        got = {k: v[0].get("cusLoyaltyTier") for k, v in profiles.items()}
        check(set(got) >= set(want) and all(got[k] == v for k, v in want.items()),
              "picklists arrive as labels (Male), and a replacement matches a label (Female -> F)",
              [(k, got.get(k), v) for k, v in want.items() if got.get(k) != v][:3])

    def cleanup():
        if st.d is not None:
            st.d.stop()
        env.close()

    sc.run(cleanup)


if __name__ == "__main__":
    main()
