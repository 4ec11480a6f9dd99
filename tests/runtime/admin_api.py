#!/usr/bin/env python3
"""admin_api.py - the admin API of the real daemon over real HTTP: every endpoint, every error status,
auth required and refused, state-illegal starts and stops, an edit that stays pending until stop+start
and then takes effect at the sink, replay, dead letters and redrive, secrets never in a body or the log,
and 200 concurrent pollers while records flow.
"""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon, captured_keys, poll_concurrently, raw_exchange  # noqa: E402

SECRET = "sink-credential-let-me-in"
WORKFLOWS = """  - id: main
    title: Main flow
    source: mem
    sink: cap
    writers: 2
    batch_size: 50
    mappings: [{stream: contacts}]
  - id: broken
    source: mem
    sink: cap-forbidden
    autostart: false
    mappings: [{stream: contacts}]
  - id: rejecting
    source: mem
    sink: cap-rejecting
    mappings: [{stream: contacts}]"""


class AdminApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = cls.d = Daemon(WORKFLOWS, connections="")
        secret_file = os.path.join(d.path, "sink.secret")
        with open(secret_file, "w") as f:
            f.write("let-me-in\n")
        os.chmod(secret_file, 0o600)
        with open(d.conf) as f:
            text = f.read()
        text = text.replace("connections:\n", f"""connections:
  cap-forbidden: {{connector: capture-sink, file: {d.path}/forbidden, start_fatal: true}}
  cap-rejecting: {{connector: capture-sink, file: {d.path}/rejecting, reject_every: 400, api_token_file: {secret_file}}}
""", 1)
        with open(d.conf, "w") as f:
            f.write(text)
        cls.secret_file = secret_file
        d.start()
        d.wait_for("main", lambda w: w["status"] == "RUNNING" and w["backlog"] == 0 and w["records_written"] == 2000,
                   what="initial sync")

    @classmethod
    def tearDownClass(cls):
        log = cls.d.read_log()
        code = cls.d.stop()
        cls.d.cleanup()
        assert "let-me-in" not in log, "a secret reached the log"
        assert cls.d.token not in log, "the admin token reached the log"
        assert code == 0, f"crmsyncd exited {code} on SIGTERM"

    def error(self, doc):
        self.assertIn("error", doc)
        self.assertIsInstance(doc["error"]["code"], str)
        self.assertIsInstance(doc["error"]["message"], str)
        return doc["error"]

    # ---- reads ------------------------------------------------------------------------------------
    def test_workflows_list(self):
        status, doc, _, _ = self.d.request("GET", "/api/v1/workflows", token=False)
        self.assertEqual(status, 200)
        by_id = {w["id"]: w for w in doc["workflows"]}
        self.assertEqual(set(by_id), {"main", "broken", "rejecting"})
        w = by_id["main"]
        for key in ("id", "title", "status", "substate", "reason", "backlog", "dead_letters", "pending",
                    "running_revision", "latest_revision", "last_success_at", "rates"):
            self.assertIn(key, w)
        self.assertEqual(w["title"], "Main flow")
        self.assertEqual(w["status"], "RUNNING")
        self.assertFalse(w["pending"])
        self.assertGreater(w["last_success_at"], 0)
        self.assertGreater(w["rates"]["written_per_s"], 0)
        self.assertEqual(by_id["broken"]["status"], "STOPPED")

    def test_unknown_resources(self):
        status, doc, _, _ = self.d.request("GET", "/api/v1/workflows/nope")
        self.assertEqual(status, 404)
        self.error(doc)
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/nope/start")
        self.assertEqual(status, 404)
        self.assertIn("nope", self.error(doc)["message"])
        status, doc, _, _ = self.d.request("GET", "/api/v1/nothing")
        self.assertEqual(status, 404)
        status, doc, _, _ = self.d.request("GET", "/elsewhere")
        self.assertEqual(status, 404)

    def test_plugins_connections_health_metrics(self):
        status, doc, text, _ = self.d.request("GET", "/api/v1/plugins")
        self.assertEqual(status, 200)
        plug = doc["plugins"][0]
        self.assertEqual(plug["name"], "testplug")
        self.assertRegex(plug["abi"], r"^1\.\d+$")
        self.assertIn({"kind": "connector", "name": "capture-sink"}, plug["components"])
        status, doc, text, _ = self.d.request("GET", "/api/v1/connections")
        self.assertEqual(status, 200)
        conns = {c["name"]: c for c in doc["connections"]}
        self.assertEqual(conns["cap-rejecting"]["options"]["api_token"], {"set": True})
        self.assertEqual(conns["cap"]["options"]["api_token"], {"set": False})
        self.assertEqual(conns["mem"]["options"]["records"], 2000)
        self.assertNotIn("let-me-in", text)
        status, doc, _, _ = self.d.request("GET", "/api/v1/health")
        self.assertEqual((status, doc["status"]), (200, "ok"), doc)
        # where probes look: /healthz is the health check, /readyz says every workflow that should run runs
        for path, word in (("/healthz", "ok"), ("/readyz", "ready"), ("/api/v1/ready", "ready")):
            status, doc, _, _ = self.d.request("GET", path, token=False)
            self.assertEqual((status, doc["status"], doc["problems"]), (200, word, []), (path, doc))
        status, _, text, resp = self.d.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/plain; version=0.0.4"))
        self.assertIn('crmsync_records_written_total{workflow="main"} ', text)
        self.assertIn('crmsync_workflow_status{workflow="main",status="RUNNING"} 1', text)
        self.assertIn('crmsync_write_duration_seconds_bucket{workflow="main",le="+Inf"}', text)
        self.assertIn("# TYPE crmsync_write_duration_seconds histogram", text)
        self.assertRegex(text, r'crmsync_plugin_events_total\{workflow="main",name="capture_writes"\} [1-9]')
        self.assertIn("# TYPE crmsync_remote_calls_total counter", text)

    # ---- auth -------------------------------------------------------------------------------------
    def test_auth(self):
        status, doc, _, resp = self.d.request("POST", "/api/v1/workflows/broken/start", token=False)
        self.assertEqual(status, 401)
        self.assertEqual(self.error(doc)["code"], "unauthorized")
        self.assertIn("Bearer", resp.getheader("WWW-Authenticate"))
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/broken/start", token="admin-secret-tokeX")
        self.assertEqual(status, 403)
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/broken/start", token="admin")
        self.assertEqual(status, 403)
        self.assertEqual(self.d.workflow("broken")["status"], "STOPPED")

    # ---- state machine ----------------------------------------------------------------------------
    def test_y_illegal_transitions_and_health(self):
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/main/start")
        self.assertEqual(status, 409)
        err = self.error(doc)
        self.assertEqual(err["status"], "RUNNING")
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/broken/stop")
        self.assertEqual(status, 409)
        self.assertEqual(self.error(doc)["status"], "STOPPED")
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/broken/start")
        self.assertEqual(status, 200, doc)
        w = self.d.wait_for("broken", lambda w: w["status"] == "FAILED", what="FAILED")
        self.assertIn("403 Forbidden", w["reason"])
        status, doc, _, _ = self.d.request("GET", "/api/v1/health")
        self.assertEqual(status, 503)
        self.assertEqual(doc["problems"][0]["workflow"], "broken")
        for path, word in (("/healthz", "degraded"), ("/readyz", "not_ready")):
            status, doc, _, _ = self.d.request("GET", path, token=False)
            self.assertEqual((status, doc["status"], doc["problems"][0]["workflow"]), (503, word, "broken"),
                             (path, doc))
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/broken/stop")
        self.assertEqual(status, 409)
        self.assertEqual(self.error(doc)["status"], "FAILED")

    # ---- bodies -----------------------------------------------------------------------------------
    def test_bad_bodies(self):
        path = "/api/v1/workflows/main/definition"
        status, doc, _, _ = self.d.request("PUT", path, raw=b"{}", content_type="text/plain")
        self.assertEqual((status, self.error(doc)["code"]), (415, "unsupported_media_type"))
        status, doc, _, _ = self.d.request("PUT", path, raw=b'{"id": "main",')
        self.assertEqual((status, self.error(doc)["code"]), (400, "malformed_json"))
        # refused on its head: the body is never sent
        status, _, answer = raw_exchange(self.d.port, f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         f"Authorization: Bearer {self.d.token}\r\nContent-Type: application/json\r\n"
                                         f"Content-Length: {1024 * 1024 + 1}\r\n\r\n".encode())
        self.assertEqual((status, self.error(json.loads(answer))["code"]), (413, "body_too_large"))
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/main/replay", body={"mapping": "contacts", "x": 1})
        self.assertEqual((status, self.error(doc)["code"]), (400, "unknown_field"))
        status, doc, _, _ = self.d.request("POST", "/api/v1/workflows/main/replay", body={"mapping": 5})
        self.assertEqual(status, 400)
        status, doc, _, _ = self.d.request("GET", "/api/v1/workflows/main/dead-letters?limit=0")
        self.assertEqual(status, 400)
        status, doc, _, _ = self.d.request("GET", "/api/v1/workflows/main/revisions/zero")
        self.assertEqual(status, 400)

    def test_invalid_definition_changes_nothing(self):
        before = self.d.request("GET", "/api/v1/workflows/main/revisions")[1]["revisions"]
        status, doc, _, _ = self.d.request("GET", "/api/v1/workflows/main/definition")
        definition = doc["definition"]
        bad = dict(definition, writers=0, sink="nowhere", colour="red")
        bad["mappings"] = [{"stream": "contacts", "stages": [{"name": "no-such-stage"}]}]
        status, doc, _, _ = self.d.request("PUT", "/api/v1/workflows/main/definition", body=bad)
        self.assertEqual(status, 400, doc)
        err = self.error(doc)
        self.assertEqual(err["code"], "invalid_definition")
        paths = {e["path"]: e["message"] for e in err["details"]}
        self.assertIn("colour", paths)
        self.assertIn("unknown key", paths["colour"])
        self.assertEqual(paths["writers"], "must be between 1 and 64, got 0")
        status, doc, _, _ = self.d.request("PUT", "/api/v1/workflows/main/definition",
                                           body=dict(definition, sink="nowhere", mappings=bad["mappings"]))
        paths = {e["path"]: e["message"] for e in self.error(doc)["details"]}
        self.assertEqual(paths["sink"], 'unknown connection "nowhere"')
        self.assertIn('no loaded plugin provides the stage "no-such-stage"', paths["mappings[0].stages[0].name"])
        status, doc, _, _ = self.d.request("PUT", "/api/v1/workflows/main/definition", body=dict(definition, id="other"))
        self.assertEqual(status, 400)
        # a replacement rule without its field (it killed the daemon)
        table = {"stream": "contacts", "key": {"source": "id", "target": "ext"},
                 "fields": [{"source": "a", "target": "b"}], "replacements": [{"fiel": "a", "from": 1, "to": 2}]}
        status, doc, _, _ = self.d.request("PUT", "/api/v1/workflows/main/definition",
                                           body=dict(definition, mappings=[table]))
        self.assertEqual(status, 400, doc)
        paths = {e["path"]: e["message"] for e in self.error(doc)["details"]}
        self.assertEqual(paths["mappings[0].replacements[0].field"], "required")
        after = self.d.request("GET", "/api/v1/workflows/main/revisions")[1]["revisions"]
        self.assertEqual(before, after)

    def test_vocabulary_is_what_the_schema_accepts(self):
        """The page's filter operators and conversion types come from the daemon, from the very list the
        definition check uses: every operator and type it serves is accepted, and a word it does not
        serve is refused with the served words as the choices."""
        status, doc, _, _ = self.d.request("GET", "/api/v1/vocabulary")
        self.assertEqual(status, 200, doc)
        ops = [o["name"] for o in doc["filter_operators"]]
        types = [t["name"] for t in doc["convert_types"]]
        matches = [m["name"] for m in doc["filter_matches"]]
        self.assertEqual(sorted(matches), ["all", "any"])
        self.assertIn("startswith", ops)
        self.assertIn("datetime", types)
        words = doc["filter_operators"] + doc["filter_matches"] + doc["convert_types"]
        self.assertTrue(all(w["label"] for w in words))
        definition = self.d.request("GET", "/api/v1/workflows/main/definition")[1]["definition"]
        fields = [{"source": "a", "target": "t%d" % i, "type": t} for i, t in enumerate(types + ["bogus"])]
        rules = [{"field": "a", "op": op, "value": [1] if op == "in" else 1} for op in ops + ["bogus"]]
        table = {"stream": "contacts", "key": {"source": "id", "target": "ext"}, "fields": fields,
                 "filters": {"rules": rules, "match": "bogus"}}
        # writers: 0 keeps the definition refused, so nothing is saved whatever the rest says
        status, doc, _, _ = self.d.request("PUT", "/api/v1/workflows/main/definition",
                                           body=dict(definition, writers=0, mappings=[table]))
        self.assertEqual(status, 400, doc)
        paths = {e["path"]: e["message"] for e in self.error(doc)["details"]}
        bad_rule = "mappings[0].filters.rules[%d].op" % len(ops)
        bad_field = "mappings[0].fields[%d].type" % len(types)
        bad_match = "mappings[0].filters.match"
        self.assertEqual(sorted(p for p in paths if p.startswith("mappings")), sorted([bad_rule, bad_field, bad_match]),
                         paths)
        for word in matches:
            self.assertIn(word, paths[bad_match])
        for word in matches:  # and each word it serves is accepted
            status, doc, _, _ = self.d.request("PUT", "/api/v1/workflows/main/definition", body=dict(
                definition, writers=0, mappings=[dict(table, fields=fields[:1], filters={"rules": [], "match": word})]))
            self.assertNotIn(bad_match, {e["path"] for e in self.error(doc)["details"]})
        for word in ops:
            self.assertIn(word, paths[bad_rule])
        for word in types:
            self.assertIn(word, paths[bad_field])

    # ---- the whole edit cycle ---------------------------------------------------------------------
    def test_z_edit_pending_restart_replay(self):
        d = self.d
        status, doc, _, _ = d.request("GET", "/api/v1/workflows/main/definition")
        self.assertEqual((status, doc["source"], doc["revision"]), (200, "config", 1))
        edited = dict(doc["definition"])
        edited["mappings"] = [{"stream": "contacts", "stages": [{"name": "reject-every", "every": 10}]}]
        status, doc, _, _ = d.request("PUT", "/api/v1/workflows/main/definition", body=edited,
                                      headers={"X-Crmsync-Author": "alice"})
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["revision"], 2)
        self.assertTrue(doc["pending"])
        w = d.workflow("main")
        self.assertTrue(w["pending"])
        self.assertEqual((w["running_revision"], w["latest_revision"]), (1, 2))
        revs = d.request("GET", "/api/v1/workflows/main/revisions")[1]["revisions"]
        self.assertEqual([(r["revision"], r["source"], r["author"]) for r in revs],
                         [(2, "api", "alice"), (1, "config", None)])
        status, doc, _, _ = d.request("GET", "/api/v1/workflows/main/revisions/2")
        self.assertEqual(doc["diff"], [{"path": "$.mappings[0].stages", "op": "added",
                                        "to": [{"name": "reject-every", "every": 10}]}])
        # stop + start: the new revision runs; a replay shows its effect at the sink
        self.assertEqual(d.request("POST", "/api/v1/workflows/main/stop")[0], 200)
        self.assertEqual(d.workflow("main")["status"], "STOPPED")
        self.assertEqual(d.request("POST", "/api/v1/workflows/main/start")[0], 200)
        w = d.wait_for("main", lambda w: w["status"] == "RUNNING", what="RUNNING")
        self.assertEqual((w["running_revision"], w["pending"]), (2, False))
        d.wait_for("main", lambda w: w["backlog"] == 0, what="drained")
        before = len(captured_keys(d.path))
        # a replay is staged: it shows as pending and begins only at the next stop + start
        status, doc, _, _ = d.request("POST", "/api/v1/workflows/main/replay", body={"mapping": "contacts"})
        self.assertEqual(status, 200, doc)
        self.assertIn("next stop and start", doc["message"])
        self.assertEqual(d.workflow("main")["replay_pending"], ["contacts"])
        time.sleep(1.5)
        self.assertEqual(len(captured_keys(d.path)), before, "nothing is replayed before the restart")
        self.assertEqual(d.request("POST", "/api/v1/workflows/main/stop")[0], 200)
        self.assertEqual(d.request("POST", "/api/v1/workflows/main/start")[0], 200)
        d.wait_for("main", lambda w: w["dead_letters"] == 200 and w["backlog"] == 0 and not w["replay_pending"],
                   what="replayed")
        replayed = captured_keys(d.path)[before:]
        self.assertEqual(len(replayed), 1800)
        self.assertFalse([k for k in replayed if int(k[1:]) % 10 == 0])
        status, doc, _, _ = d.request("POST", "/api/v1/workflows/main/replay", body={"mapping": "accounts"})
        self.assertEqual(status, 404)

    def test_dead_letters_and_redrive(self):
        d = self.d
        w = d.wait_for("rejecting", lambda w: w["status"] == "RUNNING" and w["dead_letters"] == 5, what="5 rejects")
        status, doc, text, _ = d.request("GET", "/api/v1/workflows/rejecting/dead-letters?limit=2")
        self.assertEqual(status, 200)
        page = doc["dead_letters"]
        self.assertEqual(len(page), 2)
        self.assertEqual(page[0]["http_status"], 400)
        self.assertEqual(page[0]["error_class"], "rejected")
        self.assertNotIn("payload", page[0])
        status, doc, _, _ = d.request("GET", f"/api/v1/workflows/rejecting/dead-letters?after={page[1]['id']}&include=payload")
        rest = doc["dead_letters"]
        self.assertEqual(len(rest), 3)
        self.assertIn("payload", rest[0])
        status, doc, _, _ = d.request("POST", f"/api/v1/workflows/rejecting/dead-letters/{page[0]['id']}/redrive")
        self.assertEqual((status, doc["redriven"]), (200, 1))
        status, doc, _, _ = d.request("POST", "/api/v1/workflows/rejecting/dead-letters/redrive")
        # the other 4, plus the first one again if the sink refused it again in between
        self.assertEqual(status, 200)
        self.assertIn(doc["redriven"], (4, 5))
        # the sink still refuses them: they come back as new dead letters, nothing is lost
        d.wait_for("rejecting", lambda w: w["dead_letters"] == 5 and w["backlog"] == 0, what="re-rejected")
        status, doc, _, _ = d.request("POST", "/api/v1/workflows/rejecting/dead-letters/999999/redrive")
        self.assertEqual(status, 404)


class Listeners(unittest.TestCase):
    def test_non_loopback_needs_token(self):
        d = Daemon("  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]", token=None,
                   listen="0.0.0.0:0")
        try:
            d.start(wait_port=False)
            code = d.proc.wait(timeout=20)
            self.assertEqual(code, 78)
            self.assertIn("is not a loopback address: set admin.token_file", d.read_log())
        finally:
            d.cleanup()

    def test_non_loopback_requires_token_for_reads(self):
        d = Daemon("  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]",
                   listen="0.0.0.0:0").start()
        try:
            self.assertEqual(d.request("GET", "/api/v1/workflows", token=False)[0], 401)
            self.assertEqual(d.request("GET", "/api/v1/workflows")[0], 200)
        finally:
            d.cleanup()

    def test_group_readable_token_file_refused(self):
        d = Daemon("  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]")
        os.chmod(d.token_file, 0o640)
        try:
            d.start(wait_port=False)
            self.assertEqual(d.proc.wait(timeout=20), 78)
            self.assertIn("readable by group or others", d.read_log())
        finally:
            d.cleanup()


    def test_ipv6_loopback(self):
        if not socket.has_ipv6:
            self.skipTest("no IPv6 on this host")
        d = Daemon("  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]", listen="[::1]:0")
        try:
            d.start()
            conn = http.client.HTTPConnection("::1", d.port, timeout=10)
            conn.request("GET", "/api/v1/workflows")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        finally:
            d.cleanup()

    @unittest.skipUnless(shutil.which("openssl"), "openssl is needed to make a test certificate")
    def test_tls(self):
        d = Daemon("  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]")
        cert, key = os.path.join(d.path, "cert.pem"), os.path.join(d.path, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
        os.chmod(key, 0o600)
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text.replace("admin: {", f"admin: {{tls_cert_file: {cert}, tls_key_file: {key}, ", 1))
        try:
            d.start()
            self.assertIn("listening on https://", d.read_log())
            ctx = ssl.create_default_context(cafile=cert)
            ctx.check_hostname = False
            conn = http.client.HTTPSConnection("127.0.0.1", d.port, context=ctx, timeout=10)
            conn.request("GET", "/api/v1/workflows")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
            plain = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
            with self.assertRaises(Exception):
                plain.request("GET", "/api/v1/workflows")
                plain.getresponse()
            plain.close()
        finally:
            d.cleanup()


class Load(unittest.TestCase):
    def test_slow_clients_do_not_block(self):
        d = Daemon("  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]").start()
        stalled = []
        try:
            for _ in range(50):
                s = socket.create_connection(("127.0.0.1", d.port))
                s.sendall(b"GET /api/v1/workflows HTTP/1.1\r\nHost: x\r\n")  # headers never finish
                stalled.append(s)
            status, doc, _, _ = d.request("GET", "/api/v1/workflows")
            self.assertEqual(status, 200)
        finally:
            for s in stalled:
                s.close()
            d.cleanup()

    def test_200_pollers_while_records_flow(self):
        d = Daemon("  - id: flow\n    source: many\n    sink: cap\n    writers: 2\n    batch_size: 50\n"
                   "    mappings: [{stream: contacts}]",
                   connections="  many: {connector: memory-source, records: 20000, page: 200}").start()
        try:
            requests, errors = poll_concurrently(d.port, "/api/v1/workflows", 200, 3)
            self.assertEqual(errors, [])
            self.assertGreater(requests, 200)
            d.wait_for("flow", lambda w: w["records_written"] == 20000 and w["backlog"] == 0, timeout=120,
                       what="all delivered")
            keys = captured_keys(d.path)
            self.assertEqual(len(keys), 20000)
            self.assertEqual(len(set(keys)), 20000)
            print(f"200 pollers: {requests} requests in 3 s, no errors", file=sys.stderr)
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
