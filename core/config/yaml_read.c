/*
 * yaml_read.c - YAML or JSON text into a json_t with libyaml's event API, recording every key path's line
 * and column; anchors, aliases, tags and duplicate keys are refused at their place, and a syntax error
 * keeps libyaml's words and adds what a person needs (a tab, a key indented differently).
 */
#include "config_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "util/util.h"

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
    char *at = cs_cfg_format_at(r->name, (long long)mark.line + 1, (long long)mark.column + 1, path), *msg;

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
    child = cs_cfg_child_path(path, name);
    if (json_object_get(obj, name)) {
        reader_fail(r, key->start_mark, child, "duplicate key (first at line %lld)",
                    cs_cfg_line_at(r->positions, child));
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
json_t *cs_cfg_parse_text(const char *text, size_t len, const char *name, json_t *positions, char **err)
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
    json_t *positions = json_object(), *doc = cs_cfg_parse_text(text, len, name, positions, err);
    json_decref(positions);
    return doc;
}
