/*
 * filter.c - the "filter" stage: rules (field, operator, value) combined with all or any; a record
 * that does not pass is dropped, or, with delete_filtered, turned into a delete of its key so the
 * destination drops it too. Operators: eq ne gt ge lt le contains startswith endswith in null notnull,
 * comparing numbers as numbers, booleans as booleans and anything else as text (ISO dates and times
 * order correctly as text). Deletes from the source pass untouched, or are dropped with
 * apply_deletes: false (the destination keeps the record).
 */
#include <stdlib.h>
#include <string.h>

#include "mapping/vocabulary.h"
#include "stages.h"

#define AS_OP(id, name, label) OP_##id,
enum op { CS_FILTER_OPERATORS(AS_OP) };
static const char *const op_names[] = {CS_FILTER_OPERATORS(CS_VOCABULARY_NAME) NULL};

struct rule {
    char *field;
    enum op op;
    json_t *value;
};

struct filter {
    struct stage_base base;
    struct rule *rules;
    size_t n;
    int any, delete_filtered, apply_deletes;
};

static const char *const match_names[] = {CS_FILTER_MATCHES(CS_VOCABULARY_NAME) NULL};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "rules", CS_OPT_JSON, 0, "[]",
     "[{field, op, value}]; op:" CS_FILTER_OPERATORS(CS_VOCABULARY_WORD)},
    {CS_SETTING_HEAD, "match", CS_OPT_STRING, 0, "all", "all: every rule must pass; any: one is enough",
     .choices = match_names},
    {CS_SETTING_HEAD, "delete_filtered", CS_OPT_BOOL, 0, "false",
     "a record that does not pass deletes its key at the destination"},
    {CS_SETTING_HEAD, "apply_deletes", CS_OPT_BOOL, 0, "true",
     "false: deletes at the source are dropped, the destination keeps the record"},
    {CS_SETTING_HEAD, NULL},
};

static void filter_destroy(void *inst)
{
    struct filter *f = inst;
    for (size_t i = 0; i < f->n; i++) {
        free(f->rules[i].field);
        json_decref(f->rules[i].value);
    }
    free(f->rules);
    free(f);
}

/* Parse rule i; NULL or the reason it is wrong (static text). */
static const char *parse_rule(const json_t *spec, struct rule *r)
{
    const char *field = json_string_value(json_object_get(spec, "field"));
    const char *op = json_string_value(json_object_get(spec, "op"));
    json_t *value = json_object_get(spec, "value");
    size_t k = 0;

    if (!field || !*field)
        return "needs a field";
    while (op && op_names[k] && strcmp(op_names[k], op) != 0)
        k++;
    if (!op || !op_names[k])
        return "needs an op: eq ne gt ge lt le contains startswith endswith in null notnull";
    if (k != OP_NULL && k != OP_NOTNULL && !value)
        return "needs a value";
    if (k == OP_IN && !json_is_array(value))
        return "\"in\" needs a list value";
    r->field = strdup(field);
    r->op = (enum op)k;
    r->value = json_incref(value);
    return r->field ? NULL : "out of memory";
}

static cs_status filter_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    const json_t *rules = json_object_get(o, "rules");
    const char *match = json_string_value(json_object_get(o, "match"));
    struct filter *f = calloc(1, sizeof *f);

    if (!f)
        return CS_FATAL;
    f->base = (struct stage_base){host, ctx};
    f->any = match && strcmp(match, "any") == 0;
    f->delete_filtered = json_is_true(json_object_get(o, "delete_filtered"));
    f->apply_deletes = !json_is_false(json_object_get(o, "apply_deletes"));
    if (!json_is_array(rules)) {
        host->set_reason(ctx, 0, 0, "rules must be a list of {field, op, value}");
        filter_destroy(f);
        return CS_FATAL;
    }
    f->rules = calloc(json_array_size(rules) + 1, sizeof *f->rules);
    for (size_t i = 0; f->rules && i < json_array_size(rules); i++, f->n++) {
        const char *why = parse_rule(json_array_get(rules, i), &f->rules[i]);
        if (why) {
            host->set_reason(ctx, 0, 0, "rules[%zu] %s", i, why);
            filter_destroy(f);
            return CS_FATAL;
        }
    }
    *inst = f;
    return f->rules ? CS_OK : CS_FATAL;
}

/* -1, 0, 1 like strcmp, numbers and booleans by value, else as text. */
static int compare(const json_t *a, const json_t *b)
{
    char *x, *y;
    int c;
    if (json_is_number(a) && json_is_number(b)) {
        double d = json_number_value(a) - json_number_value(b);
        return d < 0 ? -1 : d > 0;
    }
    if (json_is_boolean(a) && json_is_boolean(b))
        return json_is_true(a) - json_is_true(b);
    x = stages_text(a);
    y = stages_text(b);
    c = x && y ? strcmp(x, y) : 1;
    free(x);
    free(y);
    return c < 0 ? -1 : c > 0;
}

static int text_test(const json_t *v, const json_t *want, enum op op)
{
    char *x = stages_text(v), *y = stages_text(want);
    size_t lx = x ? strlen(x) : 0, ly = y ? strlen(y) : 0;
    int ok = x && y &&
             (op == OP_CONTAINS     ? strstr(x, y) != NULL
              : op == OP_STARTSWITH ? strncmp(x, y, ly) == 0
                                    : lx >= ly && strcmp(x + lx - ly, y) == 0);
    free(x);
    free(y);
    return ok;
}

static int passes(const struct rule *r, const json_t *payload)
{
    const json_t *v = stages_path_get(payload, r->field), *item;
    int present = v && !json_is_null(v);
    size_t i;
    switch (r->op) {
    case OP_NULL:
        return !present;
    case OP_NOTNULL:
        return present;
    case OP_IN:
        json_array_foreach (r->value, i, item) {
            if (present && compare(v, item) == 0)
                return 1;
        }
        return 0;
    case OP_CONTAINS:
    case OP_STARTSWITH:
    case OP_ENDSWITH:
        return present && text_test(v, r->value, r->op);
    case OP_NE:
        return !present || compare(v, r->value) != 0;
    default: {
        int c;
        if (!present)
            return 0;
        c = compare(v, r->value);
        return r->op == OP_EQ   ? c == 0
               : r->op == OP_GT ? c > 0
               : r->op == OP_GE ? c >= 0
               : r->op == OP_LT ? c < 0
                                : c <= 0;
    }
    }
}

static cs_status filter_apply(void *inst, cs_record **rec)
{
    struct filter *f = inst;
    const json_t *payload = cs_record_payload(*rec);
    int ok = !f->any || f->n == 0;
    if (cs_record_op(*rec) == CS_OP_DELETE) {
        if (f->apply_deletes)
            return CS_OK;
        json_decref(*rec);
        *rec = NULL;
        return CS_OK;
    }
    for (size_t i = 0; i < f->n; i++) {
        int p = passes(&f->rules[i], payload);
        if (f->any && p) {
            ok = 1;
            break;
        }
        if (!f->any && !p) {
            ok = 0;
            break;
        }
    }
    if (ok)
        return CS_OK;
    if (f->delete_filtered) {
        cs_record_set_op(*rec, CS_OP_DELETE);
        cs_record_set_payload(*rec, json_object());
        return CS_OK;
    }
    json_decref(*rec);
    *rec = NULL;
    return CS_OK;
}

const cs_stage stages_filter = {
    CS_HEAD(cs_stage),     .name = "filter",
    .version = "1.0",      .description = "drop (or delete at the destination) records that do not pass field rules",
    .settings = settings,  .create = filter_create,
    .apply = filter_apply, .destroy = filter_destroy,
};
