/*
 * jsondiff.c - structural diff of two JSON documents (see jsondiff.h). Objects are compared member by
 * member, arrays element by element (an inserted element shows as changes from there on, which is
 * what a definition's short lists need); anything else is equal or changed as a whole.
 */
#include "jsondiff.h"

#include <stdlib.h>

#include "util.h"

static void add(json_t *out, const char *path, const char *op, const json_t *from, const json_t *to)
{
    json_t *entry = json_pack("{s:s, s:s}", "path", path, "op", op);
    if (from)
        json_object_set(entry, "from", (json_t *)from);
    if (to)
        json_object_set(entry, "to", (json_t *)to);
    json_array_append_new(out, entry);
}

static void diff(json_t *out, const char *path, const json_t *a, const json_t *b);

static void diff_objects(json_t *out, const char *path, const json_t *a, const json_t *b)
{
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)a, key, v) {
        char *child = cs_xasprintf("%s.%s", path, key);
        const json_t *w = json_object_get(b, key);
        if (w)
            diff(out, child, v, w);
        else
            add(out, child, "removed", v, NULL);
        free(child);
    }
    json_object_foreach ((json_t *)b, key, v) {
        if (!json_object_get(a, key)) {
            char *child = cs_xasprintf("%s.%s", path, key);
            add(out, child, "added", NULL, v);
            free(child);
        }
    }
}

static void diff_arrays(json_t *out, const char *path, const json_t *a, const json_t *b)
{
    size_t na = json_array_size(a), nb = json_array_size(b);
    for (size_t i = 0; i < na || i < nb; i++) {
        char *child = cs_xasprintf("%s[%zu]", path, i);
        if (i < na && i < nb)
            diff(out, child, json_array_get(a, i), json_array_get(b, i));
        else if (i < na)
            add(out, child, "removed", json_array_get(a, i), NULL);
        else
            add(out, child, "added", NULL, json_array_get(b, i));
        free(child);
    }
}

static void diff(json_t *out, const char *path, const json_t *a, const json_t *b)
{
    if (json_is_object(a) && json_is_object(b))
        diff_objects(out, path, a, b);
    else if (json_is_array(a) && json_is_array(b))
        diff_arrays(out, path, a, b);
    else if (!json_equal((json_t *)a, (json_t *)b))
        add(out, path, "changed", a, b);
}

json_t *cs_json_diff(const json_t *from, const json_t *to)
{
    json_t *out = json_array();
    diff(out, "$", from, to);
    return out;
}
