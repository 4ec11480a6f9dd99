/*
 * admin_remote.c - the admin API's calls to remote systems (see admin_remote.h). Describing one
 * Dataverse table takes dozens of requests under the connection's credentials, and Dataverse throttles
 * the user as a whole: a page that described tables in a loop would make the workflows of the same
 * connection back off. So describe answers (tables, and "no such table") are kept admin.metadata_ttl,
 * and every call that does reach a remote system takes a token from its connection's bucket
 * (admin.remote_requests_per_minute, refilled evenly); an empty bucket is 429 with Retry-After.
 * A full bucket is the same as none, so buckets are dropped once full: only connections asked within
 * the last minute have one.
 */
#include "admin_remote.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "util/util.h"

#define CACHE_MAX 256 /* answers kept at once */

struct answer {
    char *conn, *table; /* table "" for the list */
    int rc;             /* 0 or CS_E_NOTFOUND */
    json_t *doc;        /* rc 0 */
    char *err;          /* rc CS_E_NOTFOUND */
    int64_t expires;    /* cs_mono_ms() */
};

struct bucket {
    char *conn;
    double tokens;
    int64_t at; /* when `tokens` was counted */
};

struct cs_remote {
    pthread_mutex_t lock;
    int64_t ttl_ms, per_minute;
    struct answer cache[CACHE_MAX];
    size_t n_cache;
    struct bucket *buckets;
    size_t n_buckets;
};

struct cs_remote *cs_remote_new(int64_t ttl_ms, int64_t per_minute)
{
    struct cs_remote *r = cs_xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->ttl_ms = ttl_ms;
    r->per_minute = per_minute > 0 ? per_minute : 1;
    return r;
}

static void drop_answer(struct cs_remote *r, size_t i)
{
    struct answer *a = &r->cache[i];
    free(a->conn);
    free(a->table);
    json_decref(a->doc);
    free(a->err);
    *a = r->cache[--r->n_cache];
}

void cs_remote_free(struct cs_remote *r)
{
    if (!r)
        return;
    while (r->n_cache)
        drop_answer(r, 0);
    for (size_t i = 0; i < r->n_buckets; i++)
        free(r->buckets[i].conn);
    free(r->buckets);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* ---- the rate of each connection --------------------------------------------------------------- */

/* Refill every bucket to `now`; drop the full ones. Lock held. */
static void refill(struct cs_remote *r, int64_t now)
{
    for (size_t i = 0; i < r->n_buckets;) {
        struct bucket *b = &r->buckets[i];
        b->tokens += (double)(now - b->at) * (double)r->per_minute / 60000.0;
        b->at = now;
        if (b->tokens < (double)r->per_minute) {
            i++;
            continue;
        }
        free(b->conn);
        *b = r->buckets[--r->n_buckets];
    }
}

/* Take a token of `conn`: 0, or the seconds until one is there. Lock held. */
static int take_token(struct cs_remote *r, const char *conn, int64_t now)
{
    struct bucket *b = NULL;
    refill(r, now);
    for (size_t i = 0; i < r->n_buckets && !b; i++)
        if (strcmp(r->buckets[i].conn, conn) == 0)
            b = &r->buckets[i];
    if (!b) {
        r->buckets = realloc(r->buckets, (r->n_buckets + 1) * sizeof *r->buckets);
        if (!r->buckets)
            abort();
        b = &r->buckets[r->n_buckets++];
        *b = (struct bucket){cs_xstrdup(conn), (double)r->per_minute, now};
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    return 1 + (int)((1.0 - b->tokens) * 60.0 / (double)r->per_minute);
}

int cs_remote_admit(struct cs_remote *r, struct cs_engine *e, const char *conn, struct cs_reply *rep)
{
    int wait;
    if (!cs_engine_conn_exists(e, conn)) {
        cs_reply_error(rep, 404, "not_found", "no connection \"%s\"", conn);
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    wait = take_token(r, conn, cs_mono_ms());
    pthread_mutex_unlock(&r->lock);
    if (!wait)
        return 0;
    cs_reply_error(rep, 429, "rate_limited",
                   "connection %s was asked %lld times in the last minute through the admin API "
                   "(admin.remote_requests_per_minute), so that its workflows are not throttled by the remote "
                   "system: retry in %d s (answers already cached are not counted)",
                   conn, (long long)r->per_minute, wait);
    rep->retry_after = wait;
    return -1;
}

/* ---- the cache -------------------------------------------------------------------------------------- */

/* The index of the live answer for (conn, table), or -1; expired answers are dropped. Lock held. */
static long find_answer(struct cs_remote *r, const char *conn, const char *table, int64_t now)
{
    long found = -1;
    for (size_t i = 0; i < r->n_cache;) {
        if (r->cache[i].expires <= now) {
            drop_answer(r, i);
            continue;
        }
        if (strcmp(r->cache[i].conn, conn) == 0 && strcmp(r->cache[i].table, table) == 0)
            found = (long)i;
        i++;
    }
    return found;
}

/* Answer rep from answer i (a copy: the cached document stays the cache's). Lock held. */
static void answer_from(const struct cs_remote *r, size_t i, struct cs_reply *rep)
{
    const struct answer *a = &r->cache[i];
    if (a->rc == 0) {
        rep->status = 200;
        rep->body = json_deep_copy(a->doc);
    } else {
        cs_reply_failed(rep, a->rc, a->err, 502);
    }
}

/* Keep an answer (rc 0 with doc, or CS_E_NOTFOUND with err); the soonest to expire makes room. */
static void keep_answer(struct cs_remote *r, const char *conn, const char *table, int rc, const json_t *doc,
                        const char *err)
{
    int64_t now = cs_mono_ms();
    pthread_mutex_lock(&r->lock);
    if (find_answer(r, conn, table, now) < 0) {
        if (r->n_cache == CACHE_MAX) {
            size_t soonest = 0;
            for (size_t i = 1; i < r->n_cache; i++)
                if (r->cache[i].expires < r->cache[soonest].expires)
                    soonest = i;
            drop_answer(r, soonest);
        }
        r->cache[r->n_cache++] = (struct answer){
            cs_xstrdup(conn), cs_xstrdup(table), rc, doc ? json_deep_copy(doc) : NULL, err ? cs_xstrdup(err) : NULL,
            now + r->ttl_ms};
    }
    pthread_mutex_unlock(&r->lock);
}

void cs_remote_describe(struct cs_remote *r, struct cs_engine *e, const char *conn, const char *table,
                        struct cs_reply *rep)
{
    const char *key = table ? table : "";
    json_t *doc = NULL;
    char *err = NULL;
    long hit;
    int rc;

    pthread_mutex_lock(&r->lock);
    if ((hit = find_answer(r, conn, key, cs_mono_ms())) >= 0)
        answer_from(r, (size_t)hit, rep);
    pthread_mutex_unlock(&r->lock);
    if (hit >= 0 || cs_remote_admit(r, e, conn, rep) != 0)
        return;
    rc = cs_engine_conn_describe(e, conn, table, &doc, &err);
    if (r->ttl_ms > 0 && (rc == 0 || rc == CS_E_NOTFOUND))
        keep_answer(r, conn, key, rc, doc, err);
    if (rc == 0) {
        rep->status = 200;
        rep->body = doc;
    } else {
        cs_reply_failed(rep, rc, err, 502);
    }
    free(err);
}

void cs_remote_forget(struct cs_remote *r, const char *conn)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_cache;) {
        if (strcmp(r->cache[i].conn, conn) == 0)
            drop_answer(r, i);
        else
            i++;
    }
    pthread_mutex_unlock(&r->lock);
}
