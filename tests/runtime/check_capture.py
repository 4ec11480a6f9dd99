#!/usr/bin/env python3
"""check_capture.py - checks what the capture sink received against the memory source's event model.

Usage: check_capture.py CAPTURED RECORDS UPDATES DELETES [--max-duplicates N] [--excluded-every M ...]

Recomputes the memory source's events (creations k0..k{RECORDS-1}, then updates and deletes of
existing keys, event i carrying v=i) and asserts:
  - every key (except those whose index is a multiple of an --excluded-every value) ends in the state
    of its last event (upsert with that v, or delete);
  - per key, the versions written never go backwards (per-key order);
  - no excluded key was written;
  - records written more than once number at most --max-duplicates (default 0).
Prints a one-line summary; exits 1 on any violation.
"""
import argparse
import sys


def events(records, updates, deletes):
    for i in range(records):
        yield i, i, "upsert"
    for j in range(updates):
        yield records + j, (j * 7919) % records, "upsert"
    for j in range(deletes):
        yield records + updates + j, (j * 104729) % records, "delete"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("captured")
    ap.add_argument("records", type=int)
    ap.add_argument("updates", type=int)
    ap.add_argument("deletes", type=int)
    ap.add_argument("--max-duplicates", type=int, default=0)
    ap.add_argument("--excluded-every", type=int, action="append", default=[])
    a = ap.parse_args()

    final = {}
    for v, k, op in events(a.records, a.updates, a.deletes):
        final[k] = (v, op)

    last_v, seen, duplicates, errors, lines = {}, set(), 0, [], 0
    with open(a.captured) as f:
        for line in f:
            lines += 1
            stream, key, op, v = line.rstrip("\n").split("\t")
            k, v = int(key[1:]), int(v)
            if (k, v) in seen:
                duplicates += 1
            seen.add((k, v))
            if k in last_v and v < last_v[k]:
                errors.append(f"{key}: version {v} written after {last_v[k]} (per-key order broken)")
            last_v[k] = max(v, last_v.get(k, v))
            if any(k % m == 0 for m in a.excluded_every):
                errors.append(f"{key}: excluded key was written")

    expected = 0
    for k, (v, op) in final.items():
        if any(k % m == 0 for m in a.excluded_every):
            continue
        expected += 1
        if last_v.get(k) != v:
            errors.append(f"k{k:07d}: last written version {last_v.get(k)}, expected {v} ({op})")
    if duplicates > a.max_duplicates:
        errors.append(f"{duplicates} duplicate deliveries, at most {a.max_duplicates} allowed")
    print(f"captured {lines} lines, {len(last_v)} keys, {expected} keys expected, {duplicates} duplicates")
    for e in errors[:20]:
        print("  " + e)
    if len(errors) > 20:
        print(f"  ... and {len(errors) - 20} more")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
