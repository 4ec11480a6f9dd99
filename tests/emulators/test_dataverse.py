# test_dataverse: checks the Dataverse emulator against reference Part A (A1-A16): token endpoint,
# auth, queries and paging, annotations, writes and upserts, concurrency, change tracking, $batch,
# service protection, metadata, faults, robustness, standalone run, and 100k-row paging speed.
import json
import re
import socket
import threading
import time
import unittest
import urllib.parse

from dataverse import Dataverse
from testutil import Client, run_standalone, stop

TENANT = "11111111-2222-3333-4444-555555555555"
API = "/api/data/v9.2"
BIND_CONTACT = "parentcustomerid_contact@odata.bind"


class DvCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Dataverse()
        cls.base = cls.emu.start()
        cls.ctl = Client(cls.base)

    @classmethod
    def tearDownClass(cls):
        cls.ctl.close()
        cls.emu.stop()

    def setUp(self):
        r = self.ctl.post("/_emulator/reset", {"seed": 0})
        self.assertEqual(r.status, 200)
        self.c = Client(self.base, {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"})
        self.c.default_headers["Authorization"] = "Bearer " + self.token()

    def tearDown(self):
        self.c.close()

    def token(self, **over):
        form = {"client_id": "crmsync-client", "client_secret": "crmsync-secret", "grant_type": "client_credentials",
                "scope": self.base + "/.default"}
        form.update(over)
        r = self.ctl.post("/%s/oauth2/v2.0/token" % TENANT, urllib.parse.urlencode(form),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        return r.json()["access_token"]

    def seed(self, n, table="contacts"):
        return self.ctl.post("/_emulator/seed", {"count": n, "table": table}).json()["ids"]

    def create_contact(self, **fields):
        r = self.c.post(API + "/contacts", fields, headers={"Prefer": "return=representation"})
        self.assertEqual(r.status, 201, r)
        return r.json()

    def assertError(self, r, status, code=None, message=None):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertEqual(set(body), {"error"})
        if code is not None:
            self.assertEqual(body["error"]["code"], code)
        if message is not None:
            self.assertEqual(body["error"]["message"], message)
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        return body["error"]


class TestToken(DvCase):
    def post_form(self, form, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.ctl.post("/%s/oauth2/v2.0/token" % TENANT, urllib.parse.urlencode(form), headers=h)

    def test_success_shape(self):
        r = self.post_form({"client_id": "crmsync-client", "client_secret": "crmsync-secret",
                            "grant_type": "client_credentials", "scope": self.base + "/.default"})
        self.assertEqual(r.status, 200)
        b = r.json()
        self.assertEqual(b["token_type"], "Bearer")
        self.assertEqual(b["expires_in"], 3599)
        self.assertTrue(b["access_token"].startswith("eyJ"))

    def test_invalid_scope(self):
        r = self.post_form({"client_id": "crmsync-client", "client_secret": "crmsync-secret",
                            "grant_type": "client_credentials", "scope": "https://foo.microsoft.com/.default"})
        self.assertEqual(r.status, 400)
        b = r.json()
        self.assertEqual(b["error"], "invalid_scope")
        self.assertEqual(b["error_codes"], [70011])
        self.assertTrue(b["error_description"].startswith("AADSTS70011: The provided value for the input parameter 'scope' is not valid."))
        self.assertIn("\r\nTrace ID: " + b["trace_id"], b["error_description"])
        self.assertIn("\r\nCorrelation ID: " + b["correlation_id"], b["error_description"])
        self.assertRegex(b["timestamp"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")

    def test_two_resources_in_scope_rejected(self):
        r = self.post_form({"client_id": "crmsync-client", "client_secret": "crmsync-secret",
                            "grant_type": "client_credentials",
                            "scope": self.base + "/.default https://graph.microsoft.com/.default"})
        self.assertEqual(r.json()["error"], "invalid_scope")

    def test_bad_secret_and_unknown_client(self):
        r = self.post_form({"client_id": "crmsync-client", "client_secret": "nope", "grant_type": "client_credentials",
                            "scope": self.base + "/.default"})
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"))
        r = self.post_form({"client_id": "who", "client_secret": "x", "grant_type": "client_credentials",
                            "scope": self.base + "/.default"})
        self.assertEqual((r.status, r.json()["error"]), (400, "unauthorized_client"))

    def test_basic_auth_and_grant_type(self):
        import base64
        basic = base64.b64encode(b"crmsync-client:crmsync-secret").decode()
        r = self.post_form({"grant_type": "client_credentials", "scope": self.base + "/.default"},
                           {"Authorization": "Basic " + basic})
        self.assertEqual(r.status, 200)
        r = self.post_form({"client_id": "crmsync-client", "client_secret": "crmsync-secret", "grant_type": "password",
                            "scope": self.base + "/.default"})
        self.assertEqual((r.status, r.json()["error"]), (400, "unsupported_grant_type"))

    def test_unauthorized_answers(self):
        r = self.c.get(API + "/contacts", headers={"Authorization": ""})
        err = self.assertError(r, 401)
        self.assertIn("MissingCrmAuthenticationToken", err["message"])
        chal = r.header("WWW-Authenticate")
        self.assertEqual(chal, "Bearer authorization_uri=%s/%s/oauth2/authorize, resource_id=%s/" % (self.base, TENANT, self.base))
        r = self.c.get(API + "/contacts", headers={"Authorization": "Bearer forged"})
        self.assertIn("InvalidAuthTicket", self.assertError(r, 401)["message"])

    def test_token_expiry_by_lifetime_and_by_control(self):
        self.ctl.patch("/_emulator/config", {"token_lifetime": 1})
        tok = self.token()
        self.assertEqual(self.c.get(API + "/contacts", headers={"Authorization": "Bearer " + tok}).status, 200)
        time.sleep(1.1)
        r = self.c.get(API + "/contacts", headers={"Authorization": "Bearer " + tok})
        self.assertIn("ExpiredAuthTicket", self.assertError(r, 401)["message"])
        self.ctl.patch("/_emulator/config", {"token_lifetime": 3599})
        self.assertEqual(self.c.get(API + "/contacts").status, 200)
        self.ctl.post("/_emulator/tokens/expire")
        self.assertEqual(self.c.get(API + "/contacts").status, 401)


class TestQuery(DvCase):
    def setUp(self):
        super().setUp()
        self.a = self.create_contact(firstname="Yvonne", lastname="McKay", emailaddress1="yvonne@example.com",
                                     gendercode=2, birthdate="1980-05-01")
        self.b = self.create_contact(firstname="Pat", lastname="O'Bryan", emailaddress1="pat@example.org",
                                     donotbulkemail=True)
        self.d = self.create_contact(firstname="Same", lastname="same", **{BIND_CONTACT: "/contacts(%s)" % self.a["contactid"]})

    def q(self, query, **headers):
        return self.c.get(API + "/contacts?" + query, headers=headers)

    def ids(self, r):
        self.assertEqual(r.status, 200, r)
        return {v["contactid"] for v in r.json()["value"]}

    def test_select_context_etag_headers(self):
        r = self.q("$select=firstname,emailaddress1")
        self.assertEqual(r.header("OData-Version"), "4.0")
        self.assertEqual(r.header("Content-Type"), "application/json; odata.metadata=minimal")
        b = r.json()
        self.assertEqual(b["@odata.context"], self.base + API + "/$metadata#contacts(firstname,emailaddress1)")
        for row in b["value"]:
            self.assertEqual(set(row), {"@odata.etag", "firstname", "emailaddress1", "contactid"})
            self.assertRegex(row["@odata.etag"], r'^W/"\d+"$')

    def test_all_columns_and_types(self):
        row = self.q("$filter=contactid eq %s" % self.a["contactid"]).json()["value"][0]
        for col in ("fullname", "donotbulkemail", "followemail", "statecode", "_ownerid_value", "_parentcustomerid_value",
                    "createdon", "modifiedon", "versionnumber", "gendercode"):
            self.assertIn(col, row)
        self.assertEqual(row["fullname"], "Yvonne McKay")
        self.assertIs(row["followemail"], True)
        self.assertIs(row["donotbulkemail"], False)
        self.assertRegex(row["createdon"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(row["birthdate"], "1980-05-01")

    def test_filters(self):
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("lastname eq 'MCKAY'"))), {self.a["contactid"]})
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("lastname eq 'O''Bryan'"))), {self.b["contactid"]})
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("contains(emailaddress1,'EXAMPLE.ORG')"))),
                         {self.b["contactid"]})
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("startswith(firstname,'y') or donotbulkemail eq true"))),
                         {self.a["contactid"], self.b["contactid"]})
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("not (gendercode eq 2) and firstname ne 'Same'"))),
                         {self.b["contactid"]})
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("birthdate lt 1990-01-01"))), {self.a["contactid"]})
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("firstname eq lastname"))), {self.d["contactid"]})
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("_parentcustomerid_value eq %s" % self.a["contactid"]))),
                         {self.d["contactid"]})
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote("_parentcustomerid_value ne null"))), {self.d["contactid"]})
        f = "Microsoft.Dynamics.CRM.In(PropertyName='firstname',PropertyValues=['pat','same'])"
        self.assertEqual(self.ids(self.q("$filter=" + urllib.parse.quote(f))), {self.b["contactid"], self.d["contactid"]})

    def test_filter_errors(self):
        r = self.q("$filter=" + urllib.parse.quote("lastname eq 'O'Bryan'"))
        self.assertError(r, 400, message="There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''.")
        r = self.q("$filter=" + urllib.parse.quote("nosuch eq 1"))
        self.assertError(r, 400, message="Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.contact'.")
        self.assertEqual(self.q("$filter=" + urllib.parse.quote("lastname eq")).status, 400)
        self.assertError(self.q("$select=bogus"), 400)
        self.assertError(self.q("$skip=1"), 400)

    def test_orderby_top_count(self):
        r = self.q("$select=firstname&$orderby=firstname desc")
        self.assertEqual([v["firstname"] for v in r.json()["value"]], ["Yvonne", "Same", "Pat"])
        r = self.q("$select=firstname&$orderby=firstname&$top=2")
        self.assertEqual([v["firstname"] for v in r.json()["value"]], ["Pat", "Same"])
        self.assertNotIn("@odata.nextLink", r.json())
        r = self.q("$select=firstname&$top=1", Prefer="odata.maxpagesize=2")  # $top ignored with maxpagesize
        self.assertEqual(len(r.json()["value"]), 2)
        b = self.q("$count=true&$filter=" + urllib.parse.quote("firstname ne 'Pat'")).json()
        self.assertEqual(b["@odata.count"], 2)
        self.assertEqual(list(b)[:2], ["@odata.context", "@odata.count"])
        r = self.c.get(API + "/contacts/$count")
        self.assertEqual((r.status, r.body), (200, b"3"))

    def test_paging_follows_links(self):
        self.seed(7)
        r = self.q("$select=fullname", Prefer="odata.maxpagesize=2")
        self.assertEqual(r.header("Preference-Applied"), "odata.maxpagesize=2")
        seen, pages = [], 0
        body = r.json()
        while True:
            pages += 1
            self.assertLessEqual(len(body["value"]), 2)
            seen += [v["contactid"] for v in body["value"]]
            if "@odata.nextLink" not in body:
                break
            self.assertEqual(list(body)[-1], "@odata.nextLink")
            self.assertIn("$skiptoken=%3Ccookie%20pagenumber", body["@odata.nextLink"])
            body = self.c.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"}).json()
        self.assertEqual(len(seen), 10)
        self.assertEqual(len(set(seen)), 10)
        self.assertEqual(pages, 5)

    def test_paging_with_orderby_and_filter(self):
        self.seed(30)
        url = API + "/contacts?$select=lastname&$orderby=lastname desc,contactid&$filter=" + urllib.parse.quote("statecode eq 0")
        names = []
        while url:
            b = self.c.get(url, headers={"Prefer": "odata.maxpagesize=7"}).json()
            names += [v["lastname"].lower() for v in b["value"]]
            url = b.get("@odata.nextLink")
        self.assertEqual(len(names), 33)
        self.assertEqual(names, sorted(names, reverse=True))

    def test_maxpagesize_capped_at_5000(self):
        r = self.q("$select=fullname", Prefer="odata.maxpagesize=9000")
        self.assertEqual(r.header("Preference-Applied"), "odata.maxpagesize=5000")

    def test_formatted_values_only_when_asked(self):
        url = API + "/contacts(%s)?$select=gendercode,donotbulkemail,_parentcustomerid_value,createdon" % self.d["contactid"]
        self.c.patch(API + "/contacts(%s)" % self.d["contactid"], {"gendercode": 1})
        plain = self.c.get(url).json()
        self.assertFalse([k for k in plain if "@OData.Community" in k])
        ann = self.c.get(url, headers={"Prefer": 'odata.include-annotations="*"'}).json()
        self.assertEqual(ann["gendercode@OData.Community.Display.V1.FormattedValue"], "Male")
        self.assertEqual(ann["donotbulkemail@OData.Community.Display.V1.FormattedValue"], "Allow")
        self.assertEqual(ann["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"], "Yvonne McKay")
        self.assertEqual(ann["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"], "contact")
        self.assertEqual(ann["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
                         "parentcustomerid_contact")
        only = self.c.get(url, headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'}).json()
        self.assertIn("gendercode@OData.Community.Display.V1.FormattedValue", only)
        self.assertNotIn("_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname", only)

    def test_retrieve_and_conditional_get(self):
        url = API + "/contacts(%s)" % self.a["contactid"]
        r = self.c.get(url + "?$select=firstname")
        self.assertEqual(r.status, 200)
        b = r.json()
        self.assertEqual(b["@odata.context"], self.base + API + "/$metadata#contacts(firstname)/$entity")
        etag = b["@odata.etag"]
        self.assertEqual(self.c.get(url, headers={"If-None-Match": etag}).status, 304)
        self.assertEqual(self.c.get(url, headers={"If-None-Match": "null"}).status, 200)
        self.assertEqual(self.c.get(url, headers={"If-None-Match": etag, "Prefer": 'odata.include-annotations="*"'}).status, 200)
        self.c.patch(url, {"firstname": "Y2"})
        self.assertEqual(self.c.get(url, headers={"If-None-Match": etag}).status, 200)
        self.assertEqual(self.c.get(API + "/contacts(contactid=%s)" % self.a["contactid"]).status, 200)


class TestWrite(DvCase):
    def test_create_204_with_entity_id(self):
        r = self.c.post(API + "/contacts", {"firstname": "A", "lastname": "B"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.body, b"")
        m = re.match(re.escape(self.base + API) + r"/contacts\(([0-9a-f-]{36})\)$", r.header("OData-EntityId"))
        self.assertTrue(m, r.header("OData-EntityId"))
        self.assertIsNone(r.header("Content-Length"))
        self.assertEqual(self.c.get(API + "/contacts(%s)" % m.group(1)).json()["fullname"], "A B")

    def test_create_201_representation(self):
        r = self.c.post(API + "/contacts?$select=lastname", {"lastname": "B"}, headers={"Prefer": "return=representation"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.header("Preference-Applied"), "return=representation")
        self.assertIsNone(r.header("OData-EntityId"))
        b = r.json()
        self.assertEqual(b["@odata.context"], self.base + API + "/$metadata#contacts(lastname)/$entity")
        self.assertEqual(set(b) - {"@odata.context"}, {"@odata.etag", "lastname", "contactid"})

    def test_validation_errors(self):
        self.assertError(self.c.post(API + "/contacts", {"firstname": "x" * 51}), 400, "0x80044331",
                         "A validation error occurred.  The length of the 'firstname' attribute of the 'contact' entity "
                         "exceeded the maximum allowed length of '50'.")
        self.assertError(self.c.post(API + "/contacts", {"nosuch": 1}), 400, message=(
            "The property 'nosuch' does not exist on type 'Microsoft.Dynamics.CRM.contact'. Make sure to only use property "
            "names that are defined by the type."))
        self.assertError(self.c.post(API + "/contacts", {"gendercode": 9}), 400)
        self.assertError(self.c.post(API + "/contacts", {"donotemail": "yes"}), 400)
        self.assertError(self.c.post(API + "/contacts", {"_parentcustomerid_value": "00000000-0000-0000-0000-000000000001"}), 400,
                         message="CRM do not support direct update of Entity Reference properties, Use Navigation properties instead.")
        e = self.assertError(self.c.post(API + "/contacts", {"ParentCustomerId_Contact@odata.bind": "/contacts(x)"}), 400)
        self.assertTrue(e["message"].startswith("An undeclared property 'ParentCustomerId_Contact' which only has property annotations"))
        e = self.assertError(self.c.post(API + "/contacts", {BIND_CONTACT: "/contacts(00000000-0000-0000-0000-000000000009)"}),
                             404, "0x80040217")
        self.assertEqual(e["message"], "contact With Id = 00000000-0000-0000-0000-000000000009 Does Not Exist")
        self.assertError(self.c.post(API + "/contacts", b"{not json", headers={"Content-Type": "application/json"}), 400)
        self.assertError(self.c.request("PATCH", API + "/contacts", {"a": 1}), 405)

    def test_update_and_if_match(self):
        a = self.create_contact(lastname="Old")
        url = API + "/contacts(%s)" % a["contactid"]
        r = self.c.patch(url, {"lastname": "New"}, headers={"If-Match": "*"})
        self.assertEqual(r.status, 204)
        self.assertEqual(self.c.get(url).json()["lastname"], "New")
        r = self.c.patch(url, {"lastname": "X"}, headers={"If-Match": a["@odata.etag"]})
        self.assertError(r, 412, message="The version of the existing record doesn't match the RowVersion property provided.")
        cur = self.c.get(url).json()["@odata.etag"]
        self.assertEqual(self.c.patch(url, {"lastname": "X"}, headers={"If-Match": cur}).status, 204)
        missing = API + "/contacts(00000000-0000-0000-0000-000000000001)"
        self.assertError(self.c.patch(missing, {"lastname": "Z"}, headers={"If-Match": "*"}), 404, "",
                         "contact With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist")
        r = self.c.patch(url, {"lastname": "R"}, headers={"Prefer": "return=representation"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("ETag"), r.json()["@odata.etag"])

    def test_upsert_by_id(self):
        gid = "00000000-0000-0000-0000-0000000000aa"
        url = API + "/contacts(%s)" % gid
        r = self.c.patch(url, {"lastname": "Up"})
        self.assertEqual((r.status, r.header("OData-EntityId")), (204, self.base + url))
        self.assertEqual(self.c.get(url).json()["contactid"], gid)
        r = self.c.patch(url, {"lastname": "Up2"}, headers={"If-None-Match": "*"})
        self.assertError(r, 412, "", "A record with matching key values already exists.")
        r = self.c.patch(API + "/contacts(00000000-0000-0000-0000-0000000000ab)?$select=contactid", {"lastname": "C"},
                         headers={"Prefer": "return=representation"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.header("ETag"), r.json()["@odata.etag"])
        r = self.c.patch(API + "/contacts(00000000-0000-0000-0000-0000000000ab)?$select=contactid", {"lastname": "D"},
                         headers={"Prefer": "return=representation"})
        self.assertEqual(r.status, 200)
        self.assertNotEqual(r.header("ETag"), None)

    def test_alternate_key_upsert_on_activity(self):
        a = self.create_contact(lastname="Reg")
        url = API + "/new_acsemailevents(new_acseventid='ev-1')"
        body = {"subject": "Open", "new_eventtype": 2,
                "regardingobjectid_contact_new_acsemailevent@odata.bind": "/contacts(%s)" % a["contactid"]}
        r = self.c.patch(url, body, headers={"If-None-Match": "*"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("OData-EntityId"), self.base + url)
        self.assertError(self.c.patch(url, body, headers={"If-None-Match": "*"}), 412,
                         message="A record with matching key values already exists.")
        row = self.c.get(url + "?$select=new_acseventid,_regardingobjectid_value,subject").json()
        self.assertEqual(row["new_acseventid"], "ev-1")
        self.assertEqual(row["_regardingobjectid_value"], a["contactid"])
        self.assertIn("activityid", row)
        r = self.c.post(API + "/new_acsemailevents", {"subject": "dup", "new_acseventid": "EV-1"})
        e = self.assertError(r, 412, "0x80060892")
        self.assertTrue(e["message"].startswith("Entity Key new_acseventid_key violated."))
        ent = "Microsoft.Dynamics.CRM.new_acsemailevent"
        self.assertError(self.c.get(API + "/new_acsemailevents(subject='x')"), 400, message=(
            "The key in the request URI is not valid for resource '%s'. Ensure that the names and number of key properties "
            "match the declared or alternate key properties for the resource '%s'." % (ent, ent)))

    def test_custom_lookup_binding_case_sensitive(self):
        a = self.create_contact(lastname="M")
        r = self.c.post(API + "/new_memberships", {"new_name": "m1", "new_membershipnumber": "N1",
                                                    "new_ContactId@odata.bind": "contacts(%s)" % a["contactid"]},
                        headers={"Prefer": "return=representation"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["_new_contactid_value"], a["contactid"])
        r = self.c.post(API + "/new_memberships", {"new_name": "m2", "new_contactid@odata.bind": "contacts(%s)" % a["contactid"]})
        self.assertEqual(r.status, 400)
        r = self.c.post(API + "/new_membershipcards", {"new_cardnumber": "C1",
                                                        "new_MembershipId@odata.bind": "new_memberships(new_membershipnumber='N1')"})
        self.assertEqual(r.status, 204, r)

    def test_delete(self):
        a = self.create_contact(lastname="Del")
        url = API + "/contacts(%s)" % a["contactid"]
        self.assertEqual(self.c.delete(url, headers={"If-Match": 'W/"1"'}).status, 412)
        self.assertEqual(self.c.delete(url).status, 204)
        self.assertError(self.c.get(url), 404, "0x80040217", "contact With Id = %s Does Not Exist" % a["contactid"])
        self.assertEqual(self.c.delete(url).status, 404)

    def test_single_property(self):
        a = self.create_contact(lastname="P", jobtitle="Chef")
        url = API + "/contacts(%s)" % a["contactid"]
        self.assertEqual(self.c.request("PUT", url + "/lastname", {"value": "Q"}).status, 204)
        self.assertEqual(self.c.get(url + "/lastname").json()["value"], "Q")
        self.assertEqual(self.c.delete(url + "/jobtitle").status, 204)
        self.assertIsNone(self.c.get(url).json()["jobtitle"])


class TestChangeTracking(DvCase):
    def follow(self, url, prefer="odata.track-changes", pagesize=None):
        """All rows of a paged response set and the final deltaLink; asserts deltaLink only on the last page."""
        rows = []
        while True:
            h = {"Prefer": prefer + (", odata.maxpagesize=%d" % pagesize if pagesize else "")}
            r = self.c.get(url, headers=h)
            self.assertEqual(r.status, 200, r)
            b = r.json()
            rows += b["value"]
            if "@odata.nextLink" in b:
                self.assertNotIn("@odata.deltaLink", b)
                url = b["@odata.nextLink"]
                continue
            self.assertIn("@odata.deltaLink", b)
            return rows, b["@odata.deltaLink"], b, r

    def test_initial_then_delta(self):
        ids = self.seed(5)
        rows, delta, last, r = self.follow(API + "/contacts?$select=firstname,lastname", pagesize=2)
        self.assertEqual(len(rows), 5)
        self.assertIn("$deltatoken=", delta)
        token = urllib.parse.unquote(urllib.parse.parse_qs(urllib.parse.urlsplit(delta).query)["$deltatoken"][0])
        self.assertRegex(token, r"^\d+!\d\d/\d\d/\d{4} \d\d:\d\d:\d\d$")
        self.assertIn("odata.track-changes", r.header("Preference-Applied"))
        # changes: update one, create one, delete one, create-and-delete one
        self.ctl.patch("/_emulator/tables/contacts/%s" % ids[0], {"firstname": "Changed"})
        new = self.ctl.post("/_emulator/tables/contacts", {"lastname": "New"}).json()
        self.ctl.delete("/_emulator/tables/contacts/%s" % ids[1])
        gone = self.ctl.post("/_emulator/tables/contacts", {"lastname": "Gone"}).json()
        self.ctl.delete("/_emulator/tables/contacts/%s" % gone["contactid"])
        r = self.c.get(delta)
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertTrue(b["@odata.context"].endswith("/$metadata#contacts(firstname,lastname)/$delta"))
        vals = b["value"]
        self.assertEqual([v.get("contactid") for v in vals[:2]], [ids[0], new["contactid"]])
        self.assertEqual(vals[0]["firstname"], "Changed")
        dels = vals[2:]
        self.assertEqual([d["id"] for d in dels], [ids[1], gone["contactid"]])
        for d in dels:
            self.assertEqual(set(d), {"@odata.context", "id", "reason"})
            self.assertEqual(d["reason"], "deleted")
            self.assertTrue(d["@odata.context"].endswith("/$metadata#contacts/$deletedEntity"))
        # no changes: empty value and a new deltaLink
        b2 = self.c.get(b["@odata.deltaLink"]).json()
        self.assertEqual(b2["value"], [])
        self.assertIn("@odata.deltaLink", b2)

    def test_delta_paging(self):
        ids = self.seed(6)
        _, delta, _, _ = self.follow(API + "/contacts?$select=lastname")
        for i in ids:
            self.ctl.patch("/_emulator/tables/contacts/%s" % i, {"lastname": "L"})
        for i in ids[:3]:
            self.ctl.delete("/_emulator/tables/contacts/%s" % i)
        rows, _, _, _ = self.follow(delta, prefer="odata.track-changes", pagesize=2)
        self.assertEqual(sorted(r["contactid"] for r in rows if "contactid" in r), sorted(ids[3:]))
        self.assertEqual(sorted(r["id"] for r in rows if "id" in r), sorted(ids[:3]))

    def test_rejected_options(self):
        for opt, val in (("$filter", "statecode eq 0"), ("$orderby", "lastname"), ("$expand", "x"), ("$top", "1")):
            r = self.c.get(API + "/contacts?%s=%s" % (opt, urllib.parse.quote(val)), headers={"Prefer": "odata.track-changes"})
            self.assertError(r, 400, message='The "%s" query parameter isn\'t supported when Change Tracking is enabled.' % opt)

    def test_table_without_change_tracking(self):
        r = self.c.get(API + "/new_settings", headers={"Prefer": "odata.track-changes"})
        self.assertError(r, 400, message="The entity 'new_setting' is not enabled for change tracking.")

    def test_expired_tokens(self):
        self.seed(2)
        _, delta, _, _ = self.follow(API + "/contacts?$select=lastname")
        self.ctl.post("/_emulator/delta/expire")
        msg = "Version stamp associated with the client has expired. Please perform a full sync."
        self.assertError(self.c.get(delta), 400, "0x80044352", msg)
        _, delta, _, _ = self.follow(API + "/contacts?$select=lastname")  # a full sync gives a working link
        self.assertEqual(self.c.get(delta).status, 200)
        self.ctl.patch("/_emulator/config", {"delta_token_max_age_seconds": 0})
        time.sleep(1.05)
        self.assertError(self.c.get(delta), 400, "0x80044352", msg)
        self.assertError(self.c.get(API + "/contacts?$deltatoken=garbage"), 400, "0x80044352")

    def test_count_of_changes(self):
        ids = self.seed(3)
        _, delta, _, _ = self.follow(API + "/contacts")
        self.ctl.patch("/_emulator/tables/contacts/%s" % ids[0], {"lastname": "Z"})
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(delta).query)["$deltatoken"][0]
        r = self.c.get(API + "/contacts/$count?$deltatoken=" + urllib.parse.quote(token))
        self.assertEqual(r.body, b"1")


def batch_body(boundary, parts):
    out = []
    for p in parts:
        out.append("--%s\r\n%s" % (boundary, p))
    return ("".join(out) + "--%s--\r\n" % boundary).encode()


def op(method, url, body=None, cid=None, headers=""):
    s = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if cid:
        s += "Content-ID: %s\r\n" % cid
    s += "\r\n%s %s HTTP/1.1\r\n%s" % (method, url, headers)
    if body is not None:
        s += "Content-Type: application/json; type=entry\r\n\r\n%s\r\n" % json.dumps(body)
    else:
        s += "\r\n\r\n"
    return s


def changeset(boundary, ops):
    return "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n%s\r\n" % (boundary, batch_body(boundary, ops).decode())


class TestBatch(DvCase):
    def send(self, parts, prefer=None):
        h = {"Content-Type": 'multipart/mixed; boundary="batch_x1"'}
        if prefer:
            h["Prefer"] = prefer
        r = self.c.post(API + "/$batch", batch_body("batch_x1", parts), headers=h)
        ctype = r.header("Content-Type")
        m = re.match(r"^multipart/mixed; boundary=(batchresponse_[0-9a-f-]+)$", ctype or "")
        self.assertTrue(m, ctype)
        return r, m.group(1), r.body.decode()

    def test_plain_batch_and_format(self):
        a = self.create_contact(lastname="B0")
        r, bnd, text = self.send([op("POST", "/api/data/v9.2/contacts", {"lastname": "B1"}),
                                  op("GET", "contacts(%s)?$select=lastname" % a["contactid"])])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("OData-Version"), "4.0")
        self.assertTrue(text.startswith("--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                                        "HTTP/1.1 204 No Content\r\n" % bnd))
        self.assertIn("\r\nLocation: %s%s/contacts(" % (self.base, API), text)
        self.assertIn("\r\nOData-EntityId: ", text)
        self.assertIn("HTTP/1.1 200 OK\r\n", text)
        self.assertIn('"lastname":"B0"', text)
        self.assertTrue(text.endswith("--%s--\r\n" % bnd))
        self.assertEqual(self.c.get(API + "/contacts/$count").body, b"2")

    def test_changeset_content_id_and_rollback(self):
        parts = [changeset("changeset_a", [
            op("POST", "/api/data/v9.2/contacts", {"lastname": "Parent"}, cid="1"),
            op("POST", "/api/data/v9.2/contacts", {"lastname": "Child", BIND_CONTACT: "$1"}, cid="2"),
            op("PATCH", "$1", {"firstname": "P"}, cid="3"),
        ])]
        r, bnd, text = self.send(parts)
        self.assertEqual(r.status, 200, text)
        self.assertIn("Content-Type: multipart/mixed; boundary=changesetresponse_", text)
        self.assertIn("Content-ID: 2\r\n", text)
        rows = self.c.get(API + "/contacts?$select=lastname,firstname,_parentcustomerid_value").json()["value"]
        by = {v["lastname"]: v for v in rows}
        self.assertEqual(by["Child"]["_parentcustomerid_value"], by["Parent"]["contactid"])
        self.assertEqual(by["Parent"]["firstname"], "P")
        # a failing operation rolls the whole change set back; without continue-on-error: 400, only the failure
        parts = [changeset("changeset_b", [
            op("POST", "/api/data/v9.2/contacts", {"lastname": "Rolled"}, cid="1"),
            op("POST", "/api/data/v9.2/contacts", {"firstname": "x" * 60}, cid="2"),
        ]), op("POST", "/api/data/v9.2/contacts", {"lastname": "After"})]
        r, bnd, text = self.send(parts)
        self.assertEqual(r.status, 400)
        self.assertEqual(text.count("HTTP/1.1 "), 1)
        self.assertIn("HTTP/1.1 400 Bad Request", text)
        self.assertIn('"code":"0x80044331"', text)
        names = {v["lastname"] for v in self.c.get(API + "/contacts?$select=lastname").json()["value"]}
        self.assertNotIn("Rolled", names)
        self.assertNotIn("After", names)

    def test_continue_on_error(self):
        parts = [op("POST", "/api/data/v9.2/contacts", {"nosuch": 1}),
                 op("POST", "/api/data/v9.2/contacts", {"lastname": "Ok1"}),
                 op("POST", "/api/data/v9.2/contacts", {"lastname": "Ok2"})]
        r, bnd, text = self.send(parts, prefer="odata.continue-on-error")
        self.assertEqual(r.status, 200)
        statuses = re.findall(r"HTTP/1\.1 (\d{3})", text)
        self.assertEqual(statuses, ["400", "204", "204"])
        self.assertEqual(self.c.get(API + "/contacts/$count").body, b"2")

    def test_references_and_limits(self):
        r, bnd, text = self.send([changeset("changeset_c", [op("PATCH", "$7", {"lastname": "x"}, cid="1")])])
        self.assertEqual(r.status, 400)
        self.assertIn("Content-ID Reference: '$7' does not exist in the batch context.", text)
        r, bnd, text = self.send([changeset("changeset_d", [op("GET", "contacts")])])
        self.assertEqual(r.status, 400)
        self.assertIn("is invalid for a request in a change set", text)
        r = self.c.post(API + "/$batch", batch_body("b", [op("GET", "contacts")] * 1001),
                        headers={"Content-Type": "multipart/mixed; boundary=b"})
        self.assertError(r, 400)
        r = self.c.post(API + "/$batch", b"junk", headers={"Content-Type": "application/json"})
        self.assertError(r, 400)

    def test_fault_on_one_operation(self):
        a, b, c = (self.create_contact(lastname="F%d" % i)["contactid"] for i in range(3))
        self.ctl.post("/_emulator/faults", {"items": [
            {"kind": "throttle", "batch_op": True, "method": "PATCH", "path": r"contacts\(%s\)" % b, "retry_after": 7},
            {"kind": "error", "batch_op": True, "status": 503, "path": r"contacts\(", "after": 1}]})
        # the second rule skips the operation on a; b is taken by the first; it fires on c
        parts = [op("PATCH", "contacts(%s)" % rid, {"firstname": "X"}) for rid in (a, b, c)]
        r, bnd, text = self.send(parts, prefer="odata.continue-on-error")
        self.assertEqual(r.status, 200, text)
        answers = text.split("--%s" % bnd)[1:-1]
        self.assertEqual(len(answers), 3, text)
        self.assertIn("\r\n\r\nHTTP/1.1 204 No Content\r\n", answers[0])
        self.assertIn("\r\n\r\nHTTP/1.1 429 Too Many Requests\r\n", answers[1])
        self.assertIn("\r\nRetry-After: 7\r\n", answers[1])
        self.assertIn('{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time '
                      'window of 300 seconds."}}', answers[1])
        self.assertIn("\r\n\r\nHTTP/1.1 503 Service Unavailable\r\n", answers[2])
        self.assertIn('"message":"Service Unavailable"', answers[2])
        rows = {v["contactid"]: v["firstname"] for v in self.c.get(API + "/contacts?$select=firstname").json()["value"]}
        self.assertEqual(rows, {a: "X", b: None, c: None})  # the faulted operations did not run
        self.assertEqual(self.c.get(API + "/contacts").status, 200)  # requests are not matched by them
        self.assertEqual(self.ctl.get("/_emulator/faults").json()["faults"], [])
        counts = self.ctl.get("/_emulator/counts").json()
        self.assertEqual((counts.get("batch_op_fault:429"), counts.get("batch_op_fault:503")), (1, 1))
        log = self.ctl.get("/_emulator/requests").json()["requests"]
        self.assertIn([e["fault"] for e in log if e["path"].endswith("$batch")][-1], ("batch_op_throttle", "batch_op_error"))
        r = self.ctl.post("/_emulator/faults", {"kind": "slow", "batch_op": True})
        self.assertEqual(r.status, 400)

    def test_throttled_batch_is_plain_429(self):
        self.ctl.patch("/_emulator/config", {"throttle": {"max_requests": 5}})
        r = self.c.post(API + "/$batch", batch_body("b", [op("GET", "contacts")] * 10),
                        headers={"Content-Type": "multipart/mixed; boundary=b"})
        self.assertEqual(r.status, 200)  # the batch itself is admitted, its 10 operations fill the window
        r = self.c.post(API + "/$batch", batch_body("b", [op("GET", "contacts")]),
                        headers={"Content-Type": "multipart/mixed; boundary=b"})
        self.assertError(r, 429, "0x80072322")
        self.ctl.patch("/_emulator/config", {"throttle": {"max_requests": 6000}})


class TestServiceProtection(DvCase):
    def tearDown(self):
        self.ctl.patch("/_emulator/config", {"throttle": {"max_requests": 6000, "max_concurrent": 52,
                                                          "max_execution_ms": 1200000, "window_seconds": 300}})
        super().tearDown()

    def test_request_count(self):
        self.ctl.patch("/_emulator/config", {"throttle": {"max_requests": 3}})
        for _ in range(3):
            self.assertEqual(self.c.get(API + "/contacts").status, 200)
        r = self.c.get(API + "/contacts")
        self.assertError(r, 429, "0x80072322", "Number of requests exceeded the limit of 3 over time window of 300 seconds.")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)

    def test_sliding_window(self):
        self.ctl.patch("/_emulator/config", {"throttle": {"max_requests": 2, "window_seconds": 1}})
        self.c.get(API + "/contacts")
        self.c.get(API + "/contacts")
        self.assertEqual(self.c.get(API + "/contacts").status, 429)
        time.sleep(1.1)
        self.assertEqual(self.c.get(API + "/contacts").status, 200)

    def test_execution_time(self):
        self.ctl.patch("/_emulator/config", {"throttle": {"max_execution_ms": 150}})
        self.ctl.post("/_emulator/faults", {"kind": "slow", "delay": 0.2, "count": 1})
        self.assertEqual(self.c.get(API + "/contacts").status, 200)
        r = self.c.get(API + "/contacts")
        self.assertError(r, 429, "0x80072321", "Combined execution time of incoming requests exceeded limit of 150  milliseconds "
                         "over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of "
                         "requests and try again later.")

    def test_concurrency(self):
        self.ctl.patch("/_emulator/config", {"throttle": {"max_concurrent": 1}})
        self.ctl.post("/_emulator/faults", {"kind": "slow", "delay": 0.6, "count": 1})
        slow = Client(self.base, self.c.default_headers)
        t = threading.Thread(target=slow.get, args=(API + "/contacts",))
        t.start()
        time.sleep(0.2)
        r = self.c.get(API + "/contacts")
        t.join()
        slow.close()
        self.assertError(r, 429, "0x80072326", "Number of concurrent requests exceeded the limit of 1.")

    def test_debug_headers(self):
        r = self.c.get(API + "/contacts")
        self.assertEqual(r.header("x-ms-ratelimit-burst-remaining-xrm-requests"), "5999")


class TestMetadata(DvCase):
    def test_entity_definitions(self):
        r = self.c.get(API + "/EntityDefinitions(LogicalName='contact')?$select=EntitySetName,PrimaryIdAttribute,"
                             "PrimaryNameAttribute,ChangeTrackingEnabled")
        b = r.json()
        self.assertEqual((b["EntitySetName"], b["PrimaryIdAttribute"], b["PrimaryNameAttribute"], b["ChangeTrackingEnabled"]),
                         ("contacts", "contactid", "fullname", True))
        self.assertNotIn("LogicalName", b)
        r = self.c.get(API + "/EntityDefinitions?$select=LogicalName&$filter=" + urllib.parse.quote("ChangeTrackingEnabled eq true"))
        names = {v["LogicalName"] for v in r.json()["value"]}
        self.assertIn("new_acsemailevent", names)
        self.assertNotIn("new_setting", names)
        act = self.c.get(API + "/EntityDefinitions(LogicalName='new_acsemailevent')?$select=IsActivity,EntitySetName").json()
        self.assertEqual((act["IsActivity"], act["EntitySetName"]), (True, "new_acsemailevents"))

    def test_table_listing(self):
        # what the connector lists for the Workflows page: every table with its set, label and tracking
        r = self.c.get(API + "/EntityDefinitions?$select=LogicalName,EntitySetName,DisplayName,ChangeTrackingEnabled")
        by = {v["LogicalName"]: v for v in r.json()["value"]}
        self.assertEqual(by["contact"]["EntitySetName"], "contacts")
        self.assertEqual(by["contact"]["DisplayName"]["UserLocalizedLabel"]["Label"], "Contact")
        self.assertEqual((by["new_setting"]["ChangeTrackingEnabled"], by["contact"]["ChangeTrackingEnabled"]), (False, True))
        self.assertNotIn("PrimaryIdAttribute", by["contact"])

    def test_attributes_keys_relationships(self):
        attrs = self.c.get(API + "/EntityDefinitions(LogicalName='contact')/Attributes").json()["value"]
        by = {a["LogicalName"]: a for a in attrs}
        self.assertEqual((by["firstname"]["AttributeType"], by["firstname"]["MaxLength"]), ("String", 50))
        self.assertEqual(by["emailaddress1"]["MaxLength"], 100)
        self.assertEqual(by["donotbulkemail"]["@odata.type"], "#Microsoft.Dynamics.CRM.BooleanAttributeMetadata")
        self.assertEqual(by["parentcustomerid"]["AttributeType"], "Customer")
        self.assertEqual(by["lastname"]["RequiredLevel"]["Value"], "ApplicationRequired")
        self.assertNotIn("OptionSet", by["gendercode"])
        r = self.c.get(API + "/EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
                             "?$select=LogicalName&$expand=OptionSet")
        pick = {a["LogicalName"]: a for a in r.json()["value"]}
        opts = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in pick["gendercode"]["OptionSet"]["Options"]}
        self.assertEqual(opts, {1: "Male", 2: "Female"})
        self.assertEqual(self.c.get(API + "/EntityDefinitions(LogicalName='contact')/Attributes?$expand=OptionSet").status, 400)
        keys = self.c.get(API + "/EntityDefinitions(LogicalName='new_acsemailevent')/Keys").json()["value"]
        self.assertEqual(keys[0]["KeyAttributes"], ["new_acseventid"])
        rel = self.c.get(API + "/EntityDefinitions(LogicalName='new_membership')/ManyToOneRelationships").json()["value"]
        self.assertEqual({(x["ReferencingAttribute"], x["ReferencingEntityNavigationPropertyName"], x["ReferencedEntity"]) for x in rel},
                         {("new_contactid", "new_ContactId", "contact")})
        self.assertEqual(self.c.get(API + "/EntityDefinitions(LogicalName='nosuch')").status, 404)

    def test_whoami_and_unknown_set(self):
        self.assertIn("UserId", self.c.get(API + "/WhoAmI").json())
        self.assertError(self.c.get(API + "/nosuchset"), 404, "0x8006088a", "Resource not found for the segment 'nosuchset'.")


class TestFaultsAndRobustness(DvCase):
    def test_429_storm_then_recovery(self):
        self.ctl.post("/_emulator/faults", {"kind": "throttle", "count": 3, "retry_after": 2, "path": "/contacts"})
        for _ in range(3):
            r = self.c.get(API + "/contacts")
            self.assertError(r, 429, "0x80072322")
            self.assertEqual(r.header("Retry-After"), "2")
        self.assertEqual(self.c.get(API + "/contacts").status, 200)
        counts = self.ctl.get("/_emulator/counts").json()
        self.assertEqual(counts["status_429"], 3)

    def test_nth_request_5xx_and_timed_storm(self):
        self.ctl.post("/_emulator/faults", {"kind": "error", "status": 503, "after": 1})
        self.assertEqual(self.c.get(API + "/contacts").status, 200)
        self.assertError(self.c.get(API + "/contacts"), 503)
        self.assertEqual(self.c.get(API + "/contacts").status, 200)
        self.ctl.post("/_emulator/faults", {"kind": "error", "status": 500, "seconds": 0.3})
        self.assertEqual(self.c.get(API + "/contacts").status, 500)
        self.assertEqual(self.c.get(API + "/contacts").status, 500)
        time.sleep(0.35)
        self.assertEqual(self.c.get(API + "/contacts").status, 200)

    def test_slow_drop_malformed(self):
        self.ctl.post("/_emulator/faults", {"kind": "slow", "delay": 0.3})
        t0 = time.time()
        self.assertEqual(self.c.get(API + "/contacts").status, 200)
        self.assertGreaterEqual(time.time() - t0, 0.3)
        self.ctl.post("/_emulator/faults", {"kind": "drop"})
        with self.assertRaises(Exception):
            self.c.request("GET", API + "/contacts", retry=False)
        self.c.close()
        self.ctl.post("/_emulator/faults", {"kind": "malformed"})
        r = self.c.get(API + "/contacts")
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        with self.assertRaises(ValueError):
            r.json()
        self.assertEqual(self.c.get(API + "/contacts").json()["value"], [])

    def test_keep_alive(self):
        for _ in range(5):
            self.assertEqual(self.c.get(API + "/contacts").status, 200)
        self.assertEqual(self.c.connections, 1)

    def test_bad_requests_get_service_errors(self):
        s = socket.create_connection((self.emu.httpd.server_address[0], self.emu.httpd.server_address[1]))
        s.sendall(b"NONSENSE\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data)
        self.assertIn(b'{"error":{"code":"","message":', data)
        for path in ("/", "/api/data/v8.0/contacts", API + "/contacts(not-a-key)", API + "/contacts(1,2)"):
            r = self.c.get(path)
            self.assertIn(r.status, (400, 404), path)
            self.assertIn("error", r.json())
            self.assertNotIn(b"Traceback", r.body)
        r = self.c.post(API + "/contacts", b"\xff\xfe", headers={"Content-Type": "application/json"})
        self.assertError(r, 400)
        r = self.c.post(API + "/contacts", [1, 2])
        self.assertError(r, 400)

    def test_request_log(self):
        self.ctl.delete("/_emulator/requests")
        self.c.get(API + "/contacts?$select=fullname")
        self.c.post(API + "/contacts", {"lastname": "L"})
        log = self.ctl.get("/_emulator/requests").json()["requests"]
        self.assertEqual([(e["method"], e["kind"], e["status"]) for e in log], [("GET", "query", 200), ("POST", "create", 204)])
        self.assertEqual(log[0]["query"], "$select=fullname")
        self.assertEqual(log[0]["user"], "crmsync-client")


class TestSeedingAndStandalone(DvCase):
    def test_seed_is_deterministic(self):
        other = Dataverse()
        other.seed(5)
        ids = self.seed(5)
        self.assertEqual(sorted(ids), sorted(other.store.tables["contact"].rows))
        row = self.c.get(API + "/contacts(%s)" % ids[0]).json()
        self.assertEqual(row["firstname"], other.store.tables["contact"].rows[ids[0]]["firstname"])
        self.assertTrue(row["emailaddress1"].endswith("@example.com"))

    def test_standalone_process(self):
        p, url = run_standalone("dataverse.py", "--seed", "7")
        try:
            c = Client(url)
            self.assertEqual(c.get("/_emulator/tables").json()["contacts"], 7)
            c.close()
        finally:
            self.assertEqual(stop(p), 0)


class TestScale(DvCase):
    def test_page_100k_contacts_then_delta(self):
        t0 = time.time()
        self.emu.seed(100000)
        seeded = time.time() - t0
        url = API + "/contacts?$select=fullname,emailaddress1,modifiedon"
        seen = set()
        pages = 0
        while True:
            b = self.c.get(url, headers={"Prefer": "odata.track-changes, odata.maxpagesize=5000"}).json()
            pages += 1
            seen.update(v["contactid"] for v in b["value"])
            if "@odata.nextLink" not in b:
                delta = b["@odata.deltaLink"]
                break
            url = b["@odata.nextLink"]
        self.assertEqual(len(seen), 100000)
        self.assertEqual(pages, 20)
        some = sorted(seen)[:10]
        for i in some[:5]:
            self.ctl.patch("/_emulator/tables/contacts/%s" % i, {"lastname": "Changed"})
        for i in some[5:]:
            self.ctl.delete("/_emulator/tables/contacts/%s" % i)
        b = self.c.get(delta, headers={"Prefer": "odata.track-changes, odata.maxpagesize=5000"}).json()
        self.assertEqual([v["contactid"] for v in b["value"][:5]], some[:5])
        self.assertEqual([v["id"] for v in b["value"][5:]], some[5:])
        elapsed = time.time() - t0
        self.assertLess(elapsed, 60, "seed %.1fs, total %.1fs" % (seeded, elapsed))


if __name__ == "__main__":
    unittest.main()
