# emulib: the HTTP plumbing both emulators share. Owns the threaded HTTP/1.1 keep-alive server,
# request/response objects, the dispatch wrapper (added latency, faults, request log, call counts, the
# time requests spend being served, crash-proofing), the common part of the /_emulator/ control API,
# the in-process fixture and the command-line entry.
import argparse
import collections
import email.utils
import json
import signal
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import faults as faults_mod

MAX_BODY = 64 * 1024 * 1024
MAX_HEADERS, MAX_LINE = 100, 65536  # the stdlib's limits on a request's header block
REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 410: "Gone", 412: "Precondition Failed", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


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
                 "user", "fault", "malformed", "start", "internal", "query_body", "ctx")

    def __init__(self, method, target, headers, body, internal=False):
        self.method = method.upper()
        self.target = target
        path, _, raw_query = target.partition("?")
        self.path = urllib.parse.unquote(path)
        self.raw_query = raw_query
        self.query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        self.headers = headers  # case-insensitive mapping (email.message.Message or CIDict)
        self.body = body or b""
        self.kind = None
        self.user = None
        self.fault = None
        self.malformed = False
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


class CIDict(dict):
    """Case-insensitive header map for requests built in-process (e.g. $batch parts)."""

    def __init__(self, items=()):
        super().__init__()
        for k, v in items:
            self[k] = v

    def __setitem__(self, k, v):
        super().__setitem__(k.lower(), v)

    def get(self, k, default=None):
        return super().get(k.lower(), default)

    def __contains__(self, k):
        return super().__contains__(k.lower())


class Headers(CIDict):
    """Request headers as read off the wire: get gives a header's first value, get_all every value."""

    def __init__(self):
        super().__init__()
        self.values = {}

    def add(self, k, v):
        k = k.lower()
        if k in self.values:
            self.values[k].append(v)
        else:
            self.values[k] = [v]
            dict.__setitem__(self, k, v)

    def get_all(self, k, default=None):
        return self.values.get(k.lower(), default)


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
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status, obj, headers=None, content_type="application/json"):
    return Response(status, dumps(obj), headers, content_type)


_date = [0, ""]  # the Date header, formatted once a second


def http_date():
    now = int(time.time())
    if _date[0] != now:
        _date[1] = email.utils.formatdate(now, usegmt=True)
        _date[0] = now
    return _date[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # without TCP_NODELAY, Nagle plus delayed ACKs can hold a small answer back ~40 ms on a keep-alive
    # connection, which would make the emulator the bottleneck
    disable_nagle_algorithm = True
    server_version = "emulator"
    sys_version = ""

    def version_string(self):
        return getattr(self.server, "server_header", "emulator")

    def log_message(self, fmt, *args):  # quiet; the request log is the record
        if getattr(self.server, "verbose", False):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def send_error(self, code, message=None, explain=None):
        # malformed request line/headers: answer in the service's format, then close
        emu = self.server.emulator
        try:
            resp = emu.error_response(HTTPError(code, message or REASONS.get(code, "Error")))
        except Exception:
            resp = Response(code, b"")
        self.close_connection = True
        self.request_version = self.protocol_version  # a broken request line leaves HTTP/0.9 here
        self._write(resp)

    def parse_request(self):
        """The request line and headers of an HTTP/1.x request, read into Headers (the stdlib's email
        parser cost a third of the emulator's time per request); anything else goes to the stdlib, which
        answers it as before."""
        words = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n").split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return super().parse_request()
        self.requestline = " ".join(words)
        self.command, self.path, self.request_version = words
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        self.close_connection = self.request_version == "HTTP/1.0"
        headers, name = Headers(), None
        for _ in range(MAX_HEADERS):  # the blank line counts, as in the stdlib
            line = self.rfile.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                self.send_error(431, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and name is not None:  # an obsolete folded continuation line
                values = headers.values[name.lower()]
                values[-1] += text
                if len(values) == 1:
                    headers[name] = values[0]
                continue
            name, sep, value = text.partition(":")
            if sep:
                headers.add(name, value.lstrip(" \t"))
            else:
                name = None  # not a header: nothing to continue
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers
        conntype = headers.get("Connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive":
            self.close_connection = False
        if headers.get("Expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise HTTPError(413, "Request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = self.headers.get("Content-Length")
        if not n:
            return b""
        n = int(n)
        if n < 0:
            raise ValueError("negative Content-Length")
        if n > MAX_BODY:
            raise HTTPError(413, "Request body too large")
        return self.rfile.read(n)

    def _handle(self):
        emu = self.server.emulator
        try:
            body = self._read_body()
        except HTTPError as e:
            self.close_connection = True
            self._write(emu.error_response(e))
            return
        except (ValueError, OSError):
            self.send_error(400, "Bad Request")
            return
        req = Request(self.command, self.path, self.headers, body)
        resp = emu.dispatch(req)
        if resp is None:  # dropped connection fault
            self.close_connection = True
            return
        self._write(resp, head=self.command == "HEAD")

    def _write(self, resp, head=False):
        """Status line, headers and body in one write (what send_response and send_header would send)."""
        status = resp.status
        if self.server.verbose:
            self.log_request(status)
        reason = REASONS.get(status) or self.responses.get(status, ("",))[0]
        out = ["%s %d %s\r\nServer: %s\r\nDate: %s\r\n" % (self.protocol_version, status, reason,
                                                             self.version_string(), http_date())]
        out += ["%s: %s\r\n" % kv for kv in resp.headers]
        if status not in (204, 304) and not (100 <= status < 200):
            out.append("Content-Length: %d\r\n" % len(resp.body))
        if self.close_connection:
            out.append("Connection: close\r\n")
        out.append("\r\n")
        data = "".join(out).encode("latin-1")
        if resp.body and not head and status not in (204, 304):
            data += resp.body
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096  # the listen backlog: hundreds of clients may connect at once

    def handle_error(self, request, client_address):
        if getattr(self, "verbose", False):
            traceback.print_exc()


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

    # --- dispatch ---------------------------------------------------------------------------
    def dispatch(self, req):
        if req.path.startswith("/_emulator/") or req.path == "/_emulator":
            try:
                return self._control(req)
            except HTTPError as e:
                return json_response(e.status, {"error": e.message})
            except Exception as e:  # control API bugs must not kill the connection either
                traceback.print_exc()
                return json_response(500, {"error": "%s: %s" % (type(e).__name__, e)})
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
        latency = self.config.get("latency_ms") or 0
        if latency > 0:  # the distance to the real service, paid by every answer; no lock is held here
            time.sleep(latency / 1000.0)
        self.record(req, resp)
        return resp

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
        if f.kind == "malformed":
            req.malformed = True
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
        self.httpd = Server((host, port), Handler)
        self.httpd.emulator = self
        self.httpd.verbose = verbose
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
    emu.httpd = Server((args.host, args.port), Handler)
    emu.httpd.emulator = emu
    emu.httpd.verbose = args.verbose
    h, p = emu.httpd.server_address[:2]
    emu.base_url = "http://%s:%d" % (h, p)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    print(emu.base_url, flush=True)
    try:
        emu.httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        emu.httpd.server_close()
    return 0
