/*
 * admin_routes.c - the /api/v1 resources (see admin_http.h): workflows and their start/stop,
 * definition, revisions, replay and dead letters; plugins, connections, health and the table-mapping
 * vocabulary; a connection's own resources are admin_describe.c's, and POST /session tells the page its
 * token is right. POST /preflight checks the prerequisites of the workflows in the remote systems, POST
 * /setup creates them, POST /backup copies the state database, GET /fleet shows the daemons sharing it. Each route checks its input (unknown
 * members, wrong types, bad numbers are 400) and maps engine results onto HTTP statuses: CS_E_NOTFOUND 404,
 * CS_E_STATE 409, CS_E_INVAL 400.
 */
#include <stdlib.h>
#include <string.h>

#include "admin_http.h"
#include "admin_describe.h"
#include "engine/engine.h"
#include "mapping/vocabulary.h"
#include "util/util.h"

static int is(const struct cs_request *r, size_t n, const char *method)
{
    return r->n_segments == n && strcmp(r->method, method) == 0;
}

static int seg(const struct cs_request *r, size_t i, const char *name)
{
    return i < r->n_segments && strcmp(r->segments[i], name) == 0;
}

static void ok(struct cs_reply *rep, json_t *body)
{
    rep->status = 200;
    rep->body = body;
}

/* A non-negative integer from text, or -1. */
static int64_t number(const char *text)
{
    char *end;
    long long v;
    if (!text || !*text)
        return -1;
    v = strtoll(text, &end, 10);
    return *end || v < 0 ? -1 : v;
}

/* A body allowed to hold only the members in `allowed` (NULL-terminated); 0 or a 400 answer. */
static int only_members(const struct cs_request *r, const char *const *allowed, struct cs_reply *rep)
{
    const char *key;
    json_t *v;
    if (!r->body)
        return 0;
    if (!json_is_object(r->body)) {
        cs_reply_error(rep, 400, "bad_request", "the body must be a JSON object");
        return -1;
    }
    json_object_foreach ((json_t *)r->body, key, v) {
        int known = 0;
        for (size_t i = 0; allowed[i]; i++)
            known |= strcmp(allowed[i], key) == 0;
        if (!known) {
            cs_reply_error(rep, 400, "unknown_field", "unknown field \"%s\"", key);
            return -1;
        }
    }
    return 0;
}

static void failed(struct cs_reply *rep, int rc, const char *msg)
{
    cs_reply_failed(rep, rc, msg, 500);
}

/* CS_E_NOTFOUND for workflow `id` (gone since it was looked up): the one wording of an unknown
 * workflow; any other failure as failed() says it. */
static void unknown_or_failed(struct cs_reply *rep, int rc, const char *id, const char *msg)
{
    char *why = rc == CS_E_NOTFOUND ? cs_engine_unknown(id) : NULL;
    failed(rep, rc, why ? why : msg);
    free(why);
}

/* ---- what the resources of a workflow do ----------------------------------------------------- */

static void start_stop(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep, int start)
{
    const char *id = r->segments[1];
    char *err = NULL;
    int rc = start ? cs_engine_start(e, id, &err) : cs_engine_stop(e, id, &err);
    if (rc == 0) {
        ok(rep, cs_engine_workflow(e, id));
    } else {
        failed(rep, rc, err);
        if (rc == CS_E_STATE) {
            json_t *snap = cs_engine_workflow(e, id);
            json_object_set(json_object_get(rep->body, "error"), "status", json_object_get(snap, "status"));
            json_decref(snap);
        }
    }
    free(err);
}

static void put_definition(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    const char *id = r->segments[1];
    json_t *errors = NULL, *snap;
    int64_t rev = 0;
    int rc;
    if (!r->body) {
        cs_reply_error(rep, 400, "bad_request", "send the new definition as a JSON object");
        return;
    }
    rc = cs_engine_put_definition(e, id, r->body, r->author ? r->author : "api", &rev, &errors);
    if (rc == CS_E_INVAL) {
        cs_reply_error(rep, 400, "invalid_definition", "the definition has %zu error(s); nothing was stored",
                       json_array_size(errors));
        json_object_set_new(json_object_get(rep->body, "error"), "details", errors);
        return;
    }
    if (rc != 0) {
        json_decref(errors);
        unknown_or_failed(rep, rc, id, NULL);
        return;
    }
    snap = cs_engine_workflow(e, id);
    ok(rep, json_pack("{s:I, s:O, s:s, s:o}", "revision", (json_int_t)rev, "pending", json_object_get(snap, "pending"),
                      "message",
                      json_is_true(json_object_get(snap, "pending"))
                          ? "stored; it takes effect when the workflow is stopped and started"
                          : "stored; it takes effect at the next start",
                      "warnings", errors ? errors : json_array()));
    json_decref(snap);
}

static void dead_letters(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    const char *id = r->segments[1], *limit_arg = r->query(r, "limit"), *after_arg = r->query(r, "after"),
               *include = r->query(r, "include");
    int64_t limit = limit_arg ? number(limit_arg) : 100, after = after_arg ? number(after_arg) : 0;
    json_t *list = NULL;
    int rc;
    if (limit < 1 || limit > 1000 || after < 0) {
        cs_reply_error(rep, 400, "bad_request", "limit must be 1..1000 and after a dead-letter id");
        return;
    }
    if (include && strcmp(include, "payload") != 0) {
        cs_reply_error(rep, 400, "bad_request", "include accepts only \"payload\"");
        return;
    }
    rc = cs_engine_dead_letters(e, id, after, (size_t)limit, include != NULL, &list);
    if (rc != 0)
        unknown_or_failed(rep, rc, id, NULL);
    else
        ok(rep, json_pack("{s:o}", "dead_letters", list));
}

static void redrive(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep, int64_t dead_id)
{
    size_t n = 0;
    char *err = NULL;
    int rc = cs_engine_redrive(e, r->segments[1], dead_id, &n, &err);
    if (rc == 0)
        ok(rep, json_pack("{s:I}", "redriven", (json_int_t)n));
    else
        failed(rep, rc, err);
    free(err);
}

/* ---- the rest of a workflow's resources, and the table that routes to them ------------------------ */

static void get_workflow(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    json_t *out = cs_engine_workflow(e, r->segments[1]);
    if (out)
        ok(rep, out);
    else
        unknown_or_failed(rep, CS_E_NOTFOUND, r->segments[1], NULL);
}

static void start_workflow(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    start_stop(e, r, rep, 1);
}

static void stop_workflow(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    start_stop(e, r, rep, 0);
}

static void get_definition(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    json_t *out = NULL;
    char *err = NULL;
    int rc = cs_engine_definition(e, r->segments[1], &out, &err);
    if (rc == 0)
        ok(rep, out);
    else
        failed(rep, rc, err);
    free(err);
}

static void list_revisions(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    json_t *out = NULL;
    int rc = cs_engine_revisions(e, r->segments[1], &out);
    if (rc == 0)
        ok(rep, json_pack("{s:o}", "revisions", out));
    else
        unknown_or_failed(rep, rc, r->segments[1], NULL);
}

static void get_revision(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    const char *id = r->segments[1];
    int64_t rev = number(r->segments[3]);
    json_t *out = NULL;
    int rc;
    if (rev < 1)
        cs_reply_error(rep, 400, "bad_request", "a revision is a positive number");
    else if ((rc = cs_engine_revision(e, id, rev, &out)) == 0)
        ok(rep, out);
    else if (rc == CS_E_NOTFOUND && cs_engine_has_workflow(e, id))
        cs_reply_error(rep, 404, "not_found", "workflow %s has no revision %lld (crmsyncctl revisions %s lists them)",
                       id, (long long)rev, id);
    else
        unknown_or_failed(rep, rc, id, NULL);
}

static void stage_replay(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    static const char *const replay_fields[] = {"mapping", NULL};
    const char *mapping = json_string_value(json_object_get(r->body, "mapping"));
    char *err = NULL;
    int rc;
    if (only_members(r, replay_fields, rep) != 0)
        return;
    if (!mapping) {
        cs_reply_error(rep, 400, "bad_request", "send {\"mapping\": \"<stream>\"}");
    } else if ((rc = cs_engine_replay(e, r->segments[1], mapping, &err)) == 0) {
        ok(rep, json_pack("{s:s, s:s}", "replay", mapping, "message",
                          "replay staged: it begins at the next stop and start of the workflow"));
    } else {
        failed(rep, rc, err);
    }
    free(err);
}

static void redrive_all(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    redrive(e, r, rep, 0);
}

static void redrive_one(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    int64_t dead_id = number(r->segments[3]);
    if (dead_id < 1)
        cs_reply_error(rep, 400, "bad_request", "a dead letter id is a positive number");
    else
        redrive(e, r, rep, dead_id);
}

/* The resources of one workflow: a request matches a row by its method, its number of path segments
 * ("workflows" and the id included), the resource after the id and, when given, its last segment. */
static const struct workflow_resource {
    const char *method;
    size_t segments;
    const char *resource; /* segments[2], or NULL: the workflow itself */
    const char *last;     /* the last segment, when it is a word and not an id */
    void (*handle)(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep);
} workflow_resources[] = {
    {"GET", 2, NULL, NULL, get_workflow},
    {"POST", 3, "start", NULL, start_workflow},
    {"POST", 3, "stop", NULL, stop_workflow},
    {"GET", 3, "definition", NULL, get_definition},
    {"PUT", 3, "definition", NULL, put_definition},
    {"GET", 3, "revisions", NULL, list_revisions},
    {"GET", 4, "revisions", NULL, get_revision},
    {"POST", 3, "replay", NULL, stage_replay},
    {"GET", 3, "dead-letters", NULL, dead_letters},
    {"POST", 4, "dead-letters", "redrive", redrive_all},
    {"POST", 5, "dead-letters", "redrive", redrive_one},
};

static void workflow_route(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    const char *id = r->segments[1];
    if (!cs_engine_has_workflow(e, id)) { /* every operation on an unknown workflow: one answer */
        unknown_or_failed(rep, CS_E_NOTFOUND, id, NULL);
        return;
    }
    for (size_t i = 0; i < sizeof workflow_resources / sizeof *workflow_resources; i++) {
        const struct workflow_resource *w = &workflow_resources[i];
        if (is(r, w->segments, w->method) && (!w->resource || seg(r, 2, w->resource)) &&
            (!w->last || seg(r, w->segments - 1, w->last))) {
            w->handle(e, r, rep);
            return;
        }
    }
    cs_reply_error(rep, 404, "not_found", "no such operation: %s /api/v1/workflows/%s/...", r->method, id);
}

/* The table-mapping form's words for the page's editors: {"filter_operators", "filter_matches",
 * "convert_types"}, each [{name, label}], from the one list the schema and the stages use. */
static json_t *vocabulary(void)
{
    json_t *ops = json_array(), *matches = json_array(), *types = json_array(), *list;
#define WORD(id, name, label) json_array_append_new(list, json_pack("{s:s, s:s}", "name", name, "label", label));
    list = ops;
    CS_FILTER_OPERATORS(WORD)
    list = matches;
    CS_FILTER_MATCHES(WORD)
    list = types;
    CS_CONVERT_TYPES(WORD)
#undef WORD
    return json_pack("{s:o, s:o, s:o}", "filter_operators", ops, "filter_matches", matches, "convert_types", types);
}

/* POST /preflight {"workflows": [ids]} and POST /setup {"connector": name, "dry_run": bool, "workflows"}. */
static void preflight_route(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep, int setup)
{
    static const char *const check_fields[] = {"workflows", NULL};
    static const char *const setup_fields[] = {"workflows", "connector", "dry_run", NULL};
    const json_t *ids = json_object_get(r->body, "workflows"), *id, *dry = json_object_get(r->body, "dry_run");
    const char *connector = json_string_value(json_object_get(r->body, "connector"));
    json_t *out = NULL;
    char *err = NULL;
    size_t i;
    int rc;
    if (only_members(r, setup ? setup_fields : check_fields, rep) != 0)
        return;
    json_array_foreach (ids, i, id)
        if (!json_is_string(id))
            ids = json_null();
    if ((ids && !json_is_array(ids)) || (setup && !connector) || (dry && !json_is_boolean(dry))) {
        cs_reply_error(rep, 400, "bad_request",
                       setup ? "send {\"connector\": \"<connector or connection>\", "
                               "\"dry_run\": true|false, \"workflows\": [ids]}"
                             : "send {\"workflows\": [ids]} (none: every workflow)");
        return;
    }
    rc = cs_engine_preflight(e, ids, setup ? connector : NULL, json_is_true(dry), &out, &err);
    if (rc == 0)
        ok(rep, out);
    else
        failed(rep, rc, err);
    free(err);
}

/* POST /backup {"path": "/absolute/file"}: the state database copied there by the daemon. */
static void backup(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    static const char *const fields[] = {"path", NULL};
    const char *path = json_string_value(json_object_get(r->body, "path"));
    json_t *out = NULL;
    char *err = NULL;
    int rc;
    if (only_members(r, fields, rep) != 0)
        return;
    if (!path) {
        cs_reply_error(rep, 400, "bad_request", "send {\"path\": \"/absolute/path/of/the/new/file\"}");
        return;
    }
    if ((rc = cs_engine_backup(e, path, &out, &err)) == 0)
        ok(rep, out);
    else
        failed(rep, rc, err);
    free(err);
}

/* GET /fleet: the daemons sharing the state database, and where each workflow reads and writes. */
static void fleet(struct cs_engine *e, struct cs_reply *rep)
{
    json_t *out = NULL;
    char *err = NULL;
    int rc = cs_engine_fleet(e, &out, &err);
    if (rc == 0)
        ok(rep, out);
    else
        failed(rep, rc, err);
    free(err);
}

/* While the engine waits for its state store, only the workflows (each STARTING, with the reason) can be
 * read: everything else, changes and probes included, is 503 with that reason. 1 when it answered. */
static int awaiting_state(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    char *why = cs_engine_awaited(e);
    json_t *one;
    if (!why)
        return 0;
    if (is(r, 1, "GET") && seg(r, 0, "workflows")) {
        ok(rep, json_pack("{s:o}", "workflows", cs_engine_list(e)));
    } else if (is(r, 2, "GET") && seg(r, 0, "workflows")) {
        if ((one = cs_engine_workflow(e, r->segments[1])))
            ok(rep, one);
        else
            unknown_or_failed(rep, CS_E_NOTFOUND, r->segments[1], NULL);
    } else {
        cs_reply_error(rep, 503, "starting", "crmsyncd is starting: %s", why);
    }
    free(why);
    return 1;
}

void cs_admin_route(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep)
{
    json_t *problems = NULL;
    if (awaiting_state(e, r, rep))
        return;
    if (r->n_segments >= 2 && seg(r, 0, "workflows")) {
        workflow_route(e, r, rep);
    } else if (is(r, 1, "GET") && seg(r, 0, "workflows")) {
        ok(rep, json_pack("{s:o}", "workflows", cs_engine_list(e)));
    } else if (is(r, 1, "GET") && seg(r, 0, "plugins")) {
        ok(rep, json_pack("{s:o}", "plugins", cs_engine_plugins(e)));
    } else if (is(r, 1, "GET") && seg(r, 0, "connections")) {
        ok(rep, json_pack("{s:o}", "connections", cs_engine_connections(e)));
    } else if (r->n_segments >= 2 && seg(r, 0, "connections")) {
        cs_admin_describe_route(e, r, rep);
    } else if (is(r, 1, "GET") && seg(r, 0, "fleet")) {
        fleet(e, rep);
    } else if (is(r, 1, "GET") && seg(r, 0, "vocabulary")) {
        ok(rep, vocabulary());
    } else if (is(r, 1, "POST") && (seg(r, 0, "preflight") || seg(r, 0, "setup"))) {
        preflight_route(e, r, rep, seg(r, 0, "setup"));
    } else if (is(r, 1, "POST") && seg(r, 0, "backup")) {
        backup(e, r, rep);
    } else if (is(r, 1, "POST") && seg(r, 0, "session")) { /* reached only with an admin token */
        ok(rep, json_pack("{s:b, s:s}", "authorized", 1, "role", r->role));
    } else if (is(r, 1, "GET") && seg(r, 0, "health")) {
        int healthy = cs_engine_healthy(e, &problems);
        rep->status = healthy ? 200 : 503;
        rep->body = json_pack("{s:s, s:o}", "status", healthy ? "ok" : "degraded", "problems", problems);
    } else if (is(r, 1, "GET") && seg(r, 0, "ready")) {
        int ready = cs_engine_ready(e, &problems);
        rep->status = ready ? 200 : 503;
        rep->body = json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "problems", problems);
    } else {
        cs_reply_error(rep, 404, "not_found", "no such resource: %s /api/v1/%s", r->method,
                       r->n_segments ? r->segments[0] : "");
    }
}
