# acs_values: Campaign JSON <-> stored record values. Owns body validation (unknown and read-only
# fields fail with 500 as reference B8/B11 say, enums by name, dates, lengths, links by PKey) and the
# record representation (absolute hrefs, PKeys, timestamps in Campaign's format, empty strings
# rather than nulls, the computed fields of profiles, organizational units, services and subscriptions, and
# what a link shows of its target).
import base64
import datetime
import re
import time

from acs_store import default_value, fmt_ts
from emulib import HTTPError

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def engine_error(message, status=500):
    return HTTPError(status, message)


def convert(res, body, ext, creating, store, config):
    if not isinstance(body, dict):
        raise HTTPError(400, "The request body must be a JSON object.")
    fields = res.all_fields(ext)
    links = res.all_links(ext)
    out = {}
    for k, v in body.items():
        if k in ("PKey", "href"):
            continue
        if k in links:
            out["_link_" + k] = resolve_link(store, links[k], v)
            continue
        if config.get("accept_denylist_aliases") and k.startswith("denyList"):
            k = "blackList" + k[len("denyList"):]
        spec = fields.get(k)
        if spec is None:
            raise engine_error("'%s' property is not valid for the '%s' resource" % (k, res.name))
        if spec.get("readOnly"):
            raise engine_error("Cannot update the '%s' property that is read-only" % k)
        if k == "location" and not creating and config.get("campaign_v8"):
            raise engine_error("'zipCode' property is not valid for the '%s' resource" % res.name)
        if not creating and res.key == k and config.get("immutable_custom_keys", True):
            raise engine_error("The custom key '%s' of the '%s' resource cannot be modified" % (k, res.name))
        out[k] = check(k, spec, v, config)
    return out


def check(k, spec, v, config):
    t = spec["type"]

    def bad():  # built only when raised: most values are valid
        return engine_error("The value '%s' is not valid for the '%s' property" % (v, k))

    if t == "string":
        if v is None:
            return ""
        if not isinstance(v, str):
            raise bad()
        n = spec.get("length")
        if n and len(v) > n:
            if config.get("string_length_policy") == "truncate":
                v = v[:n]
            else:
                raise engine_error("The value of the '%s' property exceeds its maximum length of %d characters" % (k, n))
        if spec.get("dataPolicy") == "email" and v and not EMAIL_RE.match(v):
            raise engine_error("'%s' is not a valid email address" % v)
        return v
    if t == "boolean":
        if not isinstance(v, bool):
            raise bad()
        return v
    if t == "long":
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad()
        return v
    if t == "date":
        if v in (None, ""):
            return ""
        if not isinstance(v, str) or not DATE_RE.match(v):
            raise bad()
        try:
            datetime.date.fromisoformat(v)
        except ValueError:
            raise bad()
        return v
    if t == "enumeration":
        if v not in spec["values"]:
            raise engine_error("'%s' is not a valid constant of the '%s' enumeration" % (v, k))
        return v
    if t == "object":
        if not isinstance(v, dict):
            raise bad()
        sub = spec.get("fields", [])
        for sk, sv in v.items():
            if sk not in sub:
                raise engine_error("'%s' property is not valid for the '%s' resource" % (sk, k))
            if not isinstance(sv, str):
                raise engine_error("The value '%s' is not valid for the '%s' property" % (sv, sk))
        return v
    return v


def resolve_link(store, target, v):
    if v in (None, {}):
        return None
    pkey = v.get("PKey") if isinstance(v, dict) else v if isinstance(v, str) else None
    if not isinstance(pkey, str):
        raise engine_error("The link value '%s' is not valid" % (v,))
    res, rid = store.resolve(pkey)
    if res is None or res.name != target or rid not in res.records:
        raise engine_error("'%s' is not a valid constant" % pkey)
    return rid


def href(base, api, resname, pkey):
    return "%s/%s/%s/%s" % (base, api, resname, pkey)


def render(emu, base, res, rid, rec, ext):
    """A record as Campaign writes it; base is <host>/<ORG>/campaign."""
    store = emu.store
    pkey = store.pkey(res, rid)
    api = emu.api_of(res, ext)
    fields = res.all_fields(ext)
    out = {"PKey": pkey}
    for name, spec in fields.items():  # in any order: the result is sorted below
        if name == "PKey" or name == "href":
            continue
        if spec["type"] == "collection":  # under the record's href, with the PKey this answer shows
            out[name] = {"href": "%s/%s/" % (href(base, api, res.name, pkey), name)}
            continue
        if name == "created":
            out[name] = fmt_ts(rec["_created"])
        elif name == "lastModified":
            out[name] = fmt_ts(rec["_modified"])
        elif name in rec:
            v = rec[name]
            out[name] = dict(v) if isinstance(v, dict) else v
        elif not spec.get("readOnly"):
            out[name] = default_value(spec)
    if res.name == "profile":
        _computed(out, rid, rec)
    elif res.name == "orgUnitBase":
        out["title"], out["parentTitle"] = org_unit_titles(rec)
    elif res.name == "service":  # the service samples: what Campaign sets on every service
        out.update(builtIn=rec.get("builtIn", False), targetResource="profile", subScenarioEventType="subscriptionEvent")
    elif res.name == "subscription":  # the subscription samples: the service's name, the profile's email
        svc, rcp = (store.resources[n].records.get(rec.get("_link_" + k), {}) for n, k in
                    (("service", "service"), ("profile", "subscriber")))
        out.update(serviceName=svc.get("name", ""), email=rcp.get("email", ""), metadata="subscriptionRcp")
    else:
        out.setdefault("created", fmt_ts(rec["_created"]))
        out.setdefault("lastModified", fmt_ts(rec["_modified"]))
    for link, target in sorted(res.all_links(ext).items()):
        tres = store.resources[target]
        tid = rec.get("_link_" + link)
        if tid is not None and tid in tres.records:
            tpk = store.pkey(tres, tid)
            out[link] = {"PKey": tpk, "href": href(base, emu.api_of(tres, ext), target, tpk)}
            out[link].update(link_extras(target, tres.records[tid]))
        else:
            out[link] = {}
    out["href"] = href(base, api, res.name, pkey)
    ordered = {"PKey": out.pop("PKey")}  # PKey first, then the fields by name
    for name in sorted(out):
        ordered[name] = out[name]
    return ordered


def link_extras(target, rec):
    """What a link shows of its target besides PKey and href: a unit's title (Organizational units pages),
    a service's label, name and title, a subscriber's email and names (Managing services and subscriptions)."""
    if target == "orgUnitBase":
        return {"title": org_unit_titles(rec)[0]}
    if target == "service":
        return {"label": rec.get("label", ""), "name": rec.get("name", ""),
                "title": "%s (%s)" % (rec.get("label", ""), rec.get("name", ""))}
    if target == "profile":
        return {k: rec.get(k, "") for k in ("email", "firstName", "lastName")}
    return {}


def org_unit_titles(rec):
    """(title, parentTitle) of an organizational unit: "Label (name)", the root "All (all)" its parent [I]."""
    title = "%s (%s)" % (rec.get("label", ""), rec.get("name", ""))
    return title, "" if rec.get("name") == "all" else "All (all)"


def _computed(out, rid, rec):
    email = rec.get("email", "")
    first, last = rec.get("firstName", ""), rec.get("lastName", "")
    out["domain"] = email.split("@", 1)[1] if "@" in email else ""
    name = " ".join(p for p in (first, last) if p)
    out["title"] = ("%s (%s)" % (name, email) if email else name) if name else email
    out["thumbnail"] = "/nl/img/thumbnails/defaultProfil.png"
    out["cryptedId"] = base64.b64encode(("rcp:%d" % rid).encode()).decode()
    bd = rec.get("birthDate") or ""
    age = 0
    if bd:
        b = datetime.date.fromisoformat(bd)
        today = local_date()
        age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    out["age"] = age
    line1 = " ".join(p for p in (first, last.upper()) if p)
    out["postalAddress"] = {"addrDefined": False, "addrErrorCount": 0, "addrLastCheck": "", "addrQuality": "0",
                            "line1": line1, "line2": "", "line3": "", "line4": "", "line5": "", "line6": "",
                            "serialized": line1 + "\n\n\n\n\n"}


def local_date():
    """datetime.date.today(), read once a second (each reading stats /etc/localtime on PyPy)."""
    now = int(time.time())
    last = _last_date[0]
    if last[0] != now:
        last = _last_date[0] = (now, datetime.date.fromtimestamp(now))
    return last[1]


_last_date = [(None, None)]  # local_date's last (second, date), replaced whole: threads may share it
