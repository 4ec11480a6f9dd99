#!/usr/bin/env python3
# rejects.py - nothing skipped silently, and start() refusing what cannot work, with the real daemon:
# a journal entry without an event id and an event whose profile cannot be told (deleted, or without
# externalId) are dead-lettered with the reason; a profile lookup Campaign cannot answer (503) is
# retried, never emitted with an empty profileExternalId; a mapping to a target missing from
# `resources`, or whose key is not an identification key, fails at start with the hint; a refused API
# key (403) fails the workflow naming client_id (X-Api-Key), and a 403023 (IMS profile without Campaign)
# points at the IMS profile check.
import os

import acstest
from acstest import captured, check, mem, workflow

JOURNAL = "/events/organizations/23294/integrations/54108/f89067f2-0d50-4bb2-bf78-209d0eacb6eb"


def main():
    h = acstest.Harness("rejects")
    try:
        h.ctl("POST", "seed", {"count": 4})
        h.ctl("POST", "seed", {"count": 3, "with_external_id": False})  # profiles 5, 6, 7
        good = h.ctl("POST", "events", {"count": 4, "profiles": ["1", "2", "3", "4"]})[1]["events"]
        noid = h.ctl("POST", "events", {"count": 2, "profiles": ["1"], "without_id": True})[1]["positions"]
        gone = h.ctl("POST", "events", {"count": 1, "profiles": ["5"]})[1]["events"][0]["event_id"]
        noext = h.ctl("POST", "events", {"count": 1, "profiles": ["6"]})[1]["events"][0]["event_id"]
        late = h.ctl("POST", "events", {"count": 1, "profiles": ["7"]})[1]["events"][0]["event_id"]
        check(h.ctl("DELETE", "resources/profile/5")[0] == 200, "profile 5 deleted after its event")
        h.ctl("PATCH", "config", {"immutable_custom_keys": False})
        h.ctl("PATCH", "resources/profile/7", {"externalId": "ext-7"})
        # profile 7 is read last: Campaign answers 503 three times first
        h.ctl("POST", "faults", {"kind": "error", "status": 503, "method": "GET", "count": 3,
                                 "path": "/profileAndServicesExt/profile/@"})

        out_file = os.path.join(h.tmp, "events")
        conns = h.acs_connection(extra="    journal_url: %s%s\n" % (h.url, JOURNAL)) + \
            "  cap: {connector: capture-sink, file: %s}\n" % out_file
        rc, summ, _, out = h.run(h.write_conf(conns, workflow("ev", "acs", "cap", "[{stream: email-events}]",
                                                              writers=1), "events"))
        keys = captured(out_file)
        check(rc == 0 and sorted(keys) == sorted([e["event_id"] for e in good] + [late]),
              "events: the good events arrive, and the one whose profile lookup got 503s once retried",
              (keys, out[-2000:]))
        dead = {k: (s, d) for k, s, d in h.sql("select record_key, stream, payload from dead_letter "
                                               "where workflow_id = 'ev'")}
        check(set(dead) == set(noid) | {gone, noext} and all(s == "email-events-rejected" for s, _ in dead.values()),
              "events: the 2 entries without id and the 2 unresolvable events are dead-lettered", dead)
        check(all("without an event id" in dead[p][1] for p in noid), "events: ... the id-less ones say so",
              [dead[p][1] for p in noid])
        check("HTTP 404" in dead[gone][1] and "has no externalId" in dead[noext][1],
              "events: ... the deleted profile's with the 404, the other's with 'no externalId'",
              (dead[gone][1], dead[noext][1]))
        fired = [r for r in h.requests()["requests"] if r.get("fault")]
        check(len(fired) == 3 and summ["ev"]["metrics"].get("acs_event_rejected", 0) >= 4 and summ["ev"]["dead_letters"] == 4,
              "events: the 503s fired (the page was read again), 4 dead letters", (fired, summ["ev"]["metrics"]))
        check("journal entry at %s has no event id: dead-lettered" % noid[0] in out,
              "events: the warning names the journal position")
        h.ctl("DELETE", "faults")

        # start() checks every mapped target
        targets = "    resources:\n      profiles: {resource: profile, key: externalId}\n"
        conf = h.write_conf(mem("src", 3) + h.acs_connection(extra=targets),
                            workflow("missing", "src", "acs", "[{stream: contacts, target: members}]"), "missing")
        rc, summ, _, out = h.run(conf, timeout=60)
        check(rc != 0 and "no target 'members'" in out and "resources" in out,
              "start: a mapping to a target missing from resources fails, telling where to add it", out[-2000:])
        targets = "    resources:\n      profiles: {resource: profile, key: firstName}\n"
        conf = h.write_conf(mem("src", 3) + h.acs_connection(extra=targets),
                            workflow("nokey", "src", "acs", "[{stream: contacts, target: profiles}]"), "nokey")
        rc, summ, _, out = h.run(conf, timeout=60)
        check(rc != 0 and "'firstName' is not an identification key" in out and "add an identification key" in out,
              "start: a target whose key is not an identification key fails with what to configure", out[-2000:])

        # a refused API key: 403 -> FATAL naming client_id (X-Api-Key)
        h.ctl("POST", "faults", {"kind": "error", "status": 403, "path": "/campaign/", "count": 1,
                                 "code": "403003", "message": "Api Key is invalid"})
        targets = "    resources:\n      profiles: {resource: profile, key: externalId}\n"
        conf = h.write_conf(mem("src", 3) + h.acs_connection(extra=targets),
                            workflow("apikey", "src", "acs", "[{stream: contacts, target: profiles}]"), "apikey")
        rc, summ, _, out = h.run(conf, timeout=60)
        check(rc != 0 and "refused the API key (HTTP 403" in out and "client_id" in out and "X-Api-Key" in out,
              "auth: a 403 fails the workflow naming client_id (X-Api-Key)", out[-2000:])

        # 403023 (Adobe's Troubleshooting page): the IMS provisioning, not the API key
        h.ctl("PATCH", "config", {"ims_provisioned": False})
        conf = h.write_conf(mem("src", 3) + h.acs_connection(extra=targets),
                            workflow("imsprofile", "src", "acs", "[{stream: contacts, target: profiles}]"), "imsprofile")
        rc, summ, _, out = h.run(conf, timeout=60)
        check(rc != 0 and "HTTP 403 403023: Profile is not valid" in out and "/ims/profile/v1" in out and
              "IMS provisioning" in out, "auth: 403023 fails the workflow pointing at the IMS profile", out[-2000:])
    finally:
        h.close()
    print("rejects: ok")


if __name__ == "__main__":
    main()
