/*
 * json_parse.c - JSON text parsed as jansson's json_loadb(text, len, JSON_DECODE_ANY) parses it, at a
 * fraction of its cost for the text crmsync stores itself (a record's payload in the backlog): objects,
 * arrays, strings without escapes, integers of up to 18 digits, true, false and null are read here in
 * one pass; a text with anything else (an escape, a real number, a longer integer, deep nesting, or an
 * error) is handed to jansson whole, so that every text gets exactly jansson's value or its refusal.
 */
#include "json_parse.h"

#include <stdint.h>
#include <string.h>

#define FAST_MAX_DEPTH 64 /* deeper: jansson's (its limit and its message) */
#define FAST_MAX_KEY   256

struct parser {
    const char *p, *end;
    int depth;
};

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* The characters of a string without escapes, after its opening quote: *len and the start, with ps past
 * the closing quote; NULL when the string has an escape, a control character or no end. */
static const char *plain_string(struct parser *ps, size_t *len)
{
    const char *start = ++ps->p;
    for (; ps->p < ps->end; ps->p++) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            *len = (size_t)(ps->p++ - start);
            return start;
        }
        if (c == '\\' || c < 0x20)
            return NULL;
    }
    return NULL;
}

/* Is the next character one that may follow a number or a literal? */
static int at_delimiter(const struct parser *ps)
{
    return ps->p == ps->end || (*ps->p && strchr(",]} \t\n\r", *ps->p));
}

static json_t *integer(struct parser *ps)
{
    int negative = *ps->p == '-';
    const char *digits = ps->p + negative;
    int64_t v = 0;
    ps->p = digits;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && ps->p - digits < 19)
        v = v * 10 + (*ps->p++ - '0');
    /* no digit, a leading zero, 19 digits or more, a fraction or an exponent: jansson's */
    if (ps->p == digits || (*digits == '0' && ps->p - digits > 1) || ps->p - digits > 18 || !at_delimiter(ps))
        return NULL;
    return json_integer((json_int_t)(negative ? -v : v));
}

static json_t *literal(struct parser *ps, const char *word, json_t *v)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return NULL;
    ps->p += n;
    return at_delimiter(ps) ? v : NULL;
}

static json_t *value(struct parser *ps);

/* After '{': the members up to '}'. */
static json_t *object(struct parser *ps)
{
    json_t *obj = json_object(), *v;
    char key[FAST_MAX_KEY + 1];
    const char *k;
    size_t len;
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    while (obj) {
        if (ps->p == ps->end || *ps->p != '"' || !(k = plain_string(ps, &len)) || len > FAST_MAX_KEY)
            break;
        memcpy(key, k, len);
        key[len] = '\0';
        skip_space(ps);
        if (ps->p == ps->end || *ps->p++ != ':' || !(v = value(ps)))
            break;
        if (json_object_set_new(obj, key, v) != 0) /* a key that is not UTF-8 */
            break;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return obj;
        }
        if (ps->p == ps->end || *ps->p++ != ',')
            break;
        skip_space(ps);
    }
    json_decref(obj);
    return NULL;
}

/* After '[': the elements up to ']'. */
static json_t *array(struct parser *ps)
{
    json_t *arr = json_array(), *v;
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    while (arr) {
        if (!(v = value(ps)) || json_array_append_new(arr, v) != 0)
            break;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return arr;
        }
        if (ps->p == ps->end || *ps->p++ != ',')
            break;
    }
    json_decref(arr);
    return NULL;
}

/* The value at ps (after any space), or NULL when the fast path does not read it. */
static json_t *value(struct parser *ps)
{
    json_t *v = NULL;
    const char *s;
    size_t len;
    skip_space(ps);
    if (ps->p == ps->end || ++ps->depth > FAST_MAX_DEPTH)
        return NULL;
    switch (*ps->p) {
    case '{':
        v = object(ps);
        break;
    case '[':
        v = array(ps);
        break;
    case '"':
        if ((s = plain_string(ps, &len)))
            v = json_stringn(s, len); /* NULL when not UTF-8 */
        break;
    case 't':
        v = literal(ps, "true", json_true());
        break;
    case 'f':
        v = literal(ps, "false", json_false());
        break;
    case 'n':
        v = literal(ps, "null", json_null());
        break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            v = integer(ps);
    }
    ps->depth--;
    return v;
}

json_t *cs_json_parse(const char *text, size_t len)
{
    struct parser ps = {text, text + len, 0};
    json_t *v = value(&ps);
    if (v) {
        skip_space(&ps);
        if (ps.p == ps.end)
            return v;
        json_decref(v);
    }
    return json_loadb(text, len, JSON_DECODE_ANY, NULL);
}
