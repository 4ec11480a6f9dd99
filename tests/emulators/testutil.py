# testutil: what the emulator test suites share: a keep-alive HTTP client that follows absolute or
# relative links, and a helper that runs an emulator script as a standalone process.
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return "<Reply %d %r>" % (self.status, self.body[:300])


class Client:
    def __init__(self, base, headers=None, timeout=30):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.base = base.rstrip("/")
        self.default_headers = dict(headers or {})
        self.timeout = timeout
        self.conn = None
        self.connections = 0

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.connections += 1

    def request(self, method, url, body=None, headers=None, retry=True):
        if url.startswith("http"):
            u = urllib.parse.urlsplit(url)
            url = u.path + ("?" + u.query if u.query else "")
        url = url.replace(" ", "%20")
        h = dict(self.default_headers)
        h.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        if self.conn is None:
            self._connect()
        try:
            self.conn.request(method, url, body=body, headers=h)
            r = self.conn.getresponse()
            data = r.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest):
            self.close()
            if not retry:
                raise
            return self.request(method, url, body, headers, retry=False)
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        return Reply(r.status, r.headers, data)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, body=None, **kw):
        return self.request("POST", url, body, **kw)

    def patch(self, url, body=None, **kw):
        return self.request("PATCH", url, body, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_standalone(script, *args, timeout=10):
    """Start `python3 script --port 0 ...`; -> (process, base URL from its first stdout line)."""
    p = subprocess.Popen([sys.executable, os.path.join(HERE, script), "--port", "0"] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    line = p.stdout.readline().strip()
    if not line.startswith("http://") or time.time() > deadline:
        p.kill()
        raise AssertionError("no base URL printed: %r %r" % (line, p.stderr.read()))
    return p, line


def stop(p, timeout=5):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout)
    finally:
        if p.poll() is None:
            p.kill()
        for f in (p.stdout, p.stderr):
            if f:
                f.close()
