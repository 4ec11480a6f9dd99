# dv_store: Dataverse rows in memory. Owns each table's rows indexed by primary id (kept sorted for
# paging), by alternate key and by the parent each lookup points at, the organization-wide row version
# counter, the change log and the tombstones that change tracking reads, savepoints that roll a $batch
# change set back, and the delete cascade of the relationships (Cascade, RemoveLink, Restrict), whose
# every child change is logged like any other change.
import time

import seek
from dv_schema import LOOKUP_TYPES, SYSTEM_USER_ID, cascade_delete
from dv_values import dv_error

RESTRICTED = "The object you tried to delete is associated with another object and cannot be deleted."


_now = [0, ""]  # the current time as the Web API writes it, formatted once a second


def utcnow():
    t = int(time.time())
    if _now[0] != t:
        _now[1] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        _now[0] = t
    return _now[1]


class Table:
    def __init__(self, spec):
        self.spec = spec
        self.logical = spec["logical"]
        self.set = spec["set"]
        self.pid = spec["id"]
        self.pname = spec.get("name")
        self.change_tracking = bool(spec.get("change_tracking"))
        self._derive()
        self.reset()

    def _derive(self):
        """What follows from the spec's attributes and keys (again after a metadata write)."""
        self.attrs = {a["name"]: a for a in self.spec["attributes"]}
        self.nav = {}  # navigation property -> (lookup attribute, target logical name)
        for a in self.spec["attributes"]:
            if a["type"] in LOOKUP_TYPES:
                for target, navname in (a.get("nav") or {}).items():
                    self.nav[navname] = (a["name"], target)
        self.keys = [(k["name"], list(k["attributes"])) for k in self.spec.get("keys", [])
                     if k.get("status", "Active") == "Active"]  # an index still building is no key yet
        self.keys_by_names = {tuple(sorted(attrs)): (kname, attrs) for kname, attrs in reversed(self.keys)}
        # lookups to rows of this organization (owners are system users: no table of them here)
        self.refs = [a["name"] for a in self.spec["attributes"] if a["type"] in ("Lookup", "Customer")]
        self.columns = {}  # name -> column(name), for the names of columns asked for so far
        self.all_columns = [self.column(n) for n in self.attrs]
        # a new row before its values: every column, at its default
        self.blank = {col: a["default"] if "default" in a else None for col, a in self.all_columns}

    def schema_changed(self):
        """After a column or key was added: existing rows get the new columns at their default, and the
        key and lookup indexes are built again."""
        self._derive()
        self.key_index = {name: {} for name, _ in self.keys}
        self.ref_index = {name: {} for name in self.refs}
        for rid, row in self.rows.items():
            for col, default in self.blank.items():
                row.setdefault(col, default)
            self._index(rid, row)
        self.stamp += 1

    def reset(self):
        self.rows = {}
        self.order = seek.SortedKeys()
        self.key_index = {name: {} for name, _ in self.keys}
        self.ref_index = {name: {} for name in self.refs}  # lookup -> parent id -> child ids
        self.changelog = []  # (version, id), append-only
        self.tombstones = []  # (version, id), append-only
        self.stamp = 0

    def column(self, name):
        """Row key for an attribute name as used in $select/$filter: lookups are _x_value."""
        found = self.columns.get(name)
        if found is None:
            found = self._column(name)
            if found[0] is not None:
                self.columns[name] = found
        return found

    def _column(self, name):
        if name in self.attrs:
            a = self.attrs[name]
            return "_%s_value" % name if a["type"] in LOOKUP_TYPES else name, a
        if name.startswith("_") and name.endswith("_value") and name[1:-6] in self.attrs:
            a = self.attrs[name[1:-6]]
            if a["type"] in LOOKUP_TYPES:
                return name, a
        return None, None

    def key_tuple(self, keyattrs, row):
        vals = []
        for k in keyattrs:
            col, _ = self.column(k)
            v = row.get(col)
            if v is None:
                return None
            vals.append(v.lower() if isinstance(v, str) else v)
        return tuple(vals)

    def find_key(self, keyattrs):
        return self.keys_by_names.get(tuple(sorted(keyattrs)), (None, None))

    def _index(self, rid, row):
        for kname, attrs in self.keys:
            t = self.key_tuple(attrs, row)
            if t is not None:
                self.key_index[kname][t] = rid
        for name in self.refs:
            parent = row.get("_%s_value" % name)
            if parent is not None:
                self.ref_index[name].setdefault(parent, set()).add(rid)

    def _unindex(self, rid, row):
        for kname, attrs in self.keys:
            t = self.key_tuple(attrs, row)
            if t is not None and self.key_index[kname].get(t) == rid:
                del self.key_index[kname][t]
        for name in self.refs:
            children = self.ref_index[name].get(row.get("_%s_value" % name))
            if children is not None:
                children.discard(rid)
                if not children:
                    del self.ref_index[name][row.get("_%s_value" % name)]

    def referencing(self, attr, parent_id):
        """Ids of the rows whose lookup `attr` points at `parent_id` (sorted)."""
        return sorted(self.ref_index[attr].get(parent_id, ()))

    def key_conflict(self, rid, row):
        """Name and attributes of an alternate key that another row already holds, or None."""
        for kname, attrs in self.keys:
            t = self.key_tuple(attrs, row)
            if t is not None:
                other = self.key_index[kname].get(t)
                if other is not None and other != rid:
                    return kname, attrs
        return None

    def lookup_key(self, keyattrs, values):
        kname, attrs = self.find_key(list(values))
        if kname is None:
            return None
        t = tuple((values[a].lower() if isinstance(values[a], str) else values[a]) for a in attrs)
        return self.key_index[kname].get(t)


class Store:
    def __init__(self, specs):
        self.tables = {}
        self.by_set = {}
        for s in specs:
            t = Table(s)
            self.tables[t.logical] = t
            self.by_set[t.set] = t
        self.version = 1000
        self.savepoint = None
        self.ct_min_version = 0  # delta tokens below this are expired (fault injection)
        self.keys_building = 0  # alternate keys whose index is Pending (dv_customize)

    def add_table(self, spec):
        """A table created through the metadata API: usable at once."""
        t = Table(spec)
        self.tables[t.logical] = t
        self.by_set[t.set] = t
        return t

    def reset(self):
        for t in self.tables.values():
            t.reset()
        self.version = 1000
        self.savepoint = None
        self.ct_min_version = 0

    def next_version(self):
        self.version += 1
        return self.version

    # -- savepoints ($batch change sets) ----------------------------------------------------
    def begin(self):
        self.savepoint = {"logs": {n: (len(t.changelog), len(t.tombstones)) for n, t in self.tables.items()},
                          "rows": {}, "version": self.version}

    def _remember(self, table, rid):
        sp = self.savepoint
        if sp is not None and (table.logical, rid) not in sp["rows"]:
            old = table.rows.get(rid)
            sp["rows"][(table.logical, rid)] = dict(old) if old is not None else None

    def commit(self):
        self.savepoint = None

    def rollback(self):
        sp, self.savepoint = self.savepoint, None
        if sp is None:
            return
        for (logical, rid), old in sp["rows"].items():
            t = self.tables[logical]
            cur = t.rows.get(rid)
            if cur is not None:
                t._unindex(rid, cur)
                del t.rows[rid]
                t.order.remove(rid)
            if old is not None:
                t.rows[rid] = old
                t.order.add(rid)
                t._index(rid, old)
            t.stamp += 1
        for logical, (ncl, ntb) in sp["logs"].items():
            t = self.tables[logical]
            del t.changelog[ncl:]
            del t.tombstones[ntb:]
        self.version = sp["version"]

    # -- row operations (caller holds the emulator lock and has validated the values) --------
    def insert(self, table, rid, values, bulk=False):
        now = utcnow()
        row = dict(table.blank)
        row.update(values)
        row[table.pid] = rid
        if "ownerid" in table.attrs and not values.get("_ownerid_value"):  # the caller, unless bound
            row["_ownerid_value"] = SYSTEM_USER_ID
            row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] = "systemuser"
        row.setdefault("createdon", now)
        if "createdon" in table.attrs and row.get("createdon") is None:
            row["createdon"] = now
        row["modifiedon"] = now
        self._computed(table, row)
        v = self.next_version()
        row["versionnumber"] = v
        if not bulk:
            self._remember(table, rid)
            table.order.add(rid)
        table.rows[rid] = row
        table._index(rid, row)
        table.changelog.append((v, rid))
        table.stamp += 1
        return row

    def finish_bulk(self, table, ids):
        table.order.extend_sorted(ids)

    def update(self, table, rid, values):
        self._remember(table, rid)
        row = table.rows[rid]
        table._unindex(rid, row)
        row.update(values)
        row["modifiedon"] = utcnow()
        self._computed(table, row)
        v = self.next_version()
        row["versionnumber"] = v
        table._index(rid, row)
        table.changelog.append((v, rid))
        table.stamp += 1
        return row

    def delete(self, table, rid):
        """Delete a row and apply its relationships' delete behaviour, as one operation: a Restrict
        relationship with children refuses the whole delete (405, 0x80040227) before anything changes;
        Cascade deletes the children (and theirs, recursively); RemoveLink clears their lookup (an
        update, seen by change tracking). Returns the row."""
        doomed, order = {(table.logical, rid)}, [(table, rid)]
        unlink = []
        i = 0
        while i < len(order):  # the rows the delete takes with it, parent first
            parent, pid = order[i]
            i += 1
            for child, attr, behaviour in self.relationships_to(parent):
                for cid in child.referencing(attr, pid):
                    if behaviour == "Cascade" and (child.logical, cid) not in doomed:
                        doomed.add((child.logical, cid))
                        order.append((child, cid))
                    elif behaviour != "Cascade":
                        unlink.append((child, cid, attr, behaviour))
        unlink = [u for u in unlink if (u[0].logical, u[1]) not in doomed]
        if any(b == "Restrict" for _, _, _, b in unlink):
            raise dv_error(405, RESTRICTED, "0x80040227")
        for child, cid, attr, _ in unlink:
            col = "_%s_value" % attr
            self.update(child, cid, {col: None, col + "@Microsoft.Dynamics.CRM.lookuplogicalname": None})
        for t, r in order:
            row = self._delete_row(t, r)
            if r == rid and t is table:
                first = row
        return first

    def relationships_to(self, parent):
        """(child table, lookup attribute, delete behaviour) of every lookup that can point at `parent`."""
        out = []
        for child in self.tables.values():
            for name in child.refs:
                a = child.attrs[name]
                if parent.logical in (a.get("targets") or []):
                    out.append((child, name, cascade_delete(a, parent.logical)))
        return out

    def _delete_row(self, table, rid):
        self._remember(table, rid)
        row = table.rows.pop(rid)
        table._unindex(rid, row)
        table.order.remove(rid)
        table.tombstones.append((self.next_version(), rid))
        table.stamp += 1
        return row

    @staticmethod
    def _computed(table, row):
        if table.logical == "contact":
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p) or None

    # -- change tracking ---------------------------------------------------------------------
    def changes(self, table, since, upto, phase, index, limit):
        """Delta items after version `since` up to `upto`: new/updated rows (by version) first,
        then deletes. Resumes at (phase, index); -> (items, (phase, index) to resume or None).
        Items are ("row", row) or ("deleted", id)."""
        out = []
        if phase == 0:
            if index < 0:
                index = first_after(table.changelog, since)
            cl = table.changelog
            n = len(cl)
            while index < n:
                v, rid = cl[index]
                if v > upto:
                    index = n
                    break
                index += 1
                row = table.rows.get(rid)
                if row is None or row["versionnumber"] != v:
                    continue  # superseded by a later change or deleted
                out.append(("row", row))
                if len(out) == limit:
                    return out, (0, index)
            phase, index = 1, -1
        if index < 0:
            index = first_after(table.tombstones, since)
        tb = table.tombstones
        n = len(tb)
        while index < n:
            v, rid = tb[index]
            if v > upto:
                break
            index += 1
            row = table.rows.get(rid)
            if row is not None and row["versionnumber"] > v:
                continue  # re-created after the delete
            if len(out) == limit:
                return out, (1, index - 1)
            out.append(("deleted", rid))
        return out, None


def first_after(entries, version):
    """The index of the first entry (version, ...) of `entries` (in version order) whose version is above
    `version`: bisect_right by the entries' versions (bisect's key argument is Python 3.10's, and the
    emulators also run on PyPy's 3.9)."""
    lo, hi = 0, len(entries)
    while lo < hi:
        mid = (lo + hi) // 2
        if version < entries[mid][0]:
            hi = mid
        else:
            lo = mid + 1
    return lo
