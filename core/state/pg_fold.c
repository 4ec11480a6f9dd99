/*
 * pg_fold.c - a page of records folded over the newest rows of their keys (pg_fold.h).
 */
#include "pg_fold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void cs_fold_init(struct cs_fold *f)
{
    *f = (struct cs_fold){.newest = json_object()};
    if (!f->newest)
        abort();
}

static struct cs_fold_row *add(struct cs_fold *f, const char *stream, const char *key)
{
    char *name = cs_xasprintf("%s\x1f%s", stream, key);
    struct cs_fold_row *r;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->rows = realloc(f->rows, f->cap * sizeof *f->rows);
        if (!f->rows)
            abort();
    }
    r = &f->rows[f->n];
    *r = (struct cs_fold_row){.stream = cs_xstrdup(stream), .key = cs_xstrdup(key)};
    if (json_object_set_new(f->newest, name, json_integer((json_int_t)f->n++)) != 0)
        abort();
    free(name);
    return r;
}

static struct cs_fold_row *newest(struct cs_fold *f, const char *stream, const char *key)
{
    char *name = cs_xasprintf("%s\x1f%s", stream, key);
    json_t *at = json_object_get(f->newest, name);
    free(name);
    return at ? &f->rows[json_integer_value(at)] : NULL;
}

void cs_fold_known(struct cs_fold *f, const char *stream, const char *key, int64_t seq, int claimed, const char *op,
                   json_t *payload, int initial, int64_t ts)
{
    struct cs_fold_row *r = add(f, stream, key);
    r->seq = seq;
    r->claimed = claimed;
    r->op = cs_xstrdup(op);
    r->payload = payload;
    r->initial = initial;
    r->ts = ts;
}

int cs_fold_record(struct cs_fold *f, const cs_record *rec)
{
    const char *stream = cs_record_stream(rec), *key = cs_record_key(rec);
    const char *op = json_string_value(json_object_get(rec, "op"));
    struct cs_fold_row *r = newest(f, stream, key);
    int initial = cs_record_is_initial(rec), added = 0;
    json_t *payload;

    if (r && strcmp(op, "upsert") == 0 && strcmp(r->op, "upsert") == 0 && json_is_object(r->payload)) {
        payload = json_deep_copy(r->payload); /* the older fields the newer change does not carry stay */
        json_object_update(payload, cs_record_payload(rec));
        initial |= r->initial;
    } else {
        payload = json_deep_copy(cs_record_payload(rec));
    }
    if (!payload)
        abort();
    if (!r || r->claimed) {
        r = add(f, stream, key);
        added = 1;
    }
    free(r->op);
    json_decref(r->payload);
    r->op = cs_xstrdup(op);
    r->payload = payload;
    r->ts = cs_record_ts(rec);
    r->initial = initial;
    r->changed = 1;
    return added;
}

void cs_fold_free(struct cs_fold *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->rows[i].stream);
        free(f->rows[i].key);
        free(f->rows[i].op);
        json_decref(f->rows[i].payload);
    }
    free(f->rows);
    json_decref(f->newest);
}
