#!/usr/bin/env python3
"""read.py - the dynamics365 source against the Dataverse emulator, with the real daemon:
initial sync (inactive rows included, pages split across read() calls, each next page fetched while
the previous one is committed), incremental creates, updates
and deletes, an expired delta token (a counted full re-sync) with the rows deleted meanwhile sent as
deletes, a delta page with rows that lack the primary key (dead letters with the reason, the rest of the
page and the next changes delivered), an answer without @odata.deltaLink (retried), picklists read as labels (checked
end to end through a Dataverse -> Dataverse copy into a second emulator), and a table without change
tracking failing the workflow with a reason that says how to enable it, and a mapping over a stream
the connection does not read failing the workflow at start, before any record is read.
Full syncs (the initial one, the re-syncs after an expired delta token) mark their records "initial":
the workflow maps gendercode onto the capture sink's `v` with apply_updates off (stages.so's map stage),
so `v` is the row's gendercode on a full sync and absent (0) on a delta.
"""
import json
import os

import d365lib as L

COLUMNS = ["firstname", "lastname", "emailaddress1", "gendercode", "statecode", "modifiedon"]
STAGES = os.path.join(os.environ.get("STAGES_DIR") or os.path.join(L.BUILD, "plugins", "stages"), "stages.la")
# v <- gendercode only for records marked "initial" (full syncs); deltas carry no v
INITIAL_ONLY = [{"name": "map", "fields": [{"source": "gendercode", "target": "v", "apply_updates": False}]}]


def captured_v(path):
    """The capture sink's lines as (key, op, v) tuples."""
    with open(path) as f:
        return [(p[1], p[2], int(p[3])) for p in (line.rstrip("\n").split("\t") for line in f if line.strip())]


def check_initial_flag(lines, emu, full, what):
    """On a full sync every upsert carries v = the row's gendercode (1 or 2 for seeded rows, 0 for rows
    created without one); on a delta none does."""
    rows = L.rows(emu, "contacts")
    bad = [(k, v) for k, op, v in lines if op == "upsert" and v != ((rows[k].get("gendercode") or 0) if full else 0)]
    L.require(not bad, "%s: the \"initial\" flag is %s: %d record(s) with a wrong v, e.g. %s"
            % (what, "missing from a full sync" if full else "set on a delta", len(bad), bad[:3]))
    L.require(not full or any(v for _, op, v in lines if op == "upsert"), "%s: no full-sync record carried v" % what)


COPY_TABLE = {
    "logical": "new_contactcopy", "set": "new_contactcopies", "schema": "new_contactcopy", "id": "new_contactcopyid",
    "name": "lastname", "change_tracking": False, "custom": True, "activity": False, "keys": [],
    "attributes": [{"name": "new_contactcopyid", "type": "Uniqueidentifier", "update": False}]
    + [{"name": n, "type": "String", "max": 100} for n in ("contactid", "firstname", "lastname", "emailaddress1",
                                                           "gendercode", "statecode")]
    + [{"name": "modifiedon", "type": "DateTime", "readonly": True}],
}


def main():
    s = L.Scratch()
    emu, url = L.emulator(seed=2000)
    try:
        ids = sorted(L.rows(emu, "contacts"))
        for rid in ids[:5]:  # inactive rows belong to the initial sync
            L.control(url, "PATCH", "tables/contacts/" + rid, {"statecode": 1, "statuscode": 2})
        cap = s.path("captured")
        conns = {"d365": L.connection(s, url, {"contacts": {"columns": COLUMNS}}, page_size=300),
                 "cap": {"connector": "capture-sink", "file": cap}}
        wf = [{"id": "rd", "source": "d365", "sink": "cap", "poll_interval": "200ms", "read_batch": 250,
               "mappings": [{"stream": "contacts", "stages": INITIAL_ONLY}]}]
        conf = L.write_config(s, conns, wf, plugins=["dynamics365", L.TESTPLUG, STAGES])

        # 1. initial sync
        r = L.run_daemon(conf, 120)
        L.require(r.rc == 0, "initial sync failed:\n" + r.log[-3000:])
        got = L.captured(cap)
        L.require(len(got) == 2000 and {k for _, k, _ in got} == set(ids) and all(op == "upsert" for _, _, op in got),
                "initial sync: expected 2000 upserts of the seeded ids, got %d lines" % len(got))
        # what must hold, not how many times the daemon polled: each of the 7 pages of 300 read, the delta
        # link stored after the last one (the 200 ms polls of the delta link that follow vary with the load)
        L.require(r.workflow("rd")["metrics"].get("d365_pages_read", 0) >= 8,
                "initial sync: expected 7 pages of 300 and the delta link, metrics %s" % r.workflow("rd")["metrics"])
        db = L.state_db(s)
        cursor = json.loads(db.execute("select cursor from source_cursor where stream='contacts'").fetchone()[0])
        db.close()
        L.require("deltatoken" in json.dumps(cursor) and "page" not in cursor,
                "initial sync: the cursor is the delta link once the last page is read: %s" % cursor)
        # each page's nextLink is fetched while the page is committed (pages split across read() calls too)
        L.require(r.workflow("rd")["metrics"].get("d365_pages_read_ahead") == 6,
                "initial sync: expected pages 2-7 read ahead, metrics %s" % r.workflow("rd")["metrics"])
        check_initial_flag(captured_v(cap), emu, True, "initial sync")

        # 2. incremental: 30 creates, 20 updates, 10 deletes
        created = [L.control(url, "POST", "tables/contacts", {"firstname": "New", "lastname": "C%d" % i})["contactid"]
                   for i in range(30)]
        for rid in ids[100:120]:
            L.control(url, "PATCH", "tables/contacts/" + rid, {"jobtitle": "changed"})
        for rid in ids[200:210]:
            L.control(url, "DELETE", "tables/contacts/" + rid)
        r = L.run_daemon(conf, 60)
        L.require(r.rc == 0, "incremental sync failed:\n" + r.log[-3000:])
        new = L.captured(cap)[2000:]
        want = {(k, "upsert") for k in created + ids[100:120]} | {(k, "delete") for k in ids[200:210]}
        L.require(len(new) == 60 and {(k, op) for _, k, op in new} == want,
                "incremental: expected exactly 30 creates, 20 updates and 10 deletes, got %d lines" % len(new))
        check_initial_flag(captured_v(cap)[2000:], emu, False, "incremental")

        # 3. expired delta token: a full re-sync by itself, logged and counted
        L.control(url, "POST", "delta/expire")
        for rid in ids[300:303]:
            L.control(url, "PATCH", "tables/contacts/" + rid, {"jobtitle": "after expiry"})
        r = L.run_daemon(conf, 60)
        L.require(r.rc == 0, "re-sync failed:\n" + r.log[-3000:])
        new = L.captured(cap)[2060:]
        live = set(L.rows(emu, "contacts"))
        L.require(len(new) == len(live) and {k for _, k, _ in new} == live,
                "re-sync: expected every one of the %d live rows once, got %d lines" % (len(live), len(new)))
        L.require(r.workflow("rd")["metrics"].get("d365_full_resyncs") == 1, "re-sync not counted")
        L.require("the delta token has expired (0x80044352)" in r.log, "re-sync not logged")
        check_initial_flag(captured_v(cap)[2060:], emu, True, "re-sync after an expired token")

        resync1 = len(live)

        # 3b. rows deleted while the delta token is expired arrive as deletes after the re-sync: rows of
        # the last full sync and rows that came through a delta since
        later = [L.control(url, "POST", "tables/contacts", {"firstname": "Later", "lastname": "L%d" % i})["contactid"]
                 for i in range(5)]
        r = L.run_daemon(conf, 60)
        L.require(r.rc == 0 and {k for _, k, _ in L.captured(cap)[2060 + len(live):]} == set(later),
                "creates before the expiry:\n" + r.log[-3000:])
        check_initial_flag(captured_v(cap)[2060 + len(live):], emu, False, "creates after a re-sync")
        mark = len(L.captured(cap))
        gone = later[:3] + ids[400:405]
        for rid in gone:
            L.control(url, "DELETE", "tables/contacts/" + rid)
        L.control(url, "POST", "delta/expire")
        r = L.run_daemon(conf, 60)
        L.require(r.rc == 0, "re-sync after deletes failed:\n" + r.log[-3000:])
        new = L.captured(cap)[mark:]
        live = set(L.rows(emu, "contacts"))
        deletes = [k for _, k, op in new if op == "delete"]
        L.require(sorted(deletes) == sorted(gone) and {k for _, k, op in new if op == "upsert"} == live
                and len(new) == len(live) + len(gone),
                "re-sync after deletes: expected %d upserts and the %d deletes, got %d lines, deletes %s"
                % (len(live), len(gone), len(new), deletes))
        L.require(r.workflow("rd")["metrics"].get("d365_resync_deletes") == len(gone), "re-sync deletes not counted")
        check_initial_flag(captured_v(cap)[mark:], emu, True, "re-sync after deletes")
        L.require("%d row(s) synced before and absent from the full sync" % len(gone) in r.log, "re-sync deletes not logged")

        # 3c. a delta page whose rows lack the primary key: those rows are dead letters with the reason,
        # the others of the page are written and the workflow goes on with the next changes
        mark = len(L.captured(cap))
        fresh = [L.control(url, "POST", "tables/contacts", {"firstname": "Keyless", "lastname": "K%d" % i})["contactid"]
                 for i in range(6)]
        L.control(url, "POST", "faults", {"kind": "strip", "member": "contactid", "every": 2, "path": "/contacts$",
                                          "method": "GET", "count": 1})
        r = L.run_daemon(conf, 60)
        w = r.workflow("rd")
        new = [k for _, k, _ in L.captured(cap)[mark:]]
        L.require(r.rc == 0 and len(new) == 3 and set(new) < set(fresh) and w["dead_letters"] == 3,
                "keyless rows: expected 3 rows written and 3 dead letters, got %s, %s:\n%s" % (new, w, r.log[-3000:]))
        L.require("a change-tracking row of contacts has no contactid: dead-lettered" in r.log, "keyless rows: not logged")
        db = L.state_db(s)
        dead = db.execute("SELECT stream, error_detail, payload FROM dead_letter WHERE workflow_id = 'rd'").fetchall()
        db.close()
        L.require(len(dead) == 3 and all(st == "contacts" and "no key" in why and "Keyless" in payload
                                       for st, why, payload in dead), "keyless rows: dead letters %s" % dead)
        after = L.control(url, "POST", "tables/contacts", {"firstname": "After", "lastname": "A"})["contactid"]
        r = L.run_daemon(conf, 60)
        L.require(r.rc == 0 and [k for _, k, _ in L.captured(cap)[mark + 3:]] == [after],
                "keyless rows: the next change was not delivered:\n" + r.log[-3000:])

        # 3d. a delta answer without @odata.deltaLink (cut short on its way): retried, not a failure
        again = L.control(url, "POST", "tables/contacts", {"firstname": "Again", "lastname": "A"})["contactid"]
        L.control(url, "POST", "faults", {"kind": "strip", "member": "@odata.deltaLink", "top": True,
                                          "path": "/contacts$", "method": "GET", "count": 1})
        r = L.run_daemon(conf, 60)
        L.require(r.rc == 0 and r.workflow("rd")["status"] == "RUNNING" and
                [k for _, k, _ in L.captured(cap)[mark + 4:]] == [again],
                "no deltaLink: the workflow did not retry and go on:\n" + r.log[-3000:])
        L.require("carries neither @odata.nextLink nor @odata.deltaLink (retrying" in r.log, "no deltaLink: not logged")

        # 4. labels, end to end: contacts of A copied into a table of emulator B
        emu_b, url_b = L.emulator({"custom_tables": [COPY_TABLE]})
        try:
            conns = {"a": L.connection(s, url, {"contacts": {"columns": COLUMNS, "labels": ["gendercode", "statecode"]}}),
                     "b": L.connection(s, url_b, {"new_contactcopies": {}})}
            wf = [{"id": "copy", "source": "a", "sink": "b", "poll_interval": "200ms",
                   "mappings": [{"stream": "contacts", "target": "new_contactcopies"}]}]
            r = L.run_daemon(L.write_config(s, conns, wf, "copy.conf"), 120)
            L.require(r.rc == 0 and r.workflow("copy")["dead_letters"] == 0, "copy failed:\n" + r.log[-3000:])
            a, b = L.rows(emu, "contacts"), L.rows(emu_b, "new_contactcopies")
            L.require(set(a) == set(b), "copy: %d rows in A, %d in B" % (len(a), len(b)))
            labels = {1: "Male", 2: "Female", None: None}
            for rid, row in a.items():
                c = b[rid]
                L.require(all(c[k] == row[k] for k in ("contactid", "firstname", "lastname", "emailaddress1"))
                        and c["gendercode"] == labels[row["gendercode"]]
                        and c["statecode"] == ("Inactive" if row["statecode"] else "Active"),
                        "copy: row %s differs: %s vs %s" % (rid, row, c))
        finally:
            emu_b.stop()

        # 5. a table without change tracking fails at start, saying how to enable it
        conns = {"d365": L.connection(s, url, {"new_settings": {"columns": ["new_name"]}}),
                 "cap": {"connector": "capture-sink", "file": cap}}
        wf = [{"id": "noct", "source": "d365", "sink": "cap", "mappings": [{"stream": "new_settings"}]}]
        r = L.run_daemon(L.write_config(s, conns, wf, "noct.conf"), 60)
        w = r.workflow("noct")
        L.require(r.rc == 1 and w["status"] == "FAILED" and "change tracking is not enabled on table new_setting"
                in (w["reason"] or "") and "Track changes" in w["reason"], "no-CT table: %s" % w)

        # 6. a mapping over a stream this connection does not read fails at start, before anything is read
        cap6 = s.path("captured6")
        conns = {"d365": L.connection(s, url, {"contacts": {"columns": COLUMNS}}),
                 "cap": {"connector": "capture-sink", "file": cap6}}
        wf = [{"id": "unmapped", "source": "d365", "sink": "cap",
               "mappings": [{"stream": "contacts"}, {"stream": "accounts", "target": "crm-accounts"}]}]
        r = L.run_daemon(L.write_config(s, conns, wf, "unmapped.conf"), 60)
        w = r.workflow("unmapped")
        L.require(r.rc == 1 and w["status"] == "FAILED" and "add tables.accounts with its columns to read it"
                in (w["reason"] or ""), "unconfigured mapped stream: %s" % w)
        L.require(not L.captured(cap6) and w["records_read"] == 0, "unconfigured mapped stream: records were read "
                "before the failure: %s" % w)
        print("read: ok (initial 2000, incremental 60, re-syncs %d and %d + %d deletes, labels copied, CT refusal)"
              % (resync1, len(live), len(gone)))
    finally:
        emu.stop()
        s.close()


if __name__ == "__main__":
    main()
