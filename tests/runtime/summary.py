"""summary.py - reads the JSON summary lines crmsyncd --exit-when-idle prints at exit: one per workflow
(its snapshot, with "id") and one with the daemon's CPU time ("cpu_user_s", "cpu_system_s").
Shared by the runtime and connector tests and the benchmarks."""
import json
import re

_LINE = re.compile(r"\[summary\] (\{.*\})$")


def summary_of(line):
    """The summary document of one log line, or None."""
    m = _LINE.search(line.rstrip("\n"))
    return json.loads(m.group(1)) if m else None


def summaries(text):
    """-> ({workflow id: summary}, cpu summary or None) from a whole log."""
    workflows, cpu = {}, None
    for line in text.splitlines():
        doc = summary_of(line)
        if doc is None:
            continue
        if "id" in doc:
            workflows[doc["id"]] = doc
        else:
            cpu = doc
    return workflows, cpu
