/*
 * mapping.c - compiles the table-mapping form of a mapping into built-in stage invocations and checks
 * what can be checked offline (see mapping.h). The member types, choices and defaults are checked by
 * the config schema (config.c) before this runs; this file checks across members.
 */
#include "mapping.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static void reportf(cs_mapping_report report, void *arg, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reportf(cs_mapping_report report, void *arg, const char *member, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    va_start(ap, fmt);
    msg = cs_xvasprintf(fmt, ap);
    va_end(ap);
    report(arg, member, msg);
    free(msg);
}

int cs_mapping_is_table(const json_t *mapping)
{
    return json_object_get(mapping, "fields") != NULL;
}

static const char *member_str(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

/* The index `seen` holds for `key`, or -1 after recording `i` for it: the checks below stay linear
 * in the list sizes. */
static long first_seen(json_t *seen, const char *key, size_t i)
{
    const json_t *at = json_object_get(seen, key);
    if (at)
        return (long)json_integer_value(at);
    json_object_set_new_nocheck(seen, key, json_integer((json_int_t)i));
    return -1;
}

/* One Dynamics 365 field per Campaign field; the key's target is taken too. */
static int check_fields(const json_t *m, cs_mapping_report report, void *arg)
{
    const json_t *fields = json_object_get(m, "fields"), *key = json_object_get(m, "key");
    const char *key_target = member_str(key, "target");
    json_t *targets = json_object();
    int bad = 0;
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);
        const char *target = member_str(f, "target");
        char member[64];
        long first = target ? first_seen(targets, target, i) : -1;
        snprintf(member, sizeof member, "fields[%zu].target", i);
        if (key_target && target && strcmp(target, key_target) == 0) {
            reportf(report, arg, member, "\"%s\" is the mapping's key (key.target); it is written from key.source",
                    target);
            bad++;
        } else if (first >= 0) {
            reportf(report, arg, member,
                    "\"%s\" is already the target of fields[%ld] (%s): one Dynamics 365 field per Campaign field",
                    target, first, member_str(json_array_get(fields, (size_t)first), "source"));
            bad++;
        }
    }
    json_decref(targets);
    return bad;
}

/* A replacement rewrites a mapped field, and one (field, value) pair has one replacement. */
static int check_replacements(const json_t *m, cs_mapping_report report, void *arg)
{
    const json_t *rules = json_object_get(m, "replacements"), *fields = json_object_get(m, "fields");
    json_t *sources = json_object(), *pairs = json_object();
    int bad = 0;
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (member_str(json_array_get(fields, i), "source"))
            first_seen(sources, member_str(json_array_get(fields, i), "source"), i);
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *r = json_array_get(rules, i);
        const char *field = member_str(r, "field");
        char member[64], *from, *pair;
        long first;
        snprintf(member, sizeof member, "replacements[%zu].field", i);
        if (!field)
            continue; /* the schema has reported it */
        if (!json_object_get(sources, field)) {
            reportf(report, arg, member, "\"%s\" is not a mapped field: add it to fields first", field);
            bad++;
            continue;
        }
        /* the pair as text: the field, then the value as canonical JSON */
        from = json_dumps(json_object_get(r, "from"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        pair = cs_xasprintf("%s%c%s", field, '\0' + 1, from ? from : "null");
        free(from);
        if ((first = first_seen(pairs, pair, i)) >= 0) {
            snprintf(member, sizeof member, "replacements[%zu].from", i);
            reportf(report, arg, member, "replacements[%ld] already replaces this value of \"%s\"", first, field);
            bad++;
        }
        free(pair);
    }
    json_decref(sources);
    json_decref(pairs);
    return bad;
}

/* Operators that need a value have one; "in" takes a list. */
static int check_filters(const json_t *m, cs_mapping_report report, void *arg)
{
    const json_t *rules = json_object_get(json_object_get(m, "filters"), "rules");
    int bad = 0;
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *r = json_array_get(rules, i), *value = json_object_get(r, "value");
        const char *op = member_str(r, "op");
        char member[64];
        snprintf(member, sizeof member, "filters.rules[%zu].value", i);
        if (!op)
            continue;
        if (strcmp(op, "null") != 0 && strcmp(op, "notnull") != 0 && (!value || json_is_null(value))) {
            reportf(report, arg, member, "operator \"%s\" needs a value", op);
            bad++;
        } else if (strcmp(op, "in") == 0 && !json_is_array(value)) {
            reportf(report, arg, member, "operator \"in\" needs a list of values");
            bad++;
        }
    }
    return bad;
}

static json_t *compile(const json_t *m)
{
    const json_t *filters = json_object_get(m, "filters"), *rules = json_object_get(filters, "rules");
    const json_t *key = json_object_get(m, "key"), *fields = json_object_get(m, "fields"), *f;
    json_t *out = json_array(), *map_fields = json_array(), *types = json_object();
    int apply_deletes = !json_is_false(json_object_get(m, "apply_deletes"));
    size_t i;

    if (json_array_size(rules) || !apply_deletes) {
        /* the schema filled every member of filters (match, delete_filtered, rules): the filter's options */
        json_t *filter = json_pack("{s:s, s:b}", "name", "filter", "apply_deletes", apply_deletes);
        json_object_update(filter, (json_t *)filters);
        json_array_append_new(out, filter);
    }
    if (json_array_size(json_object_get(m, "replacements")))
        json_array_append_new(out,
                              json_pack("{s:s, s:O}", "name", "replace", "rules", json_object_get(m, "replacements")));
    json_array_append_new(map_fields, json_pack("{s:O, s:O}", "source", json_object_get(key, "source"), "target",
                                                json_object_get(key, "target")));
    json_array_foreach (fields, i, f) {
        json_array_append_new(map_fields, json_pack("{s:O, s:O, s:b}", "source", json_object_get(f, "source"), "target",
                                                    json_object_get(f, "target"), "apply_updates",
                                                    !json_is_false(json_object_get(f, "apply_updates"))));
        if (member_str(f, "type"))
            json_object_set(types, member_str(f, "target"), json_object_get(f, "type"));
    }
    json_array_append_new(out, json_pack("{s:s, s:o}", "name", "map", "fields", map_fields));
    if (json_object_size(types))
        json_array_append_new(out, json_pack("{s:s, s:O}", "name", "convert", "types", types));
    json_decref(types);
    return out;
}

int cs_mapping_compile(json_t *mapping, cs_mapping_report report, void *arg)
{
    int bad = 0;
    if (!cs_mapping_is_table(mapping))
        return 0;
    if (!json_is_object(json_object_get(mapping, "key"))) {
        report(arg, "key",
               "required in a table mapping: {source: the Dynamics 365 primary key, e.g. contactid, "
               "target: the Campaign key field, e.g. externalId}");
        bad++;
    }
    bad += check_fields(mapping, report, arg);
    bad += check_replacements(mapping, report, arg);
    bad += check_filters(mapping, report, arg);
    if (!bad)
        json_object_set_new(mapping, "compiled", compile(mapping));
    return bad;
}

static void add_column(json_t *list, const char *name)
{
    if (!name)
        return;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (strcmp(json_string_value(json_array_get(list, i)), name) == 0)
            return;
    json_array_append_new(list, json_string(name));
}

json_t *cs_mapping_columns(const json_t *m)
{
    json_t *out = json_array(), *v;
    size_t i;
    if (!cs_mapping_is_table(m))
        return out;
    add_column(out, member_str(json_object_get(m, "key"), "source"));
    json_array_foreach (json_object_get(m, "fields"), i, v)
        add_column(out, member_str(v, "source"));
    json_array_foreach (json_object_get(json_object_get(m, "filters"), "rules"), i, v)
        add_column(out, member_str(v, "field"));
    /* the lookup columns an entity handler links by (custom-entity's `links: [{column, ...}]`) */
    json_array_foreach (json_object_get(json_object_get(m, "entity"), "links"), i, v)
        add_column(out, member_str(v, "column"));
    return out;
}

json_t *cs_mapping_streams(const json_t *definition)
{
    json_t *out = json_array(), *m;
    size_t i;
    json_array_foreach (json_object_get(definition, "mappings"), i, m) {
        const char *picklists = member_str(m, "picklists");
        json_t *e = json_pack("{s:O, s:O, s:O, s:o, s:b}", "stream", json_object_get(m, "stream"), "target",
                              json_object_get(m, "target"), "mapping", m, "columns", cs_mapping_columns(m), "labels",
                              picklists && strcmp(picklists, "label") == 0);
        const json_t *key = json_object_get(json_object_get(m, "key"), "target");
        if (key)
            json_object_set(e, "target_key", (json_t *)key);
        json_array_append_new(out, e);
    }
    return out;
}

int cs_mapping_is_custom(const json_t *m)
{
    const char *s = member_str(m, "stream");
    return s && strcmp(s, "contact") != 0 && strcmp(s, "contacts") != 0;
}

char *cs_mapping_check_immutable(const json_t *prev, const json_t *next)
{
    const json_t *m;
    json_t *before = json_object(); /* stream -> the first index of a mapping of it in prev */
    char *why = NULL;
    size_t i;
    json_array_foreach (json_object_get(prev, "mappings"), i, m) {
        if (member_str(m, "stream"))
            first_seen(before, member_str(m, "stream"), i);
    }
    json_array_foreach (json_object_get(next, "mappings"), i, m) {
        const char *stream = member_str(m, "stream");
        const json_t *at = stream ? json_object_get(before, stream) : NULL;
        const json_t *old =
            at ? json_array_get(json_object_get(prev, "mappings"), (size_t)json_integer_value(at)) : NULL;
        const json_t *ok = json_object_get(old, "key"), *nk = json_object_get(m, "key");
        if (!old)
            continue;
        if (strcmp(member_str(old, "target"), member_str(m, "target")) != 0)
            why = cs_xasprintf("mappings[%zu].target: the table pair %s -> %s is fixed once saved (not %s -> %s); "
                               "delete the mapping, save, then add the new one",
                               i, stream, member_str(old, "target"), stream, member_str(m, "target"));
        else if (ok && !json_equal(ok, nk))
            why = cs_xasprintf("mappings[%zu].key: the key of %s -> %s (%s -> %s) is fixed once saved; delete the "
                               "mapping, save, then add it again with the new key",
                               i, stream, member_str(m, "target"), member_str(ok, "source"), member_str(ok, "target"));
        if (why)
            break;
    }
    json_decref(before);
    return why;
}
