"""egresslib.py - shared by the tests and the benchmark of the workflow "Campaign to Microsoft Dynamics 365"
(egress): its configuration (campaign.so reads the I/O Events journal, one stream per enabled event type;
adobe.so's email-activity handler shapes each event as an activity; dynamics365.so upserts it by the event
id alternate key, binding the regarding contact and the owner), Campaign profiles that stand for Dataverse
contacts, views of the activity tables and of the workflow through the admin API.
Built on wflib (both emulators, the real daemon); environment as wflib's, plus ADOBE_PLUGIN.
"""
import json
import os

import wflib as W

WF = "campaign-to-dynamics365"
ADOBE = os.environ.get("ADOBE_PLUGIN") or os.path.join(W.L.BUILD, "plugins", "adobe", "adobe.la")
JOURNAL = "/events/organizations/23294/integrations/54108/f89067f2-0d50-4bb2-bf78-209d0eacb6eb"
TYPES = ("send", "open", "click", "bounce")
TABLES = {"send": "new_acsemailsends", "open": "new_acsemailopens", "click": "new_acsemailclicks",
          "bounce": "new_acsemailbounces"}
EVENT_TYPES = {"send": "directMarketing.emailSent", "open": "directMarketing.emailOpened",
               "click": "directMarketing.emailClicked", "bounce": "directMarketing.emailBounced"}


def config(env, enabled, name="egress.conf", owners=None, writers=None, batch=None, journal_limit=None, poll="300ms",
           log_level="notice", d365_batch=None, read_batch=None, retry=None):
    """A crmsyncd configuration whose egress workflow maps the event types in `enabled` (the others are
    switched off); owners: {type: systemuser id} for the types whose activities another user owns; `retry`
    adds to the workflow's retry settings; writers, batch, read_batch, journal_limit and d365_batch left at
    None keep crmsyncd's defaults."""
    h = env.acs
    tables = {}
    for t in TYPES:
        tables["email-%ss" % t] = {"table": TABLES[t][:-1], "key": ["new_acseventid"],
                                   "lookups": {"regardingobjectid": "contact", "ownerid": "systemuser"}}
    conns = {
        "acs": {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url,
                "client_id": W.acstest.CLIENT, "client_secret_file": h.secret,
                "org_id": "4CC7D9704674CFB2138A2C54@AdobeOrg", "journal_url": h.url + JOURNAL,
                "connect_timeout": "2s", "timeout": "10s"},
        "d365": W.L.connection(env.s, env.dv_url, tables, **({"batch_size": d365_batch} if d365_batch else {})),
    }
    if journal_limit is not None:
        conns["acs"]["journal_limit"] = journal_limit
    mappings = []
    for t in enabled:
        entity = {"name": "email-activity"}
        if owners and t in owners:
            entity["owner"] = owners[t]
        mappings.append({"stream": "email-events." + t, "target": "email-%ss" % t, "entity": entity})
    wf = [{"id": WF, "title": "Campaign to Microsoft Dynamics 365", "source": "acs", "sink": "d365",
           "poll_interval": poll, "retry": dict({"base": "100ms", "cap": "2s"}, **(retry or {})),
           "mappings": mappings}]
    for key, value in (("writers", writers), ("batch_size", batch), ("read_batch", read_batch)):
        if value is not None:
            wf[0][key] = value
    path = W.L.write_config(env.s, conns, wf, name, plugins=["dynamics365", W.CAMPAIGN, ADOBE], log_level=log_level)
    conf = json.load(open(path))
    conf["admin"] = {"listen": "127.0.0.1:0", "token_file": env.token_file}
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path


def profiles_for(env, contact_ids):
    """A Campaign profile per contact, externalId = contactid (Adobe's convention)."""
    failed = []
    for i, cid in enumerate(contact_ids):
        code, doc = env.acs.ctl("POST", "resources/profile", {"externalId": cid, "email": "p%d@example.com" % i,
                                                              "lastName": "P%d" % i})
        if code not in (200, 201):
            failed.append((cid, code, doc))
    W.check(not failed, "a Campaign profile for each of %d contacts" % len(contact_ids), failed[:3])


def events(env, **kw):
    """Appends events to the journal (the emulator's generator); -> the events."""
    code, doc = env.acs.ctl("POST", "events", kw)
    W.check(code == 200, "events appended to the journal", (code, doc))
    return doc["events"]


def activities(env, kind):
    """event id -> the activity row (as stored) of the table of `kind`."""
    return {r["new_acseventid"]: r for r in W.L.rows(env.dv, TABLES[kind]).values()}


def workflow(d):
    code, doc = d.api("GET", "/workflows/" + WF)
    W.check(code == 200, "GET /api/v1/workflows/%s answers 200" % WF, (code, doc))
    return doc


def dead_letters(d):
    code, doc = d.api("GET", "/workflows/%s/dead-letters?limit=1000&include=payload" % WF)
    W.check(code == 200, "the dead letters can be listed", (code, doc))
    return doc["dead_letters"]


def idle(d, timeout=120):
    """Waits until the reader caught up and the backlog is empty."""
    W.wait_until(lambda: workflow(d)["backlog"] == 0 and workflow(d).get("status") == "RUNNING", timeout,
                 "the egress backlog drained", lambda: (workflow(d), d.read_log()[-3000:]))
