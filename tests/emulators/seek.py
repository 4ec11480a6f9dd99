# seek: ordered listing and cursor paging shared by both emulators. A table keeps its ids sorted
# (the default order); explicit sort orders are built once per table change and cached. A page
# cursor is a position plus the last id, so following a next link seeks instead of rescanning.
import bisect
import threading


class SortedKeys:
    """Primary keys in ascending order, maintained incrementally."""

    def __init__(self):
        self.keys = []

    def add(self, k):
        bisect.insort(self.keys, k)

    def remove(self, k):
        i = bisect.bisect_left(self.keys, k)
        if i < len(self.keys) and self.keys[i] == k:
            del self.keys[i]

    def extend_sorted(self, ks):
        self.keys.extend(ks)
        self.keys.sort()

    def position_after(self, k):
        return bisect.bisect_right(self.keys, k)

    def __len__(self):
        return len(self.keys)


def sort_value(v):
    if v is None or v == "":
        return (0, "")
    if isinstance(v, str):
        return (1, v.lower())
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, (int, float)):
        return (1, v)
    return (1, str(v))


class OrderCache:
    """Id lists sorted by an explicit order, valid while the table's change stamp is unchanged."""

    def __init__(self, size=8):
        self.lock = threading.Lock()
        self.size = size
        self.entries = {}  # (table, spec) -> (stamp, ids, pos)

    def get(self, table, stamp, spec, rows, default_ids):
        key = (table, spec)
        with self.lock:
            hit = self.entries.get(key)
            if hit and hit[0] == stamp:
                return hit[1], hit[2]
        ids = list(default_ids)
        for field, desc in reversed(spec):
            ids.sort(key=lambda i: sort_value(rows[i].get(field)), reverse=desc)
        pos = {i: n for n, i in enumerate(ids)}
        with self.lock:
            if len(self.entries) >= self.size:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = (stamp, ids, pos)
        return ids, pos

    def clear(self):
        with self.lock:
            self.entries.clear()


def walk(ids, start, limit, get_row, predicate=None):
    """Rows matching predicate from position start: -> (rows, next position or None).
    Looks ahead for one more match so a next link is only given when there is a next page."""
    out = []
    n = len(ids)
    i = start
    while i < n:
        row = get_row(ids[i])
        i += 1
        if row is None or (predicate is not None and not predicate(row)):
            continue
        if len(out) == limit:
            return out, i - 1
        out.append(row)
    return out, None


def resume_position(ids, pos_map, pos, last_id):
    """Where to continue in a cached ordered list after last_id (pos was the position then)."""
    if 0 < pos <= len(ids) and ids[pos - 1] == last_id:
        return pos
    p = pos_map.get(last_id)
    if p is not None:
        return p + 1
    return min(pos, len(ids))
