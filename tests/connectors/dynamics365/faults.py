#!/usr/bin/env python3
"""faults.py - the dynamics365 connector under the emulator's faults, with the real daemon:
429 storms on reads and on $batch writes (every record delivered, no request sent before its
Retry-After, the backing-off sub-state logged), a $batch answered 401 (one token refresh, then sent again), dropped connections and 503s mid-sync, every token
expiring mid-run (401 -> one refresh), a wrong client secret (FAILED, the reason names the settings,
the secret never logged), 403 on every write (FAILED) and max_in_flight out of range (refused at its file:line:col).
"""
import json
import re
import threading
import time

import d365lib as L

COLUMNS = ["firstname", "lastname", "emailaddress1"]


def read_conf(s, url, name, **extra):
    conns = {"d365": L.connection(s, url, {"contacts": {"columns": COLUMNS}}, page_size=500, **extra),
             "cap": {"connector": "capture-sink", "file": s.path(name + ".tsv")}}
    wf = [{"id": "rd", "source": "d365", "sink": "cap", "poll_interval": "100ms", "retry": {"base": "50ms", "cap": "2s"},
           "mappings": [{"stream": "contacts"}]}]
    return L.write_config(s, conns, wf, name + ".conf")


def check_delivered(emu, s, name, exact=True):
    got = L.captured(s.path(name + ".tsv"))
    live = set(L.rows(emu, "contacts"))
    keys = [k for _, k, _ in got]
    L.require(set(keys) == live and (not exact or len(keys) == len(live)),
            "%s: %d lines for %d distinct keys, %d live rows" % (name, len(keys), len(set(keys)), len(live)))


def check_retry_after(url, path_part, wait_s):
    """No request to path_part started between a 429 answer and its Retry-After. A request that started
    within 50 ms of the answer was sent concurrently, before the client could know of it."""
    log = L.requests_log(url)["requests"]
    mine = [e for e in log if path_part in e["path"]]
    throttled = [e for e in mine if e["status"] == 429]
    L.require(throttled, "no 429 was answered on %s" % path_part)
    for t in throttled:
        starts = [e["time"] - e["ms"] / 1000.0 for e in mine if e["seq"] > t["seq"]]
        after = [x for x in starts if x > t["time"] + 0.05]
        L.require(after and min(after) >= t["time"] + wait_s - 0.005,
                "a request on %s was sent %.3fs after a 429 with Retry-After %ds" %
                (path_part, (min(after) if after else 0) - t["time"], wait_s))
    return len(throttled)


def main():
    s = L.Scratch()
    emu, url = L.emulator(seed=3000)
    try:
        # 429 storm on reads
        L.control(url, "POST", "faults", {"kind": "throttle", "path": "/contacts$", "method": "GET", "after": 1,
                                           "count": 3, "retry_after": 1})
        r = L.run_daemon(read_conf(s, url, "storm-read"), 120)
        L.require(r.rc == 0, "read storm:\n" + r.log[-3000:])
        check_delivered(emu, s, "storm-read")
        n429 = check_retry_after(url, "/contacts", 1)
        L.require("backing off until" in r.log and "HTTP 429" in r.log, "read storm: no backing-off sub-state logged")
        calls = r.workflow("rd")["metrics"]
        L.require(calls.get("http_429@d365") == n429 and calls.get("http_200@d365", 0) > 0,
                "read storm: the remote-call counters show every 429 and the 200s: %s" % calls)

        # dropped connections and a 503 in the middle of the initial sync
        L.control(url, "POST", "reset", {"seed": 3000})
        L.control(url, "POST", "faults", {"items": [
            {"kind": "drop", "path": "/contacts$", "method": "GET", "after": 2, "count": 2},
            {"kind": "error", "status": 503, "path": "/contacts$", "method": "GET", "after": 4, "count": 1}]})
        r = L.run_daemon(read_conf(s, url, "drop"), 120)
        L.require(r.rc == 0, "drops:\n" + r.log[-3000:])
        check_delivered(emu, s, "drop")
        L.require(all(f["remaining"] is None or f["remaining"] <= 0 for f in L.control(url, "GET", "faults")["faults"]),
                "drops: the faults did not all fire")

        # every token expires in the middle of the run: 401, one refresh, no failure
        L.control(url, "POST", "reset", {"seed": 20000})
        L.control(url, "POST", "faults", {"kind": "slow", "path": "/contacts$", "delay": 0.3, "count": 100})
        timer = threading.Timer(1.0, lambda: L.control(url, "POST", "tokens/expire"))
        r = L.run_daemon(read_conf(s, url, "expiry"), 120, during=lambda proc: timer.start())
        timer.join()
        L.require(r.rc == 0, "token expiry:\n" + r.log[-3000:])
        check_delivered(emu, s, "expiry")
        counts = L.control(url, "GET", "counts")
        L.require(counts.get("status_401", 0) >= 1 and counts.get("token", 0) >= 2,
                "token expiry: expected a 401 and a second token, counts %s" % counts)

        # 429 storm on $batch writes: one writer, so that no request is in flight when the 429 comes
        L.control(url, "POST", "reset", {"seed": 10})
        with open(s.path("events.jsonl"), "w") as f:
            for i in range(600):
                f.write(json.dumps({"key": "ev-%d" % i, "op": "upsert", "payload": {"subject": "s%d" % i}}) + "\n")
        L.control(url, "POST", "faults", {"items": [
            {"kind": "throttle", "path": r"\$batch", "after": 1, "count": 3, "retry_after": 1},
            {"kind": "error", "status": 401, "path": r"\$batch", "count": 1, "message": "ExpiredAuthTicket"}]})
        conns = {"d365": L.connection(s, url, {"new_acsemailevents": {"key": ["new_acseventid"]}}, batch_size=50,
                                      max_in_flight=2),
                 "ev": {"connector": "jsonl-source", "file": s.path("events.jsonl")}}
        wf = [{"id": "wr", "source": "ev", "sink": "d365", "writers": 1, "batch_size": 100,
               "retry": {"base": "50ms", "cap": "2s"}, "mappings": [{"stream": "e", "target": "new_acsemailevents"}]}]
        r = L.run_daemon(L.write_config(s, conns, wf, "storm-write.conf", plugins=["dynamics365", L.D365TEST]), 120)
        L.require(r.rc == 0, "write storm:\n" + r.log[-3000:])
        keys = {row["new_acseventid"] for row in L.rows(emu, "new_acsemailevents").values()}
        L.require(keys == {"ev-%d" % i for i in range(600)}, "write storm: %d of 600 events written" % len(keys))
        L.require(r.workflow("wr")["records_written"] == 600 and r.workflow("wr")["dead_letters"] == 0,
                "write storm: %s" % r.workflow("wr"))
        n429w = check_retry_after(url, "$batch", 1)
        L.require(L.control(url, "GET", "counts").get("token", 0) >= 2, "write storm: the 401 did not refresh the token")
        L.require("backing off until" in r.log, "write storm: no backing-off sub-state logged")

        # 403 on every write: FAILED
        L.control(url, "POST", "faults", {"kind": "error", "status": 403, "path": r"\$batch", "count": 1000,
                                           "message": "Principal user is missing prvCreatenew_acsemailevent privilege.",
                                           "code": "0x80040220"})
        with open(s.path("events.jsonl"), "a") as f:
            f.write(json.dumps({"key": "ev-x", "op": "upsert", "payload": {"subject": "x"}}) + "\n")
        r = L.run_daemon(L.write_config(s, conns, wf, "storm-write.conf", plugins=["dynamics365", L.D365TEST]), 60)
        w = r.workflow("wr")
        L.require(r.rc == 1 and w["status"] == "FAILED" and "HTTP 403" in (w["reason"] or "")
                and "missing prvCreatenew_acsemailevent" in w["reason"], "403: %s" % w)
        L.control(url, "DELETE", "faults")

        # a wrong secret: FAILED with a reason that names the settings, the secret never logged
        s.set_secret("not-the-secret-42")
        r = L.run_daemon(read_conf(s, url, "badsecret"), 60)
        w = r.workflow("rd")
        L.require(r.rc == 1 and w["status"] == "FAILED", "wrong secret: expected FAILED, got %s" % w)
        L.require("invalid_client" in w["reason"] and "client_secret" in w["reason"] and "tenant" in w["reason"],
                "wrong secret: the reason does not name the settings: %s" % w["reason"])
        L.require("not-the-secret-42" not in r.log, "the secret appears in the log")
        # max_in_flight beyond Dataverse's 52 concurrent requests per user: refused at its file:line:col
        s.set_secret(L.SECRET)
        r = L.run_daemon(read_conf(s, url, "inflight", max_in_flight=53), 60)
        L.require(r.rc != 0 and re.search(r"inflight\S*:\d+:\d+: connections\.\w+\.max_in_flight: must be between 1 "
                                          r"and 52, got 53", r.log),
                "max_in_flight 53: expected a refusal at its file:line:col, got %s" % r.log[-1500:])
        print("faults: ok (%d read 429s, %d write 429s honoured; drops, 503, token expiry, 403, wrong secret, "
              "max_in_flight out of range)" % (n429, n429w))
    finally:
        emu.stop()
        s.close()


if __name__ == "__main__":
    main()
