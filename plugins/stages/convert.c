/*
 * convert.c - the "convert" stage: turns fields into the destination's primitive types: integer,
 * float, double, boolean, string, date (YYYY-MM-DD), datetime (ISO 8601). A value that cannot be
 * converted rejects the record with the field and the value named (a dead letter, never a silent
 * null). Missing and null values stay as they are. Deletes pass untouched.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mapping/vocabulary.h"
#include "stages.h"

#define AS_TYPE(id, name, label) T_##id,
enum type { CS_CONVERT_TYPES(AS_TYPE) };
static const char *const type_names[] = {CS_CONVERT_TYPES(CS_VOCABULARY_NAME) NULL};

struct convert {
    struct stage_base base;
    json_t *types; /* field -> type index */
};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "types", CS_OPT_JSON, CS_OPT_REQUIRED, NULL,
     "{field: type}; types:" CS_CONVERT_TYPES(CS_VOCABULARY_WORD)},
    {CS_SETTING_HEAD, NULL},
};

static void convert_destroy(void *inst)
{
    struct convert *c = inst;
    json_decref(c->types);
    free(c);
}

static cs_status convert_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    const json_t *types = json_object_get(o, "types"), *t;
    const char *field;
    struct convert *c;

    if (!json_is_object(types)) {
        host->set_reason(ctx, 0, 0, "types must map field names to types");
        return CS_FATAL;
    }
    if (!(c = calloc(1, sizeof *c)))
        return CS_FATAL;
    c->base = (struct stage_base){host, ctx};
    c->types = json_object();
    json_object_foreach ((json_t *)types, field, t) {
        size_t k = 0;
        while (type_names[k] && (!json_is_string(t) || strcmp(type_names[k], json_string_value(t)) != 0))
            k++;
        if (!type_names[k]) {
            host->set_reason(ctx, 0, 0,
                             "types.%s: unknown type; use integer, float, double, boolean, string, date "
                             "or datetime",
                             field);
            convert_destroy(c);
            return CS_FATAL;
        }
        json_object_set_new(c->types, field, json_integer((json_int_t)k));
    }
    *inst = c;
    return CS_OK;
}

/* "YYYY-MM-DD" at the start of s. */
static int date_prefix(const char *s)
{
    static const char pattern[] = "dddd-dd-dd";
    for (size_t i = 0; i < sizeof pattern - 1; i++)
        if (pattern[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pattern[i])
            return 0;
    return 1;
}

/* "YYYY-MM-DDTHH:MM" (or a space for T) at the start of s, then seconds, fraction and zone as given. */
static int datetime_form(const char *s)
{
    return date_prefix(s) && (s[10] == 'T' || s[10] == ' ') && isdigit((unsigned char)s[11]) &&
           isdigit((unsigned char)s[12]) && s[13] == ':' && isdigit((unsigned char)s[14]) &&
           isdigit((unsigned char)s[15]);
}

/* Each to_X below: `v` converted (new), or NULL when it cannot become X. */

static json_t *to_string(const json_t *v)
{
    char *text;
    json_t *out;
    if (json_is_string(v))
        return json_incref((json_t *)v);
    text = stages_text(v);
    out = text ? json_string(text) : NULL;
    free(text);
    return out;
}

/* An integer, a whole real within 2^53, a boolean as 0/1, or decimal digits. */
static json_t *to_integer(const json_t *v)
{
    const char *s = json_string_value(v);
    char *end;
    long long n;
    if (json_is_integer(v))
        return json_incref((json_t *)v);
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
        return json_integer((json_int_t)json_real_value(v));
    if (json_is_boolean(v))
        return json_integer(json_is_true(v));
    if (!s || !*s)
        return NULL;
    errno = 0;
    n = strtoll(s, &end, 10);
    return !errno && !*end ? json_integer(n) : NULL;
}

/* Any number, or the text of a finite one. */
static json_t *to_real(const json_t *v)
{
    const char *s = json_string_value(v);
    char *end;
    double d;
    if (json_is_number(v))
        return json_real(json_number_value(v));
    if (!s || !*s)
        return NULL;
    d = strtod(s, &end);
    return !*end && isfinite(d) ? json_real(d) : NULL;
}

/* A boolean, 0 or 1, or true/false, yes/no, 1/0 in any case. */
static json_t *to_boolean(const json_t *v)
{
    const char *s = json_string_value(v);
    if (json_is_boolean(v))
        return json_incref((json_t *)v);
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        return json_boolean(json_integer_value(v));
    if (s && (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes")))
        return json_true();
    if (s && (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no")))
        return json_false();
    return NULL;
}

/* The converted value (new) or NULL when `v` cannot become `type`. */
static json_t *to_type(const json_t *v, enum type type)
{
    const char *s = json_string_value(v);
    switch (type) {
    case T_STRING:
        return to_string(v);
    case T_INTEGER:
        return to_integer(v);
    case T_FLOAT:
    case T_DOUBLE:
        return to_real(v);
    case T_BOOLEAN:
        return to_boolean(v);
    case T_DATE:
        return s && date_prefix(s) ? json_stringn(s, 10) : NULL;
    case T_DATETIME:
        return s && datetime_form(s) ? json_incref((json_t *)v) : NULL;
    }
    return NULL;
}

static cs_status convert_apply(void *inst, cs_record **rec)
{
    struct convert *c = inst;
    json_t *payload = cs_record_payload(*rec), *t;
    const char *field;

    if (cs_record_op(*rec) == CS_OP_DELETE)
        return CS_OK;
    json_object_foreach (c->types, field, t) {
        json_t *v = stages_path_get(payload, field), *out;
        enum type type = (enum type)json_integer_value(t);
        if (!v || json_is_null(v))
            continue;
        if (!(out = to_type(v, type))) {
            char *text = stages_text(v);
            c->base.host->set_reason(c->base.ctx, 0, 0, "field %s: %s is not a valid %s", field, text ? text : "?",
                                     type_names[type]);
            free(text);
            return CS_REJECT;
        }
        stages_path_set(payload, field, out);
    }
    return CS_OK;
}

const cs_stage stages_convert = {
    CS_HEAD(cs_stage),
    .name = "convert",
    .version = "1.0",
    .description = "convert fields to the destination's types; unconvertible values are rejected",
    .settings = settings,
    .create = convert_create,
    .apply = convert_apply,
    .destroy = convert_destroy,
};
