#!/usr/bin/env python3
"""pg_daemon.py - crmsyncd end to end on the postgresql state driver, on a throwaway PostgreSQL server
(tests/lib/pgserver.py) reached over TCP with a password that only the owner-only dsn_file holds:

- a dsn_file others can read is refused by --check-config, at its line;
- records flow from the test plugin's memory source to its capture sink; kill -9 mid-run and restart, three
  times, then a drain: every key ends in its last version, versions of a key never go backwards, duplicates
  are at most the batches in flight at each kill, and the backlog in PostgreSQL is empty;
- the password appears in no log line, no admin API answer and no crmsyncctl output, also when the
  database refuses it;
- the database restarts mid-run: the daemon connects again, and the run drains with nothing lost;
- a database that cannot be reached at start is reported with libpq's reason and retried with back-off
  (SIGTERM ends the wait, exit 0); meanwhile the admin API and crmsyncctl show the workflow STARTING with
  that reason and refuse changes with 503; the daemon starts once the database is there;
- a database whose schema is newer than the daemon is refused, both versions named.
SKIP (77) only when the PostgreSQL server binaries are absent.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from checks import Scenario, check, require, wait_until  # noqa: E402
from crmsyncd import Crmsyncd  # noqa: E402
from pgserver import PgServer, free_port, secret_file  # noqa: E402

RECORDS, UPDATES, WRITERS, BATCH, KILLS = 20000, 4000, 4, 100, 3
TOKEN = "pg-admin-token"

scenario = Scenario("pg_daemon")
pg = PgServer().__enter__()
tmp = tempfile.TemporaryDirectory(prefix="crmsync-pgd-")
T = tmp.name
CTL = os.path.join(os.path.dirname(os.path.abspath(os.environ["CRMSYNCD"])), "crmsyncctl")


def secret(name, text):
    return secret_file(T, name, text)


TOKEN_FILE = secret("admin.token", TOKEN)


def write_conf(name, dsn_file, records=RECORDS, delay="20ms", captured="captured"):
    """A configuration on the postgresql driver: memory source -> capture sink ($T/captured)."""
    conf = os.path.join(T, name + ".conf")
    with open(conf, "w") as f:
        f.write(f"""state_dir: {T}/state-unused
state:
  driver: postgresql
  dsn_file: {dsn_file}
plugin_dir: {os.environ['TESTPLUG_DIR']}
plugins: [testplug]
log_level: info
admin: {{listen: "127.0.0.1:0", token_file: {TOKEN_FILE}}}
connections:
  mem: {{connector: memory-source, records: {records}, updates: {UPDATES}, size: 300, page: 500}}
  cap: {{connector: capture-sink, file: {T}/{captured}, delay: {delay}}}
workflows:
  - id: pgflow
    source: mem
    sink: cap
    writers: {WRITERS}
    batch_size: {BATCH}
    mappings: [{{stream: contacts}}]
""")
    return conf


def captured_lines(name="captured"):
    try:
        with open(os.path.join(T, name)) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


pg.sql("CREATE DATABASE crmsync")
DSN_FILE = secret("dsn", pg.tcp_dsn("crmsync"))
CONF = write_conf("flow", DSN_FILE)
LOG = os.path.join(T, "daemon.log")


def read_log():
    with open(LOG, errors="replace") as f:
        return f.read()


@scenario.case("a dsn_file others can read is refused by --check-config, at its line", needs=())
def dsn_file_mode():
    os.chmod(DSN_FILE, 0o644)
    try:
        r = subprocess.run([os.environ["CRMSYNCD"], "-c", CONF, "--check-config"], capture_output=True, text=True)
    finally:
        os.chmod(DSN_FILE, 0o600)
    out = r.stdout + r.stderr
    check(r.returncode != 0 and f"{CONF}:4:" in out and "state.dsn_file" in out and "chmod 600" in out,
          "--check-config refuses the readable dsn_file and names its line and the fix", out)
    check(pg.password not in out, "the refusal does not show the password", out)


@scenario.case("records flow; kill -9 mid-run and restart: nothing lost, keys in order, duplicates bounded")
def kill9():
    for i in range(KILLS):
        d = Crmsyncd(CONF, LOG, token=TOKEN).start()
        before = captured_lines()
        wait_until(lambda: captured_lines() > before + 300, 60, f"run {i + 1} writes records", lambda: d.read_log()[-3000:])
        d.kill9()
        print(f"killed run {i + 1} after {captured_lines()} captured lines", flush=True)
    r = subprocess.run(["timeout", "300", os.environ["CRMSYNCD"], "-c", CONF, "--exit-when-idle"],
                       stdout=open(LOG, "a"), stderr=subprocess.STDOUT)
    require(r.returncode == 0, f"the final run drains and exits 0 (got {r.returncode})", lambda: read_log()[-3000:])
    check_capture("captured", KILLS * WRITERS * BATCH)
    check(pg.sql("SELECT count(*) FROM backlog", "crmsync") == "0", "the backlog in PostgreSQL is empty")
    check(pg.sql("SELECT count(*) FROM dead_letter", "crmsync") == "0", "no dead letters")
    check("state database" in read_log() and "PostgreSQL" in read_log(), "the log says the state is in PostgreSQL")


def check_capture(name, max_duplicates):
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "runtime", "check_capture.py"), os.path.join(T, name),
                        str(RECORDS), str(UPDATES), "0", "--max-duplicates", str(max_duplicates)],
                       capture_output=True, text=True)
    check(r.returncode == 0, "every key ends in its last version, in order, duplicates within the batches in flight",
          r.stdout)


@scenario.case("the database restarts mid-run: the daemon connects again and loses nothing", needs=())
def db_restart():
    pg.sql("CREATE DATABASE restarted")
    conf = write_conf("restart", secret("dsn-restart", pg.tcp_dsn("restarted")), captured="captured-restart")
    with open(LOG, "a") as log:
        proc = subprocess.Popen(["timeout", "300", os.environ["CRMSYNCD"], "-c", conf, "--exit-when-idle"],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: captured_lines("captured-restart") > 300, 60, "records are written", lambda: read_log()[-3000:])
        pg.restart()
        print(f"restarted the server after {captured_lines('captured-restart')} captured lines", flush=True)
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()  # the daemon this case started
            proc.wait()
    require(rc == 0, f"the run drains and exits 0 (got {rc})", lambda: read_log()[-3000:])
    check("connected again" in read_log(), "the log says the state database was connected again")
    check_capture("captured-restart", WRITERS * BATCH * 2)
    check(pg.sql("SELECT count(*) FROM backlog", "restarted") == "0", "the backlog in PostgreSQL is empty")


@scenario.case("the password is in no log line, admin API answer or crmsyncctl output", needs=())
def no_password():
    d = Crmsyncd(CONF, LOG, token=TOKEN).start()
    try:
        d.wait_for("pgflow", lambda w: w.get("status") == "RUNNING", what="RUNNING")
        answers = [d.request("GET", p)[2] for p in
                   ("/api/v1/workflows", "/api/v1/workflows/pgflow", "/api/v1/health", "/api/v1/ready",
                    "/api/v1/connections", "/api/v1/plugins", "/metrics")]
        ctl = [subprocess.run([CTL, "-c", CONF, "--url", f"http://127.0.0.1:{d.port}", *args], capture_output=True,
                              text=True) for args in (["workflows"], ["show", "pgflow"], ["health"], ["--json", "workflows"])]
        ctl_text = "".join(r.stdout + r.stderr for r in ctl)
        check(all(pg.password not in a for a in answers), "no admin API answer holds the password")
        check(pg.password not in ctl_text and "pgflow" in ctl_text, "crmsyncctl shows the workflow, not the password",
              ctl_text)
        copy = os.path.join(os.path.dirname(CONF), "state-copy.db")
        r = subprocess.run([CTL, "-c", CONF, "--url", f"http://127.0.0.1:{d.port}", "backup", copy], capture_output=True,
                           text=True)
        check(r.returncode != 0 and "pg_dump" in r.stderr and not os.path.exists(copy),
              "crmsyncctl backup of a PostgreSQL state is refused, naming pg_dump, and leaves no file",
              (r.returncode, r.stdout, r.stderr))
    finally:
        require(d.stop() == 0, "crmsyncd exits 0 on SIGTERM")
    # a password the database refuses: the reason is logged, the password is not
    bad = "Wr0ng-" + pg.password
    conf = write_conf("badpw", secret("dsn-bad", pg.tcp_dsn("crmsync").replace(pg.password, bad)))
    d = Crmsyncd(conf, LOG, token=TOKEN).start(wait_port=False)
    try:
        wait_until(lambda: "retrying in" in d.read_log(), 30, "the refused password is logged with a retry",
                   lambda: d.read_log()[-3000:])
        text = d.read_log()
        check("password authentication failed" in text, "the log names libpq's reason", text[-2000:])
    finally:
        require(d.stop() == 0, "crmsyncd waiting for its database exits 0 on SIGTERM", lambda: d.read_log()[-2000:])
    check(pg.password not in read_log() and bad not in read_log(), "no log line holds either password")


@scenario.case("an unreachable database at start: the reason, retries with back-off, then it starts", needs=())
def unreachable():
    port = free_port()
    conf = write_conf("later", secret("dsn-later", f"host=127.0.0.1 port={port} dbname=crmsync "
                                                         f"user=crmsync_test password={pg.password}"), records=100)
    d = Crmsyncd(conf, LOG, token=TOKEN).start(wait_port=False)
    try:
        wait_until(lambda: "(attempt 2)" in d.read_log(), 30, "a second attempt after a back-off",
                   lambda: d.read_log()[-3000:])
        text = d.read_log()
        check("cannot connect to the state database" in text and "Connection refused" in text,
              "the log says why: connection refused", text[-2000:])
        check(d.proc.poll() is None, "crmsyncd keeps waiting: no crash, no exit")
        d.wait_port(30)
        wait_until(lambda: "next try in" in (d.workflow("pgflow").get("reason") or ""), 30,
                   "the admin API answers meanwhile: the workflow STARTING, the reason with the next try")
        w = d.workflow("pgflow")
        check(w.get("status") == "STARTING" and "the state database cannot be reached" in w["reason"]
              and "Connection refused" in w["reason"], "GET /workflows/pgflow: STARTING, libpq's reason", w)
        status, listed = d.api("GET", "/workflows")
        check(status == 200 and [x["status"] for x in listed["workflows"]] == ["STARTING"],
              "GET /workflows lists the configured workflow STARTING", listed)
        status, refused = d.api("POST", "/workflows/pgflow/stop")
        check(status == 503 and "cannot be reached" in refused["error"]["message"],
              "a stop is refused with 503 and the reason", refused)
        status, health = d.api("GET", "/health")
        check(status == 503, "GET /health is 503 meanwhile", health)
        ctl = subprocess.run([CTL, "--url", f"http://127.0.0.1:{d.port}", "--token-file", TOKEN_FILE, "workflows"],
                             capture_output=True, text=True)
        check(ctl.returncode == 0 and "pgflow" in ctl.stdout and "STARTING" in ctl.stdout,
              "crmsyncctl workflows shows the workflow STARTING", ctl.stdout + ctl.stderr)
        answers = str(w) + str(listed) + str(refused) + str(health) + ctl.stdout + ctl.stderr
        check(pg.password not in answers, "the password is in no admin answer and no crmsyncctl output")
        # the database appears on that port: a TCP relay to the server stands in for it
        relay = subprocess.Popen([sys.executable, "-c", RELAY, str(port), str(pg.port)])
        try:
            d.wait_port(90)
            d.wait_for("pgflow", lambda w: w.get("status") == "RUNNING", what="RUNNING once the database answers")
            check(True, "the daemon started once the database answered")
        finally:
            require(d.stop() == 0, "crmsyncd exits 0 on SIGTERM")
            relay.kill()  # the relay this case started
            relay.wait()
    finally:
        d.stop()
    check(pg.password not in d.read_log(), "the connection string's password (key=value form) is in no log line")


RELAY = """
import socket, sys, threading
src, dst = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", src)); ls.listen()
def pipe(a, b):
    try:
        while (data := a.recv(65536)):
            b.sendall(data)
    except OSError:
        pass
    finally:
        b.close()
while True:
    c, _ = ls.accept(); s = socket.create_connection(("127.0.0.1", dst))
    threading.Thread(target=pipe, args=(c, s), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c), daemon=True).start()
"""


@scenario.case("a database of a newer schema is refused, both versions named", needs=())
def newer_schema():
    pg.sql("CREATE DATABASE newer")
    pg.sql("CREATE TABLE crmsync_schema (version INTEGER NOT NULL); INSERT INTO crmsync_schema VALUES (99)", "newer")
    conf = write_conf("newer", secret("dsn-newer", pg.tcp_dsn("newer")))
    r = subprocess.run(["timeout", "60", os.environ["CRMSYNCD"], "-c", conf], capture_output=True, text=True)
    out = r.stdout + r.stderr
    check(r.returncode == 1 and "schema version 99" in out and "up to version 2" in out,
          "crmsyncd exits 1 naming version 99 and its own", out[-2000:])
    check(pg.password not in out, "the refusal does not show the password")


def cleanup():
    pg.__exit__()
    tmp.cleanup()


scenario.run(cleanup)
