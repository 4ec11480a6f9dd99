#!/usr/bin/env python3
# orgunit.py - the Campaign connection's org_unit with the real daemon against the emulator: new
# profiles and new custom-resource records are created with the organizational unit named (Adobe's
# Organizational units pages: {"orgUnit": {"PKey": ...}}, the unit listed in orgUnitBase), a profile that
# already exists keeps the unit it has when the workflow updates it, and start fails naming the fix for
# a unit Campaign does not list and for a profile resource without the orgUnit link.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import acstest  # noqa: E402
import drive  # noqa: E402
from acstest import check, mem, workflow  # noqa: E402

TARGETS = """    org_unit: brand4
    resources:
      profiles: {resource: profile, key: externalId, fields: {lastName: name}}
      memberships:
        resource: cusMembership
        key: membershipNumber
        fields: {name: name, points: v}
        links: {profile: {target: profiles, from: "$key"}}
"""
N = 20


def unit_of(h, resource, ref):
    rec = h.ctl("GET", "resources/%s/%s" % (resource, ref))[1]
    return rec.get("orgUnit", {}).get("title")


def main():
    h = acstest.Harness("orgunit")
    try:
        # a profile someone put in another unit before the first load
        brand1 = h.ctl("GET", "resources/orgUnitBase/name:brand1")[1]["PKey"]
        h.ctl("POST", "resources/profile", {"externalId": "k0000003", "lastName": "Before",
                                            "orgUnit": {"PKey": brand1}})
        for wid, target in (("load", "profiles"), ("members", "memberships")):
            conf = h.write_conf(mem("src", N) + h.acs_connection(extra=TARGETS),
                                workflow(wid, "src", "acs", "[{stream: contacts, target: %s}]" % target), wid)
            rc, summ, _, out = h.run(conf)
            check(rc == 0 and summ.get(wid, {}).get("dead_letters", 1) == 0, "%s: the daemon finished cleanly" % wid,
                  out[-3000:])
        check(h.ctl("GET", "resources/profile")[1]["count"] == N, "load: %d profiles in Campaign" % N)
        units = {unit_of(h, "profile", "externalId:k%07d" % i) for i in range(N) if i != 3}
        check(units == {"Brand 4 (brand4)"}, "load: every profile created is in unit brand4", units)
        check(unit_of(h, "profile", "externalId:k0000003") == "Brand 1 (brand1)" and
              h.ctl("GET", "resources/profile/externalId:k0000003")[1]["lastName"] != "Before",
              "load: the profile that existed was updated and keeps its unit (brand1)")
        m = {unit_of(h, "cusMembership", "membershipNumber:k%07d" % i) for i in range(N)}
        check(m == {"Brand 4 (brand4)"}, "load: every membership created is in unit brand4", m)

        def start(org_unit, name):
            c = {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url,
                 "client_id": acstest.CLIENT, "client_secret_file": h.secret, "connect_timeout": "2s",
                 "timeout": "5s", "org_unit": org_unit, "resources": {"profiles": {"resource": "profile"}}}
            rc, out, err = drive.run(h.tmp, h.campaign, c, [{"stream": "contacts", "target": "profiles"}],
                                     [{"do": "start"}], name=name)
            return out[0] if rc == 0 and out else {"status": "no answer", "reason": err[-2000:]}

        r = start("brand9", "nosuch")
        check(r["status"] == "FATAL" and "org_unit: Campaign has no organizational unit named 'brand9' "
              "(orgUnitBase lists: all, brand1, brand4)" in r["reason"],
              "start: an unknown unit fails, listing the units", r)
        h.ctl("POST", "reset", {"config": {"profile_org_unit": False}})
        r = start("brand4", "nolink")
        check(r["status"] == "FATAL" and "the profile resource has no orgUnit link" in r["reason"] and
              "Organizational unit field" in r["reason"],
              "start: a profile without the orgUnit link fails with the fix", r)
    finally:
        h.close()
    print("orgunit: ok")


if __name__ == "__main__":
    main()
