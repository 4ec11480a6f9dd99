#!/usr/bin/env python3
# links.py - the campaign sink resolving a record's "links" member (set by an entity handler such as
# custom-entity; plugin ABI 1.2) through plugdrive against the Campaign emulator: the parent's key
# resolved to its PKey through the target this connection writes for the link's resource, null
# unlinking; a child written before its parent held (a CS_RETRY of that record only), counted once in
# the gauge held_for_parent even when another writer retries it, written once the parent exists with
# the gauge back to 0; after a restart (a new process on the same state DB) a still-held record counted
# again once and a record held by the earlier process never subtracted; deletes of a held record, of a
# record already gone and of one Campaign answers 404 to all done.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import acstest  # noqa: E402
import drive  # noqa: E402
from drive import check  # noqa: E402

MAPPINGS = [{"stream": "contacts", "target": "profiles"},
            {"stream": "new_vehicles", "target": "cusVehicle", "target_key": "externalId"},
            {"stream": "new_services", "target": "cusService", "target_key": "externalId"}]


def rec(stream, key, payload=None, links=None, op="upsert"):
    r = {"stream": stream, "key": key, "op": op, "payload": payload or {}, "ts": 0}
    if links is not None:
        r["links"] = links
    return r


def vehicle(key, parent, **extra):
    return rec("cusVehicle", key, dict({"name": "Car " + key, "year": 2020}, **extra), {"profile": parent})


def service(key, parent):
    return rec("cusService", key, {"name": "Service " + key, "mileage": 1000}, {"vehicle": parent})


def write(records, instance=0):
    return {"do": "write", "instance": instance, "records": records}


def held(line):
    return line["metrics"].get("held_for_parent", 0)


def main():
    h = acstest.Harness("links")
    conn = {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url, "client_id": acstest.CLIENT,
            "client_secret_file": h.secret, "connect_timeout": "2s", "timeout": "5s",
            "resources": {"profiles": {"resource": "profile", "key": "externalId"}}}

    def run(steps, name, instances=1):
        rc, out, err = drive.run(h.tmp, h.campaign, conn, MAPPINGS, [{"do": "start", "instance": i}
                                                                     for i in range(instances)] + steps,
                                 instances=instances, name=name)
        check(rc == 0 and len(out) == len(steps) + instances and all(o["status"] == "OK" for o in out[:instances]),
              "%s: plugdrive started %d instance(s) and ran every step" % (name, instances), (out, err[-2000:]))
        return out[instances:]

    def get(resource, key):
        return h.ctl("GET", "resources/%s/externalId:%s" % (resource, key))

    try:
        out = run([write([vehicle("v-1", "c-1")]), {"do": "metrics"},
                   write([vehicle("v-1", "c-1")], 1), {"do": "metrics"},
                   {"do": "kv", "key": "held:cusVehicle:externalId:v-1"},
                   write([rec("profiles", "c-1", {"lastName": "Owner"})]),
                   write([vehicle("v-1", "c-1")], 1), {"do": "metrics"},
                   write([service("s-1", "v-2"), service("s-2", "v-3"), service("s-3", "v-9")]), {"do": "metrics"},
                   write([rec("cusService", "s-3", op="delete")]), {"do": "metrics"},
                   write([vehicle("v-1", "c-1")]), {"do": "metrics"},
                   write([vehicle("v-1", None)])], "first", instances=2)
        r = out[0]["results"]
        check(out[0]["status"] == "OK" and len(r) == 1 and r[0]["status"] == "RETRY" and
              "link 'profile': no profile has externalId 'c-1' (yet); the record is retried" in r[0]["detail"],
              "child before its parent: that record alone is retried, naming the missing parent", out[0])
        check(held(out[1]) == 1, "held_for_parent counts the held child", out[1])
        check(out[2]["results"][0]["status"] == "RETRY" and held(out[3]) == 1,
              "a retry by another writer is not counted again", out[2:4])
        check(out[4]["value"], "the held record is marked in the connection's key/value store", out[4])
        check(out[5]["results"] == [] and out[6]["results"] == [] and held(out[7]) == 0,
              "once the parent exists the child is written and the gauge is back to 0", out[5:8])
        check([x["status"] for x in out[8]["results"]] == ["RETRY"] * 3 and held(out[9]) == 3,
              "three services held for their vehicles", out[8:10])
        check(out[10]["results"] == [] and held(out[11]) == 2, "deleting a held record ends its hold", out[10:12])
        check(out[12]["results"] == [] and out[13]["metrics"].get("acs_unchanged") == 1,
              "the same child with the same link costs no call", out[13]["metrics"])
        check(out[14]["results"] == [] and get("cusVehicle", "v-1")[1]["profile"] == {}, "a null link unlinks", out[14])

        # a restart: a new process on the same state DB; s-1 and s-2 are still held
        out = run([{"do": "metrics"}, write([service("s-1", "v-2")]), {"do": "metrics"},
                   write([vehicle("v-2", "c-1"), service("s-1", "v-2")]), {"do": "metrics"},
                   write([vehicle("v-3", "c-1"), service("s-2", "v-3")]), {"do": "metrics"},
                   {"do": "kv", "key": "held:cusService:externalId:s-2"}], "restart")
        check(held(out[0]) == 0 and held(out[2]) == 1, "after a restart the still-held s-1 is counted once again", out[:3])
        check(out[3]["results"] == [] and held(out[4]) == 0, "s-1 written after its vehicle: gauge 0", out[3:5])
        check(out[5]["results"] == [] and held(out[6]) == 0 and out[7]["value"] is None,
              "s-2, held by the earlier process, written without the gauge going below 0; its mark is gone", out[5:8])
        v2 = get("cusVehicle", "v-2")[1]
        check(h.ctl("GET", "resources/profile/" + v2["profile"]["PKey"])[1]["externalId"] == "c-1" and v2["year"] == 2020,
              "the child links the parent's PKey", v2)
        s1 = get("cusService", "s-1")[1]
        check(h.ctl("GET", "resources/cusVehicle/" + s1["vehicle"]["PKey"])[1]["externalId"] == "v-2",
              "s-1 links vehicle v-2", s1)

        # deletes: Campaign answers 404 (gone meanwhile), or the record is already gone
        h.ctl("POST", "faults", {"kind": "error", "method": "DELETE", "path": "cusService", "status": 404, "count": 2})
        out = run([write([rec("cusService", "s-1", op="delete")]), write([rec("cusVehicle", "v-1", op="delete")]),
                   write([rec("cusVehicle", "v-1", op="delete")])], "deletes")
        check(all(o["status"] == "OK" and o["results"] == [] for o in out),
              "deletes answered 404, and of a record already gone, are done", out)
        check(get("cusService", "s-1")[0] == 200, "s-1's two DELETEs were the ones answered 404 (the record stays)")
        check(get("cusVehicle", "v-1")[0] == 404, "v-1 deleted")
    finally:
        h.close()
    print("links: ok")


if __name__ == "__main__":
    main()
