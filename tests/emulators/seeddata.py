# seeddata: deterministic fake people for seeding both emulators (same seed -> same records), and
# the parents a seeded Dataverse row's lookups may point at.
import random
import uuid

FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Klara", "Liam",
         "Mia", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Ugo", "Vera", "Will", "Xenia",
         "Yann", "Zoe", "Marc", "Sofia", "Luca", "Nora"]
LAST = ["Smith", "Meyer", "Dubois", "Rossi", "Garcia", "Novak", "Jensen", "Kowalski", "Silva", "Murphy",
        "O'Brien", "Schmidt", "Martin", "Bernard", "Lopez", "Fischer", "Weber", "Moreau", "Costa", "Berg"]
CITIES = ["Paris", "London", "Berlin", "Madrid", "Rome", "Dublin", "Oslo", "Vienna", "Lisbon", "Prague"]
JOBS = ["Engineer", "Designer", "Manager", "Analyst", "Teacher", "Nurse", "Chef", "Writer"]


def rng_for(seed, kind, start):
    return random.Random("%d:%s:%d" % (seed, kind, start))


def guid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def person(rng, i):
    first = rng.choice(FIRST)
    last = rng.choice(LAST)
    return {
        "index": i,
        "id": guid(rng),
        "first": first,
        "last": last,
        "email": "%s.%s.%d@example.com" % (first.lower(), last.lower().replace("'", ""), i),
        "phone": "+1555%07d" % rng.randrange(10 ** 7),
        "mobile": "+1666%07d" % rng.randrange(10 ** 7),
        "birthdate": "%04d-%02d-%02d" % (rng.randrange(1950, 2005), rng.randrange(1, 13), rng.randrange(1, 29)),
        "gender": rng.choice((1, 2)),
        "city": rng.choice(CITIES),
        "job": rng.choice(JOBS),
        "optout_email": rng.random() < 0.1,
        "optout_all": rng.random() < 0.03,
    }


def lookup_parents(store, table):
    """{lookup attribute: ids of up to 1000 rows of its (single) target table} for the Lookup columns of
    a Dataverse table other than contact (a seeded contact links nothing)."""
    out = {}
    if table.logical == "contact":
        return out
    for name, a in table.attrs.items():
        targets = a.get("targets") or []
        parent = store.tables.get(targets[0]) if a["type"] == "Lookup" and len(targets) == 1 else None
        if parent is not None and parent is not table:
            out[name] = list(parent.order.keys[:1000])
    return out
