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
    unreachable system never stops the other system's checks.
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
        with open(self.conf) as f:
            doc = json.load(f)
        ingress = [w for w in doc["workflows"] if w["id"] == WL.INGRESS][0]
        ingress["limits"] = dict(ingress.get("limits") or {}, columns=60)  # past Adobe's 50: preflight warns
        ingress["mappings"].append({"stream": "new_vehicles", "target": "cusNothing",
                                    "key": {"source": "new_vehicleid", "target": "externalId"},
                                    "fields": [{"source": "new_c%d" % i, "target": "c%d" % i} for i in range(51)]})
        doc["connections"]["acs"]["journal_url"] += "-unknown"
        conf = self.env.s.path("preflight-acs.conf")
        with open(conf, "w") as f:
            json.dump(doc, f)
        cls = type(self)
        cls.d.stop()  # one daemon per state directory
        cls.d = W.Daemon(conf, self.env.s.path("daemon-acs.log"))
        try:
            cls.d.wait_port()
            checks = {(c.get("workflow"), c["check"]): c for c in self.preflight()["checks"] if c["connection"] == "acs"}
        finally:
            cls.d.stop()
            cls.d = W.Daemon(self.conf, self.env.s.path("daemon.log"))
            cls.d.wait_port()
        res = checks[(WL.INGRESS, "resource cusNothing")]
        self.assertFalse(res["ok"])
        self.assertRegex(res["fix"], r"Custom resources: create cusNothing with the fields externalId \(Text\), c0 "
                                     r"\(Text\).*Identification keys: a key on externalId.*Definition of filters: "
                                     r"byExternalId .*Publish")
        self.assertTrue(checks[(WL.INGRESS, "resource profile")]["ok"])
        self.assertFalse(checks[(WL.INGRESS, "guardrail: columns")]["ok"])
        self.assertIn("51 column(s)", checks[(WL.INGRESS, "guardrail: columns")]["detail"])
        self.assertFalse(checks[(WL.EGRESS, "I/O Events journal")]["ok"])

    def test_5_stale_export_and_unreachable_campaign(self):
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

    def test_6_adobe_solution_tables_pass(self):
        """An org holding the activity tables as Adobe's solution ships them (a tracking URL on clicks only):
        every Dynamics 365 check passes, and setup has nothing to do."""
        empty_org(self.env, setup_done=True)
        doc = self.preflight()
        self.assertFalse([c for c in doc["checks"] if c["connection"] == "d365" and not c["ok"]])
        rc, out, _ = self.ctl("--json", "setup", "dynamics365")
        self.assertEqual((rc, json.loads(out)["changed"]), (0, 0), out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
