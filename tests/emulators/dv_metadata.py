# dv_metadata: the EntityDefinitions metadata API, enough for a connector to discover entity set
# names, primary id/name, attributes and their types and lengths, picklist/boolean options with
# labels (OptionSet, only through the typed cast as on the real service), alternate keys, the
# relationships of lookups (ManyToOneRelationships from the child, OneToManyRelationships from the
# parent, with their CascadeConfiguration) and ChangeTrackingEnabled.
import re
import uuid

import odata_filter
from dv_http import odata_response
from dv_schema import LOOKUP_TYPES, TYPE_INFO, cascade_delete
from dv_values import dv_error

EXPANDABLE = ("Attributes", "Keys", "ManyToOneRelationships", "OneToManyRelationships")
NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
CAST = re.compile(r"^Microsoft\.Dynamics\.CRM\.(\w+)$")


def mid(*parts):
    return str(uuid.uuid5(NS, "/".join(parts)))


def label(text):
    loc = {"Label": text, "LanguageCode": 1033, "IsManaged": False, "MetadataId": mid("label", text), "HasChanged": None}
    return {"LocalizedLabels": [loc], "UserLocalizedLabel": loc}


def entity_md(t):
    s = t.spec
    return {
        "@odata.type": "#Microsoft.Dynamics.CRM.EntityMetadata",
        "MetadataId": mid(t.logical), "LogicalName": t.logical, "SchemaName": s.get("schema", t.logical),
        "EntitySetName": t.set, "LogicalCollectionName": t.set, "CollectionSchemaName": s.get("schema", t.logical) + "s",
        "PrimaryIdAttribute": t.pid, "PrimaryNameAttribute": t.pname, "ObjectTypeCode": s.get("otc", 0),
        "IsActivity": bool(s.get("activity")), "IsCustomEntity": bool(s.get("custom")),
        "ChangeTrackingEnabled": t.change_tracking, "OwnershipType": s.get("ownership", "UserOwned"),
        "IsValidForAdvancedFind": True, "HasActivities": t.logical == "contact",
        "DisplayName": label(s.get("display", t.logical)), "DisplayCollectionName": label(s.get("plural", t.set)),
    }


def attribute_md(t, a, with_options=False):
    typ = a["type"]
    odt, typename, _ = TYPE_INFO[typ]
    md = {
        "@odata.type": "#Microsoft.Dynamics.CRM." + odt, "MetadataId": mid(t.logical, a["name"]),
        "LogicalName": a["name"], "SchemaName": a.get("schema", a["name"]), "EntityLogicalName": t.logical,
        "AttributeType": typ, "AttributeTypeName": {"Value": typename},
        "IsPrimaryId": a["name"] == t.pid, "IsPrimaryName": a["name"] == t.pname,
        "IsCustomAttribute": a["name"].startswith("new_") or (bool(t.spec.get("custom")) and a["name"] not in ("statecode", "statuscode", "ownerid", "createdon", "modifiedon", "versionnumber")),
        "IsValidForCreate": not a.get("readonly") and typ != "Owner",
        "IsValidForUpdate": not a.get("readonly") and a.get("update", True),
        "IsValidForRead": True,
        "RequiredLevel": {"Value": a.get("required", "None"), "CanBeChanged": True,
                          "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
        "DisplayName": label(a.get("label", a["name"])),
    }
    if typ in ("String", "Memo"):
        md["MaxLength"] = a.get("max", 100)
        md["Format"] = a.get("format", "Text")
    if typ == "DateTime":
        md["Format"] = a.get("format", "DateAndTime")
        md["DateTimeBehavior"] = {"Value": "DateOnly" if a.get("format") == "DateOnly" else "UserLocal"}
    if typ in LOOKUP_TYPES:
        md["Targets"] = list(a.get("targets", []))
    if with_options:
        if typ in ("Picklist", "State", "Status"):
            md["OptionSet"] = {
                "MetadataId": mid(t.logical, a["name"], "os"), "Name": "%s_%s" % (t.logical, a["name"]),
                "IsGlobal": False, "OptionSetType": typ,
                "Options": [{"Value": int(v), "Label": label(l)} for v, l in a["options"].items()],
            }
        elif typ == "Boolean":
            labels = a.get("labels") or {"true": "Yes", "false": "No"}
            md["OptionSet"] = {"MetadataId": mid(t.logical, a["name"], "os"), "Name": "%s_%s" % (t.logical, a["name"]),
                               "IsGlobal": False, "OptionSetType": "Boolean",
                               "TrueOption": {"Value": 1, "Label": label(labels["true"])},
                               "FalseOption": {"Value": 0, "Label": label(labels["false"])}}
    return md


def key_md(t, k):
    return {"MetadataId": mid(t.logical, "key", k["name"]), "LogicalName": k["name"], "SchemaName": k["name"],
            "EntityLogicalName": t.logical, "KeyAttributes": list(k["attributes"]),
            "EntityKeyIndexStatus": k.get("status", "Active"), "DisplayName": label(k["name"])}


def keys_md(t):
    """Every key of `t`, its index built or not."""
    return [key_md(t, k) for k in t.spec.get("keys", [])]


def cascade_md(delete):
    """CascadeConfiguration of a relationship: a parental one (Delete: Cascade) cascades the actions
    that follow the parent; a referential one cascades none ([I] Merge, Archive and RollupView kept
    NoCascade)."""
    parental = "Cascade" if delete == "Cascade" else "NoCascade"
    return {"Assign": parental, "Delete": delete, "Merge": "NoCascade", "Reparent": parental, "Share": parental,
            "Unshare": parental, "RollupView": "NoCascade", "Archive": "NoCascade"}


def relationship_md(store, t, nav, attr, target):
    """One lookup of table `t` to `target`, as the relationship metadata both ends list."""
    tt = store.tables.get(target)
    return {"@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
            "MetadataId": mid(t.logical, nav), "SchemaName": "%s_%s_%s" % (target, t.logical, attr),
            "RelationshipType": "OneToManyRelationship", "IsCustomRelationship": bool(t.spec.get("custom")),
            "ReferencedEntity": target, "ReferencedAttribute": tt.pid if tt else target + "id",
            "ReferencingEntity": t.logical, "ReferencingAttribute": attr,
            "ReferencingEntityNavigationPropertyName": nav,
            "ReferencedEntityNavigationPropertyName": "%s_%s" % (t.logical, nav),
            "CascadeConfiguration": cascade_md(cascade_delete(t.attrs[attr], target))}


def relationships_md(store, t):
    """ManyToOneRelationships of `t`: its lookups."""
    return [relationship_md(store, t, nav, attr, target) for nav, (attr, target) in t.nav.items()]


def one_to_many_md(store, t):
    """OneToManyRelationships of `t`: the lookups of any table that point at it."""
    return [relationship_md(store, c, nav, attr, target) for c in store.tables.values()
            for nav, (attr, target) in c.nav.items() if target == t.logical]


def _project(items, q, allowed_expand=()):
    sel = [s.strip() for s in q.get("$select", "").split(",") if s.strip()]
    if q.get("$filter"):
        keys = set().union(*[set(i) for i in items]) if items else set()

        def resolve(name):
            if name not in keys:
                raise odata_filter.FilterError("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.EntityMetadata'." % name)
            return name, "String"
        try:
            pred = odata_filter.compile_filter(q["$filter"], resolve)
        except odata_filter.FilterError as e:
            raise dv_error(400, str(e), "0x80060888")
        items = [i for i in items if pred(i)]
    if sel:
        keep = set(sel) | {"MetadataId", "@odata.type"} | set(allowed_expand)
        items = [{k: v for k, v in i.items() if k in keep} for i in items]
    return items


def _expand(q, allowed):
    exp = [e.strip().split("(")[0] for e in q.get("$expand", "").split(",") if e.strip()]
    for e in exp:
        if e not in allowed:
            raise dv_error(400, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.EntityMetadata'." % e,
                           "0x80060888")
    return exp


def find_entity(store, keytext):
    m = re.match(r"^\s*(?:LogicalName\s*=\s*)?'([^']*)'\s*$", keytext)
    if m:
        return store.tables.get(m.group(1))
    for t in store.tables.values():
        if mid(t.logical) == keytext.strip().lower():
            return t
    return None


def handle(emu, req, ctx, segments):
    """segments: path after /api/data/v9.x/, split on '/', first starts with EntityDefinitions."""
    req.kind = "metadata"
    q = req.query
    store = emu.store
    first = segments[0]
    base_ctx = ctx.context("EntityDefinitions")
    if first == "EntityDefinitions":
        if len(segments) > 1:
            raise dv_error(404, "Resource not found for the segment '%s'." % segments[1], "0x8006088a")
        exp = _expand(q, EXPANDABLE)
        items = [_entity_full(store, t, exp) for t in store.tables.values()]
        return odata_response(200, {"@odata.context": base_ctx, "value": _project(items, q, exp)})
    m = re.match(r"^EntityDefinitions\((.*)\)$", first)
    t = find_entity(store, m.group(1)) if m else None
    if t is None:
        raise dv_error(404, "Could not find entity with key '%s'." % (m.group(1) if m else first), "0x80040217")
    if len(segments) == 1:
        exp = _expand(q, EXPANDABLE)
        item = _project([_entity_full(store, t, exp)], q, exp)[0]
        body = {"@odata.context": base_ctx + "/$entity"}
        body.update(item)
        return odata_response(200, body)
    nav = segments[1]
    rest = segments[2:]
    if nav == "Keys":
        items = keys_md(t)
        return odata_response(200, {"@odata.context": base_ctx + "('%s')/Keys" % t.logical, "value": _project(items, q)})
    if nav in ("ManyToOneRelationships", "OneToManyRelationships"):
        items = relationships_md(store, t) if nav == "ManyToOneRelationships" else one_to_many_md(store, t)
        return odata_response(200, {"@odata.context": base_ctx + "('%s')/%s" % (t.logical, nav),
                                    "value": _project(items, q)})
    am = re.match(r"^Attributes(?:\((.*)\))?$", nav)
    if not am:
        raise dv_error(404, "Resource not found for the segment '%s'." % nav, "0x8006088a")
    cast = None
    if rest:
        cm = CAST.match(rest[0])
        if not cm or len(rest) > 1:
            raise dv_error(404, "Resource not found for the segment '%s'." % rest[0], "0x8006088a")
        cast = cm.group(1)
    attrs = list(t.spec["attributes"])
    if cast:
        attrs = [a for a in attrs if TYPE_INFO[a["type"]][0] == cast]
    exp = _expand(q, ("OptionSet", "GlobalOptionSet") if cast in ("PicklistAttributeMetadata", "BooleanAttributeMetadata",
                                                               "StateAttributeMetadata", "StatusAttributeMetadata") else ())
    with_options = "OptionSet" in exp
    if am.group(1) is not None:
        key = am.group(1).strip()
        km = re.match(r"^(?:LogicalName\s*=\s*)?'([^']*)'$", key)
        name = km.group(1) if km else None
        found = [a for a in attrs if a["name"] == name or mid(t.logical, a["name"]) == key.lower()]
        if not found:
            raise dv_error(404, "Could not find attribute with key '%s'." % key, "0x80040217")
        item = _project([attribute_md(t, found[0], with_options)], q, exp)[0]
        body = {"@odata.context": base_ctx + "('%s')/Attributes/$entity" % t.logical}
        body.update(item)
        return odata_response(200, body)
    items = [attribute_md(t, a, with_options) for a in attrs]
    return odata_response(200, {"@odata.context": base_ctx + "('%s')/Attributes" % t.logical, "value": _project(items, q, exp)})


def _entity_full(store, t, exp):
    md = entity_md(t)
    if "Attributes" in exp:
        md["Attributes"] = [attribute_md(t, a) for a in t.spec["attributes"]]
    if "Keys" in exp:
        md["Keys"] = keys_md(t)
    if "ManyToOneRelationships" in exp:
        md["ManyToOneRelationships"] = relationships_md(store, t)
    if "OneToManyRelationships" in exp:
        md["OneToManyRelationships"] = one_to_many_md(store, t)
    return md
