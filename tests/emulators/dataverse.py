#!/usr/bin/env python3
# dataverse: the Microsoft Dynamics 365 (Dataverse) emulator: the Entra ID client-credentials token
# endpoint, bearer checks, the Web API router under /api/data/v9.x/ (tables, metadata, $batch,
# WhoAmI), service protection, and the Dataverse part of the /_emulator/ control API.
# Run: python3 dataverse.py --port 0 --seed 1000   (prints its base URL, serves until killed)
import copy
import os
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dv_activities  # noqa: E402
import dv_batch  # noqa: E402
import dv_customize  # noqa: E402
import dv_functions  # noqa: E402
import dv_metadata  # noqa: E402
import dv_query  # noqa: E402
import dv_write  # noqa: E402
import emulib  # noqa: E402
import seeddata  # noqa: E402
import seek  # noqa: E402
from dv_http import Ctx, new_uuid, odata_response, parse_prefer  # noqa: E402
from dv_schema import CONTACT, DEFAULT_CUSTOM_TABLES, SYSTEM_USER_ID  # noqa: E402
from dv_store import Store  # noqa: E402
from dv_throttle import ServiceProtection  # noqa: E402
from dv_values import convert_body, dv_error, render_row  # noqa: E402
from emulib import HTTPError, Response, dumps, json_response  # noqa: E402
from tokens import TokenStore, read_form  # noqa: E402

API = re.compile(r"^/api/data/(v9\.[0-2])(?:/(.*))?$")
RESOURCE = re.compile(r"^(?P<set>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<key>(?:[^()']|'(?:[^']|'')*')*)\))?(?:/(?P<prop>.+))?$")
TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
ORG_ID = "00000000-0000-0000-0000-0000000000f1"
BU_ID = "00000000-0000-0000-0000-0000000000b1"


class Dataverse(emulib.Emulator):
    name = "dataverse"
    DEFAULTS = {
        "tenant": "11111111-2222-3333-4444-555555555555",
        "tenant_domains": ["crmsync.onmicrosoft.com"],
        "clients": {"crmsync-client": "crmsync-secret"},
        "org_urls": [],  # accepted scope resources besides the emulator's own base URL
        "token_lifetime": 3599,  # A1.2 expires_in
        "invalid_client_status": 401,  # [I] Entra answers 401 invalid_client for a bad secret
        "auth_error_body": "json",  # [I] 401 body: "json" (error envelope) or "empty"
        "custom_tables": None,  # None -> dv_schema.DEFAULT_CUSTOM_TABLES
        "activity_tables": None,  # None -> dv_activities.DEFAULT_ACTIVITY_TABLES (one per email event type)
        # False: the org as crmsync's setup finds it: no activity tables (unless activity_tables names some)
        # and change tracking off on every table; `crmsyncctl setup dynamics365` creates the rest
        "setup_done": True,
        "key_index_seconds": 2,  # how long an alternate key's index takes to build (Pending, then Active)
        "missing_privileges": [],  # privilege names the application user lacks (e.g. prvCreateEntity)
        # {logical name: rows}: what RetrieveTotalRecordCount reports for a table (the service's daily
        # snapshot), e.g. {"contact": 15000001}; a table not named is counted live
        "record_counts": {},
        "delta_token_max_age_seconds": 7 * 86400,  # A10: ExpireChangeTrackingInDays = 7
        "ct_disabled_message": "The entity '{table}' is not enabled for change tracking.",  # [I]
        "ct_disabled_code": "",  # [I]
        "batch_max_requests": 1000,  # A11
        "batch_error_include_previous": False,  # [I] A11 shows only the failing part
        "throttle": {"enabled": True, "window_seconds": 300, "max_requests": 6000,
                     "max_execution_ms": 1200000, "max_concurrent": 52, "retry_after": None,
                     "debug_headers": True},
        "fault_retry_after": 1,
        "request_log_size": 20000,
        "latency_ms": 0,  # added to every answer of the service endpoints (not the control API); --latency
    }

    def reset_state(self):
        specs = [CONTACT] + list(self.config.get("custom_tables") or DEFAULT_CUSTOM_TABLES)
        specs += dv_activities.tables(self.config)
        specs = copy.deepcopy(specs)  # metadata writes change them
        if not self.config["setup_done"]:
            specs = [s for s in specs if not s.get("activity") or s in (self.config.get("activity_tables") or [])]
            for s in specs:
                s["change_tracking"] = False
        self.store = Store(specs)
        dv_activities.seed_users(self.store)
        self.tokens = TokenStore()
        self.throttle = ServiceProtection(self.config["throttle"])
        self.order_cache = seek.OrderCache()
        self.seeded = {}

    def config_changed(self):
        self.throttle.config = self.config["throttle"]

    new_uuid = staticmethod(new_uuid)

    # --- errors in the service's own format ---------------------------------------------------
    def error_response(self, err):
        body = err.body if err.body is not None else {"error": {"code": err.code or "", "message": err.message}}
        return odata_response(err.status, body, err.headers)

    def fault_response(self, fault, req):
        if fault.kind == "throttle":
            e = dv_error(429, fault.message or "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                         fault.code or "0x80072322")
            e.headers = [("Retry-After", str(fault.retry_after if fault.retry_after is not None
                                             else self.config["fault_retry_after"]))]
            return self.error_response(e)
        msg = fault.message or {500: "An unexpected error occurred.", 503: "Service Unavailable"}.get(
            fault.status, emulib.REASONS.get(fault.status, "Error"))
        e = dv_error(fault.status, msg, fault.code or ("0x80040216" if fault.status == 500 else ""))
        if fault.retry_after is not None:
            e.headers = [("Retry-After", str(fault.retry_after))]
        return self.error_response(e)

    # --- outer routing: identity, auth, protection, faults ------------------------------------
    def base_for(self, req):
        host = req.header("Host")
        return "http://%s" % host if host else self.base_url

    def route(self, req):
        m = TOKEN_PATH.match(req.path)
        if m:
            req.kind = "token"
            f = self.apply_faults(req)
            return f or self.token(req, m.group(1))
        m = API.match(req.path)
        if not m:
            raise dv_error(404, "Resource not found for the segment '%s'." % req.path.strip("/").split("/")[0], "0x8006088a")
        ctx = Ctx(self.base_for(req), m.group(1))
        state, client = self.tokens.check(req.header("Authorization"))
        if state != "ok":
            req.kind = "unauthorized"
            return self.unauthorized(ctx, state)
        req.user = client
        entered = self.throttle.enter(client)
        t0 = time.monotonic()
        try:
            resp = self.apply_faults(req)
            if resp is None:
                resp = self.api(req, ctx)
        finally:
            if entered:
                self.throttle.leave(client, (time.monotonic() - t0) * 1000.0)
        if entered and self.config["throttle"].get("debug_headers"):
            reqs, ms = self.throttle.remaining(client)
            resp.headers.append(("x-ms-ratelimit-burst-remaining-xrm-requests", str(reqs)))
            resp.headers.append(("x-ms-ratelimit-time-remaining-xrm-requests", "%d.00" % ms))
        resp.headers.append(("REQ_ID", new_uuid()))
        return resp

    def unauthorized(self, ctx, state):
        challenge = "Bearer authorization_uri=%s/%s/oauth2/authorize, resource_id=%s/" % (
            ctx.base, self.config["tenant"], ctx.base)
        headers = [("WWW-Authenticate", challenge)]
        if self.config["auth_error_body"] == "empty":
            return odata_response(401, None, headers)
        names = {"missing": ("MissingCrmAuthenticationToken", "The user is not authenticated."),
                 "expired": ("ExpiredAuthTicket", "The access token has expired."),
                 "invalid": ("InvalidAuthTicket", "The access token is not valid.")}
        name, text = names[state]
        return self.error_response(HTTPError(401, "%s: %s" % (name, text), code="0x80072560", headers=headers))

    def token(self, req, tenant):
        c = self.config
        trace = str(uuid.uuid4())
        corr = str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())

        def err(status, error, code, text):
            return json_response(status, {
                "error": error,
                "error_description": "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
                    code, text, trace, corr, stamp),
                "error_codes": [code], "timestamp": stamp, "trace_id": trace, "correlation_id": corr,
                "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
            }, [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")])

        if req.method != "POST":
            return err(405, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a %s request." % req.method)
        if tenant not in [c["tenant"]] + list(c["tenant_domains"]):
            return err(400, "invalid_tenant", 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID "
                                                    "and are signing into the correct cloud." % tenant)
        p = read_form(req)
        if p.get("grant_type") != "client_credentials":
            if not p.get("grant_type"):
                return err(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
            return err(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'." % p["grant_type"])
        cid = p.get("client_id")
        if not cid:
            return err(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
        if cid not in c["clients"]:
            return err(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory "
                                                         "'%s'." % (cid, tenant))
        if "client_assertion" not in p and p.get("client_secret") != c["clients"][cid]:
            return err(int(c["invalid_client_status"]), "invalid_client", 7000215,
                       "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                       "value, not the client secret ID, for a secret added to app '%s'." % cid)
        scope = p.get("scope", "")
        if not scope:
            return err(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
        resources = {u.rstrip("/") for u in [self.base_for(req), self.base_url] + list(c["org_urls"]) if u}
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default") or scopes[0][:-len("/.default")].rstrip("/") not in resources:
            return err(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope "
                                                    "%s is not valid." % scope)
        lifetime = int(c["token_lifetime"])
        token = self.tokens.issue(cid, lifetime, scopes[0][:-len("/.default")])
        return json_response(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                                   "access_token": token}, [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")])

    # --- the Web API proper (also called for each $batch part) ---------------------------------
    def api(self, req, ctx):
        if self.store.keys_building:  # the background job of an alternate key's index
            with self.lock:
                dv_customize.build_key_indexes(self.store)
        m = API.match(req.path)
        if m is None:
            raise dv_error(404, "Resource not found for the segment '%s'." % req.path, "0x8006088a")
        rest = (m.group(2) or "").rstrip("/")
        prefer = parse_prefer(req)
        if rest == "":
            req.kind = "service"
            return odata_response(200, {"@odata.context": ctx.api + "/$metadata", "value": [
                {"name": t.set, "kind": "EntitySet", "url": t.set} for t in self.store.tables.values()]})
        if rest == "$batch":
            if req.internal:
                raise dv_error(400, "Batches cannot be nested.", "0x80060888")
            if req.method != "POST":
                raise self.bad_method(req)
            return dv_batch.Batch(self, req, ctx, req.user).run()
        if rest == "WhoAmI" or rest == "WhoAmI()":
            req.kind = "whoami"
            return odata_response(200, {"@odata.context": ctx.context("Microsoft.Dynamics.CRM.WhoAmIResponse"),
                                        "BusinessUnitId": BU_ID, "UserId": SYSTEM_USER_ID, "OrganizationId": ORG_ID})
        if rest.startswith("RetrieveTotalRecordCount"):
            return dv_functions.handle(self, req, ctx, rest)
        if rest == "$metadata":
            raise dv_error(501, "The CSDL $metadata document is not implemented by the emulator; use EntityDefinitions.",
                           "0x80060888")
        if rest.startswith("EntityDefinitions"):
            if req.method != "GET":
                return self.metadata_write(req, ctx, rest.split("/"))
            with self.lock:
                return dv_metadata.handle(self, req, ctx, rest.split("/"))
        m = RESOURCE.match(rest)
        table = self.store.by_set.get(m.group("set")) if m else None
        if table is None:
            seg = m.group("set") if m else rest.split("/")[0]
            raise dv_error(404, "Resource not found for the segment '%s'." % seg, "0x8006088a")
        key, prop = m.group("key"), m.group("prop")
        if table.logical == "systemuser" and prop == "Microsoft.Dynamics.CRM.RetrieveUserPrivileges()":
            if req.method != "GET":
                raise self.bad_method(req)
            with self.lock:
                return dv_customize.retrieve_user_privileges(self, ctx)
        if table.spec.get("view"):  # activitypointer: read-only, rebuilt from the activity tables
            if req.method != "GET":
                raise dv_activities.refuse_write(req.method)
            with self.lock:
                dv_activities.refresh(self.store)
        if key is None:
            if prop == "$count" and req.method == "GET":
                return dv_query.count_endpoint(self, req, table)
            if prop is not None:
                raise dv_error(404, "Resource not found for the segment '%s'." % prop, "0x8006088a")
            if req.method == "GET":
                return dv_query.query_collection(self, req, ctx, table, prefer)
            if req.method == "POST":
                body = self.body(req)
                with self.lock:
                    return dv_write.create(self, req, ctx, table, prefer, body)
            raise self.bad_method(req)
        if prop is not None:
            if req.method == "GET":
                return dv_query.retrieve_property(self, req, ctx, table, key, prop)
            if req.method in ("PUT", "DELETE"):
                body = self.body(req) if req.method == "PUT" else None
                with self.lock:
                    return dv_write.put_property(self, req, ctx, table, key, prop, body, clear=req.method == "DELETE")
            raise self.bad_method(req)
        if req.method == "GET":
            return dv_query.retrieve(self, req, ctx, table, key, prefer)
        if req.method == "PATCH":
            body = self.body(req)
            with self.lock:
                return dv_write.upsert(self, req, ctx, table, key, prefer, body)
        if req.method == "DELETE":
            with self.lock:
                return dv_write.delete(self, req, ctx, table, key)
        raise self.bad_method(req)

    def metadata_write(self, req, ctx, segments):
        """POST EntityDefinitions; PUT EntityDefinitions(...); POST EntityDefinitions(...)/Attributes or /Keys."""
        m = re.match(r"^EntityDefinitions(?:\((.*)\))?$", segments[0])
        if not m or len(segments) > 2 or (m.group(1) is None and len(segments) > 1):
            raise self.bad_method(req)
        body = self.body(req)
        with self.lock:
            table = None
            if m.group(1) is not None:
                table = dv_metadata.find_entity(self.store, m.group(1))
                if table is None:
                    raise dv_error(404, "Could not find entity with key '%s'." % m.group(1), "0x80040217")
            return dv_customize.handle(self, req, ctx, table, segments[1] if len(segments) > 1 else None, body)

    @staticmethod
    def bad_method(req):
        return dv_error(405, "The requested resource does not support http method '%s'." % req.method, "0x80060888")

    @staticmethod
    def body(req):
        ctype = (req.header("Content-Type") or "application/json").lower()
        if "json" not in ctype:
            raise dv_error(415, "The content type '%s' is not supported; use application/json." % ctype, "0x80060888")
        try:
            return emulib.json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
        except (UnicodeDecodeError, ValueError) as e:
            raise dv_error(400, "Invalid JSON. %s" % e, "0x80060888")

    # --- seeding and the control API ------------------------------------------------------------
    def seed(self, count, table="contacts"):
        with self.lock:
            t = self.store.by_set.get(table) or self.store.tables.get(table)
            if t is None:
                raise HTTPError(404, "unknown table %s" % table)
            start = self.seeded.get(t.logical, 0)
            rng = seeddata.rng_for(self.random_seed, t.logical, start)
            ids = []
            parents = seeddata.lookup_parents(self.store, t)
            for i in range(start, start + count):
                p = seeddata.person(rng, i)
                values = self.seed_values(t, p, rng, parents)
                self.store.insert(t, p["id"], values, bulk=True)
                ids.append(p["id"])
            self.store.finish_bulk(t, ids)
            self.seeded[t.logical] = start + count
            return ids

    @staticmethod
    def seed_values(t, p, rng, parents):
        if t.logical == "contact":
            return {"firstname": p["first"], "lastname": p["last"], "emailaddress1": p["email"],
                    "telephone1": p["phone"], "mobilephone": p["mobile"], "birthdate": p["birthdate"],
                    "gendercode": p["gender"], "address1_city": p["city"], "jobtitle": p["job"],
                    "donotbulkemail": p["optout_email"], "donotemail": p["optout_all"]}
        values = {}
        for name, a in t.attrs.items():
            if a.get("readonly") or name == t.pid:
                continue
            col, _ = t.column(name)
            if a["type"] in ("String", "Memo"):
                values[col] = ("%s %d" % (name, p["index"]))[: a.get("max", 100)]
            elif a["type"] == "Picklist":
                values[col] = int(rng.choice(list(a["options"])))
            elif a["type"] == "Integer":
                values[col] = rng.randrange(1000)
            elif a["type"] == "Lookup" and parents.get(name):
                values[col] = rng.choice(parents[name])
                values[col + "@Microsoft.Dynamics.CRM.lookuplogicalname"] = a["targets"][0]
        return values

    def control(self, req, parts):
        b = req.query_body
        head = parts[0]
        if head == "seed" and req.method == "POST":
            ids = self.seed(int(b.get("count", 0)), b.get("table", "contacts"))
            return json_response(200, {"ids": ids[:1000], "count": len(ids)})
        if head == "tokens" and parts[1:] == ["expire"]:
            self.tokens.expire_all()
            return json_response(200, {"ok": True})
        if head == "delta" and parts[1:] == ["expire"]:
            with self.lock:
                self.store.ct_min_version = self.store.next_version()
            return json_response(200, {"ok": True})
        if head == "throttle" and parts[1:] == ["reset"]:
            self.throttle.reset()
            return json_response(200, {"ok": True})
        if head == "tables":
            return self.control_tables(req, parts[1:], b)
        raise HTTPError(404, "unknown control endpoint")

    def control_tables(self, req, parts, body):
        """CRUD as a CRM user would (no auth, no throttling, same validation)."""
        if not parts:
            return json_response(200, {t.set: len(t.rows) for t in self.store.tables.values()})
        t = self.store.by_set.get(parts[0]) or self.store.tables.get(parts[0])
        if t is None:
            raise HTTPError(404, "unknown table %s" % parts[0])
        ctx = Ctx(self.base_for(req), "v9.2")
        from dv_http import resolve_key
        try:
            with self.lock:
                if len(parts) == 1:
                    if req.method == "POST":
                        values = convert_body(self.store, t, body, True, resolve_key)
                        rid = values.pop(t.pid, None) or str(uuid.uuid4())
                        if rid in t.rows:
                            raise HTTPError(409, "duplicate id")
                        conflict = t.key_conflict(rid, values)
                        if conflict:
                            raise HTTPError(409, "duplicate key %s" % conflict[0])
                        row = self.store.insert(t, rid, values)
                        return json_response(201, render_row(self.store, t, row, None, None))
                    return json_response(200, {"count": len(t.rows)})
                rid = parts[1].lower()
                row = t.rows.get(rid)
                if row is None:
                    raise HTTPError(404, "no such row")
                if req.method == "GET":
                    return json_response(200, render_row(self.store, t, row, None, None))
                if req.method == "PATCH":
                    values = convert_body(self.store, t, body, False, resolve_key)
                    row = self.store.update(t, rid, values)
                    return json_response(200, render_row(self.store, t, row, None, None))
                if req.method == "DELETE":
                    self.store.delete(t, rid)
                    return json_response(200, {"ok": True})
        except HTTPError as e:
            if e.code is not None:  # a validation error of the service itself
                return json_response(e.status, {"error": {"code": e.code, "message": e.message}})
            raise
        raise HTTPError(405, "method not allowed")


Emulator = Dataverse

if __name__ == "__main__":
    sys.exit(emulib.main(Dataverse))
