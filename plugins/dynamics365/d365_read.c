/*
 * d365_read.c - the dynamics365 source: every sync, the initial one included, is a change-tracking
 * query (Prefer: odata.track-changes, odata.maxpagesize) with $select of the configured columns,
 * followed page by page through @odata.nextLink down to the page holding @odata.deltaLink.
 *
 * Memory holds one page. Its rows are emitted in slices of at most max_records, each covered by a
 * checkpoint whose cursor says exactly where the next slice starts: {"page": URL, "skip": rows of it
 * already in the backlog}, and once the last page is in, {"deltaLink": URL}. So the deltaLink becomes
 * the stream's cursor only after the last page is in the backlog; a restart in the middle of a sync
 * fetches the page again and skips what is committed (rows that moved meanwhile are absorbed by the
 * idempotent upserts). $deletedEntity entries become delete records keyed by their id. An expired
 * delta token (0x80044352), or a stored page link the service no longer accepts, restarts a full sync
 * by itself, logged and counted in the metric d365_full_resyncs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "d365.h"

#define EXPIRED_VERSION_STAMP "0x80044352"

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
}

/* Outcome of fetching a page: a cs_status, or this when the service refused the link (4xx). */
#define PAGE_REFUSED 100

/* GET one change-tracking page into the table's read state. */
static int fetch_page(struct d365 *d, struct d365_table *t, const char *url, char *code, size_t codelen)
{
    char prefer[96];
    const char *hdr[] = {prefer, NULL};
    struct cshttp_response r = {0};
    json_t *doc = NULL, *value;
    const char *next, *delta;
    int st;

    snprintf(prefer, sizeof prefer, "Prefer: odata.track-changes, odata.maxpagesize=%d", d->page_size);
    *code = '\0';
    st = d365_call(d, d->http, "GET", url, hdr, NULL, 0, "reading changes", &r);
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
    if (!next && !delta) {
        d->host->set_reason(d->ctx, (int)r.status, -1, "reading changes of %s: the last page carries no "
                            "@odata.deltaLink; is change tracking still enabled on the table?", t->entity_set);
        st = CS_FATAL;
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

/* Load the page the cursor points at (a full sync when it is NULL); *skip = rows of it already read. */
static cs_status load_page(struct d365 *d, struct d365_table *t, const json_t *cursor, size_t *skip)
{
    const char *delta = json_string_value(json_object_get(cursor, "deltaLink")),
               *page = json_string_value(json_object_get(cursor, "page"));
    char *start = initial_url(d, t), code[32];
    const char *url = delta ? delta : page ? page : start;
    int st;

    *skip = page ? (size_t)json_integer_value(json_object_get(cursor, "skip")) : 0;
    if (!start) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    st = fetch_page(d, t, url, code, sizeof code);
    if (st == PAGE_REFUSED && url != start) {
        if (!strcmp(code, EXPIRED_VERSION_STAMP))
            d->host->log(d->ctx, CS_LOG_WARNING, "stream %s: the delta token has expired (%s); starting a full "
                         "sync of %s", t->stream, code, t->entity_set);
        else
            d->host->log(d->ctx, CS_LOG_WARNING, "stream %s: the service refused the stored %s link (%s%s); "
                         "starting a full sync of %s", t->stream, delta ? "delta" : "page", *code ? "code " : "HTTP 4xx",
                         code, t->entity_set);
        d->host->metric_add(d->ctx, "d365_full_resyncs", 1);
        *skip = 0;
        st = fetch_page(d, t, start, code, sizeof code);
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

/* The record of one delta entry. */
static cs_record *row_record(const struct d365_table *t, json_t *row)
{
    const char *ctx = json_string_value(json_object_get(row, "@odata.context")), *k;
    json_t *payload, *v;

    if (ctx && strstr(ctx, "/$deletedEntity"))
        return cs_record_new(t->stream, json_string_value(json_object_get(row, "id")), CS_OP_DELETE, NULL, 0);
    payload = json_object();
    json_object_foreach(row, k, v)
    {
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
    return cs_record_new(t->stream, json_string_value(json_object_get(row, t->primary_id)), CS_OP_UPSERT, payload,
                         iso_ms(json_string_value(json_object_get(row, "modifiedon"))));
}

/* The cursor after the first `pos` rows of the current page. New reference. */
static json_t *cursor_after(const struct d365_table *t, size_t pos)
{
    if (pos < json_array_size(t->page))
        return json_pack("{s:s, s:I}", "page", t->page_url, "skip", (json_int_t)pos);
    if (t->next_link)
        return json_pack("{s:s, s:I}", "page", t->next_link, "skip", (json_int_t)0);
    return json_pack("{s:s}", "deltaLink", t->delta_link);
}

cs_status d365_read(void *inst, const char *stream, const json_t *cursor, size_t max_records)
{
    struct d365 *d = inst;
    struct d365_table *t = d365_table_for(d, stream, 0);
    size_t emitted = 0;
    cs_status st;

    if (!t || !t->columns) {
        d->host->set_reason(d->ctx, 0, -1, "stream %s is not read by this connection: add it with its columns "
                            "to the tables option", stream);
        return CS_FATAL;
    }
    if ((st = d365_describe(d, t)) != CS_OK)
        return st;
    if (!cursor || !t->cursor_at || !json_equal(cursor, t->cursor_at)) {
        d365_read_reset(t); /* the page in memory, if any, is not where the committed cursor points */
        t->cursor_at = cursor ? json_deep_copy(cursor) : NULL;
    }
    while (!d->host->stopping(d->ctx)) {
        size_t size, end;
        json_t *next;
        if (!t->page) {
            size_t skip;
            if ((st = load_page(d, t, t->cursor_at, &skip)) != CS_OK)
                return st;
            t->pos = skip < json_array_size(t->page) ? skip : json_array_size(t->page);
        }
        size = json_array_size(t->page);
        end = t->pos + (max_records - emitted) < size ? t->pos + (max_records - emitted) : size;
        for (size_t i = t->pos; i < end; i++)
            if ((st = d->host->emit(d->ctx, row_record(t, json_array_get(t->page, i)))) != CS_OK)
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
        emitted += end - t->pos;
        t->cycle_rows += (int)(end - t->pos);
        t->pos = end;
        if (end == size) {
            json_decref(t->page);
            t->page = NULL; /* the cursor now names the next page, or the deltaLink */
            if (!t->next_link) {
                int rows = t->cycle_rows;
                t->cycle_rows = 0;
                return rows ? CS_OK : CS_NODATA;
            }
        }
        if (emitted >= max_records)
            return CS_OK;
    }
    return CS_OK;
}
