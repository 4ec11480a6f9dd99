#!/usr/bin/env python3
"""legs.py - a workflow with legs (Opt In/Out's shape: one workflow with a direction, each leg one way) with the
real daemon and the test plugin's connectors:

1. it is one workflow in the admin API and crmsyncctl: one entry, one status, a backlog and counters that are
   the sums of its legs' (each leg's own figures under "legs"), one Start and one Stop for both legs;
2. the direction decides which legs run: each of bidirectional, either leg's name and disabled (nothing
   runs; Start says why) after an edit staged until the next stop and start;
3. the status is the worst of the legs': one leg FAILED beside a RUNNING one is FAILED, with the leg named
   in the reason; Stop stops both;
4. an install from before legs: two one-way workflows with queued rows and checkpointed cursors, restarted
   with the one workflow with legs that replaces them: each leg takes over the rows, cursors and dead
   letters of the workflow that went its way, nothing is lost and nothing is read again.
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
LEGS = ["a-to-b", "b-to-a"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connections(path, hold=False):
    """Two sources of 40 and 30 records and a sink for each; with `hold`, the sinks answer every write with a
    retry, so what is read stays queued."""
    retry = ", retry_every: 1, retry_after: 1s" if hold else ""
    return (f"  ma: {{connector: memory-source, records: 40, page: 10}}\n"
            f"  mb: {{connector: memory-source, records: 30, page: 10}}\n"
            f"  ca: {{connector: capture-sink, file: {path}/ca{retry}}}\n"
            f"  cb: {{connector: capture-sink, file: {path}/cb{retry}}}\n"
            f"  bad: {{connector: capture-sink, file: {path}/bad, start_fatal: true}}\n")


TWO_WAY = """  - id: two-way
    title: Two ways
    direction: bidirectional
    writers: 2
    retry: {base: 100ms, cap: 1s}
    legs:
      a-to-b: {source: ma, sink: ca, mappings: [{stream: contacts}]}
      b-to-a: {source: mb, sink: cb, mappings: [{stream: contacts}]}
"""


def keys(path):
    try:
        with open(path) as f:
            return {line.split("\t")[1] for line in f}
    except FileNotFoundError:
        return set()


def running_legs(w):
    """The names of the legs a workflow snapshot shows RUNNING."""
    return {name for name, leg in legs_of(w).items() if leg["status"] == "RUNNING"}


def legs_of(w):
    return {leg["leg"]: leg for leg in w["legs"]}


class OneWorkflow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(TWO_WAY + """  - id: half-broken
    direction: bidirectional
    autostart: false
    legs:
      ok: {source: ma, sink: ca, mappings: [{stream: contacts}]}
      bad: {source: mb, sink: bad, mappings: [{stream: contacts}]}
  - {id: main, source: mem, sink: cap, autostart: false, mappings: [{stream: contacts}]}""", listen=f"127.0.0.1:{free_port()}")
        with open(cls.d.conf) as f:
            text = f.read()
        with open(cls.d.conf, "w") as f:
            f.write(text.replace("connections:\n", "connections:\n" + connections(cls.d.path), 1))
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        cls.d.cleanup()
        assert code == 0, code

    def ctl(self, *args):
        p = subprocess.run([CTL, "-c", self.d.conf] + list(args), capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_1_one_workflow_summed(self):
        w = self.d.wait_for("two-way", lambda w: w["status"] == "RUNNING" and w["records_written"] == 70, what="both "
                            "legs written")
        self.assertEqual(keys(os.path.join(self.d.path, "ca")), {"k%07d" % i for i in range(40)})
        self.assertEqual(len(keys(os.path.join(self.d.path, "cb"))), 30)
        legs = legs_of(w)
        self.assertEqual(sorted(legs), LEGS)
        self.assertEqual({leg["status"] for leg in legs.values()}, {"RUNNING"})
        self.assertEqual((legs["a-to-b"]["records_written"], legs["b-to-a"]["records_written"]), (40, 30))
        for figure in ("backlog", "dead_letters", "records_read", "records_written"):
            self.assertEqual(w[figure], sum(leg[figure] for leg in legs.values()), figure)
        self.assertEqual(w["direction"], "bidirectional")
        status, doc, _, _ = self.d.request("GET", "/api/v1/workflows")
        self.assertEqual([x["id"] for x in doc["workflows"]], ["two-way", "half-broken", "main"])
        code, out, _ = self.ctl("workflows")
        self.assertEqual(code, 0)
        self.assertEqual(len(out.splitlines()), 4, out)  # the header and one line per workflow, none per leg
        self.assertNotIn("a-to-b", out)
        code, out, _ = self.ctl("show", "two-way")
        self.assertEqual(code, 0)
        self.assertIn("direction: bidirectional\n  leg a-to-b", out)
        self.assertIn("  leg b-to-a               RUNNING, 0 queued, 0 dead letters", out)
        # one Stop stops both legs, one Start starts both
        code, out, _ = self.ctl("stop", "two-way", "--wait")
        self.assertEqual((code, out.strip()), (0, "two-way: STOPPED"))
        w = self.d.workflow("two-way")
        self.assertEqual([w["status"]] + [leg["status"] for leg in w["legs"]], ["STOPPED"] * 3)
        code, out, _ = self.ctl("start", "two-way", "--wait")
        self.assertEqual(code, 0, out)
        w = self.d.workflow("two-way")
        self.assertEqual([w["status"]] + [leg["status"] for leg in w["legs"]], ["RUNNING"] * 3)

    def test_2_direction_runs_its_legs(self):
        d = self.d
        d.wait_for("two-way", lambda w: w["status"] == "RUNNING")
        for direction, running in (("a-to-b", {"a-to-b"}), ("b-to-a", {"b-to-a"}), ("disabled", set()),
                                   ("bidirectional", set(LEGS))):
            status, doc, _, _ = d.request("GET", "/api/v1/workflows/two-way/definition")
            definition = doc["definition"]
            definition["direction"] = direction
            status, doc, _, _ = d.request("PUT", "/api/v1/workflows/two-way/definition", definition)
            self.assertEqual(status, 200, doc)
            w = d.workflow("two-way")
            if w["status"] == "RUNNING":
                self.assertTrue(w["pending"], w)  # staged until the next stop and start
                self.assertEqual(d.request("POST", "/api/v1/workflows/two-way/stop")[0], 200)
            status, doc, _, _ = d.request("POST", "/api/v1/workflows/two-way/start")
            if not running:
                self.assertEqual(status, 409, doc)
                self.assertIn("direction disabled: nothing runs", json.dumps(doc))
                w = d.workflow("two-way")
                self.assertEqual(w["status"], "STOPPED")
                status, doc, _, _ = d.request("GET", "/readyz")
                self.assertNotIn("two-way", json.dumps(doc))  # nothing should run: it is not waited for
                continue
            self.assertEqual(status, 200, doc)
            w = d.wait_for("two-way", lambda w: w["status"] == "RUNNING" and running_legs(w) == running,
                           what="%s: RUNNING with exactly the legs %s" % (direction, sorted(running)))
            self.assertTrue(all(leg["status"] == "STOPPED" for name, leg in legs_of(w).items() if name not in running),
                            w)
            self.assertEqual(w["running_revision"], w["latest_revision"])
            self.assertFalse(w["pending"])

    def test_3_worst_status(self):
        d = self.d
        self.assertEqual(d.request("POST", "/api/v1/workflows/half-broken/start")[0], 200)
        w = d.wait_for("half-broken", lambda w: w["status"] == "FAILED" and legs_of(w)["ok"]["status"] == "RUNNING",
                       what="one leg FAILED beside a RUNNING one")
        self.assertTrue(w["reason"].startswith("bad: sink \"bad\" could not start"), w["reason"])
        self.assertEqual(legs_of(w)["bad"]["status"], "FAILED")
        self.assertEqual(d.request("POST", "/api/v1/workflows/half-broken/stop")[0], 200)
        w = d.workflow("half-broken")
        self.assertEqual([w["status"]] + [leg["status"] for leg in w["legs"]], ["STOPPED"] * 3)


class FormerWorkflows(unittest.TestCase):
    def test_legs_take_over(self):
        port = free_port()
        d = Daemon("""  - {id: two-way, source: ma, sink: ca, retry: {base: 1s, cap: 1s}, mappings: [{stream: contacts}]}
  - {id: two-way-back, source: mb, sink: cb, retry: {base: 1s, cap: 1s}, mappings: [{stream: contacts}]}""",
                   listen=f"127.0.0.1:{port}")
        try:
            with open(d.conf) as f:
                text = f.read()
            with open(d.conf, "w") as f:
                f.write(text.replace("connections:\n", "connections:\n" + connections(d.path, hold=True), 1))
            d.start()
            # read to the end (the cursors checkpointed), every record still queued
            d.wait_for("two-way", lambda w: w["records_read"] == 40 and w["backlog"] == 40)
            d.wait_for("two-way-back", lambda w: w["records_read"] == 30 and w["backlog"] == 30)
            self.assertEqual(d.stop(), 0)
            self.assertEqual(keys(os.path.join(d.path, "ca")) | keys(os.path.join(d.path, "cb")), set())
            with open(d.conf, "w") as f:  # the one workflow instead, and sinks that take what they are given
                f.write(text.replace("connections:\n", "connections:\n" + connections(d.path), 1).split("workflows:")[0] +
                        "workflows:\n" + TWO_WAY)
            os.replace(d.log_path, d.log_path + ".1")  # each start's log of its own: start() finds its port there
            d.start()
            w = d.wait_for("two-way", lambda w: w["status"] == "RUNNING" and w["backlog"] == 0 and
                           w["records_written"] == 70, what="the queued records written")
            legs = legs_of(w)
            self.assertEqual((legs["a-to-b"]["records_read"], legs["b-to-a"]["records_read"]), (0, 0),
                             "nothing read again: the cursors were taken over")
            self.assertEqual(keys(os.path.join(d.path, "ca")), {"k%07d" % i for i in range(40)})
            self.assertEqual(keys(os.path.join(d.path, "cb")), {"k%07d" % i for i in range(30)})
            log = d.read_log()
            self.assertIn("leg a-to-b took over the backlog, cursors and dead letters of the former workflow two-way "
                          "(state id two-way/a-to-b)", log)
            self.assertIn("leg b-to-a took over the backlog, cursors and dead letters of the former workflow "
                          "two-way-back (state id two-way/b-to-a)", log)
            status, doc, _, _ = d.request("GET", "/api/v1/workflows/two-way/revisions")
            self.assertEqual([r["revision"] for r in doc["revisions"]], [2, 1])  # the history stays
            self.assertEqual(d.stop(), 0)
            os.replace(d.log_path, d.log_path + ".2")
            d.start()  # once taken over, a restart takes nothing again
            d.wait_for("two-way", lambda w: w["status"] == "RUNNING")
            self.assertNotIn("took over", d.read_log())
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
