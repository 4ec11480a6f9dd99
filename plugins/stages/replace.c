/*
 * replace.c - the "replace" stage: (field, from, to) rules. When a record's field holds `from` (the
 * same JSON value, or the same text, so "1" matches 1 and a picklist label matches as written), the
 * destination gets `to` instead. The first matching rule of a field wins. Deletes pass untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "stages.h"

/* One rule, read from the settings once. */
struct rule {
    const char *field; /* borrowed from `rules` */
    const json_t *from, *to;
    char *from_text; /* `from` as text */
    size_t first;    /* the index of the first rule of the same field: the one that says it is done */
};

struct replace {
    struct stage_base base;
    json_t *rules; /* validated [{field, from, to}], which `rule` points into */
    struct rule *rule;
    size_t n;
};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "rules", CS_OPT_JSON, CS_OPT_REQUIRED, NULL,
     "[{field, from, to}]: write `to` where the field holds `from`"},
    {CS_SETTING_HEAD, NULL},
};

static void replace_destroy(void *inst)
{
    struct replace *r = inst;
    for (size_t i = 0; i < r->n; i++)
        free(r->rule[i].from_text);
    free(r->rule);
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
    if (!(r->rules = json_deep_copy(rules)) || !(r->rule = calloc(json_array_size(rules) + 1, sizeof *r->rule))) {
        replace_destroy(r);
        return CS_FATAL;
    }
    json_array_foreach (r->rules, i, rule) {
        struct rule *x = &r->rule[r->n];
        *x = (struct rule){json_string_value(json_object_get(rule, "field")), json_object_get(rule, "from"),
                           json_object_get(rule, "to"), stages_text(json_object_get(rule, "from")), r->n};
        for (size_t k = 0; k < r->n; k++)
            if (strcmp(r->rule[k].field, x->field) == 0) {
                x->first = r->rule[k].first;
                break;
            }
        r->n++;
        if (!x->from_text) {
            replace_destroy(r);
            return CS_FATAL;
        }
    }
    *inst = r;
    return CS_OK;
}

/* Does `v` hold the rule's `from`: the same JSON value, or the same text? */
static int matches(const json_t *v, const struct rule *rule)
{
    char *text;
    int eq;
    if (json_equal((json_t *)v, (json_t *)rule->from))
        return 1;
    if (json_is_string(v))
        return strcmp(json_string_value(v), rule->from_text) == 0;
    text = stages_text(v);
    eq = text && strcmp(text, rule->from_text) == 0;
    free(text);
    return eq;
}

#define FEW_RULES 64 /* a record's "field done" marks on the stack up to this many rules */

static cs_status replace_apply(void *inst, cs_record **rec)
{
    struct replace *r = inst;
    json_t *payload = cs_record_payload(*rec);
    unsigned char few[FEW_RULES] = {0}, *done = few;

    if (cs_record_op(*rec) == CS_OP_DELETE)
        return CS_OK;
    if (r->n > FEW_RULES && !(done = calloc(r->n, 1))) {
        r->base.host->set_reason(r->base.ctx, 0, 0, "out of memory");
        return CS_RETRY;
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct rule *rule = &r->rule[i];
        json_t *v = done[rule->first] ? NULL : stages_path_get(payload, rule->field);
        if (v && matches(v, rule)) {
            stages_path_set(payload, rule->field, json_deep_copy(rule->to));
            done[rule->first] = 1;
        }
    }
    if (done != few)
        free(done);
    return CS_OK;
}

const cs_stage stages_replace = {
    CS_HEAD(cs_stage),      .name = "replace",
    .version = "1.0",       .description = "replace given field values with others (\"#00FF00\" -> \"green\")",
    .settings = settings,   .create = replace_create,
    .apply = replace_apply, .destroy = replace_destroy,
};
