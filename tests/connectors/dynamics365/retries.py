#!/usr/bin/env python3
"""retries.py - transient failures of the dynamics365 connector, with the real daemon against the
Dataverse emulator: $batch requests answered 500/503 as a whole (no Retry-After), $batch answers cut
mid-stream and connections dropped, $batch requests and
reads answered after the connection's `timeout` (the workflow backs off, its sub-state logged with the
cause), and single operations inside a $batch answered 429 with a Retry-After or 503 while the rest of
the batch is written (those records are retried, and not before their Retry-After), and one $batch of
a write answered 429 as a whole while the other is answered (only its records are retried, nothing is
sent before the Retry-After). Every record is
eventually delivered, nothing is dead-lettered, and the workflow ends RUNNING, never FAILED.
"""
import calendar
import json
import time

import d365lib as L

EVENTS = 400
COLUMNS = ["firstname", "lastname"]


def fired(url):
    """The faults still armed: none once every fault has fired."""
    return [f for f in L.control(url, "GET", "faults")["faults"] if f["remaining"] is None or f["remaining"] > 0]


def write_run(s, emu, url, name, faults, writers=2, **conn):
    L.control(url, "POST", "reset", {"seed": 10})
    L.control(url, "POST", "faults", {"items": faults})
    with open(s.path(name + ".jsonl"), "w") as f:
        for i in range(EVENTS):
            f.write(json.dumps({"key": "ev-%d" % i, "op": "upsert", "payload": {"subject": "s%d" % i}}) + "\n")
    conn = dict({"batch_size": 50, "max_in_flight": 2}, **conn)
    conns = {"d365": L.connection(s, url, {"new_acsemailevents": {"key": ["new_acseventid"]}}, **conn),
             "ev": {"connector": "jsonl-source", "file": s.path(name + ".jsonl")}}
    wf = [{"id": "wr", "source": "ev", "sink": "d365", "writers": writers, "batch_size": 100,
           "retry": {"base": "100ms", "cap": "1s"}, "mappings": [{"stream": "e", "target": "new_acsemailevents"}]}]
    r = L.run_daemon(L.write_config(s, conns, wf, name + ".conf", plugins=["dynamics365", L.D365TEST]), 120)
    L.require(r.rc == 0, "%s:\n%s" % (name, r.log[-3000:]))
    w = r.workflow("wr")
    keys = sorted(row["new_acseventid"] for row in L.rows(emu, "new_acsemailevents").values())
    L.require(keys == sorted("ev-%d" % i for i in range(EVENTS)), "%s: %d rows for %d events" % (name, len(keys), EVENTS))
    L.require(w["status"] == "RUNNING" and w["records_written"] == EVENTS and w["dead_letters"] == 0,
            "%s: %s" % (name, w))
    L.require(not fired(url), "%s: not every fault fired: %s" % (name, fired(url)))
    return r


def backing_off(r, *causes):
    """A backing-off sub-state was logged naming the cause (any of `causes`: libcurl words a timeout
    "Operation timed out after ..." or "Timeout was reached", depending on where it caught it)."""
    return any("backing off until" in ln and any(c in ln for c in causes) for ln in r.log.splitlines())


def main():
    s = L.Scratch()
    emu, url = L.emulator(seed=10)
    try:
        # 1. $batch answered 503 and 500 as a whole: no inner responses, the write backs off and is sent again
        # (one $batch per write: a whole write fails whichever of the concurrent requests the fault hits)
        r = write_run(s, emu, url, "batch5xx", [
            {"kind": "error", "status": 503, "path": r"\$batch", "after": 1, "count": 3},
            {"kind": "error", "status": 500, "path": r"\$batch", "after": 2, "count": 1}], batch_size=100)
        L.require(backing_off(r, "HTTP 503"), "batch5xx: the backing-off reason does not name the status")
        n5xx = L.control(url, "GET", "counts")
        L.require(n5xx.get("status_503", 0) >= 3 and n5xx.get("status_500", 0) >= 1, "batch5xx: counts %s" % n5xx)

        # 2. $batch answered after the request timeout: the client gives up, backs off and sends it again
        # (the emulator still applies the late batches: the upserts by alternate key absorb the repeat)
        r = write_run(s, emu, url, "batchslow", [
            {"kind": "slow", "path": r"\$batch", "after": 1, "count": 3, "delay": 2.5}], timeout="1s", batch_size=100)
        L.require(backing_off(r, "timed out", "Timeout was reached"),
                "batchslow: the backing-off reason does not say the request timed out")

        # 2b. $batch answers cut mid-stream (the head and half the body, then the connection closes) and
        # connections dropped before any answer: the batches were applied or not, the writes are sent again,
        # and the upserts by alternate key leave each event once
        r = write_run(s, emu, url, "batchcut", [
            {"kind": "cut", "path": r"\$batch", "after": 1, "count": 2},
            {"kind": "drop", "path": r"\$batch", "after": 3, "count": 1}], batch_size=100)
        L.require(r.workflow("wr")["write_retries"] >= 1, "batchcut: the cut and dropped writes were retried: %s"
                % r.workflow("wr"))

        # 3. reads answered after the request timeout, in the middle of the initial sync
        L.control(url, "POST", "reset", {"seed": 3000})
        L.control(url, "POST", "faults", {"kind": "slow", "path": "/contacts$", "method": "GET", "after": 2,
                                           "count": 2, "delay": 2.5})
        conns = {"d365": L.connection(s, url, {"contacts": {"columns": COLUMNS}}, page_size=500, timeout="1s"),
                 "cap": {"connector": "capture-sink", "file": s.path("readslow.tsv")}}
        wf = [{"id": "rd", "source": "d365", "sink": "cap", "poll_interval": "100ms",
               "retry": {"base": "100ms", "cap": "1s"}, "mappings": [{"stream": "contacts"}]}]
        r = L.run_daemon(L.write_config(s, conns, wf, "readslow.conf"), 120)
        L.require(r.rc == 0, "readslow:\n" + r.log[-3000:])
        w = r.workflow("rd")
        keys = [k for _, k, _ in L.captured(s.path("readslow.tsv"))]
        L.require(w["status"] == "RUNNING" and len(keys) == len(set(keys)) == 3000
                and set(keys) == set(L.rows(emu, "contacts")), "readslow: %d lines, %d distinct, %s"
                % (len(keys), len(set(keys)), w))
        L.require(not fired(url), "readslow: not every fault fired")
        L.require(backing_off(r, "timed out", "Timeout was reached"), "readslow: no backing-off sub-state logged")

        # 4. one operation of a $batch answered 429 (Retry-After 3 s), another 503: the rest of each batch
        # is written, those two records are retried, the throttled one not before its Retry-After
        r = write_run(s, emu, url, "opfaults", [
            {"kind": "throttle", "batch_op": True, "path": "ev-7(%27|')", "count": 2, "retry_after": 3},
            {"kind": "error", "batch_op": True, "status": 503, "path": "ev-9(%27|')", "count": 2}])
        counts = L.control(url, "GET", "counts")
        L.require(counts.get("batch_op_fault:429") == 2 and counts.get("batch_op_fault:503") == 2,
                "opfaults: counts %s" % counts)
        L.require(r.workflow("wr")["write_retries"] >= 4, "opfaults: %s" % r.workflow("wr"))
        log = L.requests_log(url)["requests"]
        throttled = max(e["time"] for e in log if e["fault"] == "batch_op_throttle")
        row = [x for x in L.rows(emu, "new_acsemailevents").values() if x["new_acseventid"] == "ev-7"][0]
        created = calendar.timegm(time.strptime(row["createdon"], "%Y-%m-%dT%H:%M:%SZ"))
        L.require(created >= int(throttled) + 2, "opfaults: ev-7 written %.1f s after its second 429 (Retry-After 3)"
                % (created - throttled))
        # 5. one of the two $batch requests of a write answered 429 as a whole (Retry-After 1 s), the other
        # one answered: only the throttled one's records are retried (no row is written twice), and nothing
        # leaves the connection before the Retry-After has passed
        write_run(s, emu, url, "batch429", [
            {"kind": "throttle", "path": r"\$batch", "after": 1, "count": 1, "retry_after": 1}], writers=1)
        again = [x["new_acseventid"] for x in L.rows(emu, "new_acsemailevents").values()
                 if x["modifiedon"] != x["createdon"]]
        L.require(not again, "batch429: %d rows written again although their $batch was answered, e.g. %s"
                % (len(again), again[:3]))
        log = L.requests_log(url)["requests"]
        t429 = [e["time"] for e in log if e["status"] == 429]
        sent_after = [e["time"] - e["ms"] / 1000.0 for e in log
                      if "$batch" in e["path"] and e["status"] != 429 and e["time"] - e["ms"] / 1000.0 > t429[0]]
        L.require(len(t429) == 1 and sent_after and min(sent_after) >= t429[0] + 0.95,
                "batch429: a $batch was sent %.3f s after the 429 (Retry-After 1 s)"
                % (min(sent_after) - t429[0] if t429 and sent_after else -1))
        print("retries: ok (whole-$batch 5xx and 429, $batch and read timeouts, per-operation 429 and 503: every "
              "record delivered once, RUNNING)")
    finally:
        emu.stop()
        s.close()


if __name__ == "__main__":
    main()
