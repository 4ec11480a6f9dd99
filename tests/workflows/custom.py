#!/usr/bin/env python3
"""custom.py - contacts plus two linked custom tables end to end, through custom-entity.so: 10,000
contacts (CUSTOM_CONTACTS), 1,500 vehicles (new_vehicle -> contact) and 2,000 services (new_service ->
new_vehicle) in the Dataverse emulator, three table mappings (contacts -> profile, new_vehicles ->
cusVehicle, new_services -> cusService, the custom ones written to the Campaign resource named by
the target with their key), the real crmsyncd, the Campaign emulator. Checks what ends up in Campaign:

1. the initial load: every row is exactly one record with the mapped values, and every vehicle's
   link points at its contact's profile, every service's at its vehicle;
2. a child before its parent: a vehicle of an inactive (filtered out) contact is held back (the
   held_for_parent gauge shows it), not dead-lettered; once the contact is active its profile is
   created and the vehicle written with its link; the gauge returns to 0;
3. deletes follow Dataverse's cascade: deleting a contact deletes its vehicles (Cascade), whose
   services lose their link (RemoveLink) but stay.
"""
import os
import time

import wflib as W
from wflib import check

CONTACTS = int(os.environ.get("CUSTOM_CONTACTS", "10000"))
VEHICLES, SERVICES = 1500, 2000

VEHICLE_MAPPING = {
    "stream": "new_vehicles", "target": "cusVehicle",
    "key": {"source": "new_vehicleid", "target": "externalId"},
    "fields": [{"source": "new_name", "target": "name"}, {"source": "new_vin", "target": "vin"},
               {"source": "new_model", "target": "model"}, {"source": "new_year", "target": "year"}],
    "entity": {"name": "custom-entity", "links": [{"column": "_new_contact_value", "parent": "contacts",
                                                   "link": "profile"}]},
}
SERVICE_MAPPING = {
    "stream": "new_services", "target": "cusService",
    "key": {"source": "new_serviceid", "target": "externalId"},
    "fields": [{"source": "new_name", "target": "name"}, {"source": "new_mileage", "target": "mileage"},
               {"source": "new_notes", "target": "notes"}],
    "entity": {"name": "custom-entity", "links": [{"column": "_new_vehicle_value", "parent": "new_vehicles",
                                                   "link": "vehicle"}]},
}
# only active contacts are profiles (every seeded contact is active)
CONTACT_MAPPING = dict(W.TABLE_MAPPING, filters={"rules": [{"field": "statecode", "op": "eq", "value": 0}]})


def campaign(env, resource):
    """externalId -> stored values (links as the linked record's id under _link_<name>), and id -> externalId."""
    with env.acs.emu.lock:
        res = env.acs.emu.store.resources[resource]
        recs = {rid: dict(v) for rid, v in res.records.items()}
    return {v.get("externalId"): v for v in recs.values()}, {rid: v.get("externalId") for rid, v in recs.items()}


def rows(env, table):
    return W.L.rows(env.dv, table)


def check_links(env, vehicles_rows, services_rows):
    profiles, profile_ext = campaign(env, "profile")
    vehicles, vehicle_ext = campaign(env, "cusVehicle")
    services, _ = campaign(env, "cusService")
    check(set(vehicles) == set(vehicles_rows), "every vehicle is exactly one cusVehicle",
          (len(vehicles), len(vehicles_rows)))
    check(set(services) == set(services_rows), "every service is exactly one cusService",
          (len(services), len(services_rows)))
    wrong = [k for k, r in vehicles_rows.items()
             if (vehicles[k].get("name"), vehicles[k].get("vin"), vehicles[k].get("model"), vehicles[k].get("year"))
             != (r.get("new_name") or "", r.get("new_vin") or "", r.get("new_model") or "", r.get("new_year") or 0)]
    check(not wrong, "every cusVehicle has its vehicle's name, VIN, model and year", wrong[:3])
    bad_link = [k for k, r in vehicles_rows.items()
                if profile_ext.get(vehicles[k].get("_link_profile")) != r.get("_new_contact_value")]
    check(not bad_link, "every cusVehicle links to its contact's profile", bad_link[:3])
    bad_link = [k for k, r in services_rows.items()
                if vehicle_ext.get(services[k].get("_link_vehicle")) != r.get("_new_vehicle_value")]
    check(not bad_link, "every cusService links to its vehicle", bad_link[:3])
    return profiles, vehicles, services


def main():
    env = W.Env("custom", seed=CONTACTS)
    try:
        env.dv.seed(VEHICLES, "new_vehicles")
        env.dv.seed(SERVICES, "new_services")
        conf = env.config(table_mapping=CONTACT_MAPPING, extra_mappings=[SERVICE_MAPPING, VEHICLE_MAPPING],
                          extra_plugins=[W.CUSTOM_ENTITY], name="custom.conf")
        d = W.Daemon(conf, env.s.path("daemon.log"))
        try:
            d.wait_port()
            # ---- 1. initial load --------------------------------------------------------------------
            t0 = time.time()
            W.wait_until(lambda: d.workflow()["status"] == "RUNNING" and d.workflow()["records_read"] >=
                         CONTACTS + VEHICLES + SERVICES and d.workflow()["backlog"] == 0, 300,
                         "initial load of contacts, vehicles and services", lambda: (d.workflow(), d.read_log()[-3000:]))
            elapsed = time.time() - t0
            w = d.workflow()
            check(w["dead_letters"] == 0, "no dead letter after the initial load", w)
            profiles, _, _ = check_links(env, rows(env, "new_vehicles"), rows(env, "new_services"))
            check(len(profiles) == CONTACTS, "every contact is a profile", len(profiles))
            print("measure: initial load of %d contacts, %d vehicles, %d services: %.1f s (%.0f records/s)" % (
                CONTACTS, VEHICLES, SERVICES, elapsed, (CONTACTS + VEHICLES + SERVICES) / elapsed))

            # ---- 2. a child before its parent -------------------------------------------------------
            # the contact is created inactive (filtered out), so its vehicle arrives before its profile
            contact = env.crm("POST", "tables/contacts", {"firstname": "Parent", "lastname": "Later",
                                                          "emailaddress1": "parent.later@example.com", "gendercode": 1,
                                                          "statecode": 1, "statuscode": 2})["contactid"]
            vehicle = env.crm("POST", "tables/new_vehicles", {"new_name": "Held", "new_vin": "HELD0000000000001",
                                                              "new_Contact@odata.bind": "/contacts(%s)" % contact})
            vehicle = vehicle["new_vehicleid"]
            W.wait_until(lambda: d.workflow()["metrics"].get("held_for_parent", 0) == 1, 30,
                         "the vehicle is held back while its contact is not a profile (held_for_parent 1)",
                         lambda: (d.workflow(), d.read_log()[-2000:]))
            time.sleep(2)  # retried meanwhile, still held
            check(campaign(env, "cusVehicle")[0].get(vehicle) is None and d.workflow()["dead_letters"] == 0 and
                  d.workflow()["metrics"].get("held_for_parent") == 1, "a held child is neither written nor "
                  "dead-lettered", d.api("GET", "/workflows/%s/dead-letters" % W.WF))
            t0 = time.time()
            env.crm("PATCH", "tables/contacts/" + contact, {"statecode": 0, "statuscode": 1})
            W.wait_until(lambda: campaign(env, "cusVehicle")[0].get(vehicle) is not None, 60,
                         "the held vehicle is written once its profile exists", lambda: d.workflow())
            profiles, profile_ext = campaign(env, "profile")
            check(profile_ext.get(campaign(env, "cusVehicle")[0][vehicle].get("_link_profile")) == contact,
                  "the held vehicle links to its profile")
            W.wait_until(lambda: d.workflow()["metrics"].get("held_for_parent") == 0, 30,
                         "the held_for_parent gauge returns to 0", lambda: d.workflow()["metrics"])
            print("measure: a held child written %.1f s after its parent became a profile" % (time.time() - t0))

            # ---- 3. deletes follow the cascade ------------------------------------------------------
            vrows = rows(env, "new_vehicles")
            parent = next(r["_new_contact_value"] for r in vrows.values()
                          if r.get("_new_contact_value") and
                          any(s.get("_new_vehicle_value") == r["new_vehicleid"] for s in rows(env, "new_services").values()))
            gone = {k for k, r in vrows.items() if r.get("_new_contact_value") == parent}
            orphans = {k for k, r in rows(env, "new_services").items() if r.get("_new_vehicle_value") in gone}
            env.crm("DELETE", "tables/contacts/" + parent)
            W.wait_until(lambda: not (gone & set(campaign(env, "cusVehicle")[0])) and
                         parent not in campaign(env, "profile")[0], 30,
                         "the contact's profile and its vehicles are deleted (Cascade)", lambda: d.workflow())
            services = campaign(env, "cusService")[0]
            W.wait_until(lambda: all(campaign(env, "cusService")[0][k].get("_link_vehicle") is None for k in orphans), 30,
                         "their services stay, unlinked (RemoveLink)",
                         lambda: [campaign(env, "cusService")[0][k] for k in orphans][:2])
            check(orphans <= set(services), "the orphaned services are still in Campaign", orphans - set(services))
            w = d.workflow()
            check(w["status"] == "RUNNING" and w["dead_letters"] == 0, "RUNNING, no dead letter at the end", w)
        finally:
            rc = d.stop()
        check(rc == 0, "crmsyncd stops cleanly on SIGTERM", rc)
        print("custom: ok (%d contacts, %d vehicles, %d services, held child, cascade)" % (CONTACTS, VEHICLES, SERVICES))
    finally:
        env.close()


if __name__ == "__main__":
    main()
