/*
 * writer.c - a writer thread of a running workflow: claims due backlog rows (never a key already in
 * flight), maps them through its own pipelines (entity handler and stages of each mapping), hands the
 * mapped ones to its own sink instance, and settles each row in one transaction: written or filtered
 * rows leave the backlog, rejected ones become dead letters with the stage's or the sink's status and
 * detail, transient failures are rescheduled with backoff (honouring Retry-After). A whole-batch
 * CS_RETRY suspends every writer of the workflow until the backoff ends; CS_FATAL fails the workflow
 * and returns the batch, which stays queued. What the sink stores with kv_put inside write() is held
 * in its context and committed in the transaction that settles the batch.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "state/backlog.h"
#include "util/backoff.h"
#include "util/log.h"
#include "mapping_check.h"
#include "util/util.h"
#include "workflow_run.h"

struct batch {
    size_t n;                /* claims */
    struct cs_claim *claims; /* .record: after mapping, the mapped record (NULL when filtered out) */
    cs_record **records;     /* what the sink gets: the first n_out mapped records */
    size_t *origin;          /* records[j] is claims[origin[j]].record */
    size_t n_out;
    struct cs_outcome *out; /* per claim */
    int64_t *retry_after;
    char **details; /* owned copies of what set_result or a stage reported */
};

static void on_result(void *arg, size_t index, cs_status st, int http, int64_t retry_after, const char *detail)
{
    struct batch *b = arg;
    if (index >= b->n_out || st == CS_OK || st == CS_NODATA)
        return;
    index = b->origin[index];
    b->out[index].status = st == CS_REJECT ? CS_REJECT : CS_RETRY; /* a per-record FATAL cannot be settled */
    b->out[index].http_status = http;
    b->retry_after[index] = retry_after;
    free(b->details[index]);
    b->details[index] = cs_xstrdup(detail ? detail : "no detail given");
}

static const struct cs_ctx_hooks writer_hooks = {.set_result = on_result};

static void batch_reset(struct batch *b, const char *failed_in)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->details[i]);
        b->details[i] = NULL;
        b->retry_after[i] = 0;
        b->out[i] = (struct cs_outcome){.seq = b->claims[i].seq, .status = CS_OK, .failed_in = failed_in};
    }
}

static void batch_release(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        json_decref(b->claims[i].record);
}

/* Commit the sink's held key/value writes on their own; on failure they stay held for the next batch. */
static void keep_kv(struct cs_instance *sink)
{
    if (cs_ctx_kv_keep(sink->ctx) != 0)
        cs_log(CS_LOG_WARNING, sink->ctx->scope,
               "cannot store the sink's key/value writes (%s); kept in memory "
               "for the next batch",
               cs_backlog_errmsg(sink->ctx->backlog));
}

/* Give the batch's rows back unsettled: claimable again, no attempt counted. The sink's key/value
 * writes are committed first: they record remote writes that happened, and whichever writer claims
 * these rows again must see them. */
static void return_to_backlog(struct cs_workflow *wf, struct cs_instance *sink, const struct batch *b)
{
    int64_t *seqs = cs_xcalloc(b->n, sizeof *seqs);
    keep_kv(sink);
    for (size_t i = 0; i < b->n; i++)
        seqs[i] = b->claims[i].seq;
    cs_backlog_release(wf->env.backlog, wf->id, seqs, b->n);
    free(seqs);
}

/* Whole-batch RETRY: suspend every writer of the workflow; returns the time writing resumes. */
static int64_t suspend_writers(struct cs_run *run, struct cs_instance *sink)
{
    struct cs_workflow *wf = run->wf;
    int64_t until;
    char clock[16], *text;
    pthread_mutex_lock(&wf->lock);
    wf->writer_failures++;
    until = cs_now_ms() + cs_backoff_delay(run->set.retry_base_ms, run->set.retry_cap_ms, wf->writer_failures,
                                           sink->ctx->reason_retry_after_ms);
    if (until > wf->suspended_until)
        wf->suspended_until = until;
    until = wf->suspended_until;
    pthread_mutex_unlock(&wf->lock);
    cs_format_clock(until, clock, sizeof clock);
    text = cs_xasprintf("backing off until %s: %s from %s", clock, cs_ctx_reason(sink->ctx, "temporary failure"),
                        sink->connection);
    cs_workflow_set_substate(wf, 1, text);
    free(text);
    return until;
}

static void writers_recovered(struct cs_workflow *wf)
{
    int was_failing;
    pthread_mutex_lock(&wf->lock);
    was_failing = wf->writer_failures > 0 && cs_now_ms() >= wf->suspended_until;
    if (was_failing)
        wf->writer_failures = 0;
    pthread_mutex_unlock(&wf->lock);
    if (was_failing)
        cs_workflow_set_substate(wf, 1, NULL);
}

/* Turn per-record RETRYs into schedules, or into dead letters once attempts or age run out. */
static void settle_retries(struct cs_run *run, struct batch *b, int64_t now)
{
    for (size_t i = 0; i < b->n; i++) {
        struct cs_outcome *o = &b->out[i];
        int attempts = b->claims[i].attempts + 1;
        if (o->status != CS_RETRY)
            continue;
        if (run->set.max_attempts > 0 && attempts >= run->set.max_attempts) {
            o->status = CS_REJECT;
            o->error_class = "retries_exhausted";
        } else if (run->set.max_age_ms > 0 && now - b->claims[i].enqueued_at > run->set.max_age_ms) {
            o->status = CS_REJECT;
            o->error_class = "expired";
        } else if (!o->next_attempt_at) {
            o->next_attempt_at =
                now + cs_backoff_delay(run->set.retry_base_ms, run->set.retry_cap_ms, attempts, b->retry_after[i]);
        }
    }
}

static struct cs_pipeline *pipeline_for(const struct cs_writer_arg *wa, const char *stream)
{
    for (size_t i = 0; stream && i < wa->n_pipelines; i++)
        if (strcmp(cs_pipeline_stream(wa->pipelines[i]), stream) == 0)
            return wa->pipelines[i];
    return NULL;
}

/* Map every claimed record: mapped ones go to b->records, a rejected one is settled as a dead letter
 * of class mapping_failed, a filtered one as done. CS_OK, or the CS_RETRY / CS_FATAL of a stage that
 * cannot map now (reason on the sink's context): the whole batch then waits. */
static cs_status map_batch(const struct cs_writer_arg *wa, struct batch *b)
{
    b->n_out = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct cs_pipeline *p = pipeline_for(wa, cs_record_stream(b->claims[i].record));
        struct cs_map_failure mf = {0};
        cs_status st = p ? cs_pipeline_apply(p, &b->claims[i].record, &mf) : CS_REJECT;
        if (!p)
            mf = (struct cs_map_failure){"crmsyncd", cs_xasprintf("no mapping for stream \"%s\" in this revision of "
                                                                  "the workflow",
                                                                  cs_record_stream(b->claims[i].record))};
        if (st == CS_OK && b->claims[i].record) {
            b->origin[b->n_out] = i;
            b->records[b->n_out++] = b->claims[i].record;
        } else if (st == CS_REJECT) {
            b->out[i].status = CS_REJECT;
            b->out[i].error_class = "mapping_failed";
            b->out[i].failed_in = mf.failed_in;
            b->details[i] = mf.detail;
        } else if (st != CS_OK) {
            char *text = cs_xasprintf("%s from stage %s", mf.detail, mf.failed_in);
            cs_ctx_set_reason(wa->sink->ctx, 0, -1, text);
            free(text);
            free(mf.detail);
            return st;
        }
    }
    return CS_OK;
}

/* Hand the mapped records to the sink, holding its key/value writes; a whole-batch status applies to
 * each of them. */
static cs_status send_batch(struct cs_run *run, struct cs_instance *sink, struct batch *b)
{
    const cs_connector *c = &sink->component->u.connector;
    int64_t t0 = cs_mono_ms();
    cs_status st;
    cs_ctx_kv_hold(sink->ctx, 1);
    st = c->write(sink->inst, b->records, b->n_out);
    cs_ctx_kv_hold(sink->ctx, 0);
    cs_workflow_observe_write(run->wf, cs_mono_ms() - t0);
    return st;
}

/* Every record handed to the sink (`all`: every record, when a stage could not map now) gets `st`. */
static void whole_batch(struct cs_run *run, struct cs_instance *sink, struct batch *b, cs_status st, int all)
{
    int64_t until = st == CS_RETRY ? suspend_writers(run, sink) : 0;
    for (size_t j = 0; j < (all ? b->n : b->n_out); j++) {
        size_t i = all ? j : b->origin[j];
        b->out[i].status = st;
        b->out[i].http_status = sink->ctx->reason_http;
        b->out[i].next_attempt_at = until;
        free(b->details[i]);
        b->details[i] = cs_xstrdup(cs_ctx_reason(sink->ctx, "no reason given"));
    }
}

/* host-side describer of a writer: its own sink for "target"; the source is the reader's (not asked). */
static cs_status writer_describe(void *arg, const char *side, const char *stream, json_t **out, struct cs_ctx *caller)
{
    const struct cs_writer_arg *wa = arg;
    *out = NULL;
    return strcmp(side, "target") == 0 ? cs_instance_describe(wa->sink, stream, out, caller) : CS_NODATA;
}

#define DRIFT_RECHECK_MS 30000

/* The sink refused records. If that is because a mapped field left the destination or changed its type
 * (schema drift: Adobe asks operators to stop the workflow before publishing such a change), the
 * batch stays queued and the workflow fails naming the field; it is written once the mapping is fixed
 * and the workflow started again. Checked at most every DRIFT_RECHECK_MS per writer. 1 on drift. */
static int schema_drifted(struct cs_writer_arg *wa)
{
    int64_t now = cs_mono_ms();
    struct cs_ctx *ctx;
    json_t *rows;
    char *why = NULL;
    cs_status st;
    if (wa->mapping_checked_at && now - wa->mapping_checked_at < DRIFT_RECHECK_MS)
        return 0;
    wa->mapping_checked_at = now;
    ctx = cs_ctx_new(wa->run->wf->id, "core", NULL, NULL, NULL);
    rows = json_object();
    st = cs_mapping_check_live(wa->run->definition, writer_describe, wa, ctx, rows, &why, NULL);
    if (st == CS_FATAL)
        cs_workflow_fatal(wa->run->wf, "the destination's schema no longer fits the mapping: %s", why);
    free(why);
    json_decref(rows);
    cs_ctx_free(ctx);
    return st == CS_FATAL;
}

static int any_rejected(const struct batch *b)
{
    for (size_t j = 0; j < b->n_out; j++)
        if (b->out[b->origin[j]].status == CS_REJECT)
            return 1;
    return 0;
}

/* Map, write and settle one claimed batch. */
static void write_batch(struct cs_writer_arg *wa, struct batch *b)
{
    struct cs_run *run = wa->run;
    struct cs_instance *sink = wa->sink;
    struct cs_workflow *wf = run->wf;
    int64_t now, ok = 0, retried = 0, rejected = 0, filtered = 0;
    struct cs_kv_writes kv;
    cs_status st;
    int stage_failed;

    batch_reset(b, sink->component->plugin->desc.name);
    cs_ctx_clear_reason(sink->ctx);
    st = map_batch(wa, b);
    stage_failed = st != CS_OK;
    if (!stage_failed && b->n_out)
        st = send_batch(run, sink, b);
    now = cs_now_ms();
    if (st == CS_FATAL) {
        return_to_backlog(wf, sink, b);
        cs_workflow_fatal(wf, "sink \"%s\": %s", sink->connection, cs_ctx_reason(sink->ctx, "no reason given"));
        return;
    }
    if (st == CS_RETRY || st == CS_REJECT)
        whole_batch(run, sink, b, st, stage_failed);
    if (!stage_failed && any_rejected(b) && schema_drifted(wa)) {
        return_to_backlog(wf, sink, b);
        return;
    }
    settle_retries(run, b, now);
    for (size_t i = 0; i < b->n; i++) {
        b->out[i].detail = b->details[i];
        filtered += b->out[i].status == CS_OK && !b->claims[i].record;
        ok += b->out[i].status == CS_OK && b->claims[i].record;
        retried += b->out[i].status == CS_RETRY;
        rejected += b->out[i].status == CS_REJECT;
    }
    if (cs_backlog_complete(wf->env.backlog, wf->id, b->out, b->n, cs_ctx_kv_held(sink->ctx, &kv)) != 0) {
        cs_log(CS_LOG_ERROR, sink->ctx->scope,
               "cannot settle a batch of %zu in the state database (%s); it "
               "stays queued and will be written again",
               b->n, cs_backlog_errmsg(wf->env.backlog));
        return_to_backlog(wf, sink, b);
        cs_workflow_sleep_until(wf, now + 1000);
        return;
    }
    cs_ctx_kv_settled(sink->ctx);
    atomic_fetch_add(&wf->records_written, ok);
    atomic_fetch_add(&wf->records_filtered, filtered);
    cs_rate_add(&wf->write_rate, ok);
    atomic_fetch_add(&wf->write_retries, retried);
    atomic_fetch_add(&wf->records_rejected, rejected);
    if (ok || filtered) {
        atomic_store(&wf->last_success_at, now);
        writers_recovered(wf);
    }
    cs_workflow_wake(wf); /* the reader may be waiting below the high-water mark */
}

/* Returns 1 while the workflow's writers are suspended (after sleeping until the suspension ends). */
static int suspended(struct cs_workflow *wf)
{
    int64_t until;
    pthread_mutex_lock(&wf->lock);
    until = wf->suspended_until;
    pthread_mutex_unlock(&wf->lock);
    if (until <= cs_now_ms())
        return 0;
    cs_workflow_sleep_until(wf, until);
    return 1;
}

/* Nothing claimable: wait for new rows, a completion, or the next scheduled retry (at most 1 s). */
static void wait_for_rows(struct cs_workflow *wf)
{
    int64_t now = cs_now_ms(), next_due = INT64_MAX;
    cs_backlog_next_due(wf->env.backlog, wf->id, &next_due);
    cs_workflow_wait(wf, next_due > now && next_due < now + 1000 ? next_due : now + 1000);
}

void *cs_writer_main(void *arg)
{
    struct cs_writer_arg *wa = arg;
    struct cs_run *run = wa->run;
    struct cs_workflow *wf = run->wf;
    size_t max = (size_t)run->set.batch_size;
    struct batch b = {0};

    pthread_setname_np(pthread_self(), "crmsync-writer"); /* how tools (bench/benchlib.py) tell the sides */
    b.claims = cs_xcalloc(max, sizeof *b.claims);
    b.records = cs_xcalloc(max, sizeof *b.records);
    b.origin = cs_xcalloc(max, sizeof *b.origin);
    b.out = cs_xcalloc(max, sizeof *b.out);
    b.retry_after = cs_xcalloc(max, sizeof *b.retry_after);
    b.details = cs_xcalloc(max, sizeof *b.details);
    cs_ctx_set_hooks(wa->sink->ctx, &writer_hooks, &b);
    while (!atomic_load(&wf->stopping)) {
        if (suspended(wf))
            continue;
        b.n = 0;
        if (cs_backlog_claim(wf->env.backlog, wf->id, cs_now_ms(), max, b.claims, &b.n) != 0) {
            cs_workflow_sleep_until(wf, cs_now_ms() + 1000);
            continue;
        }
        if (b.n == 0) {
            wait_for_rows(wf);
            continue;
        }
        atomic_fetch_add(&wf->batches_in_flight, 1);
        write_batch(wa, &b);
        batch_release(&b);
        atomic_fetch_sub(&wf->batches_in_flight, 1);
    }
    keep_kv(wa->sink); /* what a failed commit left held */
    cs_ctx_set_hooks(wa->sink->ctx, NULL, NULL);
    for (size_t i = 0; i < max; i++)
        free(b.details[i]);
    free(b.claims);
    free(b.records);
    free(b.origin);
    free(b.out);
    free(b.retry_after);
    free(b.details);
    return NULL;
}
