"""crmsyncd.py - one running crmsyncd for the Python tests: `crmsyncd -c CONF` with its output appended to
a log file (successive runs of one test share it; read_log() gives this run's part), the admin API's port
read from the log, JSON requests to the admin API, SIGTERM with a bound, and kill -9.

The binary is $CRMSYNCD (make check sets it) unless another is named (the installed-package tests).
"""
import http.client
import json
import os
import re
import subprocess
import time

from checks import fail

PORT_LINE = re.compile(r"listening on https?://\S+ \(port (\d+)\)")


class Crmsyncd:
    def __init__(self, conf, log_path, token=None, binary=None):
        self.conf, self.log_path, self.token = conf, log_path, token
        self.binary = binary or os.environ["CRMSYNCD"]
        self.proc = self.log = None
        self.port = None
        self.offset = 0

    def start(self, wait_port=True, timeout=30):
        self.log = open(self.log_path, "a")
        self.offset = self.log.tell()
        self.port = None
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)
        if wait_port:
            self.wait_port(timeout)
        return self

    def read_log(self):
        """This run's part of the log."""
        with open(self.log_path, errors="replace") as f:
            f.seek(self.offset)
            return f.read()

    def wait_port(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ports = PORT_LINE.findall(self.read_log())
            if ports:
                self.port = int(ports[-1])
                return self.port
            if self.proc.poll() is not None:
                fail("crmsyncd exited at start (status %s)" % self.proc.returncode, self.read_log()[-3000:])
            time.sleep(0.05)
        fail("the admin API never said its port", self.read_log()[-3000:])

    # ---- the admin API ------------------------------------------------------------------------------
    def request(self, method, path, body=None, token=True, content_type="application/json", raw=None,
                headers=None):
        """Any request: -> (status, JSON document or None, text, response). token: True for this daemon's,
        a string for another, False for none."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if token is True and self.token:
            h["Authorization"] = "Bearer " + self.token
        elif isinstance(token, str):
            h["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None and content_type:
            h["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        doc = json.loads(text) if resp.getheader("Content-Type", "").startswith("application/json") else None
        return resp.status, doc, text, resp

    def api(self, method, path, body=None):
        """A request under /api/v1 with this daemon's token: -> (status, JSON document or None)."""
        status, doc, _, _ = self.request(method, "/api/v1" + path, body)
        return status, doc

    def metrics(self):
        return self.request("GET", "/metrics")[2]

    def workflow(self, wf_id):
        status, doc = self.api("GET", "/workflows/" + wf_id)
        if status != 200:
            fail("GET /api/v1/workflows/%s answers 200" % wf_id, (status, doc))
        return doc

    def wait_for(self, wf_id, predicate, timeout=30, what="condition"):
        """Poll the workflow until predicate(workflow) holds: -> the workflow."""
        deadline = time.time() + timeout
        w = None
        while time.time() < deadline:
            w = self.workflow(wf_id)
            if predicate(w):
                return w
            time.sleep(0.05)
        fail("%s: %s not reached" % (wf_id, what), w)

    # ---- ending it -------------------------------------------------------------------------------------
    def stop(self, timeout=60):
        """SIGTERM, then the exit status; fails when it has not exited within `timeout` seconds."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("crmsyncd did not stop on SIGTERM within %ds" % timeout, self.read_log()[-3000:])
        if self.log and not self.log.closed:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.kill()  # SIGKILL of the one process this test started
        self.proc.wait()
        self.log.close()
