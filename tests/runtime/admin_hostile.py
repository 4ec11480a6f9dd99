#!/usr/bin/env python3
"""admin_hostile.py - the admin API of the real daemon against a hostile web page and a hostile local
process, over real sockets: every answer is data that cannot be framed or rendered as a page.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon  # noqa: E402

WORKFLOW = "  - id: w\n    source: mem\n    sink: cap\n    mappings: [{stream: contacts}]"


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
