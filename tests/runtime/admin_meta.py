#!/usr/bin/env python3
"""admin_meta.py - the admin API resources the Workflows page's editors and Settings use, on the real
daemon with the real connectors against both emulators (the three workflows of tests/web/weblib.py):
  GET  /api/v1/connections/{name}/tables[/{table}]   live metadata (describe(NULL) and describe(table))
  POST /api/v1/connections/{name}/check              connectivity, in words
  PUT  /api/v1/connections/{name}/secrets/{option}   a secret kept in a file, replaced
  GET  / and the page's files                        admin.web_dir: types, security headers, no listing,
                                                     no traversal, no symbolic link leading out
and POST /api/v1/session (the page's token check). Every answer is checked for the secrets. Live metadata
needs a token even on loopback, is cached (admin.metadata_ttl) and rate-limited per connection
(admin.remote_requests_per_minute).
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web"))
import weblib as WL  # noqa: E402

W = WL.W
ENV_SECRET = "d365-secret-from-the-environment"
SECRETS = (W.acstest.SECRET, W.L.SECRET, W.ADMIN_TOKEN, ENV_SECRET, "wrong-campaign-secret-0815")


class AdminMeta(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = WL.Env("meta", seed=40)
        cls.web = tempfile.mkdtemp(prefix="crmsync-web-")
        os.mkdir(os.path.join(cls.web, "sub"))
        for name, text in (("index.html", "<!doctype html><title>t</title>"), ("app.js", "export const x = 1;\n"),
                           ("app.css", "body{}\n"), (".hidden.js", "secret\n"), ("sub/page.html", "<p>sub</p>"),
                           ("data.bin", "\x00\x01")):
            with open(os.path.join(cls.web, name), "w") as f:
                f.write(text)
        os.symlink("/etc/passwd", os.path.join(cls.web, "outside.txt"))
        conf = WL.config(cls.env, name="meta.conf")
        with open(conf) as f:
            doc = json.load(f)
        doc["admin"]["web_dir"] = cls.web
        d365env = dict(doc["connections"]["d365"])
        del d365env["client_secret_file"]
        d365env["client_secret_env"] = "CRMSYNC_TEST_D365_SECRET"
        doc["connections"]["d365-env"] = d365env
        with open(conf, "w") as f:
            json.dump(doc, f, indent=1)
        os.environ["CRMSYNC_TEST_D365_SECRET"] = W.L.SECRET
        cls.conf = conf
        cls.d = W.Daemon(conf, cls.env.s.path("daemon.log"))
        cls.d.wait_port()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        log = cls.d.read_log()
        cls.env.close()
        shutil.rmtree(cls.web, ignore_errors=True)
        assert rc == 0, "crmsyncd exited %s" % rc
        for s in SECRETS:
            assert s not in log, "a secret reached the daemon's log"

    # ---- helpers ---------------------------------------------------------------------------------------
    def raw(self, method, path, body=None, token=True, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=60)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + W.ADMIN_TOKEN
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        conn.close()
        for s in SECRETS:
            self.assertNotIn(s, text, "a secret in the answer to %s %s" % (method, path))
        return r, text

    def api(self, method, path, body=None, token=True):
        r, text = self.raw(method, "/api/v1" + path, body, token)
        return r.status, (json.loads(text) if text else None)

    def put_secret(self, conn, option, value):
        return self.api("PUT", "/connections/%s/secrets/%s" % (conn, option), {"value": value})

    # ---- tables ----------------------------------------------------------------------------------------
    def test_d365_tables(self):
        code, doc = self.api("GET", "/connections/d365/tables")
        self.assertEqual(code, 200, doc)
        by = {t["name"]: t for t in doc["tables"]}
        self.assertEqual((by["contacts"]["table"], by["contacts"]["label"], by["contacts"]["change_tracking"]),
                         ("contact", "Contact", True))
        self.assertFalse(by["new_settings"]["change_tracking"])
        self.assertEqual(by["new_baits"]["label"], "Bait " + WL.BAIT)  # as the service has it: the page escapes
        self.assertEqual((by["email-sends"]["table"], by["email-sends"]["configured"]), ("new_acsemailsend", True))
        self.assertTrue(by["contact-optouts"]["configured"])

    def test_acs_tables(self):
        code, doc = self.api("GET", "/connections/acs/tables")
        self.assertEqual(code, 200, doc)
        by = {t["name"]: t for t in doc["tables"]}
        self.assertEqual((by["profiles"]["resource"], by["profiles"]["configured"]), ("profile", True))
        self.assertEqual((by["profile"]["api"], by["cusMembership"]["api"]), ("profileAndServicesExt",) * 2)
        self.assertEqual((by["cusBait"]["api"], by["cusBait"]["label"]), ("customResources", "Bait " + WL.BAIT))
        self.assertNotIn("email-events.send", by)

    def test_describe(self):
        code, c = self.api("GET", "/connections/d365/tables/contacts")
        self.assertEqual(code, 200, c)
        self.assertEqual((c["name"], c["key"]), ("contact", "contactid"))
        self.assertEqual(c["fields"]["gendercode"]["labels"], {"1": "Male", "2": "Female"})
        self.assertEqual(c["fields"]["birthdate"]["type"], "date")
        self.assertEqual(c["fields"]["donotbulkemail"]["type"], "boolean")
        # a table no stream names: described on demand, by logical or entity set name
        for name in ("new_bait", "new_baits"):
            code, t = self.api("GET", "/connections/d365/tables/" + name)
            self.assertEqual((code, t["key"], t["name"]), (200, "new_baitid", "new_bait"), t)
        code, p = self.api("GET", "/connections/acs/tables/profiles")
        self.assertEqual((code, p["name"], p["key"]), (200, "profile", "externalId"), p)
        self.assertTrue(p["fields"]["externalId"]["unique"])
        self.assertEqual(p["fields"]["location.city"]["type"], "string")
        code, r = self.api("GET", "/connections/acs/tables/cusBait")
        self.assertEqual((code, r["api"], r["fields"]["code"].get("unique")), (200, "customResources", True), r)
        self.assertNotIn("key", r)  # no key is chosen for a resource no target names
        code, r = self.api("GET", "/connections/acs/tables/profile")
        self.assertEqual((code, r["api"]), (200, "profileAndServicesExt"))

    def test_describe_unknown(self):
        for conn, table in (("d365", "nosuch"), ("d365", "x'y"), ("acs", "cusNothing"), ("acs", "email-events.send")):
            code, doc = self.api("GET", "/connections/%s/tables/%s" % (conn, table.replace("'", "%27")))
            self.assertEqual(code, 404, (conn, table, doc))
            self.assertIn("has no table", doc["error"]["message"])
        for path in ("/connections/nope/tables", "/connections/nope/tables/contacts"):
            code, doc = self.api("GET", path)
            self.assertEqual(code, 404)
            self.assertIn('no connection "nope"', doc["error"]["message"])
        self.assertEqual(self.api("GET", "/connections/d365/nothing")[0], 404)

    def dv_served(self):
        """How many requests the Dataverse emulator has served."""
        return W.L.control(self.env.dv_url, "GET", "requests?since=999999999")["last"]

    def test_metadata_needs_token_and_is_cached(self):
        paths = ("/connections/d365/tables", "/connections/d365/tables/contacts", "/connections/d365/tables/nosuch")
        first = [self.api("GET", p)[0] for p in paths]  # asked once (or cached already)
        self.assertEqual(first, [200, 200, 404])
        served = self.dv_served()
        for _ in range(10):
            self.assertEqual([self.api("GET", p)[0] for p in paths], first)
            for p in paths:  # loopback is no excuse: a page or a local user without the token gets nothing
                code, doc = self.api("GET", p, token=False)
                self.assertEqual(code, 401, doc)
        self.assertEqual(self.dv_served(), served, "answers within admin.metadata_ttl are the cache's")

    # ---- check and secrets -----------------------------------------------------------------------------
    def test_check(self):
        for conn in ("d365", "acs"):
            code, doc = self.api("POST", "/connections/%s/check" % conn)
            self.assertEqual(code, 200, doc)
            self.assertTrue(doc["ok"], doc)
            self.assertRegex(doc["result"], r"^connected: the credentials were accepted and \d+ tables are visible")
        self.assertEqual(self.api("POST", "/connections/nope/check")[0], 404)
        self.assertEqual(self.api("POST", "/connections/acs/check", token=False)[0], 401)
        # a transient failure is told apart from a refusal
        W.L.control(self.env.dv_url, "POST", "faults", {"kind": "error", "status": 503, "path": "EntityDefinitions",
                                                        "seconds": 4})
        try:
            code, doc = self.api("POST", "/connections/d365/check")
        finally:
            W.L.control(self.env.dv_url, "DELETE", "faults")
        self.assertEqual(code, 200)
        self.assertFalse(doc["ok"])
        self.assertIn("cannot reach it right now", doc["result"])
        self.assertIn("503", doc["result"])

    def test_secret_refusals(self):
        for body in ({"value": ""}, {"value": 1}, {"value": "x", "more": 1}, {}, {"secret": "x"}):
            code, doc = self.api("PUT", "/connections/acs/secrets/client_secret", body)
            self.assertEqual(code, 400, (body, doc))
        r, _ = self.raw("PUT", "/api/v1/connections/acs/secrets/client_secret", b'{"value": "a\\u0000b"}')
        self.assertEqual(r.status, 400)
        code, doc = self.put_secret("acs", "client_id", "x")
        self.assertEqual(code, 404)
        self.assertIn("not a secret option", doc["error"]["message"])
        code, doc = self.put_secret("nope", "client_secret", "x")
        self.assertEqual(code, 404)
        code, doc = self.put_secret("d365-env", "client_secret", "x")
        self.assertEqual(code, 409)
        self.assertIn("CRMSYNC_TEST_D365_SECRET", doc["error"]["message"])
        r, _ = self.raw("PUT", "/api/v1/connections/acs/secrets/client_secret", {"value": "x"}, token=False)
        self.assertEqual(r.status, 401)
        with open(self.env.acs.secret) as f:
            self.assertEqual(f.read().strip(), W.acstest.SECRET, "a refused call changed nothing")

    def test_z_secret_replaced(self):
        """Written atomically and owner-only, never echoed, used by the next check and the next start."""
        wrong = "wrong-campaign-secret-0815"
        code, doc = self.put_secret("acs", "client_secret", wrong)
        self.assertEqual((code, doc), (200, {"set": True}))
        with open(self.env.acs.secret) as f:
            self.assertEqual(f.read(), wrong + "\n")
        self.assertEqual(os.stat(self.env.acs.secret).st_mode & 0o777, 0o600)
        self.assertEqual([n for n in os.listdir(os.path.dirname(self.env.acs.secret)) if ".secret." in n or
                          n.startswith("secret.")], [], "no temporary file left beside it")
        code, doc = self.api("GET", "/connections")
        acs = {c["name"]: c for c in doc["connections"]}["acs"]
        self.assertEqual(acs["options"]["client_secret"], {"set": True})
        code, doc = self.api("POST", "/connections/acs/check")
        self.assertFalse(doc["ok"])
        self.assertIn("refused", doc["result"])
        # the next start of a workflow of the connection uses it: refused, FAILED with the reason
        code, doc = self.api("POST", "/workflows/%s/start" % WL.INGRESS)
        self.assertEqual(code, 200, doc)
        W.wait_until(lambda: self.api("GET", "/workflows/" + WL.INGRESS)[1]["status"] == "FAILED", 60,
                     "the ingress workflow fails to start with the wrong secret")
        self.assertIn("invalid client_secret", self.api("GET", "/workflows/" + WL.INGRESS)[1]["reason"])
        code, doc = self.put_secret("acs", "client_secret", W.acstest.SECRET)
        self.assertEqual(code, 200)
        self.assertTrue(self.api("POST", "/connections/acs/check")[1]["ok"])
        self.assertEqual(self.api("POST", "/workflows/%s/start" % WL.INGRESS)[0], 200)
        W.wait_until(lambda: self.api("GET", "/workflows/" + WL.INGRESS)[1]["status"] == "RUNNING", 60,
                     "with the right secret the workflow starts")
        self.assertEqual(self.api("POST", "/workflows/%s/stop" % WL.INGRESS)[0], 200)

    def test_session(self):
        self.assertEqual(self.api("POST", "/session"), (200, {"authorized": True, "role": "operator"}))
        r, text = self.raw("POST", "/api/v1/session", token=False)
        self.assertEqual(r.status, 401)
        r, text = self.raw("POST", "/api/v1/session", token=False, headers={"Authorization": "Bearer nope"})
        self.assertEqual(r.status, 403)

    # ---- the page's files --------------------------------------------------------------------------------
    def test_static_files(self):
        for path, ctype in (("/", "text/html; charset=utf-8"), ("/app.js", "text/javascript; charset=utf-8"),
                            ("/app.css", "text/css; charset=utf-8"), ("/sub/page.html", "text/html; charset=utf-8"),
                            ("/data.bin", "application/octet-stream")):
            r, text = self.raw("GET", path, token=False)
            self.assertEqual((r.status, r.getheader("Content-Type")), (200, ctype), path)
            self.assertEqual(r.getheader("Content-Security-Policy").split(";")[0], "default-src 'self'")
            self.assertEqual((r.getheader("X-Content-Type-Options"), r.getheader("X-Frame-Options")), ("nosniff", "DENY"))
        self.assertIn("<title>t</title>", self.raw("GET", "/", token=False)[1])
        r, text = self.raw("HEAD", "/app.js", token=False)
        self.assertEqual((r.status, text), (200, ""))
        for path in ("/sub", "/sub/", "/nope.html", "/.hidden.js", "/outside.txt", "/../meta.conf", "/%2e%2e/meta.conf",
                     "/sub/..%2f..%2fmeta.conf", "/sub/%2e%2e/app.js", "//etc/passwd"):
            r, text = self.raw("GET", path, token=False)
            self.assertEqual(r.status, 404, path)
            self.assertNotIn("root:", text)
            self.assertEqual(r.getheader("X-Content-Type-Options"), "nosniff")
        # the API keeps its own answers, with nosniff too
        r, text = self.raw("GET", "/api/v1/health", token=False)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual(r.getheader("X-Content-Type-Options"), "nosniff")
        self.assertEqual(self.raw("GET", "/metrics", token=False)[0].status, 200)
        self.assertEqual(self.raw("POST", "/", token=True)[0].status, 404)

    def test_web_dir_option(self):
        with open(self.conf) as f:
            doc = json.load(f)
        doc["admin"]["web_dir"] = ""
        bad = self.env.s.path("bad.conf")
        with open(bad, "w") as f:
            json.dump(doc, f)
        p = subprocess.run([W.L.CRMSYNCD, "--check-config", "-c", bad], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("admin.web_dir", p.stdout + p.stderr)


class RemoteLimits(unittest.TestCase):
    """admin.remote_requests_per_minute: 1 and no cache (metadata_ttl: 0): the second call that would reach
    a connection's system within the minute is 429, and reaches nothing."""

    @classmethod
    def setUpClass(cls):
        cls.env = WL.Env("limits", seed=10)
        conf = WL.config(cls.env, name="limits.conf")
        with open(conf) as f:
            doc = json.load(f)
        doc["admin"].update(remote_requests_per_minute=1, metadata_ttl="0s")
        with open(conf, "w") as f:
            json.dump(doc, f, indent=1)
        cls.d = W.Daemon(conf, cls.env.s.path("daemon.log"))
        cls.d.wait_port()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.env.close()
        assert rc == 0, "crmsyncd exited %s" % rc

    def call(self, method, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=60)
        conn.request(method, "/api/v1" + path, headers={"Authorization": "Bearer " + W.ADMIN_TOKEN})
        r = conn.getresponse()
        doc = json.loads(r.read())
        conn.close()
        return r.status, doc, r.getheader("Retry-After")

    def test_second_call_within_the_minute_is_refused(self):
        self.assertEqual(self.call("GET", "/connections/d365/tables/contacts")[0], 200)
        served = W.L.control(self.env.dv_url, "GET", "requests?since=999999999")["last"]
        for method, path in (("GET", "/connections/d365/tables/contacts"), ("GET", "/connections/d365/tables"),
                             ("POST", "/connections/d365/check")):
            code, doc, retry = self.call(method, path)
            self.assertEqual((code, doc["error"]["code"]), (429, "rate_limited"), path)
            self.assertIn("admin.remote_requests_per_minute", doc["error"]["message"])
            self.assertTrue(1 <= int(retry) <= 60, retry)
        self.assertEqual(W.L.control(self.env.dv_url, "GET", "requests?since=999999999")["last"], served,
                         "a refused call reached Dataverse")
        self.assertEqual(self.call("GET", "/connections/acs/tables")[0], 200, "each connection has its own rate")
        self.assertEqual(self.call("GET", "/connections/nope/tables")[0], 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)
