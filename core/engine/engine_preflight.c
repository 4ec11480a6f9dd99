/*
 * engine_preflight.c - preflight and setup (engine.h): what each connection's connector says of the
 * prerequisites its remote system must meet for the workflows asked about (cs_connector.preflight,
 * plugin ABI 1.4), or with setup what it creates there. The core gathers what the workflows need of
 * each connection: for every workflow using it, its side (source or sink) and its mappings, each with
 * what its entity handler writes (cs_entity.needs) and, for a sink, what the source says of the
 * stream's fields; then asks each connection on a fresh instance, holding no lock. A connection that
 * cannot be asked is one failed check naming the cause; the others are asked all the same.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_private.h"
#include "host/host.h"
#include "util/log.h"
#include "config/mapping.h"
#include "pipeline.h"
#include "util/util.h"

/* The ids of the workflows asked about (every one when `ids` is NULL or empty), as a new array; an
 * unknown id is CS_E_NOTFOUND with *err. */
static int select_workflows(struct cs_engine *e, const json_t *ids, json_t **out, char **err)
{
    json_t *all = json_array(), *id;
    size_t i;
    pthread_rwlock_rdlock(&e->ops);
    for (size_t w = 0; w < e->n_flows; w++)
        json_array_append_new(all, json_string(e->flows[w]->id));
    pthread_rwlock_unlock(&e->ops);
    if (json_array_size(ids) == 0) {
        *out = all;
        return 0;
    }
    json_array_foreach (ids, i, id) {
        int known = 0;
        for (size_t k = 0; k < json_array_size(all); k++)
            known |= json_equal(json_array_get(all, k), id);
        if (!known) {
            *err = cs_engine_unknown(json_is_string(id) ? json_string_value(id) : "?");
            json_decref(all);
            return CS_E_NOTFOUND;
        }
    }
    json_decref(all);
    *out = json_incref((json_t *)ids);
    return 0;
}

/* What the entity handler of mapping `m` of `def` writes into its target (new), or NULL. */
static json_t *handler_needs(struct cs_engine *e, const char *id, const json_t *def, size_t m)
{
    struct cs_config unplaced = {.path = (char *)id, .root = (json_t *)def, .positions = json_object()};
    char *errs = NULL, *err = NULL;
    json_t *resolved = cs_engine_check_mappings(e, &unplaced, "", def, &errs);
    json_t *streams = cs_mapping_streams(def), *needs = NULL;
    struct cs_pipeline_env env = {e->registry, NULL, NULL, "preflight", NULL, NULL, streams};
    struct cs_pipeline *p = NULL;
    if (resolved && cs_pipeline_new(&env, json_array_get(json_object_get(def, "mappings"), m),
                                    json_array_get(resolved, m), &p, &err) == 0)
        needs = cs_pipeline_needs(p);
    cs_pipeline_free(p);
    json_decref(streams);
    json_decref(resolved);
    json_decref(unplaced.positions);
    free(errs);
    free(err);
    return needs;
}

/* The mappings of workflow `def` as its `side` connection sees them: mapping_streams elements, a sink's
 * with the handler's needs and the source's fields. */
static json_t *side_mappings(struct cs_engine *e, const char *id, const json_t *def, const char *side)
{
    json_t *elements = cs_mapping_streams(def), *el;
    const char *source = json_string_value(json_object_get(def, "source"));
    size_t i;
    if (strcmp(side, "sink") != 0)
        return elements;
    json_array_foreach (elements, i, el) {
        json_t *needs = handler_needs(e, id, def, i), *desc = NULL;
        char *err = NULL;
        if (needs)
            json_object_set_new(el, "needs", needs);
        if (json_object_get(json_object_get(el, "mapping"), "fields") &&
            cs_engine_conn_describe(e, source, json_string_value(json_object_get(el, "stream")), &desc, &err) == 0)
            json_object_set(el, "source_fields", json_object_get(desc, "fields"));
        json_decref(desc);
        free(err);
    }
    return elements;
}

/* The one-way definitions of normalized `def` that run: itself, or each leg its direction runs (legs.h).
 * New. */
static json_t *one_ways(const json_t *def)
{
    json_t *out = json_array(), *v;
    const char *leg;
    if (!cs_legs_has(def))
        json_array_append(out, (json_t *)def);
    json_object_foreach ((json_t *)json_object_get(def, "legs"), leg, v)
        if (cs_legs_runs(def, leg))
            json_array_append_new(out, cs_legs_definition(def, leg));
    return out;
}

/* conn -> {"workflows": [...]}: what each connection is asked, for the workflows `ids`. A workflow whose
 * definition cannot be read is a failed check in `checks`. */
static json_t *gather(struct cs_engine *e, const json_t *ids, json_t *checks)
{
    static const char *const sides[] = {"source", "sink"};
    json_t *by_conn = json_object(), *idv, *ways, *way;
    size_t i, w;
    json_array_foreach (ids, i, idv) {
        const char *id = json_string_value(idv);
        char *err = NULL;
        int64_t rev;
        json_t *def = cs_engine_latest_definition(e, id, &rev, &err);
        if (!def) {
            json_array_append_new(checks, json_pack("{s:s, s:s, s:b, s:s, s:s}", "workflow", id, "check", "definition",
                                                    "ok", 0, "detail", err ? err : "unreadable", "fix",
                                                    "correct the workflow's definition (crmsyncctl edit)"));
            free(err);
            continue;
        }
        ways = one_ways(def);
        json_array_foreach (ways, w, way) { /* a leg's checks are said of its workflow, as the operator knows it */
            for (int s = 0; s < 2; s++) {
                const char *conn = json_string_value(json_object_get(way, sides[s]));
                json_t *need = json_object_get(by_conn, conn);
                if (!need)
                    json_object_set_new(by_conn, conn, need = json_pack("{s:[]}", "workflows"));
                json_array_append_new(json_object_get(need, "workflows"),
                                      json_pack("{s:s, s:O?, s:s, s:o}", "id", id, "title",
                                                json_object_get(def, "title"), "side", sides[s], "mappings",
                                                side_mappings(e, id, way, sides[s])));
            }
        }
        json_decref(ways);
        json_decref(def);
    }
    return by_conn;
}

/* One failed check of connection `conn` itself. */
static json_t *failed(const char *conn, const char *check, const char *detail, const char *fix)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:s}", "connection", conn, "check", check, "ok", 0, "detail", detail, "fix",
                     fix);
}

/* Ask connection `conn` (preflight flags `flags`); its checks or steps appended to `out`. */
static void ask(struct cs_engine *e, const char *conn, const json_t *need, unsigned flags, json_t *out)
{
    struct cs_probe p;
    cs_status st;
    char *err = NULL;
    json_t *got = NULL, *item;
    size_t i;
    int rc = cs_probe_create(e, conn, &p, &st, &err);

    if (rc != 0) {
        json_array_append_new(out, failed(conn, "connection", err, "correct the connection in the configuration"));
    } else if (!p.c->preflight) {
        char *detail = cs_xasprintf("the %s connector has no preflight; its workflows check what they need when "
                                    "they start",
                                    p.c->name);
        json_array_append_new(out, json_pack("{s:s, s:s, s:b, s:s}", "connection", conn, "check", "preflight", "ok", 1,
                                             "detail", detail));
        free(detail);
    } else {
        st = p.c->preflight(p.inst, need, flags, &got);
        json_array_foreach (got, i, item) {
            json_object_set_new(item, "connection", json_string(conn));
            json_array_append(out, item);
        }
        if (st != CS_OK)
            json_array_append_new(out, failed(conn, (flags & CS_PREFLIGHT_SETUP) ? "setup" : "preflight",
                                              cs_ctx_reason(p.ctx, "the connector stopped and gave no reason"),
                                              "correct what the detail names and run it again"));
    }
    json_decref(got);
    free(err);
    cs_probe_close(&p);
}

/* Does connection `conn` use connector or connection name `what`? */
static int is_setup_target(struct cs_engine *e, const char *conn, const char *what)
{
    const struct cs_endpoint *ep;
    int yes;
    pthread_mutex_lock(&e->lock);
    ep = cs_engine_find_endpoint(e->endpoints, e->n_endpoints, conn);
    yes = ep && (strcmp(conn, what) == 0 || strcmp(ep->connector->u.connector.name, what) == 0);
    pthread_mutex_unlock(&e->lock);
    return yes;
}

int cs_engine_preflight(struct cs_engine *e, const json_t *ids, const char *setup_for, int dry_run, json_t **out,
                        char **err)
{
    json_t *selected = NULL, *by_conn, *need, *items = json_array(), *item;
    unsigned flags = setup_for ? CS_PREFLIGHT_SETUP | (dry_run ? CS_PREFLIGHT_DRY_RUN : 0) : CS_PREFLIGHT_CHECK;
    const char *conn;
    size_t asked = 0, i, bad = 0, changed = 0;
    int rc;

    *out = NULL;
    *err = NULL;
    if ((rc = select_workflows(e, ids, &selected, err)) != 0) {
        json_decref(items);
        return rc;
    }
    by_conn = gather(e, selected, items);
    json_object_foreach (by_conn, conn, need) {
        if (setup_for && !is_setup_target(e, conn, setup_for))
            continue;
        ask(e, conn, need, flags, items);
        asked++;
    }
    json_decref(by_conn);
    json_decref(selected);
    if (setup_for && !asked) {
        *err = cs_xasprintf("no workflow uses a connection named %s or of the connector %s", setup_for, setup_for);
        json_decref(items);
        return CS_E_NOTFOUND;
    }
    json_array_foreach (items, i, item) {
        bad += !json_is_true(json_object_get(item, "ok"));
        changed += json_is_true(json_object_get(item, "changed"));
    }
    if (setup_for)
        *out = json_pack("{s:b, s:b, s:I, s:o}", "ok", bad == 0, "dry_run", dry_run, "changed", (json_int_t)changed,
                         "steps", items);
    else
        *out = json_pack("{s:b, s:I, s:o}", "ok", bad == 0, "failed", (json_int_t)bad, "checks", items);
    cs_log(CS_LOG_NOTICE, "admin", "%s: %zu connection(s) asked, %zu %s", setup_for ? "setup" : "preflight", asked,
           setup_for ? changed : bad, setup_for ? "change(s)" : "failed check(s)");
    return 0;
}
