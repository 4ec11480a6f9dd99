# acs_messages: transactional events as Adobe's Managing transactional messages page shows them:
# POST <ORG>/campaign/mc<ORG>/<eventID> with the event's data (email, ctx, optional scheduled and
# expiration) answers the event with its PKey, a relative href "mc<ORG>/<eventID>/<PKEY>" and status
# "pending"; GET on that href (under /campaign) answers its status now: processed once sent, [I]
# routingFailed for an event type the instance does not define, tooOld past its expiration, pending
# before its scheduled time. The events received are kept for the control API.
import base64
import os
import time

from acs_store import fmt_ts, parse_ts
from acs_values import engine_error
from emulib import HTTPError


class Messages:
    def __init__(self, config):
        self.event_types = set(config.get("transactional_events") or ())
        self.events = {}  # PKey -> the event as stored

    def status(self, ev):
        now, d = time.time(), ev["data"]
        if ev["type_id"] not in self.event_types:
            return "routingFailed"
        if d.get("expiration") and parse_ts(d["expiration"]) < now:
            return "tooOld"
        if d.get("scheduled") and parse_ts(d["scheduled"]) > now:
            return "pending"
        return "processed"

    def view(self, ev, status):
        out = dict(ev["data"])
        out.update(PKey=ev["PKey"], href="%s/%s/%s" % (ev["api"], ev["type_id"], ev["PKey"]),
                   serverUrl=ev["server"], status=status, type="")
        out.setdefault("ctx", {})
        out.setdefault("email", "")
        return out

    def call(self, emu, req, host, api, rest):  # Adobe's Managing transactional messages page
        if req.method == "POST" and len(rest) == 1:
            req.kind = "transactional.send"
            data = emu.body(req)
            if not isinstance(data, dict):
                raise HTTPError(400, "The request body must be a JSON object.")  # [I]
            for k in ("scheduled", "expiration"):  # ISO 8601, the "T" optional (the page)
                if data.get(k) and parse_ts(data[k]) is None:
                    raise engine_error("'%s' is not a valid date for '%s'" % (data[k], k))  # [I] text
                if data.get(k):
                    data[k] = fmt_ts(parse_ts(data[k]))
            pkey = "@" + base64.urlsafe_b64encode(os.urandom(18)).decode()
            self.events[pkey] = {"PKey": pkey, "api": api, "type_id": rest[0], "data": data, "server": host}
            return self.view(self.events[pkey], "pending")  # the page: the status when it was created
        ev = self.events.get(rest[1]) if len(rest) == 2 else None
        if req.method == "GET" and ev and ev["type_id"] == rest[0]:
            req.kind = "transactional.get"
            return self.view(ev, self.status(ev))
        raise HTTPError(404, "No transactional event '%s'" % "/".join(rest))  # [I]
