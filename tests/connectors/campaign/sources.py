#!/usr/bin/env python3
# sources.py - the Campaign sources with the real daemon into the test plugin's capture sink:
# email events from the I/O Events journal (pages of 7 following Link rel="next", duplicates dropped
# by event id, out-of-order events, the 204 end of the journal, profiles known only by their
# Campaign id resolved to externalId and cached, the cursor resuming after the last event, the next
# page read ahead, sent again when its connection drops or its token expired), and
# opt-outs from export files (each file once, read 2 lines per read() so that a file takes several
# calls; a malformed line dead-lettered with its line number).
import os

import acstest
from acstest import captured_lines, check, workflow

JOURNAL = "/events/organizations/23294/integrations/54108/f89067f2-0d50-4bb2-bf78-209d0eacb6eb"


def main():
    h = acstest.Harness("sources")
    try:
        exp = os.path.join(h.tmp, "export")
        os.makedirs(exp)
        h.ctl("POST", "seed", {"count": 20})
        h.ctl("POST", "seed", {"count": 5, "with_external_id": False})
        made = h.ctl("POST", "events", {"count": 40, "duplicates": 6, "out_of_order": True,
                                        "profiles": [str(i) for i in range(1, 21)]})[1]
        late = h.ctl("POST", "events", {"count": 5, "profiles": [str(i) for i in range(21, 26)]})[1]
        h.ctl("PATCH", "config", {"immutable_custom_keys": False})
        for i in range(21, 26):  # the externalId is set after the events were sent
            check(h.ctl("PATCH", "resources/profile/%d" % i, {"externalId": "late-%d" % i})[0] == 200,
                  "externalId of profile %d set after its event" % i)
        ids = {e["event_id"] for e in made["events"]} | {e["event_id"] for e in late["events"]}

        for i in (1, 2, 3):
            h.ctl("PATCH", "resources/profile/%d" % i, {"blackListEmail": True})
        h.ctl("PATCH", "resources/profile/4", {"blackList": True})
        first = h.ctl("POST", "optout-export", {"dir": exp})[1]
        with open(os.path.join(exp, "optout_29991231000000_9999.csv"), "w") as f:
            f.write("externalId,email,field,value,lastModified\n"
                    "ext-a,a@example.com,blackListEmail,true,2030-01-02 03:04:05.678Z\n"
                    "ext-b,b@example.com,blackList,maybe,2030-01-02 03:04:05.678Z\n"
                    "ext-c,c@example.com,blackListEmail,false,2030-01-02 03:04:06.000Z\n")

        conns = h.acs_connection(extra="    journal_url: %s%s\n    journal_limit: 7\n    export_url: file://%s/\n" % (
            h.url, JOURNAL, exp))
        conns += "  cap1: {connector: capture-sink, file: %s/events}\n" % h.tmp
        conns += "  cap2: {connector: capture-sink, file: %s/optouts}\n" % h.tmp
        wfs = workflow("events", "acs", "cap1", "[{stream: email-events}]", writers=1) + \
            workflow("optouts", "acs", "cap2", "[{stream: opt-outs}]", writers=1, extra="    read_batch: 2\n")
        conf = h.write_conf(conns, wfs, "sources")
        h.reset_counts()
        # the second journal request is the page read ahead while the first is emitted: its connection
        # drops; the fourth (the third page's, read ahead) is refused 401 (token expired)
        h.ctl("POST", "faults", {"kind": "drop", "path": JOURNAL, "after": 1, "count": 1})
        h.ctl("POST", "faults", {"kind": "error", "status": 401, "path": JOURNAL, "after": 3, "count": 1})
        rc, summ, _, out = h.run(conf)
        check(rc == 0, "the daemon finished cleanly", out[-3000:])
        ev = captured_lines(os.path.join(h.tmp, "events"))
        keys = [r[1] for r in ev]
        check(len(keys) == len(set(keys)) == 45 and set(keys) == ids,
              "events: the 45 distinct events arrived once each (6 duplicates dropped)", (len(keys), len(set(keys))))
        check(summ["events"]["metrics"].get("acs_event_duplicate") == 6, "events: 6 duplicates counted",
              summ["events"]["metrics"])
        fired = [r["fault"] for r in h.requests()["requests"] if r.get("fault")]
        check(sorted(fired) == ["drop", "error"] and summ["events"]["metrics"].get("acs_journal_pages_read_ahead", 0) >= 2,
              "events: pages read ahead while the previous one was emitted; the one whose connection dropped and "
              "the one refused 401 were read again, nothing lost", (fired, summ["events"]["metrics"]))
        c = h.counts()
        check(c.get("journal", 0) >= 8 and c.get("status_204", 0) >= 1,
              "events: pages of 7 followed by Link rel=next up to the 204 end of the journal", c)
        kv = dict(h.sql("select key, value from kv where key like 'ext:%'"))
        check(len(kv) == 5 and all(kv["ext:%d" % i] == "late-%d" % i for i in range(21, 26)) and
              summ["events"]["metrics"].get("acs_profile_lookup") == 5,
              "events: profiles known only by Campaign id resolved to externalId, once each, and cached", kv)

        opt = captured_lines(os.path.join(h.tmp, "optouts"))
        okeys = sorted(r[1] for r in opt)
        check(first["rows"] >= 4 and len(opt) == first["rows"] + 2 and "ext-a/blackListEmail" in okeys and
              "ext-c/blackListEmail" in okeys, "opt-outs: every good line of both files arrived", okeys)
        dead = h.sql("select stream, record_key, error_detail from dead_letter where workflow_id = 'optouts'")
        check(len(dead) == 1 and dead[0][0] == "opt-outs-malformed" and dead[0][1].endswith(":3") and
              "value is not a boolean" in dead[0][2],
              "opt-outs: the malformed line 3 is dead-lettered with its line number and the reason", dead)
        check("optout_29991231000000_9999.csv line 3 is malformed" in out, "opt-outs: the warning names file and line")

        # again: the cursors resume; only what is new arrives
        more = h.ctl("POST", "events", {"count": 3, "profiles": ["1"]})[1]
        with open(os.path.join(exp, "optout_29991231000001_0001.csv"), "w") as f:
            f.write("externalId,email,field,value,lastModified\n"
                    "ext-d,d@example.com,ccpaOptOut,true,2030-01-03T00:00:00Z\n")
        rc, summ, _, out = h.run(conf)
        ev2 = captured_lines(os.path.join(h.tmp, "events"))[len(ev):]
        opt2 = captured_lines(os.path.join(h.tmp, "optouts"))[len(opt):]
        check(rc == 0 and sorted(r[1] for r in ev2) == sorted(e["event_id"] for e in more["events"]),
              "events: a second run reads only the 3 new events", ev2)
        check([r[1] for r in opt2] == ["ext-d/ccpaOptOut"], "opt-outs: a second run reads only the new file", opt2)
    finally:
        h.close()
    print("sources: ok")


if __name__ == "__main__":
    main()
