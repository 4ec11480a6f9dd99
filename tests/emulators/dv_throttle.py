# dv_throttle: Dataverse service protection limits (reference A13). Per user sliding windows for
# the number of requests and the combined execution time, and a concurrent-request limit, each
# answered with 429, Retry-After and the exact error code and message. Limits are configurable.
import collections
import math
import threading
import time

from dv_values import dv_error


class _User:
    __slots__ = ("requests", "execs", "exec_sum", "concurrent")

    def __init__(self):
        self.requests = collections.deque()  # request times
        self.execs = collections.deque()  # (time, ms)
        self.exec_sum = 0.0
        self.concurrent = 0


class ServiceProtection:
    def __init__(self, config):
        self.config = config  # the live "throttle" dict of the emulator config
        self.lock = threading.Lock()
        self.users = collections.defaultdict(_User)

    def reset(self):
        with self.lock:
            self.users.clear()

    def _prune(self, u, now, window):
        while u.requests and u.requests[0] <= now - window:
            u.requests.popleft()
        while u.execs and u.execs[0][0] <= now - window:
            u.exec_sum -= u.execs.popleft()[1]

    def _retry_after(self, computed):
        fixed = self.config.get("retry_after")
        return str(int(fixed)) if fixed is not None else str(max(1, int(math.ceil(computed))))

    def enter(self, user, ops=1):
        """Count a request (ops inner operations for $batch). Raises the 429 when over a limit."""
        c = self.config
        if not c.get("enabled", True):
            return False
        window = float(c["window_seconds"])
        now = time.monotonic()
        with self.lock:
            u = self.users[user]
            self._prune(u, now, window)
            if u.concurrent + 1 > int(c["max_concurrent"]):
                raise self._limit("0x80072326", "Number of concurrent requests exceeded the limit of %d." % int(c["max_concurrent"]),
                                  self._retry_after(1))
            if len(u.requests) + ops > int(c["max_requests"]):
                wait = (u.requests[0] + window - now) if u.requests else window
                raise self._limit("0x80072322", "Number of requests exceeded the limit of %d over time window of %d seconds."
                                  % (int(c["max_requests"]), int(window)), self._retry_after(wait))
            if u.exec_sum >= float(c["max_execution_ms"]):
                wait = (u.execs[0][0] + window - now) if u.execs else window
                raise self._limit("0x80072321", "Combined execution time of incoming requests exceeded limit of {:,}  milliseconds "
                                  "over time window of {} seconds. Decrease number of concurrent requests or reduce the duration "
                                  "of requests and try again later.".format(int(c["max_execution_ms"]), int(window)),
                                  self._retry_after(wait))
            for _ in range(ops):
                u.requests.append(now)
            u.concurrent += 1
        return True

    def add_ops(self, user, n):
        """Inner operations of a $batch each count as a request (the batch itself already did)."""
        if n <= 0 or not self.config.get("enabled", True):
            return
        now = time.monotonic()
        with self.lock:
            self.users[user].requests.extend([now] * n)

    def leave(self, user, ms):
        now = time.monotonic()
        with self.lock:
            u = self.users[user]
            u.concurrent = max(0, u.concurrent - 1)
            u.execs.append((now, ms))
            u.exec_sum += ms

    def remaining(self, user):
        c = self.config
        with self.lock:
            u = self.users[user]
            return (max(0, int(c["max_requests"]) - len(u.requests)),
                    max(0, int(float(c["max_execution_ms"]) - u.exec_sum)))

    @staticmethod
    def _limit(code, message, retry_after):
        e = dv_error(429, message, code)
        e.headers = [("Retry-After", retry_after)]
        return e
