/*
 * d365_ids.c - the set of primary ids a stream has emitted as upserts and not yet as deletes, kept in
 * the connection's key/value store, so that after a full re-sync (an expired delta token) the rows
 * deleted meanwhile are emitted as deletes: they are the ids known before and not seen by the re-sync.
 *
 * An id set is named by a tag carried in every cursor of the stream (so two workflows reading the same
 * stream keep separate sets) and split into D365_ID_BUCKETS buckets by a hash of the id, so that memory
 * holds one bucket at a time and a delta rewrites only the buckets it touches. A bucket's value is its
 * ids (36-character lowercase GUIDs) sorted and concatenated.
 *
 *   ids/<stream>/<tag>/k<b>      the known ids of bucket b
 *   ids/<stream>/<tag>/s<b>.<n>  the ids of bucket b on page n of the full sync in progress
 *
 * A full sync writes each page's ids as it loads the page (one value per bucket); once its last page is
 * in the backlog, it purges bucket by bucket: a delete record for every known id not seen, then the
 * seen ids become the known ones. A delta adds the ids it upserts before their checkpoint and removes
 * the ids it deletes after theirs, so that the set never misses an id that may exist downstream.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "d365.h"

#define ID_LEN 36

/* Sorted (once idset_normalize ran) ids of ID_LEN characters, contiguous and not NUL-separated. */
struct idset {
    char *ids;
    size_t n, cap;
};

/* FNV-1a of the lowercase id. */
static int bucket_of(const char *id)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < ID_LEN; i++)
        h = (h ^ (uint32_t)tolower((unsigned char)id[i])) * 16777619u;
    return (int)(h % D365_ID_BUCKETS);
}

static int idset_add(struct idset *s, const char *id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char *grown = realloc(s->ids, cap * ID_LEN + 1);
        if (!grown)
            return -1;
        s->ids = grown;
        s->cap = cap;
    }
    for (int i = 0; i < ID_LEN; i++)
        s->ids[s->n * ID_LEN + (size_t)i] = (char)tolower((unsigned char)id[i]);
    s->n++;
    return 0;
}

/* Append the ids of a stored value (a concatenation of ids). */
static int idset_add_all(struct idset *s, const char *value)
{
    for (size_t i = 0, n = value ? strlen(value) / ID_LEN : 0; i < n; i++)
        if (idset_add(s, value + i * ID_LEN) != 0)
            return -1;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, ID_LEN);
}

/* Sort and drop duplicates. */
static void idset_normalize(struct idset *s)
{
    size_t j = 0;
    if (!s->n)
        return;
    qsort(s->ids, s->n, ID_LEN, cmp_id);
    for (size_t i = 1; i < s->n; i++)
        if (memcmp(s->ids + i * ID_LEN, s->ids + j * ID_LEN, ID_LEN) != 0 && ++j != i)
            memcpy(s->ids + j * ID_LEN, s->ids + i * ID_LEN, ID_LEN);
    s->n = j + 1;
}

static int idset_has(const struct idset *s, const char *id)
{
    return s->n && bsearch(id, s->ids, s->n, ID_LEN, cmp_id) != NULL;
}

/* Keep the ids of `s` that `drop` (sorted) does not hold. */
static void idset_minus(struct idset *s, const struct idset *drop)
{
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!idset_has(drop, s->ids + i * ID_LEN))
            memmove(s->ids + j++ * ID_LEN, s->ids + i * ID_LEN, ID_LEN);
    s->n = j;
}

static void idset_free(struct idset *s)
{
    free(s->ids);
    *s = (struct idset){0};
}

static char *key_of(const struct d365_table *t, const char *tag, const char *kind, int b, long n)
{
    char *key = NULL;
    if ((n < 0 ? asprintf(&key, "ids/%s/%s/%s%d", t->stream, tag, kind, b)
               : asprintf(&key, "ids/%s/%s/%s%d.%ld", t->stream, tag, kind, b, n)) < 0)
        return NULL;
    return key;
}

static cs_status oom(struct d365 *d)
{
    d->host->set_reason(d->ctx, 0, -1, "out of memory");
    return CS_RETRY;
}

/* Add the stored value `key` to s. */
static cs_status load(struct d365 *d, const char *key, struct idset *s)
{
    char *value = d->host->kv_get(d->ctx, key);
    int rc = idset_add_all(s, value);
    free(value);
    return rc == 0 ? CS_OK : oom(d);
}

/* Store s (normalized) as `key`; an empty set deletes the key. */
static cs_status store(struct d365 *d, const struct d365_table *t, const char *key, struct idset *s)
{
    cs_status st;
    if (!s->n)
        st = d->host->kv_put(d->ctx, key, NULL);
    else {
        s->ids[s->n * ID_LEN] = '\0';
        st = d->host->kv_put(d->ctx, key, s->ids);
    }
    if (st != CS_OK)
        d->host->set_reason(d->ctx, 0, -1, "stream %s: the state database refused its id set", t->stream);
    return st;
}

/* The ids of rows[from, to) that are upserts (deletes == 0) or $deletedEntity entries, by bucket. */
static cs_status split(struct d365 *d, const struct d365_table *t, const json_t *rows, size_t from, size_t to,
                       int deletes, struct idset *by_bucket)
{
    for (size_t i = from; i < to; i++) {
        int deleted;
        const char *id = d365_row_id(t, json_array_get(rows, i), &deleted);
        if (deleted == deletes && d365_is_guid(id) && idset_add(&by_bucket[bucket_of(id)], id) != 0)
            return oom(d);
    }
    return CS_OK;
}

static void free_buckets(struct idset *by_bucket)
{
    for (int b = 0; b < D365_ID_BUCKETS; b++)
        idset_free(&by_bucket[b]);
}

cs_status d365_ids_seen(struct d365 *d, const struct d365_table *t, const char *tag, long page, const json_t *rows,
                        int merge)
{
    struct idset by_bucket[D365_ID_BUCKETS] = {{0}};
    cs_status st = split(d, t, rows, 0, json_array_size(rows), 0, by_bucket);
    for (int b = 0; st == CS_OK && b < D365_ID_BUCKETS; b++) {
        char *key = key_of(t, tag, "s", b, page);
        if (!key)
            st = oom(d);
        else if (!merge || (st = load(d, key, &by_bucket[b])) == CS_OK) {
            idset_normalize(&by_bucket[b]);
            st = store(d, t, key, &by_bucket[b]);
        }
        free(key);
    }
    free_buckets(by_bucket);
    return st;
}

cs_status d365_ids_apply(struct d365 *d, const struct d365_table *t, const char *tag, const json_t *rows, size_t from,
                         size_t to, int deletes)
{
    struct idset by_bucket[D365_ID_BUCKETS] = {{0}};
    cs_status st = split(d, t, rows, from, to, deletes, by_bucket);
    for (int b = 0; st == CS_OK && b < D365_ID_BUCKETS; b++) {
        struct idset known = {0};
        char *key;
        size_t before;
        if (!by_bucket[b].n)
            continue;
        if (!(key = key_of(t, tag, "k", b, -1)))
            st = oom(d);
        else if ((st = load(d, key, &known)) == CS_OK) {
            before = known.n;
            idset_normalize(&by_bucket[b]);
            if (deletes)
                idset_minus(&known, &by_bucket[b]);
            else {
                idset_minus(&by_bucket[b], &known); /* the ids not known yet */
                for (size_t i = 0; st == CS_OK && i < by_bucket[b].n; i++)
                    st = idset_add(&known, by_bucket[b].ids + i * ID_LEN) == 0 ? CS_OK : oom(d);
                idset_normalize(&known);
            }
            if (st == CS_OK && known.n != before)
                st = store(d, t, key, &known);
        }
        idset_free(&known);
        free(key);
    }
    free_buckets(by_bucket);
    return st;
}

cs_status d365_ids_purge(struct d365 *d, const struct d365_table *t, const char *tag, long pages, int bucket,
                         json_t *cursor, size_t *deletes)
{
    struct idset known = {0}, seen = {0};
    char *kkey = key_of(t, tag, "k", bucket, -1);
    cs_status st = kkey ? load(d, kkey, &known) : oom(d);

    *deletes = 0;
    for (long n = 0; st == CS_OK && n < pages; n++) {
        char *key = key_of(t, tag, "s", bucket, n);
        st = key ? load(d, key, &seen) : oom(d);
        free(key);
    }
    if (st == CS_OK) {
        idset_normalize(&seen);
        idset_minus(&known, &seen); /* known ids the full sync did not see: deleted meanwhile */
        for (size_t i = 0; st == CS_OK && i < known.n; i++) {
            char id[ID_LEN + 1];
            memcpy(id, known.ids + i * ID_LEN, ID_LEN);
            id[ID_LEN] = '\0';
            st = d->host->emit(d->ctx, cs_record_new(t->stream, id, CS_OP_DELETE, NULL, 0));
        }
    }
    /* the deletes are in the backlog before the seen ids replace the known ones: a crash in between
     * leaves known ids that are gone, which only repeats their deletes at the next full sync */
    if (st == CS_OK && (st = d->host->checkpoint(d->ctx, t->stream, json_incref(cursor))) == CS_OK) {
        *deletes = known.n;
        st = store(d, t, kkey, &seen);
    }
    json_decref(cursor);
    idset_free(&known);
    idset_free(&seen);
    free(kkey);
    return st;
}
