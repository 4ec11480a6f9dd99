#!/usr/bin/env python3
"""admin_slowloris.py - slow and stalled clients against the real daemon over real sockets: hundreds of
idle connections, hundreds sending one header byte a second, one address holding many connections; a
normal request is answered all the while, and the daemon closes the slow ones (admin.request_head_timeout,
admin.max_connections, admin.max_connections_per_ip), never one it is serving.
"""
import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import DaemonCase  # noqa: E402
from checks import wait_until  # noqa: E402

WORKFLOW = "  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]"
PATIENCE = 60  # s: generous; the daemon's own deadline is admin.request_head_timeout


def closed_by_peer(sock):
    """True when the daemon has closed `sock` (end of stream or reset), False while it is open."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def metric(text, name, reason=None):
    label = '{reason="%s"}' % reason if reason else ""
    m = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(label)), text, re.M)
    return int(m.group(1)) if m else None


class Slowloris(DaemonCase):
    """Default limits, loopback listener."""
    DAEMON = {"workflows": WORKFLOW}

    def answered(self):
        status, doc, _, _ = self.d.request("GET", "/api/v1/workflows/w")
        self.assertEqual((status, doc["id"]), (200, "w"))

    def closed_total(self):
        text = self.d.request("GET", "/metrics")[2]
        return sum(metric(text, "crmsync_admin_connections_closed_total", r)
                   for r in ("head_timeout", "connection_limit", "address_limit"))

    def test_idle_connections(self):
        before = self.closed_total()
        idle = [socket.create_connection(("127.0.0.1", self.d.port)) for _ in range(600)]
        try:
            self.answered()
            wait_until(lambda: all(closed_by_peer(s) for s in idle), PATIENCE,
                       "the daemon closes 600 idle connections", step=0.1)
            self.answered()
            self.assertGreaterEqual(self.closed_total() - before, 600)
        finally:
            for s in idle:
                s.close()

    def trickle(self, request, count=600, at_once=0):
        """`count` connections sending `request` (its first `at_once` bytes at once) one byte a second,
        never all of it; a normal request is answered meanwhile, and the daemon closes every one of them."""
        trickle = [socket.create_connection(("127.0.0.1", self.d.port)) for _ in range(count)]
        for s in trickle:
            s.sendall(request[:at_once])
        sent = [at_once] * len(trickle)
        open_ = set(range(len(trickle)))
        stop = threading.Event()

        def drip():  # one more byte on every open connection, every second
            while not stop.is_set() and open_:
                for i in list(open_):
                    try:
                        trickle[i].send(request[sent[i]:sent[i] + 1])
                        sent[i] += 1
                    except OSError:
                        open_.discard(i)
                    if closed_by_peer(trickle[i]):
                        open_.discard(i)
                stop.wait(1.0)

        dripper = threading.Thread(target=drip)
        dripper.start()
        try:
            for _ in range(5):
                self.answered()
                time.sleep(0.5)
            wait_until(lambda: not open_, PATIENCE, f"the daemon closes {count} connections that trickle",
                       step=0.1)
        finally:
            stop.set()
            dripper.join()
            for s in trickle:
                s.close()
        self.assertLess(max(sent), len(request), "no request was ever complete")
        self.answered()

    def test_trickling_heads(self):
        self.trickle(f"GET /api/v1/workflows HTTP/1.1\r\nHost: 127.0.0.1:{self.d.port}\r\nX-Slow: ".encode()
                     + b"a" * 4000)

    def test_trickling_bodies_without_a_token(self):
        """A client without an operator token has no use for a body: its deadline covers the body too."""
        body = b"[" + b"1," * 2000 + b"1]"
        head = (f"GET /api/v1/workflows HTTP/1.1\r\nHost: 127.0.0.1:{self.d.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.trickle(head + body, 200, at_once=len(head))

    def test_head_timeout_is_at_least_a_second(self):
        conf = os.path.join(self.d.path, "zero.conf")
        with open(self.d.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("admin: {", "admin: {request_head_timeout: 0s, ", 1))
        p = subprocess.run([os.environ["CRMSYNCD"], "--check-config", "-c", conf], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("admin.request_head_timeout: must be at least 1s", p.stderr + p.stdout)


def outward_address():
    """An address of this host that is not loopback, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


class Limits(DaemonCase):
    """Small limits and a long head deadline, so that only the limits close connections."""
    DAEMON = {"workflows": WORKFLOW, "listen": "0.0.0.0:0",
              "admin": ", max_connections: 16, max_connections_per_ip: 8, request_head_timeout: 60s"}

    def metrics(self):
        return self.d.request("GET", "/metrics")[2]

    def settle(self):
        """Wait until only the metrics request itself is connected."""
        wait_until(lambda: metric(self.metrics(), "crmsync_admin_connections") == 1, PATIENCE, "idle connections gone",
                   step=0.1)

    def test_a_request_being_served_is_never_closed_for_room(self):
        self.settle()
        served = socket.create_connection(("127.0.0.1", self.d.port), timeout=30)
        idle = []
        try:
            served.sendall(f"PUT /api/v1/workflows/w/definition HTTP/1.1\r\nHost: 127.0.0.1:{self.d.port}\r\n"
                           f"Authorization: Bearer {self.d.token}\r\nContent-Type: application/json\r\n"
                           "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n".encode())
            self.assertIn(b" 100 ", served.recv(4096))  # its head is in: it is being served
            idle = [socket.create_connection(("127.0.0.1", self.d.port)) for _ in range(40)]
            wait_until(lambda: metric(self.metrics(), "crmsync_admin_connections_closed_total", "connection_limit")
                       >= 40 + 1 - 16, PATIENCE, "room made at the limit of 16", step=0.1)
            self.assertFalse(closed_by_peer(served))
            served.setblocking(True)
            served.sendall(b"{}")
            self.assertIn(b"HTTP/1.1 400", served.recv(65536))  # judged: {} is not a definition
            self.assertEqual(self.d.request("GET", "/api/v1/workflows/w")[0], 200)
        finally:
            served.close()
            for s in idle:
                s.close()

    def test_b_one_address_holds_at_most_its_share(self):
        addr = outward_address()
        if not addr:
            self.skipTest("this host has no address other than loopback")
        self.settle()
        before = metric(self.metrics(), "crmsync_admin_connections_closed_total", "address_limit")
        held = [socket.create_connection((addr, self.d.port)) for _ in range(20)]
        try:
            wait_until(lambda: metric(self.metrics(), "crmsync_admin_connections_closed_total", "address_limit")
                       - before >= 12, PATIENCE, "12 of 20 connections from one address closed", step=0.1)
            states = [closed_by_peer(s) for s in held]
            self.assertEqual((states.count(True), states.count(False)), (12, 8))
            conn = http.client.HTTPConnection(addr, self.d.port, timeout=30)  # the address's next request
            conn.request("GET", "/api/v1/workflows/w", headers={"Authorization": "Bearer " + self.d.token})
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        finally:
            for s in held:
                s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
