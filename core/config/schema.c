/*
 * schema.c - the checker: a json_t against a list of fields (types, defaults, durations, ranges, choices,
 * secrets from files or the environment, paths from the configuration's directory), with every error at
 * its file:line:col. The core schema and the plugins' option tables go through it alike.
 */
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

static const struct field string_item = {.type = CS_OPT_STRING};
const struct field cs_cfg_nonempty_string = {.type = CS_OPT_STRING, .flags = F_NONEMPTY};

void cs_cfg_report(struct checker *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *where = cs_config_where(c->cfg, path), *msg;

    va_start(ap, fmt);
    msg = cs_xvasprintf(fmt, ap);
    va_end(ap);
    cs_cfg_add_line(&c->errors, cs_xasprintf("%s: %s", where, msg));
    free(where);
    free(msg);
}

const char *cs_cfg_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

const char *cs_cfg_expected(const struct field *f)
{
    switch (f->type) {
    case CS_OPT_STRING:
        return "a string";
    case CS_OPT_INT:
        return "an integer";
    case CS_OPT_BOOL:
        return "a boolean";
    case CS_OPT_DURATION:
        return "a duration such as \"5s\" or \"30m\"";
    case CS_OPT_LIST:
        return "a list";
    default:
        return "a mapping";
    }
}

/* Report a value of the wrong type; returns NULL for the caller to pass on. */
static json_t *expect(struct checker *c, const char *path, const struct field *f, const json_t *v)
{
    cs_cfg_report(c, path, "expected %s, got %s", cs_cfg_expected(f), cs_cfg_type_name(v));
    return NULL;
}

static size_t distance(const char *a, const char *b)
{
    size_t lb = strlen(b), *row = cs_xmalloc((lb + 1) * sizeof *row), d;

    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    d = row[lb];
    free(row);
    return d;
}

/* " (did you mean "x"?)" for the closest of `names` (array of strings), else " (<label>: a, b)", or ""
 * when there are no names. New string. */
char *cs_cfg_hint(const char *word, const json_t *names, const char *label)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, limit = strlen(word) / 3 > 2 ? strlen(word) / 3 : 2, i;
    char *list = NULL, *out;
    json_t *name;

    json_array_foreach (names, i, name) {
        size_t d = distance(word, json_string_value(name));
        if (d < best_d) {
            best_d = d;
            best = json_string_value(name);
        }
    }
    if (best && best_d <= limit)
        return cs_xasprintf(" (did you mean \"%s\"?)", best);
    if (!best)
        return cs_xstrdup("");
    json_array_foreach (names, i, name) {
        const char *s = json_string_value(name);
        char *longer = list ? cs_xasprintf("%s, %s", list, s) : cs_xstrdup(s);
        free(list);
        list = longer;
    }
    out = cs_xasprintf(" (%s: %s)", label, list);
    free(list);
    return out;
}

static json_t *convert(struct checker *c, const char *path, const struct field *f, json_t *v);
static json_t *string_value(struct checker *c, const char *path, const struct field *f, json_t *v)
{
    const char *s = json_string_value(v);

    if (!s)
        return expect(c, path, f, v);
    if ((f->flags & F_NONEMPTY) && !*s) {
        cs_cfg_report(c, path, "must not be empty");
        return NULL;
    }
    if (f->choices && !cs_cfg_listed(f->choices, s)) {
        json_t *names = json_array();
        char *list;
        for (const char *const *ch = f->choices; *ch; ch++)
            json_array_append_new(names, json_string(*ch));
        list = cs_cfg_hint(s, names, "expected one of");
        cs_cfg_report(c, path, "unknown value \"%s\"%s", s, list);
        free(list);
        json_decref(names);
        return NULL;
    }
    if ((f->flags & F_PATH) && c->cfg->dir && !strstr(s, "://")) {
        char *full = cs_config_path(c->cfg, s);
        json_t *out = json_string(full);
        free(full);
        return out;
    }
    return json_incref(v);
}

/* The units a duration is written in, from milliseconds up; "" (seconds) is a bare number. */
static const struct duration_unit {
    const char *suffix;
    int64_t ms;
} duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000}, {"", 1000}};

static char *number_text(int64_t n)
{
    return cs_xasprintf("%" PRId64, n);
}

char *cs_config_duration_text(int64_t ms)
{
    const struct duration_unit *best = &duration_units[0];
    for (size_t i = 0; i < sizeof duration_units / sizeof *duration_units; i++)
        if (ms && *duration_units[i].suffix && ms % duration_units[i].ms == 0 && duration_units[i].ms > best->ms)
            best = &duration_units[i];
    return cs_xasprintf("%" PRId64 "%s", ms / best->ms, best->suffix);
}

/* Whether `n` is in the range of `f` (any value when min >= max; max INT64_MAX: no upper end); reports
 * it otherwise, each number written by `text`. */
static int in_range(struct checker *c, const char *path, const struct field *f, int64_t n, char *(*text)(int64_t))
{
    char *low, *high, *got;

    if (f->min >= f->max || (n >= f->min && n <= f->max))
        return 1;
    low = text(f->min);
    high = text(f->max);
    got = text(n);
    if (f->max == INT64_MAX)
        cs_cfg_report(c, path, "must be at least %s, got %s", low, got);
    else
        cs_cfg_report(c, path, "must be between %s and %s, got %s", low, high, got);
    free(low);
    free(high);
    free(got);
    return 0;
}

static json_t *integer_value(struct checker *c, const char *path, const struct field *f, json_t *v)
{
    if (!json_is_integer(v))
        return expect(c, path, f, v);
    return in_range(c, path, f, json_integer_value(v), number_text) ? json_incref(v) : NULL;
}

/* A duration string, or an integer of seconds -> integer ms, in the range of `f`. */
static json_t *duration_value(struct checker *c, const char *path, const struct field *f, json_t *v)
{
    json_t *out = NULL;
    int64_t ms;
    char *text;

    if (json_is_integer(v))
        text = cs_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v))
        text = cs_xstrdup(json_string_value(v));
    else
        return expect(c, path, f, v);
    if (cs_config_parse_duration(text, &ms) == 0)
        out = in_range(c, path, f, ms, cs_config_duration_text) ? json_integer(ms) : NULL;
    else
        cs_cfg_report(c, path, "expected %s, got \"%s\"", cs_cfg_expected(f), text);
    free(text);
    return out;
}

/* A list whose elements are checked against f->item; failed elements become null. */
static json_t *list_value(struct checker *c, const char *path, const struct field *f, json_t *v)
{
    const struct field *item = f->item ? f->item : &string_item;
    json_t *out, *elem;
    size_t i;

    if (!json_is_array(v))
        return expect(c, path, f, v);
    if ((f->flags & F_NONEMPTY) && json_array_size(v) == 0) {
        cs_cfg_report(c, path, "must not be empty");
        return NULL;
    }
    out = json_array();
    json_array_foreach (v, i, elem) {
        char *child = cs_xasprintf("%s[%zu]", path, i);
        json_t *e = convert(c, child, item, elem);
        json_array_append_new(out, e ? e : json_null());
        free(child);
    }
    return out;
}

/* A mapping of names ([A-Za-z0-9_-]+) to f->item; failed entries become null. */
static json_t *map_value(struct checker *c, const char *path, const struct field *f, json_t *v)
{
    static const char name_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    const char *name;
    json_t *out, *elem;

    if (!json_is_object(v))
        return expect(c, path, f, v);
    out = json_object();
    json_object_foreach (v, name, elem) {
        char *child = cs_cfg_child_path(path, name);
        json_t *e = NULL;
        if (!*name || strspn(name, name_chars) != strlen(name))
            cs_cfg_report(c, child, "names may contain only letters, digits, \"_\" and \"-\"");
        else
            e = convert(c, child, f->item, elem);
        json_object_set_new(out, name, e ? e : json_null());
        free(child);
    }
    return out;
}

/* Check `v` (borrowed) against `f`. New value, NULL after reporting an error. */
static json_t *convert(struct checker *c, const char *path, const struct field *f, json_t *v)
{
    if (json_is_null(v) && (f->flags & F_NULLABLE))
        return json_null();
    switch (f->type) {
    case CS_OPT_STRING:
        return string_value(c, path, f, v);
    case CS_OPT_INT:
        return integer_value(c, path, f, v);
    case CS_OPT_BOOL:
        return json_is_boolean(v) ? json_incref(v) : expect(c, path, f, v);
    case CS_OPT_DURATION:
        return duration_value(c, path, f, v);
    case CS_OPT_LIST:
        return list_value(c, path, f, v);
    case CS_OPT_JSON:
        return json_incref(v);
    case T_OBJECT:
        return json_is_object(v) ? cs_cfg_check_object(c, path, v, f->schema, NULL) : expect(c, path, f, v);
    case T_MAP:
        return map_value(c, path, f, v);
    default:
        cs_cfg_report(c, path, "unsupported option type %d in the plugin's option table", f->type);
        return NULL;
    }
}

/* The field `key` names: an option, or <secret>_file / <secret>_env / <secret> of a secret one. */
static const struct field *find_field(const struct field *fields, const char *key)
{
    for (const struct field *f = fields; f->name; f++) {
        size_t n = strlen(f->name);
        if (!(f->flags & CS_OPT_SECRET) && strcmp(key, f->name) == 0)
            return f;
        if ((f->flags & CS_OPT_SECRET) && strncmp(key, f->name, n) == 0 &&
            (!key[n] || strcmp(key + n, "_file") == 0 || strcmp(key + n, "_env") == 0))
            return f;
    }
    return NULL;
}

static void unknown_key(struct checker *c, const char *path, const char *key, const struct field *fields,
                        const char *const *skip)
{
    json_t *names = json_array();
    char *h;

    for (const struct field *f = fields; f->name; f++) {
        if (f->flags & CS_OPT_SECRET) {
            json_array_append_new(names, json_sprintf("%s_file", f->name));
            json_array_append_new(names, json_sprintf("%s_env", f->name));
        } else {
            json_array_append_new(names, json_string(f->name));
        }
    }
    for (; skip && *skip; skip++)
        json_array_append_new(names, json_string(*skip));
    h = cs_cfg_hint(key, names, "allowed");
    cs_cfg_report(c, path, "unknown key%s", h);
    free(h);
    json_decref(names);
}

/* The secret from the file named by `v`: owner-only, one trailing newline stripped. */
int cs_config_read_secret(const char *file, char **value, char **err)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below) */
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), rc = CS_E_INVAL;

    *value = *err = NULL;
    if (fd < 0 || fstat(fd, &st) < 0) {
        *err = cs_xasprintf("cannot read %s: %s", file, strerror(errno));
        rc = CS_E_IO;
    } else if (!S_ISREG(st.st_mode)) {
        *err = cs_xasprintf("%s is not a regular file: put the secret in a file of its own", file);
    } else if (st.st_mode & 066) {
        *err = cs_xasprintf("%s is %s by group or others (mode %04o); run: chmod 600 %s", file,
                            st.st_mode & 044 ? "readable" : "writable", (unsigned)(st.st_mode & 07777), file);
    } else if (st.st_uid != geteuid() && st.st_uid != 0) {
        *err = cs_xasprintf("%s is owned by uid %u, not by the user crmsyncd runs as (uid %u), who could "
                            "replace it; run: chown %u %s",
                            file, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), file);
    } else if (cs_read_all(fd, SECRET_MAX, &buf, &len) < 0) {
        *err = cs_xasprintf("cannot read %s: %s", file, strerror(errno));
        rc = CS_E_IO;
    } else {
        len -= len && buf[len - 1] == '\n';
        buf[len] = '\0';
        if (len == 0) {
            *err = cs_xasprintf("%s is empty", file);
        } else if (strlen(buf) != len) {
            *err = cs_xasprintf("%s holds a NUL byte: a secret is one line of text", file);
        } else if (buf[len - 1] == '\r') {
            *err = cs_xasprintf("%s ends its line with a carriage return (saved with Windows line ends?); "
                                "run: sed -i 's/\\r$//' %s",
                                file, file);
        } else {
            *value = buf;
            buf = NULL;
            rc = 0;
        }
    }
    if (fd >= 0)
        close(fd);
    if (buf)
        explicit_bzero(buf, len);
    free(buf);
    return rc;
}

static json_t *secret_from_file(struct checker *c, const char *path, json_t *v)
{
    static const struct field file_field = {.type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH};
    json_t *name = convert(c, path, &file_field, v), *out = NULL;
    const char *file = json_string_value(name);
    char *value = NULL, *msg = NULL;

    if (file && cs_config_read_secret(file, &value, &msg) != 0)
        cs_cfg_report(c, path, "%s", msg);
    else if (file && !(out = json_string(value)))
        cs_cfg_report(c, path, "%s is not UTF-8 text", file);
    if (value)
        explicit_bzero(value, strlen(value));
    free(value);
    free(msg);
    json_decref(name);
    return out;
}

/* The secret from the environment variable named by `v`. */
static json_t *secret_from_env(struct checker *c, const char *path, json_t *v)
{
    json_t *name = convert(c, path, &cs_cfg_nonempty_string, v), *out = NULL;
    const char *var = json_string_value(name), *value = var ? getenv(var) : NULL;

    if (var && !value)
        cs_cfg_report(c, path, "environment variable %s is not set", var);
    else if (var && !*value)
        cs_cfg_report(c, path, "environment variable %s is empty", var);
    else if (var && !(out = json_string(value)))
        cs_cfg_report(c, path, "environment variable %s is not UTF-8 text", var);
    json_decref(name);
    return out;
}

/* Resolve secret `f` of `obj` (member path `path`) into `out`. Returns whether any form was given. */
static int resolve_secret(struct checker *c, const char *path, json_t *obj, const struct field *f, json_t *out)
{
    char *file_key = cs_xasprintf("%s_file", f->name), *env_key = cs_xasprintf("%s_env", f->name);
    char *file_path = cs_xasprintf("%s_file", path), *env_path = cs_xasprintf("%s_env", path);
    json_t *inline_value = json_object_get(obj, f->name), *file = json_object_get(obj, file_key),
           *env = json_object_get(obj, env_key), *value = NULL;

    if (inline_value)
        cs_cfg_report(c, path, "secrets are not accepted inline; use %s (a file only its owner can read) or %s",
                      file_key, env_key);
    if (file && env)
        cs_cfg_report(c, env_path, "give either %s or %s, not both", file_key, env_key);
    else if (file)
        value = secret_from_file(c, file_path, file);
    else if (env)
        value = secret_from_env(c, env_path, env);
    if (value)
        json_object_set_new(out, f->name, value);
    free(file_key);
    free(env_key);
    free(file_path);
    free(env_path);
    return inline_value || file || env;
}

/* The default of `f`: a string as written, anything else read like the file. New value or NULL. */
json_t *cs_cfg_default_value(struct checker *c, const char *path, const struct field *f)
{
    json_t *positions = json_object(), *parsed, *out = NULL;
    char *err = NULL;

    if (f->type == CS_OPT_STRING)
        parsed = json_string(f->def);
    else
        parsed = cs_cfg_parse_text(f->def, strlen(f->def), "default", positions, &err);
    if (parsed)
        out = convert(c, path, f, parsed);
    else
        cs_cfg_report(c, path, "invalid default \"%s\": %s", f->def, err);
    free(err);
    json_decref(parsed);
    json_decref(positions);
    return out;
}

/* `f` was not given in the object at `path`: required, defaulted, null or absent. */
static void fill_missing(struct checker *c, const char *path, const struct field *f, json_t *out)
{
    json_t *v = NULL;

    if ((f->flags & (CS_OPT_REQUIRED | CS_OPT_SECRET)) == (CS_OPT_REQUIRED | CS_OPT_SECRET))
        cs_cfg_report(c, path, "required: give %s_file or %s_env", f->name, f->name);
    else if (f->flags & CS_OPT_REQUIRED)
        cs_cfg_report(c, path, "required");
    else if (f->def)
        v = cs_cfg_default_value(c, path, f);
    else if (f->same_as && json_object_get(out, f->same_as))
        v = json_incref(json_object_get(out, f->same_as));
    else if (c->null_missing)
        v = json_null();
    if (v)
        json_object_set_new(out, f->name, v);
}

/* Check the object `obj` (borrowed) against `s`; members named in `skip` are ignored. New object of
 * the members that passed, defaults filled. */
json_t *cs_cfg_check_object(struct checker *c, const char *path, json_t *obj, const struct schema *s,
                            const char *const *skip)
{
    json_t *out = json_object(), *v;
    const char *key;

    json_object_foreach (obj, key, v) {
        const struct field *f = find_field(s->fields, key);
        char *child = cs_cfg_child_path(path, key);
        if (f && !(f->flags & CS_OPT_SECRET)) {
            json_t *value = convert(c, child, f, v);
            if (value)
                json_object_set_new(out, key, value);
        } else if (s->open && !f && !cs_cfg_listed(skip, key)) {
            json_object_set(out, key, v);
        } else if (!f && !cs_cfg_listed(skip, key)) {
            unknown_key(c, child, key, s->fields, skip);
        }
        free(child);
    }
    for (const struct field *f = s->fields; f->name; f++) {
        char *child = cs_cfg_child_path(path, f->name);
        int given =
            f->flags & CS_OPT_SECRET ? resolve_secret(c, child, obj, f, out) : json_object_get(obj, f->name) != NULL;
        if (!given && !(f->unless && json_object_get(obj, f->unless)))
            fill_missing(c, child, f, out);
        free(child);
    }
    if (s->post)
        s->post(c, path, out);
    return out;
}

int cs_config_parse_duration(const char *text, int64_t *ms)
{
    long long n;
    char *end;

    if (!text || !isdigit((unsigned char)*text))
        return CS_E_INVAL;
    errno = 0;
    n = strtoll(text, &end, 10);
    if (errno)
        return CS_E_INVAL;
    for (size_t i = 0; i < sizeof duration_units / sizeof *duration_units; i++) {
        if (strcmp(end, duration_units[i].suffix) == 0 && n <= INT64_MAX / duration_units[i].ms) {
            *ms = n * duration_units[i].ms;
            return 0;
        }
    }
    return CS_E_INVAL;
}
