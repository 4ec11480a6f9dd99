#!/usr/bin/env python3
"""demo.py - the Quick start demo works: `demo/run.sh --no-build` on this build, in a scratch directory and on
free ports (DEMO_DIR, DEMO_PORTS; deps.sh, bootstrap and make are not run), starts both emulators with
their sample data and crmsyncd on conf/demo.conf. What the workflows did is checked by asking the daemon and
the emulators, not from run.sh's summary:

0. run.sh runs preflight on the emulators started empty (it fails, listing the activity tables and change
   tracking), setup dynamics365, and preflight again (it passes), then starts the workflows;
1. run.sh reports ready and prints the Workflows page's URL, which answers with the page; the three
   workflows of conf/demo.conf are RUNNING, their backlogs drain to 0, nothing is dead-lettered;
2. Campaign holds a profile per contact (the mapped fields of a sample equal the contact's) and a cusVehicle
   per vehicle, each sampled one linked to its contact's profile; every email event the emulator put in the
   journal is an activity in Dynamics 365 (all four types); every recipient who unsubscribed in Campaign is
   opted out (donotbulkemail) in Dynamics 365;
3. the secret files are owner-only and no secret appears in the output, the log or a command line;
4. Ctrl-C (SIGINT to run.sh's process group, as a terminal sends it) stops crmsyncd (exit 0, every workflow
   STOPPED) and the emulators, leaves no process of the demo behind and frees the ports;
5. a second run in the same directory starts afresh (empty state: every contact a profile again) and
   SIGTERM to run.sh alone (as `kill` sends it) makes run.sh itself stop crmsyncd (SIGTERM) and the
   emulators, again leaving nothing behind;
6. `crmsyncd --check-config` passes from / on conf/demo.conf (a copy beside the prepared build/demo/) and on
   run.sh's copy in build/demo/: relative paths are taken from the file's directory, not the working one (the
   whole demo, crmsyncd and crmsyncctl, runs that copy too); the test-plugin demo
   (tests/fixtures/config/testplug-demo.conf) passes it from a copy in a build directory's layout;
3b. every command crmsyncctl(1) lists runs on every workflow of the demo, from / with the -c that run.sh's hint
   names (its relative token_file taken from the file's directory), exits 0 and prints what the man page says
   (show: the definition as YAML).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CRMSYNCD = os.environ.get("CRMSYNCD") or os.path.join(TOP, "build", "crmsyncd")
BUILD = os.path.dirname(os.path.abspath(CRMSYNCD))
CTL = os.path.join(BUILD, "crmsyncctl")
WORKFLOWS = {"dynamics365-to-campaign", "campaign-to-dynamics365", "opt-in-out"}
# what runs inside them, as the log names it: Opt In/Out's two legs (direction bidirectional)
RUNNING_IDS = {"dynamics365-to-campaign", "campaign-to-dynamics365", "opt-in-out/campaign-to-d365",
               "opt-in-out/d365-to-campaign"}
TYPES = ("send", "open", "click", "bounce")

scratch = tempfile.mkdtemp(prefix="crmsync-demo-")
run_out = os.path.join(scratch, "run.out")
demo = os.path.join(scratch, "build", "demo")
proc = None


def output():
    with open(run_out, errors="replace") as f:
        return f.read()


def fail(what, detail=None):
    print("FAIL: " + what)
    if detail is not None:
        print(detail if isinstance(detail, str) else json.dumps(detail, indent=1, default=str)[:4000])
    print("---- run.sh output (tail; the scratch directory %s is kept)\n" % scratch + output()[-4000:])
    log = os.path.join(demo, "crmsyncd.log")
    if os.path.exists(log):
        print("---- crmsyncd.log (tail)\n" + open(log, errors="replace").read()[-3000:])
    if proc is not None and proc.poll() is None:  # never leave the demo running: its session, then the rest
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(3)
    for pid in demo_processes():
        os.kill(pid, signal.SIGKILL)  # started by this test (they run in its scratch directory)
    sys.exit(1)


def check(cond, what, detail=None):
    if not cond:
        fail(what, detail() if callable(detail) else detail)
    print("ok: " + what)


def wait_until(pred, timeout, what, detail=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            fail("run.sh exited (status %s) while waiting: %s" % (proc.returncode, what))
        if pred():
            print("ok: %s (%.1fs)" % (what, time.time() - t0))
            return
        time.sleep(0.3)
    fail("%s (within %ds)" % (what, timeout), detail() if callable(detail) else detail)


def demo_processes():
    """Processes whose working directory is the scratch directory or in it (run.sh, crmsyncd, the emulators),
    or in run.sh's session; never this test."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % p)
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z":
            continue
        if cwd == scratch or cwd.startswith(scratch + "/") or (proc is not None and int(fields[3]) == proc.pid):
            found.append(int(p))
    return found


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def get_or_none(url):
    try:
        return get(url)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def start(ports, what):
    """run.sh --no-build in the scratch directory, in a session of its own (a process group SIGINT can go to,
    like a terminal's); -> its status file once it reports ready."""
    global proc
    env = dict(os.environ, DEMO_BUILD=BUILD, DEMO_DIR=scratch, DEMO_PORTS="%d %d %d" % ports,
               DEMO_SECONDS="600")  # a safety net: the test stops it long before
    t0 = time.time()
    with open(run_out, "w") as out:
        proc = subprocess.Popen(["sh", os.path.join(TOP, "demo", "run.sh"), "--no-build"], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=scratch,
                                start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_until(lambda: re.search(r"ready after .*Ctrl-C stops everything", output(), re.S), 150,
               "%s: run.sh reports every workflow RUNNING with its backlog drained" % what)
    print("measure: %s: ready %.1f s after run.sh started" % (what, time.time() - t0))
    return json.load(open(os.path.join(demo, "emulators.json")))


def stop(ports, sig, group, rc_expected, what):
    """Sends `sig` to run.sh (its process group when `group`), then checks that everything stopped."""
    pids = demo_processes()
    (os.killpg if group else os.kill)(proc.pid, sig)
    try:
        rc = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        fail("run.sh did not exit within 90 s of %s" % what)
    text = output()
    check(rc == rc_expected, "%s: run.sh exits with %d" % (what, rc_expected), rc)
    check(re.search(r"crmsyncd stopped \(exit status 0\).*the emulators stopped \(exit status 0\)", text, re.S),
          "%s: crmsyncd, then the emulators stopped with status 0" % what, text[-1500:])
    log = open(os.path.join(demo, "crmsyncd.log"), errors="replace").read()
    stopped = set(re.findall(r"\[([a-z0-9/-]+)\] STOPPED", log))
    signals = set(re.findall(r"(SIG[A-Z]+): stopping workflows", log))
    # Ctrl-C reaches crmsyncd too (SIGINT, with run.sh's SIGTERM on its heels); a `kill` of run.sh only
    # reaches it through run.sh (SIGTERM)
    graceful = len(signals) == 1 and signals <= {"SIGINT", "SIGTERM"} if group else signals == {"SIGTERM"}
    check(stopped == RUNNING_IDS and graceful,
          "%s: crmsyncd stopped every workflow gracefully (%s)" % (what, ", ".join(sorted(signals))), log[-2000:])
    left = demo_processes()
    check(not left and not [p for p in pids if os.path.exists("/proc/%d" % p)],
          "%s: no process of the demo is left (%d ran)" % (what, len(pids)),
          [open("/proc/%d/cmdline" % p).read() for p in left])
    try:
        for port in ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT do not count
            s.bind(("127.0.0.1", port))
            s.listen(1)
            s.close()
    except OSError as e:
        fail("%s: the demo's ports are free again" % what, str(e))
    print("ok: %s: the demo's ports are free again" % what)


def man_commands():
    """The commands crmsyncctl(1) lists under COMMANDS (the word after .B or .BI of each tagged paragraph)."""
    text = open(os.path.join(TOP, "doc", "crmsyncctl.1")).read()
    section = text.split(".SH COMMANDS", 1)[1].split(".SH ", 1)[0]
    return {c.replace("\\-", "-") for c in re.findall(r"^\.TP\n\.BI? \"?([a-z-\\]+)", section, re.M)}


def ctl_commands(out):
    """Runs every command of crmsyncctl(1) the way run.sh's hint says (from its directory, with its -c), each on
    every workflow of the demo: each exits 0 and prints what the man page promises, never nothing."""
    m = re.search(r"in another terminal, from any directory: (\S+) -c (\S+) show dynamics365-to-campaign", out)
    check(m, "run.sh tells how to run crmsyncctl and with which configuration", out[-2000:])
    ctl, conf = m.groups()
    cwd = "/"  # any directory: the configuration's relative paths (the token file) are taken from its own

    def run(*args, editor="true"):
        r = subprocess.run([ctl, "-c", conf] + list(args), cwd=cwd, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, EDITOR=editor, VISUAL=editor))
        return r.returncode, r.stdout, r.stderr

    done = set()

    def expect(what, args, ok, **kw):
        rc, so, se = run(*args, **kw)
        done.add(args[0])
        check(rc == 0 and so.strip() and ok(so) and not se.strip(), "crmsyncctl %s: %s" % (" ".join(args), what),
              (rc, so[-1500:], se[-1500:]))
        return so

    expect("one line per workflow", ["workflows"], lambda so: all(w in so for w in WORKFLOWS))
    expect("every prerequisite checked and met (run.sh ran setup)", ["preflight"],
           lambda so: "FAIL" not in so and so.rstrip().endswith("0 check(s) failed") and
           all("/%s: " % w in so for w in WORKFLOWS))
    expect("setup has nothing left to do", ["setup", "dynamics365"],
           lambda so: so.strip() == "dynamics365: nothing to do: everything the workflows need is there")
    expect("ok: every workflow that should run does", ["health"], lambda so: so.startswith("ok"))
    for wf in sorted(WORKFLOWS):
        expect("status and the definition as YAML", ["show", wf],
               lambda so: re.search(r"definition \(revision 1, from config\):\n(?:.+\n)*?(?:mappings|legs):\n", so))
        expect("the revisions", ["revisions", wf], lambda so: re.search(r"^1\s+config\b", so, re.M))
        expect("revision 1", ["revisions", wf, "1"], lambda so: so.startswith("revision 1 (config"))
        expect("the dead letters: none, under the header", ["dead-letters", wf],
               lambda so: so.split() == ["ID", "KEY", "CLASS", "HTTP", "DETAIL"])
        expect("an unchanged edit stores nothing", ["edit", wf], lambda so: "%s: no changes; nothing stored" % wf in so)
        expect("nothing to redrive", ["redrive", wf], lambda so: "%s: 0 dead letter(s) back in the backlog" % wf in so)
    expect("the contacts read again", ["replay", "dynamics365-to-campaign", "contacts"],
           lambda so: so.startswith("dynamics365-to-campaign: contacts: "))
    expect("stopped", ["stop", "opt-in-out", "--wait"], lambda so: so.strip() == "opt-in-out: STOPPED")
    expect("running again", ["start", "opt-in-out", "--wait"], lambda so: so.strip().startswith("opt-in-out: RUNNING"))
    expect("the fleet: this daemon alone, reading and writing every workflow", ["fleet"],
           lambda so: len(re.findall(r"\(this\)", so)) == 1 and all(w in so.split("WORKFLOW", 1)[-1] for w in WORKFLOWS))
    with tempfile.TemporaryDirectory(prefix="crmsync-demo-backup-") as where:
        copy = os.path.join(where, "state.db")
        expect("a copy of the state database", ["backup", copy], lambda so: so.startswith("state database copied to "))
        check(os.stat(copy).st_mode & 0o777 == 0o600, "the backup is owner-only", oct(os.stat(copy).st_mode))
    check(done >= man_commands() and man_commands(), "every command of crmsyncctl(1) was run: %s" % sorted(done),
          sorted(man_commands() - done))


def main():
    ports = tuple(free_ports(3))
    admin, dv_port, acs_port = ports
    dv, acs = "http://127.0.0.1:%d" % dv_port, "http://127.0.0.1:%d" % acs_port

    # ---- 1. ready: every workflow RUNNING, the backlogs drained ---------------------------------------------
    status = start(ports, "first run")
    seq = re.search(r"preflight \(the systems as they are.*?\n(.*?)demo: ---- \S+ -c \S+ setup dynamics365.*?\n(.*?)"
                    r"demo: ---- \S+ -c \S+ preflight\n(.*?)demo: started", output(), re.S)
    check(seq and "FAIL d365/campaign-to-dynamics365: table new_acsemailsend" in seq.group(1) and
          "create activity table new_acsemailsend" in seq.group(2) and "0 check(s) failed" in seq.group(3),
          "run.sh: preflight lists what is missing, setup creates it, preflight passes, the workflows start",
          output()[:6000])

    def workflows():
        r = subprocess.run([CTL, "--url", "http://127.0.0.1:%d" % admin, "--json", "workflows"], capture_output=True,
                           text=True, timeout=30)
        return json.loads(r.stdout)["workflows"] if r.returncode == 0 else []

    w = workflows()
    check({x["id"] for x in w} == WORKFLOWS, "crmsyncctl lists the three workflows of conf/demo.conf", w)
    # a workflow is RUNNING with an empty backlog before its reader's first page is in: wait for records
    wait_until(lambda: all(x["status"] == "RUNNING" and x["backlog"] == 0 and x["records_written"] > 0
                           for x in workflows()), 60,
               "every workflow RUNNING, records written, with an empty backlog", workflows)
    check(all(x["dead_letters"] == 0 for x in workflows()), "no dead letter", workflows)

    page = "http://127.0.0.1:%d/" % admin
    check("Workflows page: " + page in output(), "run.sh prints the Workflows page's URL")
    m = re.search(r"the admin token, new at every run, in (\S+): cat (\S+)\n", output())
    token_file = os.path.join(scratch, "build", "demo", "secrets", "admin.token")
    check(m and m.group(1) == m.group(2) == token_file,
          "run.sh says where the token the page asks for is, and the command that prints it", output()[-1500:])
    try:
        with urllib.request.urlopen(page, timeout=10) as r:
            page_ok = r.status == 200 and r.headers.get("Content-Type", "").startswith("text/html")
    except OSError as e:
        page_ok = e
    check(page_ok is True, "the Workflows page answers at that URL (admin.web_dir: build/demo/web -> web/)", page_ok)

    # ---- 2. what ended up in the emulators ------------------------------------------------------------------
    res = get(acs + "/_emulator/resources")
    tables = get(dv + "/_emulator/tables")
    check(status["contacts"] >= 1000 and res["profile"] == tables["contacts"] == status["contacts"],
          "a Campaign profile per Dynamics 365 contact (%d)" % status["contacts"], (res, tables))
    check(status["vehicle_rows"] >= 100 and res["cusVehicle"] == tables["new_vehicles"] == status["vehicle_rows"],
          "a cusVehicle record per new_vehicle row (%d)" % status["vehicle_rows"], (res, tables))
    wrong = []
    for vid, cid in sorted(status["vehicles"].items()):
        vehicle = get_or_none(acs + "/_emulator/resources/cusVehicle/externalId:" + vid)
        link = ((vehicle or {}).get("profile") or {}).get("PKey")
        parent = get_or_none(acs + "/_emulator/resources/profile/" + link) if link else None
        contact = get(dv + "/_emulator/tables/contacts/" + cid)
        profile = get(acs + "/_emulator/resources/profile/externalId:" + cid)
        if not parent or parent.get("externalId") != cid:
            wrong.append(("link", vid, cid, vehicle, parent))
        if (profile["firstName"], profile["lastName"], profile["email"]) != (
                contact["firstname"], contact["lastname"], contact["emailaddress1"]):
            wrong.append(("fields", cid, profile, contact))
    check(len(status["vehicles"]) >= 10 and not wrong, "%d sampled vehicles link to their contact's profile, whose "
          "fields are the contact's" % len(status["vehicles"]), wrong[:3])

    def activities():
        t = get(dv + "/_emulator/tables")
        return [t["new_acsemail%ss" % k] for k in TYPES]

    def events():
        return json.load(open(os.path.join(demo, "emulators.json")))["events"]

    wait_until(lambda: sum(activities()) == events() and all(activities()), 30,
               "every email event in the journal is an activity in Dynamics 365, all four types",
               lambda: (activities(), events()))
    check(sum(activities()) >= 2000, "the first delivery's 2000 events at least", activities())

    opted = status["opted_out"]
    check(len(opted) >= 10, "recipients unsubscribed in Campaign and were exported", status)

    def not_applied():
        return [c for c in opted if not get(dv + "/_emulator/tables/contacts/" + c)["donotbulkemail"]]

    wait_until(lambda: not not_applied(), 30, "each of the %d opt-outs exported by Campaign is applied to its "
               "contact in Dynamics 365 (donotbulkemail)" % len(opted), not_applied)

    # ---- 3. secrets ---------------------------------------------------------------------------------------------
    secrets = {}
    for name in ("d365.secret", "acs.secret", "admin.token"):
        path = os.path.join(demo, "secrets", name)
        check(os.stat(path).st_mode & 0o777 == 0o600, "%s is mode 0600" % name, oct(os.stat(path).st_mode))
        secrets[name] = open(path).read().strip()
    cmdlines = ""
    pids = demo_processes()
    for pid in pids:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdlines += f.read().replace(b"\0", b" ").decode(errors="replace") + "\n"
    check("crmsyncd" in cmdlines and "emulators.py" in cmdlines, "crmsyncd and the emulators run", cmdlines)
    texts = output() + open(os.path.join(demo, "crmsyncd.log"), errors="replace").read() + cmdlines
    check(all(len(s) >= 32 and s not in texts for s in secrets.values()),
          "no secret in run.sh's output, crmsyncd's log or a command line")

    # ---- 3b. every crmsyncctl command of crmsyncctl(1), as run.sh tells the operator to run it -------------------
    ctl_commands(output())

    # ---- 4. Ctrl-C ----------------------------------------------------------------------------------------------
    stop(ports, signal.SIGINT, True, 130, "Ctrl-C")

    # ---- 5. again in the same directory, stopped by a kill of run.sh alone ----------------------------------
    status = start(ports, "second run")
    res = get(acs + "/_emulator/resources")
    check(res["profile"] == status["contacts"] and res["cusVehicle"] == status["vehicle_rows"],
          "second run: every contact and vehicle written again (the state started empty, as the emulators did)", res)
    check(all(x["status"] == "RUNNING" for x in workflows()), "second run: every workflow RUNNING", workflows)
    stop(ports, signal.SIGTERM, False, 143, "SIGTERM to run.sh")

    # ---- 6. the configuration check, from another working directory: relative paths are the file's ---------------
    os.makedirs(os.path.join(scratch, "conf"))
    shutil.copy(os.path.join(TOP, "conf", "demo.conf"), os.path.join(scratch, "conf", "demo.conf"))
    for conf in (os.path.join(scratch, "conf", "demo.conf"), os.path.join(demo, "demo.conf")):
        r = subprocess.run([CRMSYNCD, "--check-config", "-c", conf], cwd="/", capture_output=True, text=True)
        check(r.returncode == 0 and "OK (5 plugins, 2 connections, 3 workflows)" in r.stdout,
              "crmsyncd --check-config -c %s passes from /: its relative paths are taken from its directory, where "
              "run.sh prepared build/demo/" % os.path.relpath(conf, scratch), r.stdout + r.stderr)
    if os.path.exists(os.path.join(BUILD, "tests", "fixtures", "plugins", "testplug", "testplug.la")):
        os.makedirs(os.path.join(scratch, "tp", "tests", "fixtures", "plugins"))  # a build directory's layout
        os.symlink(os.path.join(BUILD, "tests", "fixtures", "plugins", "testplug"),
                   os.path.join(scratch, "tp", "tests", "fixtures", "plugins", "testplug"))
        shutil.copy(os.path.join(TOP, "tests", "fixtures", "config", "testplug-demo.conf"), os.path.join(scratch, "tp"))
        r = subprocess.run([CRMSYNCD, "--check-config", "-c", os.path.join(scratch, "tp", "testplug-demo.conf")], cwd="/",
                           capture_output=True, text=True)
        check(r.returncode == 0, "the test-plugin demo's configuration passes --check-config", r.stdout + r.stderr)
    shutil.rmtree(scratch, ignore_errors=True)
    print("demo: ok")


if __name__ == "__main__":
    main()
