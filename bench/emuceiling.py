#!/usr/bin/env python3
"""emuceiling.py - owns the measurement of each emulator's own ceiling, so a benchmark can show that the
emulators are not what limits crmsyncd. Each emulator runs as its own process (started by this module,
fresh); one client loop drives many keep-alive connections at once (each with one request in flight,
as crmsyncd's libcurl multi handles do), sending the load below as fast as the emulator answers, for a
few seconds, and reads the emulator process's CPU time meanwhile:

Campaign:  per record, GET .../profileAndServicesExt/profile/byExternalId?externalId_parameter=<new id>,
           POST .../profileAndServicesExt/profile, PATCH .../profileAndServicesExt/profile/<PKey>; on 16
           connections at 0 ms, and on 128 connections at 50 ms (the shape of crmsyncd's Campaign sink).
Dataverse: change-tracking reads of the contacts (Prefer: odata.track-changes, pages of 5000, the
           ingress workflow's $select), following @odata.nextLink to the deltaLink, again and again; and
           $batch requests of 100 upserts of new email-send activities by their event id alternate key,
           regarding contact and owner bound, with Prefer: odata.continue-on-error (what dynamics365.so
           sends for the egress workflow), on 48 connections (the sink's max_in_flight) at the benchmark's
           latency.

Run it alone (`python3 bench/emuceiling.py [seconds [latency ms]]`) or through bench/ingress.py and bench/egress.py.
Also owns starting an emulator script as a process (start_emulator), which those benchmarks use too.
"""
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse

EMULATORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "emulators")
ACS_CLIENT, ACS_SECRET = "crmsync-acs-client", "crmsync-acs-secret"
DV_TENANT, DV_CLIENT, DV_SECRET = "11111111-2222-3333-4444-555555555555", "crmsync-client", "crmsync-secret"
PROFILE = "/crmsync-tenant/campaign/profileAndServicesExt/profile"
DV_SELECT = "contactid,firstname,lastname,emailaddress1,gendercode,address1_city,birthdate,statecode"
ACTIVITIES = "new_acsemailsends"
REGARDING = "regardingobjectid_contact_new_acsemailsend@odata.bind"
OWNER = "00000000-0000-0000-0000-00000000a002"  # the emulator's second system user
BATCH = 100
# the interpreter the emulators run on: EMU_PYTHON, else pypy3 when installed (its JIT answers for a
# fraction of CPython's CPU), else this script's own
EMU_PYTHON = os.environ.get("EMU_PYTHON") or shutil.which("pypy3") or sys.executable
WARM_UP = 3.0  # seconds of load before a ceiling is measured: PyPy's JIT compiles the hot paths meanwhile


def interpreter():
    """What runs the emulators, as the benchmarks print it: EMU_PYTHON's path, implementation and version."""
    out = subprocess.run([EMU_PYTHON, "-c", "import platform; print(platform.python_implementation(), "
                          "platform.python_version())"], stdout=subprocess.PIPE, text=True, check=True).stdout
    return "%s (%s)" % (EMU_PYTHON, out.strip())


def start_emulator(script, seed=0, latency_ms=0, settings=()):
    """EMU_PYTHON tests/emulators/<script> as a process -> (Popen, base URL); settings: --set KEY=JSON items."""
    cmd = [EMU_PYTHON, os.path.join(EMULATORS, script), "--port", "0", "--seed", str(seed),
           "--latency", str(latency_ms)]
    for s in settings:
        cmd += ["--set", s]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        proc.wait()
        sys.exit("%s did not start" % script)
    return proc, url


def stop_emulator(proc):
    proc.terminate()
    proc.wait()


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _request_bytes(host, auth, method, target, body=b"", ctype="application/json", headers=""):
    head = "%s %s HTTP/1.1\r\nHost: %s\r\n%s%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
        method, target, host, auth, headers, ctype, len(body))
    return head.encode() + body


class Client:
    """One blocking keep-alive HTTP/1.1 connection (tokens and set-up reads)."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host = "%s:%d" % (u.hostname, u.port)
        self.sock = socket.create_connection((u.hostname, u.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")
        self.auth = ""

    def request(self, method, target, body=b"", ctype="application/json", headers=""):
        """-> (status, body bytes)."""
        self.sock.sendall(_request_bytes(self.host, self.auth, method, target, body, ctype, headers))
        status = int(self.rfile.readline().split(None, 2)[1])
        length = 0
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, self.rfile.read(length)

    def token(self, path, form):
        status, body = self.request("POST", path, urllib.parse.urlencode(form).encode(),
                                    "application/x-www-form-urlencoded")
        if status != 200:
            raise RuntimeError("token request answered %d" % status)
        self.auth = "Authorization: Bearer %s\r\n" % json.loads(body)["access_token"]

    def close(self):
        self.rfile.close()
        self.sock.close()


class Conn:
    """One non-blocking keep-alive connection of the client loop, driven by a session: a generator that
    yields requests (method, target[, body[, ctype[, headers]]]) and is sent each answer (status, body)."""

    def __init__(self, url, auth, session, sel):
        u = urllib.parse.urlsplit(url)
        self.host, self.auth, self.session = "%s:%d" % (u.hostname, u.port), auth, session
        self.sock = socket.create_connection((u.hostname, u.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        sel.register(self.sock, selectors.EVENT_READ, self)
        self._send(next(session))

    def _send(self, req):
        self.sock.sendall(_request_bytes(self.host, self.auth, *req))

    def readable(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("the emulator closed a connection")
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end + 2].lower()
        at = head.find(b"\r\ncontent-length:")
        length = int(head[at + 17:head.index(b"\r\n", at + 2)]) if at >= 0 else 0
        if len(self.buf) < end + 4 + length:
            return
        status, body = int(head[9:12]), self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        self._send(self.session.send((status, body)))

    def close(self):
        self.sock.close()


def _drive(url, auth, sessions, ends, pid):
    """Runs the sessions (one connection each) until each time in `ends` in turn -> at each, (units done,
    time, the emulator's CPU seconds); a session counts its units in done[0]."""
    done, sel = [0], selectors.DefaultSelector()
    conns = [Conn(url, auth, s(n, done), sel) for n, s in enumerate(sessions)]
    marks = []
    for when in ends:
        while time.monotonic() < when:
            for key, _ in sel.select(0.2):
                key.data.readable()
        marks.append((done[0], time.monotonic(), cpu_seconds(pid)))
    for c in conns:
        c.close()
    return marks


def _measure(url, auth, sessions, seconds, pid):
    """Runs the sessions -> (units/s, emulator CPU seconds per second) over `seconds` after WARM_UP seconds
    of the same load."""
    warm = time.monotonic() + WARM_UP
    (d0, t0, c0), (d1, t1, c1) = _drive(url, auth, sessions, (warm, warm + seconds), pid)
    return (d1 - d0) / (t1 - t0), (c1 - c0) / (t1 - t0)


def _campaign_session(n, done):
    i = 0
    while True:
        key = "ceiling-%d-%d" % (n, i)
        s1, _ = yield "GET", "%s/byExternalId?externalId_parameter=%s&_lineCount=2" % (PROFILE, key)
        s2, body = yield "POST", PROFILE, json.dumps({
            "externalId": key, "firstName": "Anna", "lastName": "Smith", "email": "anna.%d.%d@example.com" % (n, i),
            "gender": "female", "location": {"city": "Paris"}, "birthDate": "1980-02-03"}).encode()
        s3, _ = yield "PATCH", "%s/%s" % (PROFILE, json.loads(body)["PKey"]), b'{"lastName":"Meyer"}'
        if (s1, s2, s3) != (200, 201, 200):
            raise RuntimeError("unexpected answers %s" % ((s1, s2, s3),))
        done[0] += 3
        i += 1


def _dataverse_token(url):
    c = Client(url)
    c.token("/%s/oauth2/v2.0/token" % DV_TENANT, {"grant_type": "client_credentials", "client_id": DV_CLIENT,
                                                  "client_secret": DV_SECRET, "scope": url + "/.default"})
    return c


def _track_changes_session(url):
    def session(n, done):
        prefer = "Prefer: odata.track-changes, odata.maxpagesize=5000\r\n"
        first = "/api/data/v9.2/contacts?$select=" + DV_SELECT
        target = first
        while True:
            status, body = yield "GET", target, b"", "application/json", prefer
            if status != 200:
                raise RuntimeError("page answered %d" % status)
            doc = json.loads(body)
            done[0] += len(doc["value"])
            nxt = doc.get("@odata.nextLink")
            target = nxt[len(url):] if nxt else first
    return session


def _upsert(api, contact):
    """One upsert of a $batch, with %s where its event id goes (twice)."""
    body = json.dumps({
        "subject": "Campaign Name: Spring Campaign; Delivery Name: Spring Newsletter",
        "new_campaignname": "Spring Campaign", "new_deliveryname": "Spring Newsletter",
        "new_eventtime": "2026-03-04T05:06:07Z", "new_mirrorpageurl": "https://mirror.example.com/m/%s",
        REGARDING: "/contacts(%s)" % contact, "ownerid@odata.bind": "/systemusers(%s)" % OWNER})
    return ("--batch_ceiling\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            "PATCH %s/%s(new_acseventid='%%s') HTTP/1.1\r\nContent-Type: application/json\r\n\r\n%s\r\n"
            % (api, ACTIVITIES, body))


def _egress_session(url, contacts):
    headers = "Accept: application/json\r\nOData-Version: 4.0\r\nPrefer: odata.continue-on-error\r\n"

    def session(n, done):
        # the body built once, with new event ids filled in for each $batch (the client stays cheap)
        template = "".join(_upsert(url + "/api/data/v9.2", contacts[(n * BATCH + k) % len(contacts)])
                           for k in range(BATCH)) + "--batch_ceiling--\r\n"
        i = 0
        while True:
            ids = tuple("ceiling-%d-%d-%d" % (n, i, k) for k in range(BATCH) for _ in (0, 1))
            status, answer = yield ("POST", "/api/data/v9.2/$batch", (template % ids).encode(),
                                    "multipart/mixed; boundary=batch_ceiling", headers)
            if status != 200 or answer.count(b"HTTP/1.1 204") != BATCH:
                raise RuntimeError("$batch answered %d: %s" % (status, answer[:300]))
            done[0] += BATCH
            i += 1
    return session


def _campaign_auth(url):
    """The header lines of a Campaign request: a new token and the API key."""
    c = Client(url)
    c.token("/ims/token/v3", {"grant_type": "client_credentials", "client_id": ACS_CLIENT,
                              "client_secret": ACS_SECRET, "scope": "openid,AdobeID,campaign"})
    c.close()
    return c.auth + "X-Api-Key: %s\r\n" % ACS_CLIENT


def campaign_ceiling(seconds=4.0, connections=16, latency_ms=0):
    """-> (requests/s, emulator CPU in cores) of the Campaign emulator for the ingress mix."""
    proc, url = start_emulator("campaign.py", latency_ms=latency_ms)
    try:
        return _measure(url, _campaign_auth(url), [_campaign_session] * connections, seconds, proc.pid)
    finally:
        stop_emulator(proc)


def warm_up_campaign(proc, url, connections=128):
    """Serves the ingress mix for WARM_UP seconds on a Campaign emulator a benchmark started (PyPy's JIT
    compiles its paths meanwhile), then resets it to the empty state it started in: the benchmark's figure
    then does not count the JIT's warm-up."""
    (served, _, _), = _drive(url, _campaign_auth(url), [_campaign_session] * connections,
                             (time.monotonic() + WARM_UP,), proc.pid)
    c = Client(url)
    status, body = c.request("POST", "/_emulator/reset", b"{}")
    c.close()
    if status != 200:
        raise RuntimeError("the Campaign emulator's reset answered %d: %s" % (status, body[:300]))
    print("Campaign emulator warmed up with %d requests in %.0f s, then reset" % (served, WARM_UP), flush=True)


def dataverse_ceiling(seconds=4.0, connections=2, rows=20000):
    """-> (rows/s, emulator CPU in cores) the Dataverse emulator serves as change-tracking pages of 5000 rows."""
    proc, url = start_emulator("dataverse.py", seed=rows, settings=["throttle.enabled=false"])
    try:
        c = _dataverse_token(url)
        c.close()
        return _measure(url, c.auth, [_track_changes_session(url)] * connections, seconds, proc.pid)
    finally:
        stop_emulator(proc)


def egress_ceiling(seconds=4.0, connections=48, latency_ms=50, contacts=1000):
    """-> (upserts/s, emulator CPU in cores) of the Dataverse emulator for $batch requests of 100 upserts."""
    proc, url = start_emulator("dataverse.py", seed=contacts, latency_ms=latency_ms,
                               settings=["throttle.enabled=false"])
    try:
        c = _dataverse_token(url)
        status, body = c.request("GET", "/api/data/v9.2/contacts?$select=contactid",
                                 headers="Prefer: odata.maxpagesize=5000\r\n")
        c.close()
        if status != 200:
            raise RuntimeError("contacts answered %d" % status)
        ids = [r["contactid"] for r in json.loads(body)["value"]]
        return _measure(url, c.auth, [_egress_session(url, ids)] * connections, seconds, proc.pid)
    finally:
        stop_emulator(proc)


def _cost(rate, cores, unit):
    return "%.0f %% of a core, %.0f us CPU per %s" % (cores * 100, cores * 1e6 / rate if rate else 0, unit)


def report(seconds=4.0, latency_ms=50):
    """Prints the ceilings (what the benchmarks call); the Campaign mix is measured at 0 ms and at
    latency_ms (50 when 0), the Dataverse $batch upserts at latency_ms; first, the interpreter they run on. -> {name: (requests/s measured, requests/s at one full core of the emulator)}
    with the names "campaign" (at latency_ms), "dataverse rows" and "dataverse upserts"."""
    print("emulators run on %s" % interpreter(), flush=True)
    out = {}
    for connections, latency in ((16, 0), (128, latency_ms or 50)):
        rate, cores = campaign_ceiling(seconds, connections, latency)
        print("Campaign emulator ceiling: %.0f requests/s (lookup GET, POST, PATCH; %d connections, %d ms; %s)"
              % (rate, connections, latency, _cost(rate, cores, "request")), flush=True)
        if latency == latency_ms:
            out["campaign"] = (rate, _full_core(rate, cores))
    rate, cores = dataverse_ceiling(seconds)
    print("Dataverse emulator ceiling: %.0f rows/s (%.1f change-tracking pages of 5000/s; 2 connections, 0 ms; %s)"
          % (rate, rate / 5000, _cost(rate, cores, "row")), flush=True)
    out["dataverse rows"] = (rate, _full_core(rate, cores))
    rate, cores = egress_ceiling(seconds, latency_ms=latency_ms)
    print("Dataverse emulator egress ceiling: %.0f upserts/s (%.1f $batch of %d upserts/s; 48 connections, %d ms; %s)"
          % (rate, rate / BATCH, BATCH, latency_ms, _cost(rate, cores, "upsert")), flush=True)
    out["dataverse upserts"] = (rate, _full_core(rate, cores))
    return out


def _full_core(rate, cores):
    """What the emulator would serve with a whole core of its own (its CPU per answer measured)."""
    return rate / cores if cores > 0 else rate


if __name__ == "__main__":
    report(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0, float(sys.argv[2]) if len(sys.argv) > 2 else 50)
