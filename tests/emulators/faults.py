# faults: the fault-injection rules set through /_emulator/faults (shared by both emulators).
# A rule matches requests by method and path regex, skips the first `after` matches, then fires
# `count` times (or for `seconds`), as one of: throttle (429 + Retry-After), error (5xx or any
# status), slow (delay, then normal answer), drop (close the connection), malformed (answer with a
# corrupted JSON body), cut (the answer's head and half its body, then the connection closes: a
# stream broken mid-flight, after the service did the work), strip (answer normally with `member`
# removed from every `every`-th entry of the answer's "value" list, as a service that leaves out a
# column, or with top: true from the answer itself). A rule with batch_op set matches the operations
# inside a $batch instead of
# requests (by the operation's method and path) and answers that one operation only, as a throttle or an
# error; the other operations of the batch run as usual.
import itertools
import json
import re
import threading
import time

KINDS = ("throttle", "error", "slow", "drop", "malformed", "cut", "strip")


class Fault:
    def __init__(self, fid, kind, path=None, method=None, count=None, after=0, seconds=None,
                 status=None, retry_after=None, delay=1.0, message=None, code=None, batch_op=False,
                 member=None, every=1, top=False):
        if kind not in KINDS:
            raise ValueError("kind must be one of %s" % (KINDS,))
        if kind == "strip" and not member:
            raise ValueError("a strip fault names the member it removes")
        self.member = member
        self.every = max(1, int(every))
        self.top = bool(top)
        if batch_op and kind not in ("throttle", "error"):
            raise ValueError("a batch_op fault is a throttle or an error")
        self.batch_op = bool(batch_op)
        self.id = fid
        self.kind = kind
        self.path_re = re.compile(path) if path else None
        self.path = path
        self.method = method.upper() if method else None
        if count is None:
            count = -1 if seconds else 1
        self.remaining = None if int(count) < 0 else int(count)
        self.skip = int(after)
        self.until = time.monotonic() + float(seconds) if seconds else None
        self.status = int(status) if status else (429 if kind == "throttle" else 503)
        self.retry_after = retry_after
        self.delay = float(delay)
        self.message = message
        self.code = code
        self.fired = 0

    def describe(self):
        return {"id": self.id, "kind": self.kind, "path": self.path, "method": self.method,
                "remaining": self.remaining, "skip": self.skip, "fired": self.fired,
                "status": self.status, "batch_op": self.batch_op}


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.ids = itertools.count(1)

    def add(self, kind, **kw):
        with self.lock:
            f = Fault(next(self.ids), kind, **kw)
            self.rules.append(f)
            return f.id

    def clear(self):
        with self.lock:
            self.rules = []

    def describe(self):
        with self.lock:
            return [f.describe() for f in self.rules]

    def may_block(self):
        """Whether a slow rule is set (answering a request may then sleep)."""
        return any(f.kind == "slow" for f in self.rules)

    def match(self, req, batch_op=False):
        """The rule that fires for a request, or with batch_op for an operation inside a $batch."""
        if not self.rules:
            return None
        now = time.monotonic()
        with self.lock:
            for f in list(self.rules):
                if f.until is not None and now > f.until:
                    self.rules.remove(f)
                    continue
                if f.batch_op != batch_op or (f.method and f.method != req.method):
                    continue
                if f.path_re and not f.path_re.search(req.path):
                    continue
                if f.skip > 0:
                    f.skip -= 1
                    continue
                f.fired += 1
                if f.remaining is not None:
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self.rules.remove(f)
                return f
        return None


def strip(body, member, every, top):
    """The JSON body with `member` removed from every `every`-th entry of its "value" list, or with top
    from the body itself."""
    doc = json.loads(body)
    if top:
        doc.pop(member, None)
    else:
        for i, entry in enumerate(doc.get("value") or []):
            if i % every == every - 1 and isinstance(entry, dict):
                entry.pop(member, None)
    return json.dumps(doc).encode()


def corrupt(body):
    """A JSON body cut short: unparseable, but with a correct Content-Length for what is sent."""
    n = max(1, len(body) // 2)
    return body[:n] + b"\x00{\"truncated"
