/*
 * json_parse.c - JSON text parsed as jansson's json_loadb(text, len, JSON_DECODE_ANY) parses it, at a
 * fraction of its cost (jansson reads a text one character at a time through a stream and a growing
 * buffer): objects, arrays, strings (their escapes decoded as jansson decodes them), integers of up to 18
 * digits, reals, true, false and null are read here in one pass. A text with anything jansson could
 * read otherwise or refuse (\u0000 or an unpaired surrogate, a longer integer, a real out of range, deep
 * nesting, or any error) is handed to jansson whole, so that every text gets exactly jansson's value or
 * its refusal.
 */
#include "json_parse.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FAST_MAX_DEPTH 64 /* deeper: jansson's (its limit and its message) */
#define FAST_MAX_REAL  64 /* characters of a real number read here */

struct parser {
    const char *p, *end;
    int depth;
};

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* A string's decoded bytes, in `small` while they fit, else on the heap. */
struct chars {
    char small[256], *s;
    size_t len, cap;
};

static int put(struct chars *c, const char *p, size_t n)
{
    if (c->len + n > c->cap) {
        size_t cap = c->cap * 2 > c->len + n ? c->cap * 2 : c->len + n;
        char *s = c->s == c->small ? malloc(cap) : realloc(c->s, cap);
        if (!s)
            return -1;
        if (c->s == c->small)
            memcpy(s, c->small, c->len);
        c->s = s;
        c->cap = cap;
    }
    memcpy(c->s + c->len, p, n);
    c->len += n;
    return 0;
}

static void chars_free(struct chars *c)
{
    if (c->s != c->small)
        free(c->s);
    c->s = c->small;
}

static int hex_digit(char h)
{
    return h >= '0' && h <= '9'   ? h - '0'
           : h >= 'a' && h <= 'f' ? h - 'a' + 10
           : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                  : -1;
}

/* Four hex digits at p (the text holds them) as a number, or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The escape after the backslash at ps->p decoded into c, ps past it; -1 for one jansson decides on
 * (not an escape, \u0000, a surrogate that is not part of a pair). */
static int escape(struct parser *ps, struct chars *c)
{
    static const char simple[] = {
        ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t'};
    char utf8[4];
    long cp, low;
    unsigned char e = ps->end - ps->p > 1 ? (unsigned char)ps->p[1] : 0;
    if (e < sizeof simple && simple[e]) {
        ps->p += 2;
        return put(c, &simple[e], 1);
    }
    if (e != 'u' || ps->end - ps->p < 6 || (cp = hex4(ps->p + 2)) <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return -1;
    ps->p += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate: its low one must follow */
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || (low = hex4(ps->p + 2)) < 0xDC00 ||
            low > 0xDFFF)
            return -1;
        ps->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp < 0x80)
        return utf8[0] = (char)cp, put(c, utf8, 1);
    if (cp < 0x800)
        return utf8[0] = (char)(0xC0 | cp >> 6), utf8[1] = (char)(0x80 | (cp & 0x3F)), put(c, utf8, 2);
    if (cp < 0x10000)
        return utf8[0] = (char)(0xE0 | cp >> 12), utf8[1] = (char)(0x80 | (cp >> 6 & 0x3F)),
               utf8[2] = (char)(0x80 | (cp & 0x3F)), put(c, utf8, 3);
    utf8[0] = (char)(0xF0 | cp >> 18);
    utf8[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    utf8[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    utf8[3] = (char)(0x80 | (cp & 0x3F));
    return put(c, utf8, 4);
}

/* The string at ps->p (its opening quote) decoded into c (c->s, c->len), ps past its closing quote; -1
 * when jansson decides on it (a control character, an escape it refuses or no end). c may not be
 * UTF-8: the caller's json_stringn or key check tells. */
static int string(struct parser *ps, struct chars *c)
{
    const char *run = ++ps->p;
    c->s = c->small;
    c->len = 0;
    c->cap = sizeof c->small;
    while (ps->p < ps->end) {
        unsigned char ch = (unsigned char)*ps->p;
        if (ch == '"' || ch == '\\') {
            if (put(c, run, (size_t)(ps->p - run)) != 0)
                return -1;
            if (ch == '"') {
                ps->p++;
                return 0;
            }
            if (escape(ps, c) != 0)
                return -1;
            run = ps->p;
        } else if (ch < 0x20) {
            return -1;
        } else {
            ps->p++;
        }
    }
    return -1;
}

/* Is the next character one that may follow a number or a literal? */
static int at_delimiter(const struct parser *ps)
{
    return ps->p == ps->end || (*ps->p && strchr(",]} \t\n\r", *ps->p));
}

static int digit_at(const struct parser *ps)
{
    return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

/* A number: an integer of up to 18 digits, or a real; NULL for jansson's (a longer integer, a real out
 * of range or longer than FAST_MAX_REAL, or no number). */
static json_t *number(struct parser *ps)
{
    const char *start = ps->p, *digits = ps->p + (*ps->p == '-');
    char text[FAST_MAX_REAL + 1], *end;
    int64_t v = 0;
    double d;
    ps->p = digits;
    for (; digit_at(ps); ps->p++)
        if (ps->p - digits < 18)
            v = v * 10 + (*ps->p - '0');
    if (ps->p == digits || (*digits == '0' && ps->p - digits > 1))
        return NULL; /* no digit, or a leading zero */
    if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')) {
        if (*ps->p == '.') {
            ps->p++;
            if (!digit_at(ps))
                return NULL;
            while (digit_at(ps))
                ps->p++;
        }
        if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
            ps->p++;
            if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
                ps->p++;
            if (!digit_at(ps))
                return NULL;
            while (digit_at(ps))
                ps->p++;
        }
        if (!at_delimiter(ps) || ps->p - start > FAST_MAX_REAL)
            return NULL;
        memcpy(text, start, (size_t)(ps->p - start));
        text[ps->p - start] = '\0';
        errno = 0;
        d = strtod(text, &end);
        if (*end || (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL)))
            return NULL; /* overflow: jansson's refusal */
        return json_real(d);
    }
    if (ps->p - digits > 18 || !at_delimiter(ps))
        return NULL;
    return json_integer((json_int_t)(*start == '-' ? -v : v));
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

/* Does the container end here (after any space) with `close`? Then ps is past it. */
static int closes(struct parser *ps, char close)
{
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 1;
    }
    return 0;
}

/* After an element: 1 when the container ends with `close`, 0 after a comma (another element follows),
 * -1 when neither follows. ps is past what was read. */
static int after_element(struct parser *ps, char close)
{
    if (closes(ps, close))
        return 1;
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        return 0;
    }
    return -1;
}

/* A member of an object ("key": value) into obj: 0, or -1 when the fast path does not read it. */
static int member(struct parser *ps, json_t *obj)
{
    struct chars key;
    json_t *v;
    int rc = -1;
    key.s = key.small;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '"' && string(ps, &key) == 0 && put(&key, "", 1) == 0) {
        skip_space(ps);
        /* (a key holds no NUL: a raw one is a control character and \u0000 is jansson's) */
        if (ps->p < ps->end && *ps->p++ == ':' && (v = value(ps)))
            rc = json_object_set_new(obj, key.s, v); /* -1 for a key that is not UTF-8: jansson's */
    }
    chars_free(&key);
    return rc;
}

/* An element of an array into arr: 0, or -1 when the fast path does not read it. */
static int element(struct parser *ps, json_t *arr)
{
    json_t *v = value(ps);
    return v && json_array_append_new(arr, v) == 0 ? 0 : -1;
}

/* At its opening character: the container `empty` (new) filled with what `add` reads up to `close`, or
 * NULL when the fast path does not read it. */
static json_t *container(struct parser *ps, json_t *empty, char close, int (*add)(struct parser *, json_t *))
{
    int next = 0;
    ps->p++;
    if (closes(ps, close))
        return empty;
    while (empty && next == 0 && add(ps, empty) == 0)
        if ((next = after_element(ps, close)) > 0)
            return empty;
    json_decref(empty);
    return NULL;
}

/* The value at ps (after any space), or NULL when the fast path does not read it. */
static json_t *value(struct parser *ps)
{
    json_t *v = NULL;
    struct chars s;
    skip_space(ps);
    if (ps->p == ps->end || ++ps->depth > FAST_MAX_DEPTH)
        return NULL;
    switch (*ps->p) {
    case '{':
        v = container(ps, json_object(), '}', member);
        break;
    case '[':
        v = container(ps, json_array(), ']', element);
        break;
    case '"':
        if (string(ps, &s) == 0)
            v = json_stringn(s.s, s.len); /* NULL when not UTF-8 */
        chars_free(&s);
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
            v = number(ps);
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
