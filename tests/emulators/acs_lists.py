# acs_lists: Campaign collection reads (reference B4/B5): content/next/count/serverSidePagination,
# _lineCount (default 25, capped), opaque _lineStart cursors that seek, the big-table rule that
# hides `next` unless _forcePagination=true, _order (sortable fields only, `desc`), chained filter
# segments (byEmail, byText, custom filters such as byExternalId/byLastModified), the _count
# endpoint and single-field projection.
import base64
import urllib.parse

import seek
from acs_schema import TEXT_FIELDS
from acs_store import parse_ts
from acs_values import engine_error, render

SORT_ALIAS = {"lastModified": "_modified", "created": "_created"}


def _encode_cursor(state):
    return "@" + base64.urlsafe_b64encode(state.encode()).rstrip(b"=").decode()


def _decode_cursor(text):
    try:
        return base64.urlsafe_b64decode(text[1:] + "=" * (-len(text[1:]) % 4)).decode().split(":")
    except (ValueError, UnicodeDecodeError):
        raise engine_error("'%s' is not a valid constant" % text)


def filter_parts(emu, res, names, q):
    """-> (candidate id set or None, predicate or None)."""
    cands, preds = None, []
    for name in names:
        if name == "byEmail":
            v = q.get("email")
            if v is None:
                raise engine_error("The 'email' parameter of the 'byEmail' filter is mandatory")
            ids = res.find("email", v)
            cands = set(ids) if cands is None else cands & ids
        elif name == "byText":
            text = q.get("text", "")
            ftype = q.get("filterType")
            if ftype:
                if ftype not in res.all_fields(True):
                    raise engine_error("'%s' property is not valid for the '%s' resource" % (ftype, res.name))
                preds.append(lambda r, f=ftype, t=text: isinstance(r.get(f), str) and r.get(f).startswith(t))
            else:
                t = text.lower()
                preds.append(lambda r, t=t, fs=TEXT_FIELDS.get(res.name, ("label", "name")):
                             any(str(r.get(f, "")).lower().startswith(t) for f in fs))
        else:
            spec = emu.filters_of(res).get(name)
            if spec is None:
                raise engine_error("The filter '%s' does not exist for the '%s' resource" % (name, res.name), 404)
            v = q.get(spec["param"])
            if v is None:
                raise engine_error("The '%s' parameter of the '%s' filter is mandatory" % (spec["param"], name))
            field, op = spec["field"], spec.get("op", "eq")
            if op == "eq" and field in res.indexed:
                ids = res.find(field, v)
                cands = set(ids) if cands is None else cands & ids
            elif op == "eq":
                preds.append(lambda r, f=field, v=v: str(r.get(f, "")).lower() == v.lower())
            else:
                t = parse_ts(v)
                if t is None:
                    raise engine_error("'%s' is not a valid date for the '%s' parameter" % (v, spec["param"]))
                key = SORT_ALIAS.get(field, field)
                preds.append(lambda r, k=key, t=t: (r.get(k) or 0) >= t)
    pred = None
    if preds:
        pred = (lambda r: all(p(r) for p in preds)) if len(preds) > 1 else preds[0]
    return cands, pred


def parse_order(res, text):
    spec = []
    fields = res.all_fields(True)
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        f = fields.get(words[0])
        if f is None or not f.get("sortable"):
            raise engine_error("The '%s' property of the '%s' resource cannot be used for sorting" % (words[0], res.name))
        spec.append((SORT_ALIAS.get(words[0], words[0]), len(words) > 1 and words[1].lower() == "desc"))
    return tuple(spec)


def count(emu, res, names, q):  # Adobe's Counting page: {"count": N}
    cands, pred = filter_parts(emu, res, names, q)
    if cands is None and pred is None:
        return len(res.records)
    ids = cands if cands is not None else res.records.keys()
    return sum(1 for i in ids if i in res.records and (pred is None or pred(res.records[i])))


def list_records(emu, req, base, host, res, ext, names, projection):  # Adobe's Pagination, Sorting, Filtering pages
    q = req.query
    cands, pred = filter_parts(emu, res, names, q)
    try:
        line_count = int(q.get("_lineCount", emu.config["default_line_count"]))
    except ValueError:
        raise engine_error("'%s' is not a valid value for _lineCount" % q.get("_lineCount"))
    line_count = max(1, min(line_count, int(emu.config["max_line_count"])))
    spec = parse_order(res, q["_order"]) if q.get("_order") else ()
    state = _decode_cursor(q["_lineStart"]) if q.get("_lineStart") else None
    if cands is not None:
        ids = sorted(i for i in cands if i in res.records)
        if spec:
            for field, desc in reversed(spec):
                ids.sort(key=lambda i: seek.sort_value(res.records[i].get(field)), reverse=desc)
        posmap = {i: n for n, i in enumerate(ids)}
        start = seek.resume_position(ids, posmap, int(state[1]), int(state[2])) if state and state[0] == "o" else 0
    elif spec:
        ids, posmap = emu.order_cache.get(res.name, res.stamp, spec, res.records, res.order.keys)
        start = seek.resume_position(ids, posmap, int(state[1]), int(state[2])) if state and state[0] == "o" else 0
    else:
        ids = res.order.keys
        start = res.order.position_after(int(state[1])) if state and state[0] == "d" else 0
    recs, nxt = seek.walk(ids, start, line_count, lambda i: (i, res.records[i]) if i in res.records else None,
                          (lambda ir: pred(ir[1])) if pred else None)
    if projection:
        content = [rec.get(projection, "") for _, rec in recs]
    else:
        content = [render(emu, base, res, rid, rec, ext) for rid, rec in recs]
    body = {"content": content}
    params = {k: v for k, v in q.items() if k not in ("_lineStart",)}
    count_params = {k: v for k, v in params.items() if k not in ("_lineCount", "_order", "_forcePagination")}
    path = req.path
    body["count"] = {"href": "%s%s/_count%s" % (host, path.rstrip("/"),
                                                  "?" + urllib.parse.urlencode(count_params) if count_params else "")}
    big = len(res.records) > int(emu.config["big_table_threshold"])
    force = q.get("_forcePagination", "").lower() == "true"
    if nxt is not None and recs and (not big or force):
        last = recs[-1][0]
        state = ("o:%d:%d" % (nxt, last)) if (spec or cands is not None) else "d:%d" % last
        params["_lineStart"] = _encode_cursor(state)
        params.setdefault("_lineCount", str(line_count))
        body["next"] = {"href": "%s%s?%s" % (host, path, urllib.parse.urlencode(params, safe="@,"))}
    body["serverSidePagination"] = True
    return body
