#!/usr/bin/env python3
"""sdnotify.py - crmsyncd speaks systemd's readiness protocol (Type=notify) without libsystemd: with
$NOTIFY_SOCKET set it sends READY=1 once the admin API listens and the workflows are started,
RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a SIGHUP reload (also when the reload is
refused), and STOPPING=1 on SIGTERM; both socket forms work (a path, and '@' for an abstract name).
Without $NOTIFY_SOCKET nothing changes (the other runtime tests run that way).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import fail  # noqa: E402

CRMSYNCD = os.environ.get("CRMSYNCD") or sys.exit("CRMSYNCD is not set: run through make check")


def fail_with_log(msg, log=None):
    """Fail with the tail of the daemon's log file as the detail."""
    fail(msg, (lambda: open(log, errors="replace").read()[-3000:]) if log else None)


def recv(sock, timeout, log):
    """The next datagram as {VAR: VALUE}, or fail."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096).decode()
    except socket.timeout:
        fail_with_log("no notification within %ss" % timeout, log)
    return dict(line.split("=", 1) for line in data.split("\n") if "=" in line)


def run(tmp, name, address):
    conf = os.path.join(tmp, name + ".conf")
    state = os.path.join(tmp, name + "-state")
    with open(conf, "w") as f:
        json.dump({"state_dir": state, "plugins": [], "admin": {"listen": "127.0.0.1:0"}}, f)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address if address[0] == "/" else "\0" + address[1:])
    log = os.path.join(tmp, name + ".log")
    env = dict(os.environ, NOTIFY_SOCKET=address)
    with open(log, "w") as out:
        proc = subprocess.Popen([CRMSYNCD, "-c", conf], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        msg = recv(sock, 20, log)
        if msg.get("READY") != "1":
            fail_with_log("%s: the first notification is READY=1, got %r" % (name, msg), log)
        with open(log) as f:
            if "listening on" not in f.read():
                fail_with_log("%s: READY=1 came before the admin API listened" % name, log)
        if not os.path.exists(os.path.join(state, "state.db")):
            fail_with_log("%s: READY=1 came before the state database was open" % name, log)
        print("%s: READY=1 at start (STATUS=%s)" % (name, msg.get("STATUS")))

        t0 = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        msg = recv(sock, 20, log)
        usec = int(msg.get("MONOTONIC_USEC", "0"))
        if msg.get("RELOADING") != "1" or not t0 * 1e6 - 1e6 <= usec <= time.monotonic() * 1e6 + 1e6:
            fail_with_log("%s: SIGHUP gives RELOADING=1 with a current MONOTONIC_USEC, got %r" % (name, msg), log)
        msg = recv(sock, 20, log)
        if msg.get("READY") != "1":
            fail_with_log("%s: READY=1 follows the reload, got %r" % (name, msg), log)
        print("%s: SIGHUP -> RELOADING=1, MONOTONIC_USEC, READY=1" % name)

        with open(conf, "w") as f:
            f.write("plugins: [\n")  # a broken file: the reload is refused, the daemon goes on
        proc.send_signal(signal.SIGHUP)
        first, second = recv(sock, 20, log), recv(sock, 20, log)
        if first.get("RELOADING") != "1" or second.get("READY") != "1" or proc.poll() is not None:
            fail_with_log("%s: a refused reload still ends with READY=1 and the daemon running, got %r %r"
                 % (name, first, second), log)
        print("%s: refused reload -> RELOADING=1, READY=1, still running" % name)

        proc.send_signal(signal.SIGTERM)
        msg = recv(sock, 20, log)
        if msg.get("STOPPING") != "1":
            fail_with_log("%s: SIGTERM gives STOPPING=1, got %r" % (name, msg), log)
        rc = proc.wait(timeout=60)
        if rc != 0:
            fail_with_log("%s: crmsyncd exits 0 after SIGTERM, got %d" % (name, rc), log)
        print("%s: SIGTERM -> STOPPING=1, exit 0" % name)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def main():
    tmp = tempfile.mkdtemp(prefix="crmsync-notify-")
    try:
        run(tmp, "path", os.path.join(tmp, "notify.sock"))
        run(tmp, "abstract", "@crmsync-test-notify-%d" % os.getpid())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("sd_notify: both socket forms OK")


if __name__ == "__main__":
    main()
