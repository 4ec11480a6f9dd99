#!/usr/bin/env python3
# upsert.py - the Campaign sink against the emulator with the real daemon: 10,000 profiles inserted
# (1 create each), a rerun with no change (no call at all), 1,000 updates (1 PATCH each, no lookup),
# stale PKeys (a re-created and a deleted profile: re-resolved once), a custom resource linked to the
# profile, deletes by key, a value that cannot be converted (dead-lettered naming field and value),
# and a target key that is not an identification key (start fails with advice).
import acstest
from acstest import check, mem, workflow

TARGETS = """    resources:
      profiles: {resource: profile, key: externalId, fields: {lastName: name, cusScore: v}}
      memberships:
        resource: cusMembership
        key: membershipNumber
        fields: {name: name, points: v}
        links: {profile: {target: profiles, from: "$key"}}
      badprofiles: {resource: profile, fields: {gender: name}}
"""
N, UPD = 10000, 1000


def engine(counts, op):
    return counts.get("engine:%s" % op, 0)


def run_ok(h, wid, source_conn, mapping, what):
    conf = h.write_conf(source_conn + h.acs_connection(extra=TARGETS), workflow(wid, "src", "acs", mapping), wid)
    h.reset_counts()
    rc, summ, _, out = h.run(conf)
    check(rc == 0 and summ.get(wid, {}).get("dead_letters", 1) == 0, "%s: the daemon finished cleanly" % what,
          out[-3000:])
    return summ[wid], h.counts()


def main():
    h = acstest.Harness("upsert")
    try:
        prof = "[{stream: contacts, target: profiles}]"
        s, c = run_ok(h, "load", mem("src", N), prof, "insert of %d profiles" % N)
        check(engine(c, "create") == N and engine(c, "update") == 0, "insert: 1 engine call (create) per profile", c)
        check(s["metrics"].get("acs_create") == N, "insert: the plugin counted %d creates" % N, s["metrics"])
        check(h.ctl("GET", "resources/profile")[1]["count"] == N, "insert: %d profiles in Campaign" % N)

        s, c = run_ok(h, "rerun", mem("src", N), prof, "rerun with no change")
        calls = {k: v for k, v in c.items() if k.startswith("profile.")}
        check(not calls and engine(c, "create") + engine(c, "update") + engine(c, "read") == 0,
              "rerun: 0 calls for %d unchanged profiles" % N, c)
        check(s["metrics"].get("acs_unchanged") == N, "rerun: the plugin counted %d unchanged" % N, s["metrics"])

        # stale PKeys: the first updated key is re-created behind our back, the second deleted
        stale = ["k%07d" % ((i * 7919) % N) for i in (0, 1)]
        h.ctl("DELETE", "resources/profile/externalId:" + stale[0])
        h.ctl("POST", "resources/profile", {"externalId": stale[0], "lastName": "Recreated"})
        h.ctl("DELETE", "resources/profile/externalId:" + stale[1])
        s, c = run_ok(h, "update", mem("src", N, UPD), prof, "%d updates" % UPD)
        check(engine(c, "update") == UPD - 1 and engine(c, "create") == 1 and engine(c, "read") == 2,
              "update: 1 PATCH per update; the 2 stale PKeys cost one lookup each (re-created: PATCH, gone: POST)", c)
        check(s["metrics"].get("acs_stale_pkey") == 2, "update: 2 stale PKeys re-resolved", s["metrics"])
        for k, i in ((stale[0], 0), (stale[1], 1), ("k%07d" % ((5 * 7919) % N), 5)):
            rec = h.ctl("GET", "resources/profile/externalId:" + k)[1]
            check(rec.get("cusScore") == N + i, "update: %s carries the update (cusScore %d)" % (k, N + i), rec)

        s, c = run_ok(h, "links", mem("src", 50), "[{stream: contacts, target: memberships}]",
                      "custom resource linked to the profile")
        check(c.get("cusMembership.create") == 50 and c.get("profile.list", 0) == 0,
              "links: 50 memberships created, the profiles' PKeys from the cache (no profile lookup)", c)
        m = h.ctl("GET", "resources/cusMembership/membershipNumber:k0000007")[1]
        p = h.ctl("GET", "resources/profile/" + m["profile"]["PKey"])[1]
        check(p.get("externalId") == "k0000007" and m.get("points") == 7, "links: membership k0000007 links profile k0000007", m)

        s, c = run_ok(h, "deletes", mem("src", 100, 0, 50), prof, "deletes by key")
        check(engine(c, "delete") == 50 and engine(c, "create") == 0, "deletes: 50 DELETEs, no create", c)
        check(h.ctl("GET", "resources/profile")[1]["count"] == N - 50, "deletes: %d profiles left" % (N - 50))
        gone = "k%07d" % ((3 * 104729) % 100)
        check(h.ctl("GET", "resources/profile/externalId:" + gone)[0] == 404, "deletes: %s is gone" % gone)

        conf = h.write_conf(mem("src", 3) + h.acs_connection(extra=TARGETS),
                            workflow("bad", "src", "acs", "[{stream: contacts, target: badprofiles}]"), "bad")
        h.reset_counts()
        rc, summ, _, out = h.run(conf)
        dead = h.sql("select error_detail from dead_letter where workflow_id = 'bad'")
        check(rc == 0 and len(dead) == 3 and all("field 'gender'" in d[0] and "Contact" in d[0] for d in dead),
              "conversion: a value that is not an enumeration's is dead-lettered naming field and value", dead)
        check(not {k: v for k, v in h.counts().items() if k.startswith("profile.")}, "conversion: no call was spent")

        wrong = TARGETS + "      byname: {resource: profile, key: firstName}\n"
        conf = h.write_conf(mem("src", 3) + h.acs_connection(extra=wrong),
                            workflow("wrongkey", "src", "acs", prof), "wrongkey")
        rc, summ, _, out = h.run(conf, timeout=60)
        check(rc != 0 and "'firstName' is not an identification key of Campaign resource 'profile'" in out and
              "filter" in out, "describe: a target key without an identification filter fails start with advice",
              out[-2000:])
    finally:
        h.close()
    print("upsert: ok")


if __name__ == "__main__":
    main()
