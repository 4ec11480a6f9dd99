"""d365lib.py - shared by the dynamics365 connector tests and its benchmark: the Dataverse emulator in
process, crmsyncd configurations for the dynamics365 plugin (written as JSON, which crmsyncd reads as
YAML), runs of the real daemon in --exit-when-idle mode with its peak RSS, and reads of the state DB.
Environment (exported by make check): CRMSYNCD, TESTPLUG_DIR, and optionally D365_PLUGIN_DIR and
D365TEST_PLUGIN (derived from CRMSYNCD's build directory when absent).
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "emulators"))
sys.path.insert(0, os.path.join(SRC, "tests", "runtime"))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))

from dataverse import Dataverse  # noqa: E402
from summary import summaries  # noqa: E402
from checks import fail, require  # noqa: E402,F401 (the Dataverse connector tests take require from here)

CRMSYNCD = os.environ.get("CRMSYNCD") or sys.exit("CRMSYNCD is not set: run through make check")
BUILD = os.path.dirname(CRMSYNCD)
PLUGIN_DIR = os.environ.get("D365_PLUGIN_DIR") or os.path.join(BUILD, "plugins", "dynamics365")
D365TEST = os.environ.get("D365TEST_PLUGIN") or os.path.join(BUILD, "tests", "connectors", "dynamics365", "d365test.la")
TESTPLUG = os.path.join(os.environ.get("TESTPLUG_DIR") or os.path.join(BUILD, "tests", "fixtures", "plugins", "testplug"),
                        "testplug.la")
TENANT = "11111111-2222-3333-4444-555555555555"
SECRET = "crmsync-secret"


class Scratch:
    """A temporary directory with the client secret file; removed at exit unless KEEP_TMP=1."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="crmsync-d365-")
        self.secret = os.path.join(self.dir, "secret")
        self.set_secret(SECRET)

    def set_secret(self, value):
        with open(self.secret, "w") as f:
            f.write(value + "\n")
        os.chmod(self.secret, 0o600)

    def path(self, name):
        return os.path.join(self.dir, name)

    def close(self):
        if os.environ.get("KEEP_TMP") == "1":
            print("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def emulator(config=None, seed=0):
    emu = Dataverse(config=config or {})
    url = emu.start()
    if seed:
        emu.seed(seed)
    return emu, url


def control(url, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + "/_emulator/" + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def connection(scratch, url, tables, **extra):
    c = {"connector": "dynamics365", "url": url, "tenant": TENANT, "client_id": "crmsync-client",
         "client_secret_file": scratch.secret, "authority": url, "tables": tables}
    c.update(extra)
    return c


def write_config(scratch, connections, workflows, name="crmsync.conf", plugins=None, log_level="info"):
    """The configuration file `name`, with its own state directory `name`.state."""
    conf = {"state_dir": scratch.path(name + ".state"), "plugin_dir": PLUGIN_DIR, "log_level": log_level,
            "admin": {"listen": "127.0.0.1:0"},  # tests run in parallel: never the default port
            "plugins": plugins or ["dynamics365", TESTPLUG],
            "connections": connections, "workflows": workflows}
    path = scratch.path(name)
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path


class Run:
    def __init__(self, rc, log, workflows, peak_kb, cpu):
        self.rc, self.log, self.workflows, self.peak_kb, self.cpu = rc, log, workflows, peak_kb, cpu

    def workflow(self, wid):
        if wid not in self.workflows:
            fail("no summary for workflow %s in the log:\n%s" % (wid, self.log[-3000:]))
        return self.workflows[wid]


def run_daemon(conf, timeout=300, during=None):
    """crmsyncd -c conf --exit-when-idle; `during(proc)` is called once while it runs."""
    proc = subprocess.Popen([CRMSYNCD, "-c", conf, "--exit-when-idle"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    peak = 0
    deadline = time.time() + timeout
    called = during is None
    out = []
    import threading

    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            with open("/proc/%d/status" % proc.pid) as f:
                m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
                if m:
                    peak = max(peak, int(m.group(1)))
        except OSError:
            pass
        if not called:
            called = True
            during(proc)
        if time.time() > deadline:
            proc.kill()
            proc.wait()
            reader.join()
            fail("crmsyncd did not finish within %ds:\n%s" % (timeout, (b"".join(out)).decode()[-4000:]))
        time.sleep(0.05)
    reader.join()
    log = b"".join(out).decode("utf-8", "replace")
    workflows, cpu = summaries(log)
    return Run(proc.returncode, log, workflows, peak, cpu)


def state_db(scratch, name="crmsync.conf"):
    return sqlite3.connect(os.path.join(scratch.path(name + ".state"), "state.db"))


def captured(path):
    """The capture sink's lines as (stream, key, op) tuples."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.rstrip("\n").split("\t")[:3]) for line in f if line.strip()]


def rows(emu, table):
    with emu.lock:
        return {rid: dict(r) for rid, r in emu.store.by_set[table].rows.items()}


def requests_log(url, since=0):
    return control(url, "GET", "requests?since=%d" % since)
