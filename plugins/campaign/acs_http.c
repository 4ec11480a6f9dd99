/*
 * acs_http.c - authenticated calls to Campaign Standard and the I/O Events journal (reference B1,
 * B11): the IMS token from cshttp's cache (refreshed before expiry), the X-Api-Key and headers every
 * call carries, one forced token refresh and resend on 401 (401013: token invalid or expired), a
 * refused API key (403) or credential as CS_FATAL naming the setting, and the classification of
 * Campaign's answers (gateway 500 "Oops" and 429/5xx transient, engine 500 refusals rejected), and the
 * hrefs of answers made absolute.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"

#define GATEWAY_OOPS "Oops. Something went wrong"

int64_t acs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void acs_fail(struct acs *a, long http, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
    a->err_http = http;
    a->err_retry_ms = -1;
    a->err_record_only = 0;
}

/* The service's message: "message", "error_description" or "error" of a JSON body, else the text. */
static void service_message(const struct cshttp_response *r, char *out, size_t len)
{
    json_t *doc = cshttp_response_json(r);
    const char *code = json_string_value(json_object_get(doc, "error_code"));
    const char *msg = json_string_value(json_object_get(doc, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(doc, "error_description"));
    if (!msg)
        msg = json_string_value(json_object_get(doc, "error"));
    if (msg)
        snprintf(out, len, "%s%s%.*s", code ? code : "", code ? ": " : "", (int)strcspn(msg, "\r\n"), msg);
    else
        snprintf(out, len, "%.*s", (int)strcspn(r->body ? r->body : "", "\r\n"), r->body ? r->body : "");
    json_decref(doc);
}

char *acs_url(const struct acs *a, const char *href)
{
    char *url = NULL;
    if (!href || strstr(href, "://"))
        return href ? strdup(href) : NULL;
    return asprintf(&url, "%s%s%s", a->base, *href == '/' ? "" : "/", href) < 0 ? NULL : url;
}

cs_status acs_authenticate(struct acs *a)
{
    char *tok = NULL;
    int64_t ra;
    cs_status st = cshttp_token_get(a->token, a->http, 0, NULL, &tok, &ra, a->err, sizeof a->err);
    cshttp_token_drop(tok);
    a->err_http = 0;
    a->err_retry_ms = ra;
    return st;
}

/* The headers of every call: token, API key, JSON; `with_body` adds the content type, `journal` the
 * organization. `lines` holds 7 pointers; auth, key and org are the buffers the lines point to. */
static void call_headers(struct acs *a, const char *tok, int with_body, int journal, const char **lines,
                         char auth[4096], char key[512], char org[512])
{
    size_t h = 0;
    snprintf(auth, 4096, "Authorization: Bearer %s", tok);
    snprintf(key, 512, "X-Api-Key: %s", a->client_id);
    lines[h++] = auth;
    lines[h++] = key;
    lines[h++] = "Accept: application/json";
    lines[h++] = "Cache-Control: no-cache";
    if (with_body)
        lines[h++] = "Content-Type: application/json;charset=utf-8";
    if (journal && a->org_id) {
        snprintf(org, 512, "x-ims-org-id: %s", a->org_id);
        lines[h++] = org;
    }
    lines[h] = NULL;
}

/* Send calls[i] for each i with pick[i] (all when pick is NULL) with a token (a fresh one when `force`,
 * unless it changed since *seen). *seen becomes the token used. */
static cs_status send_round(struct acs *a, struct cshttp_call *calls, size_t n, const unsigned char *pick, int force,
                            int journal, char **seen)
{
    const char *plain[7], *json[7];
    char *tok = NULL, auth[4096], key[512], org[512];
    struct cshttp_call **sel;
    struct cshttp_call *batch;
    size_t m = 0;
    int64_t ra;
    cs_status st = cshttp_token_get(a->token, a->http, force, *seen, &tok, &ra, a->err, sizeof a->err);
    if (st != CS_OK) {
        a->err_http = 0;
        a->err_retry_ms = ra;
        a->err_record_only = 0;
        return st;
    }
    if (force)
        a->host->metric_add(a->ctx, "token_refreshes", 1);
    call_headers(a, tok, 0, journal, plain, auth, key, org);
    call_headers(a, tok, 1, journal, json, auth, key, org);
    cshttp_token_drop(*seen);
    *seen = tok;
    sel = calloc(n ? n : 1, sizeof *sel);
    batch = calloc(n ? n : 1, sizeof *batch);
    if (!sel || !batch) {
        free(sel);
        free(batch);
        acs_fail(a, 0, "out of memory");
        return CS_RETRY;
    }
    for (size_t i = 0; i < n; i++) {
        if (pick && !pick[i])
            continue;
        sel[m] = &calls[i];
        batch[m] = calls[i];
        batch[m].headers = calls[i].body ? json : plain;
        memset(&batch[m].r, 0, sizeof batch[m].r);
        m++;
    }
    cshttp_request_all(a->http, batch, m);
    for (size_t j = 0; j < m; j++) {
        cshttp_response_clear(&sel[j]->r);
        sel[j]->r = batch[j].r;
        sel[j]->unsent = batch[j].unsent;
    }
    memset(auth, 0, sizeof auth);
    free(sel);
    free(batch);
    return CS_OK;
}

/* A call refused even with a fresh token, or with the API key refused: what to tell the operator. */
static void refusal(struct acs *a, const struct cshttp_response *r, int journal)
{
    char msg[512];
    service_message(r, msg, sizeof msg);
    if (r->status == 403 && strncmp(msg, "403023", 6) == 0) /* Adobe's Troubleshooting page */
        acs_fail(a, 403,
                 "Campaign refused the credential (HTTP 403 %s): its IMS profile has no Campaign product context for "
                 "this organization; check that GET <ims_url>/ims/profile/v1 with the connection's token lists a "
                 "projectedProductContext whose organization_id is the tenant in url, else ask Adobe to fix the "
                 "IMS provisioning",
                 msg);
    else if (r->status == 401)
        acs_fail(a, 401,
                 "%s refused a freshly issued IMS token (HTTP 401 %s): check client_id, client_secret and "
                 "scopes of the connection, and that the credential's product profile grants Campaign",
                 journal ? "the I/O Events journal" : "Campaign", msg);
    else
        acs_fail(a, 403,
                 "%s refused the API key (HTTP 403 %s): check client_id of the connection (it is sent as "
                 "X-Api-Key)%s and the credential's product profile",
                 journal ? "the I/O Events journal" : "Campaign", msg, journal ? ", org_id" : "");
}

cs_status acs_call_all(struct acs *a, struct cshttp_call *calls, size_t n, int journal)
{
    unsigned char *again = calloc(n ? n : 1, 1);
    char *seen = NULL;
    size_t n_again = 0;
    cs_status st;
    if (!again) {
        acs_fail(a, 0, "out of memory");
        return CS_RETRY;
    }
    st = send_round(a, calls, n, NULL, 0, journal, &seen);
    for (size_t i = 0; st == CS_OK && i < n; i++)
        n_again += again[i] = calls[i].r.status == 401;
    if (st == CS_OK && n_again) /* 401013: the token expired or was revoked; once more with a fresh one */
        st = send_round(a, calls, n, again, 1, journal, &seen);
    for (size_t i = 0; st == CS_OK && i < n; i++) {
        if (calls[i].r.status == 401 || calls[i].r.status == 403) {
            refusal(a, &calls[i].r, journal);
            st = CS_FATAL;
        }
    }
    cshttp_token_drop(seen);
    free(again);
    return st;
}

cs_status acs_call(struct acs *a, const char *method, const char *url, const char *body, int journal,
                   struct cshttp_response *r)
{
    struct cshttp_call call = {.method = method, .url = url, .body = body, .body_len = body ? strlen(body) : 0};
    cs_status st = acs_call_all(a, &call, 1, journal);
    cshttp_response_clear(r);
    *r = call.r;
    if (st == CS_OK && r->status == 0) {
        acs_fail(a, 0, "%s %s: %s", method, url, r->error);
        a->err_retry_ms = r->retry_after_ms;
        st = CS_RETRY;
    }
    return st;
}

cs_status acs_get_page(struct acs *a, const char *url, const char *what, const char *advice, json_t **doc)
{
    struct cshttp_response r = {0};
    cs_status st = acs_call(a, "GET", url, NULL, 0, &r);
    *doc = NULL;
    if (st == CS_OK && (st = acs_classify(a, &r, what)) == CS_REJECT) {
        if (advice) {
            size_t used = strlen(a->err);
            snprintf(a->err + used, sizeof a->err - used, "; %s", advice);
        }
        st = CS_FATAL;
    } else if (st == CS_OK && !(*doc = cshttp_response_json(&r))) {
        acs_fail(a, r.status, "%s: the answer is not JSON", what);
        st = CS_RETRY;
    }
    cshttp_response_clear(&r);
    return st;
}

cs_status acs_classify(struct acs *a, const struct cshttp_response *r, const char *what)
{
    char msg[512];
    cs_status st;
    if (r->status >= 200 && r->status < 300)
        return CS_OK;
    service_message(r, msg, sizeof msg);
    st = cshttp_classify(r);
    /* Campaign answers 500 both for gateway trouble ("Oops...") and for a record the engine refuses */
    if (r->status == 500 && *msg && !strstr(msg, GATEWAY_OOPS) && msg[0] != '<')
        st = CS_REJECT;
    acs_fail(a, r->status, "%s: HTTP %ld%s%s", what, r->status, *msg ? ": " : "", msg);
    a->err_retry_ms = r->retry_after_ms;
    return st;
}

int acs_is_stale_pkey(const struct cshttp_response *r)
{
    /* "'@...' is not a valid constant" names a PKey; an enumeration's refusal names a value */
    return r->status == 404 || ((r->status == 400 || r->status == 500) && r->body && strstr(r->body, "'@") &&
                                strstr(r->body, "' is not a valid constant") && !strstr(r->body, "enumeration"));
}

struct cshttp_pending *acs_call_start(struct acs *a, struct cshttp_client *c, const char *url)
{
    const char *lines[7];
    char *tok = NULL, auth[4096], key[512], org[512];
    int64_t ra;
    struct cshttp_pending *p = NULL;
    if (cshttp_token_get(a->token, a->http, 0, NULL, &tok, &ra, a->err, sizeof a->err) == CS_OK) {
        call_headers(a, tok, 0, 1, lines, auth, key, org);
        p = cshttp_start(c, &(struct cshttp_call){.method = "GET", .url = url, .headers = lines});
        memset(auth, 0, sizeof auth);
    }
    cshttp_token_drop(tok);
    return p;
}

cs_status acs_call_finish(struct acs *a, struct cshttp_pending *p, struct cshttp_response *r)
{
    cs_status st = CS_OK;
    cshttp_finish(p, r);
    if (r->status == 401 || r->status == 0) /* an expired token or a dropped connection: once more, now */
        st = acs_call(a, "GET", cshttp_pending_url(p), NULL, 1, r);
    else if (r->status == 403)
        refusal(a, r, 1), st = CS_FATAL;
    cshttp_pending_free(p);
    return st;
}
