"""pgserver.py - a throwaway PostgreSQL server for the tests: a cluster initialised in a temporary directory
by Debian's initdb (the newest /usr/lib/postgresql/N/bin, or pg_config --bindir), run as an unprivileged user
(nobody, through runuser, when the tests run as root), on a free port of 127.0.0.1 and a unix socket in that
directory; stopped and removed at the end.

    with PgServer() as pg:      # SKIP (exit 77) when the server binaries are absent
        pg.dsn("crmsync")       # key=value connection string over the socket (trust: no password)
        pg.sql("CREATE DATABASE x")

The superuser "crmsync_test" connects over the socket without a password; over TCP it needs the password
pg.password (scram-sha-256), which is what a test of the secret's handling uses (pg.tcp_dsn()).
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

SKIP = 77
USER = "crmsync_test"


def server_bindir():
    """The directory of initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out if os.path.exists(os.path.join(out, "initdb")) else None


def secret_file(directory, name, text):
    """An owner-only file `name` in `directory` holding `text` (a DSN, a token): its path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, password="s3cret-Pg-pass!", durable=False):
        """durable: fsync on, as a production server (the benchmark); the tests run without it."""
        self.password, self.durable = password, durable
        self.bindir = server_bindir()
        self.dir = self.port = None

    def __enter__(self):
        if not self.bindir:
            print("SKIP: PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql", flush=True)
            sys.exit(SKIP)
        self.dir = tempfile.mkdtemp(prefix="crmsync-pg-", dir="/tmp")
        os.chmod(self.dir, 0o700)
        self.run_as = []
        if os.geteuid() == 0:  # the server refuses to run as root
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.run_as = ["runuser", "-u", "nobody", "--"]
        self.port = free_port()
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.run_as:
            os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
        data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", data, "-U", USER, "--pwfile", pwfile, "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        os.unlink(pwfile)
        try:
            self._ctl("start")
        except subprocess.CalledProcessError:
            with open(os.path.join(self.dir, "server.log")) as f:
                sys.stderr.write(f.read())
            self.__exit__()
            raise
        return self

    def _ctl(self, action):
        opts = f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c max_connections=40"
        opts += "" if self.durable else " -c fsync=off"
        self._run("pg_ctl", "-D", os.path.join(self.dir, "data"), "-o", opts, "-l", os.path.join(self.dir, "server.log"),
                  "-m", "fast", "-w", action)

    def restart(self):
        """Stop the server (its sessions are cut) and start it again on the same port."""
        self._ctl("restart")

    def __exit__(self, *exc):
        if self.dir:
            self._run("pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "stop", check=False)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _run(self, prog, *args, check=True):
        subprocess.run(self.run_as + [os.path.join(self.bindir, prog), *args], check=check,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if check else subprocess.DEVNULL)

    def dsn(self, dbname="postgres"):
        """Over the unix socket: no password."""
        return f"host={self.dir} port={self.port} user={USER} dbname={dbname}"

    def tcp_dsn(self, dbname="postgres"):
        """Over TCP: the password is in it."""
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def sql(self, statement, dbname="postgres"):
        """Run one statement with psql; its output."""
        psql = os.path.join(self.bindir, "psql")
        return subprocess.run([psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.dsn(dbname), "-c",
                               statement], check=True, capture_output=True, text=True).stdout.strip()
