#!/usr/bin/env python3
"""admin_hostile.py - the admin API of the real daemon against a hostile web page and a hostile local
process, over real sockets: every answer is data that cannot be framed or rendered as a page.
"""
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon  # noqa: E402

WORKFLOW = "  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]"


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


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(WORKFLOW).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        cls.d.cleanup()
        assert code == 0, f"crmsyncd exited {code} on SIGTERM"

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
