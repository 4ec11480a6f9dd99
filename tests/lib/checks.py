"""checks.py - how every Python test says what holds: check() prints "ok: WHAT" or fails with "FAIL: WHAT"
and its detail; require() fails with "FAIL: PROBLEM" and is silent when the condition holds; wait_until()
polls a condition; Scenario runs a long test as named cases, each reporting on its own line, and exits
non-zero when any case failed.

A failure is a Failure, a SystemExit with status 1: it ends a plain script like sys.exit(1) (finally
blocks run, no traceback, and an `except Exception` cannot swallow it), and a Scenario catches it to
report the case and go on.
"""
import json
import sys
import time
import traceback


class Failure(SystemExit):
    def __init__(self, message):
        super().__init__(1)
        self.message = message


def _render(detail):
    if callable(detail):
        detail = detail()
    if detail is None:
        return ""
    text = detail if isinstance(detail, str) else json.dumps(detail, indent=1, default=str)
    return "\n" + text[:4000]


def fail(what, detail=None):
    """Report WHAT as failed (with `detail`, a value or a function giving one) and end the case."""
    message = "FAIL: " + what + _render(detail)
    print(message, flush=True)
    raise Failure(message)


def check(cond, what, detail=None):
    if not cond:
        fail(what, detail)
    print("ok: " + what, flush=True)


def require(cond, problem, detail=None):
    """Like check, for a condition worded by what is wrong when it fails: silent when it holds."""
    if not cond:
        fail(problem, detail)


def wait_until(pred, timeout, what, detail=None, step=0.05):
    """Poll pred() until it is true; -> the seconds it took. Fails with WHAT after `timeout` seconds."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return time.time() - t0
        time.sleep(step)
    fail("%s (within %ss)" % (what, timeout), detail)


class Scenario:
    """Named cases run in order. A case that fails is reported and the cases after it that need it are
    reported as not run (their state would be the failed case's); a case declared with needs=() runs
    whatever failed before it. run() exits 1 when any case failed or did not run."""

    def __init__(self, name):
        self.name = name
        self.cases = []

    def case(self, title, needs=None):
        """Decorator: `needs` None means every earlier case; () means none."""
        def add(fn):
            self.cases.append((title, fn, needs))
            return fn
        return add

    def run(self, cleanup=None):
        failed = []
        try:
            for title, fn, needs in self.cases:
                blockers = [t for t in failed if needs is None or t in needs]
                if blockers:
                    print("NOT RUN: %s: %s (needs %s, which failed)" % (self.name, title, ", ".join(blockers)),
                          flush=True)
                    failed.append(title)
                    continue
                print("---- %s: %s" % (self.name, title), flush=True)
                try:
                    fn()
                    print("PASS: %s: %s" % (self.name, title), flush=True)
                except Failure:
                    print("FAIL: %s: %s" % (self.name, title), flush=True)
                    failed.append(title)
                except Exception:  # an error in the test itself: report it as this case's failure
                    traceback.print_exc()
                    print("FAIL: %s: %s (the test raised)" % (self.name, title), flush=True)
                    failed.append(title)
        finally:
            if cleanup:
                cleanup()
        print("%s: %d of %d cases passed" % (self.name, len(self.cases) - len(failed), len(self.cases)), flush=True)
        sys.exit(1 if failed else 0)
