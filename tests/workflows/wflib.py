"""wflib.py - shared by the end-to-end workflow tests: both emulators in this process (through the
connector harnesses d365lib and acstest, imported, not copied), the reference ingress workflow
"dynamics365-to-campaign" written as a crmsyncd configuration (JSON, which crmsyncd reads as YAML), the
real daemon run in the background with its admin API on a free port, and views of the Campaign
emulator's profiles.
Environment (exported by make check): CRMSYNCD, TESTPLUG_DIR, D365_PLUGIN_DIR, STAGES_DIR and
CAMPAIGN_PLUGIN (the last three derived from CRMSYNCD's build directory when absent).
"""
import http.client
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "connectors", "dynamics365"))
sys.path.insert(0, os.path.join(HERE, "..", "connectors", "campaign"))

import acstest  # noqa: E402
import d365lib as L  # noqa: E402

WF = "dynamics365-to-campaign"
STAGES = os.path.join(os.environ.get("STAGES_DIR") or os.path.join(L.BUILD, "plugins", "stages"), "stages.la")
CAMPAIGN = os.environ.get("CAMPAIGN_PLUGIN") or os.path.join(L.BUILD, "plugins", "campaign", "campaign.la")
CUSTOM_ENTITY = os.environ.get("CUSTOM_ENTITY_PLUGIN") or os.path.join(L.BUILD, "plugins", "custom-entity",
                                                                         "custom-entity.la")
COLUMNS = ["firstname", "lastname", "emailaddress1", "birthdate", "gendercode", "statecode", "address1_city",
           "modifiedon"]
ADMIN_TOKEN = "wf-admin-token-for-tests"

# the reference mapping (doc/workflows.md shows it in YAML)
STAGES_TECHNICAL = [
    {"name": "filter", "match": "all", "delete_filtered": True,
     "rules": [{"field": "statecode", "op": "eq", "value": 0}]},
    {"name": "replace", "rules": [{"field": "gendercode", "from": 1, "to": "male"},
                                  {"field": "gendercode", "from": 2, "to": "female"}]},
    {"name": "map", "fields": [
        {"source": "contactid", "target": "externalId"},
        {"source": "firstname", "target": "firstName"},
        {"source": "lastname", "target": "lastName"},
        {"source": "emailaddress1", "target": "email"},
        {"source": "gendercode", "target": "gender"},
        {"source": "address1_city", "target": "location.city"},
        {"source": "birthdate", "target": "birthDate", "apply_updates": False}]},
    {"name": "convert", "types": {"birthDate": "date"}},
]

# the same mapping in the table-mapping form (what the Workflows page edits; the core compiles it into
# the stages above)
TABLE_MAPPING = {
    "key": {"source": "contactid", "target": "externalId"},
    "fields": [
        {"source": "firstname", "target": "firstName"},
        {"source": "lastname", "target": "lastName"},
        {"source": "emailaddress1", "target": "email"},
        {"source": "gendercode", "target": "gender"},
        {"source": "address1_city", "target": "location.city"},
        {"source": "birthdate", "target": "birthDate", "apply_updates": False, "type": "date"}],
    "replacements": [{"field": "gendercode", "from": 1, "to": "male"},
                     {"field": "gendercode", "from": 2, "to": "female"}],
    "filters": {"match": "all", "delete_filtered": True, "rules": [{"field": "statecode", "op": "eq", "value": 0}]},
}


def check(cond, what, detail=None):
    acstest.check(cond, what, detail)


class Env:
    """Both emulators, a scratch directory and the Campaign harness."""

    def __init__(self, name, seed):
        self.s = L.Scratch()
        self.dv, self.dv_url = L.emulator(seed=seed)
        self.acs = acstest.Harness(name)
        self.token_file = self.s.path("admin.token")
        with open(self.token_file, "w") as f:
            f.write(ADMIN_TOKEN + "\n")
        os.chmod(self.token_file, 0o600)

    def close(self):
        self.dv.stop()
        self.acs.close()
        self.s.close()

    # ---- configuration ------------------------------------------------------------------------------
    def config(self, stages=None, labels=None, name="ingress.conf", page_size=500, writers=4, poll="1s",
               log_level="notice", table_mapping=None, extra_mappings=(), extra_plugins=()):
        """The reference workflow with `stages` (explicit form; STAGES_TECHNICAL by default) or, when
        `table_mapping` is given, with that table mapping (e.g. TABLE_MAPPING); `extra_mappings` are
        appended and `extra_plugins` loaded too."""
        # a table mapping says itself which columns to read (and picklists: label); the explicit form
        # names them on the connection
        tables = {} if table_mapping is not None else {"contacts": dict({"columns": COLUMNS},
                                                                      **({"labels": labels} if labels else {}))}
        h = self.acs
        conns = {
            "d365": L.connection(self.s, self.dv_url, tables, page_size=page_size),
            "acs": {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url,
                    "client_id": acstest.CLIENT, "client_secret_file": h.secret,
                    "org_id": "4CC7D9704674CFB2138A2C54@AdobeOrg", "connect_timeout": "2s", "timeout": "10s",
                    "resources": {"profiles": {"resource": "profile", "key": "externalId",
                                               "filter": "byExternalId"}}},
        }
        wf = [{"id": WF, "title": "Microsoft Dynamics 365 to Campaign", "source": "d365", "sink": "acs",
               "writers": writers, "batch_size": 100, "poll_interval": poll,
               "retry": {"base": "100ms", "cap": "2s"},
               "mappings": [dict({"stream": "contacts", "target": "profiles"},
                                 **(table_mapping if table_mapping is not None else
                                    {"stages": STAGES_TECHNICAL if stages is None else stages}))]}]
        wf[0]["mappings"] += list(extra_mappings)
        path = L.write_config(self.s, conns, wf, name, plugins=["dynamics365", CAMPAIGN, STAGES] + list(extra_plugins),
                              log_level=log_level)
        with open(path) as f:
            conf = json.load(f)
        conf["admin"] = {"listen": "127.0.0.1:0", "token_file": self.token_file}  # never the default port
        with open(path, "w") as f:
            json.dump(conf, f, indent=1)
        return path

    # ---- Dataverse, as a CRM user --------------------------------------------------------------------
    def contacts(self):
        return L.rows(self.dv, "contacts")

    def crm(self, method, path, body=None):
        return L.control(self.dv_url, method, path, body)

    # ---- Campaign --------------------------------------------------------------------------------------
    def profiles(self):
        """externalId -> [the control API's view of each profile with it] (a list: duplicates show)."""
        emu = self.acs.emu
        out = {}
        with emu.lock:
            res = emu.store.resources["profile"]
            for rid in list(res.records):
                view = emu.control_view("http://x/crmsync-tenant/campaign", res, rid)
                out.setdefault(view.get("externalId"), []).append(view)
        return out

    def count(self):
        """Profiles in Campaign (cheap: no view is built)."""
        with self.acs.emu.lock:
            return len(self.acs.emu.store.resources["profile"].records)

    def profile(self, external_id):
        """GET resources/profile/externalId:<id> through the control API; None when absent."""
        code, doc = self.acs.ctl("GET", "resources/profile/externalId:" + external_id)
        return doc if code == 200 else None


def expected_profile(row, labels=False):
    gender = {1: "male", 2: "female"}.get(row.get("gendercode"))
    return {"externalId": row["contactid"], "firstName": row.get("firstname") or "",
            "lastName": row.get("lastname") or "", "email": row.get("emailaddress1") or "",
            "gender": gender or "unknown", "city": row.get("address1_city") or "",
            "birthDate": (row.get("birthdate") or "")[:10]}


def actual_profile(view):
    return {"externalId": view.get("externalId"), "firstName": view.get("firstName") or "",
            "lastName": view.get("lastName") or "", "email": view.get("email") or "",
            "gender": view.get("gender") or "unknown", "city": (view.get("location") or {}).get("city") or "",
            "birthDate": (view.get("birthDate") or "")[:10]}


class Daemon:
    """crmsyncd -c conf in the background (no --exit-when-idle), its admin API found in its log."""

    def __init__(self, conf, log_path):
        self.conf, self.log_path, self.port = conf, log_path, None
        self.log = open(log_path, "a")
        self.offset = self.log.tell()  # the log is shared by successive runs: this run's part starts here
        self.proc = subprocess.Popen([L.CRMSYNCD, "-c", conf], stdout=self.log, stderr=subprocess.STDOUT)
        self.started = time.time()

    def read_log(self):
        """This run's part of the log."""
        with open(self.log_path, errors="replace") as f:
            f.seek(self.offset)
            return f.read()

    def wait_port(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ports = re.findall(r"listening on https?://\S+ \(port (\d+)\)", self.read_log())
            if ports:
                self.port = int(ports[-1])
                return self.port
            if self.proc.poll() is not None:
                check(False, "crmsyncd exited at start", self.read_log()[-3000:])
            time.sleep(0.05)
        check(False, "the admin API never said its port", self.read_log()[-3000:])

    def api(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": "Bearer " + ADMIN_TOKEN}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, "/api/v1" + path, body=data, headers=headers)
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        return r.status, (json.loads(text) if text else None)

    def metrics(self):
        """The daemon's /metrics text."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        return text

    def workflow(self):
        code, doc = self.api("GET", "/workflows/" + WF)
        if code != 200:
            check(False, "GET /api/v1/workflows/%s answers 200" % WF, (code, doc))
        return doc

    def kill9(self):
        self.proc.kill()  # SIGKILL of the one process this test started
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                check(False, "crmsyncd did not stop on SIGTERM within 60s")
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode


def wait_until(pred, timeout, what, detail=lambda: None, step=0.05):
    """Polls pred() until true; -> seconds waited. Fails the test with `what` on timeout."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return time.time() - t0
        time.sleep(step)
    check(False, "%s (within %ss)" % (what, timeout), detail())
