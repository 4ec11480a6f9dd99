/*
 * workflow_run.h - private to workflow.c, reader.c and writer.c: the state of one workflow and of its
 * current run (instances, threads, settings). Locking: wf->lock guards the status fields and is the
 * mutex of wf->wake, the condition every thread of the run sleeps on; counters are atomics.
 */
#ifndef CS_WORKFLOW_RUN_H
#define CS_WORKFLOW_RUN_H

#include <pthread.h>
#include <stdatomic.h>

#include "host/host.h"
#include "host/loader.h"
#include "pipeline.h"
#include "util/rate.h"
#include "workflow.h"

/* One connector instance with its context. */
struct cs_instance {
    const struct cs_component *component;
    char *connection; /* the connection's name, for messages */
    struct cs_ctx *ctx;
    void *inst;
};

struct cs_run_settings {
    int writers, batch_size, read_batch;
    int64_t poll_ms, high_water, stall_ms;           /* stall_ms: health reports no progress after it; 0: never */
    int64_t retry_base_ms, retry_cap_ms, max_age_ms; /* max_age_ms 0: no limit */
    int max_attempts;                                /* -1: forever */
    int64_t redrive_every_ms, redrive_for_ms;        /* automatic redrive of 404 dead letters; 0: off */
};

struct cs_run;
/* What a writer thread gets: the run, its own sink instance and its own mapping pipelines (one per
 * mapping, in definition order: records are mapped when they are written). */
struct cs_writer_arg {
    struct cs_run *run;
    struct cs_instance *sink;
    struct cs_pipeline **pipelines;
    size_t n_pipelines;
    int64_t mapping_checked_at; /* last re-check of the mappings against the sink's metadata (mono ms) */
};

struct cs_run {
    struct cs_workflow *wf;
    struct cs_run_settings set;
    json_t *definition;
    json_t *resolved; /* per mapping, the validated options of its entity handler and stages */
    struct cs_instance source;
    struct cs_instance *sinks; /* one per writer */
    const char **streams;      /* the mappings' source streams, in definition order (borrowed) */
    size_t n_streams;
    pthread_t reader;
    pthread_t *writers;
    struct cs_writer_arg *writer_args;
    int threads_started;
    int64_t describe_retry_after_ms; /* of the last describe() that answered CS_RETRY while starting */
};

struct cs_workflow {
    char *id;
    struct cs_workflow_env env;
    /* Lock order: persist_lock, then lock. `lock` is a leaf: while it is held no plugin callback runs,
     * no I/O is done (state DB, log) and no other lock is taken, so a connector may call any host
     * function (set_substate included) from any of its calls, stop() and destroy() too. persist_lock
     * is held only to store the status in the state DB (workflow.c announce()), so that the stored
     * status is always the latest. */
    pthread_mutex_t persist_lock;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* status, under lock */
    enum cs_wf_status status;
    char *reason;          /* why FAILED */
    char *reader_substate; /* e.g. "backing off until ..." set by the reader */
    char *writer_substate; /* set by writers */
    char *plugin_substate; /* set by a connector (host->set_substate), shown when the others are clear */
    int64_t running_rev;
    int64_t suspended_until; /* writers pause until then (unix ms) */
    int writer_failures;     /* consecutive whole-batch failures, for backoff */
    int64_t stall_ms;        /* the running revision's stall_after */
    long long progress_seen; /* records read, written, filtered and rejected when last looked at */
    int64_t progress_at;     /* when that count last changed, or the run started (unix ms) */
    char *fatal;             /* first fatal reason of the current run */
    /* supervisor */
    pthread_t supervisor;
    int supervisor_joinable;
    atomic_int stopping;
    struct cs_run *run;
    json_t *source_rows; /* stream -> rows the source last described, for the replay guard; under lock */
    /* counters */
    struct cs_metrics *metrics;
    atomic_llong write_latency[CS_LATENCY_BUCKETS + 1]; /* write() durations per bucket, then +Inf */
    atomic_llong write_latency_sum_ms;
    struct cs_rate read_rate, write_rate;
    atomic_int source_idle;
    atomic_int batches_in_flight; /* claimed until their outcome is counted */
    atomic_llong records_read, records_written, records_filtered, records_rejected, write_retries, last_success_at;
};

/* Count one write() that took `ms`. */
void cs_workflow_observe_write(struct cs_workflow *wf, int64_t ms);

/* Record the first fatal error of the run and ask every thread to stop. */
void cs_workflow_fatal(struct cs_workflow *wf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replace the reader's (writer 0), writers' (1) or a connector's (2) sub-state (NULL clears it); logs
 * changes. */
void cs_workflow_set_substate(struct cs_workflow *wf, int writer, const char *text);
/* Sleep until `deadline_ms` (unix ms) or stop. Call with the lock NOT held. */
void cs_workflow_sleep_until(struct cs_workflow *wf, int64_t deadline_ms);
/* Like cs_workflow_sleep_until, but any cs_workflow_wake() ends the wait too. */
void cs_workflow_wait(struct cs_workflow *wf, int64_t deadline_ms);

/* The instance's describe() of `stream` (CS_NODATA when it has none); a failure's reason goes to
 * `caller`. */
cs_status cs_instance_describe(struct cs_instance *in, const char *stream, json_t **out, struct cs_ctx *caller);

void *cs_reader_main(void *run);
void *cs_writer_main(void *instance_of_run);

#endif
