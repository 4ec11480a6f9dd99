/*
 * preflight_check.c - one line of a connector's preflight answer (see preflight_check.h).
 */
#include "preflight_check.h"

#include <stdio.h>
#include <stdlib.h>

json_t *cs_preflight_vadd(json_t *out, const char *workflow, const char *check, int ok, const char *fix,
                          const char *fmt, va_list ap)
{
    char *detail = NULL;
    json_t *item;
    if (vasprintf(&detail, fmt, ap) < 0)
        detail = NULL;
    item = json_pack("{s:s, s:b, s:s}", "check", check, "ok", ok, "detail", detail ? detail : "(out of memory)");
    free(detail);
    if (!item)
        return NULL;
    if (workflow)
        json_object_set_new(item, "workflow", json_string(workflow));
    if (!ok && fix)
        json_object_set_new(item, "fix", json_string(fix));
    json_array_append_new(out, item);
    return item;
}

json_t *cs_preflight_add(json_t *out, const char *workflow, const char *check, int ok, const char *fix, const char *fmt,
                         ...)
{
    va_list ap;
    json_t *item;
    va_start(ap, fmt);
    item = cs_preflight_vadd(out, workflow, check, ok, fix, fmt, ap);
    va_end(ap);
    return item;
}
