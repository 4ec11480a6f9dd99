# acstest: shared by the Campaign connector tests and the benchmark: starts the Campaign emulator in
# this process, writes crmsyncd configs
# that load the test plugin and campaign.la by absolute path, runs the real daemon with
# --exit-when-idle, and reads its summary lines and the emulator's counts.
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "emulators"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "runtime"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))

from campaign import Campaign  # noqa: E402
from summary import summaries  # noqa: E402
from checks import check  # noqa: E402,F401 (the Campaign connector tests take it from here)

CLIENT, SECRET = "crmsync-acs-client", "crmsync-acs-secret"


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.exit("%s is not set: run through make check" % name)
    return v


class Harness:
    def __init__(self, name, config=None):
        self.crmsyncd = env("CRMSYNCD")
        self.testplug = os.path.join(env("TESTPLUG_DIR"), "testplug.la")
        self.campaign = os.environ.get("CAMPAIGN_PLUGIN") or os.path.join(
            os.path.dirname(self.crmsyncd), "plugins", "campaign", "campaign.la")
        self.tmp = tempfile.mkdtemp(prefix="crmsync-acs-%s-" % name)
        self.emu = Campaign(config=config or {})
        self.url = self.emu.start()
        self.secret = os.path.join(self.tmp, "secret")
        with open(self.secret, "w") as f:
            f.write(SECRET)
        os.chmod(self.secret, 0o600)
        self.log = os.path.join(self.tmp, "daemon.log")

    def close(self):
        self.emu.stop()
        if os.environ.get("KEEP_TMP") == "1":
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- the emulator's control API ---------------------------------------------------------------
    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_emulator/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                text = r.read()
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")
        return 200, json.loads(text) if text else None

    def counts(self):
        return self.ctl("GET", "counts")[1]

    def reset_counts(self):
        self.ctl("DELETE", "counts")
        self.ctl("DELETE", "requests")

    def requests(self):
        return self.ctl("GET", "requests")[1]

    # --- the daemon --------------------------------------------------------------------------------
    def acs_connection(self, name="acs", extra=""):
        return """  %s:
    connector: campaign
    url: %s/crmsync-tenant
    ims_url: %s
    client_id: %s
    client_secret_file: %s
    org_id: "4CC7D9704674CFB2138A2C54@AdobeOrg"
    connect_timeout: 2s
    timeout: 5s
%s""" % (name, self.url, self.url, CLIENT, self.secret, extra)

    def write_conf(self, connections, workflows, name="run"):
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write("state_dir: %s/state\nplugin_dir: %s\nplugins: [%s, %s]\nlog_level: %s\n"
                    "admin: {listen: 127.0.0.1:0}\nconnections:\n%s\nworkflows:\n%s\n" % (
                        self.tmp, os.path.dirname(self.campaign), self.testplug, self.campaign,
                        os.environ.get("LOG_LEVEL", "notice"), connections, workflows))
        return path

    def run(self, conf, timeout=300):
        """-> (exit status, {workflow id: summary}, cpu summary, log text of this run)."""
        proc = subprocess.run([self.crmsyncd, "-c", conf, "--exit-when-idle"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        with open(self.log, "a") as f:
            f.write(proc.stdout)
        workflows, cpu = summaries(proc.stdout)
        return proc.returncode, workflows, cpu, proc.stdout

    def sql(self, query):
        import sqlite3
        db = sqlite3.connect(os.path.join(self.tmp, "state", "state.db"))
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()


def captured_lines(path):
    """The capture sink's lines as [stream, key, op, v] lists; [] before it wrote anything."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def captured(path):
    """The keys the capture sink wrote, in order."""
    return [fields[1] for fields in captured_lines(path)]


def mem(name, records, updates=0, deletes=0):
    return "  %s: {connector: memory-source, records: %d, updates: %d, deletes: %d, size: 10, page: 500}\n" % (
        name, records, updates, deletes)


def workflow(wid, source, sink, mappings, writers=4, batch=100, extra="", retry="base: 100ms, cap: 2s"):
    return "  - id: %s\n    source: %s\n    sink: %s\n    writers: %d\n    batch_size: %d\n    retry: {%s}\n" \
           "    poll_interval: 200ms\n%s    mappings: %s\n" % (wid, source, sink, writers, batch, retry, extra, mappings)
