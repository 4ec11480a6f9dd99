# dv_customize: the metadata writes of the Dataverse Web API ("Create and update table definitions using
# the Web API", "Work with alternate keys"), so that a client can create what it needs in an org:
#   POST EntityDefinitions                         a table (IsActivity: an activity table), its primary
#                                                  name in Attributes; 204 + OData-EntityId
#   PUT  EntityDefinitions(LogicalName='x')        the whole definition again (PATCH is refused, as on the
#                                                  service): ChangeTrackingEnabled and labels are taken
#   POST EntityDefinitions(LogicalName='x')/Attributes   a column (String, Memo, Integer, BigInt, Decimal,
#                                                  Double, Money, Boolean, DateTime)
#   POST EntityDefinitions(LogicalName='x')/Keys   an alternate key; its index builds in the background:
#                                                  EntityKeyIndexStatus Pending, then Active after
#                                                  `key_index_seconds` (Failed when rows already repeat
#                                                  a value), and only an Active key can address rows
#   GET  systemusers(<id>)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()   the caller's privileges
# A table created this way takes rows at once. Each write needs its privilege (config
# `missing_privileges` takes some away: 403 naming it, as the service's SecLib check does).
# [I] the privilege names of the metadata writes and the error codes of refused bodies are the emulator's.
import re
import time

from dv_activities import AUDIT, activity_attributes, activity_table
from dv_http import odata_response
from dv_metadata import mid
from dv_schema import ACTIVE_STATUS, OWNED_AUDIT, SYSTEM_USER_ID, TYPE_INFO
from dv_values import dv_error

BAD_BODY = "0x80040203"  # [I] InvalidArgument
BU_ID = "00000000-0000-0000-0000-0000000000b1"
METADATA_PRIVILEGES = ("prvCreateEntity", "prvWriteEntity", "prvCreateAttribute", "prvCreateEntityKey")
TABLE_PRIVILEGES = ("Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share")
CREATABLE = ("String", "Memo", "Integer", "BigInt", "Decimal", "Double", "Money", "Boolean", "DateTime")
TYPE_OF_ODATA = {odt: typ for typ, (odt, _, _) in TYPE_INFO.items() if typ in CREATABLE}
SCHEMA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+$")


def privileges(store, config):
    """The privilege names the application user holds: every table privilege and the metadata ones,
    less config `missing_privileges`."""
    names = list(METADATA_PRIVILEGES)
    for t in store.tables.values():
        names += ["prv%s%s" % (p, t.spec.get("schema", t.logical)) for p in TABLE_PRIVILEGES]
    missing = set(config.get("missing_privileges") or ())
    return [n for n in names if n not in missing]


def require(emu, name):
    if name in set(emu.config.get("missing_privileges") or ()):
        raise dv_error(403, "Principal user (Id=%s, type=8, roleCount=1, privilegeCount=0, accessMode=4), is "
                            "missing %s privilege (Id=%s) on OTC=9800 for entity 'entity'. Context: Method: "
                            "Create" % (SYSTEM_USER_ID, name, mid("privilege", name)), "0x80040220")


def retrieve_user_privileges(emu, ctx):
    return odata_response(200, {
        "@odata.context": ctx.context("Microsoft.Dynamics.CRM.RetrieveUserPrivilegesResponse"),
        "RolePrivileges": [{"Depth": "Global", "PrivilegeId": mid("privilege", n), "BusinessUnitId": BU_ID,
                            "PrivilegeName": n} for n in privileges(emu.store, emu.config)]})


def _label(md, member):
    """The first localized label of a Label complex type, or None."""
    labels = (md.get(member) or {}).get("LocalizedLabels") or []
    return labels[0].get("Label") if labels and isinstance(labels[0], dict) else None


def _need(body, member, kind, what):
    v = body.get(member)
    if not isinstance(v, kind):
        raise dv_error(400, "%s: %s is required (%s)." % (what, member, kind.__name__), BAD_BODY)
    return v


def _schema_name(body, what, builtin=()):
    name = _need(body, "SchemaName", str, what)
    if not SCHEMA_NAME.match(name) and name not in builtin:
        raise dv_error(400, "%s: the SchemaName '%s' must begin with the customization prefix of a publisher "
                            "(e.g. new_)." % (what, name), BAD_BODY)
    return name


def _attribute_spec(md, what, builtin=()):
    """A column of a POSTed AttributeMetadata (`builtin`: the unprefixed names allowed)."""
    schema = _schema_name(md, what, builtin)
    typ = md.get("AttributeType") or TYPE_OF_ODATA.get(str(md.get("@odata.type", "")).rsplit(".", 1)[-1])
    if typ not in CREATABLE:
        raise dv_error(400, "%s: AttributeType %r cannot be created here (one of %s; lookups are created with "
                            "their relationship)." % (what, typ, ", ".join(CREATABLE)), BAD_BODY)
    a = {"name": schema.lower(), "schema": schema, "type": typ, "label": _label(md, "DisplayName") or schema,
         "required": (md.get("RequiredLevel") or {}).get("Value", "None")}
    if typ in ("String", "Memo"):
        a["max"] = int(md.get("MaxLength") or 100)
    if typ == "DateTime" and md.get("Format") == "DateOnly":
        a["format"] = "DateOnly"
    if typ == "Boolean":
        a["default"] = bool(md.get("DefaultValue", False))
    return a


def _primary_name(body, activity):
    names = [a for a in body.get("Attributes") or [] if isinstance(a, dict) and a.get("IsPrimaryName")]
    if len(names) != 1:
        raise dv_error(400, "The table needs exactly one StringAttributeMetadata with IsPrimaryName true in "
                            "Attributes.", BAD_BODY)
    a = _attribute_spec(names[0], "primary name", ("Subject",) if activity else ())
    if a["type"] != "String":
        raise dv_error(400, "The primary name column must be a String column.", BAD_BODY)
    return a


def create_table(emu, req, ctx, body):
    """POST EntityDefinitions."""
    require(emu, "prvCreateEntity")
    what = "EntityDefinitions"
    schema = _schema_name(body, what)
    for member in ("DisplayName", "DisplayCollectionName"):
        if not _label(body, member):
            raise dv_error(400, "%s: %s needs a LocalizedLabels label." % (what, member), BAD_BODY)
    ownership = _need(body, "OwnershipType", str, what)
    activity = _need(body, "IsActivity", bool, what)
    _need(body, "HasActivities", bool, what)
    primary = _primary_name(body, activity)
    logical = schema.lower()
    store = emu.store
    if logical in store.tables:
        raise dv_error(400, "An entity with the specified name already exists. Specify a unique name: %s." % logical,
                       "0x80047013")  # [I]
    display, plural = _label(body, "DisplayName"), _label(body, "DisplayCollectionName")
    otc = 10200 + len(store.tables)
    if activity:
        if ownership != "UserOwned" or primary["name"] != "subject":
            raise dv_error(400, "An activity table is UserOwned and its primary name column is Subject.", BAD_BODY)
        spec = activity_table(logical, schema, display, plural, otc, activity_attributes(logical, primary["max"]))
    else:
        pid = logical + "id"
        spec = {"logical": logical, "set": logical + "s", "schema": schema, "id": pid, "name": primary["name"],
                "display": display, "plural": plural, "otc": otc, "ownership": ownership, "custom": True,
                "activity": False, "keys": [],
                "attributes": [{"name": pid, "type": "Uniqueidentifier", "label": display, "update": False}, primary]
                + [dict(a) for a in ACTIVE_STATUS]
                + [dict(a) for a in (OWNED_AUDIT if ownership == "UserOwned" else AUDIT)]}
    spec["change_tracking"] = bool(body.get("ChangeTrackingEnabled", False))
    t = store.add_table(spec)
    return odata_response(204, None, [("OData-EntityId", "%s/EntityDefinitions(%s)" % (ctx.api, mid(t.logical)))])


def update_table(emu, req, ctx, t, body):
    """PUT EntityDefinitions(...): the definition replaced; what the emulator keeps of it is taken."""
    require(emu, "prvWriteEntity")
    if not isinstance(body, dict):
        raise dv_error(400, "The body must be an EntityMetadata object.", BAD_BODY)
    if body.get("LogicalName", t.logical) != t.logical or body.get("SchemaName", t.spec.get("schema", t.logical)) \
            != t.spec.get("schema", t.logical):
        raise dv_error(400, "LogicalName and SchemaName of a table cannot be changed.", BAD_BODY)
    if "ChangeTrackingEnabled" in body:
        if not isinstance(body["ChangeTrackingEnabled"], bool):
            raise dv_error(400, "ChangeTrackingEnabled must be true or false.", BAD_BODY)
        t.change_tracking = t.spec["change_tracking"] = body["ChangeTrackingEnabled"]
    for member, key in (("DisplayName", "display"), ("DisplayCollectionName", "plural")):
        if _label(body, member):
            t.spec[key] = _label(body, member)
    return odata_response(204)


def create_attribute(emu, req, ctx, t, body):
    """POST EntityDefinitions(...)/Attributes."""
    require(emu, "prvCreateAttribute")
    a = _attribute_spec(body if isinstance(body, dict) else {}, "Attributes")
    if a["name"] in t.attrs:
        raise dv_error(400, "An attribute with the specified name %s already exists on %s." % (a["name"], t.logical),
                       "0x80047013")  # [I]
    t.spec["attributes"].append(a)
    t.schema_changed()
    return odata_response(204, None, [("OData-EntityId", "%s/EntityDefinitions(LogicalName='%s')/Attributes(%s)"
                                       % (ctx.api, t.logical, mid(t.logical, a["name"])))])


KEY_TYPES = ("Decimal", "Integer", "String", "DateTime", "Lookup", "Picklist")


def create_key(emu, req, ctx, t, body):
    """POST EntityDefinitions(...)/Keys: the key is Pending until its index is built."""
    require(emu, "prvCreateEntityKey")
    body = body if isinstance(body, dict) else {}
    schema = _schema_name(body, "Keys")
    attrs = _need(body, "KeyAttributes", list, "Keys")
    if not attrs or any(t.attrs.get(a, {}).get("type") not in KEY_TYPES for a in attrs):
        raise dv_error(400, "KeyAttributes must name 1-16 columns of %s of the types %s." % (t.logical, ", ".join(KEY_TYPES)),
                       BAD_BODY)
    keys = t.spec.setdefault("keys", [])
    if len(keys) >= 10:
        raise dv_error(400, "A table can have up to ten alternate keys.", BAD_BODY)
    if any(k["name"] == schema.lower() for k in keys):
        raise dv_error(400, "A key with the specified name %s already exists on %s." % (schema.lower(), t.logical),
                       "0x80047013")  # [I]
    keys.append({"name": schema.lower(), "attributes": list(attrs), "status": "Pending",
                 "ready_at": time.monotonic() + float(emu.config["key_index_seconds"])})
    emu.store.keys_building += 1
    return odata_response(204, None, [("OData-EntityId", "%s/EntityDefinitions(LogicalName='%s')/Keys(%s)"
                                       % (ctx.api, t.logical, mid(t.logical, "key", schema.lower())))])


def build_key_indexes(store):
    """The background job: each Pending key whose time came is Active, or Failed when two rows share a
    value of it."""
    now = time.monotonic()
    for t in store.tables.values():
        due = [k for k in t.spec.get("keys", []) if k.get("status") == "Pending" and k["ready_at"] <= now]
        for k in due:
            seen = set()
            for row in t.rows.values():
                v = t.key_tuple(k["attributes"], row)
                if v is not None and v in seen:
                    k["status"] = "Failed"
                    break
                if v is not None:
                    seen.add(v)
            else:
                k["status"] = "Active"
            store.keys_building -= 1
        if due:
            t.schema_changed()


def handle(emu, req, ctx, table, nav, body):
    """A metadata write: `table` None for POST EntityDefinitions, else the table addressed and `nav` the
    navigation segment after it (None, "Attributes" or "Keys")."""
    req.kind = "metadata-write"
    if table is None:
        if req.method != "POST":
            raise dv_error(405, "The requested resource does not support http method '%s'." % req.method, "0x80060888")
        return create_table(emu, req, ctx, body)
    if nav is None:
        if req.method != "PUT":  # "You can't use the PATCH method to update data model entities"
            raise dv_error(405, "Use PUT with the whole EntityMetadata to update a table definition; %s is not "
                                "supported." % req.method, "0x80060888")
        return update_table(emu, req, ctx, table, body)
    if req.method != "POST":
        raise dv_error(405, "The requested resource does not support http method '%s'." % req.method, "0x80060888")
    if nav == "Attributes":
        return create_attribute(emu, req, ctx, table, body)
    if nav == "Keys":
        return create_key(emu, req, ctx, table, body)
    raise dv_error(404, "Resource not found for the segment '%s'." % nav, "0x8006088a")
