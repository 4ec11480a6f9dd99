/*
 * yaml_emit.c - JSON to block-style YAML with libyaml's emitter (see yaml_emit.h).
 */
#include "yaml_emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "util/util.h"

struct buffer {
    char *data;
    size_t len;
};

static int on_write(void *data, unsigned char *bytes, size_t size)
{
    struct buffer *b = data;
    char *grown = realloc(b->data, b->len + size + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, bytes, size);
    b->len += size;
    grown[b->len] = '\0';
    b->data = grown;
    return 1;
}

static int scalar(yaml_emitter_t *em, const char *text, int quoted)
{
    yaml_event_t ev;
    /* untagged: a plain scalar is implicit in plain style, a quoted one in quoted style (libyaml refuses a
     * scalar implicit in neither) */
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), !quoted, 1,
                                 quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    return yaml_emitter_emit(em, &ev);
}

/* Would this string read back as something other than a string (number, bool, null...)? */
static int needs_quotes(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "", NULL};
    char *end;
    if (strtod(s, &end) || end != s)
        return 1;
    for (size_t i = 0; words[i]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    return 0;
}

static int node(yaml_emitter_t *em, const json_t *v)
{
    yaml_event_t ev;
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        const json_t *child;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(em, &ev))
            return 0;
        json_object_foreach ((json_t *)v, key, child) {
            if (!scalar(em, key, needs_quotes(key)) || !node(em, child))
                return 0;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    case JSON_ARRAY: {
        size_t i;
        const json_t *child;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev))
            return 0;
        json_array_foreach (v, i, child) {
            if (!node(em, child))
                return 0;
        }
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    case JSON_STRING:
        return scalar(em, json_string_value(v), needs_quotes(json_string_value(v)));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return scalar(em, buf, 0);
    case JSON_REAL:
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        return scalar(em, buf, 0);
    case JSON_TRUE:
        return scalar(em, "true", 0);
    case JSON_FALSE:
        return scalar(em, "false", 0);
    default:
        return scalar(em, "null", 0);
    }
}

char *cs_yaml_dump(const json_t *doc, char **err)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    struct buffer b = {cs_xstrdup(""), 0};
    int ok;

    *err = NULL;
    if (!yaml_emitter_initialize(&em)) {
        free(b.data);
        *err = cs_xstrdup("out of memory");
        return NULL;
    }
    yaml_emitter_set_output(&em, on_write, &b);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, 100);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev) && node(&em, doc);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    if (!ok)
        *err = cs_xstrdup(em.problem ? em.problem : "the YAML emitter failed");
    yaml_emitter_delete(&em);
    if (!ok) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
