/*
 * cshttp_member.c - one top-level string member of a JSON answer, read without building the whole
 * document: Campaign answers a create with the whole profile when the writer needs its PKey only, and
 * parsing every answer in full cost a tenth of the daemon's time in an initial load. The text is
 * walked once (strings with their escapes, nested objects and arrays skipped); anything unusual (an
 * escape in the member's name or value, a text that is not an object) is answered by a full parse.
 */
#include <stdlib.h>
#include <string.h>

#include "cshttp.h"

struct scan {
    const char *p, *end;
};

static void skip_space(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Past a string starting at its opening quote; *escaped when it holds a backslash. -1 if unterminated. */
static int skip_string(struct scan *s, int *escaped)
{
    *escaped = 0;
    for (s->p++; s->p < s->end; s->p++) {
        if (*s->p == '\\') {
            *escaped = 1;
            s->p++;
        } else if (*s->p == '"') {
            s->p++;
            return 0;
        }
    }
    return -1;
}

/* Past one value (object, array, string, number, literal). -1 on a malformed text. */
static int skip_value(struct scan *s)
{
    int depth = 0, escaped;
    do {
        skip_space(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == '"') {
            if (skip_string(s, &escaped) != 0)
                return -1;
        } else if (*s->p == '{' || *s->p == '[') {
            depth++;
            s->p++;
        } else if (*s->p == '}' || *s->p == ']') {
            if (--depth < 0)
                return -1;
            s->p++;
        } else if (*s->p == ',' || *s->p == ':') {
            if (!depth)
                return -1;
            s->p++;
        } else { /* a number or a literal */
            while (s->p < s->end && !strchr(" \t\r\n,:]}", *s->p))
                s->p++;
        }
    } while (depth);
    return 0;
}

/* The member by the full parser (the careful path). */
static char *parsed_member(const struct cshttp_response *r, const char *name)
{
    json_t *doc = cshttp_response_json(r);
    const char *v = json_string_value(json_object_get(doc, name));
    char *out = v ? strdup(v) : NULL;
    json_decref(doc);
    return out;
}

char *cshttp_response_member(const struct cshttp_response *r, const char *name)
{
    struct scan s = {r->body, r->body + r->body_len};
    size_t nlen = strlen(name);
    int escaped;
    if (!r->body)
        return NULL;
    skip_space(&s);
    if (s.p >= s.end || *s.p++ != '{')
        return parsed_member(r, name);
    for (;;) {
        const char *key, *value;
        size_t klen;
        skip_space(&s);
        if (s.p < s.end && *s.p == '}')
            return NULL; /* an object without the member */
        if (s.p >= s.end || *s.p != '"')
            return parsed_member(r, name);
        key = s.p + 1;
        if (skip_string(&s, &escaped) != 0 || escaped)
            return parsed_member(r, name);
        klen = (size_t)(s.p - 1 - key);
        skip_space(&s);
        if (s.p >= s.end || *s.p++ != ':')
            return parsed_member(r, name);
        skip_space(&s);
        value = s.p;
        if (klen == nlen && memcmp(key, name, nlen) == 0) {
            if (s.p >= s.end || *s.p != '"')
                return NULL; /* the member is not a string */
            if (skip_string(&s, &escaped) != 0 || escaped)
                return parsed_member(r, name);
            return strndup(value + 1, (size_t)(s.p - value - 2));
        }
        if (skip_value(&s) != 0)
            return parsed_member(r, name);
        skip_space(&s);
        if (s.p < s.end && *s.p == ',')
            s.p++;
    }
}
