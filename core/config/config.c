/*
 * config.c - the configuration file (see config.h and doc/configuration.md): reading YAML or JSON with
 * libyaml's event API into a json_t while recording every key path's line and column, checking the
 * core schema, and checking plugin options against their table (defaults, durations, secrets, ranges,
 * choices). The core schema and the plugin tables go through the same checker: a plugin table is
 * turned into the checker's field list.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "legs.h"
#include "mapping.h"
#include "mapping/vocabulary.h"
#include "util/util.h"
#include "util/yaml_emit.h"

#ifndef CS_DEFAULT_STATE_DIR
#define CS_DEFAULT_STATE_DIR "/var/lib/crmsync"
#endif
#ifndef CS_DEFAULT_WEB_DIR
#define CS_DEFAULT_WEB_DIR "/usr/share/crmsync/web"
#endif

#define CONFIG_MAX (1u << 20)  /* bytes in a configuration file */
#define SECRET_MAX (64u << 10) /* bytes in a secret file */
#define DEPTH_MAX  64          /* nesting of mappings and lists */

/* ---- shared helpers ------------------------------------------------------------------------------ */

/* "file:line:col: path", or "file:line:col" for the root. New string. */
static char *format_at(const char *file, long long line, long long col, const char *path)
{
    return *path ? cs_xasprintf("%s:%lld:%lld: %s", file, line, col, path)
                 : cs_xasprintf("%s:%lld:%lld", file, line, col);
}

/* The key path of member `key` of the object at `path`. New string. */
static char *child_path(const char *path, const char *key)
{
    return *path ? cs_xasprintf("%s.%s", path, key) : cs_xstrdup(key);
}

/* Line recorded for exactly `path`, 0 when none. */
static long long line_at(const json_t *positions, const char *path)
{
    return json_integer_value(json_array_get(json_object_get(positions, path), 0));
}

/* Append `line` (steals) to the newline-separated `*text`. */
static void add_line(char **text, char *line)
{
    char *joined;
    if (!*text) {
        *text = line;
        return;
    }
    joined = cs_xasprintf("%s\n%s", *text, line);
    free(*text);
    free(line);
    *text = joined;
}

/* ---- reading: libyaml events -> json_t ----------------------------------------------------------- */

struct reader {
    yaml_parser_t parser;
    const char *text; /* what is read, for the line and column of a byte offset, and the hints */
    size_t len;
    const char *name;  /* file name for messages */
    json_t *positions; /* key path -> [line, column] (borrowed) */
    char *err;         /* the error that stopped reading (new) */
};

static void reader_fail(struct reader *r, yaml_mark_t mark, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reader_fail(struct reader *r, yaml_mark_t mark, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *at = format_at(r->name, (long long)mark.line + 1, (long long)mark.column + 1, path), *msg;

    va_start(ap, fmt);
    msg = cs_xvasprintf(fmt, ap);
    va_end(ap);
    r->err = cs_xasprintf("%s: %s", at, msg);
    free(at);
    free(msg);
}

static void record(struct reader *r, const char *path, yaml_mark_t mark)
{
    json_object_set_new(r->positions, path, json_pack("[II]", (json_int_t)mark.line + 1, (json_int_t)mark.column + 1));
}

/* The offset of line `line` (0-based) in the text read, or -1 past its end. */
static long line_start(const struct reader *r, size_t line)
{
    size_t at = 0;
    for (; line; line--) {
        const char *nl = memchr(r->text + at, '\n', r->len - at);
        if (!nl)
            return -1;
        at = (size_t)(nl - r->text) + 1;
    }
    return (long)at;
}

/* Leading spaces of the line at offset `at`; -1 when it holds nothing but spaces or a comment. */
static int indentation(const struct reader *r, size_t at)
{
    size_t n = at;
    while (n < r->len && r->text[n] == ' ')
        n++;
    return n == r->len || strchr("\n\r#", r->text[n]) ? -1 : (int)(n - at);
}

/* What a person needs besides libyaml's words, for the problems a hand-written file meets most: a tab
 * used for indentation, and a key indented more or less than the keys above it. New string or NULL. */
static char *yaml_hint(const struct reader *r, const yaml_parser_t *p)
{
    long here = line_start(r, p->problem_mark.line), at;
    int mine, above = -1;
    size_t prev = p->problem_mark.line, lead;
    if (here < 0)
        return NULL;
    for (lead = (size_t)here; lead < r->len && r->text[lead] == ' ';)
        lead++;
    if ((lead < r->len && r->text[lead] == '\t') ||
        ((size_t)here + p->problem_mark.column < r->len && r->text[here + (long)p->problem_mark.column] == '\t'))
        return cs_xstrdup("tabs are not allowed for indentation; use spaces");
    if ((mine = indentation(r, (size_t)here)) < 0)
        return NULL;
    for (at = here; prev > 0 && above < 0;) { /* back, line by line, to one that holds a key */
        at--;                                 /* the newline that ends the line above */
        while (at > 0 && r->text[at - 1] != '\n')
            at--;
        prev--;
        above = indentation(r, (size_t)at);
    }
    if (above < 0 || mine == above)
        return NULL;
    return cs_xasprintf("this line is indented %s (%d spaces) than line %zu above it (%d): keys of one mapping "
                        "line up, and a value with \": \" in it needs quotes",
                        mine > above ? "more" : "less", mine, prev + 1, above);
}

static int next_event(struct reader *r, yaml_event_t *ev)
{
    const yaml_parser_t *p = &r->parser;

    if (yaml_parser_parse(&r->parser, ev))
        return 0;
    if (p->error == YAML_READER_ERROR) { /* bad UTF-8, a control character: it gives a byte offset */
        yaml_mark_t at = {.line = 0, .column = 0};
        for (size_t i = 0; i < p->problem_offset; i++) {
            at.column += ((unsigned char)r->text[i] & 0xc0) != 0x80; /* a character starts here */
            if (r->text[i] == '\n')
                at.line++, at.column = 0;
        }
        reader_fail(r, at, "", "%s (byte %zu)", p->problem, p->problem_offset);
    } else if (p->problem) {
        char *hint = yaml_hint(r, p);
        reader_fail(r, p->problem_mark, "", "%s%s%s%s%s", p->problem, p->context ? " " : "",
                    p->context ? p->context : "", hint ? ": " : "", hint ? hint : "");
        free(hint);
    } else
        r->err = cs_xasprintf("%s: out of memory", r->name);
    return -1;
}

/* Read one event and keep only its type and start mark. */
static int skip_event(struct reader *r, yaml_event_type_t *type, yaml_mark_t *mark)
{
    yaml_event_t ev;

    if (next_event(r, &ev) < 0)
        return -1;
    *type = ev.type;
    *mark = ev.start_mark;
    yaml_event_delete(&ev);
    return 0;
}

/* Refuse aliases, anchors and tags. */
static int plain_node(struct reader *r, const yaml_event_t *ev, const char *path)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;

    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        anchor = ev->data.alias.anchor;
        break;
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor)
        reader_fail(r, ev->start_mark, path, "anchors and aliases are not supported");
    else if (tag)
        reader_fail(r, ev->start_mark, path, "tags are not supported");
    return anchor || tag ? -1 : 0;
}

static int one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcasecmp(s, *words) == 0)
            return 1;
    return 0;
}

static int listed(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

/* [+-]digits */
static int is_integer(const char *s)
{
    s += *s == '-' || *s == '+';
    return *s && strspn(s, "0123456789") == strlen(s);
}

/* A decimal number strtod reads whole (no hex, inf or nan). */
static int is_real(const char *s)
{
    char *end;
    if (strspn(s, "0123456789+-.eE") != strlen(s) || !strpbrk(s, "0123456789"))
        return 0;
    strtod(s, &end);
    return *end == '\0';
}

/* Quoted and block scalars are strings; plain ones are typed. New value, NULL on error. */
static json_t *scalar_value(struct reader *r, const yaml_event_t *ev, const char *path)
{
    static const char *const nulls[] = {"", "~", "null", NULL};
    static const char *const trues[] = {"true", "yes", "on", NULL};
    static const char *const falses[] = {"false", "no", "off", NULL};
    const char *s = (const char *)ev->data.scalar.value;
    json_t *v;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(s, ev->data.scalar.length);
    if (one_of(s, nulls))
        return json_null();
    if (one_of(s, trues))
        return json_true();
    if (one_of(s, falses))
        return json_false();
    if (!is_integer(s) && !is_real(s))
        return json_stringn(s, ev->data.scalar.length);
    errno = 0;
    v = is_integer(s) ? json_integer(strtoll(s, NULL, 10)) : json_real(strtod(s, NULL));
    if (errno == ERANGE || !v) {
        json_decref(v);
        reader_fail(r, ev->start_mark, path, "number out of range");
        return NULL;
    }
    return v;
}

static json_t *read_node(struct reader *r, const yaml_event_t *ev, const char *path, int depth);

/* One member of a mapping whose key event is `key`. */
static int read_member(struct reader *r, json_t *obj, const char *path, const yaml_event_t *key, int depth)
{
    const char *name;
    char *child = NULL;
    yaml_event_t ev;
    json_t *v;
    int rc = -1;

    if (plain_node(r, key, path) < 0)
        return -1;
    if (key->type != YAML_SCALAR_EVENT) {
        reader_fail(r, key->start_mark, path, "mapping keys must be scalars");
        return -1;
    }
    name = (const char *)key->data.scalar.value;
    child = child_path(path, name);
    if (json_object_get(obj, name)) {
        reader_fail(r, key->start_mark, child, "duplicate key (first at line %lld)", line_at(r->positions, child));
        goto out;
    }
    record(r, child, key->start_mark);
    if (next_event(r, &ev) < 0)
        goto out;
    v = read_node(r, &ev, child, depth + 1);
    yaml_event_delete(&ev);
    if (v)
        rc = json_object_set_new(obj, name, v);
out:
    free(child);
    return rc;
}

static json_t *read_mapping(struct reader *r, const char *path, int depth)
{
    json_t *obj = json_object();
    yaml_event_t ev;
    int rc;

    for (;;) {
        if (next_event(r, &ev) < 0)
            goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT)
            break;
        rc = read_member(r, obj, path, &ev, depth);
        yaml_event_delete(&ev);
        if (rc < 0)
            goto fail;
    }
    yaml_event_delete(&ev);
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

static json_t *read_sequence(struct reader *r, const char *path, int depth)
{
    json_t *arr = json_array(), *v;
    yaml_event_t ev;
    char *child;

    for (;;) {
        if (next_event(r, &ev) < 0)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        child = cs_xasprintf("%s[%zu]", path, json_array_size(arr));
        record(r, child, ev.start_mark);
        v = read_node(r, &ev, child, depth + 1);
        free(child);
        yaml_event_delete(&ev);
        if (!v)
            goto fail;
        json_array_append_new(arr, v);
    }
    yaml_event_delete(&ev);
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

/* The node starting with `ev` (borrowed). New value, NULL on error. */
static json_t *read_node(struct reader *r, const yaml_event_t *ev, const char *path, int depth)
{
    if (plain_node(r, ev, path) < 0)
        return NULL;
    if (depth > DEPTH_MAX) {
        reader_fail(r, ev->start_mark, path, "nested more than %d levels deep", DEPTH_MAX);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return scalar_value(r, ev, path);
    case YAML_SEQUENCE_START_EVENT:
        return read_sequence(r, path, depth);
    case YAML_MAPPING_START_EVENT:
        return read_mapping(r, path, depth);
    default:
        reader_fail(r, ev->start_mark, path, "unexpected YAML event %d", (int)ev->type);
        return NULL;
    }
}

/* The only document of the stream (null when there is none). New value, NULL on error. */
static json_t *read_document(struct reader *r)
{
    yaml_event_type_t type;
    yaml_mark_t mark;
    yaml_event_t ev;
    json_t *doc;

    if (skip_event(r, &type, &mark) < 0 || skip_event(r, &type, &mark) < 0) /* stream, document start */
        return NULL;
    if (type == YAML_STREAM_END_EVENT) {
        record(r, "", mark);
        return json_null();
    }
    if (next_event(r, &ev) < 0)
        return NULL;
    record(r, "", ev.start_mark);
    doc = read_node(r, &ev, "", 0);
    yaml_event_delete(&ev);
    if (!doc || skip_event(r, &type, &mark) < 0 || skip_event(r, &type, &mark) < 0) /* document end, next */
        goto fail;
    if (type == YAML_DOCUMENT_START_EVENT) {
        reader_fail(r, mark, "", "multiple documents are not supported");
        goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

/* Parse `len` bytes of YAML or JSON named `name`; positions go into `positions`. New value, or NULL
 * with *err (new) set. */
static json_t *parse_text(const char *text, size_t len, const char *name, json_t *positions, char **err)
{
    struct reader r = {.text = text, .len = len, .name = name, .positions = positions};
    json_t *doc;

    if (!yaml_parser_initialize(&r.parser)) {
        *err = cs_xasprintf("%s: out of memory", name);
        return NULL;
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
    doc = read_document(&r);
    yaml_parser_delete(&r.parser);
    if (!doc && !r.err)
        r.err = cs_xasprintf("%s: out of memory", name);
    *err = r.err;
    return doc;
}

json_t *cs_config_parse_text(const char *text, size_t len, const char *name, char **err)
{
    json_t *positions = json_object(), *doc = parse_text(text, len, name, positions, err);
    json_decref(positions);
    return doc;
}

/* ---- checking: one routine for the core schema and for plugin option tables ------------------------ */

/* Field types beyond cs_option_type. */
enum { T_OBJECT = 16 /* a mapping checked against `schema` */, T_MAP /* name -> `item` */ };

/* Field flags beyond CS_OPT_REQUIRED and CS_OPT_SECRET. */
#define F_NONEMPTY 0x100u /* strings and lists must not be empty */
#define F_NULLABLE 0x200u /* null is accepted as is */
#define F_PATH     0x400u /* a file or directory: a relative one is taken from the configuration file's directory */

struct schema;

struct field {
    const char *name;
    int type;                    /* cs_option_type, T_OBJECT or T_MAP */
    unsigned flags;              /* CS_OPT_REQUIRED, CS_OPT_SECRET, F_* */
    const char *def;             /* default as written in the file; NULL: none */
    const char *same_as;         /* or default to the value of this sibling */
    int64_t min, max;            /* CS_OPT_INT, CS_OPT_DURATION (ms): accepted range when min < max */
    const char *const *choices;  /* CS_OPT_STRING: the accepted values, NULL-terminated */
    const struct schema *schema; /* T_OBJECT: its members */
    const struct field *item;    /* CS_OPT_LIST, T_MAP: each element (CS_OPT_LIST: a string if NULL) */
    const char *unless;          /* CS_OPT_REQUIRED only when this sibling is not given */
};

struct checker;

struct schema {
    const struct field *fields; /* ends with a NULL name */
    int open;                   /* other members are kept as they are (plugin options) */
    void (*post)(struct checker *c, const char *path, json_t *obj); /* checks across members */
};

struct checker {
    const struct cs_config *cfg;
    char *errors;     /* every error so far, one per line (new); NULL when none */
    int null_missing; /* options neither given nor defaulted become null */
};

static const struct field string_item = {.type = CS_OPT_STRING};
static const struct field nonempty_string = {.type = CS_OPT_STRING, .flags = F_NONEMPTY};

static void report(struct checker *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(struct checker *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *where = cs_config_where(c->cfg, path), *msg;

    va_start(ap, fmt);
    msg = cs_xvasprintf(fmt, ap);
    va_end(ap);
    add_line(&c->errors, cs_xasprintf("%s: %s", where, msg));
    free(where);
    free(msg);
}

static const char *type_name(const json_t *v)
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

static const char *expected(const struct field *f)
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
    report(c, path, "expected %s, got %s", expected(f), type_name(v));
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
static char *hint(const char *word, const json_t *names, const char *label)
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
static json_t *check_object(struct checker *c, const char *path, json_t *obj, const struct schema *s,
                            const char *const *skip);

static json_t *string_value(struct checker *c, const char *path, const struct field *f, json_t *v)
{
    const char *s = json_string_value(v);

    if (!s)
        return expect(c, path, f, v);
    if ((f->flags & F_NONEMPTY) && !*s) {
        report(c, path, "must not be empty");
        return NULL;
    }
    if (f->choices && !listed(f->choices, s)) {
        json_t *names = json_array();
        char *list;
        for (const char *const *ch = f->choices; *ch; ch++)
            json_array_append_new(names, json_string(*ch));
        list = hint(s, names, "expected one of");
        report(c, path, "unknown value \"%s\"%s", s, list);
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
        report(c, path, "must be at least %s, got %s", low, got);
    else
        report(c, path, "must be between %s and %s, got %s", low, high, got);
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
        report(c, path, "expected %s, got \"%s\"", expected(f), text);
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
        report(c, path, "must not be empty");
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
        char *child = child_path(path, name);
        json_t *e = NULL;
        if (!*name || strspn(name, name_chars) != strlen(name))
            report(c, child, "names may contain only letters, digits, \"_\" and \"-\"");
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
        return json_is_object(v) ? check_object(c, path, v, f->schema, NULL) : expect(c, path, f, v);
    case T_MAP:
        return map_value(c, path, f, v);
    default:
        report(c, path, "unsupported option type %d in the plugin's option table", f->type);
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
    h = hint(key, names, "allowed");
    report(c, path, "unknown key%s", h);
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
        report(c, path, "%s", msg);
    else if (file && !(out = json_string(value)))
        report(c, path, "%s is not UTF-8 text", file);
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
    json_t *name = convert(c, path, &nonempty_string, v), *out = NULL;
    const char *var = json_string_value(name), *value = var ? getenv(var) : NULL;

    if (var && !value)
        report(c, path, "environment variable %s is not set", var);
    else if (var && !*value)
        report(c, path, "environment variable %s is empty", var);
    else if (var && !(out = json_string(value)))
        report(c, path, "environment variable %s is not UTF-8 text", var);
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
        report(c, path, "secrets are not accepted inline; use %s (a file only its owner can read) or %s", file_key,
               env_key);
    if (file && env)
        report(c, env_path, "give either %s or %s, not both", file_key, env_key);
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
static json_t *default_value(struct checker *c, const char *path, const struct field *f)
{
    json_t *positions = json_object(), *parsed, *out = NULL;
    char *err = NULL;

    if (f->type == CS_OPT_STRING)
        parsed = json_string(f->def);
    else
        parsed = parse_text(f->def, strlen(f->def), "default", positions, &err);
    if (parsed)
        out = convert(c, path, f, parsed);
    else
        report(c, path, "invalid default \"%s\": %s", f->def, err);
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
        report(c, path, "required: give %s_file or %s_env", f->name, f->name);
    else if (f->flags & CS_OPT_REQUIRED)
        report(c, path, "required");
    else if (f->def)
        v = default_value(c, path, f);
    else if (f->same_as && json_object_get(out, f->same_as))
        v = json_incref(json_object_get(out, f->same_as));
    else if (c->null_missing)
        v = json_null();
    if (v)
        json_object_set_new(out, f->name, v);
}

/* Check the object `obj` (borrowed) against `s`; members named in `skip` are ignored. New object of
 * the members that passed, defaults filled. */
static json_t *check_object(struct checker *c, const char *path, json_t *obj, const struct schema *s,
                            const char *const *skip)
{
    json_t *out = json_object(), *v;
    const char *key;

    json_object_foreach (obj, key, v) {
        const struct field *f = find_field(s->fields, key);
        char *child = child_path(path, key);
        if (f && !(f->flags & CS_OPT_SECRET)) {
            json_t *value = convert(c, child, f, v);
            if (value)
                json_object_set_new(out, key, value);
        } else if (s->open && !f && !listed(skip, key)) {
            json_object_set(out, key, v);
        } else if (!f && !listed(skip, key)) {
            unknown_key(c, child, key, s->fields, skip);
        }
        free(child);
    }
    for (const struct field *f = s->fields; f->name; f++) {
        char *child = child_path(path, f->name);
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

/* ---- the core schema ------------------------------------------------------------------------------ */

static const char *item_string(const json_t *list, size_t i, const char *member)
{
    const json_t *v = json_array_get(list, i);
    return json_string_value(member ? json_object_get(v, member) : v);
}

static char *item_path(const char *path, size_t i, const char *member)
{
    return member ? cs_xasprintf("%s[%zu].%s", path, i, member) : cs_xasprintf("%s[%zu]", path, i);
}

/* "line N" of the main file, or "file:N" of a conf.d file. New. */
static char *first_at(const struct cs_config *cfg, const char *path)
{
    const json_t *pos = json_object_get(cfg->positions, path);
    const char *file = json_string_value(json_array_get(pos, 2));
    long long line = json_integer_value(json_array_get(pos, 0));
    return file ? cs_xasprintf("%s:%lld", file, line) : cs_xasprintf("line %lld", line);
}

/* Each string (or string member `member` of each object) of `list` at `path` appears once. Linear:
 * the strings seen are kept with their first index. */
static void check_unique(struct checker *c, const char *path, const json_t *list, const char *member, const char *what)
{
    json_t *seen = json_object();
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *s = item_string(list, i, member);
        const json_t *first_index = s ? json_object_get(seen, s) : NULL;
        if (first_index) {
            size_t j = (size_t)json_integer_value(first_index);
            char *here = item_path(path, i, member), *first = item_path(path, j, member);
            char *at = first_at(c->cfg, first);
            report(c, here, "duplicate %s \"%s\" (first at %s)", what, s, at);
            free(at);
            free(here);
            free(first);
        } else if (s) {
            json_object_set_new_nocheck(seen, s, json_integer((json_int_t)i));
        }
    }
    json_decref(seen);
}

/* Member `member` (named `name`) of the object at `owner` names an entry of `connections`. */
static void check_connection_at(struct checker *c, const char *owner, const char *name, const char *member,
                                json_t *connections)
{
    const char *key;
    json_t *names, *v;
    char *path, *h;

    if (!name || json_object_get(connections, name))
        return;
    names = json_array();
    json_object_foreach (connections, key, v)
        json_array_append_new(names, json_string(key));
    path = child_path(owner, member);
    h = hint(name, names, "defined");
    report(c, path, "unknown connection \"%s\"%s", name, h);
    free(h);
    free(path);
    json_decref(names);
}

/* Member `member` of workflow i names an entry of `connections`. */
static void check_connection(struct checker *c, const json_t *workflows, size_t i, const char *member,
                             json_t *connections)
{
    char *owner = cs_xasprintf("workflows[%zu]", i);
    check_connection_at(c, owner, item_string(workflows, i, member), member, connections);
    free(owner);
}

static void root_post(struct checker *c, const char *path, json_t *root)
{
    const json_t *workflows = json_object_get(root, "workflows");
    json_t *connections = json_object_get(root, "connections");

    (void)path;
    check_unique(c, "plugins", json_object_get(root, "plugins"), NULL, "plugin");
    for (size_t i = 0; i < json_array_size(json_object_get(root, "plugins")); i++) {
        const char *p = json_string_value(json_array_get(json_object_get(root, "plugins"), i));
        if (p && strchr(p, '/')) { /* a path, not a name looked up in plugin_dir */
            char *full = cs_config_path(c->cfg, p);
            json_array_set_new(json_object_get(root, "plugins"), i, json_string(full));
            free(full);
        }
    }
    check_unique(c, "workflows", workflows, "id", "workflow id");
    for (size_t i = 0; i < json_array_size(workflows); i++) {
        const json_t *legs = json_object_get(json_array_get(workflows, i), "legs"), *leg;
        const char *name;
        check_connection(c, workflows, i, "source", connections);
        check_connection(c, workflows, i, "sink", connections);
        json_object_foreach ((json_t *)legs, name, leg) {
            char *lpath = cs_xasprintf("workflows[%zu].legs.%s", i, name);
            check_connection_at(c, lpath, json_string_value(json_object_get(leg, "source")), "source", connections);
            check_connection_at(c, lpath, json_string_value(json_object_get(leg, "sink")), "sink", connections);
            free(lpath);
        }
    }
}

/* Opt In/Out written as its two former workflows (legs.h): refused, showing the one workflow to write. */
static void check_former_pair(struct checker *c, const json_t *doc)
{
    const json_t *workflows = json_object_get(doc, "workflows");
    json_t *merged = NULL, *listed;
    size_t first = 0;
    long second = cs_legs_former_pair(workflows, &first, &merged);
    char *yaml, *err = NULL, *path, *at;
    if (second < 0)
        return;
    listed = json_pack("[o]", merged); /* as it stands under workflows: */
    yaml = cs_yaml_dump(listed, &err);
    json_decref(listed);
    path = cs_xasprintf("workflows[%zu]", first);
    at = first_at(c->cfg, path);
    free(path);
    path = cs_xasprintf("workflows[%ld]", second);
    report(c, path,
           "this workflow and workflows[%zu] (%s) are the two directions of Opt In/Out, which is one "
           "workflow with a direction since crmsync 0.9; replace both with the one below (its legs keep the "
           "backlog, cursors and dead letters of the two, nothing is read again):\n%s",
           first, at, yaml ? yaml : err);
    free(path);
    free(at);
    free(yaml);
    free(err);
}

/* admin.allowed_hosts: host names as a browser sends them in Host, without port or scheme. */
static void check_allowed_hosts(struct checker *c, const char *path, const json_t *hosts)
{
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";
    for (size_t i = 0; i < json_array_size(hosts); i++) {
        const char *h = json_string_value(json_array_get(hosts, i));
        char *here;
        if (!h || !*h || strspn(h, name_chars) == strlen(h))
            continue;
        here = cs_xasprintf("%s.allowed_hosts[%zu]", path, i);
        report(c, here,
               "\"%s\" is not a host name: give the name alone (letters, digits, \".\", \"-\"), without "
               "scheme or port, e.g. crmsync.example.com",
               h);
        free(here);
    }
}

static void admin_post(struct checker *c, const char *path, json_t *admin)
{
    int cert = json_object_get(admin, "tls_cert_file") != NULL, key = json_object_get(admin, "tls_key_file") != NULL;
    char *missing;

    check_allowed_hosts(c, path, json_object_get(admin, "allowed_hosts"));
    if (json_is_integer(json_object_get(admin, "request_head_timeout")) &&
        json_integer_value(json_object_get(admin, "request_head_timeout")) < 1000) {
        char *here = child_path(path, "request_head_timeout");
        report(c, here, "must be at least 1s: a client needs time to send its request head");
        free(here);
    }
    if (cert == key)
        return;
    missing = child_path(path, cert ? "tls_key_file" : "tls_cert_file");
    report(c, missing, "required when %s is set", cert ? "tls_cert_file" : "tls_key_file");
    free(missing);
}

static void retry_post(struct checker *c, const char *path, json_t *retry)
{
    const json_t *v = json_object_get(retry, "max_attempts");
    long long n = json_integer_value(v);
    char *child;

    if (!v || n == -1 || n >= 1)
        return;
    child = child_path(path, "max_attempts");
    report(c, child, "must be -1 (retry forever) or at least 1, got %lld", n);
    free(child);
}

/* Each destination table is the target of one mapping (a duplicate stream is reported already). */
static void check_targets(struct checker *c, const char *path, const json_t *mappings)
{
    /* per target: [the first mapping to it, the first one to it from another stream than that one's] */
    json_t *seen = json_object();
    for (size_t i = 0; i < json_array_size(mappings); i++) {
        const char *t = item_string(mappings, i, "target"), *st = item_string(mappings, i, "stream");
        json_t *firsts = t && st ? json_object_get(seen, t) : NULL;
        const json_t *other;
        size_t j0, j;
        if (!t || !st)
            continue;
        if (!firsts) {
            json_object_set_new_nocheck(seen, t, json_pack("[I]", (json_int_t)i));
            continue;
        }
        j0 = (size_t)json_integer_value(json_array_get(firsts, 0));
        other = json_array_get(firsts, 1);
        if (strcmp(st, item_string(mappings, j0, "stream")) != 0) {
            j = j0;
            if (!other)
                json_array_append_new(firsts, json_integer((json_int_t)i));
        } else if (other) {
            j = (size_t)json_integer_value(other);
        } else {
            continue;
        }
        {
            char *here = cs_xasprintf("%s%smappings[%zu].target", path, *path ? "." : "", i);
            report(c, here,
                   "\"%s\" is already the target of mappings[%zu] (%s): each destination table is "
                   "mapped to once",
                   t, j, item_string(mappings, j, "stream"));
            free(here);
        }
    }
    json_decref(seen);
}

/* Adobe's guardrails: at most limits.custom_entities custom tables, each with at most limits.columns
 * mapped fields. */
static void check_guardrails(struct checker *c, const char *path, const json_t *wf, const json_t *limits)
{
    const json_t *mappings = json_object_get(wf, "mappings");
    int64_t max_custom = json_integer_value(json_object_get(limits, "custom_entities"));
    int64_t max_columns = json_integer_value(json_object_get(limits, "columns")), custom = 0;
    for (size_t i = 0; i < json_array_size(mappings); i++) {
        const json_t *m = json_array_get(mappings, i);
        char *where;
        if (!cs_mapping_is_custom(m))
            continue;
        where = cs_xasprintf("%s%smappings[%zu]", path, *path ? "." : "", i);
        if (++custom == max_custom + 1)
            report(c, where,
                   "more than %lld custom entities in one workflow (limits.custom_entities; Adobe's "
                   "guardrail is 20)",
                   (long long)max_custom);
        if ((int64_t)json_array_size(json_object_get(m, "fields")) > max_columns) {
            char *fields = cs_xasprintf("%s.fields", where);
            report(c, fields, "%zu mapped columns, more than limits.columns (%lld; Adobe's guardrail is 50)",
                   json_array_size(json_object_get(m, "fields")), (long long)max_columns);
            free(fields);
        }
        free(where);
    }
}

/* The mappings of a one-way workflow, or of one leg, at `path`. */
static void check_mappings(struct checker *c, const char *path, const json_t *owner, const json_t *limits_of)
{
    char *child = child_path(path, "mappings");
    check_unique(c, child, json_object_get(owner, "mappings"), "stream", "stream");
    free(child);
    check_targets(c, path, json_object_get(owner, "mappings"));
    check_guardrails(c, path, owner, json_object_get(limits_of, "limits"));
}

static int valid_id(const char *id)
{
    return *id && *id != '-' && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(id);
}

/* In a workflow with legs the direction sets each entity handler's `mode`: it is not written. */
static void check_no_mode(struct checker *c, const char *lpath, const json_t *leg)
{
    const json_t *mappings = json_object_get(leg, "mappings");
    for (size_t i = 0; i < json_array_size(mappings); i++) {
        char *here;
        if (!json_object_get(json_object_get(json_array_get(mappings, i), "entity"), "mode"))
            continue;
        here = cs_xasprintf("%s.mappings[%zu].entity.mode", lpath, i);
        report(c, here, "set by the workflow's direction in a workflow with legs; remove it");
        free(here);
    }
}

static void check_legs(struct checker *c, const char *path, const json_t *wf)
{
    const json_t *legs = json_object_get(wf, "legs"), *leg;
    const char *direction = json_string_value(json_object_get(wf, "direction")), *name;
    static const char *const one_way[] = {"source", "sink", "mappings", NULL};
    char *child;

    for (size_t i = 0; one_way[i]; i++)
        if (json_object_get(wf, one_way[i])) {
            child = child_path(path, one_way[i]);
            report(c, child, "a workflow with legs has its %s in each leg; move it there", one_way[i]);
            free(child);
        }
    child = child_path(path, "legs");
    if (json_object_size(legs) < 1 || json_object_size(legs) > CS_LEGS_MAX)
        report(c, child, "one or %d legs, got %zu", CS_LEGS_MAX, json_object_size(legs));
    json_object_foreach ((json_t *)legs, name, leg) {
        char *lpath = child_path(child, name);
        if (!valid_id(name))
            report(c, lpath, "a leg's name is lowercase letters, digits and \"-\", not starting with \"-\"");
        check_mappings(c, lpath, leg, wf);
        check_no_mode(c, lpath, leg);
        free(lpath);
    }
    free(child);
    child = child_path(path, "direction");
    if (!direction) {
        report(c, child, "required in a workflow with legs: disabled, bidirectional or the name of a leg");
    } else if (strcmp(direction, "bidirectional") == 0
                   ? json_object_size(legs) != CS_LEGS_MAX
                   : strcmp(direction, "disabled") != 0 && !json_object_get(legs, direction)) {
        char *names = NULL;
        json_object_foreach ((json_t *)legs, name, leg) {
            char *more = cs_xasprintf("%s%s%s", names ? names : "", names ? ", " : "", name);
            free(names);
            names = more;
        }
        report(c, child, "\"%s\" is not a direction of this workflow: use disabled, %s%s", direction,
               names ? names : "",
               json_object_size(legs) == CS_LEGS_MAX ? " or bidirectional"
                                                     : " (add the other "
                                                       "leg for bidirectional)");
        free(names);
    }
    free(child);
}

static void workflow_post(struct checker *c, const char *path, json_t *wf)
{
    const char *id = json_string_value(json_object_get(wf, "id"));
    char *child;

    if (id && !valid_id(id)) {
        child = child_path(path, "id");
        report(c, child, "must be lowercase letters, digits and \"-\", not starting with \"-\"; got \"%s\"", id);
        free(child);
    }
    if (json_object_get(wf, "legs")) {
        check_legs(c, path, wf);
        return;
    }
    if (json_object_get(wf, "direction")) {
        child = child_path(path, "direction");
        report(c, child, "only a workflow with legs has a direction; add legs or remove it");
        free(child);
    }
    check_mappings(c, path, wf, wf);
}

static const char *const log_levels[] = {"error", "warning", "notice", "info", "debug", NULL};

/* state.dsn_file belongs to the postgresql driver, and must be a readable owner-only file. */
static void state_post(struct checker *c, const char *path, json_t *state)
{
    const char *driver = json_string_value(json_object_get(state, "driver"));
    const char *file = json_string_value(json_object_get(state, "dsn_file"));
    char *where, *dsn = NULL, *msg = NULL;

    if (!file)
        return;
    where = child_path(path, "dsn_file");
    if (driver && strcmp(driver, "postgresql") != 0)
        report(c, where, "is read by the postgresql driver only; remove it, or set driver: postgresql");
    else if (cs_config_read_secret(file, &dsn, &msg) != 0)
        report(c, where, "%s", msg);
    if (dsn)
        explicit_bzero(dsn, strlen(dsn));
    free(dsn);
    free(msg);
    free(where);
}

static const char *const state_drivers[] = {"sqlite", "postgresql", NULL};
static const struct field state_fields[] = {
    {.name = "driver", .type = CS_OPT_STRING, .def = "sqlite", .choices = state_drivers},
    {.name = "dsn_file", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = NULL}};
static const struct schema state_schema = {state_fields, 0, state_post};

static const char *const admin_roles[] = {"operator", "viewer", NULL};
static const struct field admin_token_fields[] = {
    {.name = "token_file", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY | F_PATH},
    {.name = "role", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED, .choices = admin_roles},
    {.name = NULL}};
static const struct schema admin_token_schema = {admin_token_fields, 0, NULL};
static const struct field admin_token_item = {.type = T_OBJECT, .schema = &admin_token_schema};

static const struct field admin_fields[] = {
    {.name = "listen", .type = CS_OPT_STRING, .flags = F_NONEMPTY, .def = "127.0.0.1:8470"},
    {.name = "token_file", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = "tokens", .type = CS_OPT_LIST, .def = "[]", .item = &admin_token_item},
    {.name = "tls_cert_file", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = "tls_key_file", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = "web_dir", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH, .def = CS_DEFAULT_WEB_DIR},
    {.name = "allowed_hosts", .type = CS_OPT_LIST, .def = "[]", .item = &nonempty_string},
    {.name = "metadata_ttl", .type = CS_OPT_DURATION, .def = "60s"},
    {.name = "remote_requests_per_minute", .type = CS_OPT_INT, .def = "20", .min = 1, .max = 100000},
    {.name = "max_connections", .type = CS_OPT_INT, .def = "256", .min = 1, .max = 10000},
    {.name = "max_connections_per_ip", .type = CS_OPT_INT, .def = "64", .min = 1, .max = 10000},
    {.name = "request_head_timeout", .type = CS_OPT_DURATION, .def = "5s"},
    {.name = NULL}};
static const struct schema admin_schema = {admin_fields, 0, admin_post};

/* A connection, an entity or a stage: one core member, the rest are the plugin's options. */
static const struct field connection_fields[] = {
    {.name = "connector", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY}, {.name = NULL}};
static const struct schema connection_schema = {connection_fields, 1, NULL};
static const struct field connection_item = {.type = T_OBJECT, .schema = &connection_schema};

static const struct field plugin_ref_fields[] = {
    {.name = "name", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY}, {.name = NULL}};
static const struct schema plugin_ref_schema = {plugin_ref_fields, 1, NULL};
static const struct field plugin_ref_item = {.type = T_OBJECT, .schema = &plugin_ref_schema};

/* The table-mapping form (mapping.h): key, fields, replacements, filters and the advanced settings. */
static const struct field key_fields[] = {
    {.name = "source", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "target", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = NULL}};
static const struct schema key_schema = {key_fields, 0, NULL};

static const char *const convert_types[] = {CS_CONVERT_TYPES(CS_VOCABULARY_NAME) NULL};
static const struct field field_mapping_fields[] = {
    {.name = "source", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "target", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "apply_updates", .type = CS_OPT_BOOL, .def = "true"},
    {.name = "type", .type = CS_OPT_STRING, .choices = convert_types},
    {.name = NULL}};
static const struct schema field_mapping_schema = {field_mapping_fields, 0, NULL};
static const struct field field_mapping_item = {.type = T_OBJECT, .schema = &field_mapping_schema};

static const struct field replacement_fields[] = {
    {.name = "field", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "from", .type = CS_OPT_JSON, .flags = CS_OPT_REQUIRED},
    {.name = "to", .type = CS_OPT_JSON, .flags = CS_OPT_REQUIRED},
    {.name = NULL}};
static const struct schema replacement_schema = {replacement_fields, 0, NULL};
static const struct field replacement_item = {.type = T_OBJECT, .schema = &replacement_schema};

static const char *const filter_ops[] = {CS_FILTER_OPERATORS(CS_VOCABULARY_NAME) NULL};
static const struct field filter_rule_fields[] = {
    {.name = "field", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "op", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED, .choices = filter_ops},
    {.name = "value", .type = CS_OPT_JSON},
    {.name = NULL}};
static const struct schema filter_rule_schema = {filter_rule_fields, 0, NULL};
static const struct field filter_rule_item = {.type = T_OBJECT, .schema = &filter_rule_schema};

static const char *const filter_matches[] = {CS_FILTER_MATCHES(CS_VOCABULARY_NAME) NULL};
static const struct field filters_fields[] = {
    {.name = "match", .type = CS_OPT_STRING, .def = "all", .choices = filter_matches},
    {.name = "delete_filtered", .type = CS_OPT_BOOL, .def = "false"},
    {.name = "rules", .type = CS_OPT_LIST, .def = "[]", .item = &filter_rule_item},
    {.name = NULL}};
static const struct schema filters_schema = {filters_fields, 0, NULL};

static const char *const picklist_modes[] = {"technical", "label", NULL};

static const struct field mapping_fields[] = {
    {.name = "stream", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "target", .type = CS_OPT_STRING, .flags = F_NONEMPTY, .same_as = "stream"},
    {.name = "entity", .type = T_OBJECT, .schema = &plugin_ref_schema},
    {.name = "stages", .type = CS_OPT_LIST, .def = "[]", .item = &plugin_ref_item},
    {.name = "key", .type = T_OBJECT, .schema = &key_schema},
    {.name = "fields", .type = CS_OPT_LIST, .item = &field_mapping_item},
    {.name = "replacements", .type = CS_OPT_LIST, .def = "[]", .item = &replacement_item},
    {.name = "filters", .type = T_OBJECT, .def = "{}", .schema = &filters_schema},
    {.name = "apply_deletes", .type = CS_OPT_BOOL, .def = "true"},
    {.name = "picklists", .type = CS_OPT_STRING, .def = "technical", .choices = picklist_modes},
    {.name = NULL}};

struct mapping_report {
    struct checker *c;
    const char *path;
};

static void mapping_problem(void *arg, const char *member, const char *message)
{
    struct mapping_report *r = arg;
    char *where = child_path(r->path, member);
    report(r->c, where, "%s", message);
    free(where);
}

static void mapping_post(struct checker *c, const char *path, json_t *mapping)
{
    struct mapping_report r = {c, path};
    cs_mapping_compile(mapping, mapping_problem, &r);
}
static const struct schema mapping_schema = {mapping_fields, 0, mapping_post};
static const struct field mapping_item = {.type = T_OBJECT, .schema = &mapping_schema};

static const struct field backlog_fields[] = {
    {.name = "high_water", .type = CS_OPT_INT, .def = "100000", .min = 1, .max = INT64_MAX}, {.name = NULL}};
static const struct schema backlog_schema = {backlog_fields, 0, NULL};

static const struct field retry_fields[] = {
    {.name = "base", .type = CS_OPT_DURATION, .def = "1s"},
    {.name = "cap", .type = CS_OPT_DURATION, .def = "30m"},
    {.name = "max_attempts", .type = CS_OPT_INT, .def = "-1"},
    {.name = "max_age", .type = CS_OPT_DURATION, .flags = F_NULLABLE, .def = "null"},
    {.name = "redrive_not_found", .type = CS_OPT_DURATION, .flags = F_NULLABLE, .def = "null"},
    {.name = "redrive_not_found_for", .type = CS_OPT_DURATION, .def = "7d"},
    {.name = NULL}};
static const struct schema retry_schema = {retry_fields, 0, retry_post};

static const struct field limits_fields[] = {
    {.name = "custom_entities", .type = CS_OPT_INT, .def = "20", .min = 1, .max = 100000},
    {.name = "columns", .type = CS_OPT_INT, .def = "50", .min = 1, .max = 100000},
    {.name = "replay_max_records", .type = CS_OPT_INT, .def = "2000000", .min = 1, .max = INT64_MAX},
    {.name = NULL}};
static const struct schema limits_schema = {limits_fields, 0, NULL};

/* One way of a workflow with legs (legs.h). */
static const struct field leg_fields[] = {
    {.name = "source", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "sink", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "mappings", .type = CS_OPT_LIST, .flags = CS_OPT_REQUIRED | F_NONEMPTY, .item = &mapping_item},
    {.name = NULL}};
static const struct schema leg_schema = {leg_fields, 0, NULL};
static const struct field leg_item = {.type = T_OBJECT, .schema = &leg_schema};

static const struct field workflow_fields[] = {
    {.name = "id", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED},
    {.name = "title", .type = CS_OPT_STRING, .flags = F_NONEMPTY, .same_as = "id"},
    {.name = "autostart", .type = CS_OPT_BOOL, .def = "true"},
    {.name = "source", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY, .unless = "legs"},
    {.name = "sink", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY, .unless = "legs"},
    {.name = "direction", .type = CS_OPT_STRING, .flags = F_NONEMPTY},
    {.name = "legs", .type = T_MAP, .item = &leg_item},
    {.name = "writers", .type = CS_OPT_INT, .def = "4", .min = 1, .max = 64},
    {.name = "batch_size", .type = CS_OPT_INT, .def = "250", .min = 1, .max = 1000},
    {.name = "read_batch", .type = CS_OPT_INT, .def = "1000", .min = 1, .max = 100000},
    {.name = "poll_interval", .type = CS_OPT_DURATION, .def = "5s"},
    {.name = "stall_after", .type = CS_OPT_DURATION, .def = "10m"},
    {.name = "backlog", .type = T_OBJECT, .def = "{}", .schema = &backlog_schema},
    {.name = "retry", .type = T_OBJECT, .def = "{}", .schema = &retry_schema},
    {.name = "limits", .type = T_OBJECT, .def = "{}", .schema = &limits_schema},
    {.name = "mappings",
     .type = CS_OPT_LIST,
     .flags = CS_OPT_REQUIRED | F_NONEMPTY,
     .item = &mapping_item,
     .unless = "legs"},
    {.name = NULL}};
static const struct schema workflow_schema = {workflow_fields, 0, workflow_post};
static const struct field workflow_item = {.type = T_OBJECT, .schema = &workflow_schema};

static const struct field root_fields[] = {
    {.name = "state_dir", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH, .def = CS_DEFAULT_STATE_DIR},
    {.name = "state", .type = T_OBJECT, .def = "{}", .schema = &state_schema},
    {.name = "plugin_dir", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = "log_level", .type = CS_OPT_STRING, .def = "info", .choices = log_levels},
    {.name = "stop_timeout", .type = CS_OPT_DURATION, .def = "30s", .min = 1000, .max = 600000},
    {.name = "admin", .type = T_OBJECT, .def = "{}", .schema = &admin_schema},
    {.name = "plugins", .type = CS_OPT_LIST, .flags = CS_OPT_REQUIRED, .item = &nonempty_string},
    {.name = "connections", .type = T_MAP, .def = "{}", .item = &connection_item},
    {.name = "workflows", .type = CS_OPT_LIST, .def = "[]", .item = &workflow_item},
    {.name = NULL}};
static const struct schema root_schema = {root_fields, 0, root_post};

/* ---- conf.d: drop-in files ---------------------------------------------------------------------------- */

/* The file a position belongs to: its third element (a conf.d file), else the main file. */
static const char *position_file(const struct cs_config *cfg, const json_t *pos)
{
    const char *file = json_string_value(json_array_get(pos, 2));
    return file ? file : cfg->path;
}

/* Move the positions of a drop-in document into the main ones: "workflows[i]..." becomes
 * "workflows[i + offset]...", every position names the drop-in file. */
static void merge_positions(json_t *into, const json_t *from, const char *file, size_t workflow_offset)
{
    const char *key;
    json_t *pos;
    json_object_foreach ((json_t *)from, key, pos) {
        char *moved;
        size_t i;
        int n = 0;
        if (sscanf(key, "workflows[%zu]%n", &i, &n) == 1 && n > 0)
            moved = cs_xasprintf("workflows[%zu]%s", i + workflow_offset, key + n);
        else
            moved = cs_xstrdup(key);
        /* what the main file has already (the top-level keys, its plugins[i]) keeps the main file's position */
        if (!json_object_get(into, moved))
            json_object_set_new(into, moved,
                                json_pack("[O, O, s]", json_array_get(pos, 0), json_array_get(pos, 1), file));
        free(moved);
    }
}

/* Add one drop-in document to the main one: its plugins (once each), connections (a name defined twice
 * is an error) and workflows (appended); nothing else may be in it. */
static void merge_dropin(struct checker *c, json_t *doc, const json_t *drop, const json_t *positions, const char *file)
{
    static const char *const allowed[] = {"plugins", "connections", "workflows", NULL};
    const char *key;
    json_t *v;
    size_t offset = json_array_size(json_object_get(doc, "workflows"));
    json_object_foreach ((json_t *)drop, key, v) {
        if (!listed(allowed, key)) {
            char *at = format_at(file, line_at(positions, key), 1, key);
            add_line(&c->errors, cs_xasprintf("%s: a conf.d file holds only plugins, connections and workflows; "
                                              "move this to %s",
                                              at, c->cfg->path));
            free(at);
            return;
        }
    }
    json_object_foreach ((json_t *)drop, key, v) {
        json_t *mine = json_object_get(doc, key);
        if (!mine) {
            json_object_set(doc, key, v);
            continue;
        }
        if (json_is_array(mine) && json_is_array(v) && strcmp(key, "plugins") == 0) {
            size_t i;
            json_t *p;
            json_array_foreach (v, i, p) {
                int seen = 0;
                for (size_t j = 0; j < json_array_size(mine); j++)
                    seen |= json_equal(json_array_get(mine, j), p);
                if (!seen)
                    json_array_append(mine, p);
            }
        } else if (json_is_array(mine) && json_is_array(v)) {
            json_array_extend(mine, v);
        } else if (json_is_object(mine) && json_is_object(v)) {
            const char *name;
            json_t *conn;
            json_object_foreach (v, name, conn) {
                char *child = cs_xasprintf("%s.%s", key, name);
                if (json_object_get(mine, name)) {
                    char *at = format_at(file, line_at(positions, child), 3, child), *first = first_at(c->cfg, child);
                    add_line(&c->errors, cs_xasprintf("%s: defined already (first at %s)", at, first));
                    free(at);
                    free(first);
                } else {
                    json_object_set(mine, name, conn);
                }
                free(child);
            }
        } else {
            char *at = format_at(file, line_at(positions, key), 1, key);
            add_line(&c->errors, cs_xasprintf("%s: must be a %s, as in %s", at,
                                              json_is_array(mine) ? "list" : "mapping", c->cfg->path));
            free(at);
        }
    }
    merge_positions(c->cfg->positions, positions, file, offset);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.conf files of the conf.d directory beside the configuration file, in name order, merged into
 * `doc`. A missing directory is no error. 0, or the number of problems (reported). */
static int merge_dropins(struct checker *c, const char *path, json_t *doc)
{
    char *dir = cs_xasprintf("%.*s%sconf.d", (int)(strrchr(path, '/') ? strrchr(path, '/') - path + 1 : 0), path,
                             strrchr(path, '/') ? "" : "./");
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int problems = 0;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
            continue;
        if (n == cap && !(names = realloc(names, (cap = cap ? cap * 2 : 8) * sizeof *names)))
            abort();
        names[n++] = cs_xasprintf("%s/%s", dir, e->d_name);
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *err = NULL, *text = cs_read_file(names[i], CONFIG_MAX, &len, &err);
        json_t *positions = json_object(), *drop = text ? parse_text(text, len, names[i], positions, &err) : NULL;
        if (drop && !json_is_object(drop))
            err = cs_xasprintf("%s: the top level must be a mapping", names[i]);
        if (err) {
            add_line(&c->errors, err);
            problems++;
        } else if (drop) {
            merge_dropin(c, doc, drop, positions, names[i]);
        }
        json_decref(drop);
        json_decref(positions);
        free(text);
        free(names[i]);
    }
    free(names);
    free(dir);
    return problems + (c->errors != NULL);
}

/* ---- the interface -------------------------------------------------------------------------------- */

/* The absolute directory of file `path` (new): relative paths in it are taken from there. */
static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? cs_xasprintf("%.*s", (int)(slash == path ? 1 : slash - path), path) : cs_xstrdup(".");
    char *abs = realpath(dir, NULL);
    if (!abs) { /* the file cannot be read either: the error says so */
        abs = dir;
        dir = NULL;
    }
    free(dir);
    return abs;
}

char *cs_config_path(const struct cs_config *cfg, const char *p)
{
    if (!p || p[0] == '/' || !cfg->dir)
        return cs_xstrdup(p ? p : "");
    return cs_xasprintf("%s%s%s", cfg->dir, strcmp(cfg->dir, "/") == 0 ? "" : "/", p);
}

int cs_config_load(const char *path, struct cs_config **out, char **err)
{
    struct cs_config *cfg = cs_xcalloc(1, sizeof *cfg);
    struct checker c = {.cfg = cfg};
    json_t *doc = NULL;
    char *text;
    size_t len;
    int rc = CS_E_INVAL;

    *out = NULL;
    *err = NULL;
    cfg->path = cs_xstrdup(path);
    cfg->dir = directory_of(path);
    cfg->positions = json_object();
    text = cs_read_file(path, CONFIG_MAX, &len, err);
    if (!text) {
        if (errno == EFBIG) {
            free(*err);
            *err = cs_xasprintf("%s: larger than the %u KiB a configuration file may have; move workflows or "
                                "connections into files of a conf.d directory beside it",
                                path, CONFIG_MAX / 1024);
        }
        rc = CS_E_IO;
        goto out;
    }
    doc = parse_text(text, len, path, cfg->positions, &c.errors);
    if (doc && !json_is_object(doc))
        report(&c, "", "the top level must be a mapping, got %s", type_name(doc));
    else if (doc && merge_dropins(&c, path, doc) == 0)
        cfg->root = check_object(&c, "", doc, &root_schema, NULL);
    if (cfg->root)
        check_former_pair(&c, doc);
    cfg->raw = json_incref(doc);
    if (c.errors) {
        *err = c.errors;
        goto out;
    }
    *out = cfg;
    cfg = NULL;
    rc = 0;
out:
    free(text);
    json_decref(doc);
    cs_config_free(cfg);
    return rc;
}

void cs_config_free(struct cs_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->dir);
    json_decref(cfg->raw);
    json_decref(cfg->root);
    json_decref(cfg->positions);
    free(cfg);
}

char *cs_config_where(const struct cs_config *cfg, const char *path)
{
    char *p = cs_xstrdup(path);
    const json_t *pos;

    /* the nearest ancestor with a position: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "" */
    while (!(pos = json_object_get(cfg->positions, p)) && *p) {
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] != '.' && p[n - 1] != '[')
            n--;
        p[n ? n - 1 : 0] = '\0';
    }
    free(p);
    if (!pos)
        return *path ? cs_xasprintf("%s: %s", cfg->path, path) : cs_xstrdup(cfg->path);
    return format_at(position_file(cfg, pos), json_integer_value(json_array_get(pos, 0)),
                     json_integer_value(json_array_get(pos, 1)), path);
}

/* The value at key path `path` ("connections.d365", "workflows[0].mappings[1].entity"), or NULL. */
static json_t *lookup(json_t *root, const char *path)
{
    json_t *v = root;

    while (*path && v) {
        if (*path == '[') {
            char *end;
            size_t i = strtoul(path + 1, &end, 10);
            v = *end == ']' ? json_array_get(v, i) : NULL;
            path = end + (*end == ']');
        } else {
            char *key;
            path += *path == '.';
            key = cs_xasprintf("%.*s", (int)strcspn(path, ".["), path);
            v = json_object_get(v, key);
            path += strlen(key);
            free(key);
        }
    }
    return v;
}

int cs_config_plugin_options(const struct cs_config *cfg, const char *path, const cs_setting *table,
                             const char *const *skip, json_t **resolved, char **err)
{
    struct checker c = {.cfg = cfg, .null_missing = 1};
    size_t n = 0;
    struct field *fields;
    struct schema s = {NULL, 0, NULL};
    json_t *obj = json_incref(lookup(cfg->root, path)), *out = NULL;

    while (table && table[n].name)
        n++;
    fields = cs_xcalloc(n + 1, sizeof *fields);
    for (size_t i = 0; i < n; i++) {
        fields[i].name = table[i].name;
        fields[i].type = table[i].type;
        fields[i].flags =
            (table[i].flags & (CS_OPT_REQUIRED | CS_OPT_SECRET)) | (table[i].flags & CS_OPT_PATH ? F_PATH : 0);
        fields[i].def = table[i].default_value;
        fields[i].min = table[i].min;
        fields[i].max = table[i].max;
        fields[i].choices = table[i].choices;
    }
    s.fields = fields;
    if (!obj)
        obj = json_object(); /* an absent entity or stage options object: defaults only */
    if (json_is_object(obj))
        out = check_object(&c, path, obj, &s, skip);
    else
        report(&c, path, "expected a mapping, got %s", type_name(obj));
    if (c.errors) {
        json_decref(out);
        out = NULL;
    }
    *resolved = out;
    *err = c.errors;
    json_decref(obj);
    free(fields);
    return c.errors ? CS_E_INVAL : 0;
}

int cs_config_check_workflow(const json_t *definition, const char *label, json_t **normalized, char **err)
{
    struct cs_config unplaced = {.path = (char *)label, .positions = json_object()};
    struct checker c = {.cfg = &unplaced};
    json_t *out = NULL;

    if (json_is_object(definition))
        out = check_object(&c, "", (json_t *)definition, &workflow_schema, NULL);
    else
        report(&c, "", "a workflow definition must be a mapping, got %s", type_name(definition));
    json_decref(unplaced.positions);
    if (c.errors) {
        json_decref(out);
        out = NULL;
    }
    *normalized = out;
    *err = c.errors;
    return c.errors ? CS_E_INVAL : 0;
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
