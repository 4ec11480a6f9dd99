#!/usr/bin/env python3
# poll.py - the stream opt-outs-poll with the real daemon: profiles listed through the custom filter
# byLastModified from the cursor's time, 7 to a page following next.href. The first run brings every
# profile's deny-list fields once (profiles seeded in one burst share millisecond timestamps across
# page boundaries: none lost, none twice, the run ends); deny-list flags changed afterwards as a
# Campaign user (control API) arrive with their new values in the next run's first read, and a run
# with nothing changed brings nothing (the tie at the cursor's time does not loop). A filter Campaign
# does not have fails the workflow at start, naming optout_filter.
import collections
import json
import os

import acstest
from acstest import captured, check, workflow

DENY = ["blackList", "blackListEmail", "blackListFax", "blackListMobile", "blackListPhone", "blackListPostalMail",
        "blackListPushnotification", "ccpaOptOut"]
N, PAGE = 150, 7


def main():
    h = acstest.Harness("poll")
    try:
        h.ctl("POST", "seed", {"count": N})
        profiles = []
        for i in range(1, N + 1):
            profiles.append(h.ctl("GET", "resources/profile/%d" % i)[1])
        ties = collections.Counter(p["lastModified"] for p in profiles)
        check(max(ties.values()) > PAGE, "setup: more than a page of profiles share one lastModified", ties.most_common(2))

        out_file = os.path.join(h.tmp, "optouts")
        conns = h.acs_connection(extra="    optout_filter: byLastModified\n    optout_page_size: %d\n" % PAGE)
        conns += "  cap: {connector: capture-sink, file: %s}\n" % out_file
        # "values": a sink that never succeeds, so that each record is dead-lettered with its payload
        conns += "  dl: {connector: capture-sink, file: %s, retry_every: 1}\n" % os.path.join(h.tmp, "dl")
        wfs = workflow("poll", "acs", "cap", "[{stream: opt-outs-poll}]", writers=1) + \
            workflow("values", "acs", "dl", "[{stream: opt-outs-poll}]", writers=1, retry="base: 10ms, max_attempts: 1")
        conf = h.write_conf(conns, wfs, "poll")
        rc, summ, _, out = h.run(conf)
        keys = captured(out_file)
        want = {"%s/%s" % (p["externalId"], f) for p in profiles for f in DENY}
        dup = [k for k, n in collections.Counter(keys).items() if n > 1]
        check(rc == 0 and not dup and set(keys) == want,
              "first run: the %d deny-list fields of the %d profiles arrived once each" % (len(want), N),
              (rc, len(keys), dup[:5], sorted(want - set(keys))[:5], out[-2000:]))
        reqs = [r for r in h.requests()["requests"] if "byLastModified" in r["path"]]
        check(len(reqs) >= N // PAGE and all("_order=lastModified" in r["query"] for r in reqs),
              "first run: pages of %d ordered by lastModified, followed through next.href" % PAGE, len(reqs))

        # a Campaign user changes deny-list flags: they arrive in the next poll, with their values
        changes = {3: {"blackListEmail": not profiles[2]["blackListEmail"]}, 77: {"ccpaOptOut": True},
                   N: {"blackList": not profiles[N - 1]["blackList"], "blackListMobile": True}}
        on = next(i for i, p in enumerate(profiles, 1) if p["blackListEmail"] and i not in changes)
        changes[on] = {"blackListEmail": False}  # an opt-out withdrawn
        for i, v in changes.items():
            check(h.ctl("PATCH", "resources/profile/%d" % i, v)[0] == 200, "profile %d changed in Campaign" % i)
        h.reset_counts()
        rc, summ, _, out = h.run(conf)
        new = captured(out_file)[len(keys):]
        changed = {"%s/%s" % (profiles[i - 1]["externalId"], f) for i in changes for f in DENY}
        check(rc == 0 and sorted(new) == sorted(changed),
              "second run: exactly the deny-list fields of the 4 changed profiles arrived", (rc, new, out[-2000:]))
        polls = [r for r in h.requests()["requests"] if "byLastModified" in r["path"]]
        check(len([r for r in polls if "_lineStart" not in r["query"]]) >= 2,
              "second run: each workflow's poll (a query from its cursor, then its next.href pages) brought them "
              "(how many polls the run made depends on the machine's load)", [r["query"] for r in polls])
        vals = {}
        for key, payload in h.sql("select record_key, payload from dead_letter where workflow_id = 'values' "
                                  "order by id"):
            vals[key] = json.loads(payload)  # the latest wins
        for i, v in changes.items():
            p = profiles[i - 1]
            for f, value in v.items():
                got = vals.get("%s/%s" % (p["externalId"], f), {})
                check(got.get("value") is value and got.get("externalId") == p["externalId"] and
                      got.get("email") == p["email"] and got.get("field") == f and got.get("lastModified"),
                      "second run: %s of profile %d arrived as %s with externalId, email, lastModified" % (f, i, value),
                      got)

        rc, summ, _, out = h.run(conf)
        check(rc == 0 and captured(out_file)[len(keys) + len(new):] == [],
              "third run, nothing changed: nothing arrives (the tie at the cursor does not loop)", out[-2000:])

        bad = h.acs_connection(extra="    optout_filter: byNothing\n") + \
            "  cap: {connector: capture-sink, file: %s}\n" % out_file
        rc, summ, _, out = h.run(h.write_conf(bad, workflow("badpoll", "acs", "cap", "[{stream: opt-outs-poll}]",
                                                            writers=1), "badpoll"), timeout=60)
        check(rc != 0 and "byNothing" in out and "optout_filter" in out,
              "a filter Campaign does not have fails at start, naming optout_filter", out[-2000:])
    finally:
        h.close()
    print("poll: ok")


if __name__ == "__main__":
    main()
