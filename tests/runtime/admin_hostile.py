#!/usr/bin/env python3
"""admin_hostile.py - the admin API of the real daemon against a hostile web page and a hostile local
process, over real sockets: every answer is data that cannot be framed or rendered as a page.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import DaemonCase, raw_exchange  # noqa: E402

WORKFLOW = "  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]"


def first_answer(sock):
    """The status line and headers of the first answer on `sock` (a 100 Continue counts)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("the connection closed before an answer: %r" % data)
        data += chunk
    return data.decode("latin-1")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


class Hostile(DaemonCase):
    DAEMON = {"workflows": WORKFLOW, "admin": ", allowed_hosts: [crmsync.example.test]"}

    def test_answers_cannot_be_framed_or_rendered(self):
        for method, path in (("GET", "/api/v1/workflows"), ("GET", "/api/v1/nothing"), ("GET", "/metrics"),
                             ("POST", "/api/v1/workflows/w/start")):
            status, _, _, resp = self.d.request(method, path, token=False)
            self.assertIn(status, (200, 401, 404), path)
            self.assertEqual(resp.getheader("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'",
                             path)
            self.assertEqual(resp.getheader("X-Frame-Options"), "DENY", path)
            self.assertEqual(resp.getheader("X-Content-Type-Options"), "nosniff", path)
            self.assertEqual(resp.getheader("Cache-Control"), "no-store", path)

    # ---- DNS rebinding and cross-origin pages ---------------------------------------------------------
    def as_browser(self, method, path, host, origin=None, token=False):
        """A request as a browser sends it, with its own Host (and Origin) header."""
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        headers = {"Host": host}
        if origin:
            headers["Origin"] = origin
        if token:
            headers["Authorization"] = "Bearer " + self.d.token
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        return resp.status, text

    def test_rebound_name_is_refused(self):
        port = self.d.port
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}",
                     f"localhost.evil.example:{port}", f"localhost.:{port}", f"crmsync.example.test.evil:{port}",
                     f"127.0.0.1:{port}@evil.example", f"[::1]evil.example", f"[::1:{port}", "evil.example:127.0.0.1"):
            for method, path, token in (("GET", "/api/v1/workflows", False), ("GET", "/api/v1/workflows/w/definition", False),
                                        ("GET", "/metrics", False), ("GET", "/", False),
                                        ("POST", "/api/v1/workflows/w/stop", True)):
                status, text = self.as_browser(method, path, host, token=token)
                self.assertEqual(status, 421, (host, path, text))
                error = json.loads(text)["error"]
                self.assertEqual(error["code"], "misdirected_request")
                self.assertIn("admin.allowed_hosts", error["message"])
        self.assertEqual(self.d.workflow("w")["status"], "RUNNING")

    def test_listener_names_are_answered(self):
        port = self.d.port
        for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", f"LocalHost:{port}", f"[::1]:{port}",
                     f"crmsync.example.test:{port}", "CRMSYNC.example.test"):
            self.assertEqual(self.as_browser("GET", "/api/v1/workflows", host)[0], 200, host)
            self.assertEqual(self.as_browser("GET", "/api/v1/health", host, origin=f"http://{host}")[0], 200, host)

    def test_cross_origin_call_is_refused(self):
        host = f"127.0.0.1:{self.d.port}"
        for origin in ("http://evil.example", f"http://evil.example:{self.d.port}", "null", f"https://{host}",
                       f"http://localhost:{self.d.port}", f"http://{host}.evil.example"):
            for method, path, token in (("GET", "/api/v1/workflows", False), ("POST", "/api/v1/workflows/w/stop", True)):
                status, text = self.as_browser(method, path, host, origin=origin, token=token)
                self.assertEqual(status, 403, (origin, path, text))
                self.assertEqual(json.loads(text)["error"]["code"], "cross_origin")
        self.assertEqual(self.d.workflow("w")["status"], "RUNNING")
        self.assertEqual(self.as_browser("POST", "/api/v1/session", host, origin=f"http://{host}", token=True)[0], 200)

    def test_allowed_hosts_are_names(self):
        conf = os.path.join(self.d.path, "bad-hosts.conf")
        with open(self.d.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("allowed_hosts: [crmsync.example.test]", 'allowed_hosts: ["http://crm.example:8470"]'))
        p = subprocess.run([os.environ["CRMSYNCD"], "--check-config", "-c", conf], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn("admin.allowed_hosts[0]", p.stderr + p.stdout)
        self.assertIn("without scheme or port", p.stderr + p.stdout)

    def test_request_framed_twice_is_refused(self):
        d = self.d
        body = json.dumps({"mapping": "contacts"}).encode()
        auth = f"Authorization: Bearer {d.token}\r\n".encode()
        host = f"Host: 127.0.0.1:{d.port}\r\n".encode()
        for extra, word in ((b"Content-Length: %d\r\nContent-Length: 2\r\n" % len(body), b"Content-Length"),
                            (b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(body), len(body)), b"Content-Length"),
                            (b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body), b"Transfer-Encoding"),
                            (b"Host: evil.example\r\nContent-Length: %d\r\n" % len(body), b"Host")):
            status, headers, answer = raw_exchange(d.port, b"POST /api/v1/workflows/w/replay HTTP/1.1\r\n" + host + auth +
                                                   b"Content-Type: application/json\r\n" + extra + b"\r\n" + body)
            self.assertEqual(status, 400, (extra, answer))
            self.assertIn(word, json.loads(answer)["error"]["message"].encode())
        self.assertEqual(d.workflow("w")["replay_pending"], [], "no refused request reached the workflow")

    # ---- the token is checked on the head; bodies are bounded ----------------------------------------
    def head(self, method, path, length, token=None, expect=False):
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.d.port}", "Content-Type: application/json",
                 f"Content-Length: {length}"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        if expect:
            lines.append("Expect: 100-continue")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def test_token_checked_before_the_body(self):
        for token, status in ((None, 401), ("not-the-token", 403)):
            # the body is never sent: the answer comes on the head alone
            got, _, answer = raw_exchange(self.d.port, self.head("PUT", "/api/v1/workflows/w/definition", 1 << 20, token))
            self.assertEqual(got, status, answer)

    def test_unauthenticated_bodies_are_not_held(self):
        """200 unauthenticated 1 MiB bodies, all but their last byte sent and held open: none is kept."""
        before = rss_kib(self.d.proc.pid)
        body = b"[" + b"1," * (500 * 1024) + b"1]"
        held, answers = [], []

        def send(s):
            try:
                s.sendall(self.head("PUT", "/api/v1/workflows/w/definition", len(body)) + body[:-1])
            except OSError:
                pass  # refused on the head: the daemon closed before the body was all sent

        try:
            for _ in range(200):
                held.append(socket.create_connection(("127.0.0.1", self.d.port), timeout=60))
            threads = [threading.Thread(target=send, args=(s,)) for s in held]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            grown = rss_kib(self.d.proc.pid) - before
            for s in held:
                try:
                    answers.append(first_answer(s).split()[1])
                except (OSError, AssertionError) as e:
                    answers.append(repr(e))
        finally:
            for s in held:
                s.close()
        self.assertLess(grown, 64 * 1024, f"200 refused 1 MiB bodies grew the daemon by {grown} KiB")
        self.assertIn("401", answers)
        self.assertEqual([a for a in answers if a != "401" and "reset" not in a], [])

    def test_bodies_held_at_once_are_bounded(self):
        held = []
        try:
            for _ in range(20):  # bodies of clients without an operator token take none of it
                s = socket.create_connection(("127.0.0.1", self.d.port), timeout=30)
                held.append(s)
                s.sendall(self.head("GET", "/api/v1/workflows", 1 << 20, expect=True))
            for _ in range(16):  # 16 MiB: the budget, all of it
                s = socket.create_connection(("127.0.0.1", self.d.port), timeout=30)
                held.append(s)
                s.sendall(self.head("PUT", "/api/v1/workflows/w/definition", 1 << 20, self.d.token, expect=True))
                self.assertIn(" 100 ", first_answer(s).split("\r\n")[0])
            status, headers, answer = raw_exchange(
                self.d.port, self.head("PUT", "/api/v1/workflows/w/definition", 10, self.d.token, expect=True))
            self.assertEqual((status, headers.get("retry-after")), (503, "1"), answer)
            self.assertIn("16 MiB of request bodies", json.loads(answer)["error"]["message"])
            held.pop().close()  # one gives up: its share comes back
            deadline = time.time() + 30
            while True:
                status, _, answer = raw_exchange(self.d.port, self.head("PUT", "/api/v1/workflows/w/definition", 2,
                                                                        self.d.token) + b"{}")
                if status != 503 or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(status, 400, answer)  # read and judged: {} is not a workflow definition
        finally:
            for s in held:
                s.close()


def write_token(path, value):
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)


class Roles(DaemonCase):
    """admin.token_file (operator) beside admin.tokens: a second operator and a viewer."""
    DAEMON = {"workflows": WORKFLOW}
    VIEWER, OPERATOR2 = "dashboard-viewer-token", "second-operator-token"

    @classmethod
    def prepare(cls, d):
        write_token(os.path.join(d.path, "viewer.token"), cls.VIEWER)
        write_token(os.path.join(d.path, "ops.token"), cls.OPERATOR2)
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text.replace("admin: {", f"admin: {{tokens: [{{token_file: {d.path}/viewer.token, role: viewer}}, "
                                            f"{{token_file: {d.path}/ops.token, role: operator}}], ", 1))

    @classmethod
    def tearDownClass(cls):
        log = cls.d.read_log()
        super().tearDownClass()
        for token in (cls.VIEWER, cls.OPERATOR2, cls.d.token):
            assert token not in log, "a token reached the log"

    def test_session_tells_the_role(self):
        for token, role in ((self.d.token, "operator"), (self.OPERATOR2, "operator"), (self.VIEWER, "viewer")):
            for body in (None, {}):  # the page sends {}
                self.assertEqual(self.d.request("POST", "/api/v1/session", body=body, token=token)[:2],
                                 (200, {"authorized": True, "role": role}))
        self.assertEqual(self.d.request("POST", "/api/v1/session", token="nope")[0], 403)

    def test_viewer_reads_and_changes_nothing(self):
        d = self.d
        for path in ("/api/v1/workflows", "/api/v1/workflows/w/definition", "/api/v1/workflows/w/revisions",
                     "/api/v1/workflows/w/dead-letters", "/api/v1/connections", "/metrics"):
            self.assertEqual(d.request("GET", path, token=self.VIEWER)[0], 200, path)
        for method, path, body in (("POST", "/api/v1/workflows/w/stop", None),
                                   ("POST", "/api/v1/workflows/w/replay", {"mapping": "contacts"}),
                                   ("POST", "/api/v1/workflows/w/dead-letters/redrive", None),
                                   ("PUT", "/api/v1/workflows/w/definition", {"id": "w"})):
            status, doc, _, _ = d.request(method, path, body=body, token=self.VIEWER)
            self.assertEqual((status, doc["error"]["code"]), (403, "insufficient_role"), path)
            self.assertIn("operator role", doc["error"]["message"])
            self.assertNotIn(self.VIEWER, doc["error"]["message"])
        w = d.workflow("w")
        self.assertEqual((w["status"], w["replay_pending"], w["latest_revision"]), ("RUNNING", [], 1))

    def test_payloads_and_remote_metadata_need_a_token_on_loopback(self):
        d = self.d
        payloads = "/api/v1/workflows/w/dead-letters?include=payload"
        self.assertEqual(d.request("GET", "/api/v1/workflows/w/dead-letters", token=False)[0], 200)
        status, doc, _, _ = d.request("GET", payloads, token=False)
        self.assertEqual((status, doc["error"]["code"]), (401, "unauthorized"))
        self.assertIn("dead-letter payloads", doc["error"]["message"])
        status, doc, _, _ = d.request("GET", payloads, token=self.VIEWER)
        self.assertEqual((status, doc["error"]["code"]), (403, "insufficient_role"))
        self.assertEqual(d.request("GET", payloads, token=self.OPERATOR2)[0], 200)
        for path in ("/api/v1/connections/cap/tables", "/api/v1/connections/cap/tables/contacts"):
            status, doc, _, _ = d.request("GET", path, token=False)
            self.assertEqual((status, doc["error"]["code"]), (401, "unauthorized"), path)
            self.assertIn("remote system", doc["error"]["message"])
            # the viewer may: it reaches the connection (whose connector cannot describe: 409)
            self.assertEqual(d.request("GET", path, token=self.VIEWER)[0], 409, path)

    def test_second_operator_token_changes(self):
        d = self.d
        self.assertEqual(d.request("POST", "/api/v1/workflows/w/stop", token=self.OPERATOR2)[0], 200)
        self.assertEqual(d.request("POST", "/api/v1/workflows/w/start", token=self.OPERATOR2)[0], 200)
        d.wait_for("w", lambda w: w["status"] == "RUNNING", what="RUNNING")

    def test_token_configuration_refused(self):
        d = self.d
        with open(d.conf) as f:
            text = f.read()
        for change, message in (
                ((f"{d.path}/ops.token", d.token_file), "admin.tokens[1].token_file holds the same token as admin.token_file"),
                (("role: viewer", "role: admin"), "admin.tokens[0].role"),
                ((f"{d.path}/viewer.token", f"{d.path}/missing.token"), "admin.tokens[0].token_file")):
            conf = os.path.join(d.path, "bad.conf")
            with open(conf, "w") as f:  # a state directory of its own: the running daemon holds its own
                f.write(text.replace(*change).replace(f"state_dir: {d.path}/state", f"state_dir: {d.path}/bad-state"))
            p = subprocess.run([os.environ["CRMSYNCD"], "-c", conf], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 78, p.stderr)
            self.assertIn(message, p.stderr)
            for token in (self.VIEWER, self.OPERATOR2, d.token):
                self.assertNotIn(token, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
