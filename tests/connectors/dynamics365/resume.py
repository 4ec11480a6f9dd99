#!/usr/bin/env python3
"""resume.py - the daemon killed (SIGKILL) in the middle of a large initial sync from the Dataverse
emulator, then started again: every row arrives, the duplicates are bounded by what the sink had been
handed but not acknowledged (one write batch per writer) plus the slice being read, and the stream's id
set survives the kill: rows deleted afterwards while the delta token is expired still arrive as deletes.
"""
import json
import time

import d365lib as L

ROWS = 30000
PAGE = 1000
READ_BATCH = 250
WRITE_BATCH = 200


def main():
    s = L.Scratch()
    emu, url = L.emulator(seed=ROWS)
    try:
        cap = s.path("captured")
        conns = {"d365": L.connection(s, url, {"contacts": {"columns": ["firstname", "lastname", "modifiedon"]}},
                                      page_size=PAGE),
                 "cap": {"connector": "capture-sink", "file": cap}}
        wf = [{"id": "rd", "source": "d365", "sink": "cap", "poll_interval": "200ms", "read_batch": READ_BATCH,
               "batch_size": WRITE_BATCH, "writers": 1, "mappings": [{"stream": "contacts"}]}]
        conf = L.write_config(s, conns, wf, log_level="notice")
        # pages slow enough that the kill lands in the middle of the sync
        L.control(url, "POST", "faults", {"kind": "slow", "path": "/contacts$", "method": "GET", "delay": 0.15,
                                           "count": 1000})
        killed_at = []

        def kill_midway(proc):
            deadline = time.time() + 60
            while time.time() < deadline and len(L.captured(cap)) < ROWS // 3:
                time.sleep(0.02)
            killed_at.append(len(L.captured(cap)))
            proc.kill()  # SIGKILL: no shutdown, no last checkpoint

        r = L.run_daemon(conf, 120, during=kill_midway)
        L.require(r.rc == -9, "the daemon was not killed (rc %s):\n%s" % (r.rc, r.log[-3000:]))
        L.require(ROWS // 3 <= killed_at[0] < ROWS, "killed at %d of %d rows: not in the middle" % (killed_at[0], ROWS))
        db = L.state_db(s)
        cursor = json.loads(db.execute("select cursor from source_cursor where stream='contacts'").fetchone()[0])
        db.close()
        L.require("page" in cursor and cursor.get("n", 0) > 0, "the kill did not land in the initial sync: cursor %s"
                % cursor)

        L.control(url, "DELETE", "faults")
        r = L.run_daemon(conf, 180)
        L.require(r.rc == 0, "restart after the kill failed:\n" + r.log[-3000:])
        keys = [k for _, k, _ in L.captured(cap)]
        live = set(L.rows(emu, "contacts"))
        dups = len(keys) - len(set(keys))
        L.require(set(keys) == live, "after the restart: %d of %d rows arrived" % (len(set(keys) & live), len(live)))
        L.require(dups <= WRITE_BATCH + READ_BATCH, "after the restart: %d duplicates, more than one write batch (%d) "
                "and one read slice (%d)" % (dups, WRITE_BATCH, READ_BATCH))
        L.require(r.workflow("rd")["metrics"].get("d365_full_resyncs", 0) == 0, "the restart began the sync again")

        # the id set written before the kill is whole: deletes during an expired token still arrive
        mark = len(keys)
        ids = sorted(live)
        gone = [ids[0], ids[ROWS // 2], ids[-1]]
        for rid in gone:
            L.control(url, "DELETE", "tables/contacts/" + rid)
        L.control(url, "POST", "delta/expire")
        r = L.run_daemon(conf, 180)
        L.require(r.rc == 0, "re-sync failed:\n" + r.log[-3000:])
        deletes = sorted(k for _, k, op in L.captured(cap)[mark:] if op == "delete")
        L.require(deletes == sorted(gone), "re-sync after the kill: deletes %s, expected %s" % (deletes, sorted(gone)))
        print("resume: ok (killed after %d of %d rows delivered, at page %d; %d duplicates after the restart; %d "
              "deletes after the re-sync)" % (killed_at[0], ROWS, cursor["n"], dups, len(deletes)))
    finally:
        emu.stop()
        s.close()


if __name__ == "__main__":
    main()
