/*
 * acs_schema.c - the campaign connector's describe() (plugin ABI 1.2): the live metadata of a target
 * the connection writes, from the resource metadata it reads (reference B9), in the shape of
 * cs_connector.describe: "name" the Campaign resource, "key" the target's identification key, and per
 * field its type normalised from Campaign's ("native"): string/memo string; long, short, byte, int64,
 * integer, int integer; double, float double; decimal decimal; number by its resType; boolean boolean;
 * date date; datetime, timestamp, datetimetz, datetimenotz datetime; enumeration string with "choice"
 * and "labels" (its values by name); link "other" with "link" (the target resource); anything else
 * "other". Object fields (location) are listed by dotted path (location.city); "readonly" as the
 * metadata says; "unique" on the fields an identification filter of the resource resolves. Campaign
 * cannot count a resource cheaply: no "rows". Source streams and unknown targets are CS_NODATA.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

static const char *normal_type(const char *type, const char *res_type)
{
    static const char *const map[][2] = {
        {"string", "string"},     {"memo", "string"},     {"long", "integer"},      {"short", "integer"},
        {"byte", "integer"},      {"int64", "integer"},   {"integer", "integer"},   {"int", "integer"},
        {"double", "double"},     {"float", "double"},    {"decimal", "decimal"},   {"boolean", "boolean"},
        {"date", "date"},         {"datetime", "datetime"}, {"timestamp", "datetime"}, {"datetimetz", "datetime"},
        {"datetimenotz", "datetime"}, {"enumeration", "string"},
    };
    if (type && !strcmp(type, "number"))
        return res_type && strcmp(res_type, "number") ? normal_type(res_type, NULL) : "double";
    for (size_t i = 0; type && i < sizeof map / sizeof *map; i++)
        if (!strcmp(type, map[i][0]))
            return map[i][1];
    return "other";
}

/* An enumeration's values as {name: label} (values are names, or {name, label, value} objects). */
static json_t *enum_labels(const json_t *values)
{
    json_t *out = json_object(), *v;
    size_t i;
    json_array_foreach(values, i, v)
    {
        const char *name = json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "name"));
        const char *label = json_string_value(json_object_get(v, "label"));
        if (name)
            json_object_set_new(out, name, json_string(label ? label : name));
    }
    return out;
}

static void add_field(json_t *fields, const struct acs_target *t, const char *path, const json_t *spec)
{
    const char *type = json_string_value(json_object_get(spec, "type")), *sub;
    const json_t *content = json_object_get(spec, "content"), *s;
    json_t *f;
    size_t i;
    json_t *e;

    if (type && !strcmp(type, "object") && json_is_object(content) && json_object_size(content)) {
        json_object_foreach((json_t *)content, sub, s)
        {
            char *p = NULL;
            if (asprintf(&p, "%s.%s", path, sub) >= 0)
                add_field(fields, t, p, s);
            free(p);
        }
        return;
    }
    f = json_pack("{s:s, s:s}", "type", normal_type(type, json_string_value(json_object_get(spec, "resType"))),
                  "native", type ? type : "?");
    if (!f)
        return;
    if (type && !strcmp(type, "enumeration")) {
        json_object_set_new(f, "choice", json_true());
        json_object_set_new(f, "labels", enum_labels(json_object_get(spec, "values")));
    }
    if (type && !strcmp(type, "link") && json_is_string(json_object_get(spec, "resTarget")))
        json_object_set(f, "link", json_object_get(spec, "resTarget"));
    if (json_is_true(json_object_get(spec, "readOnly")))
        json_object_set_new(f, "readonly", json_true());
    json_array_foreach(t->filters, i, e) if (acs_filter_resolves(e, path))
    {
        json_object_set_new(f, "unique", json_true());
        break;
    }
    json_object_set_new(fields, path, f);
}

cs_status acs_describe_stream(void *inst, const char *stream, json_t **out)
{
    struct acs *a = inst;
    struct acs_target *t = acs_target_find(a, stream);
    const char *name;
    json_t *fields, *spec;
    cs_status st;

    *out = NULL;
    if (!t)
        return CS_NODATA;
    /* live metadata on every call: the core asks at start and again when Campaign refuses records, to
     * tell a schema changed under the mapping from a bad record */
    json_decref(t->meta);
    t->meta = NULL;
    if ((st = acs_describe_target(a, t)) != CS_OK) {
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
        return st;
    }
    fields = json_object();
    json_object_foreach(t->meta, name, spec) add_field(fields, t, name, spec);
    *out = json_pack("{s:s, s:s, s:o}", "name", t->resource, "key", t->key, "fields", fields);
    if (!*out) {
        a->host->set_reason(a->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    return CS_OK;
}
