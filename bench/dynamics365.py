#!/usr/bin/env python3
"""dynamics365.py - benchmark of the dynamics365 connector against the Dataverse emulator (in this
process), with the real crmsyncd. Run it with `make bench-dynamics365`. Figures depend on the machine
and mostly on the emulator, which is Python; nothing asserts them.

Read:  100,000 contacts (13 columns, page size 5000) read into the backlog. The sink's writers are held
       off (a capture sink answering every write with a one-hour Retry-After), so the figure is the
       source alone: records / wall time until the reader logs that it caught up, and the daemon's CPU
       time (user + system, from /proc) per record at that moment.
Write: 10,000 activities (new_acsemailevents, upsert by alternate key, regardingobjectid bound to a
       contact) from a JSON-lines source through $batch with the connector's defaults (batch_size 100,
       max_in_flight 48) and 4 writers: records / wall time of the run, and $batch requests sent.
       The emulator's service protection limits are off (BENCH_THROTTLE=1 keeps them): with them, 10,000
       operations exceed the 6000 requests per 5 minutes of one user, and the run measures the limit.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "connectors", "dynamics365"))
import d365lib as L  # noqa: E402

READ_ROWS = int(os.environ.get("BENCH_READ", "100000"))
WRITE_ROWS = int(os.environ.get("BENCH_WRITE", "10000"))
COLUMNS = ["firstname", "lastname", "emailaddress1", "telephone1", "mobilephone", "birthdate", "gendercode",
           "address1_city", "jobtitle", "donotbulkemail", "donotemail", "statecode", "modifiedon"]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_read():
    s = L.Scratch()
    emu, url = L.emulator(seed=READ_ROWS)
    try:
        conns = {"d365": L.connection(s, url, {"contacts": {"columns": COLUMNS}}),
                 "cap": {"connector": "capture-sink", "file": s.path("captured"), "retry_every": 1,
                         "retry_after": "1h"}}
        wf = [{"id": "read", "source": "d365", "sink": "cap", "read_batch": 5000,
               "backlog": {"high_water": READ_ROWS * 2}, "mappings": [{"stream": "contacts"}]}]
        conf = L.write_config(s, conns, wf, log_level="notice")
        start = time.monotonic()
        proc = subprocess.Popen([L.CRMSYNCD, "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in proc.stdout:
                if "caught up with the source" in line:
                    wall, cpu = time.monotonic() - start, cpu_seconds(proc.pid)
                    break
            else:
                sys.exit("crmsyncd exited before catching up")
        finally:
            proc.kill()
            proc.wait()
        pages = L.control(url, "GET", "counts")
        print("read  %6d contacts into the backlog: %7.0f records/s, daemon CPU %.1f us/record, %d GET pages"
              % (READ_ROWS, READ_ROWS / wall, cpu * 1e6 / READ_ROWS, pages.get("query", 0) + pages.get("delta", 0)))
    finally:
        emu.stop()
        s.close()


def bench_write():
    s = L.Scratch()
    emu, url = L.emulator({"throttle": {"enabled": os.environ.get("BENCH_THROTTLE") == "1"}}, seed=1000)
    try:
        contacts = sorted(L.rows(emu, "contacts"))
        with open(s.path("events.jsonl"), "w") as f:
            for i in range(WRITE_ROWS):
                f.write(json.dumps({"key": "ev-%d" % i, "op": "upsert", "payload": {
                    "subject": "Adobe Campaign email open %d" % i, "new_eventtype": 2, "new_campaignname": "Spring",
                    "new_eventtime": "2026-03-01T10:00:00Z",
                    "regardingobjectid_contact_new_acsemailevent@odata.bind": "contacts(%s)" % contacts[i % 1000]}})
                        + "\n")
        conns = {"d365": L.connection(s, url, {"new_acsemailevents": {"key": ["new_acseventid"]}}),
                 "ev": {"connector": "jsonl-source", "file": s.path("events.jsonl")}}
        wf = [{"id": "write", "source": "ev", "sink": "d365", "mappings": [{"stream": "e", "target": "new_acsemailevents"}]}]
        conf = L.write_config(s, conns, wf, plugins=["dynamics365", L.D365TEST], log_level="notice")
        start = time.monotonic()
        r = L.run_daemon(conf, 900)
        wall = time.monotonic() - start
        w = r.workflow("write")
        if r.rc != 0 or w["records_written"] != WRITE_ROWS:
            sys.exit("write run failed: %s" % w)
        counts = L.control(url, "GET", "counts")
        print("write %6d activities through $batch: %7.0f records/s, %d $batch requests (%d answered 429), "
              "daemon CPU %.1f us/record" % (WRITE_ROWS, WRITE_ROWS / wall, counts.get("batch", 0), counts.get("status_429", 0),
                 (r.cpu["cpu_user_s"] + r.cpu["cpu_system_s"]) * 1e6 / WRITE_ROWS))
    finally:
        emu.stop()
        s.close()


if __name__ == "__main__":
    bench_read()
    bench_write()
