# dv_query: reading Dataverse rows. Owns collection queries ($select, $filter, $orderby, $top,
# $count, Prefer: odata.maxpagesize with @odata.nextLink/$skiptoken and Preference-Applied), change
# tracking (Prefer: odata.track-changes, $deltatoken, /$delta, $deletedEntity, expired tokens;
# reference A10), single-row GET with conditional If-None-Match, and /$count.
import datetime
import re
import time
import urllib.parse

import odata_filter
import seek
from dv_http import odata_response, parse_key
from dv_values import annotation_matcher, dv_error, no_property, not_found, render_row, select_columns
from emulib import Response

MAX_PAGE = 5000
COOKIE_ATTR = re.compile(r'(\w+)="([^"]*)"')


def compile_where(table, text):
    def resolve(name):
        col, a = table.column(name)
        if col is None:
            raise odata_filter.FilterError("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'."
                                           % (name, table.logical))
        return col, a["type"]
    try:
        return odata_filter.compile_filter(text, resolve)
    except odata_filter.FilterError as e:
        raise dv_error(400, str(e), "0x80060888")


def parse_orderby(table, text):
    spec = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise dv_error(400, "Syntax error at position %d in '%s'." % (len(text), text), "0x80060888")
        col, _ = table.column(words[0])
        if col is None:
            raise no_property(table, words[0])
        spec.append((col, len(words) == 2 and words[1].lower() == "desc"))
    return tuple(spec)


def make_cookie(table, page, first, last, tracking, state):
    inner = '<cookie page="%d"><%s last="{%s}" first="{%s}" /></cookie>' % (page, table.pid, last.upper(), first.upper())
    return '<cookie pagenumber="%d" pagingcookie="%s" istracking="%s" emustate="%s" />' % (
        page + 1, urllib.parse.quote(inner, safe=""), "True" if tracking else "False", state)


def read_cookie(text):
    attrs = dict(COOKIE_ATTR.findall(text or ""))
    if "emustate" not in attrs or "pagenumber" not in attrs:
        raise dv_error(400, "The $skiptoken value is not valid.", "0x80060888")
    try:
        return int(attrs["pagenumber"]), attrs["emustate"].split(":")
    except ValueError:
        raise dv_error(400, "The $skiptoken value is not valid.", "0x80060888")


def next_link(ctx, table, raw_query, cookie):
    keep = [p for p in raw_query.split("&") if p and not re.match(r"(\$|%24)skiptoken=", p, re.I)]
    keep.append("$skiptoken=" + urllib.parse.quote(cookie, safe=""))
    return "%s/%s?%s" % (ctx.api, table.set, "&".join(keep))


def page_size(prefer):
    v = prefer.get("odata.maxpagesize")
    if v is None:
        return None
    try:
        n = int(v.strip('"'))
    except ValueError:
        return None
    return max(1, min(n, MAX_PAGE))


def select_fragment(table, q):
    sel = q.get("$select")
    return "%s(%s)" % (table.set, sel) if sel else table.set


def delta_token(version, when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return "%d!%s" % (version, when.strftime("%m/%d/%Y %H:%M:%S"))


def check_delta_token(emu, token):
    expired = dv_error(400, "Version stamp associated with the client has expired. Please perform a full sync.",
                       "0x80044352")
    ver, _, stamp = token.partition("!")
    try:
        version = int(ver)
        when = datetime.datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise expired
    age = (datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()
    if age > float(emu.config["delta_token_max_age_seconds"]) or version < emu.store.ct_min_version:
        raise expired
    return version


def query_collection(emu, req, ctx, table, prefer):
    q = req.query
    if "$skip" in q:
        raise dv_error(400, "The query parameter $skip is not supported.", "0x80060888")
    cookie = q.get("$skiptoken")
    page, state = read_cookie(cookie) if cookie else (1, None)
    tracking = "odata.track-changes" in prefer or "$deltatoken" in q or bool(state and state[0] in ("t", "x"))
    if tracking:
        if not table.change_tracking:
            raise dv_error(400, emu.config["ct_disabled_message"].format(table=table.logical), emu.config["ct_disabled_code"])
        for opt in ("$filter", "$orderby", "$expand", "$top"):
            if opt in q:
                raise dv_error(400, 'The "%s" query parameter isn\'t supported when Change Tracking is enabled.' % opt,
                               "0x80060888")
    elif "$expand" in q:
        raise dv_error(501, "$expand is not implemented by the emulator.", "0x80060888")
    columns = select_columns(table, q.get("$select"))
    ann = annotation_matcher(prefer)
    size = page_size(prefer)
    applied = []
    if size is not None:
        applied.append("odata.maxpagesize=%d" % size)
    limit = size or MAX_PAGE
    top = None
    if "$top" in q and size is None:
        try:
            top = int(q["$top"])
        except ValueError:
            raise dv_error(400, "Invalid value '%s' for $top query option found." % q["$top"], "0x80060888")
        if top < 0:
            raise dv_error(400, "Invalid value '%s' for $top query option found." % q["$top"], "0x80060888")
        limit = min(top, MAX_PAGE)
    if tracking and "odata.track-changes" in prefer:
        applied.append("odata.track-changes")
    if ann is not None:
        applied.append("odata.include-annotations=%s" % prefer["odata.include-annotations"])
    body = {}
    with emu.lock:
        if "$deltatoken" in q:
            req.kind = "delta"
            return _delta(emu, req, ctx, table, q, columns, ann, limit, page, state, applied)
        where = compile_where(table, q["$filter"]) if q.get("$filter") else None
        spec = parse_orderby(table, q["$orderby"]) if q.get("$orderby") else None
        if spec:
            ids, posmap = emu.order_cache.get(table.logical, table.stamp, spec, table.rows, table.order.keys)
            start = 0 if not state else seek.resume_position(ids, posmap, int(state[1]), state[2])
        else:
            ids = table.order.keys
            start = 0 if not state else table.order.position_after(state[1])
        rows, nxt = seek.walk(ids, start, limit, table.rows.get, where)
        snapshot = int(state[2]) if (state and tracking and len(state) > 2) else emu.store.version
        body["@odata.context"] = ctx.context(select_fragment(table, q))
        if q.get("$count", "").lower() == "true":
            body["@odata.count"] = _count(table, where)
        body["value"] = [render_row(emu.store, table, r, columns, ann) for r in rows]
        if top is not None:
            nxt = None
        if nxt is not None and rows:
            last = rows[-1][table.pid]
            st = ("o:%d:%s" % (nxt, last)) if spec else ("t:%s:%d" % (last, snapshot) if tracking else "d:%s" % last)
            body["@odata.nextLink"] = next_link(ctx, table, req.raw_query,
                                                make_cookie(table, page, rows[0][table.pid], last, tracking, st))
        elif tracking:
            body["@odata.deltaLink"] = _delta_link(ctx, table, q, snapshot)
    req.kind = "query"
    headers = [("Preference-Applied", ",".join(applied))] if applied else []
    return odata_response(200, body, headers)


def _count(table, where):
    if where is None:
        return min(len(table.rows), MAX_PAGE)
    n = 0
    for row in table.rows.values():
        if where(row):
            n += 1
            if n >= MAX_PAGE:
                break
    return n


def _delta_link(ctx, table, q, version):
    parts = []
    if q.get("$select"):
        parts.append("$select=" + urllib.parse.quote(q["$select"], safe=",_"))
    parts.append("$deltatoken=" + urllib.parse.quote(delta_token(version), safe=""))
    return "%s/%s?%s" % (ctx.api, table.set, "&".join(parts))


def _delta(emu, req, ctx, table, q, columns, ann, limit, page, state, applied):
    since = check_delta_token(emu, q["$deltatoken"])
    if state:
        phase, index, upto = int(state[1]), int(state[2]), int(state[3])
    else:
        phase, index, upto = 0, -1, emu.store.version
    items, resume = emu.store.changes(table, since, upto, phase, index, limit)
    deleted_ctx = ctx.context("%s/$deletedEntity" % table.set)
    value = []
    for kind, item in items:
        if kind == "row":
            value.append(render_row(emu.store, table, item, columns, ann))
        else:
            value.append({"@odata.context": deleted_ctx, "id": item, "reason": "deleted"})
    body = {"@odata.context": ctx.context("%s/$delta" % select_fragment(table, q)), "value": value}
    if resume is not None:
        st = "x:%d:%d:%d" % (resume[0], resume[1], upto)
        first = last = "00000000-0000-0000-0000-000000000000"
        body["@odata.nextLink"] = next_link(ctx, table, req.raw_query, make_cookie(table, page, first, last, True, st))
    else:
        body["@odata.deltaLink"] = _delta_link(ctx, table, q, upto)
    headers = [("Preference-Applied", ",".join(applied))] if applied else []
    return odata_response(200, body, headers)


def count_endpoint(emu, req, table):
    req.kind = "count"
    with emu.lock:
        if "$deltatoken" in req.query:
            since = check_delta_token(emu, req.query["$deltatoken"])
            items, _ = emu.store.changes(table, since, emu.store.version, 0, -1, MAX_PAGE)
            n = len(items)
        else:
            where = compile_where(table, req.query["$filter"]) if req.query.get("$filter") else None
            n = _count(table, where)
    return Response(200, str(n).encode(), [("OData-Version", "4.0")], "text/plain")


def retrieve(emu, req, ctx, table, keytext, prefer):
    req.kind = "retrieve"
    q = req.query
    if "$expand" in q:
        raise dv_error(501, "$expand is not implemented by the emulator.", "0x80060888")
    columns = select_columns(table, q.get("$select"))
    ann = annotation_matcher(prefer)
    with emu.lock:
        rid, _ = parse_key(table, keytext)
        row = table.rows.get(rid) if rid else None
        if row is None:
            raise not_found(table.logical, rid or keytext)
        etag = 'W/"%d"' % row["versionnumber"]
        inm = req.header("If-None-Match")
        if inm and inm != "null" and ann is None and inm.strip() == etag:
            return odata_response(304, None, [("ETag", etag)])
        body = {"@odata.context": ctx.context("%s/$entity" % select_fragment(table, q))}
        body.update(render_row(emu.store, table, row, columns, ann))
    return odata_response(200, body, [("ETag", etag)])


def retrieve_property(emu, req, ctx, table, keytext, prop):
    req.kind = "retrieve"
    with emu.lock:
        rid, _ = parse_key(table, keytext)
        row = table.rows.get(rid) if rid else None
        if row is None:
            raise not_found(table.logical, rid or keytext)
        col, a = table.column(prop)
        if col is None:
            raise dv_error(404, "Resource not found for the segment '%s'." % prop, "0x8006088a")
        v = row.get(col)
    if v is None:
        return odata_response(204)
    return odata_response(200, {"@odata.context": ctx.context("%s(%s)/%s" % (table.set, rid, prop)), "value": v})


def now_ms():
    return time.monotonic() * 1000.0
