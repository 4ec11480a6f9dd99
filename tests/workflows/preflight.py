#!/usr/bin/env python3
"""preflight.py - `crmsyncctl preflight` and `crmsyncctl setup dynamics365` (POST /api/v1/preflight and
/api/v1/setup) on the real daemon with the real plugins, the three workflows of tests/web/weblib.py, against
a Dataverse emulator started as a new org is (no activity tables, change tracking off):
  - preflight lists every missing piece, each with its fix, and exits 8; --json for scripts;
  - setup --dry-run prints the requests and sends none; setup creates the activity tables, their columns and
    alternate keys (waiting until Active) and turns change tracking on; a second setup has nothing to do;
  - preflight then passes (exit 0) and the three workflows start and run (email events become activities);
  - a setup stopped half-way (a privilege missing: refused naming it) is completed by the next run;
  - a column that exists with another type is never altered (its row keeps its data), and preflight says so;
  - a missing read privilege, a stale opt-out export and an unreachable Campaign are failed lines, and an
    unreachable system never stops the other system's checks;
  - Adobe's guardrails: more than 20 custom resources, more than 5 links or a link chain of more than three
    tables written by a workflow (each allowed by the configuration only once the operator raised its limit)
    are failed lines; a table reporting more than 15,000,000 rows for an initial load is a warning, which
    alone leaves the exit status 0.
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web"))
import weblib as WL  # noqa: E402

W = WL.W
E = WL.E
O = WL.O
CTL = os.path.join(os.path.dirname(W.L.CRMSYNCD), "crmsyncctl")
SEED = 30


def empty_org(env, **config):
    """The Dataverse emulator as a new org: no activity tables, change tracking off; SEED contacts."""
    import dv_schema  # noqa: E402 (on the path once wflib is imported)
    W.L.control(env.dv_url, "POST", "reset", {"seed": SEED, "config": dict(
        {"setup_done": False, "key_index_seconds": 0.5,
         "custom_tables": list(dv_schema.DEFAULT_CUSTOM_TABLES) + [WL.BAIT_TABLE]}, **config)})


def failed(doc):
    """(connection, workflow, check) of every failed check."""
    return {(c["connection"], c.get("workflow"), c["check"]) for c in doc["checks"] if not c["ok"]}


def workflow(doc, wf_id):
    """The workflow `wf_id` of configuration `doc`."""
    return [w for w in doc["workflows"] if w["id"] == wf_id][0]


# links of custom_mapping(): to a contact's profile (5 of them), to a vehicle, to the contact
PROFILES = [("new_contact%d" % i, "contacts", "profile%d" % i) for i in range(5)]
VEHICLE = ("new_vehicle", "new_vehicles", "vehicle")
CONTACT = ("new_contact", "contacts", "profile")


def with_custom(doc, mappings, **limits):
    """Configuration `doc` with the custom-entity plugin, `mappings` added to the ingress workflow and its
    `limits` raised to `limits`."""
    doc["plugins"].append(W.CUSTOM_ENTITY)
    ingress = workflow(doc, WL.INGRESS)
    ingress["mappings"] += mappings
    ingress["limits"] = dict(ingress.get("limits") or {}, **limits)


def custom_mapping(stream, target, links=(), **entity):
    """A mapping of table `stream` (logical name + "s") to Campaign `target` through custom-entity, linked by
    `links`: (lookup, parent stream, Campaign link) each; `entity`: more custom-entity options."""
    links = [{"column": "_%s_value" % lookup, "parent": parent, "link": link} for lookup, parent, link in links]
    return {"stream": stream, "target": target, "key": {"source": stream[:-1] + "id", "target": "externalId"},
            "fields": [{"source": "new_name", "target": "name"}],
            "entity": dict({"name": "custom-entity", "links": links}, **entity)}


class Preflight(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = WL.Env("preflight", seed=SEED)
        empty_org(cls.env)
        cls.conf = WL.config(cls.env, name="preflight.conf")
        cls.d = W.Daemon(cls.conf, cls.env.s.path("daemon.log"))
        cls.d.wait_port()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.env.close()

    def ctl(self, *args):
        p = subprocess.run([CTL, "--url", "http://127.0.0.1:%d" % self.d.port, "--token-file", self.env.token_file]
                           + list(args), capture_output=True, text=True, timeout=600)
        self.assertNotIn(W.L.SECRET, p.stdout + p.stderr)
        return p.returncode, p.stdout, p.stderr

    def preflight(self):
        rc, out, err = self.ctl("--json", "preflight")
        self.assertIn(rc, (0, 8), err)
        doc = json.loads(out)
        self.assertEqual(rc == 0, doc["ok"])
        return doc

    def tables(self):
        return W.L.control(self.env.dv_url, "GET", "tables")

    def preflight_with(self, name, edit):
        """`crmsyncctl preflight`, as text then --json, on a daemon started with this configuration as edit(doc)
        changes it; the usual daemon is stopped meanwhile (one daemon per state directory).
        -> (exit status, text, {(connection, workflow, check): check})."""
        with open(self.conf) as f:
            doc = json.load(f)
        edit(doc)
        conf = self.env.s.path("preflight-%s.conf" % name)
        with open(conf, "w") as f:
            json.dump(doc, f)
        cls = type(self)
        cls.d.stop()
        cls.d = W.Daemon(conf, self.env.s.path("daemon-%s.log" % name))
        try:
            cls.d.wait_port()
            rc, out, err = self.ctl("preflight")
            checks = {(c["connection"], c.get("workflow"), c["check"]): c for c in self.preflight()["checks"]}
        finally:
            cls.d.stop()
            cls.d = W.Daemon(self.conf, self.env.s.path("daemon.log"))
            cls.d.wait_port()
        return rc, out + err, checks

    def fresh_export(self):
        O.export_file(self.env.export_dir, [])

    def setup_ok(self):
        rc, out, err = self.ctl("setup", "dynamics365")
        self.assertEqual(rc, 0, out + err)
        return out

    def start_all(self):
        for wf in (WL.INGRESS, WL.EGRESS, WL.OPTINOUT):
            code, doc = self.d.api("POST", "/workflows/%s/start" % wf)
            self.assertIn(code, (200, 409), doc)
        W.wait_until(lambda: all(self.d.api("GET", "/workflows/" + wf)[1]["status"] == "RUNNING"
                                 for wf in (WL.INGRESS, WL.EGRESS, WL.OPTINOUT)), 60, "the three workflows RUNNING",
                     lambda: [self.d.api("GET", "/workflows/" + wf)[1] for wf in (WL.INGRESS, WL.EGRESS, WL.OPTINOUT)])

    def stop_all(self):
        for wf in (WL.INGRESS, WL.EGRESS, WL.OPTINOUT):
            self.d.api("POST", "/workflows/%s/stop" % wf)
        W.wait_until(lambda: all(self.d.api("GET", "/workflows/" + wf)[1]["status"] in ("STOPPED", "FAILED")
                                 for wf in (WL.INGRESS, WL.EGRESS, WL.OPTINOUT)), 60, "the workflows stopped")

    def test_1_empty_systems_to_running_workflows(self):
        rc, out, _ = self.ctl("preflight")
        self.assertEqual(rc, 8, out)
        self.assertRegex(out, r"FAIL d365/%s: table new_acsemailsend: no table .*\n     fix: crmsyncctl setup "
                              r"dynamics365 creates it" % WL.EGRESS)
        doc = self.preflight()
        bad = failed(doc)
        for kind in ("send", "click"):
            self.assertIn(("d365", WL.EGRESS, "table new_acsemail" + kind), bad)
        self.assertIn(("d365", WL.INGRESS, "change tracking"), bad)
        self.assertIn(("acs", WL.OPTINOUT, "opt-out export"), bad)
        oks = {(c["connection"], c["check"]) for c in doc["checks"] if c["ok"]}
        self.assertIn(("d365", "credentials and reachability"), oks)
        self.assertIn(("acs", "credentials and reachability"), oks)

        rc, out, err = self.ctl("setup", "dynamics365", "--dry-run")
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"WOULD\s+d365/%s: create activity table new_acsemailsend: would send POST \S+/api/data/"
                              r"v9.2/EntityDefinitions \{" % WL.EGRESS)
        self.assertIn("EntityDefinitions(LogicalName='new_acsemailsend')/Keys", out)
        self.assertIn("PUT", out)
        self.assertNotIn("new_acsemailsends", self.tables())  # nothing was sent

        out = self.setup_ok()
        self.assertRegex(out, r"DONE\s+d365/%s: create activity table new_acsemailsend" % WL.EGRESS)
        self.assertRegex(out, r"OK\s+d365/%s: alternate key index: new_acsemailsend: the key's index is Active"
                         % WL.EGRESS)
        self.assertIn("turn on change tracking of contact", out)
        self.assertIn("new_acsemailclicks", self.tables())
        out = self.setup_ok()
        self.assertIn("dynamics365: nothing to do", out)
        rc, out, _ = self.ctl("--json", "setup", "dynamics365")
        self.assertEqual((rc, json.loads(out)["changed"], json.loads(out)["steps"]), (0, 0, []))

        self.fresh_export()
        doc = self.preflight()
        self.assertTrue(doc["ok"], [c for c in doc["checks"] if not c["ok"]])
        rc, out, _ = self.ctl("preflight", WL.EGRESS)
        self.assertEqual(rc, 0, out)
        self.assertNotIn(WL.INGRESS, out)

        self.start_all()
        W.wait_until(lambda: self.env.acs.ctl("GET", "resources")[1].get("profile", 0) >= SEED, 60,
                     "the ingress workflow wrote the contacts to Campaign")
        known = list(W.L.rows(self.env.dv, "contacts"))[:5]
        sent = E.events(self.env, count=6, types=["send", "click"], profiles=known)
        W.wait_until(lambda: len(E.activities(self.env, "send")) + len(E.activities(self.env, "click")) == len(sent),
                     60, "every email event written as an activity in the tables setup created")
        self.stop_all()

    def test_2_interrupted_setup_and_privileges(self):
        empty_org(self.env, missing_privileges=["prvCreateAttribute", "prvReadContact"])
        rc, out, _ = self.ctl("setup", "dynamics365")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"FAIL\s+d365/%s: create column new_acsemailsend.new_acseventid: .*: the application "
                              r"user lacks prvCreateAttribute\n\s+fix: give the application user a security role with "
                              r"the privilege prvCreateAttribute" % WL.EGRESS)
        self.assertIn("new_acsemailsends", self.tables())  # the tables were created before the refusal
        doc = self.preflight()
        self.assertIn(("d365", WL.INGRESS, "privileges"), failed(doc))
        self.assertIn("prvReadContact", json.dumps(doc))
        self.assertIn(("d365", WL.EGRESS, "columns"), failed(doc))  # the tables are there, not their columns
        self.assertIn(("d365", WL.EGRESS, "alternate key"), failed(doc))
        W.L.control(self.env.dv_url, "PATCH", "config", {"missing_privileges": []})
        out = self.setup_ok()  # completes what the first run left
        self.assertNotIn("create activity table", out)
        self.assertIn("create column new_acsemailsend.new_acseventid", out)
        self.assertIn("nothing to do", self.setup_ok())
        self.fresh_export()
        doc = self.preflight()
        self.assertTrue(doc["ok"], [c for c in doc["checks"] if not c["ok"]])

    def test_3_a_column_with_data_is_never_altered(self):
        """A table of the name the configuration gives that is not an activity table, whose key's index failed
        and with a column of another type holding data: setup alters nothing, preflight names each."""
        import dv_activities  # noqa: E402
        empty_org(self.env)
        spec = dv_activities.email_activity("send")
        spec["activity"] = False
        spec["keys"][0]["status"] = "Failed"
        for a in spec["attributes"]:
            if a["name"] == "new_campaignname":
                a.update(type="Integer")
                a.pop("max", None)
        with self.env.dv.lock:
            t = self.env.dv.store.add_table(spec)
            self.env.dv.store.insert(t, "00000000-0000-0000-0000-0000000000c1", {"subject": "kept", "new_campaignname": 7})
        rc, out, _ = self.ctl("setup", "dynamics365")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"FAIL\s+d365/%s: column new_acsemailsend.new_campaignname: it exists as Integer, not "
                              r"string\n\s+fix: crmsync never alters a column" % WL.EGRESS)
        with self.env.dv.lock:
            t = self.env.dv.store.tables["new_acsemailsend"]
            self.assertEqual(t.attrs["new_campaignname"]["type"], "Integer")
            self.assertEqual(t.rows["00000000-0000-0000-0000-0000000000c1"]["new_campaignname"], 7)
        doc = self.preflight()
        self.assertIn(("d365", WL.EGRESS, "column types"), failed(doc))
        self.assertIn(("d365", WL.EGRESS, "table new_acsemailsend"), failed(doc))  # not an activity table
        key = [c for c in doc["checks"] if c.get("workflow") == WL.EGRESS and c["check"] == "alternate key" and
               "new_acsemailsend" in c["detail"]]
        self.assertTrue(key and not key[0]["ok"] and "Failed" in key[0]["detail"] and "reactivate" in key[0]["fix"], key)

    def test_4_campaign_says_what_to_create_in_its_ui(self):
        """A target resource Campaign lacks, a mapping past the column guardrail and a journal that does not
        answer: each a failed line, the first saying what to create in Campaign's UI."""
        def edit(doc):
            ingress = workflow(doc, WL.INGRESS)
            ingress["limits"] = dict(ingress.get("limits") or {}, columns=60)  # past Adobe's 50: preflight fails
            ingress["mappings"].append({"stream": "new_vehicles", "target": "cusNothing",
                                        "key": {"source": "new_vehicleid", "target": "externalId"},
                                        "fields": [{"source": "new_c%d" % i, "target": "c%d" % i} for i in range(51)]})
            doc["connections"]["acs"]["journal_url"] += "-unknown"
        checks = {k[1:]: c for k, c in self.preflight_with("acs", edit)[2].items() if k[0] == "acs"}
        res = checks[(WL.INGRESS, "resource cusNothing")]
        self.assertFalse(res["ok"])
        self.assertRegex(res["fix"], r"Custom resources: create cusNothing with the fields externalId \(Text\), c0 "
                                     r"\(Text\).*Identification keys: a key on externalId.*Definition of filters: "
                                     r"byExternalId .*Publish")
        self.assertTrue(checks[(WL.INGRESS, "resource profile")]["ok"])
        self.assertFalse(checks[(WL.INGRESS, "guardrail: columns")]["ok"])
        self.assertIn("51 column(s)", checks[(WL.INGRESS, "guardrail: columns")]["detail"])
        self.assertFalse(checks[(WL.EGRESS, "I/O Events journal")]["ok"])

    def test_5_custom_resources_guardrail(self):
        """21 custom resources written by one workflow, one named under the connection's resources: past Adobe's
        20, a failed line with its fix. A mapping with 5 links in a chain of 3 tables is within the links
        guardrail."""
        def edit(doc):
            doc["connections"]["acs"]["resources"]["vehicles"] = {"resource": "cusVehicle", "key": "externalId",
                                                                  "filter": "byExternalId"}
            parts = [custom_mapping("new_part0s", "cusPart0", [VEHICLE] + PROFILES[:4])]
            parts += [custom_mapping("new_part%ds" % i, "cusPart%d" % i) for i in range(1, 20)]
            # the configuration refuses more custom tables than limits.custom_entities (20 by default, Adobe's
            # guardrail): the operator raised it, and preflight still fails past Adobe's 20
            with_custom(doc, [custom_mapping("new_vehicles", "vehicles", [CONTACT])]
                        + parts, custom_entities=21)
        rc, out, checks = self.preflight_with("custom", edit)
        self.assertEqual(rc, 8, out)
        self.assertRegex(out, r"FAIL acs/%s: guardrail: custom resources: 21 custom resource\(s\) written \(Adobe's "
                              r"guardrail: 20\)\n     fix: map at most 20 custom tables \(Adobe's guardrail\)\n"
                         % WL.INGRESS)
        links = checks[("acs", WL.INGRESS, "guardrail: links")]
        self.assertTrue(links["ok"], links)
        self.assertIn("at most 5 linked column(s) per resource (guardrail: 5), link chains of 3 table(s)",
                      links["detail"])

    def test_6_links_guardrail(self):
        """6 links on one resource, then a chain of 4 tables (each allowed by custom-entity only once the operator
        raised max_links or max_depth): past Adobe's 5 links or 3 tables, a failed line with its fix."""
        vehicles = custom_mapping("new_vehicles", "cusVehicle", [CONTACT])
        fix = r"\n     fix: link at most 5 columns per resource, in chains of at most three tables \(Adobe's guardrail\)"
        services = custom_mapping("new_services", "cusService", [VEHICLE] + PROFILES,
                                  max_links=6)  # custom-entity refuses more than 5 links unless raised
        rc, out, _ = self.preflight_with("links", lambda doc: with_custom(doc, [vehicles, services]))
        self.assertEqual(rc, 8, out)
        self.assertRegex(out, r"FAIL acs/%s: guardrail: links: at most 6 linked column\(s\) per resource \(guardrail: "
                              r"5\), link chains of 3 table\(s\) \(guardrail: 3\)" % WL.INGRESS + fix)
        services = custom_mapping("new_services", "cusService", [VEHICLE])
        parts = custom_mapping("new_serviceparts", "cusServicePart", [("new_service", "new_services", "service")],
                               max_depth=4)  # custom-entity refuses a chain of more than 3 tables unless raised
        rc, out, _ = self.preflight_with("depth", lambda doc: with_custom(doc, [vehicles, services, parts]))
        self.assertEqual(rc, 8, out)
        self.assertRegex(out, r"FAIL acs/%s: guardrail: links: at most 1 linked column\(s\) per resource \(guardrail: "
                              r"5\), link chains of 4 table\(s\) \(guardrail: 3\)" % WL.INGRESS + fix)

    def test_7_initial_load_guardrail_warns(self):
        """A table Dynamics 365 counts at 15,000,000 rows is within Adobe's initial-load guardrail; one row more is
        a warning with the row counts, which alone leaves the exit status 0 (every check passed)."""
        empty_org(self.env, setup_done=True, record_counts={"contact": 15000000})
        self.fresh_export()
        rc, out, _ = self.ctl("preflight")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"OK   d365/%s: initial load: 15000000 rows \(contact 15000000\); Adobe's guardrail is "
                              r"15,000,000 for an initial load\n" % WL.INGRESS)
        W.L.control(self.env.dv_url, "PATCH", "config", {"record_counts": {"contact": 15000001}})
        rc, out, _ = self.ctl("preflight")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"WARN d365/%s: initial load: 15000001 rows \(contact 15000001\); Adobe's guardrail is "
                              r"15,000,000 for an initial load: over it, split the load \(filters\) or plan it with "
                              r"Adobe\n" % WL.INGRESS)
        self.assertIn("\n0 check(s) failed\n", out)
        doc = self.preflight()
        load = [c for c in doc["checks"] if c["check"] == "initial load"]
        self.assertEqual([(c["ok"], c.get("warning")) for c in load], [(True, True)], load)
        self.assertTrue(doc["ok"], [c for c in doc["checks"] if not c["ok"]])

    def test_8_stale_export_and_unreachable_campaign(self):
        empty_org(self.env)
        self.setup_ok()
        for name in os.listdir(self.env.export_dir):
            old = time.time() - 30 * 3600
            os.utime(os.path.join(self.env.export_dir, name), (old, old))
        if not os.listdir(self.env.export_dir):
            self.fresh_export()
            for name in os.listdir(self.env.export_dir):
                os.utime(os.path.join(self.env.export_dir, name), (time.time() - 30 * 3600,) * 2)
        self.assertEqual(self.d.api("PUT", "/connections/d365/secrets/client_secret", {"value": "a-wrong-secret"})[0], 200)
        doc = self.preflight()  # refused credentials: one line for Dynamics 365, Campaign checked all the same
        d365 = [c for c in doc["checks"] if c["connection"] == "d365"]
        self.assertEqual([(c["check"], c["ok"]) for c in d365], [("credentials", False)], d365)
        self.assertIn("invalid_client", d365[0]["detail"])
        self.assertTrue(any(c["connection"] == "acs" and c["ok"] for c in doc["checks"]))
        self.assertEqual(self.d.api("PUT", "/connections/d365/secrets/client_secret", {"value": W.L.SECRET})[0], 200)
        doc = self.preflight()
        stale = [c for c in doc["checks"] if c["check"] == "opt-out export"]
        self.assertTrue(stale and not stale[0]["ok"] and "h" in stale[0]["detail"], stale)
        self.env.acs.emu.stop()  # Campaign unreachable: one failed line; Dynamics 365 is checked all the same
        doc = self.preflight()
        acs = [c for c in doc["checks"] if c["connection"] == "acs"]
        self.assertEqual([c["ok"] for c in acs], [False], acs)
        self.assertIn("Couldn't connect", acs[0]["detail"])
        self.assertTrue(any(c["connection"] == "d365" and c["check"] == "columns" and c["ok"] for c in doc["checks"]))

    def test_9_adobe_solution_tables_pass(self):
        """An org holding the activity tables as Adobe's solution ships them (a tracking URL on clicks only):
        every Dynamics 365 check passes, and setup has nothing to do."""
        empty_org(self.env, setup_done=True)
        doc = self.preflight()
        self.assertFalse([c for c in doc["checks"] if c["connection"] == "d365" and not c["ok"]])
        rc, out, _ = self.ctl("--json", "setup", "dynamics365")
        self.assertEqual((rc, json.loads(out)["changed"]), (0, 0), out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
