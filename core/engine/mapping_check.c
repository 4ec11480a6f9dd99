/*
 * mapping_check.c - table mappings against live metadata (see mapping_check.h).
 */
#include "mapping_check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "config/mapping.h"
#include "util/util.h"

/* Conversions Adobe's integration documents between the primitive types, plus anything into a string. */
int cs_mapping_types_compatible(const char *from, const char *to)
{
    static const struct {
        const char *from, *to;
    } ok[] = {{"boolean", "boolean"},   {"boolean", "integer"}, {"integer", "integer"}, {"integer", "decimal"},
              {"integer", "double"},    {"integer", "boolean"}, {"decimal", "decimal"}, {"decimal", "double"},
              {"double", "double"},     {"double", "decimal"},  {"date", "date"},       {"date", "datetime"},
              {"datetime", "datetime"}, {"datetime", "date"},   {"string", "other"},    {"integer", "other"}};
    if (!from || !to || strcmp(to, "string") == 0)
        return 1;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strcmp(ok[i].from, from) == 0 && strcmp(ok[i].to, to) == 0)
            return 1;
    return 0;
}

struct check {
    const json_t *mapping, *source, *target; /* the describe() answers, NULL when not described */
    size_t index;                            /* of the mapping in the definition */
    char *why, *path;
};

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A field of a describe() answer; a Dataverse lookup named as its value column (`_parentid_value`)
 * is found under its logical name (`parentid`). */
static const json_t *field(const json_t *described, const char *name)
{
    const json_t *fields = json_object_get(described, "fields"), *f = json_object_get(fields, name);
    size_t n = name ? strlen(name) : 0;
    if (!f && n > 7 && name[0] == '_' && strcmp(name + n - 6, "_value") == 0) {
        char *logical = cs_xasprintf("%.*s", (int)(n - 7), name + 1);
        f = json_object_get(fields, logical);
        free(logical);
    }
    return f;
}

static void problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Every problem's text starts with the member it concerns ("fields[2]: ...", "key.target ..."), which
 * makes its path below the definition ("mappings[0].fields[2]"). */
static void problem(struct check *c, const char *fmt, ...)
{
    va_list ap;
    char *text;
    if (c->why)
        return;
    va_start(ap, fmt);
    text = cs_xvasprintf(fmt, ap);
    va_end(ap);
    c->why = cs_xasprintf("mapping %s -> %s: %s", str(c->mapping, "stream"), str(c->mapping, "target"), text);
    c->path = cs_xasprintf("mappings[%zu].%.*s", c->index, (int)strcspn(text, " :"), text);
    free(text);
}

/* The type a source column is written with: a choice read as its label is text; a field given an
 * explicit conversion type has that type. */
static const char *written_type(const struct check *c, const json_t *fmap, const json_t *col)
{
    const char *picklists = str(c->mapping, "picklists");
    if (fmap && str(fmap, "type"))
        return str(fmap, "type");
    if (json_is_true(json_object_get(col, "choice")) && picklists && strcmp(picklists, "label") == 0)
        return "string";
    return str(col, "type");
}

static int replaced(const json_t *mapping, const char *source)
{
    const json_t *r;
    size_t i;
    json_array_foreach (json_object_get(mapping, "replacements"), i, r) {
        if (strcmp(str(r, "field"), source) == 0)
            return 1;
    }
    return 0;
}

static void check_key(struct check *c)
{
    const json_t *key = json_object_get(c->mapping, "key");
    const char *src = str(key, "source"), *tgt = str(key, "target");
    const json_t *tf = field(c->target, tgt);
    if (c->source && str(c->source, "key") && strcmp(str(c->source, "key"), src) != 0)
        problem(c, "key.source \"%s\" is not the primary key of Dynamics 365 table %s (it is \"%s\")", src,
                str(c->source, "name") ? str(c->source, "name") : str(c->mapping, "stream"), str(c->source, "key"));
    else if (c->target && !tf)
        problem(c, "key.target \"%s\" is not a field of Campaign resource %s", tgt,
                str(c->target, "name") ? str(c->target, "name") : str(c->mapping, "target"));
    else if (c->target && !json_is_true(json_object_get(tf, "unique")) &&
             (!str(c->target, "key") || strcmp(str(c->target, "key"), tgt) != 0))
        problem(c,
                "key.target \"%s\" cannot identify a record of Campaign resource %s: define it as a custom "
                "identification key (with its filter) in Campaign, or choose a field that is one",
                tgt, str(c->target, "name") ? str(c->target, "name") : str(c->mapping, "target"));
}

static void check_fields(struct check *c)
{
    const json_t *f;
    size_t i;
    json_array_foreach (json_object_get(c->mapping, "fields"), i, f) {
        const char *src = str(f, "source"), *tgt = str(f, "target");
        const json_t *col = field(c->source, src), *tf = field(c->target, tgt);
        const char *from, *to;
        if (c->source && !col) {
            problem(c,
                    "fields[%zu]: Dynamics 365 table %s has no column \"%s\" (removed or renamed? fix the "
                    "mapping, then start the workflow; queued records are kept)",
                    i, str(c->mapping, "stream"), src);
            return;
        }
        if (c->target && !tf) {
            problem(c,
                    "fields[%zu]: Campaign resource %s has no field \"%s\" (removed or renamed? fix the "
                    "mapping, then start the workflow; queued records are kept)",
                    i, str(c->mapping, "target"), tgt);
            return;
        }
        if (c->target && json_is_true(json_object_get(tf, "readonly"))) {
            problem(c, "fields[%zu]: Campaign field \"%s\" is read-only", i, tgt);
            return;
        }
        from = col ? written_type(c, f, col) : NULL;
        to = str(tf, "type");
        if (!replaced(c->mapping, src) && !cs_mapping_types_compatible(from, to)) {
            problem(c,
                    "fields[%zu]: %s (%s) cannot be written to %s (%s); map it to a field of a compatible "
                    "type, or to a string field",
                    i, src, from, tgt, to);
            return;
        }
    }
}

static void check_filters(struct check *c)
{
    const json_t *r;
    size_t i;
    json_array_foreach (json_object_get(json_object_get(c->mapping, "filters"), "rules"), i, r) {
        if (c->source && !field(c->source, str(r, "field"))) {
            problem(c, "filters.rules[%zu]: Dynamics 365 table %s has no column \"%s\"", i, str(c->mapping, "stream"),
                    str(r, "field"));
            return;
        }
    }
}

/* describe() one side; CS_NODATA leaves *out NULL (not checked). */
static cs_status describe_side(cs_describe_fn describe, void *arg, struct cs_ctx *ctx, const char *side,
                               const char *stream, json_t **out, char **why, const json_t *mapping)
{
    cs_status st = describe(arg, side, stream, out, ctx);
    if (st == CS_OK || st == CS_NODATA)
        return CS_OK;
    *why = cs_xasprintf("mapping %s -> %s: cannot read the %s metadata of %s: %s", str(mapping, "stream"),
                        str(mapping, "target"), strcmp(side, "source") == 0 ? "source's" : "destination's", stream,
                        cs_ctx_reason(ctx, "no reason given"));
    return st == CS_RETRY ? CS_RETRY : CS_FATAL;
}

cs_status cs_mapping_check_live(const json_t *definition, cs_describe_fn describe, void *arg, struct cs_ctx *ctx,
                                json_t *rows, char **why, char **path)
{
    const json_t *m;
    size_t i;
    *why = NULL;
    if (path)
        *path = NULL;
    json_array_foreach (json_object_get(definition, "mappings"), i, m) {
        json_t *source = NULL, *target = NULL;
        struct check c = {m, NULL, NULL, i, NULL, NULL};
        cs_status st;
        if (!cs_mapping_is_table(m))
            continue; /* the explicit form's stages check their own options */
        st = describe_side(describe, arg, ctx, "source", str(m, "stream"), &source, why, m);
        if (st == CS_OK)
            st = describe_side(describe, arg, ctx, "target", str(m, "target"), &target, why, m);
        if (json_is_integer(json_object_get(source, "rows")))
            json_object_set(rows, str(m, "stream"), json_object_get(source, "rows"));
        if (st == CS_OK) {
            c.source = source;
            c.target = target;
            check_key(&c);
            check_fields(&c);
            check_filters(&c);
            if (c.why) {
                *why = c.why;
                if (path)
                    *path = c.path;
                else
                    free(c.path);
                st = CS_FATAL;
            }
        }
        json_decref(source);
        json_decref(target);
        if (st != CS_OK)
            return st;
    }
    return CS_OK;
}
