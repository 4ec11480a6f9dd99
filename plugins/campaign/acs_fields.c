/*
 * acs_fields.c - a target's fields as values are converted for them: each field of the resource's
 * metadata with its conversion (string, integer, real, boolean, date, timestamp, enumeration, object)
 * and its maximum length, resolved once when the metadata is read rather than for every record, and
 * found by name with a binary search.
 */
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

/* Campaign's metadata types and how values are converted for them (any other type: a string). */
static const struct {
    const char *type;
    enum acs_kind kind;
} KINDS[] = {
    {"long", ACS_KIND_INTEGER},         {"short", ACS_KIND_INTEGER},
    {"byte", ACS_KIND_INTEGER},         {"int64", ACS_KIND_INTEGER},
    {"integer", ACS_KIND_INTEGER},      {"int", ACS_KIND_INTEGER},
    {"double", ACS_KIND_REAL},          {"float", ACS_KIND_REAL},
    {"number", ACS_KIND_REAL},          {"decimal", ACS_KIND_REAL},
    {"boolean", ACS_KIND_BOOLEAN},      {"date", ACS_KIND_DATE},
    {"datetime", ACS_KIND_TIMESTAMP},   {"timestamp", ACS_KIND_TIMESTAMP},
    {"datetimetz", ACS_KIND_TIMESTAMP}, {"datetimenotz", ACS_KIND_TIMESTAMP},
    {"enumeration", ACS_KIND_ENUM},     {"object", ACS_KIND_OBJECT},
};

enum acs_kind acs_kind_of(const json_t *spec)
{
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *res_type = json_string_value(json_object_get(spec, "resType"));
    if (type && res_type && strcmp(type, "number") == 0) /* "number" is high-level: resType says long or double */
        type = res_type;
    for (size_t i = 0; type && i < sizeof KINDS / sizeof *KINDS; i++)
        if (strcmp(type, KINDS[i].type) == 0)
            return KINDS[i].kind;
    return ACS_KIND_STRING;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(((const struct acs_field *)x)->name, ((const struct acs_field *)y)->name);
}

static void plan_free(struct acs_target *t)
{
    free(t->plan);
    t->plan = NULL;
    t->nplan = 0;
}

int acs_target_set_meta(struct acs_target *t, json_t *meta)
{
    const char *name;
    json_t *spec;
    json_decref(t->meta);
    t->meta = meta;
    plan_free(t);
    if (!json_is_object(meta) || !json_object_size(meta))
        return 0;
    if (!(t->plan = calloc(json_object_size(meta), sizeof *t->plan))) {
        json_decref(t->meta); /* not described: described again on the next use */
        t->meta = NULL;
        return -1;
    }
    json_object_foreach (meta, name, spec) {
        struct acs_field *f = &t->plan[t->nplan++];
        f->name = name; /* the metadata's key, which t->meta holds as long as the plan */
        f->spec = spec;
        f->kind = acs_kind_of(spec);
        f->max_length = json_integer_value(json_object_get(spec, "length"));
    }
    qsort(t->plan, t->nplan, sizeof *t->plan, by_name);
    return 0;
}

const struct acs_field *acs_field_find(const struct acs_target *t, const char *name, size_t len)
{
    size_t lo = 0, hi = t->nplan;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *n = t->plan[mid].name;
        int c = strncmp(n, name, len);
        if (c == 0 && n[len])
            c = 1; /* the field's name is longer: it sorts after */
        if (c == 0)
            return &t->plan[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
