/*
 * d365_http.c - authenticated Web API requests of the dynamics365 plugin: the OAuth2 token from the
 * shared cache (refreshed before expiry, forced once after a 401), the OData headers every request
 * carries, and the reasons given to the operator (status, the service's error code and message, the
 * settings to check), never a token or a secret. A GET can also be started and answered later
 * (d365_call_start / d365_call_finish: the reader's next page, fetched while the current one commits).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "d365.h"

cs_status d365_token(struct d365 *d, int force, const char *seen, char **token)
{
    char err[512] = "";
    int64_t retry_after = -1;
    cs_status st = cshttp_token_get(d->token, d->http, force, seen, token, &retry_after, err, sizeof err);
    if (st != CS_OK)
        d->host->set_reason(d->ctx, 0, retry_after, "%s", err);
    return st;
}

void d365_error_code(const char *body, size_t len, char *out, size_t outlen)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    snprintf(out, outlen, "%s", code ? code : "");
    json_decref(doc);
}

void d365_error_text(const char *body, size_t len, char *out, size_t outlen)
{
    json_t *doc = json_loadb(body, len, 0, NULL), *e = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(e, "code")),
               *msg = json_string_value(json_object_get(e, "message"));
    if (msg)
        snprintf(out, outlen, "%s%s%s", code && *code ? code : "", code && *code ? ": " : "", msg);
    else if (len)
        snprintf(out, outlen, "%.*s", (int)(len < 200 ? len : 200), body);
    else
        snprintf(out, outlen, "no error text");
    json_decref(doc);
}

void d365_explain(struct d365 *d, const char *what, const struct cshttp_response *r, cs_status st)
{
    char text[600];
    d365_error_text(r->body, r->body_len, text, sizeof text);
    if (r->status == 401)
        d->host->set_reason(d->ctx, 401, -1, "%s: HTTP 401 even with a fresh token (%s); check the %s", what, text,
                            d->settings_hint);
    else if (r->status == 403)
        d->host->set_reason(d->ctx, 403, -1,
                            "%s: HTTP 403 (%s); check the security role of the application user "
                            "of this client_id in %s",
                            what, text, d->org_url);
    else
        d->host->set_reason(d->ctx, (int)r->status, st == CS_RETRY ? r->retry_after_ms : -1, "%s: HTTP %ld (%s)", what,
                            r->status, text);
}

#define MAX_LINES 16

#define AUTH_PREFIX "Authorization: Bearer "
#define ODATA_LINES 4 /* the lines odata_lines puts before the caller's */

/* The header lines of a Web API request: `auth`, the OData lines, then `headers`; NULL-terminated. */
static void odata_lines(const char *auth, const char *const *headers, const char *lines[MAX_LINES])
{
    size_t n = 0;
    lines[n++] = auth;
    lines[n++] = "Accept: application/json";
    lines[n++] = "OData-MaxVersion: 4.0";
    lines[n++] = "OData-Version: 4.0";
    for (size_t i = 0; headers && headers[i] && n < MAX_LINES - 1; i++)
        lines[n++] = headers[i];
    lines[n] = NULL;
}

/* "Authorization: Bearer <token>" (new), or NULL with the reason set. */
static char *auth_line(struct d365 *d, const char *token)
{
    char *auth = NULL;
    if (asprintf(&auth, AUTH_PREFIX "%s", token) < 0) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return NULL;
    }
    return auth;
}

/* The outcome of an answer that arrived (r->status != 0): its class, explained when it is not CS_OK. */
static cs_status answered(struct d365 *d, const char *what, const struct cshttp_response *r)
{
    cs_status st = cshttp_classify(r);
    if (st != CS_OK)
        d365_explain(d, what, r, st);
    return st;
}

cs_status d365_call(struct d365 *d, struct cshttp_client *c, const char *method, const char *url,
                    const char *const *headers, const char *body, size_t body_len, const char *what,
                    struct cshttp_response *r)
{
    const char *lines[MAX_LINES];
    char *auth = NULL, *token = NULL, *seen = NULL;
    cs_status st;

    for (int attempt = 0; attempt < 2; attempt++) {
        if ((st = d365_token(d, attempt > 0, seen, &token)) != CS_OK)
            goto out;
        cshttp_token_drop(auth);
        if (!(auth = auth_line(d, token))) {
            st = CS_RETRY;
            goto out;
        }
        cshttp_token_drop(seen);
        seen = token;
        token = NULL;
        odata_lines(auth, headers, lines);
        if (cshttp_request(c, method, url, lines, body, body_len, r) != 0) {
            d->host->set_reason(d->ctx, 0, r->retry_after_ms, "%s: %s", what, r->error);
            st = CS_RETRY;
            goto out;
        }
        if (r->status != 401)
            break;
        d->host->log(d->ctx, CS_LOG_INFO, "%s: HTTP 401, refreshing the token", what);
    }
    st = answered(d, what, r);
out:
    cshttp_token_drop(auth);
    cshttp_token_drop(seen);
    cshttp_token_drop(token);
    return st;
}

/* ---- a GET started now, answered later -------------------------------------------------------- */

struct cshttp_pending *d365_call_start(struct d365 *d, struct cshttp_client *c, const char *url,
                                       const char *const *headers)
{
    const char *lines[MAX_LINES];
    char *token = NULL, *auth = NULL;
    struct cshttp_pending *p = NULL;
    if (d365_token(d, 0, NULL, &token) == CS_OK && (auth = auth_line(d, token))) {
        odata_lines(auth, headers, lines);
        p = cshttp_start(c, &(struct cshttp_call){.method = "GET", .url = url, .headers = lines});
    }
    cshttp_token_drop(auth);
    cshttp_token_drop(token);
    return p;
}

cs_status d365_call_finish(struct d365 *d, struct cshttp_pending *p, const char *what, struct cshttp_response *r)
{
    const char *const *lines = cshttp_pending_headers(p);
    cs_status st;
    cshttp_finish(p, r);
    if (r->status == 401 || r->status == 0) {
        char *fresh = NULL;
        d->host->log(d->ctx, CS_LOG_INFO, "%s: %s for the page read ahead; sending it again", what,
                     r->status ? "HTTP 401" : r->error);
        /* a refresh is forced unless another request replaced the token this one carried */
        st = r->status ? d365_token(d, 1, lines[0] + strlen(AUTH_PREFIX), &fresh) : CS_OK;
        cshttp_token_drop(fresh);
        if (st == CS_OK)
            st = d365_call(d, d->http, "GET", cshttp_pending_url(p), lines + ODATA_LINES, NULL, 0, what, r);
    } else {
        st = answered(d, what, r);
    }
    cshttp_pending_free(p);
    return st;
}
