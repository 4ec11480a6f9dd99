#!/usr/bin/env python3
# describe.py - the campaign connector's describe() (plugin ABI 1.2) and mapping targets that are not
# under `resources`, through plugdrive against the Campaign emulator: the resource and its key, Campaign
# types normalised (long as integer, enumerations as choices with labels, object fields by dotted path),
# links with their target resource, read-only fields, the fields an identification filter resolves
# marked unique, no row count; a target named by a mapping with a target_key (its filter found in the
# metadata); source streams and unknown targets CS_NODATA; a target_key on a resource Campaign does not
# have, and a target with neither a resources entry nor a target_key, failing start with the fix; the
# filter listing read in each documented form (keyed by filter name, a list of named filters), and a key
# no filter resolves failing start with the filter expected and the filters found.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import acstest  # noqa: E402
import drive  # noqa: E402
from drive import check  # noqa: E402


def connection(h, resources=None):
    c = {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url, "client_id": acstest.CLIENT,
         "client_secret_file": h.secret, "connect_timeout": "2s", "timeout": "5s"}
    if resources:
        c["resources"] = resources
    return c


def main():
    h = acstest.Harness("describe")
    try:
        resources = {"profiles": {"resource": "profile", "key": "externalId"}}
        mappings = [{"stream": "contacts", "target": "profiles"},
                    {"stream": "new_vehicles", "target": "cusVehicle", "target_key": "externalId"},
                    {"stream": "new_services", "target": "cusService", "target_key": "externalId"},
                    {"stream": "email-events", "target": "new_acsemailevents"}]
        steps = [{"do": "start"}] + [{"do": "describe", "stream": s} for s in
                                     ("profiles", "cusVehicle", "cusService", "email-events", "nosuch")]
        rc, out, err = drive.run(h.tmp, h.campaign, connection(h, resources), mappings, steps)
        check(rc == 0 and len(out) == len(steps), "plugdrive ran every step", (rc, out, err[-2000:]))
        check(out[0]["status"] == "OK", "start: mapping targets with a target_key need no resources entry", out[0])

        p = out[1]["out"]
        f = p["fields"]
        check(out[1]["status"] == "OK" and (p["name"], p["key"]) == ("profile", "externalId") and "rows" not in p,
              "profiles: resource profile keyed by externalId, no row count", {k: v for k, v in p.items() if k != "fields"})
        check(f["externalId"].get("unique") is True and f["email"].get("unique") is True and "unique" not in f["lastName"],
              "profiles: the fields a filter resolves (byExternalId, byEmail) are unique", (f["externalId"], f["email"]))
        check(f["gender"] == {"type": "string", "native": "enumeration", "choice": True,
                              "labels": {"unknown": "unknown", "male": "male", "female": "female"}},
              "profiles: an enumeration is a choice by name", f["gender"])
        check(f["location.city"] == {"type": "string", "native": "string"} and "location" not in f,
              "profiles: object fields by dotted path", [k for k in f if k.startswith("location")])
        check(f["birthDate"]["type"] == "date" and f["lastModified"] == {"type": "datetime", "native": "datetime",
                                                                          "readonly": True},
              "profiles: date, read-only datetime", (f["birthDate"], f["lastModified"]))
        check(f["age"]["type"] == "integer" and f["age"].get("readonly") and f["cusScore"]["type"] == "integer" and
              f["blackListEmail"]["type"] == "boolean", "profiles: long as integer, Ext fields, booleans", f["cusScore"])
        check(f["subscriptions"]["type"] == "other" and f["subscriptions"].get("readonly"),
              "profiles: a collection is other and read-only", f["subscriptions"])

        v = out[2]["out"]
        check(out[2]["status"] == "OK" and (v["name"], v["key"]) == ("cusVehicle", "externalId") and
              v["fields"]["profile"] == {"type": "other", "native": "link", "link": "profile"} and
              v["fields"]["vin"].get("unique") is True and v["fields"]["year"]["type"] == "integer",
              "cusVehicle: the target is the resource itself, its link to profile, vin unique (byVin)", v)
        s = out[3]["out"]
        check(out[3]["status"] == "OK" and s["fields"]["vehicle"]["link"] == "cusVehicle" and s["key"] == "externalId",
              "cusService: linked to cusVehicle", s)
        check(out[4]["status"] == "NODATA" and out[5]["status"] == "NODATA",
              "email-events (a source stream) and nosuch are NODATA", out[4:])

        bad = [{"stream": "new_things", "target": "cusThing", "target_key": "externalId"}]
        rc, out, err = drive.run(h.tmp, h.campaign, connection(h), bad, [{"do": "start"}], name="nores")
        check(rc == 0 and out[0]["status"] == "FATAL" and "Campaign has no resource 'cusThing'" in out[0]["reason"],
              "start: a target_key on a resource Campaign does not have fails", out)
        bad = [{"stream": "new_things", "target": "things"}]
        rc, out, err = drive.run(h.tmp, h.campaign, connection(h), bad, [{"do": "start"}], name="nokey")
        check(rc == 0 and out[0]["status"] == "FATAL" and
              "mapping new_things -> things: the Campaign connection has no target 'things'; add it under resources"
              in out[0]["reason"], "start: a target with neither resources nor target_key fails with the fix", out)
        bad = [{"stream": "new_vehicles", "target": "cusVehicle", "target_key": "model"}]
        rc, out, err = drive.run(h.tmp, h.campaign, connection(h), bad, [{"do": "start"}], name="notunique")
        check(rc == 0 and out[0]["status"] == "FATAL" and
              "'model' is not an identification key of Campaign resource 'cusVehicle'" in out[0]["reason"],
              "start: a target_key no filter resolves fails as a configured key does", out)

        # the filter listing in each form Adobe documents: keyed by filter name (the Filtering page, the
        # emulator's default, used above) and a list of named filters under "content"
        h.ctl("PATCH", "config", {"filter_listing": "list"})
        rc, out, err = drive.run(h.tmp, h.campaign, connection(h, resources), mappings[:2],
                                 [{"do": "start"}, {"do": "describe", "stream": "profiles"}], name="listform")
        check(rc == 0 and out[0]["status"] == "OK" and out[1]["out"]["fields"]["externalId"].get("unique") is True,
              "start: a filter listing as a list of named filters is read as the keyed one", (out, err[-2000:]))
        h.ctl("POST", "reset", {"config": {"profile_filters": {
            "byLastModified": {"field": "lastModified", "param": "since", "op": "ge"}}}})
        rc, out, err = drive.run(h.tmp, h.campaign, connection(h, resources), mappings[:1], [{"do": "start"}],
                                 name="nofilter")
        check(rc == 0 and out[0]["status"] == "FATAL" and
              "no filter resolves it (expected byExternalId, or a filter whose parameter is externalId or "
              "externalId_parameter; its filters: byEmail(email), byText(text), byLastModified(since))"
              in out[0]["reason"], "start: no filter for the key names the filter expected and those found", out)
    finally:
        h.close()
    print("describe: ok")


if __name__ == "__main__":
    main()
