#!/usr/bin/env python3
"""initial_100k.py - the initial sync of 100,000 contacts from the Dataverse emulator with the real
daemon (page size 5000, the default): every contact delivered once, and the daemon's peak RSS (VmHWM)
printed and bounded, so that memory stays bounded by a page whatever the table size. The same run with
10,000 contacts gives the baseline: the 10x larger table may not cost more than PEAK_GROWTH_KB more.
"""
import os

import d365lib as L

COLUMNS = ["firstname", "lastname", "emailaddress1", "telephone1", "mobilephone", "birthdate", "gendercode",
           "address1_city", "jobtitle", "donotbulkemail", "donotemail", "statecode", "modifiedon"]
PEAK_LIMIT_KB = 64 * 1024    # absolute bound on the daemon's peak RSS
PEAK_GROWTH_KB = 12 * 1024   # 100,000 rows may not need much more than 10,000


def sync(n):
    s = L.Scratch()
    emu, url = L.emulator(seed=n)
    try:
        cap = s.path("captured")
        conns = {"d365": L.connection(s, url, {"contacts": {"columns": COLUMNS, "labels": ["gendercode"]}}),
                 "cap": {"connector": "capture-sink", "file": cap}}
        wf = [{"id": "initial", "source": "d365", "sink": "cap", "poll_interval": "1s",
               "mappings": [{"stream": "contacts"}]}]
        r = L.run_daemon(L.write_config(s, conns, wf, log_level="notice"), 900)
        L.require(r.rc == 0, "initial sync of %d failed:\n%s" % (n, r.log[-3000:]))
        keys = [k for _, k, _ in L.captured(cap)]
        L.require(len(keys) == n and set(keys) == set(L.rows(emu, "contacts")),
                "initial sync of %d: %d lines, %d distinct keys" % (n, len(keys), len(set(keys))))
        return r.peak_kb
    finally:
        emu.stop()
        s.close()


def main():
    base = sync(10000)
    peak = sync(100000)
    print("initial sync: peak RSS (VmHWM) of crmsyncd %d kB for 10,000 contacts, %d kB for 100,000" % (base, peak))
    if os.environ.get("CRMSYNC_SANITIZED"):
        # AddressSanitizer's shadow memory and quarantine make RSS meaningless: delivery is still checked
        print("sanitizer build: the RSS bounds are not checked")
        return
    L.require(peak <= PEAK_LIMIT_KB, "peak RSS %d kB above %d kB" % (peak, PEAK_LIMIT_KB))
    L.require(peak - base <= PEAK_GROWTH_KB, "peak RSS grows with the table: %d kB -> %d kB" % (base, peak))
    print("initial-100k: ok")


if __name__ == "__main__":
    main()
