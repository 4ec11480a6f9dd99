/*
 * acs_http.c - authenticated calls to Campaign Standard and the I/O Events journal (reference B1,
 * B11): the IMS token from cshttp's cache (refreshed before expiry), the X-Api-Key and headers every
 * call carries, one forced token refresh and resend on 401 (401013: token invalid or expired), a
 * refused API key (403) or credential as CS_FATAL naming the setting, and the classification of
 * Campaign's answers (gateway 500 "Oops" and 429/5xx transient, engine 500 refusals rejected).
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

cs_status acs_authenticate(struct acs *a)
{
    const char *tok;
    int64_t ra;
    cs_status st = cshttp_token_get(a->token, a->http, 0, &tok, &ra, a->err, sizeof a->err);
    a->err_http = 0;
    a->err_retry_ms = ra;
    return st;
}

/* Fetch a token (forced after a 401) and send once. */
static cs_status send_once(struct acs *a, int force, const char *method, const char *url, const char *body,
                           int journal, struct cshttp_response *r)
{
    const char *tok;
    char auth[4096], key[512], org[512];
    const char *headers[7];
    size_t h = 0;
    int64_t ra;
    cs_status st = cshttp_token_get(a->token, a->http, force, &tok, &ra, a->err, sizeof a->err);
    if (st != CS_OK) {
        a->err_http = 0;
        a->err_retry_ms = ra;
        a->err_record_only = 0;
        return st;
    }
    if (force)
        a->host->metric_add(a->ctx, "token_refreshes", 1);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    snprintf(key, sizeof key, "X-Api-Key: %s", a->client_id);
    headers[h++] = auth;
    headers[h++] = key;
    headers[h++] = "Accept: application/json";
    headers[h++] = "Cache-Control: no-cache";
    if (body)
        headers[h++] = "Content-Type: application/json;charset=utf-8";
    if (journal && a->org_id) {
        snprintf(org, sizeof org, "x-ims-org-id: %s", a->org_id);
        headers[h++] = org;
    }
    headers[h] = NULL;
    if (cshttp_request(a->http, method, url, headers, body, body ? strlen(body) : 0, r) != 0) {
        acs_fail(a, 0, "%s %s: %s", method, url, r->error);
        memset(auth, 0, sizeof auth);
        return CS_RETRY;
    }
    memset(auth, 0, sizeof auth);
    return CS_OK;
}

cs_status acs_call(struct acs *a, const char *method, const char *url, const char *body, int journal,
                   struct cshttp_response *r)
{
    char msg[512];
    cs_status st = send_once(a, 0, method, url, body, journal, r);
    if (st == CS_OK && r->status == 401)
        st = send_once(a, 1, method, url, body, journal, r);
    if (st != CS_OK)
        return st;
    if (r->status == 401 || r->status == 403) {
        service_message(r, msg, sizeof msg);
        if (r->status == 401)
            acs_fail(a, 401,
                     "%s refused a freshly issued IMS token (HTTP 401 %s): check client_id, client_secret and "
                     "scopes of the connection, and that the credential's product profile grants Campaign",
                     journal ? "the I/O Events journal" : "Campaign", msg);
        else
            acs_fail(a, 403,
                     "%s refused the API key (HTTP 403 %s): check client_id of the connection (it is sent as "
                     "X-Api-Key)%s and the credential's product profile",
                     journal ? "the I/O Events journal" : "Campaign", msg, journal ? ", org_id" : "");
        return CS_FATAL;
    }
    return CS_OK;
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
                                strstr(r->body, "' is not a valid constant") &&
                                !strstr(r->body, "enumeration"));
}
