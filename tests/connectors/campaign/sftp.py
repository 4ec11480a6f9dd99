#!/usr/bin/env python3
# sftp.py - the opt-out export read over sftp:// (libcurl + libssh2) with the real daemon: a private
# sshd (its own config, host key and authorized key in a temp dir, on a free loopback port; nothing
# system-wide is touched) serves the directory the emulator exports into; every line arrives, the
# malformed one is dead-lettered, and the host key is checked against export_known_hosts (a wrong
# one fails). Skipped (77) when sshd or ssh-keygen is not installed.
import os
import shutil
import socket
import subprocess
import time

import acstest
from acstest import captured, check, workflow

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def keygen(path, kind):
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-m", "PEM", "-N", "", "-f", path], check=True)


def main():
    if os.geteuid() == 0 and os.access(SSHD, os.X_OK) and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege-separation directory, empty
    if not os.access(SSHD, os.X_OK) or not shutil.which("ssh-keygen") or not os.path.isdir("/run/sshd"):
        print("SKIP: no sshd, ssh-keygen or /run/sshd here")
        raise SystemExit(77)
    h = acstest.Harness("sftp")
    sshd = None
    try:
        d = os.path.join(h.tmp, "ssh")
        os.makedirs(d, mode=0o700)
        keygen(os.path.join(d, "host"), "ecdsa")
        keygen(os.path.join(d, "client"), "ecdsa")  # libssh2 1.10 signs RSA with SHA-1, refused by OpenSSH 9
        keygen(os.path.join(d, "other"), "ecdsa")
        shutil.copy(os.path.join(d, "client.pub"), os.path.join(d, "authorized_keys"))
        port = free_port()
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host\nAuthorizedKeysFile %s/authorized_keys\n"
                    "PidFile %s/sshd.pid\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\n"
                    "Subsystem sftp internal-sftp\n" % (port, d, d, d))
        sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", os.path.join(d, "sshd_config")],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "sshd.log"), "w"))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            print("SKIP: sshd did not start:", open(os.path.join(d, "sshd.log")).read()[-500:])
            raise SystemExit(77)
        with open(os.path.join(d, "known_hosts"), "w") as f:
            f.write("[127.0.0.1]:%d %s" % (port, open(os.path.join(d, "host.pub")).read()))
        with open(os.path.join(d, "wrong_hosts"), "w") as f:
            f.write("[127.0.0.1]:%d %s" % (port, open(os.path.join(d, "other.pub")).read()))

        exp = os.path.join(h.tmp, "export")
        h.ctl("POST", "seed", {"count": 6})
        for i in (1, 2):
            h.ctl("PATCH", "resources/profile/%d" % i, {"ccpaOptOut": True})
        made = h.ctl("POST", "optout-export", {"dir": exp})[1]
        with open(os.path.join(exp, "optout_29991231000000_9999.csv"), "w") as f:
            f.write("externalId,email,field,value,lastModified\n"
                    "ext-a,a@example.com,blackListEmail,true,2030-01-02 03:04:05.678Z\n"
                    "ext-b,b@example.com,blackList,maybe,2030-01-02 03:04:05.678Z\n")
        user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name

        def conf(name, hosts):
            out_file = os.path.join(h.tmp, name)
            conns = h.acs_connection(extra="    export_url: sftp://%s@127.0.0.1:%d%s/\n    export_ssh_key: %s\n"
                                           "    export_known_hosts: %s\n" % (user, port, exp, os.path.join(d, "client"),
                                                                           os.path.join(d, hosts)))
            conns += "  cap: {connector: capture-sink, file: %s}\n" % out_file
            return h.write_conf(conns, workflow(name, "acs", "cap", "[{stream: opt-outs}]", writers=1), name), out_file

        c, out_file = conf("sftp", "known_hosts")
        rc, summ, _, out = h.run(c, timeout=120)
        keys = captured(out_file)
        check(rc == 0 and len(keys) == made["rows"] + 1 and "ext-a/blackListEmail" in keys and made["rows"] >= 2,
              "sftp: every good line of both export files arrived over sftp://", (rc, keys, out[-2000:]))
        dead = h.sql("select stream, record_key from dead_letter where workflow_id = 'sftp'")
        check(dead == [("opt-outs-malformed", "optout_29991231000000_9999.csv:3")],
              "sftp: the malformed line is dead-lettered with its line number", dead)

        c, out_file = conf("wronghost", "wrong_hosts")
        rc, summ, _, out = h.run(c, timeout=60)
        check(captured(out_file) == [] and "reading the opt-out export" in out,
              "sftp: a host key not in export_known_hosts is refused, nothing read", out[-2000:])
    finally:
        if sshd:
            sshd.terminate()
            sshd.wait(10)
        h.close()
    print("sftp: ok")


if __name__ == "__main__":
    main()
