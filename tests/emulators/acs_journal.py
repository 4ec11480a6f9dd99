# acs_journal: the Adobe I/O Events journaling API carrying Campaign email events (reference
# B10.3): positions, `limit`, exclusive `since`, `latest`, `seek`, Link rel="next"/"validate",
# 204 + retry-after at the end, the 1.5 MB page cap, 7-day retention; and the generator behind
# /_emulator/events (send/open/click/bounce payloads, injectable duplicates and out-of-order).
import datetime
import json
import random
import re
import time
import uuid

ANIMALS = ["camel", "moose", "otter", "heron", "lynx", "bison"]
TYPES = {"send": "directMarketing.emailSent", "open": "directMarketing.emailOpened",
         "click": "directMarketing.emailClicked", "bounce": "directMarketing.emailBounced",
         "softbounce": "directMarketing.emailBouncedSoft"}  # a soft bounce: not one of Adobe's four types
DURATION = re.compile(r"^-?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


class Journal:
    def __init__(self, seed):
        self.rng = random.Random("journal:%d" % seed)
        self.entries = []  # dicts: position, event, time (ingestion, epoch)
        self.index = {}  # position -> list index
        self.by_profile = {}  # internal profile id -> [entry]

    def _position(self):
        return "%s:%s:%s" % (self.rng.choice(ANIMALS), uuid.UUID(int=self.rng.getrandbits(128), version=4),
                             uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def append(self, event, when, profile_id=None):
        e = {"position": self._position(), "event": event, "time": when}
        self.index[e["position"]] = len(self.entries)
        self.entries.append(e)
        if profile_id is not None:
            self.by_profile.setdefault(profile_id, []).append(e)
        return e

    def generate(self, profiles, count, types, duplicates=0, out_of_order=False, age_seconds=0,
                 campaign="Spring Campaign", delivery="Spring Newsletter", mirror_base="https://mirror.example.com",
                 without_id=False):
        """profiles: list of (id, pkey, record). Appends count events (+duplicates) and returns them.
        without_id: the events carry no event_id nor @id (a malformed delivery, for client tests)."""
        now = time.time() - float(age_seconds)
        made = []
        for n in range(count):
            pid, pkey, rec = profiles[n % len(profiles)]
            kind = types[n % len(types)]
            ts = now - (count - n)  # strictly increasing event times
            eid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            delivery_id = str(100 + (n % 7))
            ev = {
                "event_id": eid,
                "@id": "urn:acs:event:%s" % eid,
                "xdm:timestamp": datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "xdm:eventType": TYPES[kind],
                "xdm:directMarketing": {
                    "xdm:campaignId": "100", "xdm:campaignName": campaign,
                    "xdm:deliveryId": delivery_id, "xdm:deliveryName": delivery,
                    "xdm:recipientId": str(pid), "xdm:channel": "Email",
                },
                "profilePKey": pkey,
                "profileExternalId": rec.get("externalId", ""),
                "email": rec.get("email", ""),
                "mirrorPageUrl": "%s/m/%s/%s" % (mirror_base, delivery_id, eid[:8]),
            }
            if kind in ("send", "bounce", "softbounce"):
                ev["xdm:directMarketing"]["xdm:broadlogId"] = str(self.rng.randrange(10 ** 9))
            else:
                ev["xdm:directMarketing"]["xdm:trackinglogId"] = str(self.rng.randrange(10 ** 9))
            if kind == "click":
                ev["url"] = "https://www.example.com/offer/%d?utm_source=acs" % (n % 13)
            if kind == "bounce":
                ev["bounceType"] = "hard"
                ev["xdm:directMarketing"]["xdm:quarantine"] = True
            if kind == "softbounce":
                ev["bounceType"] = "soft"
            if without_id:
                del ev["event_id"], ev["@id"]
            made.append((pid, ev))
        order = list(range(len(made)))
        if out_of_order:
            self.rng.shuffle(order)
        out = []
        for i in order:
            pid, ev = made[i]
            out.append(self.append(ev, now, pid))
        for _ in range(int(duplicates)):
            if not made:
                break
            pid, ev = made[self.rng.randrange(len(made))]
            out.append(self.append(json.loads(json.dumps(ev)), now, pid))
        return out

    def read(self, since=None, latest=False, seek=None, limit=100, retention=7 * 86400, max_bytes=1572864):
        """-> (entries, start index used). Raises ValueError for a bad since/seek."""
        now = time.time()
        if since is not None:
            if since not in self.index:
                raise ValueError("The position '%s' is not valid" % since)
            i = self.index[since] + 1
        elif latest:
            i = len(self.entries)
        elif seek is not None:
            m = DURATION.match(seek)
            if not m or not seek.startswith("-"):
                raise ValueError("The seek value '%s' is not a valid negative ISO-8601 duration" % seek)
            d, h, mi, s = (int(x or 0) for x in m.groups())
            t = now - (d * 86400 + h * 3600 + mi * 60 + s)
            i = 0
            while i < len(self.entries) and self.entries[i]["time"] < t:
                i += 1
        else:
            i = 0
        out, size = [], 0
        while i < len(self.entries) and len(out) < limit:
            e = self.entries[i]
            i += 1
            if e["time"] < now - retention:
                continue
            n = len(json.dumps(e["event"])) + 100
            if out and size + n > max_bytes:
                break
            size += n
            out.append(e)
        return out
