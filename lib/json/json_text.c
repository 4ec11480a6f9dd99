/*
 * json_text.c - a JSON value as compact text, byte for byte what jansson's json_dumps writes with
 * JSON_COMPACT | JSON_ENCODE_ANY (and JSON_SORT_KEYS when asked), at a fraction of its cost: jansson
 * hands its dump over through a callback in small pieces and escapes a string one code point at a time,
 * which made dumping a record's payload or a Campaign body several times dearer than the lookups around
 * it. A real number is still formatted by jansson (its shortest round-trip form).
 */
#include "json_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct text {
    char *s;
    size_t len, cap;
    int failed; /* out of memory */
};

static void add(struct text *t, const char *p, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        char *s;
        while (t->len + n + 1 > cap)
            cap *= 2;
        if (!(s = realloc(t->s, cap))) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    memcpy(t->s + t->len, p, n);
    t->len += n;
}

/* The escape of `c` (a quote, a backslash or a control character) as jansson writes it: \" \\ \b \f \n \r
 * \t, or \u00XX in upper-case hex. */
static void add_escape(struct text *t, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    static const char short_form[] = {
        ['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    if (c < sizeof short_form && short_form[c]) {
        esc[1] = short_form[c];
        add(t, esc, 2);
    } else {
        add(t, esc, 6);
    }
}

/* A string with jansson's escapes; everything else, UTF-8 included, as it is. */
static void add_string(struct text *t, const char *s, size_t n)
{
    size_t run = 0;
    add(t, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        add(t, s + run, i - run);
        add_escape(t, c);
        run = i + 1;
    }
    add(t, s + run, n - run);
    add(t, "\"", 1);
}

static void add_integer(struct text *t, json_int_t v)
{
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        *--p = '-';
    add(t, p, (size_t)(buf + sizeof buf - p));
}

/* A member of an object being written. */
struct member {
    const char *key;
    const json_t *value;
};

static int by_key(const void *x, const void *y)
{
    return strcmp(((const struct member *)x)->key, ((const struct member *)y)->key);
}

/* Sort `n` members by key: by insertion when they are few (the common object), else with qsort. */
static void sort_members(struct member *m, size_t n)
{
    if (n > 16) {
        qsort(m, n, sizeof *m, by_key);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct member cur = m[i];
        size_t j = i;
        for (; j > 0 && strcmp(m[j - 1].key, cur.key) > 0; j--)
            m[j] = m[j - 1];
        m[j] = cur;
    }
}

static void add_value(struct text *t, const json_t *v, int sorted);

/* An object's members, in insertion order or sorted by key. */
static void add_object(struct text *t, const json_t *obj, int sorted)
{
    struct member small[32], *m = small;
    size_t n = json_object_size(obj), i = 0;
    const char *k;
    json_t *value;
    if (n > sizeof small / sizeof *small && !(m = malloc(n * sizeof *m))) {
        t->failed = 1;
        return;
    }
    json_object_foreach ((json_t *)obj, k, value)
        m[i++] = (struct member){k, value};
    if (sorted)
        sort_members(m, n);
    add(t, "{", 1);
    for (i = 0; i < n; i++) {
        if (i)
            add(t, ",", 1);
        add_string(t, m[i].key, strlen(m[i].key));
        add(t, ":", 1);
        add_value(t, m[i].value, sorted);
    }
    add(t, "}", 1);
    if (m != small)
        free(m);
}

static void add_value(struct text *t, const json_t *v, int sorted)
{
    size_t i;
    json_t *e;
    char *real;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        add_object(t, v, sorted);
        break;
    case JSON_ARRAY:
        add(t, "[", 1);
        json_array_foreach ((json_t *)v, i, e) {
            if (i)
                add(t, ",", 1);
            add_value(t, e, sorted);
        }
        add(t, "]", 1);
        break;
    case JSON_STRING:
        add_string(t, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        add_integer(t, json_integer_value(v));
        break;
    case JSON_REAL: /* jansson's shortest round-trip form, as its dump writes it */
        if (!(real = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)))
            t->failed = 1;
        else
            add(t, real, strlen(real));
        free(real);
        break;
    case JSON_TRUE:
        add(t, "true", 4);
        break;
    case JSON_FALSE:
        add(t, "false", 5);
        break;
    default:
        add(t, "null", 4);
    }
}

char *cs_json_text(const json_t *v, int sorted, size_t *len)
{
    struct text t = {0};
    add_value(&t, v, sorted);
    add(&t, "", 0); /* room for the terminator, even for an empty text */
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    t.s[t.len] = '\0';
    if (len)
        *len = t.len;
    return t.s;
}
