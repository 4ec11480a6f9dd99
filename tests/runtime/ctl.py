#!/usr/bin/env python3
"""ctl.py - crmsyncctl against the real daemon: every command, its output and exit code, defaults taken
from the config file, and `edit` driven by a scripted $EDITOR that first saves an invalid definition,
is shown the daemon's errors, and fixes them.
"""
import json
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon  # noqa: E402

CTL = os.path.join(os.path.dirname(os.environ["CRMSYNCD"]), "crmsyncctl")
EDITOR = r'''
import sys
import os
path = sys.argv[1]
calls = os.environ["EDITOR_CALLS"]
n = int(open(calls).read()) + 1 if __import__("os").path.exists(calls) else 1
open(calls, "w").write(str(n))
text = open(path).read()
if "refused" in text:
    assert "writers: must be between 1 and 64, got 0" in text, text
    text = text.replace("writers: 0", "writers: 3")
else:
    assert "writers: 2" in text, text
    text = text.replace("writers: 2", "writers: 0")
open(path, "w").write(text)
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ctl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.d = Daemon("""  - id: main
    title: Main flow
    source: mem
    sink: cap
    writers: 2
    mappings: [{stream: contacts}]
  - id: broken
    source: mem
    sink: cap-forbidden
    autostart: false
    mappings: [{stream: contacts}]""", listen=f"127.0.0.1:{cls.port}")
        with open(cls.d.conf) as f:
            text = f.read()
        with open(cls.d.conf, "w") as f:
            f.write(text.replace("connections:\n", "connections:\n  cap-forbidden: {connector: capture-sink, "
                                 f"file: {cls.d.path}/x, start_fatal: true}}\n", 1))
        cls.d.start()
        cls.d.wait_for("main", lambda w: w["status"] == "RUNNING" and w["backlog"] == 0 and w["records_written"] == 2000)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def ctl(self, *args, env=None, config=True):
        cmd = [CTL] + (["-c", self.d.conf] if config else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})), timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_help_explains_options_and_exit_codes(self):
        p = subprocess.run([CTL, "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        for words in ("--url URL", "--token-file FILE", "-c CONFIG", "/crmsync/crmsync.conf", "--json",
                      "Exit status: 0 done", "3 no answer from the admin API", "7 health"):
            self.assertIn(words, p.stdout)

    def test_workflows(self):
        code, out, _ = self.ctl("workflows")
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("NAME"))
        main = [l for l in lines if l.startswith("Main flow")][0]
        self.assertIn("RUNNING", main)
        self.assertRegex(main, r"\s0\s+0\s+RUNNING")
        code, out, _ = self.ctl("workflows", "--json")
        self.assertEqual({w["id"] for w in json.loads(out)["workflows"]}, {"main", "broken"})

    def test_show_and_health(self):
        code, out, _ = self.ctl("show", "main")
        self.assertEqual(code, 0)
        self.assertIn("status:    RUNNING", out)
        self.assertIn("source: mem", out)
        self.assertEqual(self.ctl("show", "nope")[0], 4)
        code, out, _ = self.ctl("health")
        self.assertEqual((code, out.strip()), (0, "ok"))

    def test_start_stop_codes(self):
        code, _, err = self.ctl("start", "main")
        self.assertEqual(code, 5)
        self.assertIn("workflow main is RUNNING", err)
        code, out, _ = self.ctl("start", "broken", "--wait")
        self.assertEqual(code, 1)
        self.assertIn("FAILED", out)
        code, out, _ = self.ctl("health")
        self.assertEqual(code, 7)
        self.assertIn("broken is FAILED: sink \"cap-forbidden\" could not start", out)
        self.assertEqual(self.ctl("stop", "broken")[0], 5)

    def test_unknown_workflow_one_wording(self):
        """Every command, and every resource of the API, says the same of an unknown workflow, naming it and how
        to list them."""
        said = 'no workflow "bogus" (crmsyncctl workflows, or GET /api/v1/workflows, lists them)'
        for args in (["show", "bogus"], ["start", "bogus"], ["stop", "bogus"], ["edit", "bogus"],
                     ["revisions", "bogus"], ["revisions", "bogus", "1"], ["replay", "bogus", "contacts"],
                     ["dead-letters", "bogus"], ["redrive", "bogus"], ["redrive", "bogus", "3"]):
            code, out, err = self.ctl(*args, env={"EDITOR": "true", "VISUAL": "true"})
            self.assertEqual(code, 4, (args, out, err))
            self.assertEqual(err.strip(), "crmsyncctl: " + said, args)
        for method, path, body in (("GET", "", None), ("POST", "/start", None), ("POST", "/stop", None),
                                   ("GET", "/definition", None), ("PUT", "/definition", {"mappings": []}),
                                   ("GET", "/revisions", None), ("GET", "/revisions/1", None),
                                   ("POST", "/replay", {"mapping": "contacts"}), ("GET", "/dead-letters", None),
                                   ("POST", "/dead-letters/redrive", None), ("POST", "/dead-letters/3/redrive", None),
                                   ("GET", "/frobnicate", None)):
            status, doc, _, _ = self.d.request(method, "/api/v1/workflows/bogus" + path, body)
            self.assertEqual((status, doc["error"]["code"], doc["error"]["message"]), (404, "not_found", said),
                             (method, path))
        # a known workflow without that revision says what is missing
        status, doc, _, _ = self.d.request("GET", "/api/v1/workflows/main/revisions/99")
        self.assertEqual((status, doc["error"]["message"]),
                         (404, "workflow main has no revision 99 (crmsyncctl revisions main lists them)"))

    def test_errors(self):
        code, _, err = self.ctl("--url", "http://127.0.0.1:1", "workflows", config=False)
        self.assertEqual(code, 3)
        self.assertIn("cannot reach the admin API at http://127.0.0.1:1", err)
        code, _, err = self.ctl("--url", f"http://127.0.0.1:{self.port}", "stop", "main", config=False)
        self.assertEqual(code, 1)
        self.assertIn("Authorization: Bearer", err)
        self.assertEqual(self.ctl("frobnicate")[0], 2)
        # a configuration named with -c that cannot be read is an error, not a guess at 127.0.0.1:8470
        code, out, err = self.ctl("-c", os.path.join(self.d.path, "nonexistent.conf"), "workflows", config=False)
        self.assertEqual(code, 1, out + err)
        self.assertIn("cannot use the configuration named with -c: %s" % os.path.join(self.d.path, "nonexistent.conf"),
                      err)
        self.assertNotIn("8470", err)
        self.assertEqual(self.ctl("replay", "main", "accounts")[0], 4)

    def test_token_from_admin_tokens(self):
        """Without admin.token_file, the first readable operator token of admin.tokens, else a viewer's."""
        viewer = os.path.join(self.d.path, "viewer.token")
        with open(viewer, "w") as f:
            f.write("a-viewer-token\n")
        os.chmod(viewer, 0o600)
        with open(self.d.conf) as f:
            text = f.read()
        conf = os.path.join(self.d.path, "ctl-tokens.conf")
        for tokens, code, message in (
                (f"[{{token_file: {viewer}, role: viewer}}, {{token_file: {self.d.path}/missing, role: operator}}, "
                 f"{{token_file: {self.d.token_file}, role: operator}}]", 5, "can be stopped"),
                (f"[{{token_file: {viewer}, role: viewer}}]", 1, "not an admin token")):
            with open(conf, "w") as f:
                f.write(text.replace(f"token_file: {self.d.token_file}", f"tokens: {tokens}"))
            got, _, err = self.ctl("-c", conf, "stop", "broken", config=False)
            self.assertEqual(got, code, err)
            self.assertIn(message, err)

    def test_unreadable_token_file_is_named(self):
        """A token file crmsyncctl cannot use: reads still work, and a refused change names the file and why."""
        open_token = os.path.join(self.d.path, "open.token")
        with open(open_token, "w") as f:
            f.write("some-token-value\n")
        os.chmod(open_token, 0o644)
        with open(self.d.conf) as f:
            text = f.read()
        conf = os.path.join(self.d.path, "ctl-open.conf")
        with open(conf, "w") as f:
            f.write(text.replace(f"token_file: {self.d.token_file}", f"token_file: {open_token}"))
        got, out, err = self.ctl("-c", conf, "workflows", config=False)
        self.assertEqual((got, err), (0, ""))
        got, _, err = self.ctl("-c", conf, "stop", "broken", config=False)
        self.assertEqual(got, 1, err)
        self.assertIn("no token was sent: %s is readable by group or others" % open_token, err)
        self.assertIn("chmod 600 %s" % open_token, err)

    def test_z_edit_cycle(self):
        editor = os.path.join(self.d.path, "editor.py")
        with open(editor, "w") as f:
            f.write(EDITOR)
        tmp = os.path.join(self.d.path, "tmp")
        os.mkdir(tmp)
        calls = os.path.join(self.d.path, "editor.calls")
        code, out, err = self.ctl("edit", "main", env={"EDITOR": f"{sys.executable} {editor}", "TMPDIR": tmp,
                                                       "EDITOR_CALLS": calls})
        self.assertEqual(code, 0, err)
        self.assertIn("reopening it with the errors", err)
        self.assertRegex(out, r"main: revision 2: stored; it takes effect when the workflow is stopped and started")
        self.assertEqual(open(calls).read(), "2")
        self.assertEqual(os.listdir(tmp), [], "the temporary edit file was left behind")
        code, out, _ = self.ctl("workflows")
        self.assertIn("[pending edit: takes effect at stop+start]", out)
        code, out, _ = self.ctl("revisions", "main")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"2\s+api\s+\S+ \S+\s+\S+@\S+ \(crmsyncctl\)")
        code, out, _ = self.ctl("revisions", "main", "2")
        self.assertIn("changed  $.writers: 2 -> 3", out)
        self.assertEqual(self.ctl("stop", "main", "--wait")[0], 0)
        code, out, _ = self.ctl("start", "main", "--wait")
        self.assertEqual(code, 0)
        self.assertIn("main: RUNNING", out)
        w = self.d.workflow("main")
        self.assertEqual((w["running_revision"], w["pending"]), (2, False))
        code, out, _ = self.ctl("replay", "main", "contacts")
        self.assertEqual(code, 0)
        self.d.wait_for("main", lambda w: w["records_written"] >= 2000 and w["backlog"] == 0)
        code, out, _ = self.ctl("dead-letters", "main")
        self.assertEqual(code, 0)
        self.assertTrue(out.startswith("ID"))
        code, out, _ = self.ctl("redrive", "main")
        self.assertEqual((code, out.strip()), (0, "main: 0 dead letter(s) back in the backlog"))

    def test_edit_abandoned_after_errors(self):
        editor = os.path.join(self.d.path, "breaker.py")
        with open(editor, "w") as f:
            f.write("import sys\np = sys.argv[1]\nt = open(p).read()\n"
                    "if 'refused' not in t:\n    open(p, 'w').write(t.replace('autostart: false', 'autostart: maybe'))\n")
        before = self.d.request("GET", "/api/v1/workflows/broken/revisions")[1]["revisions"]
        code, out, err = self.ctl("edit", "broken", env={"EDITOR": f"{sys.executable} {editor}"})
        self.assertEqual(code, 6, err)
        self.assertIn("unchanged since the errors were shown; nothing stored", out)
        self.assertEqual(self.d.request("GET", "/api/v1/workflows/broken/revisions")[1]["revisions"], before)

    def test_edit_unchanged_stores_nothing(self):
        code, out, _ = self.ctl("edit", "broken", env={"EDITOR": "true"})
        self.assertEqual(code, 0)
        self.assertIn("no changes; nothing stored", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
