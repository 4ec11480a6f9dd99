# test_acs_links: the Campaign emulator's custom resources of Adobe's worked example, cusVehicle linked
# to the profile and cusService linked to cusVehicle: their metadata (links with resTarget, keys and
# filters), links written by PKey and cleared with {}, a link to a record of the wrong resource refused,
# and the sub-fields of an object field (location) described as its content.
from test_campaign import EXT, ORG, PX, AcsCase


class TestVehicleChain(AcsCase):
    def test_metadata(self):
        listing = self.c.get(EXT).json()
        self.assertIn("cusVehicle", listing)
        self.assertIn("cusService", listing)
        md = self.c.get(EXT + "/resourceType/cusVehicle").json()
        self.assertEqual((md["content"]["profile"]["type"], md["content"]["profile"]["resTarget"]), ("link", "profile"))
        self.assertEqual((md["content"]["year"]["type"], md["content"]["year"]["resType"]), ("number", "long"))
        smd = self.c.get(EXT + "/resourceType/cusService").json()
        self.assertEqual(smd["content"]["vehicle"]["resTarget"], "cusVehicle")
        filters = {n: f["data"] for n, f in self.c.get(smd["filters"]["href"]).json().items()}
        self.assertEqual(filters, {"byExternalId": "/profileAndServicesExt/cusService/byExternalId?externalId_parameter=$value"})
        loc = self.c.get(EXT + "/resourceType/profile").json()["content"]["location"]
        self.assertEqual(loc["type"], "object")
        self.assertEqual(loc["content"]["city"]["type"], "string")

    def test_custom_resources_listing(self):
        # unlinked custom resources live under customResources, which lists them as the Ext API lists its own
        res = {"cusNote": {"label": "Note", "api": "customResources", "key": "code",
                           "fields": {"code": {"type": "string", "length": 20, "label": "Code"}},
                           "filters": {"byCode": {"field": "code", "param": "code_parameter", "op": "eq"}}}}
        self.assertEqual(self.ctl.post("/_emulator/reset", {"config": {"custom_resources": res}}).status, 200)
        self.c.default_headers["Authorization"] = "Bearer " + self.token()
        listing = self.c.get("/%s/campaign/customResources" % ORG).json()
        self.assertEqual((listing["cusNote"]["help"], listing["cusNote"]["data"]), ("Note", "/customResources/cusNote/"))
        self.assertNotIn("cusNote", self.c.get(EXT).json())
        md = self.c.get("/%s/campaign/customResources/resourceType/cusNote" % ORG).json()
        self.assertEqual(md["content"]["code"]["type"], "string")
        self.assertEqual(self.c.get("/%s/campaign/profileAndServices" % ORG).status, 404)

    def test_links_by_pkey(self):
        prof = self.create(email="v@b.co", externalId="c-1")
        car = self.create(path=EXT + "/cusVehicle", externalId="v-1", name="Car", vin="VIN1", year=2020,
                          profile={"PKey": prof["PKey"]})
        svc = self.create(path=EXT + "/cusService", externalId="s-1", name="Oil", mileage=1200,
                          vehicle={"PKey": car["PKey"]})
        got = self.c.get(EXT + "/cusService/byExternalId?externalId_parameter=s-1").json()["content"]
        self.assertEqual(len(got), 1)
        self.assertEqual(self.c.get(got[0]["vehicle"]["href"]).json()["externalId"], "v-1")
        self.assertEqual(self.c.get(EXT + "/cusVehicle/v-1").json()["profile"]["href"].rsplit("/", 1)[0], self.base + PX)
        self.assertEngineError(self.c.post(EXT + "/cusService", {"externalId": "s-2", "vehicle": {"PKey": prof["PKey"]}}),
                               500, "is not a valid constant")
        self.assertEqual(self.c.patch(svc["href"], {"vehicle": {}}).status, 200)
        self.assertEqual(self.c.get(EXT + "/cusService/s-1").json()["vehicle"], {})
        self.assertEqual(self.c.get("/%s/campaign/customResources/cusVehicle" % ORG).status, 404)
