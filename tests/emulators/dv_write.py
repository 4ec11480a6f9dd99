# dv_write: changing Dataverse rows (reference A5-A9): POST create (204 + OData-EntityId, or 201 +
# body with return=representation), PATCH update/upsert by id or alternate key with If-Match /
# If-None-Match, DELETE, single-property PUT/DELETE, duplicate keys (412) and their messages.
from dv_http import odata_response, parse_key, resolve_key
from dv_values import convert_body, convert_value, dv_error, not_found, render_row, select_columns

LOOKUPNAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"


def _representation(emu, ctx, table, row, req):
    columns = select_columns(table, req.query.get("$select"))
    frag = "%s(%s)/$entity" % (table.set, req.query["$select"]) if req.query.get("$select") else "%s/$entity" % table.set
    body = {"@odata.context": ctx.context(frag)}
    body.update(render_row(emu.store, table, row, columns, None))
    return body


def _check_keys(table, rid, row):
    conflict = table.key_conflict(rid, row)
    if conflict:
        kname, attrs = conflict
        raise dv_error(412, "Entity Key %s violated. A record with the same value for %s already exists."
                       % (kname, ",".join(attrs)), "0x80060892")


def _etag(row):
    return 'W/"%d"' % row["versionnumber"]


def create(emu, req, ctx, table, prefer, body):
    req.kind = "create"
    rep = prefer.get("return") == "representation"
    values = convert_body(emu.store, table, body, True, resolve_key)
    rid = values.pop(table.pid, None) or emu.new_uuid()
    if rid in table.rows:
        raise dv_error(412, "Cannot insert duplicate key.", "0x80040237")
    _check_keys(table, rid, values)
    row = emu.store.insert(table, rid, values)
    if rep:
        return odata_response(201, _representation(emu, ctx, table, row, req),
                              [("Preference-Applied", "return=representation")])
    return odata_response(204, None, [("OData-EntityId", ctx.entity_url(table, rid))])


def _precondition(req, row, logical, rid):
    if_match = req.header("If-Match")
    if if_match and if_match.strip() != "null":
        if row is None:
            raise dv_error(404, "%s With Id = %s Does Not Exist" % (logical, rid), "")
        if if_match.strip() != "*" and if_match.strip() != _etag(row):
            raise dv_error(412, "The version of the existing record doesn't match the RowVersion property provided.", "")
    return if_match


def upsert(emu, req, ctx, table, keytext, prefer, body):
    rep = prefer.get("return") == "representation"
    rid, keyvals = parse_key(table, keytext)
    row = table.rows.get(rid) if rid else None
    if_none = (req.header("If-None-Match") or "").strip()
    if if_none == "*" and row is not None:
        raise dv_error(412, "A record with matching key values already exists.", "")
    _precondition(req, row, table.logical, rid or keytext)
    url = ctx.entity_url(table, keytext.strip())
    if row is not None:
        req.kind = "update"
        values = convert_body(emu.store, table, body, False, resolve_key)
        values.pop(table.pid, None)
        for k in keyvals or {}:
            col, _ = table.column(k)
            values.pop(col, None)
            values.pop(k, None)
        merged = dict(row)
        merged.update(values)
        _check_keys(table, rid, merged)
        row = emu.store.update(table, rid, values)
        if rep:
            return odata_response(200, _representation(emu, ctx, table, row, req), [("ETag", _etag(row))])
        return odata_response(204, None, [("OData-EntityId", url)])
    req.kind = "upsert_create"
    values = convert_body(emu.store, table, body, True, resolve_key)
    new_id = values.pop(table.pid, None) or rid or emu.new_uuid()
    for k, v in (keyvals or {}).items():
        col, a = table.column(k)
        if col is None or col in values:
            continue  # the body value wins over the URL value
        if col != k:  # alternate key on a lookup: _x_value=guid
            values[col] = v
            values[col + LOOKUPNAME] = (a.get("targets") or [None])[0]
        else:
            values[col] = convert_value(table, a, v)
    _check_keys(table, new_id, values)
    row = emu.store.insert(table, new_id, values)
    if rep:
        return odata_response(201, _representation(emu, ctx, table, row, req),
                              [("ETag", _etag(row)), ("Preference-Applied", "return=representation")])
    return odata_response(204, None, [("OData-EntityId", url)])


def delete(emu, req, ctx, table, keytext):
    req.kind = "delete"
    rid, _ = parse_key(table, keytext)
    row = table.rows.get(rid) if rid else None
    if row is None:
        raise not_found(table.logical, rid or keytext)
    _precondition(req, row, table.logical, rid)
    emu.store.delete(table, rid)
    return odata_response(204)


def put_property(emu, req, ctx, table, keytext, prop, body, clear=False):
    req.kind = "update"
    rid, _ = parse_key(table, keytext)
    row = table.rows.get(rid) if rid else None
    if row is None:
        raise not_found(table.logical, rid or keytext)
    a = table.attrs.get(prop)
    if a is None:
        raise dv_error(404, "Resource not found for the segment '%s'." % prop, "0x8006088a")
    if clear:
        value = None
    else:
        if not isinstance(body, dict) or "value" not in body:
            raise dv_error(400, "The request body must contain a 'value' property.", "0x80060888")
        value = body["value"]
    values = convert_body(emu.store, table, {prop: value}, False, resolve_key)
    emu.store.update(table, rid, values)
    return odata_response(204)

