/*
 * d365_http.c - authenticated Web API requests of the dynamics365 plugin: the OAuth2 token from the
 * shared cache (refreshed before expiry, forced once after a 401), the OData headers every request
 * carries, and the reasons given to the operator (status, the service's error code and message, the
 * settings to check), never a token or a secret.
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

/* The reason for an answer that is not a success. */
static void explain(struct d365 *d, const char *what, const struct cshttp_response *r, cs_status st)
{
    char text[600];
    d365_error_text(r->body, r->body_len, text, sizeof text);
    if (r->status == 401)
        d->host->set_reason(d->ctx, 401, -1, "%s: HTTP 401 even with a fresh token (%s); check the %s", what, text,
                            d->settings_hint);
    else if (r->status == 403)
        d->host->set_reason(d->ctx, 403, -1, "%s: HTTP 403 (%s); check the security role of the application user "
                            "of this client_id in %s", what, text, d->org_url);
    else
        d->host->set_reason(d->ctx, (int)r->status, st == CS_RETRY ? r->retry_after_ms : -1, "%s: HTTP %ld (%s)",
                            what, r->status, text);
}

cs_status d365_call(struct d365 *d, struct cshttp_client *c, const char *method, const char *url,
                    const char *const *headers, const char *body, size_t body_len, const char *what,
                    struct cshttp_response *r)
{
    const char *lines[16];
    char *auth = NULL, *token = NULL, *seen = NULL;
    size_t n = 0;
    cs_status st;

    for (int attempt = 0; attempt < 2; attempt++) {
        if ((st = d365_token(d, attempt > 0, seen, &token)) != CS_OK)
            goto out;
        cshttp_token_drop(auth);
        if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
            auth = NULL;
            d->host->set_reason(d->ctx, 0, -1, "out of memory");
            st = CS_RETRY;
            goto out;
        }
        cshttp_token_drop(seen);
        seen = token;
        token = NULL;
        n = 0;
        lines[n++] = auth;
        lines[n++] = "Accept: application/json";
        lines[n++] = "OData-MaxVersion: 4.0";
        lines[n++] = "OData-Version: 4.0";
        for (size_t i = 0; headers && headers[i] && n < sizeof lines / sizeof *lines - 1; i++)
            lines[n++] = headers[i];
        lines[n] = NULL;
        if (cshttp_request(c, method, url, lines, body, body_len, r) != 0) {
            d->host->set_reason(d->ctx, 0, -1, "%s: %s", what, r->error);
            st = CS_RETRY;
            goto out;
        }
        if (r->status != 401)
            break;
        d->host->log(d->ctx, CS_LOG_INFO, "%s: HTTP 401, refreshing the token", what);
    }
    st = cshttp_classify(r);
    if (st != CS_OK)
        explain(d, what, r, st);
out:
    cshttp_token_drop(auth);
    cshttp_token_drop(seen);
    cshttp_token_drop(token);
    return st;
}
