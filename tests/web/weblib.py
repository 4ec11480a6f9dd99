"""weblib.py - shared by the admin API's metadata tests (tests/runtime/admin_meta.py) and the browser tests
of the Workflows page (tests/web/): both emulators in this process (wflib.Env), and a crmsyncd
configuration holding the three workflows the page shows, as the reference configurations of
doc/workflows.md build them (wflib, egresslib, optinoutlib):
  dynamics365-to-campaign  contacts -> profiles in the table-mapping form (wflib.TABLE_MAPPING)
  campaign-to-dynamics365  email events of the types in `egress_types` -> activities
  opt-in-out               direction campaign-to-d365: of its two legs, Campaign's opt-out export -> contacts runs
The admin API serves the page from this source tree's web/ (admin.web_dir). Both emulators also hold a
table and a resource whose labels are markup, which the page must show as text.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "workflows"))

import egresslib as E  # noqa: E402
import optinoutlib as O  # noqa: E402
import wflib as W  # noqa: E402

import dv_schema  # noqa: E402 (the emulators' directory is on the path once wflib is imported)

WEB_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "web"))
INGRESS, EGRESS, OPTINOUT = W.WF, E.WF, O.WF
GHOST = "0f0f0f0f-1111-2222-3333-444455556666"  # a contact Campaign knows and Dynamics 365 does not (yet)
BAIT = '<img src=x onerror="document.title=\'pwned\'">'  # a remote label that would run as markup
BAIT_TABLE = {
    "logical": "new_bait", "set": "new_baits", "schema": "new_Bait", "id": "new_baitid", "name": "new_name",
    "display": "Bait " + BAIT, "plural": "Baits", "otc": 10099, "ownership": "UserOwned", "change_tracking": True,
    "custom": True, "activity": False,
    "attributes": [{"name": "new_baitid", "type": "Uniqueidentifier", "label": "Bait", "update": False},
                   {"name": "new_name", "type": "String", "max": 100, "label": "Name " + BAIT}] + dv_schema.AUDIT,
    "keys": [],
}
BAIT_RESOURCE = {"cusBait": {"label": "Bait " + BAIT, "api": "customResources", "key": "code",
                             "fields": {"code": {"type": "string", "length": 20, "label": "Code"}},
                             "filters": {"byCode": {"field": "code", "param": "code_parameter", "op": "eq"}}}}


class Env(W.Env):
    """Both emulators with `seed` contacts, the bait table and resource, and an opt-out export directory."""

    def __init__(self, name, seed):
        super().__init__(name, seed=0)
        code = W.L.control(self.dv_url, "POST", "reset", {"seed": seed, "config": {
            "custom_tables": list(dv_schema.DEFAULT_CUSTOM_TABLES) + [BAIT_TABLE]}})
        W.check(code is not None, "the Dataverse emulator took the bait table")
        import acs_schema  # noqa: E402
        resources = dict(acs_schema.DEFAULT_CUSTOM_RESOURCES, **BAIT_RESOURCE)
        code, doc = self.acs.ctl("POST", "reset", {"config": {"custom_resources": resources}})
        W.check(code == 200, "the Campaign emulator took the bait resource", doc)
        self.export_dir = self.s.path("exports")
        os.mkdir(self.export_dir)


def egress_events(env, known, types=("send",)):
    """Campaign profiles for the `known` contacts and GHOST, 20 email events of `types` for the known ones, then a
    send to GHOST (a dead letter of the egress workflow until the contact exists) -> that event."""
    E.profiles_for(env, list(known) + [GHOST])
    E.events(env, count=20, types=list(types), profiles=list(known))
    return E.events(env, count=1, types=["send"], profiles=[GHOST])[0]


def config(env, name="web.conf", egress_types=("send", "click"), autostart=None, poll="500ms", ingress_limits=None):
    """The three workflows; autostart: {workflow id: bool} (default: all stopped at first start);
    ingress_limits: the ingress workflow's `limits`."""
    autostart = autostart or {}
    h = env.acs
    tables = {"email-%ss" % t: {"table": E.TABLES[t][:-1], "key": ["new_acseventid"],
                                "lookups": {"regardingobjectid": "contact", "ownerid": "systemuser"}} for t in E.TYPES}
    tables["contact-optouts"] = {"table": "contact", "columns": O.COLUMNS, "update_only": True}
    conns = {
        "d365": W.L.connection(env.s, env.dv_url, tables, page_size=200),
        "acs": {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url,
                "client_id": W.acstest.CLIENT, "client_secret_file": h.secret,
                "org_id": "4CC7D9704674CFB2138A2C54@AdobeOrg", "journal_url": h.url + E.JOURNAL,
                "export_url": "file://%s/" % env.export_dir, "connect_timeout": "2s", "timeout": "10s",
                "max_in_flight": 8,  # the page test watches a backlog drain at a pace it sets (browser.py)
                "resources": {"profiles": {"resource": "profile", "key": "externalId", "filter": "byExternalId"},
                              "opt-outs": {"resource": "profile", "key": "externalId"}}},
    }
    common = {"batch_size": 100, "poll_interval": poll, "retry": {"base": "100ms", "cap": "2s"}}
    wfs = [
        dict(common, id=INGRESS, title="Microsoft Dynamics 365 to Campaign", source="d365", sink="acs", writers=4,
             autostart=autostart.get(INGRESS, False), **({"limits": ingress_limits} if ingress_limits else {}),
             mappings=[dict({"stream": "contacts", "target": "profiles"}, **json.loads(json.dumps(W.TABLE_MAPPING)))]),
        dict(common, id=EGRESS, title="Campaign to Microsoft Dynamics 365", source="acs", sink="d365", writers=2,
             autostart=autostart.get(EGRESS, False),
             mappings=[{"stream": "email-events." + t, "target": "email-%ss" % t, "entity": {"name": "email-activity"}}
                       for t in egress_types]),
        dict(common, id=OPTINOUT, title="Opt In/Out", direction="campaign-to-d365", writers=2,
             autostart=autostart.get(OPTINOUT, False),
             legs={O.FROM_CAMPAIGN: {"source": "acs", "sink": "d365", "mappings": [
                       {"stream": "opt-outs", "target": "contact-optouts",
                        "entity": {"name": "opt-in-out", "fields": dict(O.FIELDS)}}]},
                   O.TO_CAMPAIGN: {"source": "d365", "sink": "acs", "mappings": [
                       {"stream": "contact-optouts", "target": "opt-outs",
                        "entity": {"name": "opt-in-out", "fields": dict(O.FIELDS)}}]}}),
    ]
    path = W.L.write_config(env.s, conns, wfs, name, plugins=["dynamics365", W.CAMPAIGN, W.STAGES, E.ADOBE],
                            log_level="notice")
    with open(path) as f:
        conf = json.load(f)
    conf["admin"] = {"listen": "127.0.0.1:0", "token_file": env.token_file, "web_dir": WEB_DIR}
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path
