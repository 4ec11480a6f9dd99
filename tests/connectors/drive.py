"""drive.py - shared by the connector tests that drive instances through plugdrive (plugdrive.c): writes
the crmsync configuration holding the connection (its options are resolved by the core's config
module), the script (mappings as host->mapping_streams answers them, steps) and runs it, returning one
dict per step. Environment (exported by make check): PLUGDRIVE, else derived from CRMSYNCD's build
directory.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from checks import check  # noqa: E402,F401 (the plugdrive tests take it from here)


def plugdrive():
    p = os.environ.get("PLUGDRIVE")
    if not p:
        crmsyncd = os.environ.get("CRMSYNCD") or sys.exit("CRMSYNCD is not set: run through make check")
        p = os.path.join(os.path.dirname(crmsyncd), "tests", "connectors", "plugdrive")
    return p


def secret_file(tmp, value, name="secret"):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return path


def run(tmp, plugin, connection, mappings, steps, instances=1, name="drive", state="state.db", timeout=120):
    """Run plugdrive on `connection` (the connection's options, "connector" included); -> (exit status,
    [one dict per printed line], stderr text)."""
    conf = os.path.join(tmp, name + ".conf")
    with open(conf, "w") as f:
        json.dump({"state_dir": os.path.join(tmp, "state"), "plugins": [plugin],
                   "connections": {"conn": connection}}, f, indent=1)
    script = os.path.join(tmp, name + ".json")
    with open(script, "w") as f:
        json.dump({"plugin": plugin, "config": conf, "connection": "conn", "state": os.path.join(tmp, state),
                   "mappings": mappings, "instances": instances, "steps": steps}, f, indent=1)
    p = subprocess.run([plugdrive(), script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines() if line.strip()], p.stderr
