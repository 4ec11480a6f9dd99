#!/usr/bin/env python3
"""emulators.py - the two services of the Quick start demo (demo/run.sh): the Dataverse and Campaign
emulators of tests/emulators/ as HTTP servers on loopback, with sample data, and what happens in Campaign
over time.

- Dataverse: an org as crmsync finds a new one (no activity tables for the email events, change tracking off
  on every table: `crmsyncctl setup dynamics365` creates the rest), with CONTACTS contacts and VEHICLES rows
  of the custom table new_vehicle, each linked to a contact (its lookup new_contact), for the workflow
  "Microsoft Dynamics 365 to Campaign".
- Campaign: the last daily opt-out export's file (no changes) from the start; once crmsyncd has written the
  profiles, a delivery's email events (send, open, click, bounce)
  in the I/O Events journal, then a few more every few seconds, for "Campaign to Microsoft Dynamics 365";
  and recipients who unsubscribe (blackListEmail) followed by Campaign's opt-out export, a CSV file written
  into --optout-dir, for "Opt In/Out". Each event and export is announced on stdout.

The clients' secrets are read from the files crmsyncd reads (--secrets DIR: d365.secret, acs.secret), so
no secret is on a command line. --status FILE is rewritten (atomically) with the base URLs, this process's
pid and what has been done so far (the contacts opted out through the export, a sample of vehicles with
their contacts): demo/run.sh waits for it, tests/demo/demo.py checks against it. SIGTERM or SIGINT stops
both servers and exits 0.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "emulators"))

from campaign import Campaign  # noqa: E402
from dataverse import Dataverse  # noqa: E402

D365_CLIENT, ACS_CLIENT = "crmsync-client", "crmsync-acs-client"  # the client ids in conf/demo.conf


def say(text):
    print("emulators: " + text, flush=True)


def read_secret(path):
    with open(path) as f:
        value = f.read().rstrip("\n")
    if not value:
        sys.exit("emulators.py: %s is empty" % path)
    return value


def control(url, method, path, body=None):
    """The emulator's control API (/_emulator/...): -> (status, JSON answer)."""
    req = urllib.request.Request(url + "/_emulator/" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Demo:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.status = {"pid": os.getpid(), "ready": False, "events": 0, "exports": [], "opted_out": [],
                       "vehicles": {}}
        self.dv = Dataverse(config={"clients": {D365_CLIENT: read_secret(os.path.join(args.secrets, "d365.secret"))},
                                    "setup_done": False})
        self.acs = Campaign(config={
            "clients": {ACS_CLIENT: read_secret(os.path.join(args.secrets, "acs.secret"))},
            "optout_export_dir": os.path.abspath(args.optout_dir),
            # the journal tells a reader at its end to come back after retry-after seconds (10 by default):
            # 1 here, so that new events show up within seconds
            "journal": {"retry_after": 1}})

    def write_status(self):
        tmp = self.args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.status, f, indent=1)
        os.replace(tmp, self.args.status)

    def start(self):
        a = self.args
        try:
            dv_url = self.dv.start(port=a.dataverse_port)
            acs_url = self.acs.start(port=a.campaign_port)
        except OSError as e:
            self.dv.stop()
            sys.exit("emulators.py: cannot listen on 127.0.0.1:%d or :%d (%s); is another demo running? Choose other "
                     "ports with DEMO_PORTS (see demo/run.sh)" % (a.dataverse_port, a.campaign_port, e))
        os.makedirs(a.optout_dir, exist_ok=True)
        code, doc = control(acs_url, "POST", "optout-export", {})  # Campaign's daily export ran before the demo
        if code != 200:
            sys.exit("emulators.py: the first opt-out export failed: %s %s" % (code, doc))
        contacts = self.dv.seed(a.contacts, "contacts")
        self.dv.seed(a.vehicles, "new_vehicles")
        with self.dv.lock:
            rows = self.dv.store.by_set["new_vehicles"].rows
            self.status["vehicles"] = {vid: rows[vid].get("_new_contact_value")
                                       for vid in sorted(rows)[:20]}
        self.status.update(dataverse=dv_url, campaign=acs_url, contacts=len(contacts), vehicle_rows=a.vehicles,
                           ready=True)
        self.write_status()
        say("Dataverse at %s: %d contacts, %d vehicles (custom table new_vehicle, each linked to a contact); no "
            "activity tables yet, change tracking off" % (dv_url, len(contacts), a.vehicles))
        say("Campaign at %s: empty; email events and opt-outs start once crmsyncd has written the profiles"
            % acs_url)

    # ---- what happens in Campaign over time ---------------------------------------------------------------
    def profiles(self):
        with self.acs.lock:
            res = self.acs.store.resources["profile"]
            return [r.get("externalId") for r in res.records.values() if r.get("externalId")]

    def events(self, count):
        code, doc = control(self.acs.base_url, "POST", "events", {
            "count": count, "types": ["send", "open", "click", "bounce"],
            "campaign": "Spring Campaign", "delivery": "Spring Newsletter %s" % time.strftime("%H:%M:%S")})
        if code != 200:
            say("appending email events failed: %s %s" % (code, doc))
            return
        self.status["events"] += doc["count"]

    def unsubscribe(self, count):
        """`count` recipients whose profile and contact are both opted in unsubscribe in Campaign, and
        Campaign's opt-out export writes them (and any other deny-list change) to a file."""
        done = set(self.status["opted_out"])
        chosen = []
        for cid in self.profiles():
            if len(chosen) == count:
                break
            if cid in done:
                continue
            with self.dv.lock:
                row = self.dv.store.by_set["contacts"].rows.get(cid)
                contact_in = row is not None and not row.get("donotbulkemail") and not row.get("donotemail")
            code, prof = control(self.acs.base_url, "GET", "resources/profile/externalId:" + cid)
            if contact_in and code == 200 and not prof.get("blackListEmail") and not prof.get("blackList"):
                code, _ = control(self.acs.base_url, "PATCH", "resources/profile/externalId:" + cid,
                                  {"blackListEmail": True})
                if code == 200:
                    chosen.append(cid)
        code, doc = control(self.acs.base_url, "POST", "optout-export", {})
        if code != 200:
            say("the opt-out export failed: %s %s" % (code, doc))
            return
        self.status["opted_out"] += chosen
        self.status["exports"].append(os.path.basename(doc["path"]))
        self.write_status()
        say("%d recipients unsubscribed in Campaign (blackListEmail); opt-out export %s: %d rows, one per deny-list "
            "field changed in Campaign since the previous export (by these recipients, by the sample data's "
            "profiles, and by crmsync writing opt-outs from Dynamics 365)"
            % (len(chosen), os.path.basename(doc["path"]), doc["rows"]))

    def scenario(self):
        a = self.args
        t0 = time.time()
        while not self.stop.wait(0.5):  # the profiles come from crmsyncd's first workflow
            n = len(self.profiles())
            if n >= a.contacts or (n and time.time() - t0 > 60):
                break
        if self.stop.is_set():
            return
        self.events(a.burst)
        self.write_status()
        say("Campaign sent a delivery: %d email events (send, open, click, bounce) in the journal" % a.burst)
        self.unsubscribe(a.unsubscribe)
        last_export = time.time()
        while not self.stop.wait(a.every):
            self.events(a.trickle)
            self.write_status()
            if time.time() - last_export >= a.export_every:
                self.unsubscribe(max(1, a.unsubscribe // 5))
                last_export = time.time()

    def close(self):
        self.stop.set()
        self.acs.stop()
        self.dv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataverse-port", type=int, default=8471)
    ap.add_argument("--campaign-port", type=int, default=8472)
    ap.add_argument("--secrets", required=True, help="directory holding d365.secret and acs.secret")
    ap.add_argument("--optout-dir", required=True, help="where Campaign's opt-out export writes its files")
    ap.add_argument("--status", required=True, help="JSON file: URLs, pid, what was done")
    ap.add_argument("--contacts", type=int, default=3000)
    ap.add_argument("--vehicles", type=int, default=750)
    ap.add_argument("--burst", type=int, default=2000, help="email events of the first delivery")
    ap.add_argument("--trickle", type=int, default=20, help="email events every --every seconds afterwards")
    ap.add_argument("--every", type=float, default=3.0)
    ap.add_argument("--unsubscribe", type=int, default=25, help="recipients who unsubscribe before the first export")
    ap.add_argument("--export-every", type=float, default=30.0, help="seconds between opt-out exports")
    args = ap.parse_args()

    demo = Demo(args)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a background job of sh ignores it: keep that
        signal.signal(signal.SIGINT, lambda *_: done.set())
    demo.start()
    worker = threading.Thread(target=demo.scenario, name="scenario", daemon=True)
    worker.start()
    while not done.wait(1):
        pass
    demo.close()
    worker.join(10)
    try:
        os.unlink(args.status)
    except OSError:
        pass
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
