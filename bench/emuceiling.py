#!/usr/bin/env python3
"""emuceiling.py - owns the measurement of each emulator's own ceiling, so a benchmark can show that the
emulators are not what limits crmsyncd. Each emulator runs as its own process (started by this module,
fresh, 0 ms latency); client threads, each with one keep-alive connection, send the request mix of the
ingress load as fast as the emulator answers, for a few seconds:

Campaign:  per record, GET .../profileAndServicesExt/profile/byExternalId?externalId_parameter=<new id>,
           POST .../profileAndServicesExt/profile, PATCH .../profileAndServicesExt/profile/<PKey>.
Dataverse: change-tracking reads of the contacts (Prefer: odata.track-changes, pages of 5000, the
           ingress workflow's $select), following @odata.nextLink to the deltaLink, again and again.

Run it alone (`python3 bench/emuceiling.py [seconds]`) or through bench/ingress.py and bench/egress.py.
Also owns starting an emulator script as a process (start_emulator), which those benchmarks use too.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

EMULATORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "emulators")
ACS_CLIENT, ACS_SECRET = "crmsync-acs-client", "crmsync-acs-secret"
DV_TENANT, DV_CLIENT, DV_SECRET = "11111111-2222-3333-4444-555555555555", "crmsync-client", "crmsync-secret"
PROFILE = "/crmsync-tenant/campaign/profileAndServicesExt/profile"
DV_SELECT = "contactid,firstname,lastname,emailaddress1,gendercode,address1_city,birthdate,statecode"


def start_emulator(script, seed=0, latency_ms=0, settings=()):
    """python3 tests/emulators/<script> as a process -> (Popen, base URL); settings: --set KEY=JSON items."""
    cmd = [sys.executable, os.path.join(EMULATORS, script), "--port", "0", "--seed", str(seed),
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


class Client:
    """One keep-alive HTTP/1.1 connection, kept lean so that the client costs little next to the server."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host = "%s:%d" % (u.hostname, u.port)
        self.sock = socket.create_connection((u.hostname, u.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")
        self.auth = ""

    def request(self, method, target, body=b"", ctype="application/json", headers=""):
        """-> (status, body bytes)."""
        head = "%s %s HTTP/1.1\r\nHost: %s\r\n%s%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
            method, target, self.host, self.auth, headers, ctype, len(body))
        self.sock.sendall(head.encode() + body)
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


def _campaign_worker(url, n, stop, done):
    c = Client(url)
    c.token("/ims/token/v3", {"grant_type": "client_credentials", "client_id": ACS_CLIENT,
                              "client_secret": ACS_SECRET, "scope": "openid,AdobeID,campaign"})
    c.auth += "X-Api-Key: %s\r\n" % ACS_CLIENT
    i = 0
    while not stop.is_set():
        key = "ceiling-%d-%d" % (n, i)
        s1, _ = c.request("GET", "%s/byExternalId?externalId_parameter=%s&_lineCount=2" % (PROFILE, key))
        s2, body = c.request("POST", PROFILE, json.dumps({
            "externalId": key, "firstName": "Anna", "lastName": "Smith", "email": "anna.%d.%d@example.com" % (n, i),
            "gender": "female", "location": {"city": "Paris"}, "birthDate": "1980-02-03"}).encode())
        s3, _ = c.request("PATCH", "%s/%s" % (PROFILE, json.loads(body)["PKey"]), b'{"lastName":"Meyer"}')
        if (s1, s2, s3) != (200, 201, 200):
            raise RuntimeError("unexpected answers %s" % ((s1, s2, s3),))
        done[n] += 3
        i += 1
    c.close()


def _dataverse_worker(url, n, stop, done):
    c = Client(url)
    c.token("/%s/oauth2/v2.0/token" % DV_TENANT, {"grant_type": "client_credentials", "client_id": DV_CLIENT,
                                                  "client_secret": DV_SECRET, "scope": url + "/.default"})
    prefer = "Prefer: odata.track-changes, odata.maxpagesize=5000\r\n"
    first = "/api/data/v9.2/contacts?$select=" + DV_SELECT
    target = first
    while not stop.is_set():
        status, body = c.request("GET", target, headers=prefer)
        if status != 200:
            raise RuntimeError("page answered %d" % status)
        doc = json.loads(body)
        done[n] += len(doc["value"])
        nxt = doc.get("@odata.nextLink")
        target = nxt[len(url):] if nxt else first
    c.close()


def _measure(url, worker, threads, seconds):
    """-> units done per second by `threads` workers over `seconds` (after a short warm-up)."""
    stop, done = threading.Event(), [0] * threads
    errors = []

    def run(n):
        try:
            worker(url, n, stop, done)
        except Exception as e:  # reported below: a ceiling measured on failing requests means nothing
            errors.append(e)
            stop.set()

    ts = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(threads)]
    for t in ts:
        t.start()
    time.sleep(min(1.0, seconds / 4))
    d0, t0 = sum(done), time.monotonic()
    time.sleep(seconds)
    d1, t1 = sum(done), time.monotonic()
    stop.set()
    for t in ts:
        t.join()
    if errors:
        sys.exit("emulator ceiling: %s" % errors[0])
    return (d1 - d0) / (t1 - t0)


def campaign_ceiling(seconds=4.0, threads=16):
    """Requests/s the Campaign emulator answers for the ingress mix (GET lookup, POST, PATCH)."""
    proc, url = start_emulator("campaign.py")
    try:
        return _measure(url, _campaign_worker, threads, seconds)
    finally:
        stop_emulator(proc)


def dataverse_ceiling(seconds=4.0, threads=2, rows=20000):
    """-> (rows/s, pages/s) the Dataverse emulator serves as change-tracking pages of 5000 rows."""
    proc, url = start_emulator("dataverse.py", seed=rows, settings=["throttle.enabled=false"])
    try:
        per_s = _measure(url, _dataverse_worker, threads, seconds)
        return per_s, per_s / 5000
    finally:
        stop_emulator(proc)


def report(seconds=4.0):
    """Prints both ceilings (what the benchmarks call)."""
    print("Campaign emulator ceiling: %.0f requests/s (lookup GET, POST, PATCH; 16 connections, 0 ms)"
          % campaign_ceiling(seconds), flush=True)
    rows, pages = dataverse_ceiling(seconds)
    print("Dataverse emulator ceiling: %.0f rows/s (%.1f change-tracking pages of 5000/s; 2 connections, 0 ms)"
          % (rows, pages), flush=True)


if __name__ == "__main__":
    report(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
