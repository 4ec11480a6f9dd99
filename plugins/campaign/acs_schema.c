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
 * cannot count a resource cheaply: no "rows". Source streams are CS_NODATA. A name that is not a
 * target is described on demand as the Campaign resource of that name (profileAndServicesExt for the
 * profile and the resources linked to it, customResources otherwise), without "key" since none is
 * chosen yet; CS_NODATA when Campaign has no such resource. describe(NULL) lists what can be written:
 *   {"tables": [{"name": what a mapping's target names, "label", "resource": the Campaign resource,
 *                "api": the API it lives under, "configured": true for the targets under `resources`}]}
 * (the configured targets, the profile, the resources of the profileAndServicesExt listing and of the
 * customResources listing, when Campaign answers one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

static const char *normal_type(const char *type, const char *res_type)
{
    static const char *const map[][2] = {
        {"string", "string"},       {"memo", "string"},           {"long", "integer"},
        {"short", "integer"},       {"byte", "integer"},          {"int64", "integer"},
        {"integer", "integer"},     {"int", "integer"},           {"double", "double"},
        {"float", "double"},        {"decimal", "decimal"},       {"boolean", "boolean"},
        {"date", "date"},           {"datetime", "datetime"},     {"timestamp", "datetime"},
        {"datetimetz", "datetime"}, {"datetimenotz", "datetime"}, {"enumeration", "string"},
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
    json_array_foreach (values, i, v) {
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
        json_object_foreach ((json_t *)content, sub, s) {
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
    json_array_foreach (t->filters, i, e)
        if (acs_filter_resolves(e, path)) {
            json_object_set_new(f, "unique", json_true());
            break;
        }
    json_object_set_new(fields, path, f);
}

/* GET `url` as JSON into *doc (new): CS_NODATA when Campaign answers 404, else the failure with a->err. */
static cs_status fetch(struct acs *a, const char *url, const char *what, json_t **doc)
{
    struct cshttp_response r = {0};
    cs_status st = acs_call(a, "GET", url, NULL, 0, &r);
    *doc = NULL;
    if (st == CS_OK && r.status == 404)
        st = CS_NODATA;
    else if (st == CS_OK && (st = acs_classify(a, &r, what)) == CS_OK && !(*doc = cshttp_response_json(&r))) {
        acs_fail(a, r.status, "%s: the answer is not JSON", what);
        st = CS_RETRY;
    }
    if (st == CS_REJECT)
        st = CS_FATAL;
    cshttp_response_clear(&r);
    return st;
}

/* GET <base>/<api>: the resource listing of that API (*doc new; NULL when Campaign has none: answered
 * 404, or another refusal of the request itself, since no listing of customResources is documented). */
static cs_status api_listing(struct acs *a, const char *api, json_t **doc)
{
    char *url = NULL, *what = NULL;
    cs_status st = CS_RETRY;
    *doc = NULL;
    if (asprintf(&url, "%s/%s", a->base, api) >= 0 && asprintf(&what, "listing %s", api) >= 0)
        st = fetch(a, url, what, doc);
    else
        acs_fail(a, 0, "out of memory");
    free(url);
    free(what);
    if (st == CS_FATAL && a->err_http >= 400 && a->err_http < 500 && a->err_http != 401 && a->err_http != 403)
        st = CS_OK; /* refused as a request, not as credentials */
    return st == CS_NODATA ? CS_OK : st;
}

/* Append an entry of describe(NULL) for each collection a listing names. */
static void add_listed(json_t *list, const json_t *listing, const char *api)
{
    const char *name;
    json_t *item;
    json_object_foreach ((json_t *)listing, name, item) {
        const char *label = json_string_value(json_object_get(item, "help"));
        if (json_is_object(item))
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "name", name, "label",
                                                  label && *label ? label : name, "resource", name, "api", api));
    }
}

static cs_status list_tables(struct acs *a, json_t **out)
{
    json_t *ext = NULL, *custom = NULL, *list;
    cs_status st = api_listing(a, "profileAndServicesExt", &ext);
    if (st == CS_OK)
        st = api_listing(a, "customResources", &custom);
    if (st != CS_OK) {
        json_decref(ext);
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
        return st;
    }
    list = json_array();
    for (size_t i = 0; i < a->ntargets; i++)
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:b}", "name", a->targets[i].stream, "label",
                                        a->targets[i].stream, "resource", a->targets[i].resource, "configured", 1));
    json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "name", "profile", "label", "Profiles", "resource",
                                          "profile", "api", ext ? "profileAndServicesExt" : "profileAndServices"));
    add_listed(list, ext, "profileAndServicesExt");
    add_listed(list, custom, "customResources");
    json_decref(ext);
    json_decref(custom);
    *out = json_pack("{s:o}", "tables", list);
    return CS_OK;
}

/* Campaign resource names are letters, digits and "_" (so they go into a URL as they are). */
static int plain_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 128 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* The resource `name`'s metadata and filters (both new), from the API it lives under (*api). */
static cs_status resource_metadata(struct acs *a, const char *name, const char **api, json_t **meta, json_t **filters)
{
    json_t *ext = NULL;
    char *url = NULL;
    cs_status st = api_listing(a, "profileAndServicesExt", &ext);
    *meta = *filters = NULL;
    *api = !strcmp(name, "profile")     ? (ext ? "profileAndServicesExt" : "profileAndServices")
           : json_object_get(ext, name) ? "profileAndServicesExt"
                                        : "customResources";
    json_decref(ext);
    if (st == CS_OK && asprintf(&url, "%s/%s/resourceType/%s", a->base, *api, name) < 0) {
        url = NULL;
        acs_fail(a, 0, "out of memory");
        st = CS_RETRY;
    }
    if (st == CS_OK)
        st = fetch(a, url, "reading the resource metadata", meta);
    free(url);
    url =
        st == CS_OK ? acs_url(a, json_string_value(json_object_get(json_object_get(*meta, "filters"), "href"))) : NULL;
    if (url)
        st = fetch(a, url, "reading the resource's filters", filters);
    free(url);
    return st;
}

/* A resource no target names, described on demand (no "key": none is chosen). */
static cs_status describe_resource(struct acs *a, const char *name, json_t **out)
{
    struct acs_target t = {0};
    json_t *meta = NULL, *filters = NULL, *fields, *spec;
    const char *api = NULL, *field;
    cs_status st = plain_name(name) ? resource_metadata(a, name, &api, &meta, &filters) : CS_NODATA;
    if (st == CS_OK) {
        t.filters = acs_filters_list(filters); /* all add_field() reads of a target */
        fields = json_object();
        json_object_foreach (json_object_get(meta, "content"), field, spec)
            add_field(fields, &t, field, spec);
        *out = json_pack("{s:s, s:s, s:o}", "name", name, "api", api, "fields", fields);
    } else if (st != CS_NODATA) {
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
    }
    json_decref(t.filters);
    json_decref(meta);
    json_decref(filters);
    return st;
}

cs_status acs_describe_stream(void *inst, const char *stream, json_t **out)
{
    struct acs *a = inst;
    struct acs_target *t = stream ? acs_target_find(a, stream) : NULL;
    const char *name;
    json_t *fields, *spec;
    cs_status st;

    *out = NULL;
    if (!stream)
        return list_tables(a, out);
    if (!t) /* source streams (email-events.send, opt-outs) are no plain resource names: CS_NODATA */
        return describe_resource(a, stream, out);
    /* live metadata on every call: the core asks at start and again when Campaign refuses records, to
     * tell a schema changed under the mapping from a bad record */
    acs_target_set_meta(t, NULL);
    a->docs_live = 1;
    st = acs_describe_target(a, t);
    a->docs_live = 0;
    if (st != CS_OK) {
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
        return st;
    }
    fields = json_object();
    json_object_foreach (t->meta, name, spec)
        add_field(fields, t, name, spec);
    *out = json_pack("{s:s, s:s, s:o}", "name", t->resource, "key", t->key, "fields", fields);
    if (!*out) {
        a->host->set_reason(a->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    return CS_OK;
}
