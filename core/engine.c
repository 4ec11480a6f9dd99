/*
 * engine.c - the daemon's set of workflows and its configuration (see engine.h): checks a config
 * against the loaded plugins, turns changed definitions into revisions, and starts and stops
 * workflows for the operator, persisting the desired state.
 */
#include "engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "config.h"
#include "loader.h"
#include "log.h"
#include "jsondiff.h"
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
    pthread_rwlock_t ops; /* the workflow list: read-held by operations, write-held to replace it */
    struct cs_workflow **wfs;
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

/* "prefix.member", or "member" when the prefix is empty (a definition checked on its own). New. */
static char *join(const char *prefix, const char *member)
{
    return *prefix ? cs_xasprintf("%s.%s", prefix, member) : cs_xstrdup(member);
}

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
            char *at = cs_xasprintf("mappings[%zu].%s", m, json_string_value(json_object_get(inv, "at")));
            char *path = join(wpath, at);
            char *name_path = cs_xasprintf("%s.name", path);
            const char *name = json_string_value(json_object_get(json_object_get(inv, "spec"), "name"));
            const struct cs_component *c = find_component(e, cfg, name_path, kind, name, errs);
            json_t *opts = c ? resolve_options(cfg, path, c, "name", errs) : NULL;
            if (!opts)
                bad = 1;
            json_array_append_new(resolved, opts ? opts : json_null());
            free(name_path);
            free(path);
            free(at);
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
            char *path = join(wpath, role);
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

/*
 * Check a normalized definition's references for the current configuration: source and sink name
 * defined connections that can read and write; entity handlers and stages exist with valid options.
 * Errors read "<label>: <path>: <message>", one per line.
 */
static int check_references(struct cs_engine *e, const char *label, const json_t *def, char **err)
{
    struct cs_config unplaced = {.path = (char *)label, .root = (json_t *)def, .positions = json_object()};
    static const char *const roles[] = {"source", "sink"};
    char *errs = NULL;

    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < 2; i++) {
        const char *conn = json_string_value(json_object_get(def, roles[i]));
        int known = 0;
        for (size_t j = 0; conn && j < e->n_endpoints; j++)
            known |= strcmp(e->endpoints[j].name, conn) == 0;
        if (!known) {
            char *msg = cs_xasprintf("unknown connection \"%s\"", conn ? conn : "");
            append_error_at(&errs, &unplaced, roles[i], msg);
            free(msg);
        }
    }
    check_role(&unplaced, "", def, "source", CS_CAP_SOURCE, e->endpoints, e->n_endpoints, &errs);
    check_role(&unplaced, "", def, "sink", CS_CAP_SINK, e->endpoints, e->n_endpoints, &errs);
    pthread_mutex_unlock(&e->lock);
    json_decref(check_mappings(e, &unplaced, "", def, &errs));
    json_decref(unplaced.positions);
    *err = errs;
    return errs ? CS_E_INVAL : 0;
}

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
    struct cs_config tmp = {.path = label, .root = (json_t *)definition, .positions = json_object()};
    *err = NULL;
    *resolved = check_mappings(e, &tmp, "", definition, err);
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
    free_endpoints(e->endpoints, e->n_endpoints);
    cs_config_free(e->cfg);
    pthread_mutex_destroy(&e->lock);
    pthread_rwlock_destroy(&e->ops);
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

/* Record a "config" revision when the file's definition (as written) differs from the last one it
 * produced: an edit made through the API stays the latest until the file itself changes. */
static void record_revision(struct cs_engine *e, const char *id, const json_t *raw)
{
    char *canonical = json_dumps(raw, JSON_COMPACT | JSON_SORT_KEYS), *last = NULL;
    int64_t rev;
    if (cs_backlog_revision_latest(e->backlog, id, "config", NULL, &last) != 0 || strcmp(last, canonical) != 0) {
        if (cs_backlog_revision_add(e->backlog, id, "config", NULL, canonical, &rev) == 0)
            cs_log(CS_LOG_NOTICE, id, "definition changed in %s: revision %lld", e->cfg->path, (long long)rev);
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
        struct cs_workflow *wf = find_wf(e, id, &at);
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
    pthread_rwlock_wrlock(&e->ops);
    apply_workflows(e);
    pthread_rwlock_unlock(&e->ops);
    *err = NULL;
    return 0;
}

/* ---- operations --------------------------------------------------------------------------------- */

/* The latest revision of `id`, checked against the schema, the connections and the plugins: its
 * normalized definition (new) or NULL with *err. */
static json_t *latest_definition(struct cs_engine *e, const char *id, int64_t *rev, char **err)
{
    char *text = NULL, *label;
    json_t *raw, *def = NULL;

    if (cs_backlog_revision_latest(e->backlog, id, NULL, rev, &text) != 0) {
        *err = cs_xasprintf("workflow %s has no definition in the state database", id);
        return NULL;
    }
    raw = json_loads(text, 0, NULL);
    free(text);
    label = cs_xasprintf("workflow %s revision %lld", id, (long long)*rev);
    if (cs_config_check_workflow(raw, label, &def, err) == 0 && check_references(e, label, def, err) != 0) {
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

    if (!(def = latest_definition(e, id, &rev, err)))
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

/* Run `op` on workflow `id` with the workflow list read-locked, or CS_E_NOTFOUND. */
static int with_wf(struct cs_engine *e, const char *id, void *arg,
                   int (*op)(struct cs_engine *, struct cs_workflow *, void *))
{
    struct cs_workflow *wf;
    int rc;
    pthread_rwlock_rdlock(&e->ops);
    wf = find_wf(e, id, NULL);
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
    rc = with_wf(e, id, err, op);
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
    if (find_wf(e, id, &i))
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

/* ---- the admin API's reads and edits ------------------------------------------------------------ */

static json_t *revision_doc(struct cs_engine *e, const char *id, int64_t rev)
{
    char *text = NULL, *source = NULL;
    int64_t created = 0;
    json_t *doc = NULL, *list = NULL, *entry;
    size_t i;
    if (cs_backlog_revision_get(e->backlog, id, rev, &text, &source, &created) != 0)
        return NULL;
    doc = json_pack("{s:I, s:s, s:I, s:o, s:n}", "revision", (json_int_t)rev, "source", source, "created_at",
                    (json_int_t)created, "definition", json_loads(text, 0, NULL), "author");
    if (cs_backlog_revision_list(e->backlog, id, &list) == 0)
        json_array_foreach(list, i, entry)
        {
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

static int definition_op(struct cs_engine *e, struct cs_workflow *wf, void *arg)
{
    struct def_arg *a = arg;
    int64_t rev = 0;
    if (cs_backlog_revision_latest(e->backlog, cs_workflow_id(wf), NULL, &rev, NULL) != 0)
        return CS_E_NOTFOUND;
    *a->out = revision_doc(e, cs_workflow_id(wf), rev);
    return *a->out ? 0 : CS_E_DB;
}

int cs_engine_definition(struct cs_engine *e, const char *id, json_t **out, char **err)
{
    struct def_arg a = {out};
    int rc;
    *out = NULL;
    rc = with_wf(e, id, &a, definition_op);
    *err = rc ? cs_xasprintf("no definition of workflow \"%s\"", id ? id : "") : NULL;
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

static int put_op(struct cs_engine *e, struct cs_workflow *wf, void *arg)
{
    struct put_arg *a = arg;
    const char *id = cs_workflow_id(wf), *given = json_string_value(json_object_get(a->definition, "id"));
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
        rc = check_references(e, "definition", def, &errs);
    if (rc != 0) {
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
               (long long)*a->rev,
               cs_workflow_status(wf) == CS_WF_RUNNING || cs_workflow_status(wf) == CS_WF_STARTING
                   ? ", pending until the workflow is stopped and started"
                   : "");
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
    return with_wf(e, id, &a, put_op);
}

static int revisions_op(struct cs_engine *e, struct cs_workflow *wf, void *arg)
{
    return cs_backlog_revision_list(e->backlog, cs_workflow_id(wf), (json_t **)arg);
}

int cs_engine_revisions(struct cs_engine *e, const char *id, json_t **out)
{
    *out = NULL;
    return with_wf(e, id, out, revisions_op);
}

struct rev_arg {
    int64_t rev;
    json_t **out;
};

static int revision_op(struct cs_engine *e, struct cs_workflow *wf, void *arg)
{
    struct rev_arg *a = arg;
    json_t *doc = revision_doc(e, cs_workflow_id(wf), a->rev), *prev, *before;
    if (!doc)
        return CS_E_NOTFOUND;
    prev = a->rev > 1 ? revision_doc(e, cs_workflow_id(wf), a->rev - 1) : NULL;
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
    return with_wf(e, id, &a, revision_op);
}

struct replay_arg {
    const char *stream;
    char **err;
};

static int replay_op(struct cs_engine *e, struct cs_workflow *wf, void *arg)
{
    struct replay_arg *a = arg;
    int64_t rev = 0;
    json_t *def = latest_definition(e, cs_workflow_id(wf), &rev, a->err), *m;
    size_t i;
    int found = 0;
    if (!def)
        return CS_E_INVAL;
    json_array_foreach(json_object_get(def, "mappings"), i, m)
        found |= a->stream && strcmp(json_string_value(json_object_get(m, "stream")), a->stream) == 0;
    json_decref(def);
    if (!found) {
        *a->err = cs_xasprintf("workflow %s has no mapping of stream \"%s\"", cs_workflow_id(wf),
                               a->stream ? a->stream : "");
        return CS_E_NOTFOUND;
    }
    cs_workflow_replay(wf, a->stream);
    return 0;
}

int cs_engine_replay(struct cs_engine *e, const char *id, const char *stream, char **err)
{
    struct replay_arg a = {stream, err};
    int rc;
    *err = NULL;
    rc = with_wf(e, id, &a, replay_op);
    if (rc == CS_E_NOTFOUND && !*err)
        *err = cs_xasprintf("no workflow \"%s\"", id ? id : "");
    return rc;
}

struct dead_arg {
    int64_t before_or_id;
    size_t limit;
    int payload;
    json_t **out;
    size_t *n;
};

static int dead_list_op(struct cs_engine *e, struct cs_workflow *wf, void *arg)
{
    struct dead_arg *a = arg;
    return cs_backlog_dead_list(e->backlog, cs_workflow_id(wf), a->before_or_id, a->limit, a->payload, a->out);
}

int cs_engine_dead_letters(struct cs_engine *e, const char *id, int64_t before_id, size_t limit,
                           int include_payload, json_t **out)
{
    struct dead_arg a = {before_id, limit, include_payload, out, NULL};
    *out = NULL;
    return with_wf(e, id, &a, dead_list_op);
}

static int redrive_op(struct cs_engine *e, struct cs_workflow *wf, void *arg)
{
    struct dead_arg *a = arg;
    int rc = cs_backlog_dead_redrive(e->backlog, cs_workflow_id(wf), a->before_or_id, a->n);
    if (rc == 0 && *a->n)
        cs_workflow_wake(wf);
    return rc;
}

int cs_engine_redrive(struct cs_engine *e, const char *id, int64_t dead_id, size_t *n, char **err)
{
    struct dead_arg a = {dead_id, 0, 0, NULL, n};
    int rc;
    *n = 0;
    rc = with_wf(e, id, &a, redrive_op);
    *err = rc == CS_E_NOTFOUND   ? cs_xasprintf("no workflow \"%s\" or no dead letter %lld", id, (long long)dead_id)
           : rc == CS_E_STATE    ? cs_xasprintf("dead letter %lld failed in mapping; replay its stream instead",
                                                (long long)dead_id)
           : rc != 0             ? cs_xstrdup(cs_backlog_errmsg(e->backlog))
                                 : NULL;
    return rc;
}

/* One connection's options for display: secrets as {"set": bool}. */
static json_t *shown_options(const struct endpoint *ep)
{
    const cs_option *table = cs_component_options(ep->connector);
    json_t *out = json_object();
    for (const cs_option *o = table; o && o->name; o++) {
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
        const struct endpoint *ep = &e->endpoints[i];
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
                json_array_append_new(components, json_pack("{s:s, s:s}", "kind", kinds[c->kind], "name",
                                                             cs_component_name(c)));
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", lp->desc.name, "version",
                                              lp->desc.version ? lp->desc.version : "", "abi",
                                              abi, "path", lp->path, "components",
                                              components));
    }
    return list;
}

int cs_engine_healthy(struct cs_engine *e, json_t **problems)
{
    *problems = json_array();
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_wfs; i++) {
        const char *id = cs_workflow_id(e->wfs[i]);
        char *desired = NULL;
        json_t *snap;
        if (cs_backlog_desired_get(e->backlog, id, &desired) != 0 || strcmp(desired, "running") != 0) {
            free(desired);
            continue;
        }
        free(desired);
        snap = cs_workflow_snapshot(e->wfs[i]);
        if (strcmp(json_string_value(json_object_get(snap, "status")), "RUNNING") != 0)
            json_array_append_new(*problems, json_pack("{s:s, s:O, s:O}", "workflow", id, "status",
                                                       json_object_get(snap, "status"), "reason",
                                                       json_object_get(snap, "reason")));
        json_decref(snap);
    }
    pthread_rwlock_unlock(&e->ops);
    return json_array_size(*problems) == 0;
}
