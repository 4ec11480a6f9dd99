#!/usr/bin/env python3
"""write.py - the dynamics365 sink against the Dataverse emulator, with the real daemon and a JSON-lines
source: activities upserted by alternate key with regardingobjectid bound to contacts (@odata.bind),
keys needing quoting, deletes by key (also of rows that never existed), update-only writes (If-Match: *),
and a mix of failing records (too long, bound to a missing contact, updating a missing row) that end
as dead letters with the status and the service's message while every other record is written; a
mapping to a target the connection does not list in `tables` fails the workflow at start.
"""
import json

import d365lib as L

BIND = "regardingobjectid_contact_new_acsemailevent@odata.bind"


def main():
    s = L.Scratch()
    emu, url = L.emulator(seed=50)
    try:
        contacts = sorted(L.rows(emu, "contacts"))
        missing = "00000000-0000-0000-0000-0000000000aa"
        events = []
        for i in range(200):
            events.append({"key": "ev-%d" % i, "op": "upsert", "payload": {
                "subject": "Email send %d" % i, "new_acseventid": "ev-%d" % i, "new_eventtype": 1 + i % 4,
                "new_campaignname": "Spring", BIND: "contacts(%s)" % contacts[i % 50]}})
        events.append({"key": "ev-'quoted' & more", "op": "upsert",
                       "payload": {"subject": "quoted key", BIND: "/contacts(%s)" % contacts[0]}})
        too_long = ["bad-long-%d" % i for i in range(5)]
        for k in too_long:
            events.append({"key": k, "op": "upsert", "payload": {"subject": "x" * 250}})
        unbound = ["bad-bind-%d" % i for i in range(3)]
        for k in unbound:
            events.append({"key": k, "op": "upsert", "payload": {"subject": "orphan", BIND: "contacts(%s)" % missing}})
        for k in ("ev-3", "ev-4", "never-existed"):
            events.append({"key": k, "op": "delete", "payload": {}})
        updates = [{"key": contacts[7], "op": "upsert", "payload": {"jobtitle": "Updated by crmsync"}},
                   {"key": missing, "op": "upsert", "payload": {"jobtitle": "must not be created"}},
                   {"key": "not-a-guid", "op": "upsert", "payload": {"jobtitle": "x"}}]
        for name, recs in (("events.jsonl", events), ("updates.jsonl", updates)):
            with open(s.path(name), "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in recs)

        tables = {"new_acsemailevents": {"key": ["new_acseventid"]},
                  "contact-updates": {"table": "contact", "update_only": True}}
        conns = {"d365": L.connection(s, url, tables, batch_size=40, max_in_flight=3),
                 "events": {"connector": "jsonl-source", "file": s.path("events.jsonl")},
                 "updates": {"connector": "jsonl-source", "file": s.path("updates.jsonl")}}
        wf = [{"id": "ev", "source": "events", "sink": "d365", "writers": 2, "batch_size": 150,
               "mappings": [{"stream": "acs-events", "target": "new_acsemailevents"}]},
              {"id": "upd", "source": "updates", "sink": "d365", "writers": 1,
               "mappings": [{"stream": "c", "target": "contact-updates"}]}]
        L.control(url, "DELETE", "counts")
        conf = L.write_config(s, conns, wf, plugins=["dynamics365", L.D365TEST])
        r = L.run_daemon(conf, 120)
        L.require(r.rc == 0, "daemon failed:\n" + r.log[-3000:])

        rows = {row["new_acseventid"]: row for row in L.rows(emu, "new_acsemailevents").values()}
        want = {"ev-%d" % i for i in range(200) if i not in (3, 4)} | {"ev-'quoted' & more"}
        L.require(set(rows) == want, "events: expected %d rows, got %d (%s)" % (len(want), len(rows),
                                                                                sorted(set(rows) ^ want)[:5]))
        for i in (0, 17, 199):
            row = rows["ev-%d" % i]
            L.require(row["_regardingobjectid_value"] == contacts[i % 50] and row["new_eventtype"] == 1 + i % 4,
                    "event ev-%d not bound to its contact: %s" % (i, row))
        L.require(L.rows(emu, "contacts")[contacts[7]]["jobtitle"] == "Updated by crmsync", "update-only write lost")
        L.require(missing not in L.rows(emu, "contacts"), "an update-only write created a row")

        db = L.state_db(s)
        dead = {k: (st, d) for k, st, d in db.execute(
            "select record_key, http_status, error_detail from dead_letter where error_class='rejected'")}
        for k in too_long:
            L.require(dead.get(k, (0, ""))[0] == 400 and "exceeded the maximum allowed length of '200'" in dead[k][1],
                    "%s: expected a 400 dead letter with the service's message, got %s" % (k, dead.get(k)))
        for k in unbound:
            L.require(dead.get(k, (0, ""))[0] == 404 and "Does Not Exist" in dead[k][1],
                    "%s: expected a 404 dead letter, got %s" % (k, dead.get(k)))
        L.require(dead.get(missing, (0, ""))[0] == 404, "update-only of a missing row: %s" % (dead.get(missing),))
        L.require("not a GUID" in dead.get("not-a-guid", (0, ""))[1], "a non-GUID id must be rejected: %s" % dead)
        L.require(len(dead) == 10, "expected 10 dead letters, got %d: %s" % (len(dead), sorted(dead)))
        L.require(db.execute("select count(*) from backlog").fetchone()[0] == 0, "backlog not empty")
        ev = r.workflow("ev")
        # the backlog may fold the upsert and the later delete of ev-3 and ev-4 into the delete
        L.require(len(events) - 10 <= ev["records_written"] <= len(events) - 8 and ev["dead_letters"] == 8,
                "events workflow summary: %s" % ev)
        counts = L.control(url, "GET", "counts")
        L.require(counts.get("batch", 0) == ev["metrics"]["d365_batch_requests"] + r.workflow("upd")["metrics"]
                .get("d365_batch_requests", 0), "requests sent and counted differ: %s" % counts)

        # a mapping whose target this connection does not list in tables fails at start, nothing sent
        L.control(url, "DELETE", "counts")
        wf = [{"id": "unlisted", "source": "updates", "sink": "d365", "mappings": [{"stream": "c", "target": "contacts"}]}]
        r = L.run_daemon(L.write_config(s, conns, wf, "unlisted.conf", plugins=["dynamics365", L.D365TEST]), 60)
        w = r.workflow("unlisted")
        L.require(r.rc == 1 and w["status"] == "FAILED" and "or tables.contacts to write it" in (w["reason"] or ""),
                "unlisted target: %s" % w)
        L.require(L.control(url, "GET", "counts").get("batch", 0) == 0, "unlisted target: a $batch was sent")
        print("write: ok (%d events, %d dead letters, %d $batch requests)" % (len(rows), len(dead), counts["batch"]))
    finally:
        emu.stop()
        s.close()


if __name__ == "__main__":
    main()
