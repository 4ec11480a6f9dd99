"""benchlib.py - owns what bench/ingress.py and bench/egress.py share: both emulators as their own
processes (so that neither the other emulator nor this script competes with them for one Python
interpreter), with LATENCY ms added to every answer; the run of the real crmsyncd with the daemon's CPU
time sampled per 10 % of the load; and the figures printed at the end (records/s, requests and engine
calls per record, mean requests in flight, daemon CPU per record, peak RSS, the projected time for
15,000,000 records, and the CPU per record of each tenth of the load: all of it, its writer threads', and
the rest's, which is mostly the reader's).
Environment: as tests/workflows/wflib.py's, plus LATENCY (ms, default 0).
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "workflows"))

import emuceiling as C  # noqa: E402
import wflib as W  # noqa: E402

LATENCY = float(os.environ.get("LATENCY") or 0)
FULL_LOAD = 15000000


class ProcEnv(W.Env):
    """wflib.Env whose emulators run as processes; what reads an in-process emulator is answered through
    the emulators' HTTP APIs instead."""

    def __init__(self, name, seed, dv_settings=()):
        super().__init__(name, seed=0)
        self.dv.stop()  # the in-process pair is replaced by processes
        self.acs.emu.stop()
        self.dv_proc, self.dv_url = C.start_emulator("dataverse.py", seed, LATENCY, dv_settings)
        self.acs_proc, self.acs.url = C.start_emulator("campaign.py", 0, LATENCY)
        C.warm_up_campaign(self.acs_proc, self.acs.url)

    def close(self):
        super().close()
        C.stop_emulator(self.dv_proc)
        C.stop_emulator(self.acs_proc)

    def contacts(self):
        """contactid -> {} for every contact, read through the Web API."""
        c = C.Client(self.dv_url)
        c.token("/%s/oauth2/v2.0/token" % C.DV_TENANT, {"grant_type": "client_credentials", "client_id": C.DV_CLIENT,
                                                        "client_secret": C.DV_SECRET, "scope": self.dv_url + "/.default"})
        out, target = {}, "/api/data/v9.2/contacts?$select=contactid"
        while target:
            status, body = c.request("GET", target, headers="Prefer: odata.maxpagesize=5000\r\n")
            W.check(status == 200, "the contacts can be read", body[:500])
            doc = json.loads(body)
            out.update((r["contactid"], {}) for r in doc["value"])
            target = doc.get("@odata.nextLink", "")[len(self.dv_url):]
        c.close()
        return out

    def count(self):
        return self.acs.ctl("GET", "resources/profile")[1]["count"]

    def rows_in(self, tables):
        """Rows in the Dataverse tables named (by entity set)."""
        counts = W.L.control(self.dv_url, "GET", "tables")
        return sum(counts[t] for t in tables)

    def load(self):
        """-> {emulator: its /_emulator/load document, with the CPU seconds its process used as "cpu_s"}."""
        out = {"campaign": self.acs.ctl("GET", "load")[1], "dataverse": W.L.control(self.dv_url, "GET", "load")}
        out["campaign"]["cpu_s"] = cpu_seconds(self.acs_proc.pid)
        out["dataverse"]["cpu_s"] = cpu_seconds(self.dv_proc.pid)
        return out


WRITER_THREAD = "crmsync-writer"  # the name core/engine/writer.c gives each writer thread


def stat_cpu(path):
    """utime + stime in seconds from a /proc stat file (of a process or of one of its threads)."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/<pid>/stat."""
    return stat_cpu("/proc/%d/stat" % pid)


def side_cpu_seconds(pid, seen):
    """utime + stime of the daemon's writer threads (told by their name) and of its other threads, from one
    pass over /proc/<pid>/task; `seen` ({tid: (is_writer, CPU seconds)}) keeps what a thread used once it
    has ended (a workflow's threads end before the process)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                is_writer = f.read().strip() == WRITER_THREAD
            seen[tid] = (is_writer, stat_cpu("/proc/%d/task/%s/stat" % (pid, tid)))
        except OSError:
            pass  # the thread ended meanwhile: its last reading stays
    return (sum(cpu for writer, cpu in seen.values() if writer),
            sum(cpu for writer, cpu in seen.values() if not writer))


def peak_kb(pid):
    """VmHWM of a process (0 once it is exiting)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Progress:
    """The `during` callback of run_daemon: polls `done()` (records the emulators hold) and the daemon's
    CPU time, all of it and its writer threads', until `total` records are in, keeping a sample at each
    tenth of the load, and its peak RSS (run_daemon's own sampling stops while this runs, and the daemon
    may exit soon after). The writer threads claim, map, write and settle; the rest is the reader (the
    source's pages parsed and enqueued, which runs ahead of the writers), the admin API and the main
    thread."""

    def __init__(self, done, total):
        self.done, self.total = done, total
        self.samples = []  # (records done, daemon CPU s, writer threads' CPU s, other threads' CPU s) at start and each tenth
        self.peak_kb = 0

    def __call__(self, proc):
        self.samples = [(0, 0.0, 0.0, 0.0)]
        threads = {}
        nxt = 1
        while nxt <= 10 and proc.poll() is None:
            try:
                n, cpu, sides = self.done(), cpu_seconds(proc.pid), side_cpu_seconds(proc.pid, threads)
                self.peak_kb = max(self.peak_kb, peak_kb(proc.pid))
            except (OSError, ValueError):
                break  # the daemon is exiting
            while nxt <= 10 and n >= self.total * nxt / 10:
                self.samples.append((n, cpu) + sides)
                nxt += 1
            time.sleep(0.05)

    def buckets(self, part=lambda cpu, writers, others: cpu):
        """us of daemon CPU per record in each tenth of the load (as far as it was sampled); `part` picks
        what of it (of the whole CPU, the writer threads' and the other threads' at a sample)."""
        return ["%.0f" % ((part(*s1[1:]) - part(*s0[1:])) * 1e6 / (s1[0] - s0[0])) if s1[0] > s0[0] else "-"
                for s0, s1 in zip(self.samples, self.samples[1:])]


def run(conf, progress, timeout):
    """crmsyncd --exit-when-idle on conf, `progress` sampling it -> (Run, wall seconds)."""
    start = time.monotonic()
    r = W.L.run_daemon(conf, timeout, during=progress)
    return r, time.monotonic() - start


def emulator_load(before, after):
    """-> {emulator: (mean requests being served, share of one CPU its process used)} between two load()
    readings: whether an emulator, rather than the daemon, was what the run waited for."""
    out = {}
    for name in before:
        wall = after[name]["uptime_s"] - before[name]["uptime_s"]
        if wall > 0:
            out[name] = ((after[name]["busy_s"] - before[name]["busy_s"]) / wall,
                         (after[name]["cpu_s"] - before[name]["cpu_s"]) / wall)
    return out


def duration(seconds):
    if seconds >= 86400:
        return "%.1f days" % (seconds / 86400)
    if seconds >= 3600:
        return "%.1f h" % (seconds / 3600)
    return "%.0f min" % (seconds / 60)


def beside_ceiling(rate, per_record, ceiling, name, unit):
    """The records/s an emulator's ceiling (requests/s measured, and at one full core of its own) allows
    at `per_record` of its units per record, beside the run's `rate`: whether the figure measures crmsyncd
    or the emulator."""
    measured, full_core = (c / per_record for c in ceiling)
    print("%s emulator ceiling for this load: %.0f records/s measured, %.0f with a core of its own (%.3f %s "
          "per record); this run reached %.0f %% of the measured one"
          % (name, measured, full_core, per_record, unit, 100.0 * rate / measured if measured else 0))


def report(what, records, wall, r, requests, engine_calls, emulators, progress):
    """The figures every benchmark prints."""
    cpu_us = (r.cpu["cpu_user_s"] + r.cpu["cpu_system_s"]) * 1e6 / records
    rate = records / wall
    print("%s at %g ms latency: %d records in %.1f s: %.0f records/s end to end" % (what, LATENCY, records, wall, rate))
    print("requests per record: %.3f, engine calls per record: %.3f" % (requests / records, engine_calls / records))
    print("mean requests in flight: %s" % ", ".join("%s %.1f" % (k, v[0]) for k, v in sorted(emulators.items())))
    print("emulator CPU: %s of one core" % ", ".join("%s %.0f %%" % (k, v[1] * 100) for k, v in sorted(emulators.items())))
    print("daemon CPU: %.0f us/record, peak RSS %.1f MB" % (cpu_us, max(r.peak_kb, progress.peak_kb) / 1024.0))
    print("projected time for %d records: %s" % (FULL_LOAD, duration(FULL_LOAD / rate)))
    print("daemon CPU us/record per 10 %% of the load: %s" % " ".join(progress.buckets()))
    print("  writer threads: %s" % " ".join(progress.buckets(lambda cpu, writers, others: writers)))
    print("  reader and the rest: %s" % " ".join(progress.buckets(lambda cpu, writers, others: others)))
    return cpu_us
