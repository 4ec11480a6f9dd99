/*
 * ce_chain.c - the workflow's mappings as custom-entity sees them (host->mapping_streams: {"stream",
 * "target", "mapping": the definition as written, "columns"?}): which of them invoke this handler
 * instance, their link chains (a mapping's parents are the mappings named by its custom-entity
 * links, whose own links lead further up) and how many columns each maps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ce.h"

static const json_t *entity_of(const json_t *element)
{
    const json_t *e = json_object_get(json_object_get(element, "mapping"), "entity");
    return json_is_object(e) && ce_str(e, "name") && !strcmp(ce_str(e, "name"), CE_NAME) ? e : NULL;
}

const json_t *ce_element_links(const json_t *element)
{
    const json_t *links = json_object_get(entity_of(element), "links");
    return json_is_array(links) ? links : NULL;
}

const json_t *ce_element_of(const json_t *maps, const char *stream)
{
    size_t i;
    json_t *m;
    json_array_foreach (maps, i, m)
        if (stream && ce_str(m, "stream") && !strcmp(ce_str(m, "stream"), stream))
            return m;
    return NULL;
}

/* The entity invocation as written has the options this instance was created with. */
static int same_options(const json_t *entity, const json_t *options, const cs_setting *table)
{
    for (const cs_setting *o = table; o->name; o++) {
        json_t *written = json_object_get(entity, o->name), *given = json_object_get(options, o->name);
        if (written && !json_is_null(written)) {
            if (!json_equal(written, given))
                return 0;
        } else if (o->default_value) {
            if (!json_is_integer(given) || json_integer_value(given) != atol(o->default_value))
                return 0;
        } else if (given && !json_is_null(given)) {
            return 0;
        }
    }
    return 1;
}

json_t *ce_self_elements(const json_t *maps, const json_t *options, const cs_setting *table)
{
    json_t *out = json_array(), *m;
    size_t i;
    json_array_foreach (maps, i, m) {
        const json_t *e = entity_of(m);
        if (e && same_options(e, options, table))
            json_array_append(out, m);
    }
    return out;
}

char *ce_mapping_name(const json_t *element)
{
    char *s = NULL;
    if (asprintf(&s, "mapping %s -> %s", ce_str(element, "stream") ? ce_str(element, "stream") : "?",
                 ce_str(element, "target") ? ce_str(element, "target") : "?") < 0)
        return NULL;
    return s;
}

static int on_path(const json_t *path, const char *stream)
{
    size_t i;
    json_t *s;
    json_array_foreach (path, i, s)
        if (!strcmp(json_string_value(s), stream))
            return 1;
    return 0;
}

/* `path`: the streams from the element first asked about down to this one (for cycles). */
static int depth_of(const json_t *maps, const json_t *element, json_t *path, char **chain)
{
    const char *stream = ce_str(element, "stream") ? ce_str(element, "stream") : "?";
    const json_t *links = ce_element_links(element), *l;
    int best = 1;
    size_t i;

    *chain = NULL;
    if (on_path(path, stream)) {
        json_t *s;
        char *c = strdup(stream), *next = NULL;
        json_array_foreach (path, i, s)
            if (c && asprintf(&next, "%s -> %s", json_string_value(s), c) >= 0) {
                free(c);
                c = next;
            }
        *chain = c;
        return -1;
    }
    json_array_insert_new(path, 0, json_string(stream));
    *chain = strdup(stream);
    json_array_foreach (links, i, l) {
        const json_t *parent = ce_element_of(maps, ce_str(l, "parent"));
        char *pc = NULL, *c = NULL;
        int d;
        if (!parent)
            continue;
        if ((d = depth_of(maps, parent, path, &pc)) < 0) {
            free(*chain);
            *chain = pc;
            best = -1;
            break;
        }
        if (d + 1 > best && asprintf(&c, "%s -> %s", pc, stream) >= 0) {
            best = d + 1;
            free(*chain);
            *chain = c;
        }
        free(pc);
    }
    json_array_remove(path, 0);
    return best;
}

int ce_chain_depth(const json_t *maps, const json_t *element, char **chain)
{
    json_t *path = json_array();
    int d = depth_of(maps, element, path, chain);
    json_decref(path);
    return d;
}

long ce_mapped_columns(const json_t *element)
{
    const json_t *columns = json_object_get(element, "columns"), *stage;
    long n = -1;
    size_t i;
    if (json_is_array(columns))
        return (long)json_array_size(columns);
    json_array_foreach (json_object_get(json_object_get(element, "mapping"), "stages"), i, stage) {
        const json_t *fields = json_object_get(stage, "fields");
        if (ce_str(stage, "name") && !strcmp(ce_str(stage, "name"), "map") && json_is_array(fields))
            n = (n < 0 ? 0 : n) + (long)json_array_size(fields);
    }
    return n;
}
