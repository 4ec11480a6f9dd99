/*
 * replace.c - the "replace" stage: (field, from, to) rules. When a record's field holds `from` (the
 * same JSON value, or the same text, so "1" matches 1 and a picklist label matches as written), the
 * destination gets `to` instead. The first matching rule of a field wins. Deletes pass untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "stages.h"

struct replace {
    struct stage_base base;
    json_t *rules; /* validated [{field, from, to}] */
};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "rules", CS_OPT_JSON, CS_OPT_REQUIRED, NULL,
     "[{field, from, to}]: write `to` where the field holds `from`"},
    {CS_SETTING_HEAD, NULL},
};

static void replace_destroy(void *inst)
{
    struct replace *r = inst;
    json_decref(r->rules);
    free(r);
}

static cs_status replace_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    const json_t *rules = json_object_get(o, "rules"), *rule;
    struct replace *r;
    size_t i;

    if (!json_is_array(rules)) {
        host->set_reason(ctx, 0, 0, "rules must be a list of {field, from, to}");
        return CS_FATAL;
    }
    json_array_foreach (rules, i, rule) {
        if (!json_string_value(json_object_get(rule, "field")) || !json_object_get(rule, "from") ||
            !json_object_get(rule, "to")) {
            host->set_reason(ctx, 0, 0, "rules[%zu] needs field, from and to", i);
            return CS_FATAL;
        }
    }
    if (!(r = calloc(1, sizeof *r)))
        return CS_FATAL;
    r->base = (struct stage_base){host, ctx};
    r->rules = json_deep_copy(rules);
    *inst = r;
    return CS_OK;
}

static int same(const json_t *a, const json_t *b)
{
    char *x, *y;
    int eq;
    if (json_equal((json_t *)a, (json_t *)b))
        return 1;
    x = stages_text(a);
    y = stages_text(b);
    eq = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}

static cs_status replace_apply(void *inst, cs_record **rec)
{
    struct replace *r = inst;
    json_t *payload = cs_record_payload(*rec), *rule, *done = json_object();
    size_t i;

    if (cs_record_op(*rec) == CS_OP_DELETE) {
        json_decref(done);
        return CS_OK;
    }
    json_array_foreach (r->rules, i, rule) {
        const char *field = json_string_value(json_object_get(rule, "field"));
        json_t *v = stages_path_get(payload, field);
        if (v && !json_object_get(done, field) && same(v, json_object_get(rule, "from"))) {
            stages_path_set(payload, field, json_deep_copy(json_object_get(rule, "to")));
            json_object_set_new(done, field, json_true());
        }
    }
    json_decref(done);
    return CS_OK;
}

const cs_stage stages_replace = {
    CS_HEAD(cs_stage),      .name = "replace",
    .version = "1.0",       .description = "replace given field values with others (\"#00FF00\" -> \"green\")",
    .settings = settings,   .create = replace_create,
    .apply = replace_apply, .destroy = replace_destroy,
};
