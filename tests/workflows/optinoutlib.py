"""optinoutlib.py - shared by the end-to-end tests of the workflow "Opt In/Out": its configuration in each mode
(one workflow opt-in-out with direction = the mode and two legs: campaign-to-d365 reads Campaign's opt-out export
and updates contacts; d365-to-campaign reads contacts and writes the profiles' deny-list attributes;
bidirectional: both, Adobe's rule applied by each sink), each leg's figures and dead letters, hand-written
export files (the test plays Campaign's export
workflow when it needs chosen change times), and views of both sides. Built on wflib and egresslib.
"""
import datetime
import json
import os
import time

import egresslib as E
import wflib as W

WF = "opt-in-out"
FROM_CAMPAIGN = "campaign-to-d365"  # the legs of WF
TO_CAMPAIGN = "d365-to-campaign"
FIELDS = {"donotbulkemail": "blackListEmail", "donotemail": "blackList"}
COLUMNS = ["donotbulkemail", "donotemail", "modifiedon"]


def config(env, mode, export_dir, name, fields=None, export_max_age="26h", retry_cap="1s"):
    """The workflow opt-in-out with direction `mode` (its legs run: both for bidirectional)."""
    h = env.acs
    conns = {
        "acs": {"connector": "campaign", "url": h.url + "/crmsync-tenant", "ims_url": h.url,
                "client_id": W.acstest.CLIENT, "client_secret_file": h.secret,
                "org_id": "4CC7D9704674CFB2138A2C54@AdobeOrg", "export_url": "file://%s/" % export_dir,
                "export_max_age": export_max_age, "connect_timeout": "2s", "timeout": "10s",
                "resources": {"opt-outs": {"resource": "profile", "key": "externalId"}}},
        "d365": W.L.connection(env.s, env.dv_url, {"contact-optouts": {"table": "contact", "columns": COLUMNS,
                                                                       "update_only": True}}),
    }
    entity = {"name": "opt-in-out", "fields": fields or FIELDS}
    common = {"writers": 2, "batch_size": 50, "poll_interval": "300ms", "retry": {"base": "200ms", "cap": retry_cap}}
    legs = {FROM_CAMPAIGN: {"source": "acs", "sink": "d365",
                            "mappings": [{"stream": "opt-outs", "target": "contact-optouts", "entity": entity}]},
            TO_CAMPAIGN: {"source": "d365", "sink": "acs",
                          "mappings": [{"stream": "contact-optouts", "target": "opt-outs", "entity": entity}]}}
    wfs = [dict(common, id=WF, title="Opt In/Out", direction=mode, legs=legs)]
    path = W.L.write_config(env.s, conns, wfs, name, plugins=["dynamics365", W.CAMPAIGN, E.ADOBE], log_level="notice")
    conf = json.load(open(path))
    conf["admin"] = {"listen": "127.0.0.1:0", "token_file": env.token_file}
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path


def acs_time(ms):
    """Unix ms -> Campaign's "YYYY-MM-DD HH:MM:SS.mmmZ"."""
    d = datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S.") + "%03dZ" % (ms % 1000)


def dv_ms(text):
    """Dataverse's "YYYY-MM-DDTHH:MM:SSZ" -> Unix ms."""
    return int(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
               .timestamp() * 1000)


_seq = [0]
_last_second = [0]


def _next_second():
    """Export files are named after the second they are written in and read in name order: one a second."""
    while int(time.time()) <= _last_second[0]:
        time.sleep(0.05)
    _last_second[0] = int(time.time())


def emulator_export(env):
    """Campaign's own export workflow runs (the emulator writes the file). -> its answer."""
    _next_second()
    code, doc = env.acs.ctl("POST", "optout-export", {})
    W.check(code == 200, "Campaign's export workflow wrote a file", (code, doc))
    return doc


def export_file(directory, rows, raw_lines=()):
    """Writes an export file as Campaign's workflow would (atomically, named after the time); rows are
    (externalId, email, field, value, lastModified ms). -> its name."""
    _next_second()
    _seq[0] += 1
    name = "optout_%s_9%03d.csv" % (time.strftime("%Y%m%d%H%M%S", time.gmtime(_last_second[0])), _seq[0])
    lines = ["externalId,email,field,value,lastModified"]
    lines += ["%s,%s,%s,%s,%s" % (ext, email, field, "true" if value else "false", acs_time(ms))
              for ext, email, field, value, ms in rows]
    lines += list(raw_lines)
    tmp = os.path.join(directory, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(directory, name))
    return name


def contact(env, cid):
    return W.L.rows(env.dv, "contacts")[cid]


def profile(env, cid):
    return env.profile(cid)


def set_contact(env, cid, **values):
    """A CRM user's edit; -> the row's modifiedon (Unix ms)."""
    return dv_ms(env.crm("PATCH", "tables/contacts/" + cid, values)["modifiedon"])


def set_profile(env, cid, **values):
    code, doc = env.acs.ctl("PATCH", "resources/profile/externalId:" + cid, values)
    W.check(code == 200, "profile %s edited in Campaign" % cid, (code, doc))
    return doc


def oneway(wf, leg, **changes):
    """Leg `leg` of workflow `wf` (a config dict) as a one-way workflow of its own (the handler's mode written)."""
    out = {k: v for k, v in wf.items() if k not in ("direction", "legs")}
    out.update(json.loads(json.dumps(wf["legs"][leg])))
    out["mappings"][0]["entity"]["mode"] = leg
    out.update(changes)
    return out


def workflow(d, wid):
    """A workflow's figures, or a leg's (FROM_CAMPAIGN, TO_CAMPAIGN: as GET /workflows/opt-in-out lists it)."""
    leg = wid in (FROM_CAMPAIGN, TO_CAMPAIGN)
    code, doc = d.api("GET", "/workflows/" + (WF if leg else wid))
    W.check(code == 200, "GET /api/v1/workflows/%s answers 200" % (WF if leg else wid), (code, doc))
    return [x for x in doc["legs"] if x["leg"] == wid][0] if leg else doc


def dead_letters(d, wid):
    """A workflow's dead letters, or a leg's."""
    leg = wid in (FROM_CAMPAIGN, TO_CAMPAIGN)
    code, doc = d.api("GET", "/workflows/%s/dead-letters?limit=1000&include=payload" % (WF if leg else wid))
    W.check(code == 200, "the dead letters of %s can be listed" % wid, (code, doc))
    return [x for x in doc["dead_letters"] if not leg or x["leg"] == wid]


def campaign_writes(env, since):
    """The PATCH/POST requests Campaign received after request `since`."""
    reqs = env.acs.ctl("GET", "requests?since=%d" % since)[1]["requests"]
    return [(r["method"], r["path"]) for r in reqs if r["method"] in ("PATCH", "POST") and "/campaign/" in r["path"]]


def campaign_seq(env):
    return env.acs.ctl("GET", "requests")[1]["last"]
