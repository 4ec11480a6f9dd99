/*
 * engine_check.c - checks a configuration or a single workflow definition against what is loaded and
 * configured: connections resolve to connectors with the right capability and the connectors accept
 * their options (an instance is created and destroyed), entity handlers and stages exist, and every
 * plugin option is valid (see engine_private.h).
 */
#include <stdlib.h>
#include <string.h>

#include "engine_private.h"
#include "host/host.h"
#include "config/mapping.h"
#include "pipeline.h"
#include "util/util.h"

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
    const char *const skip[] = {skip_key, NULL};
    json_t *resolved = NULL;
    char *err = NULL;
    if (cs_config_plugin_options(cfg, path, cs_component_options(c), skip, &resolved, &err) != 0) {
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

/* In a workflow with legs the direction is the `mode` of an entity handler that has that option (the
 * opt-in-out handler's four modes are Adobe's directions): set in its resolved options. Written by hand
 * there, it is an error (the schema says so too, for a definition checked as written). */
static int set_mode(const struct cs_config *cfg, const char *path, const struct cs_component *c, const json_t *def,
                    json_t *opts, char **errs)
{
    const json_t *direction = json_object_get(def, "direction");
    int takes_mode = 0;
    for (const cs_setting *o = cs_component_options(c); o && o->name; o++)
        takes_mode |= strcmp(o->name, "mode") == 0;
    if (!direction || !takes_mode)
        return 0;
    if (!json_is_null(json_object_get(opts, "mode")) && json_object_get(opts, "mode")) {
        char *at = cs_xasprintf("%s.mode", path);
        append_error_at(errs, cfg, at, "set by the workflow's direction in a workflow with legs; remove it");
        free(at);
        return CS_E_INVAL;
    }
    json_object_set(opts, "mode", (json_t *)direction);
    return 0;
}

/* Create (then destroy) the entity handler and stages of mapping `m` with their resolved options, so
 * that what a plugin refuses in create() (a guardrail, a mode against its mapping) is an error now,
 * naming the mapping, rather than a FAILED start. No connector runs: describe() answers CS_NODATA.
 * Returns 1 when refused. */
static int try_pipeline(const struct cs_engine *e, const struct cs_config *cfg, const char *wpath, const json_t *def,
                        size_t m, const json_t *resolved, char **errs)
{
    json_t *streams = cs_mapping_streams(def);
    struct cs_pipeline_env env = {e->registry, NULL, NULL, "check", NULL, NULL, streams};
    struct cs_pipeline *p = NULL;
    char *err = NULL, *at = cs_xasprintf("mappings[%zu]", m), *path = join(wpath, at);
    int refused = cs_pipeline_new(&env, json_array_get(json_object_get(def, "mappings"), m), resolved, &p, &err) != 0;
    if (refused)
        append_error_at(errs, cfg, path, err);
    cs_pipeline_free(p);
    json_decref(streams);
    free(err);
    free(path);
    free(at);
    return refused;
}

json_t *cs_engine_check_mappings(const struct cs_engine *e, const struct cs_config *cfg, const char *wpath,
                                 const json_t *def, char **errs)
{
    const json_t *mappings = json_object_get(def, "mappings");
    json_t *all = json_array();
    int bad = 0;
    for (size_t m = 0; m < json_array_size(mappings); m++) {
        json_t *invs = cs_pipeline_invocations(json_array_get(mappings, m)), *resolved = json_array();
        int options_bad = 0;
        for (size_t i = 0; i < json_array_size(invs); i++) {
            const json_t *inv = json_array_get(invs, i);
            enum cs_component_kind kind = json_is_true(json_object_get(inv, "entity")) ? CS_KIND_ENTITY : CS_KIND_STAGE;
            char *at = cs_xasprintf("mappings[%zu].%s", m, json_string_value(json_object_get(inv, "at")));
            char *path = join(wpath, at);
            char *name_path = cs_xasprintf("%s.name", path);
            const char *name = json_string_value(json_object_get(json_object_get(inv, "spec"), "name"));
            const struct cs_component *c = find_component(e, cfg, name_path, kind, name, errs);
            json_t *opts = c ? resolve_options(cfg, path, c, "name", errs) : NULL;
            if (opts && kind == CS_KIND_ENTITY && set_mode(cfg, path, c, def, opts, errs) != 0) {
                json_decref(opts);
                opts = NULL;
            }
            options_bad |= !opts;
            json_array_append_new(resolved, opts ? opts : json_null());
            free(name_path);
            free(path);
            free(at);
        }
        bad |= options_bad || try_pipeline(e, cfg, wpath, def, m, resolved, errs);
        json_array_append_new(all, resolved);
        json_decref(invs);
    }
    if (bad) {
        json_decref(all);
        return NULL;
    }
    return all;
}

const struct cs_endpoint *cs_engine_find_endpoint(const struct cs_endpoint *eps, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(eps[i].name, name) == 0)
            return &eps[i];
    return NULL;
}

static void check_role(const struct cs_config *cfg, const char *wpath, const json_t *def, const char *role,
                       uint32_t cap, const struct cs_endpoint *eps, size_t n_eps, int report_unknown, char **errs)
{
    const char *conn = json_string_value(json_object_get(def, role));
    const struct cs_endpoint *ep = cs_engine_find_endpoint(eps, n_eps, conn);
    char *path = join(wpath, role), *msg = NULL;
    if (!ep && report_unknown)
        msg = cs_xasprintf("unknown connection \"%s\"", conn ? conn : "");
    else if (ep && !(ep->connector->u.connector.caps & cap))
        msg = cs_xasprintf("connection \"%s\" uses the connector \"%s\", which cannot %s", conn,
                           ep->connector->u.connector.name,
                           cap == CS_CAP_SOURCE ? "read (it is not a source)" : "write (it is not a sink)");
    if (msg)
        append_error_at(errs, cfg, path, msg);
    free(msg);
    free(path);
}

void cs_engine_check_roles(const struct cs_config *cfg, const char *wpath, const json_t *def,
                           const struct cs_endpoint *eps, size_t n_eps, int report_unknown, char **errs)
{
    check_role(cfg, wpath, def, "source", CS_CAP_SOURCE, eps, n_eps, report_unknown, errs);
    check_role(cfg, wpath, def, "sink", CS_CAP_SINK, eps, n_eps, report_unknown, errs);
}
/* One-way definition `oneway` found at `wpath` of `unplaced` (a leg, or the whole definition). */
static void check_oneway(struct cs_engine *e, const struct cs_config *unplaced, const char *wpath, const json_t *oneway,
                         char **errs)
{
    pthread_mutex_lock(&e->lock);
    cs_engine_check_roles(unplaced, wpath, oneway, e->endpoints, e->n_endpoints, 1, errs);
    pthread_mutex_unlock(&e->lock);
    json_decref(cs_engine_check_mappings(e, unplaced, wpath, oneway, errs));
}

int cs_engine_check_references(struct cs_engine *e, const char *label, const json_t *def, char **err)
{
    struct cs_config unplaced = {.path = (char *)label, .root = (json_t *)def, .positions = json_object()};
    const char *leg;
    json_t *v;
    char *errs = NULL;

    if (!cs_legs_has(def))
        check_oneway(e, &unplaced, "", def, &errs);
    json_object_foreach (json_object_get(def, "legs"), leg, v) {
        json_t *legdef = cs_legs_definition(def, leg);
        char *wpath = cs_xasprintf("legs.%s", leg);
        check_oneway(e, &unplaced, wpath, legdef, &errs);
        free(wpath);
        json_decref(legdef);
    }
    json_decref(unplaced.positions);
    *err = errs;
    return errs ? CS_E_INVAL : 0;
}

void cs_engine_free_endpoints(struct cs_endpoint *eps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(eps[i].name);
        json_decref(eps[i].options);
    }
    free(eps);
}

/* The path of the option a connector's refusal begins with ("max_in_flight must be ..."), when the
 * connection sets it; else the connection's path. New string. */
static char *refused_option_path(const char *path, const cs_setting *table, const json_t *conn, const char *reason)
{
    for (size_t i = 0; table[i].name; i++) {
        size_t len = strlen(table[i].name);
        if (strncmp(reason, table[i].name, len) == 0 && (reason[len] == ' ' || reason[len] == ':') &&
            json_object_get(conn, table[i].name))
            return cs_xasprintf("%s.%s", path, table[i].name);
    }
    return cs_xstrdup(path);
}

/* Create (then destroy) an instance of the connection, so that what the connector refuses in create()
 * (an option out of its range, a malformed URL) is an error at the option now rather than a FAILED
 * start. create() does no I/O (plugin.h). Returns 1 when refused. */
static int try_connector(const struct cs_config *cfg, const char *path, const char *name, const struct cs_component *c,
                         const json_t *conn, const json_t *opts, char **errs)
{
    const cs_connector *k = &c->u.connector;
    struct cs_ctx *ctx = cs_ctx_new("check", name, NULL, NULL, NULL);
    void *inst = NULL;
    cs_status st;
    cs_ctx_set_connection(ctx, k, name, opts);
    st = k->create(&cs_host_table, ctx, opts, &inst);
    if (st == CS_OK) {
        k->destroy(inst);
    } else {
        const char *reason = cs_ctx_reason(ctx, "refused by the connector, which gave no reason");
        char *at = refused_option_path(path, cs_component_options(c), conn, reason);
        append_error_at(errs, cfg, at, reason);
        free(at);
    }
    cs_ctx_free(ctx);
    return st != CS_OK;
}

struct cs_endpoint *cs_engine_build_endpoints(const struct cs_engine *e, const struct cs_config *cfg, size_t *n,
                                              char **errs)
{
    json_t *conns = json_object_get(cfg->root, "connections"), *conn;
    struct cs_endpoint *eps = cs_xcalloc(json_object_size(conns), sizeof *eps);
    const char *name;
    *n = 0;
    json_object_foreach (conns, name, conn) {
        char *path = cs_xasprintf("connections.%s", name), *cpath = cs_xasprintf("%s.connector", path);
        const struct cs_component *c = find_component(e, cfg, cpath, CS_KIND_CONNECTOR,
                                                      json_string_value(json_object_get(conn, "connector")), errs);
        json_t *opts = c ? resolve_options(cfg, path, c, "connector", errs) : NULL;
        if (opts && try_connector(cfg, path, name, c, conn, opts, errs)) {
            json_decref(opts);
            opts = NULL;
        }
        if (opts)
            eps[(*n)++] = (struct cs_endpoint){cs_xstrdup(name), c, opts};
        free(cpath);
        free(path);
    }
    return eps;
}
