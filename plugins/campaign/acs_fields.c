/*
 * acs_fields.c - a target's fields as values are converted for them: each field of the resource's
 * metadata with its conversion (string, integer, real, boolean, date, timestamp, enumeration, object)
 * and its maximum length, resolved once when the metadata is read rather than for every record, and
 * found by name with a binary search.
 */
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

static int is_type(const char *type, const char *const *names)
{
    for (size_t i = 0; type && names[i]; i++)
        if (strcmp(type, names[i]) == 0)
            return 1;
    return 0;
}

static const char *const INT_TYPES[] = {"long", "short", "byte", "int64", "integer", "int", NULL};
static const char *const REAL_TYPES[] = {"double", "float", "number", "decimal", NULL};
static const char *const TIME_TYPES[] = {"datetime", "timestamp", "datetimetz", "datetimenotz", NULL};

enum acs_kind acs_kind_of(const json_t *spec)
{
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *res_type = json_string_value(json_object_get(spec, "resType"));
    if (type && res_type && strcmp(type, "number") == 0) /* "number" is high-level: resType says long or double */
        type = res_type;
    if (is_type(type, INT_TYPES))
        return ACS_KIND_INTEGER;
    if (is_type(type, REAL_TYPES))
        return ACS_KIND_REAL;
    if (is_type(type, TIME_TYPES))
        return ACS_KIND_TIMESTAMP;
    if (!type)
        return ACS_KIND_STRING;
    if (strcmp(type, "boolean") == 0)
        return ACS_KIND_BOOLEAN;
    if (strcmp(type, "date") == 0)
        return ACS_KIND_DATE;
    if (strcmp(type, "enumeration") == 0)
        return ACS_KIND_ENUM;
    if (strcmp(type, "object") == 0)
        return ACS_KIND_OBJECT;
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
