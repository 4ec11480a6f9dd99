# test_acs_conformance: the requests of Adobe's Campaign Standard API pages (help/api/using/*.md,
# written here from the pages' samples), sent to the Campaign emulator, and each answer checked for the
# shape the page shows: status, members and their JSON types, object vs list, absolute hrefs. Each test
# names its page. Where two pages disagree, tests/emulators/README.md says which one the emulator follows.
import unittest
import urllib.parse

from test_campaign import EXT, ORG, PX, TS, AcsCase
from campaign import OOPS

BASE = "/%s/campaign" % ORG
PS = BASE + "/profileAndServices"


class Shape(AcsCase):
    def assertShape(self, obj, members, what=""):
        """obj is an object holding at least `members` (name -> type, or a str regex for strings)."""
        self.assertIsInstance(obj, dict, what)
        for name, kind in members.items():
            self.assertIn(name, obj, "%s: member %s" % (what, name))
            if isinstance(kind, str):
                self.assertRegex(obj[name], kind, "%s: member %s" % (what, name))
            else:
                self.assertIsInstance(obj[name], kind, "%s: member %s" % (what, name))

    def assertAbsolute(self, href, path):
        """An absolute URL of this emulator whose path starts with `path`."""
        u = urllib.parse.urlsplit(href)
        self.assertEqual((u.scheme, u.netloc), ("http", urllib.parse.urlsplit(self.base).netloc), href)
        self.assertTrue(u.path.startswith(path), (href, path))

    def get(self, url, status=200):
        r = self.c.get(url)
        self.assertEqual(r.status, status, r)
        return r.json()

    def profiles(self, n):
        return [self.create(email="p%d@mail.com" % i, firstName="P%d" % i, lastName="Doe",
                            externalId="x%d" % i) for i in range(n)]


class TestGateway(Shape):
    def test_troubleshooting(self):  # Troubleshooting: the gateway's error bodies
        r = self.c.get(PS + "/profile", headers={"Authorization": "Bearer nonsense"})
        self.assertEqual((r.status, r.json()), (401, {"error_code": "401013", "message": "Oauth token is not valid"}))
        r = self.c.get("/no-such-tenant/campaign/profileAndServices/profile")
        self.assertEqual((r.status, r.json()), (500, {"code": 500, "message": OOPS}))

    def test_must_read_json_extension(self):  # Must-read: resources as JSON, with or without .json
        self.profiles(1)
        self.assertEqual(self.get(PS + "/profile.json")["content"][0]["email"], "p0@mail.com")


class TestMetadata(Shape):
    def test_metadata_mechanism(self):  # Metadata mechanism: GET resourceType/profile
        md = self.get(PS + "/resourceType/profile")
        self.assertShape(md, {"content": dict, "data": str, "filters": dict, "help": str, "href": str, "label": str,
                              "mandatory": bool, "name": str, "pkgStatus": str, "readOnly": bool, "schema": str,
                              "type": str}, "profile metadata")
        self.assertEqual((md["data"], md["name"], md["schema"], md["type"]),
                         ("/profileAndServices/profile/", "profile", "nms:recipient", "item"))
        self.assertAbsolute(md["href"], PS + "/profile/metadata")
        self.assertAbsolute(md["filters"]["href"], PS + "/resourceType/@")
        for name, field in md["content"].items():
            self.assertShape(field, {"apiName": str, "type": str, "category": str}, name)
        self.assertEqual(md["content"]["email"]["dataPolicy"], "email")
        self.assertIsInstance(md["content"]["gender"]["values"], list)  # an enumeration's values node
        self.assertNotIn("orgUnit", md["content"])  # the link comes with the extension
        ext = self.get(EXT + "/resourceType/profile")["content"]
        self.assertEqual((ext["orgUnit"]["type"], ext["orgUnit"]["resTarget"]), ("link", "orgUnitBase"))

    def test_filtering_metadata(self):  # Filtering: the filters href lists the filters keyed by name
        listing = self.get(self.get(PS + "/resourceType/profile")["filters"]["href"])
        self.assertIn("byText", listing)
        for name, f in listing.items():
            self.assertShape(f, {"PKey": str, "category": str, "data": str, "formType": str, "fragmentName": str,
                                 "label": str}, name)
            self.assertIn("condition", f)
            self.assertIsInstance(f["metadata"], dict)  # "the metadata node describes the filter parameters"
        self.assertEqual(listing["byText"]["data"], "/profileAndServices/profile/byText?text=$value")

    def test_custom_resources_listing(self):  # Custom resources: GET profileAndServicesExt/
        listing = self.get(EXT + "/")
        self.assertEqual(listing["apiName"], "resourceType")
        for name in ("cusMembership", "cusVehicle"):
            self.assertShape(listing[name], {"content": str, "data": str, "help": str, "href": str, "name": str,
                                             "type": "^collection$"}, name)
            self.assertEqual(listing[name]["data"], "/profileAndServicesExt/%s/" % name)
            self.assertAbsolute(listing[name]["href"], "%s/%s/metadata" % (EXT, name))


class TestUnlinkedResources(Shape):
    def test_interacting_with_custom_resources(self):  # the /customResources endpoint behaves as profileAndServices
        spec = {"cusCompany": {"label": "Company", "api": "customResources", "key": "externalId",
                               "fields": {"externalId": {"type": "string", "length": 64, "label": "Id"},
                                          "name": {"type": "string", "length": 100, "label": "Name"}},
                               "filters": {"byExternalId": {"field": "externalId", "param": "externalId_parameter"}}}}
        self.assertEqual(self.ctl.post("/_emulator/reset", {"config": {"custom_resources": spec}}).status, 200)
        self.c.default_headers["Authorization"] = "Bearer " + self.token()  # a reset forgets the tokens
        md = self.get(BASE + "/customResources/resourceType/cusCompany")
        self.assertEqual((md["name"], md["data"]), ("cusCompany", "/customResources/cusCompany/"))
        self.assertIn("byExternalId", self.get(md["filters"]["href"]))
        r = self.c.post(BASE + "/customResources/cusCompany", {"externalId": "c1", "name": "Acme"})
        self.assertEqual(r.status, 201, r)
        self.assertAbsolute(r.json()["href"], BASE + "/customResources/cusCompany/@")
        self.assertEqual(self.c.patch(r.json()["href"], {"name": "Acme SA"}).status, 200)
        self.assertEqual(self.get(BASE + "/customResources/cusCompany/byExternalId?externalId_parameter=c1")
                         ["content"][0]["name"], "Acme SA")
        self.assertEqual(self.c.get(EXT + "/cusCompany").status, 404)  # not under profileAndServicesExt
        self.assertEqual(self.c.delete(r.json()["href"]).status, 200)


class TestReading(Shape):
    def test_pagination(self):  # Pagination: _lineCount, the next node, _forcePagination
        self.profiles(3)
        page = self.get(PS + "/profile?_lineCount=1")
        self.assertEqual(len(page["content"]), 1)
        self.assertShape(page["content"][0], {"PKey": "^@", "firstName": str, "lastName": str, "birthDate": str})
        self.assertAbsolute(page["next"]["href"], PS + "/profile")
        self.assertIn("_lineStart=", page["next"]["href"])
        second = self.get(page["next"]["href"])
        self.assertNotEqual(second["content"][0]["email"], page["content"][0]["email"])
        self.assertEqual(len(self.get(PS + "/profile")["content"]), 3)  # 25 by default
        self.assertEqual(self.ctl.patch("/_emulator/config", {"big_table_threshold": 2}).status, 200)
        self.assertNotIn("next", self.get(PS + "/profile?_lineCount=1"))
        self.assertIn("next", self.get(PS + "/profile?_lineCount=1&_forcePagination=true"))

    def test_retrieving_profiles(self):  # Retrieving profiles: all, and the first email values
        self.profiles(3)
        self.assertEqual(len(self.get(PS + "/profile")["content"]), 3)
        emails = self.get(PS + "/profile/email?_lineCount=2")
        self.assertEqual(emails["content"], ["p0@mail.com", "p1@mail.com"])
        self.assertAbsolute(emails["next"]["href"], PS + "/profile/email")

    def test_sorting(self):  # Sorting: _order=<field>%20asc and %20desc on a sortable field
        self.profiles(3)
        self.assertEqual(self.get(PS + "/profile/email?_order=email%20desc")["content"],
                         ["p2@mail.com", "p1@mail.com", "p0@mail.com"])
        self.assertEqual(self.get(PS + "/profile/email?_order=email%20asc")["content"][0], "p0@mail.com")

    def test_counting(self):  # Counting: the count node's href answers {"count": N}
        self.profiles(3)
        page = self.get(PS + "/profile/byText?text=Doe")
        self.assertTrue(page["serverSidePagination"])
        self.assertAbsolute(page["count"]["href"], PS + "/profile/byText/_count")
        self.assertEqual(self.get(page["count"]["href"]), {"count": 3})

    def test_filtering(self):  # Filtering: built-in, combined and custom filters
        self.profiles(3)
        self.assertEqual(len(self.get(PS + "/profile/byText?text=Doe")["content"]), 3)
        combined = self.get(PS + "/profile/byEmail/byText?email=p1%40mail.com&text=P1")["content"]
        self.assertEqual([p["externalId"] for p in combined], ["x1"])
        custom = self.get(PX + "/byExternalId?externalId_parameter=x2")
        self.assertEqual([p["email"] for p in custom["content"]], ["p2@mail.com"])


class TestWriting(Shape):
    def test_creating_profiles(self):  # Creating profiles: POST answers 201 with the profile
        r = self.c.post(PS + "/profile", {"email": "john.doe@mail.com"})
        self.assertEqual(r.status, 201, r)
        self.assertShape(r.json(), {"PKey": "^@", "email": "^john.doe@mail.com$", "firstName": str, "href": str})
        self.assertRegex(r.json()["created"], TS)

    def test_updating_profiles(self):  # Updating profiles: PATCH answers the PKey and href only
        p = self.create(email="amy.dakota@mail.com")
        r = self.c.patch(PS + "/profile/" + p["PKey"], {"phone": "3301020304"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json()), {"PKey", "href"})
        self.assertAbsolute(r.json()["href"], PS + "/profile/@")
        self.assertEqual(self.get(r.json()["href"])["phone"], "3301020304")

    def test_verbs(self):  # Verbs: GET one profile (the object itself), DELETE answers 200
        p = self.create(email="johndoe@mail.com", lastName="Doe")
        one = self.get(PS + "/profile/" + p["PKey"])
        self.assertShape(one, {"PKey": "^@", "lastName": "^Doe$", "email": str})
        self.assertNotIn("content", one)
        self.assertEqual(self.c.delete(PS + "/profile/" + p["PKey"]).status, 200)

    def test_custom_key(self):  # Must-read: a custom key in place of the PKey, on the Ext profile
        self.create(email="k@mail.com", externalId="crm-7")
        one = self.get(PX + "/crm-7")
        self.assertEqual(one["email"], "k@mail.com")
        self.assertAbsolute(one["subscriptions"]["href"], PX + "/@")


class TestOrgUnits(Shape):
    def test_managing_organizational_units(self):  # Organizational units: list, read, assign, update
        units = self.get(EXT + "/orgUnitBase/")["content"]
        for u in units:
            self.assertShape(u, {"PKey": "^@", "created": TS, "desc": str, "href": str, "label": str,
                                 "lastModified": TS, "name": str, "parentTitle": str, "title": str}, u["name"])
            self.assertAbsolute(u["href"], EXT + "/orgUnitBase/@")
        brand4 = [u for u in units if u["name"] == "brand4"][0]
        self.assertEqual((brand4["title"], brand4["parentTitle"]), ("Brand 4 (brand4)", "All (all)"))
        one = self.get(EXT + "/orgUnitBase/" + brand4["PKey"])
        self.assertEqual((one["name"], one["label"]), ("brand4", "Brand 4"))
        # a profile is assigned a unit by PATCH on the Ext profile; its GET then links the unit
        p = self.create(email="u@mail.com")
        r = self.c.patch(PX + "/" + p["PKey"], {"orgUnit": {"PKey": brand4["PKey"]}})
        self.assertEqual((r.status, set(r.json())), (200, {"PKey", "href"}))
        link = self.get(PX + "/" + p["PKey"])["orgUnit"]
        self.assertShape(link, {"PKey": "^@", "href": str, "title": "^Brand 4 \\(brand4\\)$"})
        self.assertAbsolute(link["href"], EXT + "/orgUnitBase/@")
        self.assertEqual(self.get(link["href"])["name"], "brand4")
        # a unit's attributes updated by PATCH
        r = self.c.patch(EXT + "/orgUnitBase/" + brand4["PKey"], {"label": "brand1b", "name": "brand1b"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get(r.json()["href"])["title"], "brand1b (brand1b)")


class TestServices(Shape):
    def svc(self, name):
        return [s for s in self.get(PS + "/service")["content"] if s["name"] == name][0]

    def test_creating_a_service(self):  # Managing services and subscriptions: POST a service
        r = self.c.post(PS + "/service/", {"label": "My newsletter", "messageType": "email",
                                           "name": "email_newsletter", "start": "2019-10-06"})
        self.assertEqual(r.status, 201, r)
        self.assertShape(r.json(), {"PKey": "^@", "builtIn": bool, "created": TS, "href": str,
                                    "label": "^My newsletter$"})
        self.assertAbsolute(r.json()["href"], PS + "/service/@")

    def test_filtering_services(self):  # Filtering and Counting: byChannel, byChannel/byText
        email = self.get(PS + "/service/byChannel?channel=email")
        self.assertEqual(sorted(s["name"] for s in email["content"]), ["SVC1", "SVC2"])
        for s in email["content"]:
            self.assertShape(s, {"PKey": "^@", "created": TS, "href": str, "label": str, "lastModified": TS,
                                 "limitedDuration": bool, "messageType": "^email$", "mode": str, "name": str})
        sport = self.get(PS + "/service/byChannel/byText?channel=email&text=sport")["content"]
        self.assertEqual([s["label"] for s in sport], ["Sport Newsletter"])
        self.assertEqual(self.get(self.get(PS + "/service/byChannel?channel=sms")["count"]["href"]), {"count": 1})
        listing = self.get(self.get(PS + "/resourceType/service")["filters"]["href"])
        self.assertEqual(listing["byChannel"]["data"], "/profileAndServices/service/byChannel?channel=$value")

    def test_subscriptions(self):  # Managing services and subscriptions: both methods, both listings, deletes
        p = self.create(path=PS + "/profile", email="john@mail.com", firstName="John", lastName="Doe")
        sport, sms = self.svc("SVC1"), self.svc("SVC6")
        # method 1: the profile's subscriptions href, POST {"service": {"PKey"}}
        profile = self.get(p["href"])
        self.assertAbsolute(profile["subscriptions"]["href"], PS + "/profile/@")
        r = self.c.post(profile["subscriptions"]["href"], {"service": {"PKey": sport["PKey"]}})
        self.assertEqual(r.status, 201, r)
        self.assertShape(r.json(), {"service": dict, "serviceName": "^SVC1$", "subscriber": dict})
        self.assertEqual(r.json()["service"]["title"], "Sport Newsletter (SVC1)")
        # method 2: the service's subscriptions href, POST {"subscriber": {"PKey"}}
        r = self.c.post(self.get(sms["href"])["subscriptions"]["href"], {"subscriber": {"PKey": p["PKey"]}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["subscriber"]["email"], "john@mail.com")
        # the profile's subscriptions, each with its service
        mine = self.get(profile["subscriptions"]["href"])["content"]
        self.assertEqual(sorted(s["service"]["name"] for s in mine), ["SVC1", "SVC6"])
        for s in mine:
            self.assertShape(s, {"PKey": "^@", "created": TS, "service": dict, "subscriber": dict})
            self.assertShape(s["service"], {"PKey": "^@", "href": str, "label": str, "name": str, "title": str})
            self.assertAbsolute(s["href"], PS + "/profile/@")
        # the service's subscriptions, each with its profile; one deleted by its href: 204
        subs = self.get(sport["subscriptions"]["href"])["content"]
        self.assertEqual(len(subs), 1)
        self.assertShape(subs[0], {"PKey": "^@", "created": TS, "email": "^john@mail.com$", "expirationDate": str,
                                   "href": str, "metadata": "^subscriptionRcp$", "serviceName": "^SVC1$"})
        self.assertShape(subs[0]["subscriber"], {"PKey": "^@", "email": str, "firstName": "^John$", "href": str,
                                                 "lastName": "^Doe$"})
        self.assertAbsolute(subs[0]["href"], PS + "/service/@")
        self.assertEqual(self.c.delete(subs[0]["href"]).status, 204)
        self.assertEqual([s["serviceName"] for s in self.get(profile["subscriptions"]["href"])["content"]], ["SVC6"])


class TestWorkflows(Shape):
    def test_controlling_a_workflow(self):  # Managing workflows: the execution commands
        for method, state in (("stop", "stopped"), ("start", "started"), ("pause", "paused"), ("resume", "started")):
            r = self.c.post(BASE + "/workflow/execution/WKF1/commands", {"method": method})
            self.assertEqual((r.status, r.json()["state"]), (200, state), r)
        self.assertEqual(self.c.post(BASE + "/workflow/execution/WKF1/commands", {"method": "jump"}).status, 400)
        self.assertEqual(self.c.get(BASE + "/workflow/execution/WKF404").status, 404)

    def test_triggering_a_signal_activity(self):  # Managing workflows: the trigger href, source, parameters
        wf = self.get(BASE + "/workflow/execution/WKF1")
        self.assertShape(wf, {"PKey": "^@", "activities": dict})
        trigger = wf["activities"]["activity"]["signal1"]["trigger"]["href"]
        self.assertAbsolute(trigger, BASE + "/workflow/execution/@")
        self.assertRegex(trigger, r"/activities/activity/@[^/]+/trigger/$")
        params = {"audience": "audience", "email": "anna.varney@mail.com", "template": "05",
                  "contentURL": "http://www.adobe.com", "test": "true", "segmentCode": "my segment",
                  "attribute": "2019-04-03 08:17:19.100Z"}
        r = self.c.post(trigger, {"source": "API", "parameters": params})  # contentURL is not declared
        self.assertEqual(r.status, 500, r)
        self.assertIn("'contentURL' parameter isn't defined in signal activity", r.json()["message"])
        self.assertEqual(self.c.post(trigger, {"parameters": {}}).status, 500)  # source is mandatory
        del params["contentURL"]
        self.assertEqual(self.c.post(trigger, {"source": "API", "parameters": params}).status, 200)
        self.assertEqual(self.c.post(trigger, {"source": "API"}).status, 500)  # not twice in 10 minutes
        fired = self.ctl.get("/_emulator/workflows").json()["triggers"]
        self.assertEqual([(t["activity"], t["source"], t["parameters"]["email"]) for t in fired],
                         [("signal1", "API", "anna.varney@mail.com")])


class TestTransactional(Shape):
    def test_sending_a_transactional_event(self):  # Managing transactional messages: POST, then its status
        body = {"email": "test@example.com", "scheduled": "2017-12-01 08:00:00.768Z",
                "expiration": "2037-12-31T08:00:00.768Z", "ctx": {"cartAmount": "$ 125", "firstName": "Jack"}}
        r = self.c.post(BASE + "/mc%s/EVTcartAbandonment" % ORG, body)
        self.assertEqual(r.status, 200, r)
        sent = r.json()
        self.assertShape(sent, {"PKey": "^@", "ctx": dict, "email": str, "scheduled": TS, "expiration": TS,
                                "href": "^mc%s/EVTcartAbandonment/@" % ORG, "serverUrl": str,
                                "status": "^pending$", "type": str})
        self.assertEqual(self.get(BASE + "/" + sent["href"])["status"], "processed")
        gone = self.c.post(BASE + "/mc%s/EVTnoSuchEvent" % ORG, {"email": "a@b.co"}).json()
        self.assertEqual(self.get(BASE + "/" + gone["href"])["status"], "routingFailed")
        old = self.c.post(BASE + "/mc%s/EVTcartAbandonment" % ORG, {"expiration": "2017-12-31 08:00:00.768Z"}).json()
        self.assertEqual(self.get(BASE + "/" + old["href"])["status"], "tooOld")


class TestImsProfile(Shape):
    def test_ims_profile(self):  # Troubleshooting: 403023 and the IMS profile's product context
        prof = self.get("/ims/profile/v1")
        ctx = prof["projectedProductContext"][0]["prodCtx"]
        self.assertShape(ctx, {"statusCode": "^ACTIVE$", "organization_id": "^%s$" % ORG, "owningEntity": "@AdobeOrg$",
                               "serviceCode": str, "label": str, "serviceLevel": str})
        self.assertEqual(self.ctl.patch("/_emulator/config", {"ims_provisioned": False}).status, 200)
        r = self.c.get(PS + "/profile")
        self.assertEqual((r.status, r.json()), (403, {"error_code": "403023", "message": "Profile is not valid"}))
        self.assertEqual(self.get("/ims/profile/v1")["projectedProductContext"], [])


class TestHistory(Shape):
    def test_marketing_history(self):  # Interacting with marketing history: the events href and mirror pages
        self.assertEqual(self.ctl.post("/_emulator/seed", {"count": 1}).status, 200)
        self.assertEqual(self.ctl.post("/_emulator/events", {"count": 1, "types": ["send"]}).status, 200)
        pkey = self.get(PS + "/profile")["content"][0]["PKey"]
        h = self.get(PS + "/history/" + pkey)
        self.assertShape(h, {"PKey": "^@", "firstName": str, "lastName": str, "birthDate": str, "events": dict})
        self.assertEqual(h["events"]["metadata"], "subHisto")
        self.assertAbsolute(h["events"]["href"], PS + "/history/")
        ev = self.get(h["events"]["href"])["content"][0]
        self.assertShape(ev, {"PKey": "^@", "category": "^email$", "date": TS, "href": str, "label": str,
                              "mirrorPage": dict, "type": "^outbound$"})
        self.assertTrue(ev["mirrorPage"]["href"].startswith(ev["href"] + "/mirrorPage"), ev)
        self.assertEqual(self.c.get(ev["mirrorPage"]["href"]).status, 501)


if __name__ == "__main__":
    unittest.main()
