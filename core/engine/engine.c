/*
 * engine.c - the daemon's set of workflows and its configuration (see engine.h): applies a checked
 * config, turns changed definitions into revisions, and starts and stops workflows for the operator,
 * persisting the desired state. Checking lives in engine_check.c, the admin API's reads and edits in
 * engine_admin.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/backlog.h"
#include "engine_private.h"
#include "util/log.h"
#include "util/util.h"

static int env_endpoint(void *arg, const char *name, const struct cs_component **connector, json_t **options)
{
    struct cs_engine *e = arg;
    const struct cs_endpoint *ep;
    pthread_mutex_lock(&e->lock);
    if ((ep = cs_engine_find_endpoint(e->endpoints, e->n_endpoints, name))) {
        *connector = ep->connector;
        *options = json_incref(ep->options);
    }
    pthread_mutex_unlock(&e->lock);
    return ep ? 0 : CS_E_NOTFOUND;
}

static int env_resolve_mappings(void *arg, const json_t *definition, int64_t rev, json_t **resolved, char **err)
{
    struct cs_engine *e = arg;
    char *label = cs_xasprintf("workflow %s revision %lld", json_string_value(json_object_get(definition, "id")),
                               (long long)rev);
    struct cs_config tmp = {.path = label, .root = (json_t *)definition, .positions = json_object()};
    *err = NULL;
    *resolved = cs_engine_check_mappings(e, &tmp, "", definition, err);
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
    pthread_rwlock_init(&e->ops, NULL);
    return e;
}

void cs_engine_free(struct cs_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_wfs; i++)
        cs_workflow_free(e->wfs[i]);
    free(e->wfs);
    cs_engine_free_endpoints(e->endpoints, e->n_endpoints);
    cs_config_free(e->cfg);
    pthread_mutex_destroy(&e->lock);
    pthread_rwlock_destroy(&e->ops);
    free(e);
}

void cs_engine_shutdown(struct cs_engine *e)
{
    atomic_store(&e->closing, 1);
    /* a start that read closing before it was set holds ops for reading until it is done: wait for it */
    pthread_rwlock_wrlock(&e->ops);
    pthread_rwlock_unlock(&e->ops);
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_wfs; i++)
        cs_workflow_stop(e->wfs[i]);
    pthread_rwlock_unlock(&e->ops);
}

struct cs_workflow *cs_engine_find_wf(struct cs_engine *e, const char *id, size_t *index)
{
    for (size_t i = 0; id && i < e->n_wfs; i++)
        if (e->wfs[i] && strcmp(cs_workflow_id(e->wfs[i]), id) == 0) {
            if (index)
                *index = i;
            return e->wfs[i];
        }
    return NULL;
}

/* Record a "config" revision when the file's definition (as written) differs from the last one it
 * produced: an edit made through the API stays the latest until the file itself changes. */
static void record_revision(struct cs_engine *e, const char *id, const json_t *raw)
{
    char *canonical = json_dumps(raw, JSON_COMPACT | JSON_SORT_KEYS), *last = NULL;
    int64_t rev;
    if (cs_backlog_revision_latest(e->backlog, id, "config", NULL, &last) != 0 || strcmp(last, canonical) != 0) {
        if (cs_backlog_revision_add(e->backlog, id, "config", NULL, canonical, &rev) == 0)
            cs_log(CS_LOG_NOTICE, id, "definition %s %s: revision %lld", last ? "changed in" : "loaded from",
                   e->cfg->path, (long long)rev);
    }
    free(last);
    free(canonical);
}

static void apply_workflows(struct cs_engine *e)
{
    const json_t *wdefs = json_object_get(e->cfg->root, "workflows");
    const json_t *raws = json_object_get(e->cfg->raw, "workflows");
    struct cs_workflow_env env = {e->registry, e->backlog, env_endpoint, env_resolve_mappings, e};
    struct cs_workflow **keep = cs_xcalloc(json_array_size(wdefs) + 1, sizeof *keep);
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(wdefs); i++) {
        const json_t *def = json_array_get(wdefs, i);
        const char *id = json_string_value(json_object_get(def, "id"));
        size_t at;
        struct cs_workflow *wf = cs_engine_find_wf(e, id, &at);
        cs_backlog_workflow_init(e->backlog, id,
                                 json_is_false(json_object_get(def, "autostart")) ? "stopped" : "running");
        record_revision(e, id, json_array_get(raws, i));
        if (wf)
            e->wfs[at] = NULL;
        else
            wf = cs_workflow_new(id, &env);
        keep[n++] = wf;
    }
    for (size_t i = 0; i < e->n_wfs; i++) {
        if (!e->wfs[i])
            continue;
        cs_log(CS_LOG_NOTICE, cs_workflow_id(e->wfs[i]), "no longer in %s: stopping it", e->cfg->path);
        cs_workflow_free(e->wfs[i]);
    }
    free(e->wfs);
    e->wfs = keep;
    e->n_wfs = n;
}

int cs_engine_check_config(struct cs_engine *e, struct cs_config *cfg, int apply, char **err)
{
    const json_t *wdefs = json_object_get(cfg->root, "workflows");
    char *errs = NULL;
    size_t n_eps = 0;
    struct cs_endpoint *eps = cs_engine_build_endpoints(e, cfg, &n_eps, &errs);

    for (size_t i = 0; i < json_array_size(wdefs); i++) {
        const json_t *def = json_array_get(wdefs, i);
        char *wpath = cs_xasprintf("workflows[%zu]", i);
        /* unknown connection names were reported by the config schema already */
        cs_engine_check_roles(cfg, wpath, def, eps, n_eps, 0, &errs);
        json_decref(cs_engine_check_mappings(e, cfg, wpath, def, &errs));
        free(wpath);
    }
    if (errs || !apply) {
        cs_engine_free_endpoints(eps, n_eps);
        *err = errs;
        return errs ? CS_E_INVAL : 0;
    }
    pthread_mutex_lock(&e->lock);
    cs_engine_free_endpoints(e->endpoints, e->n_endpoints);
    e->endpoints = eps;
    e->n_endpoints = n_eps;
    cs_config_free(e->cfg);
    e->cfg = cfg;
    pthread_mutex_unlock(&e->lock);
    pthread_rwlock_wrlock(&e->ops);
    apply_workflows(e);
    pthread_rwlock_unlock(&e->ops);
    *err = NULL;
    return 0;
}

/* ---- operations --------------------------------------------------------------------------------- */

json_t *cs_engine_latest_definition(struct cs_engine *e, const char *id, int64_t *rev, char **err)
{
    char *text = NULL, *label;
    json_t *raw, *def = NULL;
    json_error_t jerr;

    if (cs_backlog_revision_latest(e->backlog, id, NULL, rev, &text) != 0) {
        *err = cs_xasprintf("workflow %s has no definition in the state database", id);
        return NULL;
    }
    raw = json_loads(text, 0, &jerr);
    free(text);
    label = cs_xasprintf("workflow %s revision %lld", id, (long long)*rev);
    if (!raw)
        *err = cs_xasprintf("%s in the state database is not valid JSON (%s at character %d): the state database "
                            "is damaged; store a good definition (edit the config file and reload, or "
                            "PUT /api/v1/workflows/%s/definition) or restore state.db from a backup",
                            label, jerr.text, jerr.position, id);
    else if (cs_config_check_workflow(raw, label, &def, err) == 0 &&
             cs_engine_check_references(e, label, def, err) != 0) {
        json_decref(def);
        def = NULL;
    }
    json_decref(raw);
    free(label);
    return def;
}

static int start_wf(struct cs_engine *e, struct cs_workflow *wf, char **err)
{
    const char *id = cs_workflow_id(wf);
    json_t *def;
    int64_t rev = 0;
    int rc;

    if (atomic_load(&e->closing)) {
        *err = cs_xasprintf("workflow %s cannot start: crmsyncd is stopping", id);
        return CS_E_STATE;
    }
    if (!(def = cs_engine_latest_definition(e, id, &rev, err)))
        return CS_E_INVAL;
    rc = cs_workflow_start(wf, def, rev);
    json_decref(def);
    if (rc == CS_E_STATE)
        *err = cs_xasprintf("workflow %s is %s; it can start only when STOPPED or FAILED", id,
                            cs_wf_status_name(cs_workflow_status(wf)));
    return rc;
}

void cs_engine_start_desired(struct cs_engine *e)
{
    pthread_rwlock_rdlock(&e->ops);
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
    pthread_rwlock_unlock(&e->ops);
}

static int start_op(struct cs_engine *e, struct cs_workflow *wf, void *err)
{
    int rc = start_wf(e, wf, err);
    if (rc == 0)
        cs_backlog_desired_set(e->backlog, cs_workflow_id(wf), "running");
    return rc;
}

static int stop_op(struct cs_engine *e, struct cs_workflow *wf, void *err)
{
    enum cs_wf_status s = cs_workflow_status(wf);
    if (s != CS_WF_STARTING && s != CS_WF_RUNNING) {
        *(char **)err = cs_xasprintf("workflow %s is %s; only a STARTING or RUNNING workflow can be stopped",
                                     cs_workflow_id(wf), cs_wf_status_name(s));
        return CS_E_STATE;
    }
    cs_backlog_desired_set(e->backlog, cs_workflow_id(wf), "stopped");
    return cs_workflow_stop(wf);
}

int cs_engine_with_wf(struct cs_engine *e, const char *id, void *arg,
                   int (*op)(struct cs_engine *, struct cs_workflow *, void *))
{
    struct cs_workflow *wf;
    int rc;
    pthread_rwlock_rdlock(&e->ops);
    wf = cs_engine_find_wf(e, id, NULL);
    rc = wf ? op(e, wf, arg) : CS_E_NOTFOUND;
    pthread_rwlock_unlock(&e->ops);
    return rc;
}


/* Start or stop `id`; *err (new) explains a refusal. */
static int operate(struct cs_engine *e, const char *id, char **err,
                   int (*op)(struct cs_engine *, struct cs_workflow *, void *))
{
    int rc;
    *err = NULL;
    rc = cs_engine_with_wf(e, id, err, op);
    if (rc == CS_E_NOTFOUND && !*err)
        *err = cs_xasprintf("no workflow \"%s\"", id ? id : "");
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

/* Workflow i's snapshot with its title (from the latest revision), latest revision and pending flag.
 * New. Lock held. */
static json_t *describe(struct cs_engine *e, size_t i)
{
    json_t *snap = cs_workflow_snapshot(e->wfs[i]), *def;
    int64_t latest = 0, running = json_integer_value(json_object_get(snap, "running_revision"));
    const char *status = json_string_value(json_object_get(snap, "status")), *title;
    int active = strcmp(status, "RUNNING") == 0 || strcmp(status, "STARTING") == 0;
    char *text = NULL;
    cs_backlog_revision_latest(e->backlog, cs_workflow_id(e->wfs[i]), NULL, &latest, &text);
    def = text ? json_loads(text, 0, NULL) : NULL;
    title = json_string_value(json_object_get(def, "title"));
    json_object_set_new(snap, "title", json_string(title ? title : cs_workflow_id(e->wfs[i])));
    json_decref(def);
    free(text);
    json_object_set_new(snap, "latest_revision", json_integer(latest));
    json_object_set_new(snap, "pending", json_boolean(active && latest != running));
    return snap;
}

json_t *cs_engine_list(struct cs_engine *e)
{
    json_t *list = json_array();
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_wfs; i++)
        json_array_append_new(list, describe(e, i));
    pthread_rwlock_unlock(&e->ops);
    return list;
}

json_t *cs_engine_workflow(struct cs_engine *e, const char *id)
{
    json_t *snap = NULL;
    size_t i;
    pthread_rwlock_rdlock(&e->ops);
    if (cs_engine_find_wf(e, id, &i))
        snap = describe(e, i);
    pthread_rwlock_unlock(&e->ops);
    return snap;
}

int cs_engine_all_idle(struct cs_engine *e, int *failed)
{
    int idle = 1;
    *failed = 0;
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_wfs; i++) {
        enum cs_wf_status s = cs_workflow_status(e->wfs[i]);
        if (s == CS_WF_FAILED)
            (*failed)++;
        else if (s == CS_WF_STARTING || (s == CS_WF_RUNNING && !cs_workflow_idle(e->wfs[i])))
            idle = 0;
    }
    pthread_rwlock_unlock(&e->ops);
    return idle;
}

