#!/usr/bin/env python3
"""relative.py - relative paths in the configuration are taken from the configuration file's directory (as nginx
does), not from the working directory: a configuration in etc/ with a relative state_dir, token_file, secret file
and capture file, used from / and from its parent with a relative -c, works for crmsyncd --check-config, crmsyncd
(the state, the captured records and the secret are where the file says, relative to etc/) and crmsyncctl (the
admin token is read from etc/admin.token for a change).
"""
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

CRMSYNCD = os.environ["CRMSYNCD"]
CTL = os.path.join(os.path.dirname(CRMSYNCD), "crmsyncctl")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class RelativePaths(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="crmsync-rel-")
        self.top = os.path.realpath(self.tmp.name)
        etc = os.path.join(self.top, "etc")
        os.mkdir(etc)
        self.port = free_port()
        write(os.path.join(etc, "admin.token"), "the-admin-token\n")
        write(os.path.join(etc, "cap.token"), "let-me-in\n")
        self.conf = os.path.join(etc, "crmsync.conf")
        write(self.conf, f"""state_dir: ../state
plugin_dir: {os.environ['TESTPLUG_DIR']}
plugins: [testplug]
admin: {{listen: "127.0.0.1:{self.port}", token_file: admin.token}}
connections:
  mem: {{connector: memory-source, records: 50, page: 10}}
  cap: {{connector: capture-sink, file: ../captured, api_token_file: cap.token}}
workflows:
  - {{id: main, source: mem, sink: cap, mappings: [{{stream: contacts}}]}}
""", 0o644)

    def tearDown(self):
        self.tmp.cleanup()

    def test_from_elsewhere(self):
        p = subprocess.run([CRMSYNCD, "--check-config", "-c", self.conf], cwd="/", capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        log = open(os.path.join(self.top, "daemon.log"), "w")
        # a relative -c from the parent directory: the file's directory is still etc/
        d = subprocess.Popen([CRMSYNCD, "-c", "etc/crmsync.conf"], cwd=self.top, stdout=log, stderr=log)
        try:
            deadline = time.time() + 30
            captured = os.path.join(self.top, "captured")
            while time.time() < deadline and not (os.path.exists(captured) and
                                                  len(open(captured).read().splitlines()) == 50):
                self.assertIsNone(d.poll(), open(os.path.join(self.top, "daemon.log")).read())
                time.sleep(0.05)
            self.assertEqual(len(open(captured).read().splitlines()), 50, "the capture file is beside etc/")
            self.assertTrue(os.path.exists(os.path.join(self.top, "state", "state.db")), "state_dir is ../state")
            # crmsyncctl from /, with the configuration's relative admin.token for a change
            p = subprocess.run([CTL, "-c", self.conf, "stop", "main", "--wait"], cwd="/", capture_output=True,
                               text=True, timeout=60)
            self.assertEqual((p.returncode, p.stdout.strip()), (0, "main: STOPPED"), p.stderr)
            p = subprocess.run([CTL, "-c", self.conf, "workflows"], cwd="/", capture_output=True, text=True)
            self.assertRegex(p.stdout, re.compile(r"^main\s.*STOPPED$", re.M))
        finally:
            d.terminate()
            self.assertEqual(d.wait(timeout=30), 0)
            log.close()
        # a file named relative to etc/ that is not there is named in full
        write(self.conf, open(self.conf).read().replace("cap.token", "gone.token"), 0o644)
        p = subprocess.run([CRMSYNCD, "--check-config", "-c", self.conf], cwd="/", capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("connections.cap.api_token_file: cannot read %s/etc/gone.token" % self.top, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
