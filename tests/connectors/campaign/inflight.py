#!/usr/bin/env python3
# inflight.py - requests in flight and Retry-After across a connection, through plugdrive against the
# Campaign emulator (every profile request delayed 50 ms): two instances of one connection with
# max_in_flight 64 share one limit and one pause. A batch of 400 new profiles of a full load is written
# concurrently, one POST each, never more than 64 requests at the emulator at once; the 151st request is
# answered 429 with Retry-After: 30, after which no request reaches Campaign: the records not sent yet
# come back to be retried after the time given, and so does the whole batch the other instance writes
# next, without sending anything. A max_in_flight out of range is refused by --check-config at its
# file:line:col.
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import acstest  # noqa: E402
import drive  # noqa: E402
from drive import check  # noqa: E402

N, LIMIT, RETRY_AFTER = 400, 64, 30
PATH = "/profileAndServicesExt/profile"
MAPPINGS = [{"stream": "contacts", "target": "profiles"}]
SKEW = 2  # the emulator stamps a request's end after its answer left: two neighbours may seem to overlap


def profiles(first, count):
    return [{"stream": "profiles", "key": "k%05d" % i, "op": "upsert", "initial": True, "ts": 0,
             "payload": {"lastName": "Name %d" % i}} for i in range(first, first + count)]


def max_overlap(reqs):
    """The most requests the emulator was serving at one time, from their start and end."""
    edges = []
    for r in reqs:
        edges.append((r["time"] - r["ms"] / 1000.0, 1))
        edges.append((r["time"], -1))
    most = now = 0
    for _, d in sorted(edges, key=lambda e: (e[0], e[1])):
        now += d
        most = max(most, now)
    return most


def main():
    h = acstest.Harness("inflight")
    conn = {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url, "client_id": acstest.CLIENT,
            "client_secret_file": h.secret, "max_in_flight": LIMIT,
            "resources": {"profiles": {"resource": "profile", "key": "externalId"}}}
    try:
        h.ctl("POST", "faults", {"kind": "throttle", "path": PATH, "after": 150, "count": 1,
                                 "retry_after": RETRY_AFTER})
        h.ctl("POST", "faults", {"kind": "slow", "path": PATH, "delay": 0.05, "count": -1})
        steps = [{"do": "start", "instance": 0}, {"do": "start", "instance": 1}, {"do": "metrics"},
                 {"do": "write", "instance": 0, "records": profiles(0, N)}, {"do": "metrics"},
                 {"do": "write", "instance": 1, "records": profiles(N, 50)}, {"do": "metrics"}]
        rc, out, err = drive.run(h.tmp, h.campaign, conn, MAPPINGS, steps, instances=2, name="inflight")
        check(rc == 0 and len(out) == len(steps) and out[0]["status"] == "OK" and out[1]["status"] == "OK",
              "plugdrive started two instances of the connection and ran every step", (out, err[-2000:]))
        reqs = [r for r in h.requests()["requests"] if r["path"].endswith(PATH)]
        throttled = [r for r in reqs if r["status"] == 429]
        check(len(throttled) == 1, "the emulator answered one 429 with Retry-After: %d" % RETRY_AFTER, throttled)
        t429 = throttled[0]["time"]
        check(t429 - reqs[0]["time"] < RETRY_AFTER - 5, "the run stayed well inside the Retry-After window")

        first, retried = out[3], {r["index"]: r for r in out[3]["results"]}
        created = sum(1 for r in reqs if r["method"] == "POST" and r["status"] == 201)
        check(first["status"] == "OK" and all(r["status"] == "RETRY" for r in retried.values()),
              "first batch: each record written or retried on its own, none rejected", first)
        check(created == N - len(retried) and h.ctl("GET", "resources/profile")[1]["count"] == created,
              "first batch: one POST per profile written (%d), nothing else was created" % created,
              (created, len(retried)))
        check(len(retried) > 0 and all(0 < r["retry_after_ms"] <= RETRY_AFTER * 1000 for r in retried.values()),
              "first batch: the %d records not written wait for the Retry-After" % len(retried), list(retried.values())[:3])
        late = [r for r in reqs if r["time"] - r["ms"] / 1000.0 > t429 + 1.0]
        check(not late, "no request reached Campaign after the 429 (in flight already: answered)", late[:3])

        second, posts = out[5], sum(1 for r in reqs if r["method"] == "POST")
        check(second["status"] == "RETRY" and "Retry-After" in second.get("reason", ""),
              "second instance: its whole batch waits for the pause the first instance received", second)
        check(posts == created + 1, "second instance: nothing was sent while the connection is paused (%d POSTs: "
              "%d created by the first instance, 1 answered 429)" % (posts, created))

        most = max_overlap(reqs)
        check(most <= LIMIT + SKEW, "never more than max_in_flight (%d) requests at Campaign at once (seen: %d)"
              % (LIMIT, most))
        conf = h.write_conf(acstest.mem("src", 1) + h.acs_connection(extra="    max_in_flight: 0\n"),
                            acstest.workflow("wf", "src", "acs", "[{stream: contacts, target: contacts}]"), "range")
        p = subprocess.run([h.crmsyncd, "--check-config", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        line = next((n for n, text in enumerate(open(conf), 1) if "max_in_flight" in text), 0)
        check(p.returncode != 0 and re.search(
            r"range\.conf:%d:\d+: connections\.acs\.max_in_flight: must be between 1 and 1024, got 0" % line,
            p.stdout),
              "max_in_flight 0 is refused by --check-config at its file:line:col", p.stdout)
        print("inflight: %d requests, at most %d at once; %d written, %d waiting for Retry-After" %
              (len(reqs), most, created, len(retried)))
    finally:
        h.close()


if __name__ == "__main__":
    main()
