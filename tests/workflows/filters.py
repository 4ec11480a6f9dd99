#!/usr/bin/env python3
"""filters.py - every filter operator of a table mapping end to end: 300 contacts in the Dataverse
emulator (some inactive, some without a city), and for each operator one run of the real crmsyncd
(--exit-when-idle) with a table mapping filtering on it, into an emptied Campaign emulator. The
profiles that arrive must be exactly the contacts the rule selects, evaluated here on the rows
Dataverse holds (numbers as numbers, text as text, ISO dates as text), then `match: any` of two
rules.
"""
import wflib as W
from wflib import check

N = 300

# (rules, match) -> the operator under test
CASES = [
    ([{"field": "statecode", "op": "eq", "value": 0}], "all"),
    ([{"field": "gendercode", "op": "ne", "value": 1}], "all"),
    ([{"field": "birthdate", "op": "gt", "value": "1980-01-01"}], "all"),
    ([{"field": "birthdate", "op": "ge", "value": "1975-06-15"}], "all"),
    ([{"field": "birthdate", "op": "lt", "value": "1970-01-01"}], "all"),
    ([{"field": "gendercode", "op": "le", "value": 1}], "all"),
    ([{"field": "emailaddress1", "op": "contains", "value": "smith"}], "all"),
    ([{"field": "firstname", "op": "startswith", "value": "M"}], "all"),
    ([{"field": "lastname", "op": "endswith", "value": "er"}], "all"),
    ([{"field": "address1_city", "op": "in", "value": ["London", "Paris", "Vienna"]}], "all"),
    ([{"field": "address1_city", "op": "null"}], "all"),
    ([{"field": "address1_city", "op": "notnull"}], "all"),
    ([{"field": "address1_city", "op": "null"}, {"field": "gendercode", "op": "eq", "value": 2}], "any"),
]


def compare(a, b):
    if isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, (int, float)):
        return (a > b) - (a < b)
    a, b = str(a), str(b)
    return (a > b) - (a < b)


def passes(rule, row):
    v, op, want = row.get(rule["field"]), rule["op"], rule.get("value")
    present = v is not None
    if op == "null":
        return not present
    if op == "notnull":
        return present
    if op == "ne":
        return not present or compare(v, want) != 0
    if not present:
        return False
    if op == "in":
        return any(compare(v, w) == 0 for w in want)
    if op == "contains":
        return str(want) in str(v)
    if op == "startswith":
        return str(v).startswith(str(want))
    if op == "endswith":
        return str(v).endswith(str(want))
    c = compare(v, want)
    return {"eq": c == 0, "gt": c > 0, "ge": c >= 0, "lt": c < 0, "le": c <= 0}[op]


def main():
    env = W.Env("filters", seed=N)
    try:
        ids = sorted(env.contacts())
        for rid in ids[:15]:
            env.crm("PATCH", "tables/contacts/" + rid, {"statecode": 1, "statuscode": 2})
        for rid in ids[15:45]:
            env.crm("PATCH", "tables/contacts/" + rid, {"address1_city": None})
        rows = env.contacts()
        for n, (rules, match) in enumerate(CASES):
            with env.acs.emu.lock:
                env.acs.emu.store.resources["profile"].reset()
            table = dict(W.TABLE_MAPPING, filters={"match": match, "rules": rules})
            run = W.L.run_daemon(env.config(table_mapping=table, name="filter%d.conf" % n), 120)
            what = " %s ".join(r["op"] for r in rules) % match if len(rules) > 1 else rules[0]["op"]
            check(run.rc == 0 and run.workflow(W.WF)["dead_letters"] == 0, "%s: the run ends idle" % what,
                  run.log[-2000:])
            pick = any if match == "any" else all
            want = {k for k, r in rows.items() if pick(passes(rule, r) for rule in rules)}
            got = set(env.profiles())
            check(0 < len(want) < N, "%s: the rule selects some contacts but not all (%d)" % (what, len(want)))
            check(got == want, "%s: exactly the %d selected contacts are profiles" % (what, len(want)),
                  (len(got), sorted(got ^ want)[:5]))
        print("filters: ok (%d cases)" % len(CASES))
    finally:
        env.close()


if __name__ == "__main__":
    main()
