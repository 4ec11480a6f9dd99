/*
 * engine_admin.c - what the admin API reads and edits through the engine: definitions and their
 * revisions (with diffs), edits checked and stored as "api" revisions, replay, dead letters, the
 * connections (secrets redacted), the plugins, health and the state database's backup (see engine.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/backlog.h"
#include "engine_private.h"
#include "util/jsondiff.h"
#include "util/log.h"
#include "host/host.h"
#include "config/mapping.h"
#include "mapping_check.h"
#include "replay.h"
#include "util/util.h"

static json_t *revision_doc(struct cs_engine *e, const char *id, int64_t rev)
{
    char *text = NULL, *source = NULL;
    int64_t created = 0;
    json_t *doc = NULL, *list = NULL, *entry;
    size_t i;
    if (cs_backlog_revision_get(e->backlog, id, rev, &text, &source, &created) != 0)
        return NULL;
    /* a damaged revision (not JSON) shows as a null definition */
    doc = json_pack("{s:I, s:s, s:I, s:o?, s:n}", "revision", (json_int_t)rev, "source", source, "created_at",
                    (json_int_t)created, "definition", json_loads(text, 0, NULL), "author");
    if (cs_backlog_revision_list(e->backlog, id, &list) == 0)
        json_array_foreach (list, i, entry) {
            if (json_integer_value(json_object_get(entry, "revision")) == rev)
                json_object_set(doc, "author", json_object_get(entry, "author"));
        }
    json_decref(list);
    free(text);
    free(source);
    return doc;
}

struct def_arg {
    json_t **out;
};

static int definition_op(struct cs_engine *e, struct cs_flow *f, void *arg)
{
    struct def_arg *a = arg;
    int64_t rev = 0;
    if (cs_backlog_revision_latest(e->backlog, f->id, NULL, &rev, NULL) != 0)
        return CS_E_NOTFOUND;
    *a->out = revision_doc(e, f->id, rev);
    return *a->out ? 0 : CS_E_DB;
}

int cs_engine_definition(struct cs_engine *e, const char *id, json_t **out, char **err)
{
    struct def_arg a = {out};
    int rc;
    *out = NULL;
    rc = cs_engine_with_flow(e, id, &a, definition_op);
    *err = rc == CS_E_NOTFOUND && !*out && !cs_engine_has_workflow(e, id) ? cs_engine_unknown(id)
           : rc ? cs_xasprintf("workflow %s has no definition in the state database", id)
                : NULL;
    return rc;
}

/* "definition: mappings[0].stream: required" lines -> [{path, message}] */
static json_t *error_list(const char *label, const char *lines)
{
    json_t *list = json_array();
    size_t skip = strlen(label) + 2;
    for (const char *line = lines; line && *line;) {
        size_t len = strcspn(line, "\n");
        char *text = cs_xasprintf("%.*s", (int)len, line), *body = text + (strlen(text) > skip ? skip : 0);
        char *sep = strstr(body, ": ");
        if (sep && !memchr(body, ' ', (size_t)(sep - body))) {
            *sep = '\0';
            json_array_append_new(list, json_pack("{s:s, s:s}", "path", body, "message", sep + 2));
        } else {
            json_array_append_new(list, json_pack("{s:s, s:s}", "path", "", "message", body));
        }
        free(text);
        line += len + (line[len] == '\n');
    }
    return list;
}

struct put_arg {
    const json_t *definition;
    const char *author;
    int64_t *rev;
    json_t **errors;
};

/* Why `def` may not replace the latest definition (a mapping's table pair or keys changed, legs added
 * or removed), as an error line "definition: path: message", or NULL. */
static char *immutable_members(struct cs_engine *e, struct cs_flow *f, const json_t *def)
{
    int64_t rev = 0;
    char *err = NULL, *why = NULL, *line = NULL;
    json_t *prev = cs_engine_latest_definition(e, f->id, &rev, &err);
    if (!cs_flow_same_shape(f, def))
        why = cs_xstrdup(f->leg_names[0] ? "legs: the legs of a workflow are set in the configuration file; edit "
                                           "the ones it has"
                                         : "legs: a one-way workflow gets legs in the configuration file only");
    else if (prev && !f->leg_names[0])
        why = cs_mapping_check_immutable(prev, def);
    for (size_t i = 0; prev && !why && f->leg_names[0] && i < f->n_legs; i++) {
        json_t *was = cs_legs_definition(prev, f->leg_names[i]), *now = cs_legs_definition(def, f->leg_names[i]);
        char *leg_why = cs_mapping_check_immutable(was, now);
        if (leg_why)
            why = cs_xasprintf("legs.%s.%s", f->leg_names[i], leg_why);
        free(leg_why);
        json_decref(was);
        json_decref(now);
    }
    if (why)
        line = cs_xasprintf("definition: %s", why);
    free(why);
    free(err);
    json_decref(prev);
    return line;
}

/* ---- a definition against the live metadata, when it is saved ---- */

struct live_arg {
    struct cs_engine *e;
    const json_t *def; /* one-way: the workflow's or a leg's */
};

/* describe() through a fresh instance of the workflow's source or sink connection (engine_describe.c). */
static cs_status put_describe(void *arg, const char *side, const char *stream, json_t **out, struct cs_ctx *caller)
{
    struct live_arg *a = arg;
    const char *conn = json_string_value(json_object_get(a->def, strcmp(side, "source") == 0 ? "source" : "sink"));
    char *err = NULL;
    int rc = cs_engine_conn_describe(a->e, conn, stream, out, &err);
    cs_status st = rc == 0 ? CS_OK : rc == CS_E_STATE ? CS_NODATA : rc == CS_E_NOTFOUND ? CS_FATAL : CS_RETRY;
    if (st == CS_FATAL || st == CS_RETRY)
        cs_ctx_set_reason(caller, 0, -1, err ? err : "no reason given");
    free(err);
    return st;
}

/* Check the table mappings of the one-way `def` (found at `wpath`: "" or "legs.<leg>.") against both
 * systems as a start would. A mapping that cannot work is an error line "definition: <path>: <why>"
 * (returned); when a system cannot be asked, *warning (new) says so and the definition is accepted (it
 * is checked again at start). */
static char *live_problems_at(struct cs_engine *e, const char *wpath, const json_t *def, json_t **warnings)
{
    struct live_arg a = {e, def};
    struct cs_ctx *ctx = cs_ctx_new("admin", "admin", NULL, NULL, NULL);
    json_t *rows = json_object();
    char *why = NULL, *path = NULL, *line = NULL;
    cs_status st = cs_mapping_check_live(def, put_describe, &a, ctx, rows, &why, &path);
    if (st == CS_FATAL)
        line = cs_xasprintf("definition: %s%s: %s", wpath, path ? path : "mappings", why);
    else if (st == CS_RETRY)
        json_array_append_new(*warnings, json_pack("{s:s++, s:s++}", "path", wpath, "mappings", "message", why,
                                                   "; not checked against the live metadata now, it is checked "
                                                   "again at start"));
    free(why);
    free(path);
    json_decref(rows);
    cs_ctx_free(ctx);
    return line;
}

/* live_problems_at for the workflow, or for each of its legs. */
static char *live_problems(struct cs_engine *e, const json_t *def, json_t **warnings)
{
    const char *leg;
    json_t *v;
    char *line = NULL;
    if (!cs_legs_has(def))
        return live_problems_at(e, "", def, warnings);
    json_object_foreach (json_object_get(def, "legs"), leg, v) {
        json_t *legdef = cs_legs_definition(def, leg);
        char *wpath = cs_xasprintf("legs.%s.", leg);
        line = live_problems_at(e, wpath, legdef, warnings);
        free(wpath);
        json_decref(legdef);
        if (line)
            break;
    }
    return line;
}

static int put_op(struct cs_engine *e, struct cs_flow *f, void *arg)
{
    struct put_arg *a = arg;
    const char *id = f->id, *given = json_string_value(json_object_get(a->definition, "id"));
    json_t *raw = json_deep_copy(a->definition), *def = NULL;
    char *errs = NULL, *canonical;
    int rc;

    if (!json_is_object(raw)) {
        *a->errors = json_pack("[{s:s, s:s}]", "path", "", "message", "a workflow definition must be a JSON object");
        json_decref(raw);
        return CS_E_INVAL;
    }
    if (given && strcmp(given, id) != 0) {
        *a->errors = json_pack("[{s:s, s:s}]", "path", "id", "message",
                               "must be the id of the workflow being edited; ids cannot be changed");
        json_decref(raw);
        return CS_E_INVAL;
    }
    json_object_set_new(raw, "id", json_string(id));
    rc = cs_config_check_workflow(raw, "definition", &def, &errs);
    if (rc == 0)
        rc = cs_engine_check_references(e, "definition", def, &errs);
    if (rc == 0 && (errs = immutable_members(e, f, def)))
        rc = CS_E_INVAL;
    *a->errors = json_array(); /* on success: the warnings */
    if (rc == 0 && (errs = live_problems(e, def, a->errors)))
        rc = CS_E_INVAL;
    if (rc != 0) {
        json_decref(*a->errors);
        *a->errors = error_list("definition", errs);
        free(errs);
        json_decref(raw);
        json_decref(def);
        return CS_E_INVAL;
    }
    canonical = json_dumps(raw, JSON_COMPACT | JSON_SORT_KEYS);
    rc = cs_backlog_revision_add(e->backlog, id, "api", a->author, canonical, a->rev);
    if (rc == 0)
        cs_log(CS_LOG_NOTICE, id, "definition edited by %s: revision %lld%s", a->author ? a->author : "the admin API",
               (long long)*a->rev, cs_flow_active(f) ? ", pending until the workflow is stopped and started" : "");
    free(canonical);
    json_decref(raw);
    json_decref(def);
    return rc;
}

int cs_engine_put_definition(struct cs_engine *e, const char *id, const json_t *definition, const char *author,
                             int64_t *rev, json_t **errors)
{
    struct put_arg a = {definition, author, rev, errors};
    *errors = NULL;
    return cs_engine_with_flow(e, id, &a, put_op);
}

static int revisions_op(struct cs_engine *e, struct cs_flow *f, void *arg)
{
    return cs_backlog_revision_list(e->backlog, f->id, (json_t **)arg);
}

int cs_engine_revisions(struct cs_engine *e, const char *id, json_t **out)
{
    *out = NULL;
    return cs_engine_with_flow(e, id, out, revisions_op);
}

struct rev_arg {
    int64_t rev;
    json_t **out;
};

static int revision_op(struct cs_engine *e, struct cs_flow *f, void *arg)
{
    struct rev_arg *a = arg;
    json_t *doc = revision_doc(e, f->id, a->rev), *prev, *before;
    if (!doc)
        return CS_E_NOTFOUND;
    prev = a->rev > 1 ? revision_doc(e, f->id, a->rev - 1) : NULL;
    before = prev ? json_incref(json_object_get(prev, "definition")) : json_object();
    json_object_set_new(doc, "diff", cs_json_diff(before, json_object_get(doc, "definition")));
    json_decref(before);
    json_decref(prev);
    *a->out = doc;
    return 0;
}

int cs_engine_revision(struct cs_engine *e, const char *id, int64_t rev, json_t **out)
{
    struct rev_arg a = {rev, out};
    *out = NULL;
    return cs_engine_with_flow(e, id, &a, revision_op);
}

struct replay_arg {
    const char *stream;
    char **err;
};

/* Adobe's guard: no replay while the backlog, or the source table, holds `limit` records or more. */
static int replay_refused(struct cs_engine *e, struct cs_workflow *wf, const char *stream, int64_t limit, char **err)
{
    int64_t backlog = 0, dead = 0, rows = cs_workflow_source_rows(wf, stream);
    cs_backlog_counts(e->backlog, cs_workflow_id(wf), &backlog, &dead);
    if (backlog >= limit)
        *err = cs_xasprintf("replay refused: the backlog holds %lld records, at or above limits.replay_max_records "
                            "(%lld); let it drain first",
                            (long long)backlog, (long long)limit);
    else if (rows >= limit)
        *err = cs_xasprintf("replay refused: table %s holds %lld rows, at or above limits.replay_max_records (%lld)",
                            stream, (long long)rows, (long long)limit);
    return *err ? CS_E_STATE : 0;
}

static int replay_op(struct cs_engine *e, struct cs_flow *f, void *arg)
{
    struct replay_arg *a = arg;
    int64_t rev = 0, limit;
    json_t *def = cs_engine_latest_definition(e, f->id, &rev, a->err);
    struct cs_workflow *wf;
    int rc;
    if (!def)
        return CS_E_INVAL;
    wf = cs_flow_leg_of_stream(f, def, a->stream);
    limit = (int64_t)json_integer_value(json_object_get(json_object_get(def, "limits"), "replay_max_records"));
    json_decref(def);
    if (!wf) {
        *a->err = cs_xasprintf("workflow %s has no mapping of stream \"%s\"", f->id, a->stream ? a->stream : "");
        return CS_E_NOTFOUND;
    }
    if ((rc = replay_refused(e, wf, a->stream, limit > 0 ? limit : 2000000, a->err)))
        return rc;
    if (cs_replay_stage(e->backlog, cs_workflow_id(wf), a->stream) != 0) {
        *a->err = cs_xstrdup(cs_backlog_errmsg(e->backlog));
        return CS_E_DB;
    }
    return 0;
}

int cs_engine_replay(struct cs_engine *e, const char *id, const char *stream, char **err)
{
    struct replay_arg a = {stream, err};
    int rc;
    *err = NULL;
    rc = cs_engine_with_flow(e, id, &a, replay_op);
    if (rc == CS_E_NOTFOUND && !*err)
        *err = cs_engine_unknown(id);
    return rc;
}

struct dead_arg {
    int64_t before_or_id;
    size_t limit;
    int payload;
    json_t **out;
    size_t *n;
};

/* Newest first over the legs, at most a->limit, each naming its leg. */
static int dead_list_op(struct cs_engine *e, struct cs_flow *f, void *arg)
{
    struct dead_arg *a = arg;
    json_t *all = json_array();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f->n_legs; i++) {
        json_t *list = NULL, *d;
        size_t j, at;
        rc = cs_backlog_dead_list(e->backlog, cs_workflow_id(f->legs[i]), a->before_or_id, a->limit, a->payload, &list);
        json_array_foreach (list, j, d) {
            if (f->leg_names[0])
                json_object_set_new(d, "leg", json_string(f->leg_names[i]));
            for (at = 0;
                 at < json_array_size(all) && json_integer_value(json_object_get(json_array_get(all, at), "id")) >
                                                  json_integer_value(json_object_get(d, "id"));
                 at++)
                ;
            json_array_insert(all, at, d);
        }
        json_decref(list);
    }
    while (json_array_size(all) > a->limit)
        json_array_remove(all, json_array_size(all) - 1);
    if (rc != 0)
        json_decref(all);
    *a->out = rc == 0 ? all : NULL;
    return rc;
}

int cs_engine_dead_letters(struct cs_engine *e, const char *id, int64_t before_id, size_t limit, int include_payload,
                           json_t **out)
{
    struct dead_arg a = {before_id, limit, include_payload, out, NULL};
    *out = NULL;
    return cs_engine_with_flow(e, id, &a, dead_list_op);
}

/* Redrive dead letter a->before_or_id from the leg that holds it, or all of every leg's (0). */
static int redrive_op(struct cs_engine *e, struct cs_flow *f, void *arg)
{
    struct dead_arg *a = arg;
    int rc = CS_E_NOTFOUND, found = 0;
    for (size_t i = 0; i < f->n_legs && !(found && a->before_or_id); i++) {
        size_t n = 0;
        rc = cs_backlog_dead_redrive(e->backlog, cs_workflow_id(f->legs[i]), a->before_or_id, &n);
        if (rc == CS_E_NOTFOUND && a->before_or_id)
            continue;
        if (rc != 0)
            return rc;
        found = 1;
        *a->n += n;
        if (n)
            cs_workflow_wake(f->legs[i]);
    }
    return found ? 0 : rc;
}

int cs_engine_redrive(struct cs_engine *e, const char *id, int64_t dead_id, size_t *n, char **err)
{
    struct dead_arg a = {dead_id, 0, 0, NULL, n};
    int rc;
    *n = 0;
    rc = cs_engine_with_flow(e, id, &a, redrive_op);
    *err = rc == CS_E_NOTFOUND && !cs_engine_has_workflow(e, id) ? cs_engine_unknown(id)
           : rc == CS_E_NOTFOUND ? cs_xasprintf("workflow %s has no dead letter %lld", id, (long long)dead_id)
           : rc == CS_E_STATE    ? cs_xasprintf("dead letter %lld was redriven already", (long long)dead_id)
           : rc != 0             ? cs_xstrdup(cs_backlog_errmsg(e->backlog))
                                 : NULL;
    return rc;
}

int cs_engine_backup(struct cs_engine *e, const char *dest, json_t **out, char **err)
{
    int64_t started = cs_mono_ms(), bytes = 0;
    int rc = cs_backlog_backup(e->backlog, dest, &bytes, err);
    *out = NULL;
    if (rc == 0) {
        *out = json_pack("{s:s, s:I, s:I}", "path", dest, "bytes", (json_int_t)bytes, "elapsed_ms",
                         (json_int_t)(cs_mono_ms() - started));
        cs_log(CS_LOG_NOTICE, "core", "state database copied to %s (%lld bytes)", dest, (long long)bytes);
    }
    return rc;
}

/* One connection's options for display: secrets as {"set": bool}. */
static json_t *shown_options(const struct cs_endpoint *ep)
{
    json_t *out = json_object();
    for (const cs_setting *o = cs_component_options(ep->connector); o->name; o++) {
        json_t *v = json_object_get(ep->options, o->name);
        if (o->flags & CS_OPT_SECRET)
            json_object_set_new(out, o->name, json_pack("{s:b}", "set", v && !json_is_null(v)));
        else
            json_object_set(out, o->name, v ? v : json_null());
    }
    return out;
}

json_t *cs_engine_connections(struct cs_engine *e)
{
    json_t *list = json_array();
    pthread_mutex_lock(&e->lock);
    for (size_t i = 0; i < e->n_endpoints; i++) {
        const struct cs_endpoint *ep = &e->endpoints[i];
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o}", "name", ep->name, "connector",
                                              ep->connector->u.connector.name, "plugin",
                                              ep->connector->plugin->desc.name, "options", shown_options(ep)));
    }
    pthread_mutex_unlock(&e->lock);
    return list;
}

json_t *cs_engine_plugins(struct cs_engine *e)
{
    static const char *const kinds[] = {"connector", "entity", "stage"};
    json_t *list = json_array();
    for (size_t p = 0; p < e->registry->n_plugins; p++) {
        const struct cs_loaded_plugin *lp = e->registry->plugins[p];
        json_t *components = json_array();
        char abi[16];
        snprintf(abi, sizeof abi, "%u.%u", lp->desc.abi_major, lp->desc.abi_minor);
        for (size_t i = 0; i < e->registry->n_components; i++) {
            const struct cs_component *c = e->registry->components[i];
            if (c->plugin == lp)
                json_array_append_new(components,
                                      json_pack("{s:s, s:s}", "kind", kinds[c->kind], "name", cs_component_name(c)));
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", lp->desc.name, "version",
                                              lp->desc.version ? lp->desc.version : "", "abi", abi, "path", lp->path,
                                              "components", components));
    }
    return list;
}

/* How far back a state-DB error makes the health check report it. */
#define HEALTH_DB_ERROR_MS (5 * 60 * 1000)

/* A workflow whose latest definition has legs and a direction that runs none of them. */
static int runs_nothing(struct cs_engine *e, struct cs_flow *f)
{
    char *text = NULL;
    json_t *def;
    int none = 1;
    if (!f->leg_names[0] || cs_backlog_revision_latest(e->backlog, f->id, NULL, NULL, &text) != 0)
        return 0;
    def = json_loads(text, 0, NULL);
    for (size_t i = 0; i < f->n_legs; i++)
        none &= !cs_legs_runs(def, f->leg_names[i]);
    json_decref(def);
    free(text);
    return none;
}

/* The problems of health (`full`: stalls and state-database errors too) or of readiness (only whether
 * every workflow that should run is RUNNING), into *problems (new). 1 when there is none. */
static int check_workflows(struct cs_engine *e, int full, json_t **problems)
{
    char *db_error = NULL;
    int64_t at = 0;
    *problems = json_array();
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_flows; i++) {
        struct cs_flow *f = e->flows[i];
        char *desired = NULL, *stalled = NULL;
        const char *status;
        int rc = cs_backlog_desired_get(e->backlog, f->id, &desired);
        if (rc != 0 && rc != CS_E_NOTFOUND) {
            /* in the answer, not the log: a probe every few seconds while the database stalls would flood it */
            char *why = cs_xasprintf("its desired state cannot be read from the state database: %s",
                                     cs_backlog_errmsg(e->backlog));
            json_array_append_new(*problems,
                                  json_pack("{s:s, s:s, s:s}", "workflow", f->id, "status", "UNKNOWN", "reason", why));
            free(why);
        }
        if (rc != 0 || strcmp(desired, "running") != 0) {
            free(desired);
            continue;
        }
        free(desired);
        status = cs_wf_status_name(cs_flow_status(f));
        if (cs_flow_status(f) == CS_WF_STOPPED && runs_nothing(e, f))
            continue; /* direction disabled: nothing should run */
        if (cs_flow_status(f) != CS_WF_RUNNING) {
            json_t *snap = cs_flow_snapshot(f);
            json_array_append_new(*problems, json_pack("{s:s, s:s, s:O}", "workflow", f->id, "status", status, "reason",
                                                       json_object_get(snap, "reason")));
            json_decref(snap);
        } else if (full && (stalled = cs_flow_stalled(f))) {
            json_array_append_new(
                *problems, json_pack("{s:s, s:s, s:s}", "workflow", f->id, "status", "RUNNING", "reason", stalled));
        }
        free(stalled);
    }
    pthread_rwlock_unlock(&e->ops);
    if (full && cs_backlog_db_error(e->backlog, cs_now_ms() - HEALTH_DB_ERROR_MS, &db_error, &at)) {
        char clock[16], *why;
        cs_format_clock(at, clock, sizeof clock);
        why = cs_xasprintf("the state database failed at %s: %s", clock, db_error);
        json_array_append_new(*problems, json_pack("{s:s, s:s}", "component", "state_db", "reason", why));
        free(why);
        free(db_error);
    }
    return json_array_size(*problems) == 0;
}

int cs_engine_healthy(struct cs_engine *e, json_t **problems)
{
    return check_workflows(e, 1, problems);
}

int cs_engine_ready(struct cs_engine *e, json_t **problems)
{
    return check_workflows(e, 0, problems);
}
