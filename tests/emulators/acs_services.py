# acs_services: the subscriptions of a profile or of a service (Adobe's Managing services and
# subscriptions page): GET <profile or service href>/subscriptions lists them, POST there subscribes
# (a profile to {"service": {"PKey"}}, a service's subscriber {"subscriber": {"PKey"}}), and DELETE on a
# subscription's href unsubscribes (204). A subscription is stored as a record of the resource
# "subscription" linking the service and the profile; its href is under the parent it was read from.
import acs_values
from acs_values import engine_error, href, render
from emulib import HTTPError, Response

PARENT_LINK = {"profile": "subscriber", "service": "service"}  # the link that names the parent
OTHER_LINK = {"profile": "service", "service": "subscriber"}  # the link a POST names


def _view(emu, base, parent, pid, rid):
    subs = emu.store.resources["subscription"]
    out = render(emu, base, subs, rid, subs.records[rid], False)
    parent_href = href(base, emu.api_of(parent, False), parent.name, emu.store.pkey(parent, pid))
    out["href"] = "%s/subscriptions/%s" % (parent_href, out["PKey"])
    return out


def subscriptions(emu, req, base, parent, pid, rest):
    """rest: what follows <parent PKey>/subscriptions."""
    subs = emu.store.resources["subscription"]
    own = "_link_" + PARENT_LINK[parent.name]
    mine = sorted(i for i, r in subs.records.items() if r.get(own) == pid)
    if not rest and req.method == "GET":  # the subscriptions collection, as every collection
        req.kind = "subscription.list"
        return emu.json(200, {"content": [_view(emu, base, parent, pid, i) for i in mine]})
    if not rest and req.method == "POST":
        req.kind = "subscription.create"
        link = OTHER_LINK[parent.name]
        values = acs_values.convert(subs, emu.body(req), False, True, emu.store, emu.config)
        if values.get("_link_" + link) is None:
            raise engine_error("The '%s' of the subscription is mandatory" % link)
        if any(subs.records[i].get("_link_" + link) == values["_link_" + link] for i in mine):
            raise engine_error("Duplicate key: the profile already subscribes to the service")  # [I]
        values[own] = pid
        rid, _ = emu.store.insert(subs, values)
        emu.engine("create")
        return emu.json(201, _view(emu, base, parent, pid, rid))  # [I] 201, as a create
    r, rid = emu.store.resolve(rest[0]) if len(rest) == 1 else (None, None)
    if r is not subs or rid not in mine:
        raise HTTPError(404, "No subscription '%s' of this %s" % ("/".join(rest), parent.name))  # [I]
    if req.method == "GET":
        req.kind = "subscription.get"
        return emu.json(200, _view(emu, base, parent, pid, rid))
    if req.method == "DELETE":  # the page: "the response status is 204 No Content"
        req.kind = "subscription.delete"
        emu.store.delete(subs, rid)
        emu.engine("delete")
        return Response(204)
    raise HTTPError(405, "The method '%s' is not allowed on a subscription" % req.method)
