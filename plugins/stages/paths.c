/*
 * paths.c - dotted paths into payload objects and the text form of values, shared by the stages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

/* The path's segment before `dot` as a string: in `buf` when it fits, else new (NULL when out of memory).
 * Release it with segment_free. */
#define SEGMENT_BUF 128
static char *segment(const char *path, const char *dot, char buf[SEGMENT_BUF])
{
    size_t n = (size_t)(dot - path);
    if (n >= SEGMENT_BUF)
        return strndup(path, n);
    memcpy(buf, path, n);
    buf[n] = '\0';
    return buf;
}

static void segment_free(char *head, const char buf[SEGMENT_BUF])
{
    if (head != buf)
        free(head);
}

json_t *stages_path_get(const json_t *obj, const char *path)
{
    const char *dot;
    json_t *v = (json_t *)obj;
    while (v && (dot = strchr(path, '.'))) {
        char buf[SEGMENT_BUF], *head = segment(path, dot, buf);
        v = head ? json_object_get(v, head) : NULL;
        segment_free(head, buf);
        path = dot + 1;
    }
    return v ? json_object_get(v, path) : NULL;
}

int stages_path_set(json_t *obj, const char *path, json_t *value)
{
    const char *dot;
    while ((dot = strchr(path, '.'))) {
        char buf[SEGMENT_BUF], *head = segment(path, dot, buf);
        json_t *next = head ? json_object_get(obj, head) : NULL;
        if (head && !json_is_object(next)) {
            next = json_object();
            json_object_set_new(obj, head, next);
        }
        segment_free(head, buf);
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
    char *text = NULL;
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) /* an integer's JSON is its decimal form: no dump needed */
        return asprintf(&text, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0 ? NULL : text;
    return json_dumps(v ? v : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
}
