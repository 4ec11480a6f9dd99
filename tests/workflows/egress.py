#!/usr/bin/env python3
"""egress.py - the workflow "Campaign to Microsoft Dynamics 365" end to end: the Campaign emulator's I/O Events
journal, the real crmsyncd with campaign.so (one stream per event type), adobe.so (email-activity) and
dynamics365.so, and the Dataverse emulator's activity tables. Every check reads what ended up in Dataverse.

1. sends and clicks switched on, opens and bounces off: events of every type (soft bounces too), shuffled
   and duplicated in the journal; exactly one activity per send and per click event, with Adobe's subject,
   the regarding contact, the application user as owner, campaign, delivery, time, URLs; none of the
   others; the contact's Timeline shows them; every write went in $batch;
2. restart with every type on and the bounces owned by another user: the opens and the hard bounces
   already in the journal arrive (no soft bounce), redelivered events do not create a second activity;
   an event whose contact is not in Dataverse and one whose profile has no externalId are dead letters
   that say why;
3. the contact is created, the dead letter redriven: its activity is there; the click stream is replayed
   (at the next start): every click is read again, none is written twice.
Each part is a case of its own (tests/lib/checks.py's Scenario); the log's secrets are checked regardless.
"""
import json
import time
from types import SimpleNamespace

import egresslib as E
import wflib as W
from checks import Scenario
from wflib import check

import dv_activities  # noqa: E402 (the emulators' directory is on the path once wflib is imported)
from dv_schema import SYSTEM_USER_ID  # noqa: E402

N = 60
GHOST = "0f0f0f0f-1111-2222-3333-444455556666"  # a contact that is not in Dataverse until case 3
SUBJECT = "Campaign Name: Spring Campaign; Delivery Name: Spring Newsletter"


def expected(evs, kinds):
    """kind -> {event id: event} of the generated events of those kinds (duplicates once)."""
    out = {k: {} for k in kinds}
    for ev in evs:
        for k in kinds:
            if ev["xdm:eventType"] == E.EVENT_TYPES[k] and ev.get("bounceType", "hard") == "hard":
                out[k][ev["event_id"]] = ev
    return out


def iso(ts):
    """The journal's "...+00:00" as Dataverse stores it ("...Z")."""
    return ts.replace("+00:00", "Z")


def check_rows(env, kind, want, owner=SYSTEM_USER_ID):
    rows = E.activities(env, kind)
    check(set(rows) == set(want), "exactly one %s activity per %s event (%d), none twice, none else"
          % (kind, kind, len(want)), (len(rows), len(want), set(rows) ^ set(want)))
    check(len(W.L.rows(env.dv, E.TABLES[kind])) == len(want), "the %s table holds no second row for an event" % kind)
    bad = []
    for eid, ev in want.items():
        r = rows[eid]
        dm = ev["xdm:directMarketing"]
        got = (r["subject"], r["_regardingobjectid_value"], r["_ownerid_value"], r["new_campaignname"],
               r["new_deliveryname"], r["new_eventtime"], r["new_mirrorpageurl"], r.get("new_trackingurl"))
        exp = (SUBJECT, ev["profileExternalId"], owner, dm["xdm:campaignName"], dm["xdm:deliveryName"],
               iso(ev["xdm:timestamp"]), ev["mirrorPageUrl"], ev.get("url"))
        if got != exp:
            bad.append((eid, got, exp))
    check(not bad, "every %s activity has the subject, regarding contact, owner, campaign, delivery, time, "
          "mirror page URL%s of its event" % (kind, " and tracking URL" if kind == "click" else ""), bad[:3])


def writes_in_batch(env, since=0):
    reqs = W.L.requests_log(env.dv_url, since)["requests"]
    writes = [(r["method"], r["path"]) for r in reqs if r["method"] != "GET" and "/api/data/" in r["path"]]
    check(writes and all(p.endswith("/$batch") and m == "POST" for m, p in writes),
          "every write to Dataverse went in a $batch request", writes[:5])


def main():
    env = W.Env("egress", seed=N)
    st = SimpleNamespace(d=None)  # the running daemon and what the cases hand on to the ones after them
    sc = Scenario("egress")

    def start(types, owners=None):
        st.d = W.Daemon(E.config(env, types, owners=owners), env.s.path("daemon.log"))
        st.d.wait_port()
        return st.d

    def stop():
        d, st.d = st.d, None
        check(d.stop() == 0, "crmsyncd stops cleanly")

    @sc.case("0. the journal holds events of every type, shuffled and duplicated")
    def journal():
        env.acs.ctl("PATCH", "config", {"journal": {"retry_after": 1}})
        cids = sorted(env.contacts())
        st.known = known = cids[:40]
        E.profiles_for(env, known)
        E.profiles_for(env, [GHOST])
        code, _ = env.acs.ctl("POST", "resources/profile", {"email": "no.external.id@example.com", "lastName": "NoExt"})
        check(code in (200, 201), "a profile without externalId exists in Campaign")
        evs = E.events(env, count=100, types=["send", "open", "click", "bounce", "softbounce"], profiles=known,
                       duplicates=15, out_of_order=True)
        want = st.want = expected(evs, E.TYPES)
        check(all(want[k] for k in E.TYPES) and len(evs) == 115, "the journal holds events of every type, shuffled, "
              "with 15 duplicates", {k: len(v) for k, v in want.items()})

    @sc.case("1. sends and clicks on, opens and bounces off")
    def sends_and_clicks():
        want, known = st.want, st.known
        d = start(["send", "click"])
        W.wait_until(lambda: len(E.activities(env, "send")) >= len(want["send"]) and
                     len(E.activities(env, "click")) >= len(want["click"]), 60, "the send and click activities",
                     lambda: (len(E.activities(env, "send")), len(E.activities(env, "click")), d.read_log()[-3000:]))
        E.idle(d)
        check_rows(env, "send", want["send"])
        check_rows(env, "click", want["click"])
        check(not E.activities(env, "open") and not E.activities(env, "bounce"),
              "no open and no bounce activity while their types are switched off")
        w = E.workflow(d)
        check(w["status"] == "RUNNING" and w["dead_letters"] == 0, "RUNNING without dead letter", w)
        writes_in_batch(env)
        c = known[0]
        with env.dv.lock:
            timeline = sorted((r["activitytypecode"], r["subject"]) for r in
                              dv_activities.refresh(env.dv.store).rows.values() if r["_regardingobjectid_value"] == c)
        mine = sorted(("new_acsemail" + k, SUBJECT) for k in ("send", "click") for ev in want[k].values()
                      if ev["profileExternalId"] == c)
        check(timeline == mine and mine, "the contact's Timeline (activitypointer) shows its send and click "
              "activities", (timeline, mine))
        stop()

    @sc.case("2. every type on, bounces owned by another user; redeliveries; unknown contacts")
    def every_type():
        want = st.want
        seq = W.L.requests_log(env.dv_url)["last"]
        with env.acs.emu.lock:  # the journal delivers some events again (at least once, reference B10.3)
            redelivered = [e for e in list(env.acs.emu.journal.entries)[:30]]
            for e in redelivered:
                env.acs.emu.journal.append(json.loads(json.dumps(e["event"])), time.time())
        ghost_ev = st.ghost_ev = E.events(env, count=1, types=["open"], profiles=[GHOST])[0]
        noext_ev = st.noext_ev = E.events(env, count=1, types=["click"],
                                          profiles=["email:no.external.id@example.com"])[0]
        check(ghost_ev["profileExternalId"] == GHOST and noext_ev["profileExternalId"] == "",
              "one event of the unknown contact, one of the profile without externalId")
        d = start(list(E.TYPES), owners={"bounce": dv_activities.SALES_USER_ID})
        W.wait_until(lambda: len(E.activities(env, "open")) >= len(want["open"]) and
                     len(E.activities(env, "bounce")) >= len(want["bounce"]) and
                     E.workflow(d)["dead_letters"] >= 2, 60, "the open and bounce activities and two dead letters",
                     lambda: (len(E.activities(env, "open")), len(E.activities(env, "bounce")), E.workflow(d),
                              d.read_log()[-3000:]))
        E.idle(d)
        check_rows(env, "open", want["open"])
        check_rows(env, "bounce", want["bounce"], owner=dv_activities.SALES_USER_ID)
        check_rows(env, "send", want["send"])
        check_rows(env, "click", want["click"])
        writes_in_batch(env, seq)
        dead = {x["key"]: x for x in E.dead_letters(d)}
        check(set(dead) == {ghost_ev["event_id"], noext_ev["event_id"]}, "exactly the two events dead-lettered",
              dead)
        g = st.ghost_dead = dead[ghost_ev["event_id"]]
        check(g["http_status"] == 404 and GHOST in g["detail"] and "does not exist in Dynamics 365" in g["detail"]
              and "redrive" in g["detail"], "the unknown contact's event: 404, naming the contact and the redrive",
              g)
        x = dead[noext_ev["event_id"]]
        check("no externalId" in x["payload"]["error"] and x["stream"] == "email-events-rejected",
              "the event of the profile without externalId is dead-lettered by the source, saying why", x)
        check('name="acs_event_soft_bounce"' in d.metrics(), "soft bounces are counted, not written")

    @sc.case("3. the contact appears: its dead letter is redriven; a replay of the clicks is staged")
    def redrive():
        d, ghost_ev = st.d, st.ghost_ev
        created = env.crm("POST", "tables/contacts", {"contactid": GHOST, "lastname": "Latecomer"})
        check(created["contactid"] == GHOST, "the missing contact is created in Dataverse")
        code, doc = d.api("POST", "/workflows/%s/dead-letters/%d/redrive" % (E.WF, st.ghost_dead["id"]))
        check(code == 200 and doc["redriven"] == 1, "the dead letter is redriven", (code, doc))
        W.wait_until(lambda: ghost_ev["event_id"] in E.activities(env, "open"), 30,
                     "the redriven event's activity", lambda: (E.workflow(d), d.read_log()[-2000:]))
        r = E.activities(env, "open")[ghost_ev["event_id"]]
        check(r["_regardingobjectid_value"] == GHOST and r["subject"] == SUBJECT,
              "the redriven activity regards the new contact", r)
        st.clicks_before = len(E.activities(env, "click"))
        code, doc = d.api("POST", "/workflows/%s/replay" % E.WF, {"mapping": "email-events.click"})
        check(code == 200, "replay of email-events.click accepted (staged until the next start)", (code, doc))
        stop()

    @sc.case("4. at the next start the replay reads every click again and writes none twice")
    def replay():
        want, noext_ev = st.want, st.noext_ev
        d = start(list(E.TYPES), owners={"bounce": dv_activities.SALES_USER_ID})
        W.wait_until(lambda: sum(1 for x in E.dead_letters(d) if x["key"] == noext_ev["event_id"]) == 2, 30,
                     "the replay reads the click events again (the unresolvable one is dead-lettered again)",
                     lambda: (E.workflow(d), d.read_log()[-2000:]))
        E.idle(d)
        w = E.workflow(d)
        check(w["records_read"] >= len(want["click"]) + 1, "the replay read every click event again", w)
        check_rows(env, "click", want["click"])
        check(len(E.activities(env, "click")) == st.clicks_before, "the replay duplicated no activity")
        check(len(E.activities(env, "open")) == len(want["open"]) + 1, "no open activity twice after two restarts")
        stop()
        print("egress: %s activities" % ", ".join("%d %s" % (len(E.activities(env, k)), k) for k in E.TYPES))

    @sc.case("no secret in the daemon's log", needs=())
    def no_secret():
        log = open(env.s.path("daemon.log")).read()
        check(W.acstest.SECRET not in log and W.L.SECRET not in log and W.ADMIN_TOKEN not in log,
              "no secret in the daemon's log")

    def cleanup():
        if st.d is not None:
            st.d.stop()
        env.close()

    sc.run(cleanup)


if __name__ == "__main__":
    main()
