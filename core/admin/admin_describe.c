/*
 * admin_describe.c - the admin API's resources of one connection, for the Workflows page's editors and
 * Settings (engine_describe.c does the work):
 *   GET  /api/v1/connections/{name}/tables           the tables it can see (describe(NULL))
 *   GET  /api/v1/connections/{name}/tables/{table}   one table's live metadata (describe(table))
 *   POST /api/v1/connections/{name}/check            a connectivity check, its result in words
 *   PUT  /api/v1/connections/{name}/secrets/{option} {"value": "..."}: replace a secret kept in a file
 * The connector failing is 502 with its reason; a secret is never echoed. The calls that reach the remote
 * system are cached and rate-limited by admin_remote.c.
 */
#include "admin_describe.h"

#include <stdlib.h>
#include <string.h>

#include "admin_remote.h"
#include "engine/engine.h"
#include "util/util.h"

static int route(const struct cs_request *r, size_t n, const char *method, const char *what)
{
    return r->n_segments == n && strcmp(r->method, method) == 0 && strcmp(r->segments[2], what) == 0;
}

/* Map an engine result onto the reply; `io_status` is what a CS_E_IO means for this route. */
static void answer(struct cs_reply *rep, int rc, json_t *body, char *err, int io_status)
{
    if (rc == 0) {
        rep->status = 200;
        rep->body = body;
        body = NULL;
    } else {
        cs_reply_failed(rep, rc, err, io_status);
    }
    json_decref(body);
    free(err);
}

/* The body {"value": "<secret>"} (nothing else, no NUL inside): the value (borrowed) or NULL. */
static const char *secret_value(const struct cs_request *r)
{
    const json_t *v = json_object_get(r->body, "value");
    if (!json_is_object(r->body) || json_object_size(r->body) != 1 || !json_is_string(v) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

void cs_admin_describe_route(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    const char *conn = r->segments[1], *value;
    json_t *out = NULL;
    char *err = NULL;
    int rc;

    if (r->n_segments >= 3 && (route(r, 3, "GET", "tables") || route(r, 4, "GET", "tables"))) {
        cs_remote_describe(r->remote, e, conn, r->n_segments == 4 ? r->segments[3] : NULL, rep);
    } else if (r->n_segments >= 3 && route(r, 3, "POST", "check")) {
        if (cs_remote_admit(r->remote, e, conn, rep) != 0)
            return;
        rc = cs_engine_conn_check(e, conn, &out, &err);
        answer(rep, rc, out, err, 502);
    } else if (r->n_segments >= 3 && route(r, 4, "PUT", "secrets")) {
        if (!(value = secret_value(r))) {
            cs_reply_error(rep, 400, "bad_request", "send {\"value\": \"<the new secret>\"} as the only member");
            return;
        }
        rc = cs_engine_conn_put_secret(e, conn, r->segments[3], value, &err);
        if (rc == 0)
            cs_remote_forget(r->remote, conn); /* what it saw with the old secret */
        answer(rep, rc, rc == 0 ? json_pack("{s:b}", "set", 1) : NULL, err, 500);
    } else {
        cs_reply_error(rep, 404, "not_found", "no such operation: %s /api/v1/connections/%s/...", r->method, conn);
    }
}
