# test_dv_customize: the Dataverse emulator's metadata writes (dv_customize.py) against an org started as
# crmsync's setup finds it (setup_done false): no activity tables, change tracking off; then an activity
# table, its columns and its alternate key created as Microsoft documents it, the key's index Pending then
# Active, change tracking turned on with a PUT of the whole definition (PATCH refused), the table usable
# at once, and the privileges: RetrieveUserPrivileges and a metadata write refused naming the privilege.
import time
import unittest

from test_dataverse import API, DvCase


def label(text):
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}]}


ACTIVITY = {"@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata", "SchemaName": "new_testsend",
            "DisplayName": label("Test Send"), "DisplayCollectionName": label("Test Sends"),
            "OwnershipType": "UserOwned", "IsActivity": True, "HasActivities": False, "HasNotes": False,
            "Attributes": [{"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "AttributeType": "String",
                            "SchemaName": "Subject", "IsPrimaryName": True, "MaxLength": 200,
                            "DisplayName": label("Subject")}]}
EVENT_ID = {"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "AttributeType": "String",
            "SchemaName": "new_EventId", "MaxLength": 100, "DisplayName": label("Event Id")}


class CustomizeCase(DvCase):
    def setUp(self):
        super().setUp()
        self.reset(key_index_seconds=0.3)

    def reset(self, **config):
        r = self.ctl.post("/_emulator/reset", {"seed": 0, "config": dict(config, setup_done=False)})
        self.assertEqual(r.status, 200)
        self.c.default_headers["Authorization"] = "Bearer " + self.token()  # the reset forgot the tokens

    def entity(self, logical):
        return self.c.get(API + "/EntityDefinitions(LogicalName='%s')" % logical)

    def test_started_empty(self):
        self.assertEqual(self.entity("new_acsemailsend").status, 404)
        self.assertFalse(self.entity("contact").json()["ChangeTrackingEnabled"])

    def test_activity_table_columns_key_then_rows(self):
        r = self.c.post(API + "/EntityDefinitions", ACTIVITY)
        self.assertEqual(r.status, 204, r)
        self.assertIn("/EntityDefinitions(", r.headers["OData-EntityId"])
        e = self.entity("new_testsend").json()
        self.assertEqual((e["IsActivity"], e["PrimaryIdAttribute"], e["PrimaryNameAttribute"], e["EntitySetName"]),
                         (True, "activityid", "subject", "new_testsends"))
        self.assertEqual(self.c.post(API + "/EntityDefinitions", ACTIVITY).status, 400)  # exists already
        url = API + "/EntityDefinitions(LogicalName='new_testsend')"
        self.assertEqual(self.c.post(url + "/Attributes", EVENT_ID).status, 204)
        self.assertEqual(self.c.post(url + "/Attributes", EVENT_ID).status, 400)
        attrs = {a["LogicalName"]: a["AttributeType"] for a in self.c.get(url + "/Attributes").json()["value"]}
        self.assertEqual((attrs["new_eventid"], attrs["regardingobjectid"]), ("String", "Lookup"))
        key = {"SchemaName": "new_eventid_key", "DisplayName": label("Event Id"), "KeyAttributes": ["new_eventid"]}
        self.assertEqual(self.c.post(url + "/Keys", key).status, 204)
        status = self.c.get(url + "/Keys").json()["value"][0]["EntityKeyIndexStatus"]
        self.assertEqual(status, "Pending")
        by_key = API + "/new_testsends(new_eventid='e1')"
        self.assertEqual(self.c.patch(by_key, {"subject": "s"}).status, 400)  # no active key yet
        deadline = time.monotonic() + 10
        while status != "Active" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = self.c.get(url + "/Keys").json()["value"][0]["EntityKeyIndexStatus"]
        self.assertEqual(status, "Active")
        contact = self.create_contact(lastname="Reg")["contactid"]
        body = {"subject": "s", "regardingobjectid_contact_new_testsend@odata.bind": "/contacts(%s)" % contact}
        self.assertEqual(self.c.patch(by_key, body).status, 204)
        self.assertEqual(self.c.patch(by_key, dict(body, subject="t")).status, 204)
        rows = self.c.get(API + "/new_testsends?$select=subject,_regardingobjectid_value").json()["value"]
        self.assertEqual([(r["subject"], r["_regardingobjectid_value"]) for r in rows], [("t", contact)])

    def test_change_tracking_by_put_not_patch(self):
        url = API + "/EntityDefinitions(LogicalName='contact')"
        md = self.entity("contact").json()
        self.assertEqual(self.c.patch(url, {"ChangeTrackingEnabled": True}).status, 405)
        md["ChangeTrackingEnabled"] = True
        self.assertEqual(self.c.request("PUT", url, md, headers={"MSCRM.MergeLabels": "true"}).status, 204)
        self.assertTrue(self.entity("contact").json()["ChangeTrackingEnabled"])
        r = self.c.get(API + "/contacts?$select=lastname", headers={"Prefer": "odata.track-changes"})
        self.assertEqual(r.status, 200, r)

    def test_privileges(self):
        users = API + "/systemusers(00000000-0000-0000-0000-00000000a001)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()"
        names = {p["PrivilegeName"] for p in self.c.get(users).json()["RolePrivileges"]}
        self.assertTrue({"prvReadContact", "prvCreateEntity", "prvCreateAttribute"} <= names)
        self.reset(missing_privileges=["prvCreateEntity"])
        names = {p["PrivilegeName"] for p in self.c.get(users).json()["RolePrivileges"]}
        self.assertNotIn("prvCreateEntity", names)
        r = self.c.post(API + "/EntityDefinitions", ACTIVITY)
        self.assertEqual(r.status, 403)
        self.assertIn("missing prvCreateEntity privilege", r.json()["error"]["message"])


if __name__ == "__main__":
    unittest.main()
