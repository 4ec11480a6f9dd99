# emulib: what both emulators share on top of their HTTP server (httploop.py): request/response
# objects, the answering of a request (faults, crash-proofing, the added latency the server waits
# before sending it) and its recording once answered (request log, call counts, the time requests
# spend being served), the common part of the /_emulator/ control API, the in-process fixture and the
# command-line entry.
import argparse
import collections
import json
import signal
import threading
import time
import traceback
import urllib.parse

import faults as faults_mod
from httploop import REASONS, CIDict, Headers, Server  # noqa: F401 (CIDict, Headers: for the emulators)


class HTTPError(Exception):
    """Raised by handlers; turned into the service's own error body by Emulator.error_response."""

    def __init__(self, status, message, code=None, headers=None, body=None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or []
        self.body = body  # ready-made JSON-able body overriding the service format


class Drop(Exception):
    """Close the connection without answering."""


class Request:
    __slots__ = ("method", "target", "path", "raw_query", "query", "headers", "body", "kind",
                 "user", "fault", "malformed", "cut", "strip", "start", "internal", "query_body", "ctx")

    def __init__(self, method, target, headers, body, internal=False):
        self.method = method.upper()
        self.target = target
        path, _, raw_query = target.partition("?")
        self.path = urllib.parse.unquote(path)
        self.raw_query = raw_query
        self.query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
        self.headers = headers  # case-insensitive mapping (Headers, CIDict or email.message.Message)
        self.body = body or b""
        self.kind = None
        self.user = None
        self.fault = None
        self.malformed = False
        self.cut = False  # the answer is sent in part, then the connection closes (fault "cut")
        self.strip = None
        self.start = time.monotonic()
        self.internal = internal
        self.query_body = None
        self.ctx = None

    def header(self, name, default=None):
        v = self.headers.get(name)
        return default if v is None else v

    def json(self, error):
        """Parse the body as a JSON object; `error(msg)` builds the service's exception."""
        try:
            data = json.loads(self.body.decode("utf-8")) if self.body.strip() else None
        except (UnicodeDecodeError, ValueError) as e:
            raise error("Invalid JSON body: %s" % e)
        return data


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status=200, body=b"", headers=None, content_type=None):
        self.status = status
        self.headers = list(headers or [])
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        if content_type and body:
            self.headers.append(("Content-Type", content_type))

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


def dumps(obj):
    """Compact JSON in UTF-8, non-ASCII characters as they are. Written as ASCII first (PyPy's encoder for
    non-ASCII output is a pure-Python one, twice as slow): without a \\u escape in it that text is the
    same, else it is written again."""
    text = json.dumps(obj, separators=(",", ":"))
    if "\\u" in text:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def json_response(status, obj, headers=None, content_type="application/json"):
    return Response(status, dumps(obj), headers, content_type)


class Emulator:
    """Base of both emulators: a service + its control API, runnable standalone or in-process."""

    name = "emulator"
    DEFAULTS = {}

    def __init__(self, config=None, random_seed=42):
        self.config = json.loads(json.dumps(self.DEFAULTS))
        if config:
            deep_update(self.config, config)
        self.initial_config = json.dumps(self.config)
        self.random_seed = random_seed
        self.lock = threading.RLock()  # guards all service state
        self.stats_lock = threading.Lock()
        self.faults = faults_mod.Faults()
        self.httpd = None
        self.thread = None
        self.base_url = ""
        self.log = collections.deque(maxlen=int(self.config.get("request_log_size", 20000)))
        self.counts = collections.Counter()
        self.seq = 0
        self.busy = 0.0  # seconds service requests spent being served, latency included (never reset)
        self.started = time.monotonic()
        self.reset_state()

    # --- to be provided by subclasses -------------------------------------------------------
    def reset_state(self):
        pass

    def route(self, req):
        raise HTTPError(404, "Not found")

    def control(self, req, parts):
        raise HTTPError(404, "Unknown control endpoint")

    def error_response(self, err):
        body = err.body if err.body is not None else {"code": err.status, "message": err.message}
        return json_response(err.status, body, err.headers)

    def fault_response(self, fault, req):
        """The service's answer for an injected throttle/error fault."""
        return self.error_response(HTTPError(fault.status, fault.message or REASONS.get(fault.status, "Error")))

    def seed(self, count, **kw):
        pass

    # --- what the server calls (httploop.Server) ------------------------------------------------
    @staticmethod
    def request(method, target, headers, body):
        return Request(method, target, headers, body)

    def refusal(self, status, message):
        """The answer to a request that cannot be read (malformed, too long...), in the service's format."""
        try:
            return self.error_response(HTTPError(status, message or REASONS.get(status, "Error")))
        except Exception:
            return Response(status, b"")

    def may_block(self):
        """Whether answering may sleep (a slow fault): the request then gets a thread of its own."""
        return self.faults.may_block()

    def answer(self, req):
        """-> (response, or None to drop the connection; seconds the server waits before sending it)."""
        if is_control(req):
            return self.control_answer(req), 0
        try:
            resp = self.route(req)
        except Drop:
            resp = None
        except HTTPError as e:
            resp = self.error_response(e)
        except Exception:
            traceback.print_exc()
            resp = self.error_response(HTTPError(500, "An unexpected error occurred."))
        if resp is not None and req.malformed and resp.body:
            resp.body = faults_mod.corrupt(resp.body)
        if resp is not None and req.strip and resp.status == 200 and resp.body:
            resp.body = faults_mod.strip(resp.body, *req.strip)
        # the distance to the real service, paid by every answer (the server waits, no lock is held)
        return resp, max(0, self.config.get("latency_ms") or 0) / 1000.0

    def answered(self, req, resp):
        """The answer's wait is over: a service request goes to the log and the counts."""
        if not is_control(req):
            self.record(req, resp)

    def control_answer(self, req):
        try:
            return self._control(req)
        except HTTPError as e:
            return json_response(e.status, {"error": e.message})
        except Exception as e:  # control API bugs must not kill the connection either
            traceback.print_exc()
            return json_response(500, {"error": "%s: %s" % (type(e).__name__, e)})

    def apply_faults(self, req):
        """Called by a service at the point where faults bite (after auth). May sleep, raise Drop,
        return a Response (throttle/error), or mark the response to be corrupted."""
        f = self.faults.match(req)
        if f is None:
            return None
        req.fault = f.kind
        if f.kind == "slow":
            time.sleep(f.delay)
            return None
        if f.kind == "drop":
            raise Drop()
        if f.kind in ("malformed", "cut"):
            setattr(req, f.kind, True)
            return None
        if f.kind == "strip":
            req.strip = (f.member, f.every, f.top)
            return None
        return self.fault_response(f, req)

    def record(self, req, resp):
        elapsed = time.monotonic() - req.start
        with self.stats_lock:
            self.seq += 1
            self.busy += elapsed
            status = resp.status if resp is not None else 0
            self.log.append({
                "seq": self.seq, "time": time.time(), "method": req.method, "path": req.path,
                "query": req.raw_query, "status": status, "kind": req.kind, "user": req.user,
                "fault": req.fault, "ms": round(elapsed * 1000, 3),
            })
            self.counts["requests"] += 1
            if req.kind:
                self.counts[req.kind] += 1
            self.counts["status_%d" % status] += 1

    def count(self, kind, n=1):
        with self.stats_lock:
            self.counts[kind] += n

    # --- control API (common part) ----------------------------------------------------------
    def _control(self, req):
        parts = [p for p in req.path.split("/")[2:] if p]
        body = {}
        if req.body.strip():
            try:
                body = json.loads(req.body)
            except ValueError as e:
                raise HTTPError(400, "control body is not JSON: %s" % e)
        req.query_body = body if isinstance(body, dict) else {"items": body}
        head = parts[0] if parts else ""
        m = req.method
        if head == "health":
            return json_response(200, {"ok": True, "service": self.name, "base_url": self.base_url})
        if head == "reset" and m == "POST":
            b = req.query_body
            with self.lock:
                self.config = json.loads(self.initial_config)  # reset also undoes config PATCHes
                if "config" in b:
                    deep_update(self.config, b["config"])
                self.reset_state()
                self.faults.clear()
                with self.stats_lock:
                    self.log.clear()
                    self.counts.clear()
                if b.get("seed"):
                    self.seed(int(b["seed"]))
            return json_response(200, {"ok": True})
        if head == "config":
            if m == "PATCH":
                with self.lock:
                    deep_update(self.config, req.query_body)
                    self.config_changed()
            return json_response(200, self.config)
        if head == "requests":
            if m == "DELETE":
                with self.stats_lock:
                    self.log.clear()
                return json_response(200, {"ok": True})
            since = int(req.query.get("since", "0"))
            with self.stats_lock:
                items = [e for e in self.log if e["seq"] > since]
            return json_response(200, {"requests": items, "last": self.seq})
        if head == "load":
            with self.stats_lock:
                return json_response(200, {"served": self.seq, "busy_s": self.busy,
                                           "uptime_s": time.monotonic() - self.started})
        if head == "counts":
            if m == "DELETE":
                with self.stats_lock:
                    self.counts.clear()
                return json_response(200, {"ok": True})
            with self.stats_lock:
                return json_response(200, dict(self.counts))
        if head == "faults":
            if m == "POST":
                items = req.query_body.get("items", [req.query_body])
                try:
                    ids = [self.faults.add(**f) for f in items]
                except (TypeError, ValueError) as e:
                    raise HTTPError(400, "bad fault: %s" % e)
                return json_response(201, {"ids": ids})
            if m == "DELETE":
                self.faults.clear()
                return json_response(200, {"ok": True})
            return json_response(200, {"faults": self.faults.describe()})
        return self.control(req, parts)

    def config_changed(self):
        pass

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, host="127.0.0.1", port=0, verbose=False):
        self.httpd = Server((host, port), self, verbose)
        h, p = self.httpd.server_address[:2]
        self.base_url = "http://%s:%d" % (h, p)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True, name=self.name)
        self.thread.start()
        return self.base_url

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        if not self.httpd:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def is_control(req):
    return req.path.startswith("/_emulator/") or req.path == "/_emulator"


def deep_update(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_update(dst[k], v)
        else:
            dst[k] = v
    return dst


def main(cls, argv=None):
    ap = argparse.ArgumentParser(description="%s emulator" % cls.name)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0, help="number of deterministic records to create")
    ap.add_argument("--random-seed", type=int, default=42, help="seed of the record generator")
    ap.add_argument("--config", help="JSON file merged over the defaults")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override one config key (dotted path), value parsed as JSON")
    ap.add_argument("--latency", type=float, metavar="MS",
                    help="delay every answer of the service endpoints by MS milliseconds (config latency_ms)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    config = {}
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
    if args.latency is not None:
        config["latency_ms"] = args.latency
    for item in args.set:
        key, _, val = item.partition("=")
        try:
            val = json.loads(val)
        except ValueError:
            pass
        d = config
        keys = key.split(".")
        for k in keys[:-1]:
            d = d.setdefault(k, {})
        d[keys[-1]] = val
    emu = cls(config=config, random_seed=args.random_seed)
    if args.seed:
        emu.seed(args.seed)
    emu.httpd = Server((args.host, args.port), emu, args.verbose)
    h, p = emu.httpd.server_address[:2]
    emu.base_url = "http://%s:%d" % (h, p)

    def on_term(signum, frame):  # the loop ends after its current step, never in the middle of one
        emu.httpd.stop_soon()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print(emu.base_url, flush=True)
    try:
        emu.httpd.serve_forever(poll_interval=0.2)
    finally:
        emu.httpd.server_close()
    return 0
