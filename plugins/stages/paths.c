/*
 * paths.c - dotted paths into payload objects and the text form of values, shared by the stages.
 */
#include <stdlib.h>
#include <string.h>

#include "stages.h"

json_t *stages_path_get(const json_t *obj, const char *path)
{
    const char *dot;
    json_t *v = (json_t *)obj;
    while (v && (dot = strchr(path, '.'))) {
        char *head = strndup(path, (size_t)(dot - path));
        v = head ? json_object_get(v, head) : NULL;
        free(head);
        path = dot + 1;
    }
    return v ? json_object_get(v, path) : NULL;
}

int stages_path_set(json_t *obj, const char *path, json_t *value)
{
    const char *dot;
    while ((dot = strchr(path, '.'))) {
        char *head = strndup(path, (size_t)(dot - path));
        json_t *next = head ? json_object_get(obj, head) : NULL;
        if (head && !json_is_object(next)) {
            next = json_object();
            json_object_set_new(obj, head, next);
        }
        free(head);
        if (!next) {
            json_decref(value);
            return -1;
        }
        obj = next;
        path = dot + 1;
    }
    return json_object_set_new(obj, path, value);
}

char *stages_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v ? v : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
}
