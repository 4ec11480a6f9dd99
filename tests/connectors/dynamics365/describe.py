#!/usr/bin/env python3
# describe.py - the dynamics365 connector's describe() (plugin ABI 1.2) and mapping-driven columns,
# through plugdrive against the Dataverse emulator: key, row count (RetrieveTotalRecordCount), every type
# normalised (DateOnly as date, Money as decimal, choices with labels, lookups with their target and
# delete cascade, read-only and unique columns), a table only a mapping names described on demand, a
# stream the connection does not know (CS_NODATA); a stream read with the columns and labels of its
# mapping element and no `tables` entry; an unknown mapped column failing start() with the fix; the
# instances of one connection reading each metadata document once at start, and again none at a restart.
import os
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import d365lib  # noqa: E402
import drive  # noqa: E402
from drive import check  # noqa: E402

PLUGIN = os.path.join(d365lib.PLUGIN_DIR, "dynamics365.la")


def connection(tmp, url, tables):
    c = {"connector": "dynamics365", "url": url, "tenant": d365lib.TENANT, "client_id": "crmsync-client",
         "client_secret_file": drive.secret_file(tmp, d365lib.SECRET), "authority": url}
    if tables is not None:
        c["tables"] = tables
    return c


def post(url, entity_set, body):
    import json
    import urllib.request
    req = urllib.request.Request(url + "/_emulator/tables/" + entity_set, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def main():
    emu, url = d365lib.emulator(seed=25)
    tmp = tempfile.mkdtemp(prefix="crmsync-d365-describe-")
    try:
        contact = sorted(d365lib.rows(emu, "contacts"))[0]
        car = post(url, "new_vehicles", {"new_name": "Car", "new_vin": "VIN1", "new_fuel": 100000001, "new_year": 2020,
                                         "new_Contact@odata.bind": "contacts(%s)" % contact})
        mappings = [
            {"stream": "contacts", "target": "profiles"},
            {"stream": "new_vehicles", "target": "cusVehicle", "labels": True,
             "columns": ["new_name", "new_fuel", "_new_contact_value", "new_contact", "new_year"]},
            {"stream": "new_services", "target": "cusService", "columns": ["new_name"]},
        ]
        tables = {"contacts": {"columns": ["firstname", "lastname", "gendercode"]}}
        steps = [{"do": "start"}] + [{"do": "describe", "stream": s} for s in
                                     ("contacts", "new_vehicles", "new_services", "profiles", "nosuch")]
        steps.append({"do": "read", "stream": "new_vehicles", "max": 100})
        rc, out, err = drive.run(tmp, PLUGIN, connection(tmp, url, tables), mappings, steps)
        check(rc == 0 and len(out) == len(steps), "plugdrive ran every step", (rc, out, err[-2000:]))
        check(out[0]["status"] == "OK", "start: the mapped stream new_vehicles needs no tables entry", out[0])

        c = out[1]["out"]
        f = c["fields"]
        check(out[1]["status"] == "OK" and (c["name"], c["key"], c["rows"]) == ("contact", "contactid", 25),
              "contacts: table contact, key contactid, 25 rows (RetrieveTotalRecordCount)", c)
        check(f["firstname"] == {"type": "string", "native": "String"}, "contacts: String is string", f["firstname"])
        check(f["birthdate"]["type"] == "date" and f["createdon"]["type"] == "datetime",
              "contacts: a DateOnly column is a date, another DateTime a datetime", (f["birthdate"], f["createdon"]))
        check(f["gendercode"] == {"type": "integer", "native": "Picklist", "choice": True,
                                  "labels": {"1": "Male", "2": "Female"}}, "contacts: a Picklist is a choice with labels",
              f["gendercode"])
        check(f["statecode"]["choice"] and f["statecode"]["labels"] == {"0": "Active", "1": "Inactive"},
              "contacts: State is a choice too", f["statecode"])
        check(f["donotbulkemail"]["type"] == "boolean" and f["versionnumber"]["type"] == "integer",
              "contacts: Boolean boolean, BigInt integer", (f["donotbulkemail"], f["versionnumber"]))
        check(f["parentcustomerid"]["lookup"] == "contact" and f["parentcustomerid"]["cascade_delete"] == "RemoveLink"
              and f["parentcustomerid"]["type"] == "string", "contacts: a Customer lookup names its table and cascade",
              f["parentcustomerid"])
        check(f["ownerid"]["lookup"] == "systemuser" and f["ownerid"].get("readonly") is True,
              "contacts: the owner is a read-only lookup of systemuser", f["ownerid"])
        check(f["contactid"].get("unique") is True and "unique" not in f["firstname"], "contacts: the primary id is unique")
        check(f["fullname"].get("readonly") is True and "readonly" not in f["lastname"], "contacts: computed columns are read-only")

        v = out[2]["out"]["fields"]
        check(out[2]["out"]["rows"] == 1 and v["new_contact"]["lookup"] == "contact" and
              v["new_contact"]["cascade_delete"] == "Cascade", "new_vehicles: the lookup to contact deletes in cascade", v)
        check(v["new_price"] == {"type": "decimal", "native": "Money"} and v["new_year"]["type"] == "integer" and
              v["new_purchasedate"]["type"] == "date", "new_vehicles: Money decimal, Integer integer, DateOnly date", v)
        check(v["new_vin"].get("unique") is True, "new_vehicles: a one-column alternate key is unique", v["new_vin"])
        s = out[3]
        check(s["status"] == "OK" and s["out"]["name"] == "new_service" and s["out"]["rows"] == 0,
              "new_services: described with its row count", s)
        sf = s["out"]["fields"]
        check(sf["new_vehicle"]["lookup"] == "new_vehicle" and sf["new_vehicle"]["cascade_delete"] == "RemoveLink" and
              sf["new_cost"]["type"] == "decimal" and sf["new_rating"]["type"] == "double" and
              sf["new_notes"] == {"type": "string", "native": "Memo"} and sf["new_servicedate"]["type"] == "datetime",
              "new_services: Decimal, Double, Memo, DateTime and a RemoveLink lookup", sf)
        check(out[4]["status"] == "NODATA", "profiles: the target of a mapping this connection reads is the other "
              "side's: NODATA", out[4])
        check(out[5]["status"] == "NODATA" and "out" not in out[5], "nosuch: a stream the connection does not know is NODATA",
              out[5])

        read = out[6]
        recs = read["records"]
        check(read["status"] in ("OK", "NODATA") and len(recs) == 1, "read: the mapped stream is read", read)
        p = recs[0]["payload"]
        check(recs[0]["key"] == car["new_vehicleid"] and p.get("_new_contact_value") == contact and
              p.get("new_fuel") == "Diesel" and p.get("new_year") == 2020 and "new_vin" not in p,
              "read: exactly the mapping's columns (the lookup named two ways once), choices as labels", p)
        log = d365lib.requests_log(url)["requests"]
        sel = [r for r in log if r["path"].endswith("/new_vehicles") and r["method"] == "GET"]
        check(sel and urllib.parse.parse_qs(sel[0]["query"]).get("$select") == ["new_name,new_fuel,_new_contact_value,new_year"],
              "read: $select lists each mapped column once", sel[:1])
        check(any("RetrieveTotalRecordCount" in r["path"] for r in log), "describe: the rows come from RetrieveTotalRecordCount")

        # a table only a mapping names, on an instance that has not started (nothing described yet)
        rc, out, err = drive.run(tmp, PLUGIN, connection(tmp, url, None), [{"stream": "new_services", "target": "x"}],
                                 [{"do": "describe", "stream": "new_services"}, {"do": "describe", "stream": "x"}],
                                 name="ondemand")
        check(rc == 0 and out[0]["status"] == "OK" and out[0]["out"]["key"] == "new_serviceid",
              "new_services: a table only a mapping names is described on demand", out)
        check(out[1]["status"] == "FATAL" and "no table has the logical or entity set name \"x\"" in out[1]["reason"],
              "x: a mapping's target that is no table of the org fails with the reason", out[1])
        # a mapped column the table does not have fails start with the fix; no tables option at all
        bad = [{"stream": "new_vehicles", "target": "cusVehicle", "columns": ["new_name", "new_colour"]}]
        rc, out, err = drive.run(tmp, PLUGIN, connection(tmp, url, None), bad, [{"do": "start"}], name="bad")
        check(rc == 0 and out[0]["status"] == "FATAL" and
              "table new_vehicle has no column \"new_colour\", which the workflow's mapping of new_vehicles reads; "
              "fix the mapping's fields (or give tables.new_vehicles.columns)" in out[0]["reason"],
              "start: an unknown mapped column fails naming the mapping and the fix", out)
        # tables.<stream>.columns wins over the mapping's; a mapping the connection writes is not read
        both = [{"stream": "contacts", "target": "profiles", "columns": ["nosuchcolumn"]},
                {"stream": "email-events", "target": "new_acsemailevents", "columns": ["eventId"]}]
        rc, out, err = drive.run(tmp, PLUGIN, connection(tmp, url, {"contacts": {"columns": ["firstname"]},
                                                                    "new_acsemailevents": {}}),
                                 both, [{"do": "start"}, {"do": "describe", "stream": "email-events"}], name="both")
        check(rc == 0 and out[0]["status"] == "OK", "start: configured columns win, a written mapping's columns are "
              "not read", out)
        check(out[1]["status"] == "NODATA", "email-events: the stream of a mapping this connection writes is NODATA", out)
        # the instances of a connection (a workflow's writers) share the metadata one of them read at
        # start: four instances start, each document is read once; describe() reads live, every time
        since = d365lib.requests_log(url)["last"]
        steps = [{"do": "start", "instance": i} for i in range(4)] + [{"do": "describe", "stream": "contacts"}] * 2
        rc, out, err = drive.run(tmp, PLUGIN, connection(tmp, url, tables), mappings[:2], steps, instances=4,
                                 name="shared")
        check(rc == 0 and [o["status"] for o in out] == ["OK"] * 6, "four instances of one connection start", out)
        log = d365lib.requests_log(url, since)["requests"]
        meta = [r["path"] + "?" + r["query"] for r in log if "EntityDefinitions" in r["path"]]
        times = {m: meta.count(m) for m in meta}
        attrs = "/api/data/v9.2/EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,AttributeType"
        check(times.get(attrs) == 1 and max(times.values()) <= 2,
              "the instances share the metadata read at start: each document read once, not by each of the four",
              times)
        check(times.get(attrs + ",IsValidForCreate,IsValidForUpdate") == 2,
              "describe() reads the metadata live, at each call", times)
        # a workflow stopped and started again within the minute (restarts in a row, as the SRE's 21 in 80 s)
        # neither reads the metadata again nor asks for a new token
        since = d365lib.requests_log(url)["last"]
        rc, out, err = drive.run(tmp, PLUGIN, connection(tmp, url, tables), mappings[:2],
                                 [{"do": "start"}, {"do": "restart"}, {"do": "restart"}], name="restart")
        check(rc == 0 and [o["status"] for o in out] == ["OK"] * 3, "an instance started, then restarted twice", out)
        log = d365lib.requests_log(url, since)["requests"]
        meta = [r["path"] + "?" + r["query"] for r in log if "EntityDefinitions" in r["path"]]
        tokens = [r for r in log if r["path"].endswith("/oauth2/v2.0/token")]
        check(meta and len(meta) == len(set(meta)) and len(tokens) == 1,
              "restarts take the connection's metadata and token of the first start: each document read once, "
              "one token", (meta, len(tokens)))
    finally:
        emu.stop()
        if os.environ.get("KEEP_TMP") != "1":
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    print("describe: ok")


if __name__ == "__main__":
    main()
