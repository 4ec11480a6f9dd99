# dv_batch: the Dataverse $batch endpoint (reference A11), handled in one pass under the store
# lock: multipart/mixed parsing, change sets that roll back atomically, Content-ID references in
# URLs and @odata.bind values, odata.continue-on-error, the request cap, and the response written
# as the real service writes it (batchresponse_/changesetresponse_ boundaries, CRLF). A batch_op fault
# (faults.py) answers one operation 429 + Retry-After or 5xx, with the service's error JSON, in its place.
import json
import re

from dv_http import new_uuid, parse_prefer
from dv_values import dv_error
from emulib import REASONS, CIDict, HTTPError, Request, Response

BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";]+)"?', re.I)
REF = re.compile(r"^\$(\d+)(.*)$")
BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def split_multipart(body, boundary):
    delim = b"--" + boundary.encode("latin-1")
    chunks = body.split(delim)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:] if chunk.startswith(b"\n") else chunk
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(parse_headers_block(chunk))
    return parts


def parse_headers_block(data):
    """-> (CIDict headers, rest bytes) for a MIME header block followed by a blank line."""
    m = BLANK_LINE.search(data)
    if m is None:
        head, rest = data, b""
    else:
        head, rest = data[:m.start()], data[m.end():]
    headers = CIDict()
    for line in head.decode("utf-8", "replace").splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip()] = v.strip()
    return headers, rest


def parse_http(data):
    """application/http payload -> (method, url, headers, body)."""
    data = data.lstrip(b"\r\n")
    line, _, rest = data.partition(b"\n")
    words = line.decode("utf-8", "replace").strip().split(" ")
    if len(words) < 2:
        raise dv_error(400, "The request line '%s' is not valid in the batch." % line.decode("utf-8", "replace").strip(),
                       "0x80060888")
    headers, body = parse_headers_block(b"\n" + rest if rest.startswith((b"\r\n", b"\n")) else rest)
    return words[0].upper(), words[1], headers, body.rstrip(b"\r\n") if body.strip() else b""


class Batch:
    def __init__(self, emu, req, ctx, user):
        self.emu, self.req, self.ctx, self.user = emu, req, ctx, user
        self.out = []

    def parse(self):
        m = BOUNDARY.search(self.req.header("Content-Type") or "")
        if not m or "multipart/mixed" not in (self.req.header("Content-Type") or "").lower():
            raise dv_error(400, "The batch request must have a Content-Type header of multipart/mixed with a boundary.",
                           "0x80060888")
        items = []
        for headers, content in split_multipart(self.req.body, m.group(1)):
            ctype = (headers.get("Content-Type") or "").lower()
            if ctype.startswith("multipart/mixed"):
                cm = BOUNDARY.search(headers.get("Content-Type"))
                if not cm:
                    raise dv_error(400, "The change set must have a boundary.", "0x80060888")
                ops = [(h.get("Content-ID"), parse_http(c)) for h, c in split_multipart(content, cm.group(1))]
                items.append(("changeset", ops))
            else:
                items.append(("single", (headers.get("Content-ID"), parse_http(content))))
        n = sum(len(x[1]) if x[0] == "changeset" else 1 for x in items)
        limit = int(self.emu.config["batch_max_requests"])
        if n > limit:
            raise dv_error(400, "The number of requests in the batch (%d) exceeds the limit of %d." % (n, limit), "0x80060888")
        return items, n

    def run(self):
        items, n = self.parse()
        self.emu.throttle.add_ops(self.user, n)
        coe = "odata.continue-on-error" in parse_prefer(self.req)
        failed = False
        with self.emu.lock:
            for kind, payload in items:
                if kind == "single":
                    cid, op = payload
                    resp = self.execute(op, {})
                    part = self.render(resp, cid)
                    self.out.append(part)
                    if resp.status >= 400:
                        failed = True
                        if not coe:
                            break
                else:
                    ok, part = self.changeset(payload)
                    self.out.append(part)
                    if not ok:
                        failed = True
                        if not coe:
                            break
        boundary = "batchresponse_%s" % new_uuid()
        parts = self.out
        if failed and not coe and not self.emu.config.get("batch_error_include_previous"):
            parts = parts[-1:]
        body = "".join("--%s\r\n%s" % (boundary, p) for p in parts) + "--%s--\r\n" % boundary
        status = 400 if failed and not coe else 200
        self.req.kind = "batch"
        return Response(status, body.encode("utf-8"), [("OData-Version", "4.0")],
                        "multipart/mixed; boundary=%s" % boundary)

    def changeset(self, ops):
        store = self.emu.store
        store.begin()
        ids = {}
        rendered = []
        for cid, op in ops:
            method = op[0]
            if method == "GET":
                resp = self.emu.error_response(dv_error(400, "The HTTP method 'GET' is invalid for a request in a change set. "
                                                             "Only DELETE, PATCH, POST, and PUT methods are allowed in a change set.",
                                                        "0x80060888"))
            else:
                resp = self.execute(op, ids)
            if resp.status >= 400:
                store.rollback()
                return False, self.render(resp, cid)
            if cid:
                url = resp.header("OData-EntityId") or resp.header("Location")
                if url:
                    ids[cid.strip()] = url
            rendered.append(self.render(resp, cid))
        store.commit()
        cb = "changesetresponse_%s" % new_uuid()
        inner = "".join("--%s\r\n%s" % (cb, p) for p in rendered) + "--%s--\r\n" % cb
        return True, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n%s" % (cb, inner)

    def execute(self, op, ids):
        method, url, headers, body = op
        inner = None
        try:
            url = self.resolve_url(url, ids)
            if ids and body:
                body = self.resolve_body(body, ids)
            target = self.relative(url)
            inner = Request(method, target, headers, body, internal=True)
            inner.user = self.user
            fault = self.emu.faults.match(inner, batch_op=True)
            if fault:  # this operation alone is throttled or fails; it does not run
                resp = self.emu.fault_response(fault, inner)
                self.emu.count("batch_op_fault:%d" % resp.status)
                self.req.fault = "batch_op_" + fault.kind  # in the request log of the $batch
            else:
                resp = self.emu.api(inner, self.ctx)
                self.emu.count("batch_op:%s" % (inner.kind or method.lower()))
        except HTTPError as e:
            resp = self.emu.error_response(e)
        except Exception as e:  # never let one part take the whole batch down with a traceback
            resp = self.emu.error_response(dv_error(500, "An unexpected error occurred: %s" % type(e).__name__,
                                                    "0x80040216"))
        if method == "POST" or resp.status == 201 or (method == "PATCH" and resp.header("OData-EntityId")
                                                      and resp.status == 204 and inner is not None
                                                      and inner.kind == "upsert_create"):
            ent = resp.header("OData-EntityId")
            if ent and not resp.header("Location"):
                resp.headers.insert(1, ("Location", ent))
        return resp

    @staticmethod
    def resolve_url(url, ids):
        m = REF.match(url)
        if not m:
            return url
        if m.group(1) not in ids:
            raise dv_error(400, "Content-ID Reference: '$%s' does not exist in the batch context." % m.group(1), "0x80060888")
        return ids[m.group(1)] + m.group(2)

    @staticmethod
    def resolve_body(body, ids):
        try:
            obj = json.loads(body)
        except ValueError:
            return body
        if not isinstance(obj, dict):
            return body
        for k, v in list(obj.items()):
            if k.endswith("@odata.bind") and isinstance(v, str):
                m = REF.match(v)
                if m:
                    if m.group(1) not in ids:
                        raise dv_error(400, "Content-ID Reference: '$%s' does not exist in the batch context." % m.group(1),
                                       "0x80060888")
                    obj[k] = ids[m.group(1)] + m.group(2)
        return json.dumps(obj).encode("utf-8")

    def relative(self, url):
        if "://" in url:
            url = "/" + url.split("://", 1)[1].partition("/")[2]
        if not url.startswith("/"):
            url = "/api/data/%s/%s" % (self.ctx.version, url)
        return url

    @staticmethod
    def render(resp, cid):
        head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        if cid:
            head += "Content-ID: %s\r\n" % cid.strip()
        lines = ["HTTP/1.1 %d %s" % (resp.status, REASONS.get(resp.status, ""))]
        lines += ["%s: %s" % (k, v) for k, v in resp.headers]
        body = resp.body.decode("utf-8", "replace") if resp.status not in (204, 304) else ""
        return "%s\r\n%s\r\n\r\n%s\r\n" % (head, "\r\n".join(lines), body)
