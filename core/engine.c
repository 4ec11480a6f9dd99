/*
 * engine.c - the daemon's set of workflows and its configuration (see engine.h): checks a config
 * against the loaded plugins, turns changed definitions into revisions, and starts and stops
 * workflows for the operator, persisting the desired state.
 */
#include "engine.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "config.h"
#include "loader.h"
#include "log.h"
#include "pipeline.h"
#include "util.h"
#include "workflow.h"

struct endpoint {
    char *name;
    const struct cs_component *connector;
    json_t *options; /* validated, secrets resolved */
};

struct cs_engine {
    const struct cs_registry *registry;
    struct cs_backlog *backlog;
    pthread_mutex_t lock; /* guards cfg and endpoints, which starting workflows read */
    struct cs_config *cfg;
    struct endpoint *endpoints;
    size_t n_endpoints;
    pthread_mutex_t ops; /* serialises operations; guards the workflow list (never held by workflows) */
    struct cs_workflow **wfs;
    char **titles;
    size_t n_wfs;
};

/* ---- collecting errors -------------------------------------------------------------------------- */

static void append_error(char **errs, const char *line)
{
    char *next = cs_xasprintf("%s%s%s", *errs ? *errs : "", *errs ? "\n" : "", line);
    free(*errs);
    *errs = next;
}

static void append_error_at(char **errs, const struct cs_config *cfg, const char *path, const char *msg)
{
    char *where = cs_config_where(cfg, path), *line = cs_xasprintf("%s: %s", where, msg);
    append_error(errs, line);
    free(line);
    free(where);
}

/* Check the options at `path` against the component's table; appends errors, returns resolved or NULL. */
static json_t *resolve_options(const struct cs_config *cfg, const char *path, const struct cs_component *c,
                               const char *skip_key, char **errs)
{
    static const cs_option none[] = {{0}};
    const char *const skip[] = {skip_key, NULL};
    const cs_option *table = cs_component_options(c);
    json_t *resolved = NULL;
    char *err = NULL;
    if (cs_config_plugin_options(cfg, path, table ? table : none, skip, &resolved, &err) != 0) {
        append_error(errs, err);
        free(err);
        return NULL;
    }
    return resolved;
}

static const char *const kind_words[] = {"connector", "entity handler", "stage"};

static const struct cs_component *find_component(const struct cs_engine *e, const struct cs_config *cfg,
                                                 const char *path, enum cs_component_kind kind, const char *name,
                                                 char **errs)
{
    const struct cs_component *c = cs_registry_find(e->registry, kind, name);
    if (!c) {
        char *known = cs_registry_names(e->registry, kind);
        char *msg = cs_xasprintf("no loaded plugin provides the %s \"%s\" (loaded %ss: %s); add the plugin "
                                 "that provides it to `plugins`",
                                 kind_words[kind], name ? name : "", kind_words[kind], *known ? known : "none");
        append_error_at(errs, cfg, path, msg);
        free(msg);
        free(known);
    }
    return c;
}

/* Resolve every entity/stage invocation of the workflow at `wpath`: a new array per mapping of resolved
 * option objects, or NULL with errors appended. */
static json_t *check_mappings(const struct cs_engine *e, const struct cs_config *cfg, const char *wpath,
                              const json_t *def, char **errs)
{
    const json_t *mappings = json_object_get(def, "mappings");
    json_t *all = json_array();
    int bad = 0;
    for (size_t m = 0; m < json_array_size(mappings); m++) {
        json_t *invs = cs_pipeline_invocations(json_array_get(mappings, m)), *resolved = json_array();
        for (size_t i = 0; i < json_array_size(invs); i++) {
            const json_t *inv = json_array_get(invs, i);
            enum cs_component_kind kind = json_is_true(json_object_get(inv, "entity")) ? CS_KIND_ENTITY : CS_KIND_STAGE;
            char *path = cs_xasprintf("%s.mappings[%zu].%s", wpath, m, json_string_value(json_object_get(inv, "at")));
            char *name_path = cs_xasprintf("%s.name", path);
            const char *name = json_string_value(json_object_get(json_object_get(inv, "spec"), "name"));
            const struct cs_component *c = find_component(e, cfg, name_path, kind, name, errs);
            json_t *opts = c ? resolve_options(cfg, path, c, "name", errs) : NULL;
            if (!opts)
                bad = 1;
            json_array_append_new(resolved, opts ? opts : json_null());
            free(name_path);
            free(path);
        }
        json_array_append_new(all, resolved);
        json_decref(invs);
    }
    if (bad) {
        json_decref(all);
        return NULL;
    }
    return all;
}

static void check_role(const struct cs_config *cfg, const char *wpath, const json_t *def, const char *role,
                       uint32_t cap, const struct endpoint *eps, size_t n_eps, char **errs)
{
    const char *conn = json_string_value(json_object_get(def, role));
    for (size_t i = 0; conn && i < n_eps; i++) {
        if (strcmp(eps[i].name, conn) != 0)
            continue;
        if (!(eps[i].connector->u.connector.caps & cap)) {
            char *path = cs_xasprintf("%s.%s", wpath, role);
            char *msg = cs_xasprintf("connection \"%s\" uses the connector \"%s\", which cannot %s", conn,
                                     eps[i].connector->u.connector.name,
                                     cap == CS_CAP_SOURCE ? "read (it is not a source)" : "write (it is not a sink)");
            append_error_at(errs, cfg, path, msg);
            free(msg);
            free(path);
        }
    }
}

/* ---- engine ------------------------------------------------------------------------------------ */

static void free_endpoints(struct endpoint *eps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(eps[i].name);
        json_decref(eps[i].options);
    }
    free(eps);
}

static int env_endpoint(void *arg, const char *name, const struct cs_component **connector, json_t **options)
{
    struct cs_engine *e = arg;
    int rc = CS_E_NOTFOUND;
    pthread_mutex_lock(&e->lock);
    for (size_t i = 0; name && i < e->n_endpoints; i++) {
        if (strcmp(e->endpoints[i].name, name) == 0) {
            *connector = e->endpoints[i].connector;
            *options = json_incref(e->endpoints[i].options);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

static int env_resolve_mappings(void *arg, const json_t *definition, int64_t rev, json_t **resolved, char **err)
{
    struct cs_engine *e = arg;
    char *label = cs_xasprintf("workflow %s revision %lld", json_string_value(json_object_get(definition, "id")),
                               (long long)rev);
    struct cs_config tmp = {.path = label, .root = json_pack("{s:[O]}", "workflows", definition),
                            .positions = json_object()};
    *err = NULL;
    *resolved = check_mappings(e, &tmp, "workflows[0]", definition, err);
    json_decref(tmp.root);
    json_decref(tmp.positions);
    free(label);
    return *resolved ? 0 : CS_E_INVAL;
}

struct cs_engine *cs_engine_new(const struct cs_registry *registry, struct cs_backlog *backlog)
{
    struct cs_engine *e = cs_xcalloc(1, sizeof *e);
    e->registry = registry;
    e->backlog = backlog;
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->ops, NULL);
    return e;
}

void cs_engine_free(struct cs_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_wfs; i++) {
        cs_workflow_free(e->wfs[i]);
        free(e->titles[i]);
    }
    free(e->wfs);
    free(e->titles);
    free_endpoints(e->endpoints, e->n_endpoints);
    cs_config_free(e->cfg);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->ops);
    free(e);
}

static struct endpoint *build_endpoints(const struct cs_engine *e, const struct cs_config *cfg, size_t *n,
                                        char **errs)
{
    json_t *conns = json_object_get(cfg->root, "connections"), *conn;
    struct endpoint *eps = cs_xcalloc(json_object_size(conns), sizeof *eps);
    const char *name;
    *n = 0;
    json_object_foreach(conns, name, conn) {
        char *path = cs_xasprintf("connections.%s", name), *cpath = cs_xasprintf("%s.connector", path);
        const struct cs_component *c = find_component(
            e, cfg, cpath, CS_KIND_CONNECTOR, json_string_value(json_object_get(conn, "connector")), errs);
        json_t *opts = c ? resolve_options(cfg, path, c, "connector", errs) : NULL;
        if (opts)
            eps[(*n)++] = (struct endpoint){cs_xstrdup(name), c, opts};
        free(cpath);
        free(path);
    }
    return eps;
}

static struct cs_workflow *find_wf(struct cs_engine *e, const char *id, size_t *index)
{
    for (size_t i = 0; id && i < e->n_wfs; i++)
        if (e->wfs[i] && strcmp(cs_workflow_id(e->wfs[i]), id) == 0) {
            if (index)
                *index = i;
            return e->wfs[i];
        }
    return NULL;
}

/* Record a "config" revision when the file's definition differs from the last one it produced. */
static void record_revision(struct cs_engine *e, const char *id, const json_t *def)
{
    char *canonical = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS), *last = NULL;
    int64_t rev;
    if (cs_backlog_revision_latest(e->backlog, id, "config", NULL, &last) != 0 || strcmp(last, canonical) != 0) {
        if (cs_backlog_revision_add(e->backlog, id, "config", canonical, &rev) == 0)
            cs_log(CS_LOG_NOTICE, id, "definition changed in %s: revision %lld", e->cfg->path, (long long)rev);
    }
    free(last);
    free(canonical);
}

static void apply_workflows(struct cs_engine *e)
{
    const json_t *wdefs = json_object_get(e->cfg->root, "workflows");
    struct cs_workflow_env env = {e->registry, e->backlog, env_endpoint, env_resolve_mappings, e};
    struct cs_workflow **keep = cs_xcalloc(json_array_size(wdefs) + 1, sizeof *keep);
    char **titles = cs_xcalloc(json_array_size(wdefs) + 1, sizeof *titles);
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(wdefs); i++) {
        const json_t *def = json_array_get(wdefs, i);
        const char *id = json_string_value(json_object_get(def, "id"));
        size_t at;
        struct cs_workflow *wf = find_wf(e, id, &at);
        cs_backlog_workflow_init(e->backlog, id,
                                 json_is_false(json_object_get(def, "autostart")) ? "stopped" : "running");
        record_revision(e, id, def);
        if (wf) {
            e->wfs[at] = NULL;
            free(e->titles[at]);
        } else {
            wf = cs_workflow_new(id, &env);
        }
        keep[n] = wf;
        titles[n++] = cs_xstrdup(json_string_value(json_object_get(def, "title")));
    }
    for (size_t i = 0; i < e->n_wfs; i++) {
        if (!e->wfs[i])
            continue;
        cs_log(CS_LOG_NOTICE, cs_workflow_id(e->wfs[i]), "no longer in %s: stopping it", e->cfg->path);
        cs_workflow_free(e->wfs[i]);
        free(e->titles[i]);
    }
    free(e->wfs);
    free(e->titles);
    e->wfs = keep;
    e->titles = titles;
    e->n_wfs = n;
}

int cs_engine_check_config(struct cs_engine *e, struct cs_config *cfg, int apply, char **err)
{
    const json_t *wdefs = json_object_get(cfg->root, "workflows");
    char *errs = NULL;
    size_t n_eps = 0;
    struct endpoint *eps = build_endpoints(e, cfg, &n_eps, &errs);

    for (size_t i = 0; i < json_array_size(wdefs); i++) {
        const json_t *def = json_array_get(wdefs, i);
        char *wpath = cs_xasprintf("workflows[%zu]", i);
        check_role(cfg, wpath, def, "source", CS_CAP_SOURCE, eps, n_eps, &errs);
        check_role(cfg, wpath, def, "sink", CS_CAP_SINK, eps, n_eps, &errs);
        json_decref(check_mappings(e, cfg, wpath, def, &errs));
        free(wpath);
    }
    if (errs || !apply) {
        free_endpoints(eps, n_eps);
        *err = errs;
        return errs ? CS_E_INVAL : 0;
    }
    pthread_mutex_lock(&e->lock);
    free_endpoints(e->endpoints, e->n_endpoints);
    e->endpoints = eps;
    e->n_endpoints = n_eps;
    cs_config_free(e->cfg);
    e->cfg = cfg;
    pthread_mutex_unlock(&e->lock);
    pthread_mutex_lock(&e->ops);
    apply_workflows(e);
    pthread_mutex_unlock(&e->ops);
    *err = NULL;
    return 0;
}

/* ---- operations --------------------------------------------------------------------------------- */

static int start_wf(struct cs_engine *e, struct cs_workflow *wf, char **err)
{
    const char *id = cs_workflow_id(wf);
    char *text = NULL;
    json_t *def;
    int64_t rev;
    int rc;

    if (cs_backlog_revision_latest(e->backlog, id, NULL, &rev, &text) != 0) {
        *err = cs_xasprintf("workflow %s has no definition in the state database", id);
        return CS_E_NOTFOUND;
    }
    def = json_loads(text, 0, NULL);
    free(text);
    if (!def) {
        *err = cs_xasprintf("workflow %s: revision %lld is not valid JSON", id, (long long)rev);
        return CS_E_INVAL;
    }
    rc = cs_workflow_start(wf, def, rev);
    json_decref(def);
    if (rc == CS_E_STATE)
        *err = cs_xasprintf("workflow %s is %s; it can start only when STOPPED or FAILED", id,
                            cs_wf_status_name(cs_workflow_status(wf)));
    return rc;
}

void cs_engine_start_desired(struct cs_engine *e)
{
    pthread_mutex_lock(&e->ops);
    for (size_t i = 0; i < e->n_wfs; i++) {
        char *desired = NULL, *err = NULL;
        if (cs_backlog_desired_get(e->backlog, cs_workflow_id(e->wfs[i]), &desired) == 0 &&
            strcmp(desired, "running") == 0 && cs_workflow_status(e->wfs[i]) == CS_WF_STOPPED &&
            start_wf(e, e->wfs[i], &err) != 0) {
            cs_log(CS_LOG_ERROR, cs_workflow_id(e->wfs[i]), "%s", err);
            free(err);
        }
        free(desired);
    }
    pthread_mutex_unlock(&e->ops);
}

static int start_op(struct cs_engine *e, struct cs_workflow *wf, const char *id, char **err)
{
    int rc = start_wf(e, wf, err);
    if (rc == 0)
        cs_backlog_desired_set(e->backlog, id, "running");
    return rc;
}

static int stop_op(struct cs_engine *e, struct cs_workflow *wf, const char *id, char **err)
{
    enum cs_wf_status s = cs_workflow_status(wf);
    if (s != CS_WF_STARTING && s != CS_WF_RUNNING) {
        *err = cs_xasprintf("workflow %s is %s; only a STARTING or RUNNING workflow can be stopped", id,
                            cs_wf_status_name(s));
        return CS_E_STATE;
    }
    cs_backlog_desired_set(e->backlog, id, "stopped");
    return cs_workflow_stop(wf);
}

/* Run an operation on workflow `id` under the operations lock. */
static int operate(struct cs_engine *e, const char *id, char **err,
                   int (*op)(struct cs_engine *, struct cs_workflow *, const char *, char **))
{
    struct cs_workflow *wf;
    int rc;
    *err = NULL;
    pthread_mutex_lock(&e->ops);
    wf = find_wf(e, id, NULL);
    if (wf) {
        rc = op(e, wf, id, err);
    } else {
        *err = cs_xasprintf("no workflow \"%s\"", id ? id : "");
        rc = CS_E_NOTFOUND;
    }
    pthread_mutex_unlock(&e->ops);
    return rc;
}

int cs_engine_start(struct cs_engine *e, const char *id, char **err)
{
    return operate(e, id, err, start_op);
}

int cs_engine_stop(struct cs_engine *e, const char *id, char **err)
{
    return operate(e, id, err, stop_op);
}

json_t *cs_engine_list(struct cs_engine *e)
{
    json_t *list = json_array();
    pthread_mutex_lock(&e->ops);
    for (size_t i = 0; i < e->n_wfs; i++) {
        json_t *snap = cs_workflow_snapshot(e->wfs[i]);
        int64_t latest = 0, running = json_integer_value(json_object_get(snap, "running_revision"));
        const char *status = json_string_value(json_object_get(snap, "status"));
        int active = strcmp(status, "RUNNING") == 0 || strcmp(status, "STARTING") == 0;
        cs_backlog_revision_latest(e->backlog, cs_workflow_id(e->wfs[i]), NULL, &latest, NULL);
        json_object_set_new(snap, "title", json_string(e->titles[i]));
        json_object_set_new(snap, "latest_revision", json_integer(latest));
        json_object_set_new(snap, "pending", json_boolean(active && latest != running));
        json_array_append_new(list, snap);
    }
    pthread_mutex_unlock(&e->ops);
    return list;
}

int cs_engine_all_idle(struct cs_engine *e, int *failed)
{
    int idle = 1;
    *failed = 0;
    pthread_mutex_lock(&e->ops);
    for (size_t i = 0; i < e->n_wfs; i++) {
        enum cs_wf_status s = cs_workflow_status(e->wfs[i]);
        if (s == CS_WF_FAILED)
            (*failed)++;
        else if (s == CS_WF_STARTING || (s == CS_WF_RUNNING && !cs_workflow_idle(e->wfs[i])))
            idle = 0;
    }
    pthread_mutex_unlock(&e->ops);
    return idle;
}
