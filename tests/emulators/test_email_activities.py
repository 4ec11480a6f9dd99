# test_email_activities: the emulator parts the egress workflow needs (reference A15, B10.3): the four
# email activity tables (metadata, regarding binding, alternate-key upserts, a bound or default owner,
# a missing contact refused with 404 also inside $batch), the system users, the activitypointer view
# the Timeline reads (read-only), and the journal's soft bounces.
import json
import unittest
import uuid

import dv_activities
from campaign import Campaign
from dv_schema import SYSTEM_USER_ID
from test_dataverse import API, DvCase
from testutil import Client

JOURNAL = "/events/organizations/23294/integrations/54108/f89067f2-0d50-4bb2-bf78-209d0eacb6eb"


class ActivityCase(DvCase):
    def contact(self, lastname):
        return self.create_contact(lastname=lastname)["contactid"]

    def open_event(self, event_id, contact, **extra):
        body = {"subject": "Campaign Name: C; Delivery Name: D", "new_campaignname": "C", "new_deliveryname": "D",
                "new_eventtime": "2026-11-28T10:00:00Z",
                "regardingobjectid_contact_new_acsemailopen@odata.bind": "/contacts(%s)" % contact}
        body.update(extra)
        return self.c.patch(API + "/new_acsemailopens(new_acseventid='%s')" % event_id, body)

    def test_metadata_of_the_four_tables(self):
        for kind, (logical, display, date_label, _) in dv_activities.EMAIL_ACTIVITY_TYPES.items():
            e = self.c.get(API + "/EntityDefinitions(LogicalName='%s')" % logical).json()
            self.assertEqual((e["EntitySetName"], e["PrimaryIdAttribute"], e["IsActivity"]), (logical + "s", "activityid", True))
            self.assertEqual(e["DisplayName"]["UserLocalizedLabel"]["Label"], display)
            keys = self.c.get(API + "/EntityDefinitions(LogicalName='%s')/Keys" % logical).json()["value"]
            self.assertEqual([k["KeyAttributes"] for k in keys], [["new_acseventid"]])
            rels = self.c.get(API + "/EntityDefinitions(LogicalName='%s')/ManyToOneRelationships" % logical).json()["value"]
            navs = {(r["ReferencingAttribute"], r["ReferencedEntity"]): r["ReferencingEntityNavigationPropertyName"] for r in rels}
            self.assertEqual(navs[("regardingobjectid", "contact")], "regardingobjectid_contact_" + logical)
            self.assertEqual(navs[("ownerid", "systemuser")], "ownerid")
            attrs = {a["LogicalName"]: a for a in
                     self.c.get(API + "/EntityDefinitions(LogicalName='%s')/Attributes" % logical).json()["value"]}
            self.assertEqual(attrs["new_eventtime"]["DisplayName"]["UserLocalizedLabel"]["Label"], date_label)
            self.assertEqual("new_trackingurl" in attrs, kind == "click")

    def test_upsert_by_event_id_is_idempotent(self):
        cid = self.contact("Reg")
        self.assertEqual(self.open_event("ev-1", cid).status, 204)
        self.assertEqual(self.open_event("ev-1", cid, new_campaignname="C2").status, 204)
        rows = self.c.get(API + "/new_acsemailopens?$select=new_acseventid,new_campaignname,_regardingobjectid_value").json()["value"]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual((rows[0]["new_campaignname"], rows[0]["_regardingobjectid_value"]), ("C2", cid))

    def test_missing_contact_is_404_alone_and_in_a_batch(self):
        ghost = str(uuid.uuid4())
        r = self.open_event("ev-2", ghost)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["error"], {"code": "0x80040217", "message": "contact With Id = %s Does Not Exist" % ghost})
        cid = self.contact("Real")
        parts = []
        for eid, who in (("ev-3", ghost), ("ev-4", cid)):
            body = json.dumps({"subject": "s", "regardingobjectid_contact_new_acsemailopen@odata.bind": "/contacts(%s)" % who})
            parts.append("--b1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                         "PATCH %s/new_acsemailopens(new_acseventid='%s') HTTP/1.1\r\nContent-Type: application/json\r\n\r\n%s\r\n"
                         % (API, eid, body))
        r = self.c.post(API + "/$batch", "".join(parts) + "--b1--\r\n",
                        headers={"Content-Type": 'multipart/mixed; boundary="b1"', "Prefer": "odata.continue-on-error"})
        self.assertEqual(r.status, 200, r)
        text = r.body.decode()
        self.assertEqual(text.count("HTTP/1.1 404"), 1, text)
        self.assertEqual(text.count("HTTP/1.1 204"), 1, text)
        self.assertIn("contact With Id = %s Does Not Exist" % ghost, text)
        ids = [x["new_acseventid"] for x in self.c.get(API + "/new_acsemailopens?$select=new_acseventid").json()["value"]]
        self.assertEqual(ids, ["ev-4"])

    def test_owner_defaults_to_the_caller_and_can_be_bound(self):
        cid = self.contact("Own")
        self.assertEqual(self.open_event("ev-5", cid).status, 204)
        self.assertEqual(self.open_event("ev-6", cid, **{"ownerid@odata.bind": "/systemusers(%s)" % dv_activities.SALES_USER_ID}).status, 204)
        rows = {x["new_acseventid"]: x["_ownerid_value"] for x in
                self.c.get(API + "/new_acsemailopens?$select=new_acseventid,_ownerid_value").json()["value"]}
        self.assertEqual(rows, {"ev-5": SYSTEM_USER_ID, "ev-6": dv_activities.SALES_USER_ID})
        r = self.open_event("ev-7", cid, **{"ownerid@odata.bind": "/systemusers(%s)" % uuid.uuid4()})
        self.assertEqual(r.status, 404, r)
        users = self.c.get(API + "/systemusers?$select=fullname").json()["value"]
        self.assertEqual({u["systemuserid"] for u in users}, {SYSTEM_USER_ID, dv_activities.SALES_USER_ID})
        me = self.c.get(API + "/WhoAmI").json()["UserId"]
        self.assertEqual(me, SYSTEM_USER_ID)

    def test_timeline_reads_every_activity_of_a_contact(self):
        a, b = self.contact("A"), self.contact("B")
        self.assertEqual(self.open_event("ev-8", a).status, 204)
        r = self.c.patch(API + "/new_acsemailclicks(new_acseventid='ev-9')",
                         {"subject": "click", "new_trackingurl": "https://x.example/o",
                          "regardingobjectid_contact_new_acsemailclick@odata.bind": "/contacts(%s)" % a})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.open_event("ev-10", b).status, 204)
        q = API + "/activitypointers?$select=subject,activitytypecode,_regardingobjectid_value&$filter=_regardingobjectid_value eq %s" % a
        got = sorted((x["activitytypecode"], x["subject"]) for x in self.c.get(q).json()["value"])
        self.assertEqual(got, [("new_acsemailclick", "click"), ("new_acsemailopen", "Campaign Name: C; Delivery Name: D")])
        self.c.patch(API + "/new_acsemailclicks(new_acseventid='ev-9')", {"subject": "click 2"})
        got = [x["subject"] for x in self.c.get(q + " and activitytypecode eq 'new_acsemailclick'").json()["value"]]
        self.assertEqual(got, ["click 2"])
        r = self.c.post(API + "/activitypointers", {"subject": "x"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("does not support entities of type 'activitypointer'", r.json()["error"]["message"])


class SoftBounceCase(unittest.TestCase):
    def test_soft_bounce_events(self):
        with Campaign() as emu:
            ctl = Client(emu.base_url)
            try:
                self.assertEqual(ctl.post("/_emulator/seed", {"count": 2}).status, 200)
                made = ctl.post("/_emulator/events", {"count": 2, "types": ["bounce", "softbounce"]}).json()["events"]
                self.assertEqual([(e["xdm:eventType"], e["bounceType"]) for e in made],
                                 [("directMarketing.emailBounced", "hard"), ("directMarketing.emailBouncedSoft", "soft")])
                self.assertNotIn("xdm:quarantine", made[1]["xdm:directMarketing"])
            finally:
                ctl.close()


if __name__ == "__main__":
    unittest.main()
