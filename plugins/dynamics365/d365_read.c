/*
 * d365_read.c - the dynamics365 source: every sync, the initial one included, is a change-tracking
 * query (Prefer: odata.track-changes, odata.maxpagesize) with $select of the configured columns,
 * followed page by page through @odata.nextLink down to the page holding @odata.deltaLink.
 *
 * Memory holds one page, and the next one is on its way: as soon as a page arrives, the GET of its
 * @odata.nextLink starts on a client of its own (d365_call_start), and its answer is collected when the
 * cursor reaches it, so a page's rows are committed while the next one travels. Nothing of the read-ahead
 * page counts before it is loaded as the current page; a cursor that moved elsewhere drops it.
 * The current page's rows are emitted in slices of at most max_records, each covered by a
 * checkpoint whose cursor says exactly where the next slice starts: {"page": URL, "skip": rows of it
 * already in the backlog, "n": index of the page in a full sync (absent on the pages of a delta)}, and
 * once the last page is in, {"deltaLink": URL}. So the deltaLink becomes the stream's cursor only after
 * the last page is in the backlog; a restart in the middle of a sync fetches the page again and skips
 * what is committed (rows that moved meanwhile are absorbed by the idempotent upserts). $deletedEntity
 * entries become delete records keyed by their id. An expired delta token (0x80044352), or a stored
 * page link the service no longer accepts, restarts a full sync by itself, logged and counted in the
 * metric d365_full_resyncs.
 *
 * A full sync cannot see the rows deleted while it was not tracking changes, so the stream keeps the
 * set of ids it has emitted and not deleted (d365_ids.c, named by the "set" tag of every cursor). After
 * the last page of a full sync the cursor is {"purge": deltaLink, "pages": N, "bucket": B}: bucket by
 * bucket, the known ids the sync did not see are emitted as deletes (metric d365_resync_deletes), and
 * after the last bucket the cursor is the deltaLink.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "d365.h"

#define EXPIRED_VERSION_STAMP "0x80044352"

/* Abandon the page being read ahead, if any. */
static void ahead_drop(struct d365_table *t)
{
    cshttp_pending_free(t->ahead);
    t->ahead = NULL;
}

/* Start the GET of the page after the current one, so that it arrives while this one is committed.
 * Best effort: when it cannot start, the page is fetched when it is needed. */
static void ahead_start(struct d365 *d, struct d365_table *t, const char *const *headers)
{
    ahead_drop(t);
    if (!t->next_link || (!d->ahead && !(d->ahead = cshttp_client_new(&d->http_opts))))
        return;
    t->ahead = d365_call_start(d, d->ahead, t->next_link, headers);
}

/* GET a page: the answer of the request started ahead when it is for `url`, else a request now. */
static cs_status get_page(struct d365 *d, struct d365_table *t, const char *url, const char *const *headers,
                          struct cshttp_response *r)
{
    cs_status st;
    if (!t->ahead || strcmp(cshttp_pending_url(t->ahead), url) != 0) {
        ahead_drop(t);
        return d365_call(d, d->http, "GET", url, headers, NULL, 0, "reading changes", r);
    }
    st = d365_call_finish(d, t->ahead, "reading changes", r);
    t->ahead = NULL;
    d->host->metric_add(d->ctx, "d365_pages_read_ahead", 1);
    return st;
}

void d365_read_reset(struct d365_table *t)
{
    json_decref(t->page);
    json_decref(t->cursor_at);
    free(t->page_url);
    free(t->next_link);
    free(t->delta_link);
    t->page = t->cursor_at = NULL;
    t->page_url = t->next_link = t->delta_link = NULL;
    t->pos = 0;
    ahead_drop(t);
}

/* Outcome of fetching a page: a cs_status, or this when the service refused the link (4xx). */
#define PAGE_REFUSED 100

/* GET one change-tracking page into the table's read state; on a page of a full sync (t->page_no set),
 * record its ids, with `merge` added to those recorded by an earlier fetch of the same page. */
static int fetch_page(struct d365 *d, struct d365_table *t, const char *url, int merge, char *code, size_t codelen)
{
    char prefer[96];
    const char *hdr[] = {prefer, NULL};
    struct cshttp_response r = {0};
    json_t *doc = NULL, *value;
    const char *next, *delta;
    int st;

    snprintf(prefer, sizeof prefer, "Prefer: odata.track-changes, odata.maxpagesize=%d", d->page_size);
    *code = '\0';
    st = get_page(d, t, url, hdr, &r);
    if (st == CS_REJECT) {
        d365_error_code(r.body, r.body_len, code, codelen);
        st = PAGE_REFUSED;
        goto out;
    }
    if (st != CS_OK)
        goto out;
    doc = cshttp_response_json(&r);
    value = json_object_get(doc, "value");
    next = json_string_value(json_object_get(doc, "@odata.nextLink"));
    delta = json_string_value(json_object_get(doc, "@odata.deltaLink"));
    if (!json_is_array(value)) {
        d->host->set_reason(d->ctx, (int)r.status, -1, "reading changes of %s: the answer has no row list",
                            t->entity_set);
        st = CS_RETRY;
        goto out;
    }
    if (!next && !delta) { /* a cut or altered answer: asked again (the health check shows a lasting one) */
        d->host->set_reason(d->ctx, (int)r.status, -1,
                            "reading changes of %s: the answer carries neither "
                            "@odata.nextLink nor @odata.deltaLink (retrying; if it lasts, check that change "
                            "tracking is still enabled on the table)",
                            t->entity_set);
        st = CS_RETRY;
        goto out;
    }
    json_decref(t->page);
    free(t->page_url);
    free(t->next_link);
    free(t->delta_link);
    t->page = json_incref(value);
    t->pos = 0;
    t->page_url = strdup(url);
    t->next_link = next ? strdup(next) : NULL;
    t->delta_link = delta ? strdup(delta) : NULL;
    d->host->metric_add(d->ctx, "d365_pages_read", 1);
    st = t->page_url && (t->next_link || !next) && (t->delta_link || !delta) ? CS_OK : CS_RETRY;
    if (st == CS_OK)
        ahead_start(d, t, hdr);
    if (st == CS_OK && t->page_no >= 0)
        st = d365_ids_seen(d, t, t->tag, t->page_no, value, merge);
out:
    json_decref(doc);
    cshttp_response_clear(&r);
    return st;
}

/* The query that starts a full sync. New string. */
static char *initial_url(const struct d365 *d, const struct d365_table *t)
{
    char *url = NULL;
    if (asprintf(&url, "%s/%s?$select=%s", d->api, t->entity_set, t->select) < 0)
        return NULL;
    return url;
}

/* Whether a stored page or delta link asks for other columns than `select` (the mapping changed since):
 * its $select value, percent-decoded. A link without $select is taken as it is. */
static int link_select_differs(const char *url, const char *select)
{
    const char *p = strstr(url, "$select="), *end;
    size_t n = 0;
    char *got;
    int differs;
    if (!p && (p = strstr(url, "%24select=")))
        p += strlen("%24select=");
    else if (p)
        p += strlen("$select=");
    if (!p)
        return 0;
    end = p + strcspn(p, "&#");
    if (!(got = malloc((size_t)(end - p) + 1)))
        return 0;
    for (; p < end; p++) {
        unsigned hex;
        if (*p == '%' && end - p > 2 && sscanf(p + 1, "%2x", &hex) == 1) {
            got[n++] = (char)hex;
            p += 2;
        } else {
            got[n++] = *p;
        }
    }
    got[n] = '\0';
    differs = strcmp(got, select) != 0;
    free(got);
    return differs;
}

/* Load the page the cursor points at (a full sync when it is NULL); *skip = rows of it already read. */
static cs_status load_page(struct d365 *d, struct d365_table *t, const json_t *cursor, size_t *skip)
{
    const char *delta = json_string_value(json_object_get(cursor, "deltaLink")),
               *page = json_string_value(json_object_get(cursor, "page"));
    const json_t *n;
    char *start = initial_url(d, t), code[32];
    const char *url = delta ? delta : page ? page : start;
    int st;

    *skip = page ? (size_t)json_integer_value(json_object_get(cursor, "skip")) : 0;
    /* no cursor: the first page of the initial sync; "n": a page of a full sync; else a delta */
    n = json_object_get(cursor, "n");
    t->page_no = !cursor ? 0 : json_is_integer(n) ? (long)json_integer_value(n) : -1;
    if (!start) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    if (url != start && link_select_differs(url, t->select)) {
        /* a column added to the mapping: the stored link would never bring it; every row is read again */
        d->host->log(d->ctx, CS_LOG_NOTICE,
                     "stream %s: the columns to read changed since the stored %s link; "
                     "starting a full sync of %s so that every row carries them",
                     t->stream, delta ? "delta" : "page", t->entity_set);
        d->host->metric_add(d->ctx, "d365_full_resyncs", 1);
        url = start;
        *skip = 0;
        t->page_no = t->page_no < 0 ? 0 : t->page_no;
    }
    st = fetch_page(d, t, url, *skip > 0, code, sizeof code);
    if (st == PAGE_REFUSED && url != start) {
        if (!strcmp(code, EXPIRED_VERSION_STAMP))
            d->host->log(d->ctx, CS_LOG_WARNING,
                         "stream %s: the delta token has expired (%s); starting a full "
                         "sync of %s",
                         t->stream, code, t->entity_set);
        else
            d->host->log(d->ctx, CS_LOG_WARNING,
                         "stream %s: the service refused the stored %s link (%s%s); "
                         "starting a full sync of %s",
                         t->stream, delta ? "delta" : "page", *code ? "code " : "HTTP 4xx", code, t->entity_set);
        d->host->metric_add(d->ctx, "d365_full_resyncs", 1);
        *skip = 0;
        /* a full sync cut short goes on numbering its pages: the ids it has seen stay seen */
        t->page_no = t->page_no < 0 ? 0 : t->page_no;
        st = fetch_page(d, t, start, 0, code, sizeof code);
    }
    free(start);
    return st == PAGE_REFUSED ? CS_FATAL : (cs_status)st;
}

/* Unix milliseconds of an ISO-8601 UTC time ("2024-05-01T10:00:00Z"), 0 when it is not one. */
static int64_t iso_ms(const char *s)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    return end ? (int64_t)timegm(&tm) * 1000 : 0;
}

const char *d365_row_id(const struct d365_table *t, const json_t *row, int *deleted)
{
    const char *ctx = json_string_value(json_object_get(row, "@odata.context"));
    *deleted = ctx && strstr(ctx, "/$deletedEntity");
    return json_string_value(json_object_get(row, *deleted ? "id" : t->primary_id));
}

/* The record of one delta entry; a row of a full sync (the initial one, a re-sync after an expired
 * token or refused link, a replay: t->page_no >= 0) is marked "initial": true (see crmsync/record.h),
 * so fields mapped with apply_updates off are written for it and not for a delta's rows. A row without
 * its id becomes a record without a key, with the row as its payload: the core dead-letters it as
 * malformed and the rest of the page goes on. */
static cs_record *row_record(struct d365 *d, const struct d365_table *t, json_t *row)
{
    int deleted;
    const char *id = d365_row_id(t, row, &deleted), *k;
    json_t *payload, *v;
    cs_record *rec;

    if (!id) {
        d->host->log(d->ctx, CS_LOG_WARNING, "a change-tracking row of %s has no %s: dead-lettered", t->stream,
                     deleted ? "id ($deletedEntity)" : t->primary_id);
        rec = json_object();
        if (cs_record_set_stream(rec, t->stream) || cs_record_set_op(rec, deleted ? CS_OP_DELETE : CS_OP_UPSERT) ||
            cs_record_set_payload(rec, json_incref(row))) {
            json_decref(rec);
            return NULL; /* out of memory: the core dead-letters a NULL record as malformed */
        }
        return rec;
    }
    if (deleted)
        return cs_record_new(t->stream, id, CS_OP_DELETE, NULL, 0);
    payload = json_object();
    json_object_foreach (row, k, v) {
        json_t *labels = json_object_get(t->options, k), *label = NULL;
        if (strchr(k, '@'))
            continue; /* @odata.etag and annotations */
        if (labels && json_is_integer(v)) {
            char value[32];
            snprintf(value, sizeof value, "%lld", (long long)json_integer_value(v));
            label = json_object_get(labels, value);
        }
        json_object_set(payload, k, label ? label : v);
    }
    rec = cs_record_new(t->stream, id, CS_OP_UPSERT, payload,
                        iso_ms(json_string_value(json_object_get(row, "modifiedon"))));
    if (rec && t->page_no >= 0 && cs_record_set_initial(rec, 1) != 0) {
        json_decref(rec);
        return NULL; /* out of memory: the core dead-letters a NULL record as malformed */
    }
    return rec;
}

/* The cursor after the first `pos` rows of the current page. New reference. */
static json_t *cursor_after(const struct d365_table *t, size_t pos)
{
    json_t *c;
    if (pos < json_array_size(t->page) || t->next_link) {
        int here = pos < json_array_size(t->page);
        c = json_pack("{s:s, s:I, s:s}", "page", here ? t->page_url : t->next_link, "skip",
                      (json_int_t)(here ? pos : 0), "set", t->tag);
        if (c && t->page_no >= 0 && json_object_set_new(c, "n", json_integer(t->page_no + !here)) != 0)
            json_decref(c), c = NULL;
        return c;
    }
    if (t->page_no >= 0)
        return json_pack("{s:s, s:I, s:i, s:s}", "purge", t->delta_link, "pages", (json_int_t)(t->page_no + 1),
                         "bucket", 0, "set", t->tag);
    return json_pack("{s:s, s:s}", "deltaLink", t->delta_link, "set", t->tag);
}

/* The tag of the stream's id set: the cursor's, or a new one for a stream read from the start. */
static void set_tag(struct d365_table *t, const json_t *cursor)
{
    const char *tag = json_string_value(json_object_get(cursor, "set"));
    unsigned char r[8];
    if (tag && strlen(tag) < sizeof t->tag) {
        memcpy(t->tag, tag, strlen(tag) + 1);
        return;
    }
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)t << 16);
        memcpy(r, &x, sizeof r);
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(t->tag + 2 * i, 3, "%02x", r[i]);
}

/* One bucket of the purge that ends a full sync; *emitted += the deletes. */
static cs_status purge_step(struct d365 *d, struct d365_table *t, size_t *emitted)
{
    const json_t *at = t->cursor_at;
    const char *delta = json_string_value(json_object_get(at, "purge"));
    int bucket = (int)json_integer_value(json_object_get(at, "bucket"));
    json_t *next = bucket + 1 < D365_ID_BUCKETS
                       ? json_pack("{s:s, s:O, s:i, s:s}", "purge", delta, "pages", json_object_get(at, "pages"),
                                   "bucket", bucket + 1, "set", t->tag)
                       : json_pack("{s:s, s:s}", "deltaLink", delta, "set", t->tag);
    size_t gone;
    cs_status st;

    if (!next) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    if (bucket < 0 || bucket >= D365_ID_BUCKETS) {
        json_decref(next);
        d->host->set_reason(d->ctx, 0, -1, "stream %s: the stored cursor is not valid", t->stream);
        return CS_FATAL;
    }
    st = d365_ids_purge(d, t, t->tag, (long)json_integer_value(json_object_get(at, "pages")), bucket, json_incref(next),
                        &gone);
    if (st != CS_OK) {
        json_decref(next);
        return st;
    }
    json_decref(t->cursor_at);
    t->cursor_at = next;
    *emitted += gone;
    t->cycle_rows += (int)gone;
    t->cycle_gone += gone;
    d->host->metric_add(d->ctx, "d365_resync_deletes", (int64_t)gone);
    if (!json_object_get(next, "purge") && t->cycle_gone) {
        d->host->log(d->ctx, CS_LOG_NOTICE,
                     "stream %s: %zu row(s) synced before and absent from the full sync "
                     "of %s sent as deletes",
                     t->stream, t->cycle_gone, t->entity_set);
        t->cycle_gone = 0;
    }
    return CS_OK;
}

/* The sync reached the deltaLink: CS_OK when it brought rows, CS_NODATA when it found none. */
static cs_status cycle_done(struct d365_table *t)
{
    int rows = t->cycle_rows;
    t->cycle_rows = 0;
    return rows ? CS_OK : CS_NODATA;
}

/* The stream's table (*out), described, its read position at `cursor`, the cursor the core committed. */
static cs_status open_stream(struct d365 *d, const char *stream, const json_t *cursor, struct d365_table **out)
{
    struct d365_table *t = d365_table_for(d, stream, 0);
    cs_status st;

    if (!t || !t->columns) {
        d->host->set_reason(d->ctx, 0, -1,
                            "stream %s is not read by this connection: add it with its columns "
                            "to the tables option",
                            stream);
        return CS_FATAL;
    }
    if ((st = d365_describe(d, t)) != CS_OK)
        return st;
    if (!cursor || !t->cursor_at || !json_equal(cursor, t->cursor_at)) {
        d365_read_reset(t); /* the page in memory, if any, is not where the committed cursor points */
        t->cursor_at = cursor ? json_deep_copy(cursor) : NULL;
        set_tag(t, cursor);
        t->cycle_gone = 0;
    }
    *out = t;
    return CS_OK;
}

/* Emit up to `room` rows of the current page (read first when there is none) from t->pos on, then
 * checkpoint the cursor after them; *emitted grows by their number. A page emitted to its end is let go:
 * the cursor then names the next page, the purge or the deltaLink. */
static cs_status emit_page_part(struct d365 *d, struct d365_table *t, const char *stream, size_t room, size_t *emitted)
{
    size_t size, from, end;
    json_t *next;
    cs_status st;

    if (!t->page) {
        size_t skip;
        if ((st = load_page(d, t, t->cursor_at, &skip)) != CS_OK)
            return st;
        t->pos = skip < json_array_size(t->page) ? skip : json_array_size(t->page);
    }
    size = json_array_size(t->page);
    end = t->pos + room < size ? t->pos + room : size;
    for (size_t i = t->pos; i < end; i++)
        if ((st = d->host->emit(d->ctx, row_record(d, t, json_array_get(t->page, i)))) != CS_OK)
            return st;
    /* a delta's upserted ids join the set before their checkpoint, its deleted ids leave it after */
    if (t->page_no < 0 && (st = d365_ids_apply(d, t, t->tag, t->page, t->pos, end, 0)) != CS_OK)
        return st;
    if (!(next = cursor_after(t, end))) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    if ((st = d->host->checkpoint(d->ctx, stream, json_incref(next))) != CS_OK) {
        json_decref(next);
        return st;
    }
    json_decref(t->cursor_at);
    t->cursor_at = next;
    from = t->pos;
    *emitted += end - from;
    t->cycle_rows += (int)(end - from);
    t->pos = end;
    if (t->page_no < 0 && (st = d365_ids_apply(d, t, t->tag, t->page, from, end, 1)) != CS_OK)
        return st;
    if (end == size) {
        json_decref(t->page);
        t->page = NULL;
    }
    return CS_OK;
}

cs_status d365_read(void *inst, const char *stream, const json_t *cursor, size_t max_records)
{
    struct d365 *d = inst;
    struct d365_table *t;
    size_t emitted = 0;
    cs_status st;

    if ((st = open_stream(d, stream, cursor, &t)) != CS_OK)
        return st;
    while (!d->host->stopping(d->ctx)) {
        if (json_object_get(t->cursor_at, "purge")) {
            if ((st = purge_step(d, t, &emitted)) != CS_OK)
                return st;
            if (!json_object_get(t->cursor_at, "purge"))
                return cycle_done(t);
        } else {
            if ((st = emit_page_part(d, t, stream, max_records - emitted, &emitted)) != CS_OK)
                return st;
            if (!t->page && !json_object_get(t->cursor_at, "purge") && !t->next_link)
                return cycle_done(t); /* the page was the last */
        }
        if (emitted >= max_records)
            return CS_OK;
    }
    return CS_OK;
}
