"""daemon.py - runs the real crmsyncd for the Python runtime tests: writes a config with the test plugin,
starts the daemon, finds the admin API's port in its log, and talks JSON to it.

Expects CRMSYNCD and TESTPLUG_DIR in the environment (make check sets them).
"""
import http.client
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import unittest


class Daemon:
    def __init__(self, workflows, connections="", token="admin-secret-token", listen="127.0.0.1:0", extra="",
                 admin=""):
        self.dir = tempfile.TemporaryDirectory(prefix="crmsync-api-")
        self.path = self.dir.name
        self.token = token
        self.token_file = os.path.join(self.path, "admin.token")
        if token:
            with open(self.token_file, "w") as f:
                f.write(token + "\n")
            os.chmod(self.token_file, 0o600)
        self.conf = os.path.join(self.path, "crmsync.conf")
        self.log_path = os.path.join(self.path, "daemon.log")
        token_line = f", token_file: {self.token_file}" if token else ""
        with open(self.conf, "w") as f:
            f.write(f"""state_dir: {self.path}/state
plugin_dir: {os.environ['TESTPLUG_DIR']}
plugins: [testplug]
log_level: info
admin: {{listen: "{listen}"{token_line}{admin}}}
{extra}
connections:
  mem: {{connector: memory-source, records: 2000, page: 100}}
  cap: {{connector: capture-sink, file: {self.path}/captured}}
{connections}
workflows:
{workflows}
""")
        self.proc = None
        self.port = None

    def start(self, expect_port=True):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([os.environ["CRMSYNCD"], "-c", self.conf], stderr=self.log, stdout=self.log)
        if not expect_port:
            return self
        deadline = time.time() + 20
        while time.time() < deadline:
            m = re.search(r"listening on https?://\S+ \(port (\d+)\)", self.read_log())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError("crmsyncd exited at start:\n" + self.read_log())
            time.sleep(0.05)
        raise AssertionError("the admin API never said its port:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("crmsyncd did not stop on SIGTERM")
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop()
        self.dir.cleanup()

    # ---- HTTP ---------------------------------------------------------------------------------
    def request(self, method, path, body=None, token=True, content_type="application/json", raw=None,
                headers=None):
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
        doc = None
        if resp.getheader("Content-Type", "").startswith("application/json"):
            doc = json.loads(text)
        return resp.status, doc, text, resp

    def workflow(self, wf_id):
        status, doc, _, _ = self.request("GET", f"/api/v1/workflows/{wf_id}")
        assert status == 200, (status, doc)
        return doc

    def wait_for(self, wf_id, predicate, timeout=30, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            w = self.workflow(wf_id)
            if predicate(w):
                return w
            time.sleep(0.05)
        raise AssertionError(f"{wf_id}: {what} not reached: {w}")


class DaemonCase(unittest.TestCase):
    """One daemon for a test class: Daemon(**DAEMON), prepare()d, started before its tests; stopped after,
    and it must exit 0 on SIGTERM."""
    DAEMON = {}

    @classmethod
    def prepare(cls, d):
        """Change the daemon's files before it starts."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(**cls.DAEMON)
        cls.prepare(cls.d)
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        cls.d.cleanup()
        assert code == 0, f"crmsyncd exited {code} on SIGTERM"


def raw_exchange(port, data, timeout=30):
    """Send `data` as is on a new connection; (status, headers, body) of the answer, read to the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            head, sep, body = b"".join(chunks).partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if sep and length and len(body) >= length[0]:
                break
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def captured_keys(path):
    keys = []
    try:
        with open(os.path.join(path, "captured")) as f:
            for line in f:
                keys.append(line.split("\t")[1])
    except FileNotFoundError:
        pass
    return keys


def poll_concurrently(port, path, clients, seconds):
    """Many clients polling `path` at once; returns (requests, errors)."""
    stop = time.time() + seconds
    counts = [0] * clients
    errors = []

    def run(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.time() < stop:
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors.append(resp.status)
                counts[i] += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), errors
