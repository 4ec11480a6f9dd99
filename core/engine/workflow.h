/*
 * workflow.h - one workflow's life: STOPPED -> STARTING -> RUNNING, -> FAILED on an unrecoverable
 * error (the reason is kept), -> STOPPED on stop. A running workflow has a reader thread (source ->
 * backlog) and a pool of writer threads (backlog -> mapping -> sink), each writer with its own sink
 * instance. A transient outage is RUNNING with a sub-state ("backing off until 12:03:10: 429 from
 * d365"), never FAILED. Stop is graceful: in-flight writes finish, nothing queued is lost.
 */
#ifndef CS_WORKFLOW_H
#define CS_WORKFLOW_H

#include <jansson.h>
#include <stdint.h>

struct cs_backlog;
struct cs_component;
struct cs_registry;
struct cs_workflow;

enum cs_wf_status { CS_WF_STOPPED, CS_WF_STARTING, CS_WF_RUNNING, CS_WF_FAILED };

/* Upper bounds (ms) of the write-latency histogram's buckets; a last bucket counts the rest. */
#define CS_LATENCY_BUCKETS 11
extern const int64_t cs_latency_bounds_ms[CS_LATENCY_BUCKETS];

const char *cs_wf_status_name(enum cs_wf_status s);

/* What a workflow needs from the engine to start. The engine outlives every workflow. */
struct cs_workflow_env {
    const struct cs_registry *registry;
    struct cs_backlog *backlog;
    /* Resolve a connection by name: its connector and validated options (a new reference).
     * 0 or CS_E_NOTFOUND. */
    int (*endpoint)(void *arg, const char *name, const struct cs_component **connector, json_t **options);
    /* Validate a definition's plugin options: new array per mapping of resolved option objects, in
     * pipeline order (entity, stages...). */
    int (*resolve_mappings)(void *arg, const json_t *definition, int64_t rev, json_t **resolved, char **err);
    void *arg;
};

struct cs_workflow *cs_workflow_new(const char *id, const struct cs_workflow_env *env);
/* Stops it (gracefully) if running, then frees it. */
void cs_workflow_free(struct cs_workflow *wf);
const char *cs_workflow_id(const struct cs_workflow *wf);

/*
 * Start with `definition` (borrowed; copied) as revision `rev`. Legal from STOPPED or FAILED, else
 * CS_E_STATE. Returns at once; the workflow goes STARTING then RUNNING (or FAILED) in the background.
 */
int cs_workflow_start(struct cs_workflow *wf, const json_t *definition, int64_t rev);
/* Graceful stop; returns when the workflow is STOPPED (a FAILED one becomes STOPPED too). */
int cs_workflow_stop(struct cs_workflow *wf);

/* Wake every thread of the run: new backlog rows (enqueued, redriven), completions, stop. */
void cs_workflow_wake(struct cs_workflow *wf);

/* Rows of `stream` the source's describe() reported at the last start, or -1 when unknown. */
int64_t cs_workflow_source_rows(struct cs_workflow *wf, const char *stream);

/* Snapshot: {id, status, substate, reason, running_revision, backlog, dead_letters, last_success_at,
 * records_read, records_written, records_filtered, records_rejected, write_retries, metrics (the
 * plugins' counters), gauges (the plugins' gauges),
 * replay_pending (streams staged for the next start),
 * write_latency: {buckets: [count per cs_latency_bounds_ms, then +Inf], sum_ms},
 * rates: {read_per_s, written_per_s} over the last minute}. New object. */
json_t *cs_workflow_snapshot(struct cs_workflow *wf);
enum cs_wf_status cs_workflow_status(struct cs_workflow *wf);
int64_t cs_workflow_running_rev(struct cs_workflow *wf);
/* Writer threads of a RUNNING workflow, else 0. */
int cs_workflow_writers(struct cs_workflow *wf);

/* Why a RUNNING workflow is stalled: nothing read, written, filtered or dead-lettered for its
 * stall_after while work is pending (a backlog, or a source that has not caught up). New, or NULL. */
char *cs_workflow_stalled(struct cs_workflow *wf);

/* RUNNING, the source reported no new data on every stream since its last record, and nothing is
 * waiting in the backlog (dead letters aside). */
int cs_workflow_idle(struct cs_workflow *wf);

#endif
