/*
 * engine_private.h - shared by the engine's files: engine.c (the workflows, configuration changes and
 * start/stop), engine_check.c (checking a configuration or a definition against the loaded plugins
 * and the connections) and engine_admin.c (what the admin API reads and edits).
 */
#ifndef CS_ENGINE_PRIVATE_H
#define CS_ENGINE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "config/config.h"
#include "engine.h"
#include "config/legs.h"
#include "host/loader.h"
#include "workflow.h"

/* One workflow as the operator sees it (engine_flow.c): a one-way workflow runs as one internal workflow
 * under its own id; one with legs runs one per leg under "<id>/<leg>" (legs.h). */
struct cs_flow {
    char *id;
    size_t n_legs;
    char *leg_names[CS_LEGS_MAX]; /* NULL for a one-way workflow */
    struct cs_workflow *legs[CS_LEGS_MAX];
};

/* A connection as the engine resolved it. */
struct cs_endpoint {
    char *name;
    const struct cs_component *connector;
    json_t *options; /* validated, secrets resolved */
};

struct cs_engine {
    const struct cs_registry *registry;
    struct cs_backlog *backlog;
    pthread_mutex_t lock; /* guards cfg and endpoints, which starting workflows read */
    struct cs_config *cfg;
    struct cs_endpoint *endpoints;
    size_t n_endpoints;
    pthread_rwlock_t ops; /* the workflow list: read-held by operations, write-held to replace it */
    struct cs_flow **flows;
    size_t n_flows;
    atomic_int closing; /* the daemon is stopping: no workflow starts any more (cs_engine_shutdown) */
    /* held by a start or stop, the operator's or the fleet's (engine_fleet.c), so that the desired state
     * and revision stored and what runs change together; after `ops` in the lock order */
    pthread_mutex_t operating;
    /* engine_fleet.c: this daemon in the fleet; NULL until it joined (the admin API already answers) */
    struct cs_fleet *_Atomic fleet;
    /* engine_await.c: until the state store is open, the workflows as the admin API shows them (each
     * STARTING) and why; NULL once it is open. Guards `backlog`'s arrival too. */
    pthread_mutex_t awaiting_mu;
    json_t *awaiting;
    char *awaiting_why;
};

/* ---- engine_await.c ---- */

/* 1 while the engine waits for its state store: *out (new) is every workflow as shown meanwhile (`id`
 * NULL) or workflow `id` (NULL when there is none). 0 once the store is open (*out NULL). */
int cs_engine_awaiting(struct cs_engine *e, const char *id, json_t **out);

/* ---- engine_flow.c ---- */

/* The flow of a normalized definition, its internal workflows STOPPED. */
struct cs_flow *cs_flow_new(const json_t *def, const struct cs_workflow_env *env);
/* Stops every leg gracefully, then frees. */
void cs_flow_free(struct cs_flow *f);
/* Nonzero when `def` has the legs the flow was made with (or none, like it). */
int cs_flow_same_shape(const struct cs_flow *f, const json_t *def);
enum cs_wf_status cs_flow_status(struct cs_flow *f);
/* Nonzero when a leg is STARTING or RUNNING. */
int cs_flow_active(struct cs_flow *f);
/* Start the legs the normalized definition's direction selects with revision `rev` (legs still running
 * beside a FAILED one are stopped first). CS_E_STATE with *err (new) when the direction runs none. */
int cs_flow_start(struct cs_flow *f, const json_t *def, int64_t rev, char **err);
void cs_flow_stop(struct cs_flow *f);
/* As cs_workflow_snapshot, for the whole workflow; with legs, each leg's own under "legs". New. */
json_t *cs_flow_snapshot(struct cs_flow *f);
/* Why a leg is stalled (cs_workflow_stalled), naming the leg. New, or NULL. */
char *cs_flow_stalled(struct cs_flow *f);
/* The internal workflow that reads `stream` in the normalized definition, or NULL. */
struct cs_workflow *cs_flow_leg_of_stream(struct cs_flow *f, const json_t *def, const char *stream);

/* ---- engine_check.c ---- */

/* Resolve every connection of `cfg` against the loaded connectors (errors appended to *errs). */
struct cs_endpoint *cs_engine_build_endpoints(const struct cs_engine *e, const struct cs_config *cfg, size_t *n,
                                              char **errs);
void cs_engine_free_endpoints(struct cs_endpoint *eps, size_t n);
const struct cs_endpoint *cs_engine_find_endpoint(const struct cs_endpoint *eps, size_t n, const char *name);
/* A workflow's source and sink can read and write; with report_unknown, unknown names are errors too. */
void cs_engine_check_roles(const struct cs_config *cfg, const char *wpath, const json_t *def,
                           const struct cs_endpoint *eps, size_t n_eps, int report_unknown, char **errs);
/* Resolve every entity/stage invocation of the workflow at `wpath`: a new array per mapping of resolved
 * option objects, or NULL with errors appended. */
json_t *cs_engine_check_mappings(const struct cs_engine *e, const struct cs_config *cfg, const char *wpath,
                                 const json_t *def, char **errs);
/* A normalized definition's references for the current configuration; errors "<label>: <path>: ...". */
int cs_engine_check_references(struct cs_engine *e, const char *label, const json_t *def, char **err);

/* ---- engine_meta.c: a connection's connector instance outside any workflow ---- */

struct cs_probe {
    const cs_connector *c;
    struct cs_ctx *ctx;
    void *inst;
    int started;
};
/* Create (no start) an instance of connection `name`. 0; CS_E_NOTFOUND; or CS_E_IO with *err (new) and
 * *st the connector's status. Close it with cs_probe_close() whatever the result. */
int cs_probe_create(struct cs_engine *e, const char *name, struct cs_probe *p, cs_status *st, char **err);
void cs_probe_close(struct cs_probe *p);

/* ---- engine.c ---- */

/* The workflow `id` (and its index); the list lock must be held. */
struct cs_flow *cs_engine_find_flow(struct cs_engine *e, const char *id, size_t *index);
/* Run `op` on workflow `id` with the workflow list read-locked, or CS_E_NOTFOUND. */
int cs_engine_with_flow(struct cs_engine *e, const char *id, void *arg,
                        int (*op)(struct cs_engine *, struct cs_flow *, void *));

/* The latest revision of `id`, checked: its normalized definition (new) or NULL with *err. */
json_t *cs_engine_latest_definition(struct cs_engine *e, const char *id, int64_t *rev, char **err);
/* Revision *rev of `id` (0: the latest, *rev set to it), checked, as cs_engine_latest_definition. */
json_t *cs_engine_definition_at(struct cs_engine *e, const char *id, int64_t *rev, char **err);
/* Start `f` with revision `rev` (0: the latest), `operating` held. 0, or why not in *err (new). */
int cs_engine_start_flow_at(struct cs_engine *e, struct cs_flow *f, int64_t rev, char **err);

/* ---- engine_fleet.c ---- */

/* Add to a workflow's snapshot where it runs: "reader" (the node holding its reader lease, or null) and
 * "writers" ({node: writer threads}), as the fleet was last seen. */
void cs_fleet_describe(struct cs_engine *e, struct cs_flow *f, json_t *snap);

#endif
