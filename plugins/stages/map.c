/*
 * map.c - the "map" stage: builds the destination payload from (source, target, apply_updates) field
 * mappings; targets may be nested paths ("location.address2"). Each target is fed by one source only.
 * A field with apply_updates off is written on a full load or replay (a record marked "initial") and
 * left out of incremental updates. Fields not mapped are dropped. Deletes pass untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "stages.h"

/* One field mapping, read from the settings once. */
struct field {
    const char *source, *target; /* borrowed from `fields` */
    int apply_updates;
};

struct map {
    struct stage_base base;
    json_t *fields; /* validated [{source, target, apply_updates}], which `field` points into */
    struct field *field;
    size_t n;
};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "fields", CS_OPT_JSON, CS_OPT_REQUIRED, NULL,
     "[{source, target, apply_updates}]: source field -> destination field (nested paths allowed)"},
    {CS_SETTING_HEAD, NULL},
};

static void map_destroy(void *inst)
{
    struct map *m = inst;
    json_decref(m->fields);
    free(m->field);
    free(m);
}

static cs_status map_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    const json_t *fields = json_object_get(o, "fields"), *f;
    json_t *targets = json_object(), *normalized = json_array();
    struct map *m;
    size_t i;

    if (!json_is_array(fields) || json_array_size(fields) == 0) {
        host->set_reason(ctx, 0, 0, "fields must be a non-empty list of {source, target, apply_updates}");
        goto fail;
    }
    json_array_foreach (fields, i, f) {
        const char *source = json_string_value(json_object_get(f, "source"));
        const char *target = json_string_value(json_object_get(f, "target"));
        const json_t *apply = json_object_get(f, "apply_updates");
        const json_t *first;
        if (!source || !*source || !target || !*target || (apply && !json_is_boolean(apply))) {
            host->set_reason(ctx, 0, 0, "fields[%zu] needs source and target names (apply_updates: true/false)", i);
            goto fail;
        }
        if ((first = json_object_get(targets, target))) {
            host->set_reason(ctx, 0, 0, "fields[%zu]: target %s is already fed by %s; map one source field onto it", i,
                             target, json_string_value(first));
            goto fail;
        }
        json_object_set_new(targets, target, json_string(source));
        json_array_append_new(normalized, json_pack("{s:s, s:s, s:b}", "source", source, "target", target,
                                                    "apply_updates", !apply || json_is_true(apply)));
    }
    if (!(m = calloc(1, sizeof *m)))
        goto fail;
    if (!(m->field = calloc(json_array_size(normalized), sizeof *m->field))) {
        free(m);
        goto fail;
    }
    m->base = (struct stage_base){host, ctx};
    m->fields = normalized;
    json_array_foreach (normalized, i, f)
        m->field[m->n++] = (struct field){json_string_value(json_object_get(f, "source")),
                                          json_string_value(json_object_get(f, "target")),
                                          json_is_true(json_object_get(f, "apply_updates"))};
    json_decref(targets);
    *inst = m;
    return CS_OK;
fail:
    json_decref(targets);
    json_decref(normalized);
    return CS_FATAL;
}

static cs_status map_apply(void *inst, cs_record **rec)
{
    struct map *m = inst;
    const json_t *payload = cs_record_payload(*rec);
    json_t *out;
    int initial = cs_record_is_initial(*rec);

    if (cs_record_op(*rec) == CS_OP_DELETE)
        return CS_OK;
    out = json_object();
    for (size_t i = 0; i < m->n; i++) {
        const struct field *f = &m->field[i];
        json_t *v = initial || f->apply_updates ? stages_path_get(payload, f->source) : NULL;
        /* a scalar is shared (no stage changes a value in place); an object or array is copied, as a
         * later target path may write into it */
        if (v)
            stages_path_set(out, f->target, json_is_object(v) || json_is_array(v) ? json_deep_copy(v) : json_incref(v));
    }
    cs_record_set_payload(*rec, out);
    return CS_OK;
}

const cs_stage stages_map = {
    CS_HEAD(cs_stage),    .name = "map",
    .version = "1.0",     .description = "rename source fields to destination fields, with apply_updates per field",
    .settings = settings, .create = map_create,
    .apply = map_apply,   .destroy = map_destroy,
};
