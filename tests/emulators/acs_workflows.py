# acs_workflows: Campaign workflows as Adobe's Managing workflows page shows them (Controlling a workflow,
# Triggering a Signal activity): POST workflow/execution/<id>/commands {"method": start|pause|resume|stop},
# GET workflow/execution/<id> with its External signal activities and their trigger hrefs, and POST on a
# trigger href with "source" (mandatory) and "parameters" (each declared by the activity). Workflows and
# their signals are configured (config "workflows"); the triggers received are kept for the control API.
import base64
import time

from acs_values import engine_error
from emulib import HTTPError

COMMANDS = {"start": "started", "pause": "paused", "resume": "started", "stop": "stopped"}


def _pkey(*parts):
    return "@" + base64.urlsafe_b64encode(":".join(("wkf",) + parts).encode()).decode().rstrip("=")


def _unpkey(pkey):
    try:
        parts = base64.urlsafe_b64decode(pkey[1:] + "=" * (-len(pkey[1:]) % 4)).decode().split(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return parts[1:] if parts[0] == "wkf" else None


class Workflows:
    def __init__(self, config):
        self.specs = config.get("workflows") or {}
        self.state = {wid: spec.get("state", "stopped") for wid, spec in self.specs.items()}
        self.triggers = []  # {"workflow", "activity", "source", "parameters", "at"}
        self.last = {}  # (workflow, activity) -> time of its last trigger

    def find(self, ref):
        """A workflow by its id or its PKey."""
        wid = (_unpkey(ref) or [None])[0] if ref.startswith("@") else ref
        if wid not in self.specs:
            raise HTTPError(404, "The workflow '%s' does not exist" % ref)  # [I]
        return wid

    def view(self, base, wid):
        acts = {}
        for name in sorted(self.specs[wid].get("signals", {})):
            trig = "%s/workflow/execution/%s/activities/activity/%s/trigger/" % (base, _pkey(wid), _pkey(wid, name))
            acts[name] = {"PKey": _pkey(wid, name), "name": name, "type": "signal", "trigger": {"href": trig}}
        # [I] the page shows PKey and activities; the id and state are the emulator's additions
        return {"PKey": _pkey(wid), "id": wid, "state": self.state[wid], "activities": {"activity": acts}}

    def call(self, emu, req, base, rest):  # Adobe's Managing workflows page
        if len(rest) < 2 or rest[0] != "execution":
            raise HTTPError(404, "Adobe's pages document workflow/execution/<workflowID> only")
        wid = self.find(rest[1])
        if len(rest) == 2 and req.method == "GET":
            req.kind = "workflow.get"
            return self.view(base, wid)
        if rest[2:] == ["commands"] and req.method == "POST":
            req.kind = "workflow.command"
            body = emu.body(req)
            method = body.get("method") if isinstance(body, dict) else None
            if method not in COMMANDS:
                raise HTTPError(400, "'method' must be one of start, pause, resume, stop")  # [I]
            self.state[wid] = COMMANDS[method]
            return self.view(base, wid)  # [I] the page shows no answer
        if len(rest) == 6 and rest[2:4] == ["activities", "activity"] and rest[5] == "trigger" and req.method == "POST":
            req.kind = "workflow.trigger"
            return self.trigger(emu, req, wid, rest[4])
        raise HTTPError(404, "Adobe's Managing workflows page documents no '%s %s'" % (req.method, "/".join(rest)))

    def trigger(self, emu, req, wid, act_ref):
        ids = _unpkey(act_ref) if act_ref.startswith("@") else [wid, act_ref]
        signals = self.specs[wid].get("signals", {})
        if not ids or len(ids) != 2 or ids[0] != wid or ids[1] not in signals:
            raise HTTPError(404, "The activity '%s' is not a signal of workflow '%s'" % (act_ref, wid))  # [I]
        name, body = ids[1], emu.body(req)
        if not isinstance(body, dict) or not body.get("source"):
            raise engine_error("The 'source' attribute of the trigger is mandatory")  # [I] text
        if self.state[wid] != "started":  # the page: "the destination workflow must be already running"
            raise engine_error("The workflow '%s' is not running" % wid)  # [I] text
        for p in body.get("parameters") or {}:
            if p not in signals[name]:  # the page's error text for a parameter the activity does not declare
                raise engine_error("RST-360011 An error has occurred - please contact your administrator.\n"
                                   "'%s' parameter isn't defined in signal activity.\n"
                                   "XTK-170006 Unable to parse expression 'HandleTrigger(@name, $(source), "
                                   "$({parameters}))'." % p)
        now = time.time()
        interval = float(emu.config.get("signal_interval_s", 600))
        if now - self.last.get((wid, name), -interval) < interval:  # the page: "not more often than every 10 minutes"
            raise engine_error("The signal '%s' of workflow '%s' was triggered less than %d s ago"  # [I] text
                               % (name, wid, interval))
        self.last[(wid, name)] = now
        self.triggers.append({"workflow": wid, "activity": name, "source": body["source"],
                              "parameters": body.get("parameters") or {}, "at": now})
        return {}  # [I] the page shows no answer
