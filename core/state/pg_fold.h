/*
 * pg_fold.h - private to the PostgreSQL driver: a page of records folded over the newest backlog rows of
 * their keys in memory (pg_fold.c), so that a page costs a few statements instead of two per record. The
 * outcome is the SQLite driver's, record by record: a change replaces the newest row of its key unless
 * that row is in flight (then it starts a new row), and an upsert over an upsert keeps the older fields
 * it does not carry (backlog.h).
 */
#ifndef CS_PG_FOLD_H
#define CS_PG_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <crmsync/plugin.h>

/* The newest row of one key as the page leaves it. */
struct cs_fold_row {
    char *stream, *key, *op;
    json_t *payload; /* an object */
    int64_t seq;     /* the backlog row, 0 for a row the page adds */
    int64_t ts;
    int initial;
    int claimed; /* in flight: a change starts a new row */
    int changed; /* written by the page */
};

struct cs_fold {
    struct cs_fold_row *rows; /* the newest rows of the page's keys in the backlog, then those the page adds */
    size_t n, cap;
    json_t *newest; /* "stream\x1fkey" -> the index of the key's newest row */
};

void cs_fold_init(struct cs_fold *f);
/* The key's newest row in the backlog (payload stolen). */
void cs_fold_known(struct cs_fold *f, const char *stream, const char *key, int64_t seq, int claimed, const char *op,
                   json_t *payload, int initial, int64_t ts);
/* Fold one valid record in; 1 when it starts a new row, else 0. */
int cs_fold_record(struct cs_fold *f, const cs_record *rec);
void cs_fold_free(struct cs_fold *f);

#endif
