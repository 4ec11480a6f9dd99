"""wflib.py - shared by the end-to-end workflow tests: both emulators in this process (through the
connector harnesses d365lib and acstest, imported, not copied), the reference ingress workflow
"dynamics365-to-campaign" written as a crmsyncd configuration (JSON, which crmsyncd reads as YAML), the
real daemon run in the background with its admin API on a free port, and views of the Campaign
emulator's profiles.
Environment (exported by make check): CRMSYNCD, TESTPLUG_DIR, D365_PLUGIN_DIR, STAGES_DIR and
CAMPAIGN_PLUGIN (the last three derived from CRMSYNCD's build directory when absent).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "connectors", "dynamics365"))
sys.path.insert(0, os.path.join(HERE, "..", "connectors", "campaign"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import acstest  # noqa: E402
import d365lib as L  # noqa: E402
from checks import check, wait_until  # noqa: E402,F401 (the workflow tests take them from here)
from crmsyncd import Crmsyncd  # noqa: E402

WF = "dynamics365-to-campaign"
STAGES = os.path.join(os.environ.get("STAGES_DIR") or os.path.join(L.BUILD, "plugins", "stages"), "stages.la")
CAMPAIGN = os.environ.get("CAMPAIGN_PLUGIN") or os.path.join(L.BUILD, "plugins", "campaign", "campaign.la")
CUSTOM_ENTITY = os.environ.get("CUSTOM_ENTITY_PLUGIN") or os.path.join(L.BUILD, "plugins", "custom-entity",
                                                                         "custom-entity.la")
COLUMNS = ["firstname", "lastname", "emailaddress1", "birthdate", "gendercode", "statecode", "address1_city",
           "modifiedon"]
ADMIN_TOKEN = "wf-admin-token-for-tests"

# the reference mapping (doc/workflows.md shows it in YAML)
STAGES_TECHNICAL = [
    {"name": "filter", "match": "all", "delete_filtered": True,
     "rules": [{"field": "statecode", "op": "eq", "value": 0}]},
    {"name": "replace", "rules": [{"field": "gendercode", "from": 1, "to": "male"},
                                  {"field": "gendercode", "from": 2, "to": "female"}]},
    {"name": "map", "fields": [
        {"source": "contactid", "target": "externalId"},
        {"source": "firstname", "target": "firstName"},
        {"source": "lastname", "target": "lastName"},
        {"source": "emailaddress1", "target": "email"},
        {"source": "gendercode", "target": "gender"},
        {"source": "address1_city", "target": "location.city"},
        {"source": "birthdate", "target": "birthDate", "apply_updates": False}]},
    {"name": "convert", "types": {"birthDate": "date"}},
]

# the same mapping in the table-mapping form (what the Workflows page edits; the core compiles it into
# the stages above)
TABLE_MAPPING = {
    "key": {"source": "contactid", "target": "externalId"},
    "fields": [
        {"source": "firstname", "target": "firstName"},
        {"source": "lastname", "target": "lastName"},
        {"source": "emailaddress1", "target": "email"},
        {"source": "gendercode", "target": "gender"},
        {"source": "address1_city", "target": "location.city"},
        {"source": "birthdate", "target": "birthDate", "apply_updates": False, "type": "date"}],
    "replacements": [{"field": "gendercode", "from": 1, "to": "male"},
                     {"field": "gendercode", "from": 2, "to": "female"}],
    "filters": {"match": "all", "delete_filtered": True, "rules": [{"field": "statecode", "op": "eq", "value": 0}]},
}





class Env:
    """Both emulators, a scratch directory and the Campaign harness."""

    def __init__(self, name, seed):
        self.s = L.Scratch()
        self.dv, self.dv_url = L.emulator(seed=seed)
        self.acs = acstest.Harness(name)
        self.token_file = self.s.path("admin.token")
        with open(self.token_file, "w") as f:
            f.write(ADMIN_TOKEN + "\n")
        os.chmod(self.token_file, 0o600)

    def close(self):
        self.dv.stop()
        self.acs.close()
        self.s.close()

    # ---- configuration ------------------------------------------------------------------------------
    def config(self, stages=None, labels=None, name="ingress.conf", page_size=500, writers=4, poll="1s",
               log_level="notice", table_mapping=None, extra_mappings=(), extra_plugins=()):
        """The reference workflow with `stages` (explicit form; STAGES_TECHNICAL by default) or, when
        `table_mapping` is given, with that table mapping (e.g. TABLE_MAPPING); `extra_mappings` are
        appended and `extra_plugins` loaded too."""
        # a table mapping says itself which columns to read (and picklists: label); the explicit form
        # names them on the connection
        tables = {} if table_mapping is not None else {"contacts": dict({"columns": COLUMNS},
                                                                      **({"labels": labels} if labels else {}))}
        h = self.acs
        conns = {
            "d365": L.connection(self.s, self.dv_url, tables, page_size=page_size),
            "acs": {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url,
                    "client_id": acstest.CLIENT, "client_secret_file": h.secret,
                    "org_id": "4CC7D9704674CFB2138A2C54@AdobeOrg", "connect_timeout": "2s", "timeout": "10s",
                    "resources": {"profiles": {"resource": "profile", "key": "externalId",
                                               "filter": "byExternalId"}}},
        }
        wf = [{"id": WF, "title": "Microsoft Dynamics 365 to Campaign", "source": "d365", "sink": "acs",
               "writers": writers, "batch_size": 100, "poll_interval": poll,
               "retry": {"base": "100ms", "cap": "2s"},
               "mappings": [dict({"stream": "contacts", "target": "profiles"},
                                 **(table_mapping if table_mapping is not None else
                                    {"stages": STAGES_TECHNICAL if stages is None else stages}))]}]
        wf[0]["mappings"] += list(extra_mappings)
        path = L.write_config(self.s, conns, wf, name, plugins=["dynamics365", CAMPAIGN, STAGES] + list(extra_plugins),
                              log_level=log_level)
        with open(path) as f:
            conf = json.load(f)
        conf["admin"] = {"listen": "127.0.0.1:0", "token_file": self.token_file}  # never the default port
        with open(path, "w") as f:
            json.dump(conf, f, indent=1)
        return path

    # ---- Dataverse, as a CRM user --------------------------------------------------------------------
    def contacts(self):
        return L.rows(self.dv, "contacts")

    def crm(self, method, path, body=None):
        return L.control(self.dv_url, method, path, body)

    # ---- Campaign --------------------------------------------------------------------------------------
    def profiles(self):
        """externalId -> [the control API's view of each profile with it] (a list: duplicates show)."""
        emu = self.acs.emu
        out = {}
        with emu.lock:
            res = emu.store.resources["profile"]
            for rid in list(res.records):
                view = emu.control_view("http://x/crmsync-tenant/campaign", res, rid)
                out.setdefault(view.get("externalId"), []).append(view)
        return out

    def count(self):
        """Profiles in Campaign (cheap: no view is built)."""
        with self.acs.emu.lock:
            return len(self.acs.emu.store.resources["profile"].records)

    def profile(self, external_id):
        """GET resources/profile/externalId:<id> through the control API; None when absent."""
        code, doc = self.acs.ctl("GET", "resources/profile/externalId:" + external_id)
        return doc if code == 200 else None


def expected_profile(row, labels=False):
    gender = {1: "male", 2: "female"}.get(row.get("gendercode"))
    return {"externalId": row["contactid"], "firstName": row.get("firstname") or "",
            "lastName": row.get("lastname") or "", "email": row.get("emailaddress1") or "",
            "gender": gender or "unknown", "city": row.get("address1_city") or "",
            "birthDate": (row.get("birthdate") or "")[:10]}


def actual_profile(view):
    return {"externalId": view.get("externalId"), "firstName": view.get("firstName") or "",
            "lastName": view.get("lastName") or "", "email": view.get("email") or "",
            "gender": view.get("gender") or "unknown", "city": (view.get("location") or {}).get("city") or "",
            "birthDate": (view.get("birthDate") or "")[:10]}


class Daemon(Crmsyncd):
    """crmsyncd -c conf started at once in the background (no --exit-when-idle), with the tests' admin
    token; workflow() is the reference workflow's unless another is named."""

    def __init__(self, conf, log_path):
        super().__init__(conf, log_path, token=ADMIN_TOKEN, binary=L.CRMSYNCD)
        self.start(wait_port=False)

    def workflow(self, wf_id=WF):
        return super().workflow(wf_id)
