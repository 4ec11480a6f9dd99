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
    char *label =
        cs_xasprintf("workflow %s revision %lld", json_string_value(json_object_get(definition, "id")), (long long)rev);
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
    pthread_mutex_init(&e->operating, NULL);
    pthread_rwlock_init(&e->ops, NULL);
    pthread_mutex_init(&e->awaiting_mu, NULL);
    return e;
}

void cs_engine_free(struct cs_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_flows; i++)
        cs_flow_free(e->flows[i]);
    free(e->flows);
    cs_engine_free_endpoints(e->endpoints, e->n_endpoints);
    cs_config_free(e->cfg);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->operating);
    pthread_rwlock_destroy(&e->ops);
    pthread_mutex_destroy(&e->awaiting_mu);
    json_decref(e->awaiting);
    free(e->awaiting_why);
    free(e);
}

void cs_engine_shutdown(struct cs_engine *e)
{
    atomic_store(&e->closing, 1);
    /* a start that read closing before it was set holds ops for reading until it is done: wait for it */
    pthread_rwlock_wrlock(&e->ops);
    pthread_rwlock_unlock(&e->ops);
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_flows; i++)
        cs_flow_stop(e->flows[i]);
    pthread_rwlock_unlock(&e->ops);
}

struct cs_flow *cs_engine_find_flow(struct cs_engine *e, const char *id, size_t *index)
{
    for (size_t i = 0; id && i < e->n_flows; i++)
        if (e->flows[i] && strcmp(e->flows[i]->id, id) == 0) {
            if (index)
                *index = i;
            return e->flows[i];
        }
    return NULL;
}

int cs_engine_has_workflow(struct cs_engine *e, const char *id)
{
    int known;
    pthread_rwlock_rdlock(&e->ops);
    known = cs_engine_find_flow(e, id, NULL) != NULL;
    pthread_rwlock_unlock(&e->ops);
    return known;
}

char *cs_engine_unknown(const char *id)
{
    return cs_xasprintf("no workflow \"%s\" (crmsyncctl workflows, or GET /api/v1/workflows, lists them)",
                        id ? id : "");
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

/* Is state id `id` one the configuration uses (a one-way workflow's id or a leg's state id)? */
static int state_id_in_use(struct cs_engine *e, const char *id)
{
    for (size_t i = 0; i < e->n_flows; i++)
        for (size_t j = 0; j < e->flows[i]->n_legs; j++)
            if (strcmp(cs_workflow_id(e->flows[i]->legs[j]), id) == 0)
                return 1;
    return 0;
}

/* A leg seen for the first time takes over the backlog rows, cursors and dead letters of the workflow
 * it was before legs existed: the one stored workflow no longer configured (or the leg's own workflow's
 * id, which holds no rows of its own) whose latest definition went over the same connections with the
 * same streams. Nothing is read again and nothing queued is lost. */
static void adopt_former(struct cs_engine *e, struct cs_flow *f, const json_t *def)
{
    json_t *ids = NULL, *v;
    size_t k;
    if (cs_backlog_workflow_ids(e->backlog, &ids) != 0)
        return;
    for (size_t i = 0; i < f->n_legs; i++) {
        const char *leg_id = cs_workflow_id(f->legs[i]), *former = NULL;
        json_t *legdef;
        int matches = 0;
        char *have = NULL;
        if (cs_backlog_desired_get(e->backlog, leg_id, &have) != CS_E_NOTFOUND) {
            free(have);
            continue;
        }
        legdef = cs_legs_definition(def, f->leg_names[i]);
        json_array_foreach (ids, k, v) {
            const char *id = json_string_value(v);
            char *text = NULL;
            json_t *old;
            if ((strcmp(id, f->id) != 0 && state_id_in_use(e, id)) ||
                cs_backlog_revision_latest(e->backlog, id, NULL, NULL, &text) != 0)
                continue;
            old = json_loads(text, 0, NULL);
            if (old && cs_legs_same_way(old, legdef)) {
                former = id;
                matches++;
            }
            json_decref(old);
            free(text);
        }
        if (matches == 1 && cs_backlog_workflow_adopt(e->backlog, former, leg_id) == 0)
            cs_log(CS_LOG_NOTICE, f->id,
                   "leg %s took over the backlog, cursors and dead letters of the former "
                   "workflow %s (state id %s)",
                   f->leg_names[i], former, leg_id);
        else if (matches > 1)
            cs_log(CS_LOG_WARNING, f->id, "leg %s starts anew: %d former workflows went its way", f->leg_names[i],
                   matches);
        json_decref(legdef);
    }
    json_decref(ids);
}

static void apply_workflows(struct cs_engine *e)
{
    const json_t *wdefs = json_object_get(e->cfg->root, "workflows");
    const json_t *raws = json_object_get(e->cfg->raw, "workflows");
    struct cs_workflow_env env = {e->registry, e->backlog, env_endpoint, env_resolve_mappings, e};
    struct cs_flow **keep = cs_xcalloc(json_array_size(wdefs) + 1, sizeof *keep);
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(wdefs); i++) {
        const json_t *def = json_array_get(wdefs, i);
        size_t at;
        struct cs_flow *f = cs_engine_find_flow(e, json_string_value(json_object_get(def, "id")), &at);
        if (f && cs_flow_same_shape(f, def)) {
            e->flows[at] = NULL;
            keep[n++] = f;
        } else {
            keep[n++] = cs_flow_new(def, &env);
        }
    }
    for (size_t i = 0; i < e->n_flows; i++) { /* before any leg takes over what they kept */
        if (!e->flows[i])
            continue;
        cs_log(CS_LOG_NOTICE, e->flows[i]->id, "no longer in %s (or its legs changed): stopping it", e->cfg->path);
        cs_flow_free(e->flows[i]);
    }
    free(e->flows);
    e->flows = keep;
    e->n_flows = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *def = json_array_get(wdefs, i);
        const char *initial = json_is_false(json_object_get(def, "autostart")) ? "stopped" : "running";
        if (keep[i]->leg_names[0])
            adopt_former(e, keep[i], def);
        cs_backlog_workflow_init(e->backlog, keep[i]->id, initial);
        for (size_t j = 0; keep[i]->leg_names[0] && j < keep[i]->n_legs; j++)
            cs_backlog_workflow_init(e->backlog, cs_workflow_id(keep[i]->legs[j]), initial);
        record_revision(e, keep[i]->id, json_array_get(raws, i));
    }
}

int cs_engine_check_config(struct cs_engine *e, struct cs_config *cfg, int apply, char **err)
{
    const json_t *wdefs = json_object_get(cfg->root, "workflows");
    char *errs = NULL;
    size_t n_eps = 0;
    struct cs_endpoint *eps = cs_engine_build_endpoints(e, cfg, &n_eps, &errs);

    for (size_t i = 0; i < json_array_size(wdefs); i++) {
        const json_t *def = json_array_get(wdefs, i), *v;
        const char *leg;
        char *wpath = cs_xasprintf("workflows[%zu]", i);
        /* unknown connection names were reported by the config schema already */
        if (!cs_legs_has(def)) {
            cs_engine_check_roles(cfg, wpath, def, eps, n_eps, 0, &errs);
            json_decref(cs_engine_check_mappings(e, cfg, wpath, def, &errs));
        }
        json_object_foreach (json_object_get(def, "legs"), leg, v) {
            json_t *legdef = cs_legs_definition(def, leg);
            char *lpath = cs_xasprintf("%s.legs.%s", wpath, leg);
            cs_engine_check_roles(cfg, lpath, legdef, eps, n_eps, 0, &errs);
            json_decref(cs_engine_check_mappings(e, cfg, lpath, legdef, &errs));
            free(lpath);
            json_decref(legdef);
        }
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
    *rev = 0;
    return cs_engine_definition_at(e, id, rev, err);
}

json_t *cs_engine_definition_at(struct cs_engine *e, const char *id, int64_t *rev, char **err)
{
    char *text = NULL, *label, *source = NULL;
    json_t *raw, *def = NULL;
    json_error_t jerr;
    int64_t created;

    if (*rev ? cs_backlog_revision_get(e->backlog, id, *rev, &text, &source, &created) != 0
             : cs_backlog_revision_latest(e->backlog, id, NULL, rev, &text) != 0) {
        *err = *rev ? cs_xasprintf("workflow %s has no revision %lld in the state database", id, (long long)*rev)
                    : cs_xasprintf("workflow %s has no definition in the state database", id);
        return NULL;
    }
    free(source);
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

/* Start `f` with revision *rev (0: the latest; *rev is then the one started). */
static int start_flow(struct cs_engine *e, struct cs_flow *f, int64_t *rev, char **err)
{
    json_t *def;
    int rc;
    enum cs_wf_status s = cs_flow_status(f);

    *err = NULL;
    if (atomic_load(&e->closing)) {
        *err = cs_xasprintf("workflow %s cannot start: crmsyncd is stopping", f->id);
        return CS_E_STATE;
    }
    if (s != CS_WF_STOPPED && s != CS_WF_FAILED) {
        *err = cs_xasprintf("workflow %s is %s; it can start only when STOPPED or FAILED", f->id, cs_wf_status_name(s));
        return CS_E_STATE;
    }
    if (!(def = cs_engine_definition_at(e, f->id, rev, err)))
        return CS_E_INVAL;
    rc = cs_flow_start(f, def, *rev, err);
    json_decref(def);
    if (rc == CS_E_STATE && !*err)
        *err = cs_xasprintf("workflow %s is %s; it can start only when STOPPED or FAILED", f->id,
                            cs_wf_status_name(cs_flow_status(f)));
    return rc;
}

int cs_engine_start_flow_at(struct cs_engine *e, struct cs_flow *f, int64_t rev, char **err)
{
    return start_flow(e, f, &rev, err);
}

/* A start made here: the fleet follows it (the revision it applied, desired "running"). */
static void record_start(struct cs_engine *e, struct cs_flow *f, int64_t rev)
{
    cs_backlog_desired_set(e->backlog, f->id, "running");
    if (cs_backlog_fleet_started(e->backlog, f->id, rev) != 0)
        cs_log(CS_LOG_ERROR, f->id, "the fleet cannot be told of this start (revision %lld): %s", (long long)rev,
               cs_backlog_errmsg(e->backlog));
}

void cs_engine_start_desired(struct cs_engine *e)
{
    pthread_rwlock_rdlock(&e->ops);
    pthread_mutex_lock(&e->operating);
    for (size_t i = 0; i < e->n_flows; i++) {
        char *desired = NULL, *err = NULL;
        int64_t rev = 0;
        int rc = -1;
        if (cs_backlog_desired_get(e->backlog, e->flows[i]->id, &desired) == 0 && strcmp(desired, "running") == 0 &&
            cs_flow_status(e->flows[i]) == CS_WF_STOPPED && (rc = start_flow(e, e->flows[i], &rev, &err)) != 0) {
            /* a direction that runs nothing is said once, not an error */
            cs_log(rc == CS_E_STATE ? CS_LOG_NOTICE : CS_LOG_ERROR, e->flows[i]->id, "%s", err);
            free(err);
        }
        if (rc == 0)
            record_start(e, e->flows[i], rev);
        free(desired);
    }
    pthread_mutex_unlock(&e->operating);
    pthread_rwlock_unlock(&e->ops);
}

static int start_op(struct cs_engine *e, struct cs_flow *f, void *err)
{
    int64_t rev = 0;
    int rc;
    pthread_mutex_lock(&e->operating);
    rc = start_flow(e, f, &rev, err);
    if (rc == 0)
        record_start(e, f, rev);
    pthread_mutex_unlock(&e->operating);
    return rc;
}

static int stop_op(struct cs_engine *e, struct cs_flow *f, void *err)
{
    if (!cs_flow_active(f)) {
        *(char **)err = cs_xasprintf("workflow %s is %s; only a STARTING or RUNNING workflow can be stopped", f->id,
                                     cs_wf_status_name(cs_flow_status(f)));
        return CS_E_STATE;
    }
    pthread_mutex_lock(&e->operating);
    cs_backlog_desired_set(e->backlog, f->id, "stopped");
    cs_flow_stop(f);
    pthread_mutex_unlock(&e->operating);
    return 0;
}

int cs_engine_with_flow(struct cs_engine *e, const char *id, void *arg,
                        int (*op)(struct cs_engine *, struct cs_flow *, void *))
{
    struct cs_flow *f;
    int rc;
    pthread_rwlock_rdlock(&e->ops);
    f = cs_engine_find_flow(e, id, NULL);
    rc = f ? op(e, f, arg) : CS_E_NOTFOUND;
    pthread_rwlock_unlock(&e->ops);
    return rc;
}

/* Start or stop `id`; *err (new) explains a refusal. */
static int operate(struct cs_engine *e, const char *id, char **err,
                   int (*op)(struct cs_engine *, struct cs_flow *, void *))
{
    int rc;
    *err = NULL;
    rc = cs_engine_with_flow(e, id, err, op);
    if (rc == CS_E_NOTFOUND && !*err)
        *err = cs_engine_unknown(id);
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
 * While the state database does not answer, its counters are the last known ones and it says so
 * (stale, state_db), with no title and no pending revision. New. Lock held. */
static json_t *describe(struct cs_engine *e, size_t i)
{
    json_t *snap = cs_flow_snapshot(e->flows[i]), *def;
    int64_t running = json_integer_value(json_object_get(snap, "running_revision")), latest = running;
    const char *title;
    char *text = NULL, *silent = NULL;
    if (cs_backlog_silent(e->backlog, CS_BACKLOG_ADMIN_PATIENCE_MS, &silent)) {
        json_object_set_new(snap, "stale", json_true());
        json_object_set_new(snap, "state_db", json_string(silent));
        free(silent);
    } else {
        cs_backlog_revision_latest(e->backlog, e->flows[i]->id, NULL, &latest, &text);
    }
    def = text ? json_loads(text, 0, NULL) : NULL;
    title = json_string_value(json_object_get(def, "title"));
    json_object_set_new(snap, "title", json_string(title ? title : e->flows[i]->id));
    if (json_object_get(def, "direction"))
        json_object_set(snap, "direction", json_object_get(def, "direction"));
    json_decref(def);
    free(text);
    json_object_set_new(snap, "latest_revision", json_integer(latest));
    json_object_set_new(snap, "pending", json_boolean(cs_flow_active(e->flows[i]) && latest != running));
    cs_fleet_describe(e, e->flows[i], snap);
    return snap;
}

json_t *cs_engine_list(struct cs_engine *e)
{
    json_t *list;
    if (cs_engine_awaiting(e, NULL, &list))
        return list;
    list = json_array();
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_flows; i++)
        json_array_append_new(list, describe(e, i));
    pthread_rwlock_unlock(&e->ops);
    return list;
}

json_t *cs_engine_workflow(struct cs_engine *e, const char *id)
{
    json_t *snap = NULL;
    size_t i;
    if (cs_engine_awaiting(e, id, &snap))
        return snap;
    pthread_rwlock_rdlock(&e->ops);
    if (cs_engine_find_flow(e, id, &i))
        snap = describe(e, i);
    pthread_rwlock_unlock(&e->ops);
    return snap;
}

int cs_engine_all_idle(struct cs_engine *e, int *failed)
{
    int idle = 1;
    *failed = 0;
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_flows; i++)
        for (size_t j = 0; j < e->flows[i]->n_legs; j++) {
            struct cs_workflow *wf = e->flows[i]->legs[j];
            enum cs_wf_status s = cs_workflow_status(wf);
            if (s == CS_WF_FAILED)
                (*failed)++;
            else if (s == CS_WF_STARTING || (s == CS_WF_RUNNING && !cs_workflow_idle(wf)))
                idle = 0;
        }
    pthread_rwlock_unlock(&e->ops);
    return idle;
}
