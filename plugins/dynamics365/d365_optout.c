/*
 * d365_optout.c - Adobe's bidirectional opt-out rule (reference §4.3) where a Campaign change is written
 * to a contact: "If Campaign contains the more recent timestamp, then the Campaign value prevails. If
 * Dynamics 365 contains the more recent timestamp or if they are equal, then opt-out=TRUE will win". A
 * record asks for it with "@optout.rule": "adobe" and carries its Campaign change time in
 * "@optout.changed" (Unix ms; adobe.so's opt-in-out handler sets both). Before the write, the rows of
 * such records are read in one $batch of GETs ($select of their columns and modifiedon, the row's
 * record-level change time), and per column: Campaign newer -> the record's value, else record OR row.
 * Only the columns whose result differs from the row are written; a record left with none costs no
 * write at all, which is also what keeps a value crmsync itself wrote from coming back as a change
 * (the echo finds the row already equal). A row that does not exist is a dead letter saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "d365.h"

#define RULE_MEMBER    "@optout.rule"
#define CHANGED_MEMBER "@optout.changed"

static int wants_rule(const cs_record *rec)
{
    const char *rule = json_string_value(json_object_get(cs_record_payload(rec), RULE_MEMBER));
    return cs_record_op(rec) == CS_OP_UPSERT && rule && strcmp(rule, "adobe") == 0 && d365_is_guid(cs_record_key(rec));
}

/* Dataverse's "YYYY-MM-DDTHH:MM:SSZ" -> Unix ms (0 when absent or not one). */
static int64_t row_time_ms(const char *s)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    return end ? (int64_t)timegm(&tm) * 1000 : 0;
}

/* "GET <set>(<id>)?$select=<the record's columns>,modifiedon". New. */
static char *read_request(struct d365 *d, const struct d365_table *t, const cs_record *rec)
{
    const char *k;
    json_t *v;
    size_t len;
    char *cols = NULL, *req = NULL;
    FILE *out = open_memstream(&cols, &len);
    if (!out)
        return NULL;
    fputs("modifiedon", out);
    json_object_foreach (cs_record_payload(rec), k, v)
        if (!strchr(k, '@'))
            fprintf(out, ",%s", k);
    if (fclose(out) != 0) {
        free(cols);
        return NULL;
    }
    if (asprintf(&req, "GET %s/%s(%s)?$select=%s HTTP/1.1\r\nAccept: application/json\r\n\r\n", d->api, t->entity_set,
                 cs_record_key(rec), cols) < 0)
        req = NULL;
    free(cols);
    return req;
}

/* What to write of `rec` given its row: NULL when nothing differs. New. */
static json_t *decide(struct d365 *d, const cs_record *rec, const json_t *row)
{
    const json_t *payload = cs_record_payload(rec);
    int64_t campaign_ms = json_integer_value(json_object_get(payload, CHANGED_MEMBER));
    int64_t row_ms = row_time_ms(json_string_value(json_object_get(row, "modifiedon")));
    json_t *out = json_object(), *v;
    const char *col;
    json_object_foreach ((json_t *)payload, col, v) {
        int cur = json_is_true(json_object_get(row, col)), want;
        if (strchr(col, '@') || !json_is_boolean(v))
            continue;
        want = campaign_ms > row_ms ? json_is_true(v) : (json_is_true(v) || cur);
        if (want != json_is_true(v)) /* Dynamics 365 is newer or as new and TRUE: Campaign gets it from the other way */
            d->host->metric_add(d->ctx, "optout_d365_true_wins", 1);
        if (want != cur)
            json_object_set_new(out, col, json_boolean(want));
    }
    if (json_object_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Read the rows of the records idx[0..m) in one $batch and decide each. */
static cs_status read_and_decide(struct d365 *d, cs_record *const *records, const size_t *idx, size_t m,
                                 json_t **merged, unsigned char *skip)
{
    struct d365_op *ops = calloc(m, sizeof *ops);
    struct d365_inner *in = calloc(m, sizeof *in);
    struct cshttp_response r = {0};
    char boundary[64], ctype[128], *body = NULL, *url = NULL;
    const char *headers[3];
    size_t len = 0, found;
    cs_status st = CS_RETRY;

    if (!ops || !in || asprintf(&url, "%s/$batch", d->api) < 0) {
        url = NULL;
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < m; j++)
        if (!(ops[j].request =
                  read_request(d, d365_table_for(d, cs_record_stream(records[idx[j]]), 0), records[idx[j]]))) {
            d->host->set_reason(d->ctx, 0, -1, "out of memory");
            goto out;
        }
    snprintf(boundary, sizeof boundary, "batch_%08lx%08lx", (unsigned long)random(), (unsigned long)random());
    snprintf(ctype, sizeof ctype, "Content-Type: multipart/mixed; boundary=\"%s\"", boundary);
    headers[0] = ctype;
    headers[1] = "Prefer: odata.continue-on-error";
    headers[2] = NULL;
    if (!(body = d365_batch_body(ops, m, boundary, &len))) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        goto out;
    }
    d->host->metric_add(d->ctx, "d365_batch_requests", 1);
    if ((st = d365_call(d, d->http, "POST", url, headers, body, len, "$batch reading the contacts' opt-outs", &r)) !=
        CS_OK)
        goto out; /* the reason is set; REJECT of the whole request: the batch is retried */
    found = d365_batch_parse(&r, in, m);
    for (size_t j = 0; j < m; j++) {
        size_t i = idx[j];
        char text[600], detail[800];
        json_t *row;
        if (j >= found) {
            d->host->set_result(d->ctx, i, CS_RETRY, 0, -1, "no answer for this row's read in the $batch response");
            skip[i] = 1;
            continue;
        }
        if (in[j].status == 200 && (row = json_loadb(in[j].body, in[j].body_len, 0, NULL))) {
            if (!(merged[i] = decide(d, records[i], row))) {
                skip[i] = 1;
                d->host->metric_add(d->ctx, "d365_optout_unchanged", 1);
            }
            json_decref(row);
            continue;
        }
        d365_error_text(in[j].body, in[j].body_len, text, sizeof text);
        skip[i] = 1;
        if (in[j].status == 404)
            snprintf(detail, sizeof detail,
                     "contact %s does not exist in Dynamics 365 (HTTP 404: %s): the profile's "
                     "externalId names no contact; fix the externalId or create the contact, then redrive",
                     cs_record_key(records[i]), text);
        else
            snprintf(detail, sizeof detail, "reading the row before the opt-out rule: HTTP %d: %s", in[j].status, text);
        d->host->set_result(d->ctx, i,
                            in[j].status == 408 || in[j].status == 429 || in[j].status >= 500 ? CS_RETRY : CS_REJECT,
                            in[j].status, in[j].retry_after_ms, detail);
    }
    st = CS_OK;
out:
    for (size_t j = 0; ops && j < m; j++)
        free(ops[j].request);
    free(ops);
    free(in);
    free(body);
    free(url);
    cshttp_response_clear(&r);
    return st == CS_REJECT ? CS_RETRY : st;
}

cs_status d365_optout_merge(struct d365 *d, cs_record *const *records, size_t n, json_t **merged, unsigned char *skip)
{
    size_t *idx = calloc(n ? n : 1, sizeof *idx), m = 0;
    cs_status st = CS_OK;
    if (!idx) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    for (size_t i = 0; i < n; i++)
        if (wants_rule(records[i]))
            idx[m++] = i;
    for (size_t k = 0; st == CS_OK && k < m; k += (size_t)d->batch_size)
        st = read_and_decide(d, records, idx + k, m - k < (size_t)d->batch_size ? m - k : (size_t)d->batch_size, merged,
                             skip);
    free(idx);
    return st;
}
