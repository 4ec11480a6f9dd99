# acs_export: the daily opt-out export a Campaign workflow writes (reference B6/B10.4): a CSV file
# of the deny-list fields changed since the previous export, one line per (profile, field) with the
# field's own change time, written atomically into a directory (read by the connector via file://).
import csv
import io
import os
import time

from acs_store import fmt_ts

COLUMNS = ["externalId", "email", "field", "value", "lastModified"]


def export(store, directory, since=None, delimiter=",", seq=[0]):
    """Write the file; -> dict(path, rows, since, until)."""
    profiles = store.resources["profile"]
    since = store.last_export if since is None else since
    until = time.time()
    latest = {}
    for t, resname, rid, field in store.optout_log:
        if since < t <= until and rid in profiles.records:
            latest[(rid, field)] = t
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(COLUMNS)
    rows = 0
    for (rid, field), t in sorted(latest.items(), key=lambda kv: (kv[1], kv[0])):
        rec = profiles.records[rid]
        w.writerow([rec.get("externalId", ""), rec.get("email", ""), field,
                    "true" if rec.get(field) else "false", fmt_ts(rec["_attr_mod"].get(field, t))])
        rows += 1
    os.makedirs(directory, exist_ok=True)
    seq[0] += 1
    name = "optout_%s_%04d.csv" % (time.strftime("%Y%m%d%H%M%S", time.gmtime(until)), seq[0])
    path = os.path.join(directory, name)
    tmp = os.path.join(directory, "." + name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    os.replace(tmp, path)
    store.last_export = until
    return {"path": path, "url": "file://" + path, "rows": rows, "since": fmt_ts(since) if since else "",
            "until": fmt_ts(until)}
