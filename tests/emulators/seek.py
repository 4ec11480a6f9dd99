# seek: ordered listing and cursor paging shared by both emulators. A table keeps its ids sorted
# (the default order); explicit sort orders are built once per table change and cached. A page
# cursor is a position plus the last id, so following a next link seeks instead of rescanning.
import bisect
import threading


class SortedKeys:
    """Primary keys in ascending order, maintained incrementally: in runs of a few thousand keys, so that
    a key added among many (a new GUID) moves one run's tail rather than half of one long list; `keys`,
    the one list the listings page through, is joined again when read after a change."""

    RUN = 2048  # a run that grows past twice this is cut in two

    def __init__(self):
        self.runs = []  # sorted, non-empty lists; each run's keys precede the next run's
        self.firsts = []  # each run's first key
        self.joined = []  # every key, or None once a change made it stale

    @property
    def keys(self):
        if self.joined is None:
            self.joined = [k for run in self.runs for k in run]
        return self.joined

    def _run_of(self, k):
        """The index of the run k belongs in (the first one for a key below them all)."""
        return max(0, bisect.bisect_right(self.firsts, k) - 1)

    def add(self, k):
        self.joined = None
        if not self.runs:
            self.runs, self.firsts = [[k]], [k]
            return
        i = self._run_of(k)
        run = self.runs[i]
        bisect.insort(run, k)
        self.firsts[i] = run[0]
        if len(run) > 2 * self.RUN:
            self.runs[i:i + 1] = [run[:self.RUN], run[self.RUN:]]
            self.firsts.insert(i + 1, run[self.RUN])

    def append(self, k):
        """Add k, known to be above every key there (ids that only grow)."""
        if self.runs and len(self.runs[-1]) < 2 * self.RUN:
            self.runs[-1].append(k)
        else:
            self.runs.append([k])
            self.firsts.append(k)
        if self.joined is not None:
            self.joined.append(k)

    def remove(self, k):
        if not self.runs:
            return
        i = self._run_of(k)
        run = self.runs[i]
        j = bisect.bisect_left(run, k)
        if j < len(run) and run[j] == k:
            del run[j]
            self.joined = None
            if run:
                self.firsts[i] = run[0]
            else:
                del self.runs[i], self.firsts[i]

    def extend_sorted(self, ks):
        """Add many keys at once (a bulk seed)."""
        every = sorted(self.keys + list(ks))
        self.runs = [every[i:i + self.RUN] for i in range(0, len(every), self.RUN)]
        self.firsts = [run[0] for run in self.runs]
        self.joined = every

    def position_after(self, k):
        return bisect.bisect_right(self.keys, k)

    def __len__(self):
        return sum(len(run) for run in self.runs)


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
