# dv_http: small Web API helpers shared by the Dataverse modules: Prefer parsing, JSON responses
# with the OData headers, entity URLs, and parsing of the key segment `(guid)`, `(id=guid)` and
# alternate keys `(k1='v',k2=2)` into a row id (reference A4).
import random
import re

from dv_values import GUID_RE, dv_error
from emulib import Response, dumps

ODATA_JSON = "application/json; odata.metadata=minimal"
_PREF = re.compile(r'\s*([^=,\s]+)(?:\s*=\s*("[^"]*"|[^,]*))?\s*(?:,|$)')
_KEYPART = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)")
_RANDOM = random.Random()  # seeded from os.urandom once
# a version 4 UUID: version nibble 4, variant bits 10 (as uuid.UUID(int=..., version=4) sets them)
_UUID_CLEAR, _UUID_SET = ~((0xc000 << 48) | (0xf000 << 64)), (0x8000 << 48) | (0x4000 << 64)


def new_uuid():
    """A random version 4 UUID as text, without uuid4's os.urandom call per id (ids, not secrets)."""
    h = "%032x" % (_RANDOM.getrandbits(128) & _UUID_CLEAR | _UUID_SET)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def parse_prefer(req):
    values = []
    if hasattr(req.headers, "get_all"):
        values = req.headers.get_all("Prefer") or []
    elif req.headers.get("Prefer"):
        values = [req.headers.get("Prefer")]
    out = {}
    for v in values:
        pos = 0
        while pos < len(v):
            m = _PREF.match(v, pos)
            if not m or m.end() == pos:
                break
            out[m.group(1).strip().lower()] = (m.group(2) or "").strip()
            pos = m.end()
    return out


def odata_response(status, obj=None, headers=None):
    h = [("OData-Version", "4.0")] + list(headers or [])
    if obj is None:
        return Response(status, b"", h)
    return Response(status, dumps(obj), h, ODATA_JSON)


class Ctx:
    """Per-request context: the org base URL and the API version segment the client used."""

    def __init__(self, base, version):
        self.base = base
        self.version = version

    @property
    def api(self):
        return "%s/api/data/%s" % (self.base, self.version)

    def entity_url(self, table, keytext):
        return "%s/%s(%s)" % (self.api, table.set, keytext)

    def context(self, fragment):
        return "%s/$metadata#%s" % (self.api, fragment)


def parse_key(table, keytext):
    """-> (row id or None, alternate key values dict or None). Raises 400 for undeclared keys."""
    keytext = keytext.strip()
    if GUID_RE.match(keytext):
        return keytext.lower(), None
    parts, pos = {}, 0
    while pos < len(keytext):
        m = _KEYPART.match(keytext, pos)
        if not m or m.end() == pos:
            raise bad_key(table)
        name, raw = m.group(1), m.group(2).strip()
        if raw.startswith("'"):
            val = raw[1:-1].replace("''", "'")
        elif GUID_RE.match(raw):
            val = raw.lower()
        else:
            try:
                val = float(raw) if "." in raw else int(raw)
            except ValueError:
                raise bad_key(table)
        parts[name] = val
        pos = m.end()
    if not parts:
        raise bad_key(table)
    if list(parts) == [table.pid]:
        v = parts[table.pid]
        if not isinstance(v, str) or not GUID_RE.match(v):
            raise bad_key(table)
        return v.lower(), None
    kname, attrs = table.find_key(list(parts))
    if kname is None:
        raise bad_key(table)
    return table.lookup_key(attrs, parts), parts


def bad_key(table):
    ent = "Microsoft.Dynamics.CRM.%s" % table.logical
    return dv_error(400, "The key in the request URI is not valid for resource '%s'. Ensure that the names and number "
                         "of key properties match the declared or alternate key properties for the resource '%s'." % (ent, ent),
                    "0x80060888")


def resolve_key(table, keytext):
    rid, _ = parse_key(table, keytext)
    return rid
