#!/usr/bin/env python3
"""sdk.py - the plugin SDK proven the way a third party uses it:

1. `make install DESTDIR=<tmp>` of this build: the daemon, crmsyncctl, the plugins as bare .so files
   (no libtool archives, no test plugin), the SDK headers and crmsync-plugin.pc, the unit, the
   sysusers and tmpfiles entries, the man pages and the configuration land where they belong;
2. the example entity plugin (doc/examples/account-entity), copied out of the source tree, is built and
   installed with its own GNUmakefile, which knows nothing but `pkg-config crmsync-plugin` (pointed at the
   DESTDIR install through PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR); it exports only cs_plugin_entry;
3. the installed crmsyncd loads it from the installed plugin directory, with the installed dynamics365.so
   and campaign.so, and syncs Dynamics 365 accounts (Dataverse emulator) into the Campaign custom
   resource cusCompany (Campaign emulator) through it: valid accounts arrive mapped, the invalid ones
   (no name, a malformed e-mail, negative employees) are dead letters naming the plugin's reason, an
   update and a delete in Dynamics 365 follow.
Environment (make check): CRMSYNCD (its directory is the build), MAKE, srcdir, and the CS_*DIR
installation directories of this build.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

SRC = os.path.abspath(os.environ.get("srcdir") or sys.exit("srcdir is not set: run through make check"))
sys.path.insert(0, os.path.join(SRC, "tests", "emulators"))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))

from campaign import Campaign  # noqa: E402
from dataverse import Dataverse  # noqa: E402
from dv_schema import ACTIVE_STATUS, OWNED_AUDIT  # noqa: E402
from checks import check, fail, wait_until  # noqa: E402
from crmsyncd import Crmsyncd  # noqa: E402

BUILD = os.path.dirname(os.environ.get("CRMSYNCD") or sys.exit("CRMSYNCD is not set: run through make check"))
DIRS = {k: os.environ.get(k) or sys.exit("%s is not set: run through make check" % k)
        for k in ("CS_SBINDIR", "CS_BINDIR", "CS_LIBDIR", "CS_PLUGINDIR", "CS_INCLUDEDIR", "CS_SYSCONFDIR",
                  "CS_MANDIR", "CS_UNITDIR", "CS_SYSUSERSDIR", "CS_TMPFILESDIR")}
TOKEN = "sdk-test-admin-token"
TENANT = "11111111-2222-3333-4444-555555555555"

# Dataverse: the account table (only the columns the example reads, plus the usual status and audit)
ACCOUNT = {
    "logical": "account", "set": "accounts", "schema": "Account", "id": "accountid", "name": "name",
    "display": "Account", "plural": "Accounts", "otc": 1, "ownership": "UserOwned", "change_tracking": True,
    "custom": False, "activity": False,
    "attributes": [
        {"name": "accountid", "type": "Uniqueidentifier", "label": "Account", "update": False},
        {"name": "name", "type": "String", "max": 160, "label": "Account Name"},
        {"name": "emailaddress1", "type": "String", "max": 100, "label": "Email"},
        {"name": "numberofemployees", "type": "Integer", "label": "Number of Employees"},
        {"name": "address1_city", "type": "String", "max": 80, "label": "Address 1: City"},
    ] + ACTIVE_STATUS + OWNED_AUDIT,
    "keys": [],
}
# Campaign: a custom resource of companies, not linked to profiles, identified by externalId
COMPANY = {
    "label": "Company", "api": "customResources", "key": "externalId", "links": {},
    "fields": {
        "externalId": {"type": "string", "length": 100, "label": "External id", "sortable": True},
        "name": {"type": "string", "length": 100, "label": "Name", "sortable": True},
        "email": {"type": "string", "length": 100, "label": "Email"},
        "employees": {"type": "long", "label": "Employees"},
        "city": {"type": "string", "length": 80, "label": "City"},
    },
    "filters": {"byExternalId": {"field": "externalId", "param": "externalId_parameter", "op": "eq"}},
}


def run(cmd, what, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if p.returncode != 0:
        fail("%s: %s exited %d" % (what, " ".join(cmd), p.returncode), p.stdout[-4000:])
    return p.stdout


def staged(dest, d):
    return dest + DIRS[d]


def install(tmp):
    dest = os.path.join(tmp, "dest")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    t0 = time.time()
    run([os.environ.get("MAKE") or "make", "-C", BUILD, "install", "DESTDIR=" + dest], "make install", env=env)
    print("measure: make install DESTDIR: %.1fs" % (time.time() - t0))
    plugins = sorted(os.listdir(staged(dest, "CS_PLUGINDIR")))
    check({"dynamics365.so", "campaign.so", "stages.so"} <= set(plugins) and
          not [p for p in plugins if not p.endswith(".so") or p.startswith("testplug")],
          "the plugin directory holds the in-tree plugins as bare .so files (no .la, no test plugin)", plugins)
    for d, name in (("CS_SBINDIR", "crmsyncd"), ("CS_BINDIR", "crmsyncctl")):
        path = os.path.join(staged(dest, d), name)
        check(os.access(path, os.X_OK), "%s is installed in %s" % (name, DIRS[d]))
    expect = [("CS_INCLUDEDIR", "crmsync/plugin.h"), ("CS_INCLUDEDIR", "crmsync/record.h"),
              ("CS_INCLUDEDIR", "crmsync/version.h"), ("CS_LIBDIR", "pkgconfig/crmsync-plugin.pc"),
              ("CS_SYSCONFDIR", "crmsync/crmsync.conf"), ("CS_UNITDIR", "crmsync.service"),
              ("CS_SYSUSERSDIR", "crmsync.conf"), ("CS_TMPFILESDIR", "crmsync.conf"),
              ("CS_MANDIR", "man8/crmsyncd.8"), ("CS_MANDIR", "man5/crmsync.conf.5"),
              ("CS_MANDIR", "man1/crmsyncctl.1")]
    missing = [DIRS[d] + "/" + f for d, f in expect if not os.path.isfile(os.path.join(staged(dest, d), f))]
    check(not missing, "headers, pkg-config file, configuration, unit, sysusers, tmpfiles, man pages installed",
          missing)
    with open(os.path.join(staged(dest, "CS_UNITDIR"), "crmsync.service")) as f:
        unit = f.read()
    check("ExecStart=%s/crmsyncd -c %s/crmsync/crmsync.conf" % (DIRS["CS_SBINDIR"], DIRS["CS_SYSCONFDIR"]) in unit
          and not re.search(r"@\w+@", unit), "the unit names this build's paths, nothing left unsubstituted", unit)
    return dest


def build_example(tmp, dest):
    work = os.path.join(tmp, "account-entity")
    shutil.copytree(os.path.join(SRC, "doc", "examples", "account-entity"), work)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "CFLAGS", "CPPFLAGS")}
    # a staged install: the .pc file's paths are read below the DESTDIR (PKG_CONFIG_PATH comes before
    # the system's directories, so an installed crmsync-dev is not what is found)
    env.update(PKG_CONFIG_PATH=os.path.join(staged(dest, "CS_LIBDIR"), "pkgconfig"), PKG_CONFIG_SYSROOT_DIR=dest)
    t0 = time.time()
    out = run(["make", "-C", work], "building the example plugin", env=env)
    check(("-I" + staged(dest, "CS_INCLUDEDIR")) in out and "-I" + SRC not in out,
          "the example compiles against the installed headers only (pkg-config --cflags crmsync-plugin)", out)
    run(["make", "-C", work, "install"], "installing the example plugin", env=env)
    print("measure: example plugin built and installed: %.1fs" % (time.time() - t0))
    so = os.path.join(staged(dest, "CS_PLUGINDIR"), "account.so")
    check(os.path.isfile(so) and not stat.S_IMODE(os.stat(so).st_mode) & 0o022,
          "make install puts account.so into pkg-config's plugindir, not writable by others")
    syms = run(["nm", "-D", "--defined-only", so], "nm").split()
    check([s for s in syms if re.match(r"^[a-z_]\w*$", s) and s not in ("T", "B", "D", "R")] == ["cs_plugin_entry"],
          "account.so exports only cs_plugin_entry", syms)


def ctl(url, method, path, body=None):
    req = urllib.request.Request(url + "/_emulator/" + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


def sync(tmp, dest):
    dv, acs = Dataverse(config={"custom_tables": [ACCOUNT]}), Campaign(config={"custom_resources": {"cusCompany": COMPANY}})
    dv_url, acs_url = dv.start(), acs.start()
    daemon = None
    try:
        good = [{"name": "Contoso Ltd", "emailaddress1": "Info@Contoso.EXAMPLE", "numberofemployees": 120,
                 "address1_city": "Redmond"},
                {"name": "Fabrikam", "emailaddress1": "hello@fabrikam.example", "numberofemployees": 0},
                {"name": "Northwind Traders", "address1_city": "Seattle"}]
        bad = [({"name": "", "emailaddress1": "x@y.example"}, "the account has no name"),
               ({"name": "Bad Mail Inc", "emailaddress1": "not-an-address"}, "emailaddress1 is not an e-mail address"),
               ({"name": "Shrinking Co", "numberofemployees": -5}, "numberofemployees is negative")]
        ids = [ctl(dv_url, "POST", "tables/accounts", row)["accountid"] for row in good]
        bad_ids = {ctl(dv_url, "POST", "tables/accounts", row)["accountid"]: why for row, why in bad}
        secrets = {}
        for name, value in (("d365", "crmsync-secret"), ("acs", "crmsync-acs-secret"), ("token", TOKEN)):
            secrets[name] = os.path.join(tmp, name + ".secret")
            with open(secrets[name], "w") as f:
                f.write(value + "\n")
            os.chmod(secrets[name], 0o600)
        conf = os.path.join(tmp, "sdk.conf")
        with open(conf, "w") as f:
            json.dump({
                "state_dir": os.path.join(tmp, "state"), "plugin_dir": staged(dest, "CS_PLUGINDIR"),
                "log_level": "info", "admin": {"listen": "127.0.0.1:0", "token_file": secrets["token"]},
                "plugins": ["dynamics365", "campaign", "account"],
                "connections": {
                    "d365": {"connector": "dynamics365", "url": dv_url, "authority": dv_url, "tenant": TENANT,
                             "client_id": "crmsync-client", "client_secret_file": secrets["d365"],
                             "tables": {"accounts": {"columns": ["name", "emailaddress1", "numberofemployees",
                                                                 "address1_city"]}}},
                    "acs": {"connector": "campaign", "url": acs_url + "/crmsync-tenant", "ims_url": acs_url,
                            "client_id": "crmsync-acs-client", "client_secret_file": secrets["acs"],
                            "resources": {"companies": {"resource": "cusCompany", "key": "externalId"}}}},
                "workflows": [{"id": "accounts-to-companies", "source": "d365", "sink": "acs",
                               "poll_interval": "1s", "retry": {"base": "100ms", "cap": "2s"},
                               "mappings": [{"stream": "accounts", "target": "companies",
                                             "entity": {"name": "account", "max_name_length": 40},
                                             "stages": [{"name": "email-case", "fields": ["email"]}]}]}],
            }, f, indent=1)
        crmsyncd = os.path.join(staged(dest, "CS_SBINDIR"), "crmsyncd")
        listed = run([crmsyncd, "--list-plugins", "-c", conf], "--list-plugins")
        check("entity account" in listed and "stage email-case" in listed and
              staged(dest, "CS_PLUGINDIR") + "/account.so" in listed,
              "the installed crmsyncd lists the example's entity handler and stage from the installed plugin "
              "directory", listed)

        t0 = time.time()
        daemon = Crmsyncd(conf, os.path.join(tmp, "daemon.log"), token=TOKEN, binary=crmsyncd).start()

        def companies():
            """externalId -> the control API's view of each company (read in process, as wflib does)."""
            with acs.lock:
                res = acs.store.resources["cusCompany"]
                views = [acs.control_view("http://x/crmsync-tenant/campaign", res, rid) for rid in list(res.records)]
            return {v.get("externalId"): v for v in views}

        def workflow():
            return daemon.api("GET", "/workflows/accounts-to-companies")[1] or {}

        wait_until(lambda: len(companies()) >= len(good) and workflow().get("dead_letters") == len(bad), 60,
                       "the valid accounts reach Campaign and the invalid ones become dead letters",
                       lambda: (daemon.read_log()[-3000:], companies()))
        got = companies()
        check(set(got) == set(ids), "exactly the %d valid accounts are companies, keyed by the account id" % len(ids),
              (sorted(got), ids))
        want = {ids[0]: {"name": "Contoso Ltd", "email": "info@contoso.example", "employees": 120, "city": "Redmond"},
                ids[1]: {"name": "Fabrikam", "email": "hello@fabrikam.example", "employees": 0},
                ids[2]: {"name": "Northwind Traders", "city": "Seattle"}}
        wrong = {k: (got[k], w) for k, w in want.items() if any(got[k].get(f) != v for f, v in w.items())}
        check(not wrong, "each company has the fields the entity handler mapped, the e-mail lowercased by the "
              "example's third-party stage email-case", wrong)
        letters = daemon.api("GET", "/workflows/accounts-to-companies/dead-letters?limit=10")[1] or {}
        letters = letters.get("dead_letters", letters.get("items", []))
        reasons = {d.get("key"): json.dumps(d) for d in letters}
        check(set(reasons) == set(bad_ids) and all(why in reasons[k] and "account" in reasons[k]
                                                   for k, why in bad_ids.items()),
              "each invalid account is a dead letter naming the plugin's reason", (reasons, bad_ids))
        print("measure: %d accounts synced through the example plugin %.1fs after the daemon's start"
              % (len(good) + len(bad), time.time() - t0))

        ctl(dv_url, "PATCH", "tables/accounts/" + ids[1], {"name": "Fabrikam Renamed", "numberofemployees": 7})
        wait_until(lambda: (companies().get(ids[1]) or {}).get("name") == "Fabrikam Renamed", 30,
                   "an update in Dynamics 365 reaches the company", lambda: (companies(), daemon.read_log()[-2000:]))
        check(companies()[ids[1]].get("employees") == 7, "the update's other field is written too", companies()[ids[1]])
        ctl(dv_url, "DELETE", "tables/accounts/" + ids[2])
        wait_until(lambda: ids[2] not in companies(), 30, "a delete in Dynamics 365 deletes the company",
                   lambda: (companies(), daemon.read_log()[-2000:]))
        check(True, "a delete in Dynamics 365 deletes the company")
        rc = daemon.stop()
        check(rc == 0, "the installed crmsyncd stops cleanly on SIGTERM", daemon.read_log()[-2000:])
        log = daemon.read_log()
        check("crmsync-secret" not in log and "crmsync-acs-secret" not in log and TOKEN not in log,
              "no secret appears in the log")
    finally:
        if daemon:
            daemon.stop()
        dv.stop()
        acs.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="crmsync-sdk-")
    try:
        dest = install(tmp)
        build_example(tmp, dest)
        sync(tmp, dest)
    finally:
        if os.environ.get("KEEP_TMP") == "1":
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
