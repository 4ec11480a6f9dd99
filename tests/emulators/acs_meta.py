# acs_meta: the Campaign emulator's metadata answers, in the shapes of Adobe's pages: a resource's
# description (GET resourceType/<resource>, the Metadata mechanism page), its filter listing (GET on the
# description's filters.href, the Filtering page) and the listing of the custom resources an API serves
# (GET profileAndServicesExt, the Custom resources page). A resource type is also named by its PKey
# (the PKey of id 0 of the resource, which no record has), as the filters href carries it.

import base64

from acs_schema import BUILTIN_FILTERS

BUILTIN = {"byEmail": ("By email", ["email"], "email"), "byText": ("By name or email", ["text"], "lastName")}

# the technical types the emulator stores -> the high-level "type" Adobe's metadata gives beside "resType"
HIGH_LEVEL = {"long": "number"}


def type_pkey(emu, res):
    return emu.store.pkey(res, 0)


def field_description(name, spec):
    d = {"apiName": name, "label": spec.get("label", name), "type": HIGH_LEVEL.get(spec["type"], spec["type"]),
         "resType": spec["type"], "category": "cus" if name.startswith("cus") else "default"}
    for k in ("length", "values", "dataPolicy", "sortable", "readOnly"):
        if k in spec:
            d[k] = spec[k]
    if spec["type"] == "object" and "fields" in spec:  # [I] an object's sub-fields, as its content
        d["content"] = {f: {"apiName": f, "label": f, "type": "string", "resType": "string"} for f in spec["fields"]}
    return d


def metadata(emu, base, api, res, ext):
    """Adobe's Metadata mechanism page: content (fields by name), data, filters.href, help, href, label..."""
    content = {name: field_description(name, spec) for name, spec in sorted(res.all_fields(ext).items())}
    for link, target in res.all_links(ext).items():
        content[link] = {"apiName": link, "label": link, "type": "link", "resType": "link", "resTarget": target}
    return {"content": content, "data": "/%s/%s/" % (api, res.name),
            "filters": {"href": "%s/%s/resourceType/%s/filters/" % (base, api, type_pkey(emu, res))},
            "help": res.label, "href": "%s/%s/%s/metadata" % (base, api, res.name), "label": res.label,
            "mandatory": False, "name": res.name, "pkgStatus": "never", "readOnly": False,
            "schema": "nms:recipient" if res.name == "profile" else "cus:%s" % res.name[3:].lower(), "type": "item"}


def _filter(emu, api, res, name, label, params, field=None):
    """One filter as the Filtering page describes it: PKey, category, condition, data (a URL template
    relative to /campaign, as the page's byText sample), formType, fragmentName, label; metadata [I] holds
    its parameters by name, condition [I] one expression per parameter."""
    query = "&".join("%s=$value" % p for p in params)
    pkey = "@" + base64.urlsafe_b64encode(("filter:%s:%s" % (res.name, name)).encode()).decode().rstrip("=")
    return {"PKey": pkey, "category": "99_none",
            "condition": [{"enabledIf": "$(%s) != ''" % p, "expr": "@%s = $(%s)" % (field or p, p)} for p in params],
            "data": "/%s/%s/%s?%s" % (api, res.name, name, query), "formType": "none", "fragmentName": "",
            "label": label, "metadata": {p: {"apiName": p, "label": p, "type": "string"} for p in params}}


def filters_listing(emu, api, res):
    """Adobe's Filtering page: an object keyed by filter name. With config filter_listing "list" [I], the
    same filters as {"content": [{"name": ..., ...}]}, the list form a client must read too."""
    out = {name: _filter(emu, api, res, name, *BUILTIN[name]) for name in BUILTIN_FILTERS.get(res.name, ())}
    for name, spec in sorted(res.filters.items()):
        out[name] = _filter(emu, api, res, name, spec.get("label", name), [spec["param"]], spec["field"])
    if emu.config.get("filter_listing") == "list":
        return {"content": [dict(f, name=n) for n, f in out.items()]}
    return out


def api_listing(emu, base, api):
    """Adobe's Custom resources page: GET /profileAndServicesExt lists the custom resources linked to the
    profile; [I] GET /customResources lists the unlinked ones in the same shape."""
    out = {"apiName": "resourceType"}
    for name in sorted(emu.custom_api):
        if emu.custom_api[name] != api:
            continue
        res = emu.store.resources[name]
        out[name] = {"content": "%s/%s/resourceType/%s" % (base, api, name), "data": "/%s/%s/" % (api, name),
                     "help": res.label, "href": "%s/%s/%s/metadata" % (base, api, name), "name": name,
                     "type": "collection"}
    return out
