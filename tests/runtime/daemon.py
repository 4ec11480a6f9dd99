"""daemon.py - the real crmsyncd for the Python runtime tests: a configuration with the test plugin (a
memory source and a capture sink) written into a temporary directory, run as tests/lib/crmsyncd.py's
Crmsyncd, with the admin token it writes.

Expects CRMSYNCD and TESTPLUG_DIR in the environment (make check sets them).
"""
import http.client
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from crmsyncd import Crmsyncd  # noqa: E402


class Daemon(Crmsyncd):
    def __init__(self, workflows, connections="", token="admin-secret-token", listen="127.0.0.1:0", extra="",
                 admin=""):
        self.dir = tempfile.TemporaryDirectory(prefix="crmsync-api-")
        self.path = self.dir.name
        self.token_file = os.path.join(self.path, "admin.token")
        if token:
            with open(self.token_file, "w") as f:
                f.write(token + "\n")
            os.chmod(self.token_file, 0o600)
        conf = os.path.join(self.path, "crmsync.conf")
        token_line = f", token_file: {self.token_file}" if token else ""
        with open(conf, "w") as f:
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
        super().__init__(conf, os.path.join(self.path, "daemon.log"), token=token)

    def cleanup(self):
        self.stop()
        self.dir.cleanup()


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
