# test_dv_links: the Dataverse emulator's linked custom tables (contact <- new_vehicle <- new_service):
# relationship metadata from both ends with CascadeConfiguration, the delete cascade as the platform
# applies it (Cascade deletes the children, RemoveLink clears their lookup, Restrict refuses the parent's
# delete with 405 0x80040227 and changes nothing) with every child change seen by change tracking and
# undone with a failed $batch change set, and the RetrieveTotalRecordCount function.
import copy
import urllib.parse

import dv_schema
from test_dataverse import API, DvCase, batch_body, changeset, op

RESTRICTED = "The object you tried to delete is associated with another object and cannot be deleted."


def restrict_services():
    """The default custom tables, with a vehicle's services restricting its delete."""
    tables = copy.deepcopy(dv_schema.DEFAULT_CUSTOM_TABLES)
    for t in tables:
        for a in t["attributes"]:
            if t["logical"] == "new_service" and a["name"] == "new_vehicle":
                a["cascade_delete"] = "Restrict"
    return tables


class LinkCase(DvCase):
    def make(self, entity_set, body):
        r = self.c.post(API + "/" + entity_set, body, headers={"Prefer": "return=representation"})
        self.assertEqual(r.status, 201, r)
        return r.json()

    def family(self):
        """A contact with two vehicles, the first with two services, the second with one."""
        contact = self.create_contact(lastname="Owner")["contactid"]
        bind = "contacts(%s)" % contact
        v = [self.make("new_vehicles", {"new_name": "Car %d" % i, "new_vin": "VIN%d" % i, "new_Contact@odata.bind": bind})
             ["new_vehicleid"] for i in (1, 2)]
        s = [self.make("new_services", {"new_name": "Service %d" % i, "new_Vehicle@odata.bind": "new_vehicles(%s)" % v[i // 2]})
             ["new_serviceid"] for i in range(3)]
        return contact, v, s

    def delta_link(self, entity_set):
        b = self.c.get(API + "/%s?$select=new_name" % entity_set, headers={"Prefer": "odata.track-changes"}).json()
        return b["@odata.deltaLink"]

    def changes(self, link):
        value = self.c.get(link, headers={"Prefer": "odata.track-changes"}).json()["value"]
        deleted = {e["id"] for e in value if "$deletedEntity" in e.get("@odata.context", "")}
        return deleted, [e for e in value if "$deletedEntity" not in e.get("@odata.context", "")]


class TestRelationshipMetadata(LinkCase):
    def test_both_ends_with_cascade(self):
        rel = self.c.get(API + "/EntityDefinitions(LogicalName='new_vehicle')/ManyToOneRelationships").json()["value"]
        self.assertEqual([(x["ReferencingAttribute"], x["ReferencedEntity"], x["ReferencingEntityNavigationPropertyName"],
                           x["CascadeConfiguration"]["Delete"]) for x in rel], [("new_contact", "contact", "new_Contact", "Cascade")])
        self.assertEqual(rel[0]["@odata.type"], "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata")
        rel = self.c.get(API + "/EntityDefinitions(LogicalName='new_service')/ManyToOneRelationships"
                               "?$select=ReferencedEntity,CascadeConfiguration").json()["value"]
        self.assertEqual([(x["ReferencedEntity"], x["CascadeConfiguration"]["Delete"]) for x in rel],
                         [("new_vehicle", "RemoveLink")])
        self.assertNotIn("ReferencingAttribute", rel[0])
        down = self.c.get(API + "/EntityDefinitions(LogicalName='contact')/OneToManyRelationships").json()["value"]
        self.assertIn(("new_vehicle", "new_contact", "Cascade"),
                      {(x["ReferencingEntity"], x["ReferencingAttribute"], x["CascadeConfiguration"]["Delete"]) for x in down})
        self.assertIn(("new_membership", "new_contactid", "RemoveLink"),
                      {(x["ReferencingEntity"], x["ReferencingAttribute"], x["CascadeConfiguration"]["Delete"]) for x in down})
        e = self.c.get(API + "/EntityDefinitions(LogicalName='new_vehicle')?$select=LogicalName"
                             "&$expand=OneToManyRelationships").json()
        self.assertEqual([x["ReferencingEntity"] for x in e["OneToManyRelationships"]], ["new_service"])

    def test_lookup_targets_and_alternate_key(self):
        r = self.c.get(API + "/EntityDefinitions(LogicalName='new_service')/Attributes/"
                             "Microsoft.Dynamics.CRM.LookupAttributeMetadata?$select=LogicalName,Targets").json()["value"]
        self.assertIn(("new_vehicle", ["new_vehicle"]), [(a["LogicalName"], a["Targets"]) for a in r])
        keys = self.c.get(API + "/EntityDefinitions(LogicalName='new_vehicle')/Keys").json()["value"]
        self.assertEqual(keys[0]["KeyAttributes"], ["new_vin"])


class TestDeleteCascade(LinkCase):
    def test_cascade_and_remove_link_seen_by_change_tracking(self):
        contact, v, s = self.family()
        other = self.make("new_vehicles", {"new_name": "Other", "new_vin": "VIN9"})["new_vehicleid"]
        vehicles, services = self.delta_link("new_vehicles"), self.delta_link("new_services")
        self.assertEqual(self.c.delete(API + "/contacts(%s)" % contact).status, 204)
        for vid in v:
            self.assertEqual(self.c.get(API + "/new_vehicles(%s)" % vid).status, 404)
        self.assertEqual(self.c.get(API + "/new_vehicles(%s)" % other).status, 200)
        for sid in s:
            row = self.c.get(API + "/new_services(%s)?$select=_new_vehicle_value,new_name" % sid).json()
            self.assertIsNone(row["_new_vehicle_value"])
        deleted, changed = self.changes(vehicles)
        self.assertEqual((deleted, changed), (set(v), []))
        deleted, changed = self.changes(services)
        self.assertEqual(deleted, set())
        self.assertEqual(sorted(e["new_serviceid"] for e in changed), sorted(s))

    def test_restrict_refuses_and_changes_nothing(self):
        self.assertEqual(self.ctl.post("/_emulator/reset", {"config": {"custom_tables": restrict_services()}}).status, 200)
        self.c.default_headers["Authorization"] = "Bearer " + self.token()
        contact, v, s = self.family()
        vehicles, services = self.delta_link("new_vehicles"), self.delta_link("new_services")
        self.assertError(self.c.delete(API + "/new_vehicles(%s)" % v[0]), 405, "0x80040227", RESTRICTED)
        # through a cascade too: the contact's vehicles cannot go, so neither can the contact
        self.assertError(self.c.delete(API + "/contacts(%s)" % contact), 405, "0x80040227", RESTRICTED)
        self.assertEqual(self.c.get(API + "/contacts(%s)" % contact).status, 200)
        self.assertEqual(self.changes(vehicles), (set(), []))
        self.assertEqual(self.changes(services), (set(), []))
        for sid in s:
            self.assertEqual(self.c.delete(API + "/new_services(%s)" % sid).status, 204)
        self.assertEqual(self.c.delete(API + "/contacts(%s)" % contact).status, 204)
        self.assertEqual(self.changes(vehicles)[0], set(v))

    def test_control_api_delete_cascades(self):
        contact, v, _ = self.family()
        self.assertEqual(self.ctl.delete("/_emulator/tables/contacts/%s" % contact).status, 200)
        self.assertEqual(self.ctl.get("/_emulator/tables/new_vehicles/%s" % v[0]).status, 404)

    def test_failed_change_set_rolls_the_cascade_back(self):
        contact, v, s = self.family()
        body = batch_body("batch_c1", [changeset("changeset_c1", [
            op("DELETE", API + "/contacts(%s)" % contact, cid="1"),
            op("DELETE", API + "/contacts(00000000-0000-0000-0000-00000000dead)", cid="2")])])
        r = self.c.post(API + "/$batch", body, headers={"Content-Type": 'multipart/mixed; boundary="batch_c1"'})
        self.assertEqual(r.status, 400, r)  # a failed change set fails the batch (its failing part answers)
        self.assertIn(b"HTTP/1.1 404", r.body)
        self.assertEqual(self.c.get(API + "/contacts(%s)" % contact).status, 200)
        for vid in v:
            self.assertEqual(self.c.get(API + "/new_vehicles(%s)" % vid).status, 200)
        row = self.c.get(API + "/new_services(%s)?$select=_new_vehicle_value" % s[0]).json()
        self.assertEqual(row["_new_vehicle_value"], v[0])


class TestRecordCount(LinkCase):
    def test_inline_and_alias_forms(self):
        self.seed(7)
        self.family()
        r = self.c.get(API + "/RetrieveTotalRecordCount(EntityNames=['new_vehicle','contact'])")
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertTrue(b["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse"))
        self.assertEqual(b["EntityRecordCountCollection"]["Keys"], ["new_vehicle", "contact"])
        self.assertEqual(b["EntityRecordCountCollection"]["Values"], [2, 8])
        r = self.c.get(API + "/RetrieveTotalRecordCount(EntityNames=@p1)?@p1=" + urllib.parse.quote('["new_service"]'))
        self.assertEqual(r.json()["EntityRecordCountCollection"]["Values"], [3])

    def test_reported_counts(self):
        """config record_counts: the count a table reports (the service's snapshot), the others counted live."""
        self.seed(3)
        self.assertEqual(self.ctl.patch("/_emulator/config", {"record_counts": {"contact": 15000001}}).status, 200)
        r = self.c.get(API + "/RetrieveTotalRecordCount(EntityNames=['contact','new_vehicle'])")
        self.assertEqual(r.json()["EntityRecordCountCollection"]["Values"], [15000001, 0])
        self.assertEqual(self.c.get(API + "/contacts/$count").body, b"3")  # the rows held are not changed

    def test_refusals(self):
        self.assertError(self.c.get(API + "/RetrieveTotalRecordCount(EntityNames=['nosuch'])"), 400, "0x80041102",
                         "The entity with a name = 'nosuch' with namemapping = 'Logical' was not found in the MetadataCache.")
        self.assertError(self.c.get(API + "/RetrieveTotalRecordCount(EntityNames=@p9)"), 400, "0x80060888")
        self.assertError(self.c.post(API + "/RetrieveTotalRecordCount(EntityNames=['contact'])", {}), 405)
