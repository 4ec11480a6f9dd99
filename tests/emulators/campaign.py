#!/usr/bin/env python3
# campaign: the Adobe Campaign Standard emulator: the Adobe IMS token endpoint, the gateway checks
# (Authorization, X-Api-Key, tenant), the REST router under /{ORG}/campaign/ (profiles, Ext profile,
# custom resources, metadata, marketing history), the I/O Events journal endpoint, engine-call
# accounting, and the Campaign part of the /_emulator/ control API (events, opt-out export).
# Run: python3 campaign.py --port 0 --seed 1000   (prints its base URL, serves until killed)
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import acs_export  # noqa: E402
import acs_lists  # noqa: E402
import acs_meta  # noqa: E402
import acs_messages  # noqa: E402
import acs_services  # noqa: E402
import acs_workflows  # noqa: E402
import acs_values  # noqa: E402
import emulib  # noqa: E402
import seeddata  # noqa: E402
import seek  # noqa: E402
from acs_journal import Journal  # noqa: E402
from acs_schema import (BUILTIN_FILTERS, DEFAULT_CUSTOM_RESOURCES, DEFAULT_EXT_FIELDS,  # noqa: E402
                        DEFAULT_ORG_UNITS, DEFAULT_PROFILE_FILTERS, DEFAULT_SERVICES, DENY_LIST_FIELDS,
                        ORG_UNIT_FIELDS, PROFILE_FIELDS, SERVICE_FIELDS, SERVICE_FILTERS, SUBSCRIPTION_FIELDS)
from acs_store import Resource, Store, fmt_ts, parse_ts  # noqa: E402
from acs_values import engine_error, render  # noqa: E402
from emulib import HTTPError, Response, dumps, json_response  # noqa: E402
from tokens import TokenStore, read_form  # noqa: E402

JSON = "application/json;charset=utf-8"
OOPS = "Oops. Something went wrong. Check your URI and try again."
JOURNAL_PATH = re.compile(r"^(/events)?/organizations/([^/]+)/integrations/([^/]+)/([^/]+?)(/validate)?$")
APIS = ("profileAndServices", "profileAndServicesExt", "customResources")


class Campaign(emulib.Emulator):
    name = "campaign"
    DEFAULTS = {
        "org": "crmsync-tenant",  # the Campaign tenant id in /{ORG}/campaign
        "ims_org": "4CC7D9704674CFB2138A2C54@AdobeOrg",
        "clients": {"crmsync-acs-client": "crmsync-acs-secret"},  # client_id (= X-Api-Key) -> secret
        "token_lifetime": 86399,  # B1.1
        "profile_ext_fields": None,  # None -> acs_schema.DEFAULT_EXT_FIELDS
        "profile_filters": None,  # None -> acs_schema.DEFAULT_PROFILE_FILTERS
        "profile_org_unit": True,  # the Ext profile has the orgUnit link (the instance is partitioned)
        "org_units": None,  # None -> acs_schema.DEFAULT_ORG_UNITS ([{name, label}])
        "services": None,  # None -> acs_schema.DEFAULT_SERVICES ([{name, label, messageType, mode}])
        # workflow id -> its state and its External signal activities with the parameters each declares
        "workflows": {"WKF1": {"state": "started", "signals": {"signal1": [
            "audience", "email", "template", "test", "segmentCode", "attribute"]}}},
        "signal_interval_s": 600,  # an External signal is not triggered more often (Managing workflows)
        "transactional_events": ["EVTcartAbandonment"],  # the event ids the instance defines
        "ims_provisioned": True,  # false: the IMS profile has no Campaign product context (403023)
        "filter_listing": "keyed",  # filters by name (Adobe's Filtering page), or [I] "list": {"content": [...]}
        "profile_custom_key": "externalId",  # [I] GET /profileAndServicesExt/profile/<key>
        "custom_resources": None,  # None -> acs_schema.DEFAULT_CUSTOM_RESOURCES
        "default_line_count": 25,  # B4.1
        "max_line_count": 1000,  # [I] undocumented maximum
        "big_table_threshold": 100000,  # B4.1 XtkBigTableThreshold
        "pkey_reencode": True,  # B3: the PKey of a row differs between responses
        "string_length_policy": "error",  # [I] or "truncate"
        "accept_denylist_aliases": True,  # [I] accept denyList* names on input
        "campaign_v8": False,  # B intro: v8 answers 204 to an empty PATCH, 500 to a location PATCH
        "missing_pkey_status": 404,  # [I] a well-formed PKey of a deleted record
        "engine_call_weights": {"create": 1, "delete": 1, "update": 2, "update_unchanged": 1, "read": 0},  # B11 [I reads]
        "journal": {"consumer_org": "23294", "integration": "54108",
                    "registration": "f89067f2-0d50-4bb2-bf78-209d0eacb6eb", "default_limit": 100,
                    "retention_seconds": 7 * 86400, "retry_after": 10, "max_bytes": 1572864},
        "optout_export_dir": None,  # None -> a temp dir created on first export
        "optout_export_delimiter": ",",
        "fault_retry_after": 1,
        "request_log_size": 20000,
        "latency_ms": 0,  # added to every answer of the service endpoints (not the control API); --latency
    }

    def reset_state(self):
        c = self.config
        res = [Resource(0, "profile", PROFILE_FIELDS, key=c.get("profile_custom_key"),
                        filters=c.get("profile_filters") or DEFAULT_PROFILE_FILTERS,
                        label="Profiles", ext_fields=c.get("profile_ext_fields") or DEFAULT_EXT_FIELDS,
                        ext_links={"orgUnit": "orgUnitBase"} if c.get("profile_org_unit") else None)]
        self.custom_api = {}
        for n, (name, spec) in enumerate(sorted((c.get("custom_resources") or DEFAULT_CUSTOM_RESOURCES).items()), 1):
            res.append(Resource(n, name, spec["fields"], links=spec.get("links"), key=spec.get("key"),
                                filters=spec.get("filters"), label=spec.get("label")))
            self.custom_api[name] = spec.get("api", "profileAndServicesExt")
        units = Resource(len(res), "orgUnitBase", ORG_UNIT_FIELDS, label="Organizational units", indexed=["name"])
        services = Resource(len(res) + 1, "service", SERVICE_FIELDS, filters=SERVICE_FILTERS, label="Services",
                            indexed=["name"])
        res += [units, services, Resource(len(res) + 2, "subscription", SUBSCRIPTION_FIELDS, label="Subscriptions",
                                          links={"service": "service", "subscriber": "profile"})]
        secret = hashlib.sha256(b"pkey:%d" % self.random_seed).digest()
        self.store = Store(res, secret, c.get("pkey_reencode", True))
        for unit in c.get("org_units") or DEFAULT_ORG_UNITS:
            self.store.insert(units, dict({"desc": ""}, **unit))
        for svc in c.get("services") or DEFAULT_SERVICES:
            self.store.insert(services, self.with_defaults(services, svc))
        self.tokens = TokenStore()
        self.workflows = acs_workflows.Workflows(c)
        self.messages = acs_messages.Messages(c)
        self.journal = Journal(self.random_seed)
        self.order_cache = seek.OrderCache()
        self.seeded = {}

    def config_changed(self):
        self.store.pkeys.reencode = self.config.get("pkey_reencode", True)

    def api_of(self, res, ext):
        if res.name in ("profile", "service", "subscription"):
            return "profileAndServicesExt" if ext else "profileAndServices"
        return self.custom_api.get(res.name, "profileAndServicesExt")

    def filters_of(self, res):
        return res.filters

    # --- errors ---------------------------------------------------------------------------------
    def error_response(self, err):  # Adobe's Troubleshooting page: {"code": 500, "message": "Oops..."}
        body = err.body if err.body is not None else {"code": err.status, "message": err.message}
        return Response(err.status, dumps(body), err.headers, JSON)

    def fault_response(self, fault, req):
        if fault.kind == "throttle":
            e = HTTPError(429, "", body={"error_code": fault.code or "429050",
                                         "message": fault.message or "Too many requests"})  # [I] gateway throttling
            e.headers = [("Retry-After", str(fault.retry_after if fault.retry_after is not None
                                             else self.config["fault_retry_after"]))]
            return self.error_response(e)
        e = HTTPError(fault.status, fault.message or OOPS)
        if fault.retry_after is not None:
            e.headers = [("Retry-After", str(fault.retry_after))]
        return self.error_response(e)

    def base_host(self, req):
        host = req.header("Host")
        return "http://%s" % host if host else self.base_url

    # --- routing ----------------------------------------------------------------------------------
    def route(self, req):
        if req.path == "/ims/token/v3":
            req.kind = "token"
            return self.apply_faults(req) or self.ims_token(req)
        if req.path == "/ims/profile/v1":
            req.kind = "ims_profile"
            return self.apply_faults(req) or self.ims_profile(req)
        m = JOURNAL_PATH.match(req.path)
        if m:
            self.gateway(req)
            req.kind = "journal"
            return self.apply_faults(req) or self.journal_read(req, m)
        parts = req.path.split("/")
        if len(parts) >= 3 and parts[2] == "campaign":
            self.gateway(req)
            if parts[1] not in (self.config["org"], self.config["org"] + "-mkt-stage"):
                raise HTTPError(500, OOPS)
            f = self.apply_faults(req)
            if f:
                return f
            host = self.base_host(req)
            base = "%s/%s/campaign" % (host, parts[1])
            return self.campaign(req, host, base, [p for p in parts[3:] if p != ""])
        raise HTTPError(404, OOPS)

    def gateway(self, req):  # Adobe's Troubleshooting page: 401013 for a bad or expired token
        state, client = self.tokens.check(req.header("Authorization"))
        if state != "ok":
            req.kind = "unauthorized"
            raise HTTPError(401, "", body={"error_code": "401013", "message": "Oauth token is not valid"})
        key = req.header("X-Api-Key")
        if not key or key != client:
            req.kind = "forbidden"
            raise HTTPError(403, "", body={"error_code": "403003", "message": "Api Key is invalid"})  # [I] text
        if not self.config.get("ims_provisioned", True):
            req.kind = "forbidden"
            raise HTTPError(403, "", body={"error_code": "403023", "message": "Profile is not valid"})
        req.user = client

    def ims_profile(self, req):  # Adobe's Troubleshooting page: the IMS profile names the Campaign tenant
        state, client = self.tokens.check(req.header("Authorization"))
        if state != "ok":
            raise HTTPError(401, "", body={"error": "invalid_token", "error_description": "invalid token"})  # [I]
        contexts = [{"prodCtx": {"statusCode": "ACTIVE", "ident": "EMULATOR%s" % client.upper()[:16],
                                 "modDts": 1448307260000, "organization_id": self.config["org"],
                                 "owningEntity": self.config["ims_org"], "serviceCode": "dma_tartan",
                                 "label": "Adobe Marketing Cloud", "serviceLevel": "standard",
                                 "createDts": 1421181343000, "deal_id": " "}}]
        return json_response(200, {"countryCode": "FR", "mrktPermEmail": None,
                                   "projectedProductContext": contexts if self.config.get("ims_provisioned", True) else []})

    def ims_token(self, req):  # Adobe's Setting up API access page (IMS OAuth Server-to-Server)
        if req.method != "POST":
            raise HTTPError(405, "", body={"error": "method_not_allowed", "error_description": "use POST"})
        p = read_form(req)
        c = self.config
        if p.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type",
                                       "error_description": "unsupported grant_type parameter"})  # [I]
        cid = p.get("client_id")
        if not cid or cid not in c["clients"]:
            return json_response(400, {"error": "invalid_client", "error_description": "invalid client_id parameter"})  # [I]
        if p.get("client_secret") != c["clients"][cid]:
            return json_response(401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"})  # [I]
        if not p.get("scope"):
            return json_response(400, {"error": "invalid_scope", "error_description": "scope parameter is required"})  # [I]
        life = int(c["token_lifetime"])
        return json_response(200, {"access_token": self.tokens.issue(cid, life, "ims"), "token_type": "bearer",
                                   "expires_in": life})

    def campaign(self, req, host, base, segs):  # Adobe's Endpoints page: the APIs under /campaign
        if segs and segs[0] == "workflow":
            with self.lock:
                return self.json(200, self.workflows.call(self, req, base, segs[1:]))
        if segs and segs[0] == "mc" + self.config["org"]:  # the transactional API: "mc" + the organization
            with self.lock:
                return self.json(200, self.messages.call(self, req, host, segs[0], segs[1:]))
        if segs and segs[0] == "privacy":
            raise HTTPError(501, "The emulator does not serve the privacy API (Adobe's Creating a privacy request page)")
        if not segs or segs[0] not in APIS:
            raise HTTPError(404, OOPS)
        api, rest = segs[0], segs[1:]
        ext = api != "profileAndServices"
        if api != "profileAndServices" and not rest:
            req.kind = "metadata"
            return self.json(200, acs_meta.api_listing(self, base, api))
        if rest and rest[0] == "resourceType":
            req.kind = "metadata"
            res = self.resource_type(api, rest[1] if len(rest) > 1 else "")
            if len(rest) > 2 and rest[2] == "filters":
                return self.json(200, acs_meta.filters_listing(self, api, res))
            return self.json(200, acs_meta.metadata(self, base, api, res, ext))
        if rest and rest[0] == "history" and api == "profileAndServices":
            return self.history(req, base, rest[1:])
        if not rest:
            raise HTTPError(404, OOPS)
        name = rest[0][:-5] if rest[0].endswith(".json") else rest[0]
        res = self.resource(api, name)
        return self.resource_call(req, host, base, res, ext, rest[1:])

    def resource(self, api, name):
        res = self.store.resources.get(name)
        ok = res is not None and ((name in ("profile", "service", "orgUnitBase") and api == "profileAndServicesExt") or
                                  (name in ("profile", "service") and api == "profileAndServices") or
                                  self.custom_api.get(name) == api)
        if not ok:
            raise HTTPError(404, "The resource '%s' does not exist" % name)  # [I]
        return res

    def resource_type(self, api, name):  # Adobe's Filtering page: the filters href names the type by PKey
        """A resource named in resourceType/<name>, or by its type PKey (the filters href carries it)."""
        if name.startswith("@"):
            res, rid = self.store.resolve(name)
            if res is None or rid != 0:
                raise HTTPError(404, "The resource '%s' does not exist" % name)  # [I]
            name = res.name
        return self.resource(api, name)

    def resource_call(self, req, host, base, res, ext, rest):  # Adobe's Verbs, Filtering and Counting pages
        m = req.method
        all_fields = res.all_fields(ext)
        filters = [s for s in rest if s in BUILTIN_FILTERS.get(res.name, ()) or s in res.filters]
        if rest and rest[0].startswith("@"):
            if len(rest) > 1 and rest[1] == "subscriptions" and res.name in acs_services.PARENT_LINK:
                with self.lock:
                    return acs_services.subscriptions(self, req, base, res, self.find_pkey(res, rest[0]), rest[2:])
            if len(rest) > 1:
                raise HTTPError(404, "The link '%s' is not implemented by the emulator" % rest[1])
            with self.lock:
                rid = self.find_pkey(res, rest[0])
                return self.item_call(req, base, res, ext, rid)
        if rest and rest[-1] == "_count" and len(filters) == len(rest) - 1:
            req.kind = "%s.count" % res.name
            with self.lock:
                return self.json(200, {"count": acs_lists.count(self, res, filters, req.query)})
        if len(filters) == len(rest):
            if m == "GET":
                req.kind = "%s.list" % res.name
                self.engine("read")
                with self.lock:
                    return self.json(200, acs_lists.list_records(self, req, base, host, res, ext, filters, None))
            if m == "POST" and not rest:
                return self.create(req, base, res, ext)
            raise HTTPError(405, "The method '%s' is not allowed on this resource" % m)
        if len(rest) == 1 and rest[0] in all_fields and m == "GET":
            req.kind = "%s.list" % res.name
            self.engine("read")
            with self.lock:
                return self.json(200, acs_lists.list_records(self, req, base, host, res, ext, [], rest[0]))
        if len(rest) == 1 and res.key and (ext or res.name != "profile"):
            with self.lock:
                ids = res.find(res.key, rest[0])
                if not ids:
                    raise HTTPError(404, "No '%s' record matches the key '%s'" % (res.name, rest[0]))  # [I]
                return self.item_call(req, base, res, ext, min(ids))
        raise HTTPError(404, "The filter '%s' does not exist for the '%s' resource" % (rest[0], res.name))  # [I]

    def find_pkey(self, res, pkey):  # aio-lib's e2e test: "'<PKey>' is not a valid constant"
        r, rid = self.store.resolve(pkey)
        if r is None or r is not res:
            raise engine_error("'%s' is not a valid constant" % pkey)
        if rid not in res.records:
            raise engine_error("'%s' is not a valid constant" % pkey, int(self.config["missing_pkey_status"]))
        return rid

    def item_call(self, req, base, res, ext, rid):  # Adobe's Verbs and Updating profiles pages
        m = req.method
        rec = res.records[rid]
        if m == "GET":
            req.kind = "%s.get" % res.name
            self.engine("read")
            return self.json(200, render(self, base, res, rid, rec, ext))
        if m == "PATCH":
            req.kind = "%s.update" % res.name
            body = self.body(req)
            if body == {} and self.config.get("campaign_v8"):
                return Response(204)
            values = acs_values.convert(res, body, ext, False, self.store, self.config)
            changed = self.store.update(res, rid, values)
            self.engine("update" if changed else "update_unchanged")
            pk = self.store.pkey(res, rid)
            return self.json(200, {"PKey": pk, "href": acs_values.href(base, self.api_of(res, ext), res.name, pk)})
        if m == "DELETE":
            req.kind = "%s.delete" % res.name
            self.store.delete(res, rid)
            self.engine("delete")
            return Response(200, b"", [], JSON)
        raise HTTPError(405, "The method '%s' is not allowed on this resource" % m)

    def create(self, req, base, res, ext):  # Adobe's Creating profiles page: 201 with the whole record
        req.kind = "%s.create" % res.name
        body = self.body(req)
        with self.lock:
            values = acs_values.convert(res, body, ext, True, self.store, self.config)
            self.check_unique(res, values)
            rid, rec = self.store.insert(res, self.with_defaults(res, values))
            self.engine("create")
            return self.json(201, render(self, base, res, rid, rec, ext))

    def check_unique(self, res, values):
        if res.key and values.get(res.key):
            if res.find(res.key, values[res.key]):
                raise engine_error("Duplicate key: a '%s' record with %s '%s' already exists" % (res.name, res.key, values[res.key]))

    @staticmethod
    def with_defaults(res, values):
        out = res.defaults()
        out.update(values)
        return out

    def body(self, req):
        try:
            return json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
        except (UnicodeDecodeError, ValueError):
            raise HTTPError(400, "The request body is not valid JSON")  # [I]

    def engine(self, op):
        w = self.config["engine_call_weights"].get(op, 0)
        self.count("engine:%s" % op)
        if w:
            self.count("engine_calls", w)

    def json(self, status, obj):
        return Response(status, dumps(obj), [], JSON)

    # --- marketing history ---------------------------------------------------------------------
    def history(self, req, base, rest):  # Adobe's Interacting with marketing history page
        req.kind = "profile.history"
        if not rest:
            raise HTTPError(404, OOPS)
        res = self.store.resources["profile"]
        with self.lock:
            rid = self.find_pkey(res, rest[0])
            rec = res.records[rid]
            events = self.journal.by_profile.get(rid, [])
            pk = self.store.pkey(res, rid)
            href = "%s/profileAndServices/history/%s" % (base, pk)
            if len(rest) == 1:
                body = {"PKey": pk, "firstName": rec.get("firstName", ""), "lastName": rec.get("lastName", ""),
                        "birthDate": rec.get("birthDate", ""), "email": rec.get("email", ""),
                        "blackList": rec.get("blackList", False), "blackListEmail": rec.get("blackListEmail", False),
                        "countBroadLogEvents": sum(1 for e in events if e["event"]["xdm:eventType"].endswith(("Sent", "Bounced"))),
                        "countSubHistoEvents": 0, "created": fmt_ts(rec["_created"]),
                        "events": {"href": href + "/events/", "metadata": "subHisto"}}
                return self.json(200, body)
            if len(rest) > 2:  # an event, its mirror page: hrefs the page shows, answers it does not
                raise HTTPError(501, "Adobe's Interacting with marketing history page documents no answer for "
                                     "an event or its mirror page; the emulator serves none")
            content = []
            for e in events:
                ev = e["event"]
                epk = self.store.pkey(res, rid)
                kind = ev["xdm:eventType"].split(".")[-1]
                content.append({"PKey": epk, "category": "email", "date": fmt_ts(parse_ts(ev["xdm:timestamp"])),
                                "href": "%s/events/%s" % (href, epk), "label": {"emailSent": "Send via email"}.get(kind, kind),
                                "mirrorPage": {"href": "%s/events/%s/mirrorPage/" % (href, epk)},
                                "type": "outbound" if kind in ("emailSent", "emailBounced") else "tracking"})
            return self.json(200, {"content": content})

    # --- I/O Events journal -------------------------------------------------------------------------
    def journal_read(self, req, m):  # Adobe I/O Events' journaling page (not a Campaign Standard page)
        jc = self.config["journal"]
        if (m.group(2), m.group(3), m.group(4)) != (jc["consumer_org"], jc["integration"], jc["registration"]):
            raise HTTPError(404, "", body={"error": "registration not found"})  # [I]
        if req.header("x-ims-org-id") not in (None, self.config["ims_org"]):
            raise HTTPError(403, "", body={"error_code": "403003", "message": "Api Key is invalid"})  # [I]
        path = req.path[:-len("/validate")] if m.group(5) else req.path
        q = req.query
        if m.group(5):
            ok = q.get("since") in self.journal.index
            return Response(204 if ok else 404, b"" if ok else dumps({"error": "invalid position"}), [], JSON)
        if "since" in q and "seek" in q:
            raise HTTPError(400, "", body={"error": "The since and seek parameters cannot be combined"})  # [I]
        try:
            limit = int(q.get("limit", jc["default_limit"]))
        except ValueError:
            raise HTTPError(400, "", body={"error": "limit must be an integer"})
        if limit < 1:
            raise HTTPError(400, "", body={"error": "limit must be positive"})
        with self.lock:
            try:
                events = self.journal.read(q.get("since"), q.get("latest") == "true", q.get("seek"), limit,
                                           float(jc["retention_seconds"]), int(jc["max_bytes"]))
            except ValueError as e:
                raise HTTPError(400, "", body={"error": str(e)})
            last_pos = self.journal.entries[-1]["position"] if self.journal.entries else None
        keep = {"limit": q["limit"]} if "limit" in q else {}
        if not events:
            since = q.get("since") or (last_pos if q.get("latest") == "true" else None)
            params = dict(keep)
            if since:
                params["since"] = since
            link = "%s%s" % (path, "?" + urllib.parse.urlencode(params, safe=":") if params else "")
            validate = "%s/validate%s" % (path, "?" + urllib.parse.urlencode({"since": since}, safe=":") if since else "")
            return Response(204, b"", [("Link", '<%s>; rel="next"' % link), ("Link", '<%s>; rel="validate"' % validate),
                                       ("retry-after", str(jc["retry_after"]))])
        last = events[-1]["position"]
        params = dict(keep, since=last)
        body = {"events": [{"position": e["position"], "event": e["event"]} for e in events],
                "_page": {"last": last, "count": len(events)}}
        return Response(200, dumps(body), [("Link", '<%s?%s>; rel="next"' % (path, urllib.parse.urlencode(params, safe=":")))],
                        JSON)

    # --- seeding and control ------------------------------------------------------------------------
    def seed(self, count, resource="profile", with_external_id=True):
        with self.lock:
            res = self.store.resources[resource]
            start = self.seeded.get(resource, 0)
            rng = seeddata.rng_for(self.random_seed, resource, start)
            ids = []
            for i in range(start, start + count):
                p = seeddata.person(rng, i)
                if resource == "profile":
                    values = {"firstName": p["first"][:30], "lastName": p["last"], "email": p["email"],
                              "phone": p["phone"], "mobilePhone": p["mobile"], "birthDate": p["birthdate"],
                              "gender": "male" if p["gender"] == 1 else "female",
                              "blackListEmail": p["optout_email"], "blackList": p["optout_all"],
                              "externalId": p["id"] if with_external_id else ""}
                    values["location"] = {"address1": "", "address2": "", "address3": "", "address4": "",
                                          "city": p["city"], "countryCode": "", "stateCode": "", "zipCode": ""}
                else:
                    values = {}
                    for name, spec in res.fields.items():
                        if spec["type"] == "string":
                            values[name] = ("%s%d" % (name[:3].upper(), i))[: spec.get("length", 100)]
                        elif spec["type"] == "enumeration":
                            values[name] = rng.choice(spec["values"])
                        elif spec["type"] == "long":
                            values[name] = rng.randrange(1000)
                rid, _ = self.store.insert(res, self.with_defaults(res, values), bulk=True)
                ids.append(rid)
            self.seeded[resource] = start + count
            return ids

    def control(self, req, parts):
        b = req.query_body
        head = parts[0]
        if head == "seed" and req.method == "POST":
            ids = self.seed(int(b.get("count", 0)), b.get("resource", "profile"), b.get("with_external_id", True))
            return json_response(200, {"count": len(ids)})
        if head == "tokens" and parts[1:] == ["expire"]:
            self.tokens.expire_all()
            return json_response(200, {"ok": True})
        if head == "events" and req.method == "POST":
            return self.control_events(b)
        if head == "journal":
            with self.lock:
                j = self.journal
                return json_response(200, {"count": len(j.entries),
                                           "last": j.entries[-1]["position"] if j.entries else None,
                                           "path": "/events/organizations/%s/integrations/%s/%s" % (
                                               self.config["journal"]["consumer_org"], self.config["journal"]["integration"],
                                               self.config["journal"]["registration"])})
        if head == "optout-export" and req.method == "POST":
            d = b.get("dir") or self.config.get("optout_export_dir")
            if not d:
                d = self.config["optout_export_dir"] = tempfile.mkdtemp(prefix="acs-optout-")
            since = parse_ts(b["since"]) if b.get("since") else None
            with self.lock:
                return json_response(200, acs_export.export(self.store, d, since, self.config["optout_export_delimiter"]))
        if head == "resources":
            return self.control_resources(req, parts[1:], b)
        if head == "workflows":
            with self.lock:
                return json_response(200, {"state": self.workflows.state, "triggers": self.workflows.triggers})
        if head == "transactional":
            with self.lock:
                return json_response(200, {"events": list(self.messages.events.values())})
        raise HTTPError(404, "unknown control endpoint")

    def control_events(self, b):
        with self.lock:
            res = self.store.resources["profile"]
            if b.get("profiles"):
                ids = []
                for ref in b["profiles"]:
                    ids.extend(self.control_find(res, ref))
            else:
                ids = [i for i in res.order.keys[:1000] if res.records[i].get("externalId")] or res.order.keys[:1000]
            if not ids:
                raise HTTPError(400, "no profiles to generate events for")
            profiles = [(i, self.store.pkey(res, i), res.records[i]) for i in ids]
            types = b.get("types") or ["send", "open", "click", "bounce"]
            made = self.journal.generate(profiles, int(b.get("count", len(types))), types, int(b.get("duplicates", 0)),
                                         bool(b.get("out_of_order")), float(b.get("age_seconds", 0)),
                                         b.get("campaign", "Spring Campaign"), b.get("delivery", "Spring Newsletter"),
                                         self.base_url + "/mirror", bool(b.get("without_id")))
            return json_response(200, {"count": len(made), "positions": [e["position"] for e in made],
                                       "events": [e["event"] for e in made]})

    def control_find(self, res, ref):
        ref = str(ref)
        if ref.startswith("@"):
            r, rid = self.store.resolve(ref)
            return [rid] if r is res and rid in res.records else []
        if ref.isdigit() and int(ref) in res.records:
            return [int(ref)]
        field, _, value = ref.partition(":")
        if value and field in res.indexed:
            return sorted(res.find(field, value))
        return sorted(res.find("externalId", ref))

    def control_resources(self, req, parts, body):
        """CRUD as a Campaign user would (no gateway, same validation; deny-list change times shown)."""
        if not parts:
            return json_response(200, {n: len(r.records) for n, r in self.store.resources.items()})
        res = self.store.resources.get(parts[0])
        if res is None:
            raise HTTPError(404, "unknown resource")
        base = "%s/%s/campaign" % (self.base_host(req), self.config["org"])
        try:
            with self.lock:
                if len(parts) == 1:
                    if req.method == "POST":
                        values = acs_values.convert(res, body, True, True, self.store, self.config)
                        self.check_unique(res, values)
                        rid, rec = self.store.insert(res, self.with_defaults(res, values))
                        return json_response(201, self.control_view(base, res, rid))
                    return json_response(200, {"count": len(res.records)})
                ids = self.control_find(res, "/".join(parts[1:]))
                if not ids:
                    raise HTTPError(404, "no such record")
                rid = ids[0]
                if req.method == "GET":
                    return json_response(200, self.control_view(base, res, rid))
                if req.method == "PATCH":
                    values = acs_values.convert(res, body, True, False, self.store, self.config)
                    self.store.update(res, rid, values)
                    return json_response(200, self.control_view(base, res, rid))
                if req.method == "DELETE":
                    self.store.delete(res, rid)
                    return json_response(200, {"ok": True})
        except HTTPError as e:
            if e.body is None and e.status != 404:
                return json_response(e.status, {"code": e.status, "message": e.message})
            raise
        raise HTTPError(405, "method not allowed")

    def control_view(self, base, res, rid):
        rec = res.records[rid]
        out = render(self, base, res, rid, rec, True)
        out["_id"] = rid
        out["_attrModified"] = {f: fmt_ts(t) for f, t in rec["_attr_mod"].items()}
        return out


Emulator = Campaign

if __name__ == "__main__":
    sys.exit(emulib.main(Campaign))
