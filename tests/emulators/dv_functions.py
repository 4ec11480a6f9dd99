# dv_functions: the Web API functions the emulator serves besides WhoAmI: RetrieveTotalRecordCount,
# the row counts of tables by logical name (Microsoft's "RetrieveTotalRecordCount Function": parameter
# EntityNames, a collection of logical names given inline, EntityNames=['contact'], or through a
# parameter alias, EntityNames=@p1?@p1=["contact"]; the answer a RetrieveTotalRecordCountResponse whose
# EntityRecordCountCollection lists Keys and Values in the order asked).
# [I] The service answers from a snapshot taken within the last 24 hours; the emulator counts live, but
# for a table config `record_counts` names: the count it gives stands for that snapshot (a table reported
# over 15,000,000 rows without holding them).
import re

from dv_http import odata_response
from dv_values import dv_error

CALL = re.compile(r"^RetrieveTotalRecordCount\(\s*EntityNames\s*=\s*(.*?)\s*\)$", re.S)


def _names(text, query):
    if text.startswith("@"):
        if text not in query:
            raise dv_error(400, "The parameter alias '%s' is not defined in the query string." % text, "0x80060888")
        text = query[text].strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise dv_error(400, "The value of parameter 'EntityNames' is not a collection: %s" % text, "0x80060888")
    names = []
    for part in text[1:-1].split(","):
        part = part.strip()
        if len(part) < 2 or part[0] != part[-1] or part[0] not in "'\"":
            raise dv_error(400, "The value of parameter 'EntityNames' is not a collection of strings: %s" % text,
                           "0x80060888")
        names.append(part[1:-1])
    return names


def handle(emu, req, ctx, rest):
    """rest: the path after /api/data/v9.x/, starting with RetrieveTotalRecordCount."""
    req.kind = "function"
    m = CALL.match(rest)
    if not m:
        raise dv_error(400, "RetrieveTotalRecordCount takes one parameter, EntityNames.", "0x80060888")
    if req.method != "GET":
        raise dv_error(405, "The requested resource does not support http method '%s'." % req.method, "0x80060888")
    names = _names(m.group(1), req.query)
    with emu.lock:
        values = []
        for name in names:
            t = emu.store.tables.get(name)
            if t is None:  # [I] status: the message is the platform's QueryBuilderNoEntity
                raise dv_error(400, "The entity with a name = '%s' with namemapping = 'Logical' was not found in the "
                                    "MetadataCache." % name, "0x80041102")
            values.append(int((emu.config.get("record_counts") or {}).get(name, len(t.rows))))
    return odata_response(200, {
        "@odata.context": ctx.context("Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse"),
        "EntityRecordCountCollection": {"Count": len(names), "IsReadOnly": False, "Keys": names, "Values": values}})
