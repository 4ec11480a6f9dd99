#!/usr/bin/env python3
"""pg_fleet.py - two crmsyncd (nodes a and b) on one PostgreSQL database (tests/lib/pgserver.py), the test
plugin's memory source -> capture sink, a reader lease of 3 s and a high-water mark that keeps the reader
reading through the whole run:

- writers of both daemons claim from the one backlog, and no key is ever claimed twice (the database's
  claims, sampled all along the load);
- failover: kill -9 the reader's holder mid-load; the other takes the lease and reads on from the committed
  cursor; after the drain every key ends in its last version, versions of a key never go backwards,
  duplicates are at most the batches in flight at the kill, the backlog is empty; the survivor's fleet view
  (the API and crmsyncctl fleet) shows itself as the reader and the dead member gone, and its /metrics that
  it holds the reader lease of the only live member;
- partition: daemon a reaches the database through a TCP proxy that stalls (no byte forwarded either way,
  nothing closed); a's admin API still answers, its status saying the state database is not answering
  and its /healthz degraded, naming it (every call to the database is bounded); b takes the lease once
  a's expired; a's log says it lost the lease; the records the two committed add up to the source's
  events exactly (no read committed twice, none skipped); unstalled, a stays a writer beside the reader
  b, nothing lost;
- a Stop through one daemon stops the workflow on the other; a Start through it starts it on both.
SKIP (77) only when the PostgreSQL server binaries are absent.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from checks import Scenario, check, require, wait_until  # noqa: E402
from crmsyncd import Crmsyncd  # noqa: E402
from pgserver import PgServer, free_port, secret_file  # noqa: E402

RECORDS, UPDATES, WRITERS, BATCH = 12000, 3000, 2, 50
TOKEN = "fleet-admin-token"
WF = "fleetflow"

scenario = Scenario("pg_fleet")
pg = PgServer().__enter__()
tmp = tempfile.TemporaryDirectory(prefix="crmsync-fleet-")
T = tmp.name
CTL = os.path.join(os.path.dirname(os.path.abspath(os.environ["CRMSYNCD"])), "crmsyncctl")


def secret(name, text):
    return secret_file(T, name, text)


TOKEN_FILE = secret("admin.token", TOKEN)


def write_conf(node, db, captured, dsn=None):
    dsn_file = secret(f"dsn-{node}-{db}", dsn or pg.tcp_dsn(db))
    conf = os.path.join(T, f"{node}-{db}.conf")
    with open(conf, "w") as f:
        f.write(f"""state_dir: {T}/state-unused
state: {{driver: postgresql, dsn_file: {dsn_file}, node: {node}, lease: 3s}}
plugin_dir: {os.environ['TESTPLUG_DIR']}
plugins: [testplug]
log_level: info
admin: {{listen: "127.0.0.1:0", token_file: {TOKEN_FILE}}}
connections:
  mem: {{connector: memory-source, records: {RECORDS}, updates: {UPDATES}, size: 200, page: 200}}
  cap: {{connector: capture-sink, file: {T}/{captured}, delay: 20ms}}
workflows:
  - id: {WF}
    source: mem
    sink: cap
    writers: {WRITERS}
    batch_size: {BATCH}
    backlog: {{high_water: 600}}
    mappings: [{{stream: contacts}}]
""")
    return conf


def daemon(node, db, captured, dsn=None):
    return Crmsyncd(write_conf(node, db, captured, dsn), os.path.join(T, f"{node}.log"), token=TOKEN).start()


def reader_of(d):
    return d.workflow(WF).get("reader")


def metrics(d):
    return d.request("GET", "/metrics")[2]


def check_capture(captured, max_duplicates):
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "runtime", "check_capture.py"), os.path.join(T, captured),
                        str(RECORDS), str(UPDATES), "0", "--max-duplicates", str(max_duplicates)],
                       capture_output=True, text=True)
    check(r.returncode == 0, "every key ends in its last version, in order, duplicates within the batches in flight",
          r.stdout)


def sample_claims(db, seen, doubles, stop):
    """Until stop is set: which nodes hold claims, and any key claimed twice at one moment."""
    while not stop.is_set():
        rows = pg.sql("SELECT claimed_by, record_key FROM backlog WHERE claimed_by IS NOT NULL", db)
        keys = {}
        for line in filter(None, rows.splitlines()):
            node, key = line.split("|", 1)
            seen.add(node)
            keys[key] = keys.get(key, 0) + 1
        doubles.extend(k for k, n in keys.items() if n > 1)
        time.sleep(0.05)


def drained(d, db):
    """The survivor read everything and the backlog is empty."""
    return pg.sql("SELECT count(*) FROM backlog", db) == "0" and "caught up with the source" in d.read_log()


@scenario.case("failover: kill -9 the reader's holder mid-load; the other reads on, nothing lost")
def failover():
    pg.sql("CREATE DATABASE failover")
    a = daemon("a", "failover", "captured-failover")
    b = None
    stop, seen, doubles = threading.Event(), set(), []
    sampler = threading.Thread(target=sample_claims, args=("failover", seen, doubles, stop))
    try:
        a.wait_for(WF, lambda w: w.get("reader") == "a" and w.get("status") == "RUNNING", what="a reads")
        b = daemon("b", "failover", "captured-failover")
        w = b.wait_for(WF, lambda w: w.get("status") == "RUNNING" and w.get("writers", {}).get("b") == WRITERS,
                       what="b RUNNING with its writers")
        check(w.get("reader") == "a", "b is RUNNING as a writer only: the reader is a's", w)
        sampler.start()
        wait_until(lambda: seen >= {"a", "b"}, 60, "writers of both daemons claim from the backlog",
                   lambda: (seen, b.read_log()[-2000:]))
        check(pg.sql("SELECT holder FROM reader_lease", "failover") == "a", "a holds the reader lease")
        a.kill9()
        killed_at = time.time()
        print(f"killed a (the reader) with {pg.sql('SELECT count(*) FROM backlog', 'failover')} rows queued", flush=True)
        wait_until(lambda: reader_of(b) == "b", 60, "b takes the reader lease", lambda: b.read_log()[-3000:])
        print(f"b read again {time.time() - killed_at:.1f} s after the kill (lease 3 s)", flush=True)
        log = b.read_log()
        check("reader lease taken by node b from node a, whose lease expired" in log,
              "b's log says it took the lease from a", log[-3000:])
        wait_until(lambda: drained(b, "failover"), 180, "the survivor drains the backlog", lambda: b.read_log()[-3000:])
        stop.set()
        sampler.join()
        check(not doubles, "no key was ever claimed twice at once across the fleet", doubles[:10])
        wait_until(lambda: "member a is dead" in b.read_log(), 30, "b sweeps a", lambda: b.read_log()[-3000:])
        wait_until(lambda: all(line in metrics(b).splitlines() for line in (
                       f'crmsync_reader_lease{{workflow="{WF}"}} 1', "crmsync_fleet_members 1",
                       "crmsync_state_database_answering 1")), 30,
                   "b's /metrics: it holds the reader lease, one live member, the database answers",
                   lambda: metrics(b)[-1500:])
        status, fleet = b.api("GET", "/fleet")
        nodes = {m["node"]: m for m in fleet.get("members", [])} if status == 200 else {}
        check(status == 200 and set(nodes) == {"b"} and nodes["b"]["self"] and fleet["workflows"][WF]["reader"] == "b"
              and fleet["workflows"][WF]["writers"] == {"b": WRITERS},
              "GET /api/v1/fleet on b: a gone, b itself the reader with its writers", fleet)
        r = subprocess.run([CTL, "--url", f"http://127.0.0.1:{b.port}", "--token-file", TOKEN_FILE, "fleet"],
                           capture_output=True, text=True)
        rows = [line.split() for line in r.stdout.splitlines()]
        check(r.returncode == 0 and ["b", "(this)"] == rows[3][:2] and [WF, "b", "b", str(WRITERS)] == rows[-1]
              and not any(row and row[0] == "a" for row in rows),
              "crmsyncctl fleet prints b (this) as the only member and the reader b", r.stdout + r.stderr)
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join()
        if b:
            require(b.stop() == 0, "b exits 0 on SIGTERM")
        if a.proc.poll() is None:
            a.stop()
    check_capture("captured-failover", WRITERS * BATCH)
    check(pg.sql("SELECT count(*) FROM dead_letter", "failover") == "0", "no dead letters")


class StallingProxy:
    """A TCP relay to the server that can stall: while stalled it forwards no byte either way and closes
    nothing, as a network partition looks to both ends."""

    def __init__(self, target_port):
        self.port, self.target = free_port(), target_port
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            for src, dst in ((c, s), (s, c)):
                threading.Thread(target=self.pipe, args=(src, dst), daemon=True).start()

    def pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def stall(self):
        self.flowing.clear()

    def unstall(self):
        self.flowing.set()


@scenario.case("partition: a's connection stalls; b takes the lease, a's late commit is refused, nothing lost",
               needs=())
def partition():
    pg.sql("CREATE DATABASE partition")
    proxy = StallingProxy(pg.port)
    dsn = pg.tcp_dsn("partition").replace(f":{pg.port}/", f":{proxy.port}/")
    a = daemon("a", "partition", "captured-partition", dsn)
    b = None
    try:
        a.wait_for(WF, lambda w: w.get("reader") == "a" and w.get("records_read", 0) > 0, what="a reads")
        b = daemon("b", "partition", "captured-partition")
        b.wait_for(WF, lambda w: w.get("status") == "RUNNING", what="b RUNNING")
        wait_until(lambda: int(pg.sql("SELECT count(*) FROM backlog", "partition")) > 0, 30, "a load is queued")
        proxy.stall()
        print("stalled a's connection to the database", flush=True)
        wait_until(lambda: "not answering" in (a.workflow(WF).get("state_db") or ""), 60,
                   "a's status says the state database is not answering", lambda: a.read_log()[-3000:])
        wait_until(lambda: "crmsync_state_database_answering 0" in metrics(a).splitlines(), 30,
                   "a's /metrics says the state database is not answering", lambda: metrics(a)[-1500:])
        asked = time.time()
        status, listed = a.api("GET", "/workflows")
        took = time.time() - asked
        check(status == 200 and took < 10, f"a's admin API answers its workflow list while cut off ({took:.1f} s)",
              listed)
        health = a.request("GET", "/healthz")
        problems = (health[1] or {}).get("problems") or []
        check(health[0] == 503 and any("state database" in (p.get("reason") or "") for p in problems),
              "a's /healthz is degraded, naming the state database", health[2])
        check(a.read_log().count("cannot read the desired state") == 0,
              "a's health probe puts the unread desired state in its answer, not once per probe in the log")
        wait_until(lambda: reader_of(b) == "b", 60, "b takes the reader lease", lambda: b.read_log()[-3000:])
        time.sleep(2)  # b reads while a is cut off
        proxy.unstall()
        print("unstalled it", flush=True)
        wait_until(lambda: "reader lease lost to node b" in a.read_log() or "reader lease expired" in a.read_log(),
                   60, "a's log says it lost the lease", lambda: a.read_log()[-3000:])
        wait_until(lambda: drained(b, "partition"), 180, "the backlog drains", lambda: b.read_log()[-3000:])
        wa = a.wait_for(WF, lambda w: w.get("reader") == "b", what="a sees b as the reader")
        check(wa.get("status") == "RUNNING" and wa.get("writers", {}).get("a") == WRITERS,
              "a is back as a writer beside the reader b", wa)
        read_a, read_b = wa["records_read"], b.workflow(WF)["records_read"]
        check(read_a + read_b == RECORDS + UPDATES and read_b > 0,
              f"the records committed by a ({read_a}) and b ({read_b}) add up to the source's events exactly: "
              "none read twice, none skipped")
        check("standby: node b reads" in a.read_log(), "a says it stands by while b reads", a.read_log()[-2000:])
    finally:
        proxy.unstall()
        exits = {"b": b.stop() if b else 0, "a": a.stop()}  # both stopped before either is judged
        require(exits == {"a": 0, "b": 0}, "a and b exit 0 on SIGTERM", exits)
    check_capture("captured-partition", 2 * WRITERS * BATCH)


@scenario.case("Stop through one daemon stops the workflow on the other; Start starts it on both", needs=())
def fleet_wide_desired():
    pg.sql("CREATE DATABASE desired")
    a = daemon("a", "desired", "captured-desired")
    b = daemon("b", "desired", "captured-desired")
    try:
        for d in (a, b):
            d.wait_for(WF, lambda w: w.get("status") == "RUNNING", what="RUNNING")
        status, _ = a.api("POST", f"/workflows/{WF}/stop")
        check(status == 200, "a stops the workflow")
        b.wait_for(WF, lambda w: w.get("status") == "STOPPED", what="STOPPED on b too")
        status, _ = b.api("POST", f"/workflows/{WF}/start")
        check(status == 200, "b starts it again")
        a.wait_for(WF, lambda w: w.get("status") == "RUNNING", what="RUNNING on a too")
        check("started through another member of the fleet" in a.read_log(), "a's log says who started it")
    finally:
        require(a.stop() == 0 and b.stop() == 0, "both exit 0 on SIGTERM")


@scenario.case("a second daemon under a node name a live member holds is refused, naming both", needs=())
def duplicate_node():
    pg.sql("CREATE DATABASE dup")
    a = daemon("a", "dup", "captured-dup")
    try:
        conf = write_conf("a", "dup", "captured-dup")
        r = subprocess.run(["timeout", "60", os.environ["CRMSYNCD"], "-c", conf], capture_output=True, text=True)
        out = r.stdout + r.stderr
        check(r.returncode != 0 and 'as node "a"' in out and f"crmsyncd pid {a.proc.pid}" in out,
              "the second daemon as node a is refused, naming the holder", out[-2000:])
        check(pg.password not in out and pg.password not in a.read_log(), "no password in either's output")
    finally:
        require(a.stop() == 0, "a exits 0 on SIGTERM")


def cleanup():
    pg.__exit__()
    tmp.cleanup()


scenario.run(cleanup)
