# test_campaign: checks the Campaign Standard emulator against reference Part B (B1-B12): IMS
# token, gateway checks, lists/paging/filters/sorting/counting, create/update/delete and their
# errors, PKeys, custom resources, metadata, engine-call accounting, the I/O Events journal, the
# opt-out export, history, faults, added latency (concurrent answers, the time served), and the
# standalone run.
import csv
import os
import re
import tempfile
import threading
import time
import unittest
import urllib.parse

from campaign import Campaign
from testutil import Client, run_standalone, stop

ORG = "crmsync-tenant"
P = "/%s/campaign/profileAndServices/profile" % ORG
PX = "/%s/campaign/profileAndServicesExt/profile" % ORG
EXT = "/%s/campaign/profileAndServicesExt" % ORG
JOURNAL = "/events/organizations/23294/integrations/54108/f89067f2-0d50-4bb2-bf78-209d0eacb6eb"
TS = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$"


class AcsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.emu = Campaign(config={"optout_export_dir": cls.tmp.name})
        cls.base = cls.emu.start()
        cls.ctl = Client(cls.base)

    @classmethod
    def tearDownClass(cls):
        cls.ctl.close()
        cls.emu.stop()
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(self.ctl.post("/_emulator/reset", {}).status, 200)
        self.c = Client(self.base, {"X-Api-Key": "crmsync-acs-client", "Cache-Control": "no-cache",
                                    "Authorization": "Bearer " + self.token()})

    def tearDown(self):
        self.c.close()

    def token(self, **over):
        form = {"client_id": "crmsync-acs-client", "client_secret": "crmsync-acs-secret",
                "grant_type": "client_credentials", "scope": "AdobeID,openid,campaign_sdk"}
        form.update(over)
        r = self.ctl.post("/ims/token/v3", urllib.parse.urlencode(form),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        return r.json()["access_token"]

    def seed(self, n, **kw):
        kw["count"] = n
        self.assertEqual(self.ctl.post("/_emulator/seed", kw).status, 200)

    def create(self, path=PX, **fields):
        r = self.c.post(path, fields)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def assertEngineError(self, r, status, contains):
        self.assertEqual(r.status, status, r)
        b = r.json()
        self.assertEqual(b["code"], status)
        self.assertIn(contains, b["message"])
        self.assertEqual(int(r.header("Content-Length")), len(r.body))


class TestAuth(AcsCase):
    def test_ims_token(self):
        r = self.ctl.post("/ims/token/v3", urllib.parse.urlencode({
            "client_id": "crmsync-acs-client", "client_secret": "crmsync-acs-secret",
            "grant_type": "client_credentials", "scope": "AdobeID,openid"}),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        b = r.json()
        self.assertEqual((r.status, b["token_type"], b["expires_in"]), (200, "bearer", 86399))
        self.assertTrue(b["access_token"])
        r = self.ctl.post("/ims/token/v3?" + urllib.parse.urlencode({
            "client_id": "crmsync-acs-client", "client_secret": "bad", "grant_type": "client_credentials", "scope": "x"}))
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"))

    def test_gateway_errors(self):
        r = self.c.get(P, headers={"Authorization": "Bearer nope"})
        self.assertEqual((r.status, r.json()), (401, {"error_code": "401013", "message": "Oauth token is not valid"}))
        r = self.c.get(P, headers={"X-Api-Key": "someone-else"})
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["error_code"], "403003")
        self.ctl.post("/_emulator/tokens/expire")
        self.assertEqual(self.c.get(P).status, 401)
        self.c.default_headers["Authorization"] = "Bearer " + self.token()
        r = self.c.get("/wrong-org/campaign/profileAndServices/profile")
        self.assertEqual((r.status, r.json()), (500, {"code": 500, "message": "Oops. Something went wrong. Check your URI and try again."}))
        self.assertEqual(self.c.get("/%s-mkt-stage/campaign/profileAndServices/profile" % ORG).status, 200)

    def test_token_lifetime(self):
        self.ctl.patch("/_emulator/config", {"token_lifetime": 1})
        tok = self.token()
        self.assertEqual(self.c.get(P, headers={"Authorization": "Bearer " + tok}).status, 200)
        time.sleep(1.1)
        self.assertEqual(self.c.get(P, headers={"Authorization": "Bearer " + tok}).status, 401)


class TestLists(AcsCase):
    def test_default_page_and_following_next(self):
        self.seed(60)
        b = self.c.get(P).json()
        self.assertEqual(len(b["content"]), 25)
        self.assertIs(b["serverSidePagination"], True)
        self.assertTrue(b["count"]["href"].startswith(self.base + P + "/_count"))
        seen, url = [], P + "?_lineCount=7"
        while url:
            b = self.c.get(url).json()
            seen += [p["externalId"] for p in b["content"]]
            nxt = b.get("next")
            url = nxt["href"] if nxt else None
            if url:
                self.assertIn("_lineStart=@", url)
                self.assertTrue(url.startswith(self.base))
        self.assertEqual(len(seen), 60)
        self.assertEqual(len(set(seen)), 60)
        self.assertEqual(self.c.get(P + "/_count").json(), {"count": 60})

    def test_big_table_threshold(self):
        self.ctl.patch("/_emulator/config", {"big_table_threshold": 50})
        self.seed(60)
        self.assertNotIn("next", self.c.get(P + "?_lineCount=10").json())
        self.assertIn("next", self.c.get(P + "?_lineCount=10&_forcePagination=true").json())
        b = self.c.get(self.c.get(P + "?_lineCount=10&_forcePagination=true").json()["next"]["href"]).json()
        self.assertIn("_forcePagination=true", b["next"]["href"])

    def test_order(self):
        self.seed(30)
        emails = [p["email"] for p in self.c.get(P + "?_order=email%20desc&_lineCount=30").json()["content"]]
        self.assertEqual(emails, sorted(emails, key=str.lower, reverse=True))
        url, names = P + "?_order=lastName&_lineCount=4", []
        while url:
            b = self.c.get(url).json()
            names += [p["lastName"].lower() for p in b["content"]]
            url = b.get("next", {}).get("href")
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(names), 30)
        self.assertEngineError(self.c.get(P + "?_order=fax"), 500, "cannot be used for sorting")

    def test_filters(self):
        a = self.create(email="john.doe@mail.com", firstName="John", lastName="Doe", externalId="ext-1")
        self.create(email="jane@mail.com", firstName="Jane", lastName="Doe", externalId="ext-2")
        self.create(email="bob@other.com", firstName="Bob", lastName="Johnson")
        byemail = self.c.get(P + "/byEmail?email=John.Doe%40mail.com").json()["content"]
        self.assertEqual([p["externalId"] for p in byemail], ["ext-1"])
        r = self.c.get(P + "/byText?text=Jo&filterType=firstName").json()["content"]
        self.assertEqual([p["firstName"] for p in r], ["John"])
        self.assertEqual(self.c.get(P + "/byText?text=jo&filterType=firstName").json()["content"], [])  # case-sensitive
        self.assertEqual(len(self.c.get(P + "/byText?text=jo").json()["content"]), 2)
        r = self.c.get(PX + "/byExternalId?externalId_parameter=ext-2").json()["content"]
        self.assertEqual([p["firstName"] for p in r], ["Jane"])
        chained = self.c.get(P + "/byEmail/byText?email=jane%40mail.com&text=Ja").json()["content"]
        self.assertEqual(len(chained), 1)
        self.assertEqual(self.c.get(P + "/byEmail/_count?email=jane%40mail.com").json(), {"count": 1})
        time.sleep(0.02)
        self.c.patch(a["href"], {"phone": "1"})
        since = self.c.get(P + "?_lineCount=1&_order=lastModified%20desc").json()["content"][0]["lastModified"]
        r = self.c.get(PX + "/byLastModified?since=" + urllib.parse.quote(since)).json()["content"]
        self.assertEqual([p["externalId"] for p in r], ["ext-1"])
        self.assertEqual(self.c.get(P + "/email?_lineCount=2").json()["content"], ["john.doe@mail.com", "jane@mail.com"])
        self.assertEqual(self.c.get(P + "/byNothing").status, 404)
        self.assertEqual(self.c.get(PX + "/ext-1").json()["firstName"], "John")  # custom key


class TestWrites(AcsCase):
    def test_create_full_object(self):
        b = self.create(path=P, email="john.doe@mail.com", firstName="John", gender="male", birthDate="1980-10-24")
        self.assertTrue(b["PKey"].startswith("@"))
        self.assertEqual(b["href"], self.base + P + "/" + b["PKey"])
        self.assertEqual(b["subscriptions"], {"href": b["href"] + "/subscriptions/"})  # the PKey the answer shows
        self.assertRegex(b["created"], TS)
        self.assertRegex(b["lastModified"], TS)
        self.assertEqual((b["lastName"], b["fax"], b["externalId"]), ("", "", ""))
        self.assertEqual((b["emailFormat"], b["gender"], b["blackListEmail"], b["ccpaOptOut"]), ("unknown", "male", False, False))
        self.assertEqual(b["domain"], "mail.com")
        self.assertNotIn("cusCrmid", b)
        self.assertIn("cusCrmid", self.create(path=PX, cusCrmid="c1"))

    def test_text_as_written(self):  # JSON in UTF-8: other characters as they are, control characters escaped
        b = self.create(firstName="Zoë", lastName="Łukasz 😀")
        r = self.c.get(b["href"])
        self.assertIn("\"firstName\":\"Zoë\"".encode("utf-8"), r.body)
        self.assertIn("\"lastName\":\"Łukasz 😀\"".encode("utf-8"), r.body)
        self.assertIn(b"\"line1\":\"Zo\xc3\xab \xc5\x81UKASZ \xf0\x9f\x98\x80\"", r.body)
        self.assertNotIn(b"\\u", r.body)
        r = self.c.patch(b["href"], {"lastName": "a\u0001b"})
        self.assertEqual(r.status, 200)
        r = self.c.get(b["href"])
        self.assertIn(b"\"lastName\":\"a\\u0001b\"", r.body)
        self.assertIn("Zoë".encode("utf-8"), r.body)

    def test_errors(self):
        self.assertEngineError(self.c.post(P, {"cusCrmid": "x"}), 500, "'cusCrmid' property is not valid for the 'profile' resource")
        self.assertEngineError(self.c.post(P, {"age": 3}), 500, "Cannot update the 'age' property that is read-only")
        self.assertEngineError(self.c.post(P, {"gender": "robot"}), 500, "robot")
        self.assertEngineError(self.c.post(P, {"firstName": "x" * 31}), 500, "firstName")
        self.assertEngineError(self.c.post(P, {"email": "not-an-email"}), 500, "not-an-email")
        self.assertEngineError(self.c.post(P, {"blackListEmail": "yes"}), 500, "blackListEmail")
        self.assertEngineError(self.c.get(P + "/@gibberish"), 500, "'@gibberish' is not a valid constant")
        r = self.c.post(P, b"{broken", headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400)
        self.assertIn("message", r.json())

    def test_patch_delete(self):
        b = self.create(email="a@b.co")
        r = self.c.patch(b["href"], {"phone": "3301020304"})
        self.assertEqual(r.status, 200)
        self.assertEqual(set(r.json()), {"PKey", "href"})
        self.assertEqual(self.c.get(r.json()["href"]).json()["phone"], "3301020304")
        self.assertEngineError(self.c.patch(b["href"], {"age": 1}), 500, "read-only")
        self.assertEngineError(self.c.patch(b["href"], {"nope": 1}), 500, "'nope' property is not valid for the 'profile' resource")
        r = self.c.delete(b["href"])
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEngineError(self.c.get(b["href"]), 404, "is not a valid constant")

    def test_pkeys_are_opaque_and_reencoded(self):
        b = self.create(email="a@b.co")
        again = self.c.get(b["href"]).json()
        self.assertNotEqual(again["PKey"], b["PKey"])
        self.assertEqual(self.c.get(P + "/" + again["PKey"]).json()["email"], "a@b.co")
        self.assertRegex(b["PKey"], r"^@[A-Za-z0-9_-]+$")

    def test_denylist_attribute_times_and_aliases(self):
        b = self.create(email="d@b.co", externalId="x1")
        v0 = self.ctl.get("/_emulator/resources/profile/externalId:x1").json()
        time.sleep(0.01)
        self.c.patch(b["href"], {"denyListEmail": True})
        v1 = self.ctl.get("/_emulator/resources/profile/externalId:x1").json()
        self.assertIs(v1["blackListEmail"], True)
        self.assertNotEqual(v1["_attrModified"]["blackListEmail"], v0["_attrModified"]["blackListEmail"])
        self.assertEqual(v1["_attrModified"]["blackList"], v0["_attrModified"]["blackList"])
        self.assertRegex(v1["_attrModified"]["blackListEmail"], TS)

    def test_engine_calls(self):
        self.ctl.delete("/_emulator/counts")
        b = self.create(email="e@b.co")
        self.c.patch(b["href"], {"phone": "1"})
        self.c.patch(b["href"], {"phone": "1"})
        self.c.delete(b["href"])
        counts = self.ctl.get("/_emulator/counts").json()
        self.assertEqual(counts["engine_calls"], 1 + 2 + 1 + 1)
        self.assertEqual((counts["profile.create"], counts["profile.update"], counts["profile.delete"]), (1, 2, 1))
        self.assertEqual(counts["engine:update_unchanged"], 1)

    def test_v8_mode(self):
        self.ctl.patch("/_emulator/config", {"campaign_v8": True})
        b = self.create(email="v8@b.co")
        self.assertEqual(self.c.patch(b["href"], {}).status, 204)
        self.assertEngineError(self.c.patch(b["href"], {"location": {"city": "X"}}), 500, "'zipCode' property is not valid")


class TestCustomResources(AcsCase):
    def test_links_keys_filters_metadata(self):
        prof = self.create(email="m@b.co", externalId="c-1")
        m = self.create(path=EXT + "/cusMembership", membershipNumber="N1", name="Gold plan", tier="gold",
                        profile={"PKey": prof["PKey"]})
        self.assertEqual(m["profile"]["href"].rsplit("/", 1)[0], self.base + PX)
        self.assertEqual(self.c.get(EXT + "/cusMembership/N1").json()["name"], "Gold plan")
        self.assertEngineError(self.c.post(EXT + "/cusMembership", {"membershipNumber": "N1"}), 500, "Duplicate key")
        card = self.create(path=EXT + "/cusMembershipCard", cardNumber="C9", membership={"PKey": m["PKey"]})
        self.assertTrue(card["membership"]["PKey"].startswith("@"))
        r = self.c.get(EXT + "/cusMembership/byMembershipNumber?membershipNumber_parameter=N1").json()["content"]
        self.assertEqual(len(r), 1)
        self.assertEngineError(self.c.post(EXT + "/cusMembership", {"profile": {"PKey": "@bogus"}}), 500, "is not a valid constant")
        self.assertEngineError(self.c.patch(m["href"], {"membershipNumber": "N2"}), 500, "cannot be modified")
        self.assertEqual(self.c.get(EXT + "/cusNothing").status, 404)
        md = self.c.get(EXT + "/resourceType/cusMembership").json()
        self.assertEqual(md["content"]["tier"]["values"], ["bronze", "silver", "gold"])
        self.assertEqual(md["content"]["profile"]["resTarget"], "profile")
        pmd = self.c.get("/%s/campaign/profileAndServices/resourceType/profile" % ORG).json()
        self.assertEqual(pmd["content"]["email"]["length"], 128)
        self.assertTrue(pmd["content"]["email"]["sortable"])
        self.assertNotIn("cusCrmid", pmd["content"])
        self.assertIn("cusCrmid", self.c.get(EXT + "/resourceType/profile").json()["content"])
        listing = self.c.get(EXT).json()
        self.assertEqual(listing["apiName"], "resourceType")
        self.assertIn("cusMembership", listing)
        filters = self.c.get(self.c.get(EXT + "/resourceType/profile").json()["filters"]["href"]).json()
        self.assertEqual(filters["byExternalId"]["data"],
                         "/profileAndServicesExt/profile/byExternalId?externalId_parameter=$value")


class TestJournal(AcsCase):
    def setUp(self):
        super().setUp()
        self.seed(5)
        self.c.default_headers["x-ims-org-id"] = "4CC7D9704674CFB2138A2C54@AdobeOrg"

    def events(self, **kw):
        r = self.ctl.post("/_emulator/events", kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def next_link(self, r):
        for v in r.headers.get_all("Link"):
            m = re.match(r'^<([^>]+)>; rel="next"$', v)
            if m:
                return m.group(1)
        return None

    def test_read_follow_and_end(self):
        made = self.events(count=8)
        r = self.c.get(JOURNAL + "?limit=3")
        self.assertEqual(r.status, 200)
        b = r.json()
        self.assertEqual(len(b["events"]), 3)
        self.assertEqual(b["_page"], {"last": b["events"][-1]["position"], "count": 3})
        got = [e["position"] for e in b["events"]]
        nxt = self.next_link(r)
        self.assertIn("limit=3", nxt)
        self.assertIn("since=" + b["_page"]["last"], nxt)
        while True:
            r = self.c.get(nxt)
            if r.status == 204:
                break
            got += [e["position"] for e in r.json()["events"]]
            nxt = self.next_link(r)
        self.assertEqual(got, made["positions"])
        self.assertEqual(r.header("retry-after"), "10")
        self.assertEqual(self.next_link(r), nxt)
        self.assertTrue(any('rel="validate"' in v for v in r.headers.get_all("Link")))
        self.assertEqual(r.body, b"")

    def test_payload_shapes(self):
        evs = self.events(count=4, types=["send", "open", "click", "bounce"])["events"]
        types = [e["xdm:eventType"] for e in evs]
        self.assertEqual(types, ["directMarketing.emailSent", "directMarketing.emailOpened",
                                 "directMarketing.emailClicked", "directMarketing.emailBounced"])
        for e in evs:
            dm = e["xdm:directMarketing"]
            self.assertTrue(dm["xdm:campaignName"] and dm["xdm:deliveryName"])
            self.assertTrue(e["mirrorPageUrl"].startswith("http"))
            self.assertRegex(e["profileExternalId"], r"^[0-9a-f-]{36}$")
            self.assertTrue(e["profilePKey"].startswith("@"))
        self.assertTrue(evs[2]["url"].startswith("https://"))
        self.assertEqual(evs[3]["bounceType"], "hard")

    def test_since_latest_seek_and_validation(self):
        made = self.events(count=4)
        r = self.c.get(JOURNAL + "?since=" + made["positions"][1])
        self.assertEqual([e["position"] for e in r.json()["events"]], made["positions"][2:])
        r = self.c.get(JOURNAL + "?latest=true")
        self.assertEqual(r.status, 204)
        self.assertIn("since=" + made["positions"][-1], self.next_link(r))
        self.events(count=1)
        self.assertEqual(self.c.get(self.next_link(r)).status, 200)
        self.assertEqual(len(self.c.get(JOURNAL + "?seek=-PT1H").json()["events"]), 5)
        self.assertEqual(self.c.get(JOURNAL + "?seek=-PT1H&since=" + made["positions"][0]).status, 400)
        self.assertEqual(self.c.get(JOURNAL + "?since=nope:1:2").status, 400)
        self.assertEqual(self.c.get(JOURNAL, headers={"Authorization": "Bearer x"}).status, 401)

    def test_retention_duplicates_out_of_order(self):
        self.events(count=3, age_seconds=8 * 86400)
        fresh = self.events(count=6, duplicates=2, out_of_order=True)
        b = self.c.get(JOURNAL + "?limit=100").json()
        self.assertEqual([e["position"] for e in b["events"]], fresh["positions"])
        ids = [e["event"]["@id"] for e in b["events"]]
        self.assertEqual(len(ids), 8)
        self.assertEqual(len(set(ids)), 6)
        stamps = [e["event"]["xdm:timestamp"] for e in b["events"][:6]]
        self.assertNotEqual(stamps, sorted(stamps))

    def test_without_id(self):
        made = self.events(count=2, without_id=True)
        b = self.c.get(JOURNAL + "?limit=100").json()
        self.assertEqual([e["position"] for e in b["events"]], made["positions"])
        for e in b["events"]:
            self.assertNotIn("event_id", e["event"])
            self.assertNotIn("@id", e["event"])
            self.assertIn("xdm:eventType", e["event"])

    def test_history(self):
        self.events(count=2, types=["send"])
        pkey = self.c.get(P + "?_lineCount=1").json()["content"][0]["PKey"]
        h = self.c.get("/%s/campaign/profileAndServices/history/%s" % (ORG, pkey)).json()
        self.assertEqual(h["countBroadLogEvents"], 1)
        ev = self.c.get(h["events"]["href"]).json()["content"]
        self.assertEqual((ev[0]["category"], ev[0]["type"], ev[0]["label"]), ("email", "outbound", "Send via email"))
        self.assertRegex(ev[0]["date"], TS)


class TestOptOutExport(AcsCase):
    def read(self, path):
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    def test_export_changed_fields(self):
        first = self.ctl.post("/_emulator/optout-export", {}).json()  # baseline
        self.assertTrue(first["path"].startswith(self.tmp.name))
        b = self.create(email="o@b.co", externalId="c-9")
        time.sleep(0.01)
        self.c.patch(b["href"], {"blackListEmail": True, "ccpaOptOut": True})
        self.c.patch(b["href"], {"phone": "1"})
        r = self.ctl.post("/_emulator/optout-export", {}).json()
        self.assertTrue(os.path.exists(r["path"]))
        self.assertTrue(r["url"].startswith("file:///"))
        rows = self.read(r["path"])
        self.assertEqual(sorted((x["externalId"], x["field"], x["value"]) for x in rows),
                         [("c-9", "blackListEmail", "true"), ("c-9", "ccpaOptOut", "true")])
        for x in rows:
            self.assertRegex(x["lastModified"], TS)
            self.assertEqual(x["email"], "o@b.co")
        again = self.ctl.post("/_emulator/optout-export", {}).json()
        self.assertEqual(again["rows"], 0)
        self.assertEqual(self.read(again["path"]), [])
        self.assertFalse([f for f in os.listdir(self.tmp.name) if f.endswith(".tmp")])


class TestFaultsAndStandalone(AcsCase):
    def test_faults(self):
        self.ctl.post("/_emulator/faults", {"kind": "throttle", "count": 2, "retry_after": 3})
        r = self.c.get(P)
        self.assertEqual((r.status, r.header("Retry-After")), (429, "3"))
        self.assertEqual(self.c.get(P).status, 429)
        self.assertEqual(self.c.get(P).status, 200)
        self.ctl.post("/_emulator/faults", {"kind": "error", "status": 502})
        r = self.c.get(P)
        self.assertEqual((r.status, r.json()), (502, {"code": 502, "message": "Oops. Something went wrong. Check your URI and try again."}))
        self.ctl.post("/_emulator/faults", {"kind": "malformed", "path": "/profile"})
        r = self.c.get(P)
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        with self.assertRaises(ValueError):
            r.json()
        self.ctl.post("/_emulator/faults", {"kind": "drop"})
        with self.assertRaises(Exception):
            self.c.request("GET", P, retry=False)
        self.c.close()
        self.assertEqual(self.c.get(P).status, 200)

    def test_latency_delays_every_answer_concurrently(self):
        self.ctl.patch("/_emulator/config", {"latency_ms": 300})
        load0 = self.ctl.get("/_emulator/load").json()
        clients = [Client(self.base, self.c.default_headers) for _ in range(60)]
        times = []

        def one(c):
            t = time.monotonic()
            self.assertEqual(c.get(PX + "/byExternalId?externalId_parameter=none").status, 200)
            times.append(time.monotonic() - t)

        threads = [threading.Thread(target=one, args=(c,)) for c in clients]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        for c in clients:
            c.close()
        self.assertEqual(len(times), 60)
        self.assertGreaterEqual(min(times), 0.3)
        self.assertLess(wall, 9.0)  # side by side, not one after the other (18 s); a loaded machine is slow
        load1 = self.ctl.get("/_emulator/load").json()
        self.assertEqual(load1["served"] - load0["served"], 60)
        self.assertGreaterEqual(load1["busy_s"] - load0["busy_s"], 18.0)
        t = time.monotonic()
        self.token()  # the token endpoint is delayed too; the control API is not
        self.assertGreaterEqual(time.monotonic() - t, 0.3)
        self.ctl.patch("/_emulator/config", {"latency_ms": 6000})
        t = time.monotonic()
        self.ctl.get("/_emulator/health")
        self.assertLess(time.monotonic() - t, 3.0)  # not delayed by the 6 s (half of it: a margin for the load)
        self.ctl.patch("/_emulator/config", {"latency_ms": 0})

    def test_seed_deterministic_and_standalone(self):
        p, url = run_standalone("campaign.py", "--seed", "4", "--latency", "20")
        try:
            c = Client(url)
            counts = c.get("/_emulator/resources").json()
            self.assertEqual(counts["profile"], 4)
            self.assertEqual(c.get("/_emulator/config").json()["latency_ms"], 20)
            ext_a = c.get("/_emulator/resources/profile/1").json()["externalId"]
            c.close()
        finally:
            self.assertEqual(stop(p), 0)
        self.seed(4)
        self.assertEqual(self.ctl.get("/_emulator/resources/profile/1").json()["externalId"], ext_a)


if __name__ == "__main__":
    unittest.main()
