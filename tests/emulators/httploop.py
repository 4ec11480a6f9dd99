# httploop: the HTTP/1.1 server both emulators run on. One thread serves every keep-alive connection
# (selectors): it reads requests with a lean parser (the stdlib's reading for unusual request lines, so
# that their answers stay the stdlib's), hands each to the app, and writes each answer in one send once
# the app's delay has passed (a timer, not a sleeping thread per request: hundreds of answers wait at
# once for the price of a heap entry). A request runs on a thread of its own only while the app says
# requests may block (a slow fault), so that the delay holds that request alone.
import collections
import email.utils
import heapq
import itertools
import selectors
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler

MAX_BODY = 64 * 1024 * 1024
MAX_HEADERS, MAX_LINE = 100, 65536  # the stdlib's limits on a request's header block
PROTOCOL = "HTTP/1.1"
METHODS = frozenset(("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"))
REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 410: "Gone", 412: "Precondition Failed", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}
STDLIB_REASONS = BaseHTTPRequestHandler.responses
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class CIDict(dict):
    """Case-insensitive header map for requests built in-process (e.g. $batch parts)."""

    def __init__(self, items=()):
        super().__init__()
        for k, v in items:
            self[k] = v

    def __setitem__(self, k, v):
        dict.__setitem__(self, k.lower(), v)

    def get(self, k, default=None):
        return dict.get(self, k.lower(), default)

    def __contains__(self, k):
        return dict.__contains__(self, k.lower())


class Headers(CIDict):
    """Request headers as read off the wire: get gives a header's first value, get_all every value."""

    def __init__(self):
        super().__init__()
        self.values = {}

    def get_all(self, k, default=None):
        return self.values.get(k.lower(), default)


class Incomplete(Exception):
    """More bytes are needed (and the client may still send them)."""


class Reader:
    """readline/read over a connection's buffered input, as a blocking file would answer them, except
    that they raise Incomplete where a blocking file would wait; at end of input they return what is left."""

    def __init__(self, buf, pos, eof):
        self.buf, self.pos, self.eof = buf, pos, eof

    def readline(self, limit):
        buf, pos = self.buf, self.pos
        end = buf.find(b"\n", pos, pos + limit)
        if end < 0:
            if len(buf) - pos < limit and not self.eof:
                raise Incomplete()
            end = min(len(buf), pos + limit) - 1
        self.pos = end + 1
        return bytes(buf[pos:end + 1])

    def read(self, n):
        if len(self.buf) - self.pos < n and not self.eof:
            raise Incomplete()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += len(data)
        return data


class Head:
    """A request's line and headers, once read; error is (status, message) when it is to be refused."""

    __slots__ = ("method", "target", "line", "headers", "close", "expect", "error")

    def __init__(self, method="", target="", line="", headers=None, close=True, expect=False, error=None):
        self.method, self.target, self.line, self.headers = method, target, line, headers
        self.close, self.expect, self.error = close, expect, error


class StdlibHead(BaseHTTPRequestHandler):
    """The stdlib's parse_request for a request line that is not plain HTTP/1.0 or HTTP/1.1: its errors,
    HTTP/0.9 and other versions keep the answers the stdlib server gave them."""

    protocol_version = PROTOCOL

    def __init__(self, raw, rfile):  # no socket: only parse_request is used
        self.raw_requestline, self.rfile = raw, rfile
        self.error, self.expect = None, False

    def send_error(self, code, message=None, explain=None):
        self.error = (code, message)

    def handle_expect_100(self):
        self.expect = True
        return True

    def read(self):
        ok = self.parse_request()
        return Head(self.command or "", getattr(self, "path", ""), getattr(self, "requestline", ""),
                    self.headers if ok else None, self.close_connection, self.expect, None if ok else self.error)


def read_head(reader):
    """The request line and header block at the reader -> Head (None: close without answering)."""
    lines = crlf_block(reader)
    raw = reader.readline(MAX_LINE + 1) if lines is None else None
    if raw is not None and len(raw) > MAX_LINE:
        return Head(error=(414, None))
    if raw == b"":
        return None
    words = (lines[0] if raw is None else str(raw, "iso-8859-1").rstrip("\r\n")).split()
    if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
        if raw is None:  # the stdlib reads it again, line by line
            reader.pos = lines.start
            raw = reader.readline(MAX_LINE + 1)
        head = StdlibHead(raw, reader).read()
        return head if head.error or head.headers is not None else None
    method, target, version = words
    if target.startswith("//"):
        target = "/" + target.lstrip("/")
    headers = parse_headers(lines[1:] if raw is None else read_lines(reader))
    if not isinstance(headers, Headers):
        return Head(method, target, " ".join(words), error=(431, headers))
    close = version == "HTTP/1.0"
    conntype = headers.get("Connection", "").lower()
    if conntype == "close":
        close = True
    elif conntype == "keep-alive":
        close = False
    expect = headers.get("Expect", "").lower() == "100-continue" and version == "HTTP/1.1"
    return Head(method, target, " ".join(words), headers, close, expect)


class Lines(list):
    """The lines of a header block, and where it started."""

    start = 0


def crlf_block(reader):
    """The request line and header lines at the reader when the whole block is there, every line ends
    with CRLF and the block is within the stdlib's limits (the usual request: one find and one split);
    None otherwise, for the line by line reading."""
    buf, pos = reader.buf, reader.pos
    end = buf.find(b"\r\n\r\n", pos)
    if end < 0 or end + 4 - pos > MAX_LINE:
        return None
    text = buf[pos:end].decode("iso-8859-1")
    lines = Lines(text.split("\r\n"))
    if len(lines) > MAX_HEADERS or text.count("\r") != len(lines) - 1 or text.count("\n") != len(lines) - 1:
        return None
    lines.start, reader.pos = pos, end + 4
    return lines


def read_lines(reader):
    """The header lines up to the blank one, read one by one -> their text, or the message of the 431
    that refuses them."""
    lines = []
    for _ in range(MAX_HEADERS):  # the blank line counts, as in the stdlib
        line = reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            return "Line too long"
        if line in (b"\r\n", b"\n", b""):
            return lines
        lines.append(line.decode("iso-8859-1").rstrip("\r\n"))
    return "Too many headers"


def parse_headers(lines):
    """Header lines -> Headers (the stdlib's email parser cost a third of the emulator's time per
    request); a 431 message passes through."""
    if isinstance(lines, str):
        return lines
    headers, name = Headers(), None
    values = headers.values
    for text in lines:
        if text[:1] in (" ", "\t") and name is not None:  # an obsolete folded continuation line
            seen = values[name]
            seen[-1] += text
            if len(seen) == 1:
                dict.__setitem__(headers, name, seen[0])
            continue
        name, sep, value = text.partition(":")
        name = name.lower()
        if not sep:
            name = None  # not a header: nothing to continue
        elif name in values:
            values[name].append(value.lstrip(" \t"))
        else:
            values[name] = [value.lstrip(" \t")]
            dict.__setitem__(headers, name, values[name][0])
    return headers


class BodyError(Exception):
    """A request body that cannot be read: status 400 (malformed) or 413 (too large)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def read_body(reader, headers):
    """The body after the head: chunked when the request says so, else Content-Length bytes."""
    te = (headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        return read_chunked(reader)
    n = headers.get("Content-Length")
    if not n:
        return b""
    try:
        n = int(n)
    except ValueError:
        raise BodyError(400, "Bad Request")
    if n < 0:
        raise BodyError(400, "Bad Request")
    if n > MAX_BODY:
        raise BodyError(413, "Request body too large")
    return reader.read(n)


def read_chunked(reader):
    chunks, total = [], 0
    while True:
        line = reader.readline(65537)
        try:
            size = int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise BodyError(400, "Bad Request")
        if size == 0:
            while reader.readline(65537) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        total += size
        if total > MAX_BODY:
            raise BodyError(413, "Request body too large")
        chunks.append(reader.read(size))
        reader.readline(3)


_date = [0, ""]  # the Date header, formatted once a second


def http_date():
    now = int(time.time())
    if _date[0] != now:
        _date[1] = email.utils.formatdate(now, usegmt=True)
        _date[0] = now
    return _date[1]


def response_bytes(resp, close, head):
    """Status line, headers and body, as one bytes object."""
    status = resp.status
    reason = REASONS.get(status) or STDLIB_REASONS.get(status, ("",))[0]
    out = ["%s %d %s\r\nServer: emulator\r\nDate: %s\r\n" % (PROTOCOL, status, reason, http_date())]
    out += ["%s: %s\r\n" % kv for kv in resp.headers]
    if status not in (204, 304) and not (100 <= status < 200):
        out.append("Content-Length: %d\r\n" % len(resp.body))
    if close:
        out.append("Connection: close\r\n")
    out.append("\r\n")
    data = "".join(out).encode("latin-1")
    if resp.body and not head and status not in (204, 304):
        data += resp.body
    return data


class Conn:
    """One client connection: its unread input, the head of the request being read, what is left to send."""

    __slots__ = ("sock", "addr", "buf", "head", "body_at", "busy", "eof", "close", "out", "mask", "line")

    def __init__(self, sock, addr):
        self.sock, self.addr, self.line = sock, addr, ""
        self.buf = bytearray()
        self.head, self.body_at = None, 0
        self.busy = self.eof = self.close = False
        self.out = None
        self.mask = 0


class Server:
    """The listening socket and the loop serving every connection. The app provides: request(method,
    target, headers, body) -> request object (with .method); answer(req) -> (response or None to drop the connection, seconds to wait first);
    answered(req, resp) at the end of that wait; refusal(status, message) -> the response to a request
    that cannot be read; may_block() -> whether a request may sleep while it is answered."""

    def __init__(self, address, app, verbose=False):
        self.app, self.verbose = app, verbose
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(address)
        self.socket.listen(4096)  # hundreds of clients may connect at once
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.socket, READ, None)
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.sel.register(self.wake_r, READ, None)
        self.timers, self.seq = [], itertools.count()
        self.handoffs = collections.deque()  # (function, args) from request threads, run by the loop
        self.conns = set()
        # what a connection's recv reads into (one buffer for the loop: a fresh 256 KB per recv cost an
        # allocation and, on PyPy, a brk to give it back)
        self.inbox = bytearray(262144)
        self.inbox_view = memoryview(self.inbox)
        self.stopping = False
        self.stopped = threading.Event()
        self.stopped.set()

    # --- the loop -----------------------------------------------------------------------------
    def serve_forever(self, poll_interval=0.5):
        self.stopped.clear()
        try:
            while not self.stopping:
                timeout = poll_interval
                if self.timers:
                    timeout = min(timeout, max(0.0, self.timers[0][0] - time.monotonic()))
                for key, mask in self.sel.select(timeout):
                    self.ready(key, mask)
                    self.run_timers()  # answers due go out between requests, not after all of them
                self.run_timers()
                while self.handoffs:
                    self.call(*self.handoffs.popleft())
        finally:
            self.stopping = False
            self.stopped.set()

    def ready(self, key, mask):
        if key.fileobj is self.socket:
            self.accept()
        elif key.fileobj is self.wake_r:
            self.drain_wake()
        else:
            if mask & WRITE:
                self.call(self.flush, (key.data,))
            if mask & READ and key.data.sock.fileno() >= 0:
                self.call(self.receive, (key.data,))

    def call(self, fn, args):
        """fn(conn, ...): a failure closes that connection, the loop goes on."""
        try:
            fn(*args)
        except Exception:
            if self.verbose:
                traceback.print_exc()
            self.close(args[0])

    def run_timers(self):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, fn, args = heapq.heappop(self.timers)
            self.call(fn, args)

    def later(self, delay, fn, *args):
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self.seq), fn, args))

    def handoff(self, fn, *args):
        """Run fn(*args) on the loop (from any thread)."""
        self.handoffs.append((fn, args))
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass

    def drain_wake(self):
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    # --- connections ---------------------------------------------------------------------------
    def accept(self):
        while True:
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors or the like: the client will retry
                return
            # without TCP_NODELAY, Nagle plus delayed ACKs can hold a small answer back ~40 ms on a
            # keep-alive connection, which would make the emulator the bottleneck
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            conn = Conn(sock, addr)
            self.conns.add(conn)
            self.watch(conn, READ)

    def watch(self, conn, mask):
        if mask == conn.mask:
            return
        if conn.mask == 0:
            self.sel.register(conn.sock, mask, conn)
        elif mask == 0:
            self.sel.unregister(conn.sock)
        else:
            self.sel.modify(conn.sock, mask, conn)
        conn.mask = mask

    def receive(self, conn):
        try:
            n = conn.sock.recv_into(self.inbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            n = 0
        if n:
            conn.buf += self.inbox_view[:n]
        else:
            conn.eof = True
            self.watch(conn, conn.mask & WRITE)
        if not conn.busy:
            self.advance(conn)

    def advance(self, conn):
        """Read the next request off the buffered input and serve it, unless it is still incomplete."""
        reader = Reader(conn.buf, conn.body_at, conn.eof)
        try:
            if conn.head is None:
                conn.head = read_head(reader)
                if conn.head is None:
                    return self.close(conn)
                conn.body_at, conn.line = reader.pos, conn.head.line
                if self.refused(conn):
                    return
            head = conn.head
            body = read_body(reader, head.headers)
        except Incomplete:
            return
        except BodyError as e:
            conn.close = True
            return self.send(conn, self.app.refusal(e.status, e.message))
        del conn.buf[:reader.pos]
        conn.head, conn.body_at, conn.busy, conn.close = None, 0, True, head.close
        req = self.app.request(head.method, head.target, head.headers, body)
        if self.app.may_block():
            threading.Thread(target=self.answer_in_thread, args=(conn, req), daemon=True).start()
        else:
            self.answered(conn, req, *self.app.answer(req))

    def refused(self, conn):
        """A head that cannot be served (malformed, too long, unknown method) is answered and closed;
        Expect: 100-continue is answered at once, before the method is looked at (as the stdlib does)."""
        head = conn.head
        error = head.error
        if error is None and head.expect:
            conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if error is None and head.method not in METHODS:
            error = (501, "Unsupported method (%r)" % head.method)
        if error is None:
            return False
        conn.close, conn.busy = True, True
        self.send(conn, self.app.refusal(*error))
        return True

    def answer_in_thread(self, conn, req):
        self.handoff(self.answered, conn, req, *self.app.answer(req))

    def answered(self, conn, req, resp, delay):
        if delay:
            self.later(delay, self.deliver, conn, req, resp)
        else:
            self.deliver(conn, req, resp)

    def deliver(self, conn, req, resp):
        self.app.answered(req, resp)
        if resp is None:  # dropped connection fault
            return self.close(conn)
        if getattr(req, "cut", False):  # fault "cut": the head and half the body, then the connection closes
            data = response_bytes(resp, True, req.method == "HEAD")
            try:
                conn.sock.sendall(data[:len(data) - max(1, len(resp.body) // 2)])
            except OSError:
                pass
            return self.close(conn)
        if self.verbose:
            sys.stderr.write('%s "%s" %d -\n' % (conn.addr[0], conn.line, resp.status))
        self.send(conn, resp, req.method == "HEAD")

    def send(self, conn, resp, head=False):
        if conn.sock.fileno() < 0:
            return
        data = response_bytes(resp, conn.close, head)
        try:
            n = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:  # the client went away: nothing more to answer
            return self.close(conn)
        if n < len(data):
            conn.out = memoryview(data)[n:]
            self.watch(conn, WRITE | (conn.mask & READ))
        else:
            self.sent(conn)

    def flush(self, conn):
        try:
            n = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return self.close(conn)
        conn.out = conn.out[n:]
        if not conn.out:
            conn.out = None
            self.watch(conn, conn.mask & READ)
            self.sent(conn)

    def sent(self, conn):
        """The answer is out: close, or read the next request."""
        if conn.close:
            return self.close(conn)
        conn.busy = False
        if conn.buf or conn.eof:
            self.advance(conn)

    def close(self, conn):
        if conn.sock.fileno() < 0:
            return
        self.watch(conn, 0)
        self.conns.discard(conn)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        conn.sock.close()

    # --- life cycle -----------------------------------------------------------------------------
    def stop_soon(self):
        """Make serve_forever return after the current step (safe in a signal handler of its own thread)."""
        self.stopping = True
        try:
            self.wake_w.send(b"x")
        except OSError:  # the wake-up pipe is full: the loop is awake anyway
            pass

    def shutdown(self):
        """Stop serve_forever (from another thread) and wait until it returned."""
        self.stop_soon()
        self.stopped.wait()

    def server_close(self):
        for conn in list(self.conns):
            self.close(conn)
        self.sel.close()
        self.socket.close()
        self.wake_r.close()
        self.wake_w.close()
