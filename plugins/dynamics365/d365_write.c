/*
 * d365_write.c - the dynamics365 sink: each record becomes one operation of a $batch request
 * (Prefer: odata.continue-on-error): an upsert is a PATCH by primary id or by the configured alternate
 * key (with If-Match: * when the table is update-only), a delete a DELETE by key (404 means already
 * gone); @odata.bind lookups in the payload pass through, and the configured lookup columns become
 * binds (d365_lookup.c; a 404 naming the linked row is dead-lettered saying so); records asking for
 * Adobe's opt-out rule are first compared with their rows (d365_optout.c). Operations go in batches of
 * batch_size, every batch of a write() sent concurrently on the instance's client (at most the
 * connection's max_in_flight requests at once; a 429 / Retry-After pauses the connection's gate, and
 * batches not sent yet come back RETRY with the time left). A batch answered 401 is sent once more
 * after one forced token refresh. Every inner response is mapped back to its record: 2xx OK; 408, 429
 * and 5xx RETRY with their Retry-After; other 4xx REJECT with the status and the service's message. A
 * request not sent, not answered, or answered 408, 429 or 5xx makes its records RETRY with its
 * Retry-After; when no record of the write got its own result that way, write() returns CS_RETRY as a
 * whole, so every writer of the workflow backs off. 403 on every operation is CS_FATAL.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "d365.h"

/* One $batch request: its operations and multipart body. */
struct chunk {
    struct d365_op *ops;
    size_t n;
    char *body;
    size_t body_len;
};

/* ---- building the operations ------------------------------------------------------------------ */

int d365_is_guid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (!s || strlen(s) != sizeof shape - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* One alternate-key value as an OData literal, URL-escaped: strings quoted (quotes doubled). New string. */
static char *key_literal(const struct d365_table *t, const char *column, const json_t *v)
{
    const char *type = json_string_value(json_object_get(t->attr_types, column));
    int quoted = !type || !strcmp(type, "String") || !strcmp(type, "Memo");
    char *text = NULL, *out;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t j = 0;
        if (!(text = malloc(2 * strlen(s) + 3)))
            return NULL;
        if (quoted)
            text[j++] = '\'';
        for (; *s; s++) {
            text[j++] = *s;
            if (*s == '\'' && quoted)
                text[j++] = '\'';
        }
        if (quoted)
            text[j++] = '\'';
        text[j] = '\0';
    } else if (json_is_integer(v) || json_is_real(v)) {
        text = json_dumps(v, JSON_ENCODE_ANY);
    }
    if (!text)
        return NULL;
    out = cshttp_escape(text);
    free(text);
    return out;
}

/* "(id)" or "(k1='v',k2=2)" for a record; NULL with *why set when it cannot be keyed. New string. */
static char *key_segment(const struct d365_table *t, const cs_record *rec, const char **why)
{
    const json_t *payload = cs_record_payload(rec);
    size_t n = json_array_size(t->key), len;
    char *seg = NULL, **parts;
    FILE *text;

    if (!t->key) {
        *why = "the record key is not a GUID (the table is written by primary id; configure tables.<stream>.key "
               "to write by an alternate key)";
        return d365_is_guid(cs_record_key(rec)) && asprintf(&seg, "(%s)", cs_record_key(rec)) >= 0 ? seg : NULL;
    }
    *why = "the record has no value for a column of the alternate key";
    if (!(parts = calloc(n, sizeof *parts)))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *col = json_string_value(json_array_get(t->key, i));
        json_t *v = json_object_get(payload, col), *from_key = NULL;
        if ((!v || json_is_null(v)) && n == 1)
            v = from_key = json_string(cs_record_key(rec));
        parts[i] = v && !json_is_null(v) ? key_literal(t, col, v) : NULL;
        json_decref(from_key);
        if (!parts[i]) {
            seg = NULL;
            goto out;
        }
    }
    if ((text = open_memstream(&seg, &len))) {
        fputc('(', text);
        for (size_t i = 0; i < n; i++)
            fprintf(text, "%s%s=%s", i ? "," : "", json_string_value(json_array_get(t->key, i)), parts[i]);
        fputc(')', text);
        if (fclose(text) != 0) {
            free(seg);
            seg = NULL;
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
    free(parts);
    return seg;
}

/* The JSON body of an upsert: the payload without annotations (but with @odata.bind) and key columns,
 * lookup columns as their @odata.bind (d365_lookup.c). NULL with `why` set when a lookup cannot be bound
 * (or out of memory). */
static char *upsert_body(const struct d365_table *t, const json_t *payload, char *why, size_t whylen)
{
    json_t *body = json_object(), *v;
    const char *k;
    char *text;
    json_object_foreach ((json_t *)payload, k, v) {
        const char *at = strchr(k, '@');
        int key_col = 0, bound = d365_lookup_bind(t, k, v, body, why, whylen);
        if (bound < 0) {
            json_decref(body);
            return NULL;
        }
        if (bound || (at && strcmp(at, "@odata.bind") != 0))
            continue;
        for (size_t i = 0; i < json_array_size(t->key); i++)
            key_col |= !strcmp(k, json_string_value(json_array_get(t->key, i)));
        if (!key_col)
            json_object_set(body, k, v);
    }
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* The inner request of one record, upserting `payload` (the record's, or what the opt-out rule left of
 * it); NULL with `why` when the record cannot be written. */
static char *inner_request(const struct d365 *d, const struct d365_table *t, const cs_record *rec,
                           const json_t *payload, char *why, size_t whylen)
{
    const char *cause = NULL;
    char *seg = key_segment(t, rec, &cause), *body = NULL, *req = NULL;
    snprintf(why, whylen, "out of memory");
    if (!seg) {
        snprintf(why, whylen, "%s", cause);
        return NULL;
    }
    if (cs_record_op(rec) == CS_OP_DELETE) {
        if (asprintf(&req, "DELETE %s/%s%s HTTP/1.1\r\n\r\n", d->api, t->entity_set, seg) < 0)
            req = NULL;
    } else if ((body = upsert_body(t, payload, why, whylen)) &&
               asprintf(&req, "PATCH %s/%s%s HTTP/1.1\r\nContent-Type: application/json\r\n%s\r\n%s", d->api,
                        t->entity_set, seg, t->update_only ? "If-Match: *\r\n" : "", body) < 0) {
        req = NULL;
    }
    free(seg);
    free(body);
    return req;
}

/* ---- the $batch request and its answer -------------------------------------------------------- */

char *d365_batch_body(const struct d365_op *ops, size_t n, const char *boundary, size_t *len)
{
    char *body = NULL;
    FILE *out = open_memstream(&body, len);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        fprintf(out, "--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n%s\r\n",
                boundary, ops[i].request);
    fprintf(out, "--%s--\r\n", boundary);
    if (fclose(out) != 0) {
        free(body);
        return NULL;
    }
    return body;
}

/* End of a header block starting at p (the first byte after the blank line), or NULL. */
static const char *after_blank_line(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (p + 1 < end && p[0] == '\n' && p[1] == '\n')
            return p + 2;
        if (p + 3 < end && !memcmp(p, "\r\n\r\n", 4))
            return p + 4;
    }
    return NULL;
}

/* Parse one part of a batch response. 0 on success. */
static int parse_part(const char *p, const char *end, struct d365_inner *in)
{
    const char *http = after_blank_line(p, end), *body, *h;
    if (!http || end - http < 12 || strncmp(http, "HTTP/", 5) != 0)
        return -1;
    in->status = atoi(strchr(http, ' ') + 1);
    in->retry_after_ms = -1;
    body = after_blank_line(http, end);
    if (!body)
        body = end;
    for (h = http; h && h < body; h = memchr(h, '\n', (size_t)(body - h)), h = h ? h + 1 : NULL)
        if (!strncasecmp(h, "Retry-After:", 12))
            in->retry_after_ms = (int64_t)atol(h + 12) * 1000;
    while (end > body && (end[-1] == '\r' || end[-1] == '\n'))
        end--;
    in->body = body;
    in->body_len = (size_t)(end - body);
    return 0;
}

size_t d365_batch_parse(const struct cshttp_response *r, struct d365_inner *out, size_t max)
{
    const char *ctype = cshttp_response_header(r, "content-type"), *b = ctype ? strstr(ctype, "boundary=") : NULL;
    char delim[160];
    const char *p, *end = r->body + r->body_len;
    size_t n = 0, blen;
    if (!b)
        return 0;
    b += 9;
    blen = strcspn(b, "\";, ");
    if (*b == '"')
        blen = strcspn(++b, "\"");
    if (blen == 0 || blen > sizeof delim - 3)
        return 0;
    snprintf(delim, sizeof delim, "--%.*s", (int)blen, b);
    p = strstr(r->body, delim);
    while (p && n < max) {
        const char *part = p + strlen(delim), *next;
        if (!strncmp(part, "--", 2))
            break;
        next = strstr(part, delim);
        if (parse_part(part, next ? next : end, &out[n]) == 0)
            n++;
        p = next;
    }
    return n;
}

/* ---- write() ---------------------------------------------------------------------------------- */

/* The table a record is written to (described by write() before its request was built). */
static const struct d365_table *t_of(struct d365 *d, const cs_record *rec)
{
    return d365_table_for(d, cs_record_stream(rec), 0);
}

/* Per-record outcomes of a chunk answered 200. Returns how many were 403. */
static size_t settle_chunk(struct d365 *d, const struct chunk *c, const struct cshttp_response *r,
                           cs_record *const *records)
{
    struct d365_inner *in = calloc(c->n ? c->n : 1, sizeof *in);
    size_t found = in ? d365_batch_parse(r, in, c->n) : 0, forbidden = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t idx = c->ops[i].index;
        char text[600], detail[900];
        cs_status st;
        if (i >= found) {
            d->host->set_result(d->ctx, idx, CS_RETRY, 0, -1, "no answer for this operation in the $batch response");
            continue;
        }
        if ((in[i].status >= 200 && in[i].status < 300) ||
            (in[i].status == 404 && cs_record_op(records[idx]) == CS_OP_DELETE))
            continue;
        st = in[i].status == 408 || in[i].status == 429 || in[i].status >= 500 ? CS_RETRY : CS_REJECT;
        forbidden += in[i].status == 403;
        d365_error_text(in[i].body, in[i].body_len, text, sizeof text);
        if (in[i].status == 404 && t_of(d, records[idx]) &&
            d365_lookup_missing(t_of(d, records[idx]), records[idx], text, detail, sizeof detail))
            d->host->metric_add(d->ctx, "d365_missing_link", 1);
        else
            snprintf(detail, sizeof detail, "HTTP %d: %s", in[i].status, text);
        d->host->set_result(d->ctx, idx, st, in[i].status, st == CS_RETRY ? in[i].retry_after_ms : -1, detail);
    }
    free(in);
    return forbidden;
}

/* The headers of a $batch request: the token's line, the OData lines, the multipart type. */
static void batch_headers(const char *auth, const char *ctype, const char *lines[7])
{
    lines[0] = auth;
    lines[1] = "Accept: application/json";
    lines[2] = "OData-MaxVersion: 4.0";
    lines[3] = "OData-Version: 4.0";
    lines[4] = ctype;
    lines[5] = "Prefer: odata.continue-on-error";
    lines[6] = NULL;
}

/* Send the chunks picked (every one when `pick` is NULL) concurrently, as calls[k], with the token
 * `token`. -1 on allocation failure (with the reason set). */
static int send_chunks(struct d365 *d, const struct chunk *chunks, struct cshttp_call *calls, size_t n,
                       const unsigned char *pick, const char *url, const char *ctype, const char *token)
{
    struct cshttp_call *sent = calloc(n ? n : 1, sizeof *sent);
    size_t *which = calloc(n ? n : 1, sizeof *which), m = 0, unsent = 0;
    const char *lines[7];
    char *auth = NULL;
    if (!sent || !which || asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
        free(sent);
        free(which);
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return -1;
    }
    batch_headers(auth, ctype, lines);
    for (size_t k = 0; k < n; k++) {
        if (pick && !pick[k])
            continue;
        sent[m] = (struct cshttp_call){
            .method = "POST", .url = url, .headers = lines, .body = chunks[k].body, .body_len = chunks[k].body_len};
        which[m++] = k;
    }
    cshttp_request_all(d->http, sent, m);
    for (size_t i = 0; i < m; i++) {
        cshttp_response_clear(&calls[which[i]].r);
        calls[which[i]] = sent[i];
        unsent += sent[i].unsent != 0;
    }
    d->host->metric_add(d->ctx, "d365_batch_requests", (int64_t)(m - unsent));
    cshttp_token_drop(auth);
    free(sent);
    free(which);
    return 0;
}

/* Requests answered 401: one forced token refresh (unless another sender refreshed it since `token`)
 * and once more. CS_FATAL with the reason when the service refuses the fresh token too. */
static cs_status resend_refused(struct d365 *d, const struct chunk *chunks, struct cshttp_call *calls, size_t n,
                                const char *url, const char *ctype, const char *token)
{
    unsigned char *pick = calloc(n ? n : 1, 1);
    size_t refused = 0;
    char *fresh = NULL;
    cs_status st = CS_OK;
    if (!pick) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    for (size_t k = 0; k < n; k++)
        refused += pick[k] = calls[k].r.status == 401;
    if (refused) {
        d->host->log(d->ctx, CS_LOG_INFO, "$batch: HTTP 401, refreshing the token");
        if ((st = d365_token(d, 1, token, &fresh)) == CS_OK &&
            send_chunks(d, chunks, calls, n, pick, url, ctype, fresh) != 0)
            st = CS_RETRY;
    }
    for (size_t k = 0; st == CS_OK && k < n; k++) {
        if (calls[k].r.status == 401) {
            d365_explain(d, "$batch", &calls[k].r, CS_FATAL);
            st = CS_FATAL;
        }
    }
    cshttp_token_drop(fresh);
    free(pick);
    return st;
}

/* How a chunk's request ended. */
enum chunk_end {
    CHUNK_ANSWERED, /* each record has its own result */
    CHUNK_RETRY,    /* not sent, no answer, 408, 429 or 5xx: none of its records was written */
    CHUNK_FATAL,    /* the credentials' rights were refused (the reason is set) */
};

/* The outcome of chunk c's call: its records settled, or what went wrong. *forbidden += its 403s. */
static enum chunk_end chunk_end(struct d365 *d, const struct chunk *c, const struct cshttp_call *call,
                                cs_record *const *records, size_t *forbidden)
{
    cs_status st = call->unsent || call->r.status == 0 ? CS_RETRY : cshttp_classify(&call->r);
    if (st == CS_OK) {
        *forbidden += settle_chunk(d, c, &call->r, records);
    } else if (st == CS_FATAL) {
        d365_explain(d, "$batch", &call->r, st);
        return CHUNK_FATAL;
    } else if (st == CS_REJECT) { /* the request itself was refused: every record of it */
        char text[600], detail[700];
        d365_error_text(call->r.body, call->r.body_len, text, sizeof text);
        snprintf(detail, sizeof detail, "$batch refused, HTTP %ld: %s", call->r.status, text);
        for (size_t i = 0; i < c->n; i++)
            d->host->set_result(d->ctx, c->ops[i].index, CS_REJECT, (int)call->r.status, -1, detail);
    }
    return st == CS_RETRY ? CHUNK_RETRY : CHUNK_ANSWERED;
}

/* Why a chunk's call failed transiently, for the operator. */
static void retry_text(const struct cshttp_call *call, char *why, size_t len)
{
    char text[600];
    if (call->unsent || call->r.status == 0) {
        snprintf(why, len, "$batch: no answer (%s)", call->r.error);
        return;
    }
    d365_error_text(call->r.body, call->r.body_len, text, sizeof text);
    snprintf(why, len, "$batch: HTTP %ld (%s)", call->r.status, text);
}

/* Records of chunks that failed transiently. When no record of the batch got its own result (every one
 * was in such a chunk), the batch as a whole is CS_RETRY, so that every writer backs off with the
 * longest Retry-After; otherwise each of those records is CS_RETRY on its own. */
static cs_status settle_retries(struct d365 *d, const struct chunk *chunks, const struct cshttp_call *calls,
                                const unsigned char *failed, size_t n_chunks, size_t n_records)
{
    size_t n_failed = 0, worst = 0;
    char why[700];
    for (size_t k = 0; k < n_chunks; k++) {
        if (!failed[k])
            continue;
        if (!n_failed || calls[k].r.retry_after_ms > calls[worst].r.retry_after_ms)
            worst = k;
        n_failed += chunks[k].n;
    }
    if (n_failed && n_failed == n_records) {
        retry_text(&calls[worst], why, sizeof why);
        d->host->set_reason(d->ctx, (int)calls[worst].r.status, calls[worst].r.retry_after_ms, "%s", why);
        return CS_RETRY;
    }
    for (size_t k = 0; k < n_chunks; k++) {
        if (!failed[k])
            continue;
        retry_text(&calls[k], why, sizeof why);
        for (size_t i = 0; i < chunks[k].n; i++)
            d->host->set_result(d->ctx, chunks[k].ops[i].index, CS_RETRY, (int)calls[k].r.status,
                                calls[k].r.retry_after_ms, why);
    }
    return CS_OK;
}

/* Send the chunks and settle their records. CS_OK (records have their results), CS_RETRY or CS_FATAL
 * for the whole batch with the reason set. */
static cs_status send_and_settle(struct d365 *d, struct chunk *chunks, size_t n_chunks, cs_record *const *records,
                                 size_t n_records, size_t n_ops)
{
    struct cshttp_call *calls = calloc(n_chunks, sizeof *calls);
    unsigned char *failed = calloc(n_chunks, 1);
    char boundary[64], ctype[128], *url = NULL, *token = NULL;
    size_t forbidden = 0;
    cs_status st;

    if (!calls || !failed || asprintf(&url, "%s/$batch", d->api) < 0) {
        url = NULL;
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        st = CS_RETRY;
        goto out;
    }
    snprintf(boundary, sizeof boundary, "batch_%08lx%08lx", (unsigned long)random(), (unsigned long)random());
    snprintf(ctype, sizeof ctype, "Content-Type: multipart/mixed; boundary=\"%s\"", boundary);
    for (size_t k = 0; k < n_chunks; k++) {
        if (!(chunks[k].body = d365_batch_body(chunks[k].ops, chunks[k].n, boundary, &chunks[k].body_len))) {
            d->host->set_reason(d->ctx, 0, -1, "out of memory");
            st = CS_RETRY;
            goto out;
        }
    }
    if ((st = d365_token(d, 0, NULL, &token)) != CS_OK)
        goto out;
    if (send_chunks(d, chunks, calls, n_chunks, NULL, url, ctype, token) != 0) {
        st = CS_RETRY;
        goto out;
    }
    if ((st = resend_refused(d, chunks, calls, n_chunks, url, ctype, token)) != CS_OK)
        goto out;
    for (size_t k = 0; k < n_chunks; k++) {
        enum chunk_end e = chunk_end(d, &chunks[k], &calls[k], records, &forbidden);
        if (e == CHUNK_FATAL) {
            st = CS_FATAL;
            goto out;
        }
        failed[k] = e == CHUNK_RETRY;
    }
    st = settle_retries(d, chunks, calls, failed, n_chunks, n_records);
    if (st == CS_OK && forbidden && forbidden == n_ops) {
        d->host->set_reason(d->ctx, 403, -1,
                            "every operation was refused with HTTP 403; check the security role "
                            "of the application user of this client_id in %s",
                            d->org_url);
        st = CS_FATAL;
    }
out:
    for (size_t k = 0; calls && k < n_chunks; k++)
        cshttp_response_clear(&calls[k].r);
    free(calls);
    free(failed);
    free(url);
    cshttp_token_drop(token);
    return st;
}

/* Every target of the batch described, with its lookups (tables are added as met, so no pointer is kept). */
static cs_status describe_targets(struct d365 *d, cs_record *const *records, size_t n)
{
    cs_status st;
    for (size_t i = 0; i < n; i++) {
        struct d365_table *t = d365_table_for(d, cs_record_stream(records[i]), 1);
        if (!t) {
            d->host->set_reason(d->ctx, 0, -1, "out of memory");
            return CS_RETRY;
        }
        if ((st = d365_describe(d, t)) != CS_OK || (st = d365_lookups_describe(d, t)) != CS_OK)
            return st;
    }
    return CS_OK;
}

/* One $batch operation per record to send (not `skip`ped, its opt-out `merged` payload if any); a record
 * that cannot become a request is rejected with the cause. The number of operations made. */
static size_t build_operations(struct d365 *d, cs_record *const *records, size_t n, json_t *const *merged,
                               const unsigned char *skip, struct d365_op *ops)
{
    size_t n_ops = 0;
    for (size_t i = 0; i < n; i++) {
        const struct d365_table *t = t_of(d, records[i]);
        const json_t *payload = merged[i] ? merged[i] : cs_record_payload(records[i]);
        char cause[700];
        if (skip[i])
            continue;
        if (!(ops[n_ops].request = inner_request(d, t, records[i], payload, cause, sizeof cause))) {
            d->host->set_result(d->ctx, i, CS_REJECT, 0, -1, cause);
            continue;
        }
        ops[n_ops++].index = i;
    }
    return n_ops;
}

/* The operations cut into $batch requests of at most batch_size (new array of *n_chunks). */
static struct chunk *cut_into_chunks(const struct d365 *d, struct d365_op *ops, size_t n_ops, size_t *n_chunks)
{
    size_t per = (size_t)d->batch_size;
    struct chunk *chunks;
    *n_chunks = (n_ops + per - 1) / per;
    if (!(chunks = calloc(*n_chunks, sizeof *chunks)))
        return NULL;
    for (size_t k = 0; k < *n_chunks; k++) {
        chunks[k].ops = &ops[k * per];
        chunks[k].n = k + 1 < *n_chunks ? per : n_ops - k * per;
    }
    return chunks;
}

cs_status d365_write(void *inst, cs_record *const *records, size_t n)
{
    struct d365 *d = inst;
    struct d365_op *ops = calloc(n ? n : 1, sizeof *ops);
    json_t **merged = calloc(n ? n : 1, sizeof *merged);
    unsigned char *skip = calloc(n ? n : 1, 1);
    size_t n_ops = 0, n_chunks = 0;
    struct chunk *chunks = NULL;
    cs_status st = CS_OK;

    if (!ops || !merged || !skip) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        st = CS_RETRY;
    } else if ((st = describe_targets(d, records, n)) == CS_OK &&
               (st = d365_optout_merge(d, records, n, merged, skip)) == CS_OK &&
               (n_ops = build_operations(d, records, n, merged, skip, ops)) > 0) {
        if ((chunks = cut_into_chunks(d, ops, n_ops, &n_chunks))) {
            st = send_and_settle(d, chunks, n_chunks, records, n, n_ops);
        } else {
            d->host->set_reason(d->ctx, 0, -1, "out of memory");
            st = CS_RETRY;
        }
    }
    for (size_t k = 0; chunks && k < n_chunks; k++)
        free(chunks[k].body);
    free(chunks);
    for (size_t i = 0; ops && i < n_ops; i++)
        free(ops[i].request);
    free(ops);
    for (size_t i = 0; merged && i < n; i++)
        json_decref(merged[i]);
    free(merged);
    free(skip);
    return st;
}
