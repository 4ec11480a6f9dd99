/*
 * pipeline.h - the mapping chain of one stream: the entity handler (if any), the built-in stages a
 * table mapping compiles to, then the mapping's own stages, then the record is renamed to the target
 * stream. Mapping runs in the writers, just before the sink: the backlog holds records as the source
 * read them, so a mapping changed at the next stop+start applies to what is still queued, and a
 * record a stage rejects becomes a dead letter that a redrive maps again.
 */
#ifndef CS_PIPELINE_H
#define CS_PIPELINE_H

#include <jansson.h>

#include <crmsync/plugin.h>

struct cs_backlog;
struct cs_metrics;
struct cs_registry;
struct cs_config;

struct cs_pipeline;

/* Why a record did not make it through. */
struct cs_map_failure {
    const char *failed_in; /* entity or stage name, borrowed from the registry */
    char *detail;          /* new */
};

/*
 * Build the chain of `mapping` (one element of a workflow definition's "mappings", its plugin options
 * already validated into `resolved_options`: an array parallel to [entity?, stages...]). Instances
 * are created with contexts scoped "<workflow>/<name>". On failure *err is new; CS_E_AGAIN when a
 * create() answered CS_RETRY (a transient failure, e.g. a throttled describe).
 */
struct cs_pipeline_env {
    const struct cs_registry *registry;
    struct cs_backlog *backlog;
    struct cs_metrics *metrics;
    const char *workflow;
    /* what host->describe answers inside create() (NULL: CS_NODATA), see host.h */
    cs_status (*describe)(void *arg, const char *side, const char *stream, json_t **out, struct cs_ctx *caller);
    void *describe_arg;
    const json_t *streams; /* host->mapping_streams for entity handlers */
};
int cs_pipeline_new(const struct cs_pipeline_env *env, const json_t *mapping, const json_t *resolved_options,
                    struct cs_pipeline **out, char **err);
void cs_pipeline_free(struct cs_pipeline *p);

const char *cs_pipeline_stream(const struct cs_pipeline *p);
/* Where the stream's entity handler ranks it (order(): linked parents before children, lower first);
 * 0 without one. */
int cs_pipeline_rank(const struct cs_pipeline *p);

/* What the stream's entity handler writes into the target (cs_entity.needs, plugin ABI 1.4): new, or NULL
 * when there is no handler or it does not say. */
json_t *cs_pipeline_needs(const struct cs_pipeline *p);

/* The plugin invocations of a mapping in chain order, as a new array of objects
 * {"at": "entity" | "stages[N]", "entity": true|false, "spec": <the invocation object>}. */
json_t *cs_pipeline_invocations(const json_t *mapping);

/*
 * Run *rec through the chain. CS_OK: *rec is the mapped record, or NULL when a stage dropped it.
 * CS_REJECT: *rec is unchanged ownership-wise (still the caller's) and *fail says why.
 * CS_RETRY: a stage cannot map it right now (the writer's batch waits and is tried again); CS_FATAL: a
 * stage cannot work any more. *fail says why in every case but CS_OK (free fail->detail).
 */
cs_status cs_pipeline_apply(struct cs_pipeline *p, cs_record **rec, struct cs_map_failure *fail);

#endif
