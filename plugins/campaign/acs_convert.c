/*
 * acs_convert.c - a record's payload as the body Campaign expects (reference B5.2, B6, B8): fields
 * picked by the target's `fields` map (dotted paths build object fields such as location.city) or
 * the payload as is, each value converted to the field's metadata type: strings (length checked),
 * integers, decimals, booleans, dates (YYYY-MM-DD), timestamps (YYYY-MM-DD HH:MM:SS.mmmZ, UTC) and
 * enumerations by name. A value that cannot be converted names the field and the value.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "campaign.h"

/* A short rendering of a value for messages. */
static void show(const json_t *v, char *out, size_t len)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(out, len, "%.80s%s", s ? s : "?", s && strlen(s) > 80 ? "..." : "");
    free(s);
}

static json_t *refuse(struct acs *a, const struct acs_target *t, const char *field, const json_t *v, const char *why)
{
    char val[128];
    show(v, val, sizeof val);
    acs_fail(a, 0, "field '%s' of %s: value %s %s", field, t->resource, val, why);
    return NULL;
}

/* "YYYY-MM-DD[( |T)HH:MM[:SS[.fff]][Z|+HH:MM|-HHMM]]" -> Unix ms (UTC unless an offset is given). */
int acs_parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, n = 0, frac_ms = 0;
    double sec = 0;
    long off = 0;
    const char *p;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    p = s + n;
    if (*p == 'T' || *p == ' ') {
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || h > 23 || mi > 59)
            return -1;
        p += 1 + n;
        if (*p == ':') {
            char *end;
            errno = 0;
            sec = strtod(p + 1, &end);
            if (end == p + 1 || errno || sec < 0 || sec >= 61)
                return -1;
            p = end;
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 || sscanf(p + 1, "%2d%2d%n", &oh, &om, &n) == 2)
                off = (*p == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
            else
                return -1;
            p += 1 + n;
        }
    }
    if (*p)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = (int)sec;
    frac_ms = (int)lround((sec - (int)sec) * 1000);
    *ms = ((int64_t)timegm(&tm) - off) * 1000 + frac_ms;
    return 0;
}

static json_t *format_time(int64_t ms, int date_only)
{
    char buf[40];
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    if (date_only)
        strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    else {
        size_t n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(ms - (int64_t)secs * 1000));
    }
    return json_string(buf);
}

static json_t *to_time(struct acs *a, const struct acs_target *t, const char *f, const json_t *v, int date_only)
{
    int64_t ms;
    if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
        return json_string("");
    if (json_is_integer(v))
        return format_time((int64_t)json_integer_value(v), date_only);
    if (json_is_string(v) && acs_parse_time(json_string_value(v), &ms) == 0)
        return format_time(ms, date_only);
    return refuse(a, t, f, v,
                  date_only ? "is not a date (YYYY-MM-DD, ISO-8601 or Unix ms)"
                            : "is not a timestamp (ISO-8601 or Unix ms)");
}

static json_t *to_integer(struct acs *a, const struct acs_target *t, const char *f, const json_t *v)
{
    if (json_is_integer(v))
        return json_incref((json_t *)v);
    if (json_is_null(v))
        return json_integer(0);
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
        return json_integer((json_int_t)json_real_value(v));
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        long long n;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (*s && !*end && !errno)
            return json_integer((json_int_t)n);
    }
    return refuse(a, t, f, v, "is not an integer");
}

static json_t *to_real(struct acs *a, const struct acs_target *t, const char *f, const json_t *v)
{
    if (json_is_number(v))
        return json_real(json_number_value(v));
    if (json_is_null(v))
        return json_real(0);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        double d;
        errno = 0;
        d = strtod(s, &end);
        if (*s && !*end && !errno && isfinite(d))
            return json_real(d);
    }
    return refuse(a, t, f, v, "is not a number");
}

static json_t *to_boolean(struct acs *a, const struct acs_target *t, const char *f, const json_t *v)
{
    static const char *const yes[] = {"true", "yes", "1", "on", NULL}, *const no[] = {"false", "no", "0",
                                                                                      "off",   "",   NULL};
    if (json_is_boolean(v))
        return json_incref((json_t *)v);
    if (json_is_null(v))
        return json_false();
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        return json_boolean(json_integer_value(v));
    for (size_t i = 0; json_is_string(v) && yes[i]; i++)
        if (strcasecmp(json_string_value(v), yes[i]) == 0)
            return json_true();
    for (size_t i = 0; json_is_string(v) && no[i]; i++)
        if (strcasecmp(json_string_value(v), no[i]) == 0)
            return json_false();
    return refuse(a, t, f, v, "is not a boolean");
}

/* Enumerations by name: the values are names, or {name, label, value} objects. */
static json_t *to_enum(struct acs *a, const struct acs_target *t, const char *f, const json_t *v, const json_t *spec)
{
    json_t *values = json_object_get(spec, "values"), *e;
    size_t i;
    json_array_foreach (values, i, e) {
        const char *name = json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "name"));
        const char *label = json_string_value(json_object_get(e, "label"));
        json_t *value = json_object_get(e, "value");
        if (json_is_string(v) && ((name && strcasecmp(name, json_string_value(v)) == 0) ||
                                  (label && strcasecmp(label, json_string_value(v)) == 0)))
            return json_string(name ? name : label);
        if (name && value && json_equal(value, (json_t *)v))
            return json_string(name);
    }
    return refuse(a, t, f, v, "is not one of the enumeration's values");
}

static json_t *to_string(struct acs *a, const struct acs_target *t, const char *f, const json_t *v, json_int_t max)
{
    json_t *out;
    char buf[64];
    if (json_is_string(v))
        out = json_incref((json_t *)v);
    else if (json_is_null(v))
        out = json_string("");
    else if (json_is_boolean(v))
        out = json_string(json_is_true(v) ? "true" : "false");
    else if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        out = json_string(buf);
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        out = json_string(buf);
    } else
        return refuse(a, t, f, v, "is not a scalar");
    if (out && max > 0 && (json_int_t)json_string_length(out) > max) {
        /* count UTF-8 characters, as Campaign does */
        const unsigned char *s = (const unsigned char *)json_string_value(out);
        json_int_t chars = 0;
        for (; *s; s++)
            chars += (*s & 0xC0) != 0x80;
        if (chars > max) {
            char why[64];
            snprintf(why, sizeof why, "is longer than the field's %" JSON_INTEGER_FORMAT " characters", max);
            json_decref(out);
            return refuse(a, t, f, v, why);
        }
    }
    return out;
}

static json_t *convert_spec(struct acs *a, const struct acs_target *t, const char *f, const json_t *v,
                            const json_t *spec);

/* The members of object `v`, each converted for its sub-field in `spec`'s content. */
static json_t *to_object(struct acs *a, const struct acs_target *t, const char *f, const json_t *v, const json_t *spec)
{
    const char *k;
    json_t *sv, *out;
    if (!json_is_object(v))
        return refuse(a, t, f, v, "is not an object");
    if (!(out = json_object()))
        return NULL;
    json_object_foreach ((json_t *)v, k, sv) {
        json_t *c = convert_spec(a, t, k, sv, json_object_get(json_object_get(spec, "content"), k));
        if (!c)
            return json_decref(out), NULL;
        json_object_set_new(out, k, c);
    }
    return out;
}

/* Convert `v` for a field of kind `kind` described by `spec`. */
static json_t *convert(struct acs *a, const struct acs_target *t, const char *f, const json_t *v, const json_t *spec,
                       enum acs_kind kind, json_int_t max_length)
{
    switch (kind) {
    case ACS_KIND_INTEGER:
        return to_integer(a, t, f, v);
    case ACS_KIND_REAL:
        return to_real(a, t, f, v);
    case ACS_KIND_BOOLEAN:
        return to_boolean(a, t, f, v);
    case ACS_KIND_DATE:
        return to_time(a, t, f, v, 1);
    case ACS_KIND_TIMESTAMP:
        return to_time(a, t, f, v, 0);
    case ACS_KIND_ENUM:
        return to_enum(a, t, f, v, spec);
    case ACS_KIND_OBJECT:
        return to_object(a, t, f, v, spec);
    default:
        return to_string(a, t, f, v, max_length);
    }
}

/* Convert `v` for the sub-field described by `spec` (NULL: of unknown type, kept a string). */
static json_t *convert_spec(struct acs *a, const struct acs_target *t, const char *f, const json_t *v,
                            const json_t *spec)
{
    return convert(a, t, f, v, spec, acs_kind_of(spec), json_integer_value(json_object_get(spec, "length")));
}

/* Set body[path] (a dotted path makes nested objects) to the converted value. */
static int put(struct acs *a, const struct acs_target *t, json_t *body, const char *path, const json_t *v)
{
    const char *dot = strchr(path, '.');
    size_t top_len = dot ? (size_t)(dot - path) : strlen(path);
    const struct acs_field *field = acs_field_find(t, path, top_len);
    char top[256];
    json_t *obj, *c;
    if (!field) {
        snprintf(top, sizeof top, "%.*s", (int)top_len, path);
        return refuse(a, t, top, v, "cannot be written: Campaign has no such field"), -1;
    }
    /* an enumeration has no empty value: a record without one (e.g. a contact with no gender) leaves the
     * field as Campaign has it (its default on a new profile) instead of being refused */
    if (!dot && json_is_null(v) && field->kind == ACS_KIND_ENUM)
        return 0;
    if (!dot) {
        if (!(c = convert(a, t, path, v, field->spec, field->kind, field->max_length)))
            return -1;
        return json_object_set_new(body, field->name, c);
    }
    if (!(obj = json_object_get(body, field->name))) {
        json_object_set_new(body, field->name, json_object());
        obj = json_object_get(body, field->name);
    }
    if (!(c = convert_spec(a, t, path, v, json_object_get(json_object_get(field->spec, "content"), dot + 1))))
        return -1;
    return json_object_set_new(obj, dot + 1, c);
}

/* A payload member by dotted path (borrowed), or NULL. */
static json_t *lookup(const json_t *payload, const char *path)
{
    char part[256];
    const json_t *cur = payload;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        snprintf(part, sizeof part, "%.*s", (int)n, path);
        cur = json_object_get(cur, part);
        path += n + (path[n] == '.');
    }
    return (json_t *)cur;
}

static json_t *source_value(const cs_record *rec, const char *src)
{
    return strcmp(src, ACS_RECORD_KEY) == 0 ? json_object_get(rec, "key") : lookup(cs_record_payload(rec), src);
}

json_t *acs_body_new(struct acs *a, const struct acs_target *t, const cs_record *rec)
{
    json_t *body = json_object(), *v, *l, *key = json_string(cs_record_key(rec));
    const char *name;
    if (!body || !key)
        goto fail;
    if (t->fields) {
        json_object_foreach (t->fields, name, v) {
            json_t *src = source_value(rec, json_string_value(v));
            if (src && put(a, t, body, name, src) != 0)
                goto fail;
        }
    } else {
        json_object_foreach (cs_record_payload(rec), name, v) {
            if (!json_object_get(t->links, name) && put(a, t, body, name, v) != 0)
                goto fail;
        }
    }
    if (put(a, t, body, t->key, key) != 0)
        goto fail;
    /* links stay as the linked records' keys here; the writer turns them into PKeys */
    json_object_foreach (t->links, name, l) {
        json_t *src = source_value(rec, json_string_value(json_object_get(l, "from")));
        if (src && !json_is_string(src) && !json_is_null(src)) {
            refuse(a, t, name, src, "is not the key of a linked record");
            goto fail;
        }
        if (src)
            json_object_set(body, name, src);
    }
    json_decref(key);
    return body;
fail:
    json_decref(key);
    json_decref(body);
    return NULL;
}
