# acs_store: Campaign records in memory. Owns each resource's records indexed by internal id (kept
# sorted for paging) and by the indexed fields (email, externalId, identification keys), the opaque
# PKey codec (re-encoded per response when configured), a new record's default values, per-attribute
# change times of the deny-list fields, and the log of deny-list changes that the opt-out export reads.
import base64
import datetime
import hashlib
import math
import random
import struct
import time

import seek
from acs_schema import DENY_LIST_FIELDS


def fmt_ts(t):
    """Campaign's timestamp format: YYYY-MM-DD HH:MM:SS.mmmZ (a space, not T), truncated to the millisecond
    (never later than t: a filter 'since' the time shown finds the record it was read from)."""
    ms = math.floor(t * 1000)
    ms -= ms / 1000 > t  # t * 1000 may round up to the next integer
    seconds, millis = divmod(ms, 1000)
    last = _last_second[0]
    if last[0] != seconds:  # most answers show the second the one before showed
        last = _last_second[0] = (seconds, time.strftime("%Y-%m-%d %H:%M:%S.", time.gmtime(seconds)))
    return "%s%03dZ" % (last[1], millis)


_last_second = [(None, "")]  # fmt_ts's last (second, its text), replaced whole: threads may share it


def parse_ts(s):
    """Campaign or ISO-8601 timestamp (or epoch seconds) -> epoch seconds; None if invalid."""
    s = (s or "").strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    try:
        d = datetime.datetime.fromisoformat(s.replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


class PKeys:
    def __init__(self, secret, reencode):
        self.key = hashlib.sha256(secret).digest()  # BLAKE2s keyed: a MAC in one call (PyPy's sha256 cost 4x)
        self.reencode = reencode
        self.nonces = random.Random()  # seeded from os.urandom once; a nonce needs no secrecy

    def _hash(self, data):
        return hashlib.blake2s(data, key=self.key).digest()

    def encode(self, res_idx, rid):
        nonce = self.nonces.getrandbits(48).to_bytes(6, "big") if self.reencode else b"\0" * 6
        raw = int.from_bytes(struct.pack(">BHQ", 1, res_idx, rid), "big")
        pad = int.from_bytes(self._hash(nonce)[:11], "big")
        body = nonce + (raw ^ pad).to_bytes(11, "big")
        mac = self._hash(body)[:12]
        return "@" + base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode("ascii")

    def decode(self, pkey):
        """-> (resource index, id) or None when the PKey is not one of ours."""
        if not pkey.startswith("@"):
            return None
        try:
            data = base64.urlsafe_b64decode(pkey[1:] + "=" * (-len(pkey[1:]) % 4))
        except (ValueError, TypeError):
            return None
        if len(data) != 29:
            return None
        body, mac = data[:17], data[17:]
        if self._hash(body)[:12] != mac:
            return None
        nonce = body[:6]
        pad = self._hash(nonce)[:11]
        raw = bytes(a ^ b for a, b in zip(body[6:], pad))
        _, res_idx, rid = struct.unpack(">BHQ", raw)
        return res_idx, rid


class Fields(dict):
    """A resource's field specs: a dict that counts its changes, so that the merged view of the base and
    extension fields is worked out again once a test edits either in place (a schema drift)."""

    version = 0

    def __setitem__(self, k, v):
        super().__setitem__(k, v)
        self.version += 1

    def __delitem__(self, k):
        super().__delitem__(k)
        self.version += 1

    def __ior__(self, other):
        self.version += 1
        return super().__ior__(other)

    def pop(self, *args):
        self.version += 1
        return super().pop(*args)

    def popitem(self):
        self.version += 1
        return super().popitem()

    def clear(self):
        self.version += 1
        super().clear()

    def update(self, *args, **kw):
        self.version += 1
        super().update(*args, **kw)

    def setdefault(self, k, default=None):
        self.version += 1
        return super().setdefault(k, default)


def default_value(spec):
    t = spec["type"]
    if t == "boolean":
        return False
    if t == "long":
        return 0
    if t == "enumeration":
        return spec["values"][0]
    if t == "object" and "fields" in spec:
        return {f: "" for f in spec["fields"]}
    return ""


class Resource:
    def __init__(self, idx, name, fields, links=None, key=None, filters=None, label=None, ext_fields=None,
                 ext_links=None, indexed=()):
        self.idx = idx
        self.name = name
        self.label = label or name
        self.fields = Fields(fields)  # the base (profileAndServices) view
        self.ext_fields = Fields(ext_fields or {})  # added by profileAndServicesExt
        self.merged = (None, None)  # (versions of both, fields and ext_fields in one dict)
        self.default_values = (None, None)  # (the merged dict they were read from, {field: default})
        self.links = dict(links or {})  # link name -> target resource name
        self.ext_links = dict(ext_links or {})  # added by profileAndServicesExt (the profile's orgUnit)
        self.key = key
        self.filters = dict(filters or {})
        self.indexed = {"email", "externalId"} | set(indexed) | ({key} if key else set()) | {
            f["field"] for f in self.filters.values() if f.get("op", "eq") == "eq"}
        self.reset()

    def reset(self):
        self.records = {}
        self.order = seek.SortedKeys()
        self.index = {f: {} for f in self.indexed}
        self.next_id = 1
        self.stamp = 0

    def all_fields(self, ext):
        """The fields of the base view, or with ext those of profileAndServicesExt too (not to be changed;
        the merged dict is made again only when either changed, not at every call)."""
        if not ext:
            return self.fields
        versions = (self.fields.version, self.ext_fields.version)
        if self.merged[0] != versions:
            merged = dict(self.fields)
            merged.update(self.ext_fields)
            self.merged = (versions, merged)
        return self.merged[1]

    def defaults(self):
        """A new record's values before its own: the default of every writable field of the
        profileAndServicesExt view but the collections (worked out again only when the fields changed)."""
        fields = self.all_fields(True)
        if self.default_values[0] is not fields:
            self.default_values = (fields, {name: default_value(spec) for name, spec in fields.items()
                                            if not spec.get("readOnly") and spec["type"] != "collection"})
        return {name: dict(v) if isinstance(v, dict) else v for name, v in self.default_values[1].items()}

    def all_links(self, ext):
        if not ext or not self.ext_links:
            return self.links
        d = dict(self.links)
        d.update(self.ext_links)
        return d

    @staticmethod
    def norm(v):
        return v.lower() if isinstance(v, str) else v

    def _index(self, rid, rec):
        for f in self.indexed:
            v = rec.get(f)
            if v not in (None, ""):
                self.index[f].setdefault(self.norm(v), set()).add(rid)

    def _unindex(self, rid, rec):
        for f in self.indexed:
            v = rec.get(f)
            if v not in (None, ""):
                s = self.index[f].get(self.norm(v))
                if s:
                    s.discard(rid)
                    if not s:
                        del self.index[f][self.norm(v)]

    def find(self, field, value):
        return self.index.get(field, {}).get(self.norm(value), set())


class Store:
    def __init__(self, resources, secret, reencode):
        self.resources = {r.name: r for r in resources}
        self.by_idx = {r.idx: r for r in resources}
        self.pkeys = PKeys(secret, reencode)
        self.optout_log = []  # (time, resource name, id, field)
        self.last_export = 0.0

    def reset(self):
        for r in self.resources.values():
            r.reset()
        self.optout_log = []
        self.last_export = 0.0

    def pkey(self, res, rid):
        return self.pkeys.encode(res.idx, rid)

    def resolve(self, pkey):
        """PKey -> (resource, id) or (None, None)."""
        d = self.pkeys.decode(pkey)
        if d is None or d[0] not in self.by_idx:
            return None, None
        return self.by_idx[d[0]], d[1]

    def insert(self, res, values, now=None, bulk=False):
        now = now or time.time()
        rid = res.next_id
        res.next_id += 1
        rec = dict(values)
        rec["_created"] = now
        rec["_modified"] = now
        rec["_attr_mod"] = {f: now for f in DENY_LIST_FIELDS if f in res.fields} if res.name == "profile" else {}
        res.records[rid] = rec
        if bulk:
            res.order.append(rid)  # ids only grow
        else:
            res.order.add(rid)
        res._index(rid, rec)
        res.stamp += 1
        if res.name == "profile":
            for f in DENY_LIST_FIELDS:
                if values.get(f):
                    self.optout_log.append((now, res.name, rid, f))
        return rid, rec

    def update(self, res, rid, values, now=None):
        """-> number of fields whose value changed."""
        now = now or time.time()
        rec = res.records[rid]
        changed = [k for k, v in values.items() if rec.get(k) != v]
        if not changed:
            return 0
        res._unindex(rid, rec)
        for k in changed:
            rec[k] = values[k]
            if k in rec["_attr_mod"]:
                rec["_attr_mod"][k] = now
                self.optout_log.append((now, res.name, rid, k))
        rec["_modified"] = now
        res._index(rid, rec)
        res.stamp += 1
        return len(changed)

    def delete(self, res, rid):
        rec = res.records.pop(rid)
        res._unindex(rid, rec)
        res.order.remove(rid)
        res.stamp += 1
        return rec
