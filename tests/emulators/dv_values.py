# dv_values: Dataverse JSON <-> stored row values. Owns body validation (unknown properties,
# types, max lengths, picklist ranges, @odata.bind lookups) with the real error codes and messages,
# and the row representation (@odata.etag, $select, _x_value lookups, and the formatted-value /
# lookup annotations asked for with Prefer: odata.include-annotations).
import datetime
import fnmatch
import re
import urllib.parse

from dv_schema import LOOKUP_TYPES, SYSTEM_USER_NAME, TYPE_INFO
from emulib import HTTPError

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUPNAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVPROP = "Microsoft.Dynamics.CRM.associatednavigationproperty"
ENTITY_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(([^()]*)\)/?$")


def dv_error(status, message, code=""):
    return HTTPError(status, message, code=code)


def not_found(logical, rid):
    return dv_error(404, "%s With Id = %s Does Not Exist" % (logical, rid), "0x80040217")


def no_property(table, name):
    return dv_error(400, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'." % (name, table.logical),
                    "0x80060888")


def _bad_literal(v, edm):
    return dv_error(400, "Cannot convert the literal '%s' to the expected type '%s'." % (v, edm), "0x80060888")


def convert_value(table, a, v):
    typ = a["type"]
    edm = TYPE_INFO[typ][2]
    if v is None:
        return None
    if typ in ("String", "Memo"):
        if not isinstance(v, str):
            raise _bad_literal(v, edm)
        if "max" in a and len(v) > a["max"]:
            raise dv_error(400, "A validation error occurred.  The length of the '%s' attribute of the '%s' entity "
                                "exceeded the maximum allowed length of '%d'." % (a["name"], table.logical, a["max"]),
                           "0x80044331")
        return v
    if typ in ("Integer", "BigInt"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _bad_literal(v, edm)
        return v
    if typ in ("Decimal", "Money", "Double"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _bad_literal(v, edm)
        return v
    if typ == "Boolean":
        if not isinstance(v, bool):
            raise _bad_literal(v, edm)
        return v
    if typ in ("Picklist", "State", "Status"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _bad_literal(v, edm)
        if str(v) not in a.get("options", {}):
            raise dv_error(400, "A validation error occurred. The value %d of '%s' on record of type '%s' is outside "
                                "the valid range. Accepted Values: %s" % (v, a["name"], table.logical, ",".join(a["options"])),
                           "0x8004431A")
        return v
    if typ == "Uniqueidentifier":
        if not isinstance(v, str) or not GUID_RE.match(v):
            raise _bad_literal(v, edm)
        return v.lower()
    if typ == "DateTime":
        if not isinstance(v, str):
            raise _bad_literal(v, edm)
        try:
            if a.get("format") == "DateOnly":
                return datetime.date.fromisoformat(v[:10]).isoformat()
            d = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise _bad_literal(v, edm)
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.timezone.utc)
        return d.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return v


def parse_entity_ref(ref):
    """'/contacts(<guid>)', 'contacts(k=v)', or an absolute URL -> (entity set, key text)."""
    path = urllib.parse.urlsplit(ref).path if "://" in ref else ref
    m = ENTITY_REF.search(path)
    if not m:
        return None, None
    return m.group(1), m.group(2)


def convert_body(store, table, body, creating, resolve_key):
    """Request body -> stored values. resolve_key(table, keytext) -> id or None."""
    if not isinstance(body, dict):
        raise dv_error(400, "Invalid JSON. An unexpected token was found in the payload: the entity must be a JSON object.",
                       "0x80060888")
    out = {}
    for k, v in body.items():
        if "@" in k:  # annotations are ignored, binds set lookups
            if k.endswith("@odata.bind") and not k.startswith("@"):
                bind(store, table, k, v, resolve_key, out)
            continue
        a = table.attrs.get(k)
        if a is None:
            if k.startswith("_") and k.endswith("_value") and k[1:-6] in table.attrs:
                raise dv_error(400, "CRM do not support direct update of Entity Reference properties, Use Navigation "
                                    "properties instead.", "0x80048d19")
            raise dv_error(400, "The property '%s' does not exist on type 'Microsoft.Dynamics.CRM.%s'. Make sure to only "
                                "use property names that are defined by the type." % (k, table.logical), "0x80060888")
        if a["type"] in LOOKUP_TYPES:
            raise dv_error(400, "CRM do not support direct update of Entity Reference properties, Use Navigation "
                                "properties instead.", "0x80048d19")
        if a.get("readonly"):
            continue  # read-only columns are ignored, as the platform does for createdon & co.
        if k == table.pid and not creating:
            continue
        out[k] = convert_value(table, a, v)
    return out


def bind(store, table, k, v, resolve_key, out):
    """"<nav>@odata.bind": "/<set>(<key>)" (or null) -> the lookup's _x_value and its target table in out."""
    nav = k[:-len("@odata.bind")]
    if nav not in table.nav:
        raise dv_error(400, "An undeclared property '%s' which only has property annotations in the payload but no "
                            "property value was found in the payload. In OData, only declared navigation properties "
                            "and declared named streams can be represented as properties without values." % nav,
                       "0x80060888")
    attr, target = table.nav[nav]
    col = "_%s_value" % attr
    if v is None:
        out[col] = None
        out[col + "@" + LOOKUPNAME] = None
        return
    tset, key = parse_entity_ref(v) if isinstance(v, str) else (None, None)
    ttable = store.by_set.get(tset)
    if ttable is None or ttable.logical != target:
        raise dv_error(400, "The entity reference '%s' in '%s' is not valid for navigation property '%s'."
                       % (v, k, nav), "0x80060888")
    rid = resolve_key(ttable, key)
    if rid is None or rid not in ttable.rows:
        raise not_found(ttable.logical, rid or key)
    out[col] = rid
    out[col + "@" + LOOKUPNAME] = target


def annotation_matcher(prefer):
    """Prefer: odata.include-annotations="..." -> predicate on annotation names (or None)."""
    pats = prefer.get("odata.include-annotations")
    if not pats:
        return None
    pats = [p.strip() for p in pats.strip('"').split(",") if p.strip()]
    if not pats:
        return None
    return lambda name: any(fnmatch.fnmatchcase(name, p) for p in pats)


def _fmt_datetime(v, date_only):
    try:
        if date_only:
            d = datetime.date.fromisoformat(v[:10])
            return "%d/%d/%d" % (d.month, d.day, d.year)
        d = datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return v
    h = d.hour % 12 or 12
    return "%d/%d/%d %d:%02d %s" % (d.month, d.day, d.year, h, d.minute, "AM" if d.hour < 12 else "PM")


def render_row(store, table, row, columns, ann):
    """A row as the Web API writes it. columns: list of (row key, attribute spec) or None for all."""
    out = {"@odata.etag": 'W/"%d"' % row["versionnumber"]}
    if columns is None:
        columns = table.all_columns
    for col, a in columns:
        v = row.get(col)
        if ann is not None and v is not None:
            typ = a["type"]
            if typ in LOOKUP_TYPES:
                target = row.get(col + "@" + LOOKUPNAME) or (a.get("targets") or [""])[0]
                if ann(FORMATTED):
                    if target == "systemuser":
                        out[col + "@" + FORMATTED] = SYSTEM_USER_NAME
                    else:
                        tt = store.tables.get(target)
                        trow = tt.rows.get(v) if tt else None
                        if trow is not None and tt.pname:
                            out[col + "@" + FORMATTED] = trow.get(tt.pname)
                if ann(NAVPROP):
                    nav = [n for n, (attr, t) in table.nav.items() if attr == a["name"] and t == target]
                    out[col + "@" + NAVPROP] = nav[0] if nav else a["name"]
                if ann(LOOKUPNAME):
                    out[col + "@" + LOOKUPNAME] = target
            elif ann(FORMATTED):
                if typ in ("Picklist", "State", "Status"):
                    out[col + "@" + FORMATTED] = a["options"].get(str(v), str(v))
                elif typ == "Boolean":
                    labels = a.get("labels") or {"true": "Yes", "false": "No"}
                    out[col + "@" + FORMATTED] = labels["true" if v else "false"]
                elif typ == "DateTime":
                    out[col + "@" + FORMATTED] = _fmt_datetime(v, a.get("format") == "DateOnly")
                elif typ in ("Integer", "BigInt"):
                    out[col + "@" + FORMATTED] = "{:,}".format(v)
        out[col] = v
    out[table.pid] = row[table.pid]
    return out


def select_columns(table, select):
    if not select:
        return None
    cols = []
    for name in select.split(","):
        name = name.strip()
        if not name:
            continue
        col, a = table.column(name)
        if col is None:
            raise no_property(table, name)
        cols.append((col, a))
    return cols
