/*
 * reader.c - the reader thread of a running workflow: asks the source for each stream's changes after
 * its committed cursor and at each checkpoint commits the emitted records (as the source read them:
 * the writers map them), the dead letters of malformed or unmapped ones and the cursor in one
 * transaction, then acks the source. Records emitted after the last checkpoint of a read() are not
 * committed: the source reads them again from the old cursor. Pauses above the backlog's high-water
 * mark. In a fleet (several daemons on one state database) it reads only while this daemon holds the
 * workflow's reader lease: otherwise it stands by, trying for the lease every LEASE_POLL_MS, and reads
 * from the committed cursor once it has it; an enqueue the lease's fence refuses ends the reading at once.
 */
#include <stdlib.h>
#include <string.h>

#include "state/backlog.h"
#include "util/backoff.h"
#include "util/log.h"
#include "util/util.h"
#include "workflow_run.h"

#define LEASE_POLL_MS 1000

struct reader {
    struct cs_run *run;
    struct cs_workflow *wf;
    json_t *cursors;   /* stream -> committed cursor */
    json_t *records;   /* records since the last checkpoint */
    json_t *dead_recs; /* malformed or unmapped records, parallel to dead */
    struct cs_dead_in *dead;
    char **dead_details;
    size_t n_dead, cap_dead;
    cs_status failure;      /* CS_RETRY / CS_FATAL raised inside emit or checkpoint */
    long long read_at_idle; /* records_read when the source last caught up */
    int caught_up;          /* the source caught up once since start */
    int64_t next_redrive;   /* when dead letters refused as "not found" are next put back (unix ms) */
    char *failure_reason;
    const char *reading; /* the stream of the read() in progress */
    int leased;          /* this daemon held the reader lease when last asked */
    int fenced;          /* the fence refused the last enqueue: the lease is lost */
};

static int is_mapped(const struct cs_run *run, const char *stream)
{
    for (size_t i = 0; stream && i < run->n_streams; i++)
        if (strcmp(run->streams[i], stream) == 0)
            return 1;
    return 0;
}

static void fail(struct reader *r, cs_status st, char *reason)
{
    if (r->failure == CS_OK) {
        r->failure = st;
        r->failure_reason = reason;
    } else {
        free(reason);
    }
}

static void add_dead(struct reader *r, cs_record *rec, const char *failed_in, char *detail)
{
    if (r->n_dead == r->cap_dead) {
        r->cap_dead = r->cap_dead ? r->cap_dead * 2 : 16;
        r->dead = realloc(r->dead, r->cap_dead * sizeof *r->dead);
        r->dead_details = realloc(r->dead_details, r->cap_dead * sizeof *r->dead_details);
        if (!r->dead || !r->dead_details)
            abort();
    }
    json_array_append_new(r->dead_recs, rec);
    r->dead_details[r->n_dead] = detail;
    r->dead[r->n_dead++] =
        (struct cs_dead_in){.record = rec, .error_class = "mapping_failed", .detail = detail, .failed_in = failed_in};
}

static void clear_pending(struct reader *r)
{
    json_array_clear(r->records);
    json_array_clear(r->dead_recs);
    for (size_t i = 0; i < r->n_dead; i++)
        free(r->dead_details[i]);
    r->n_dead = 0;
}

/* What is wrong with a record that is not valid, e.g. "no key". New. */
static char *malformed(const cs_record *rec)
{
    const char *stream = cs_record_stream(rec), *key = cs_record_key(rec);
    char *why;
    size_t len;
    if (!json_is_object(rec))
        return cs_xstrdup(rec ? "not a JSON object" : "no record");
    why = cs_xasprintf("%s%s%s%s", stream && *stream ? "" : "no stream, ", key && *key ? "" : "no key, ",
                       cs_record_op(rec) != CS_OP_INVALID ? "" : "no known op, ",
                       json_is_object(cs_record_payload(rec)) ? "" : "a payload that is not an object, ");
    len = strlen(why);
    if (len >= 2)
        why[len - 2] = '\0'; /* the last ", " */
    return why;
}

/* A malformed record as its dead letter keeps it: an object that names the stream being read when it
 * names none (the record itself, or a new one holding it as its payload). Steals `rec`. */
static cs_record *dead_record(struct reader *r, cs_record *rec)
{
    const char *stream = cs_record_stream(rec);
    if (!json_is_object(rec)) {
        json_t *holder = json_object();
        cs_record_set_payload(holder, rec ? rec : json_null());
        rec = holder;
    }
    if (!stream || !*stream)
        cs_record_set_stream(rec, r->reading);
    return rec;
}

/* ---- hooks the source calls -------------------------------------------------------------------- */

static cs_status on_emit(void *arg, cs_record *rec)
{
    struct reader *r = arg;

    if (r->failure != CS_OK) {
        json_decref(rec);
        return r->failure;
    }
    if (!cs_record_is_valid(rec)) {
        char *why = malformed(rec);
        add_dead(
            r, dead_record(r, rec), r->run->source.connection,
            cs_xasprintf("the source emitted a malformed record (%s; stream, key, op and payload are required)", why));
        free(why);
        return CS_OK;
    }
    if (!is_mapped(r->run, cs_record_stream(rec))) {
        /* a source names why it emits a record on a stream meant to stay unmapped (e.g. an event that
         * cannot be told apart) in the payload's "error" */
        const char *why = json_string_value(json_object_get(cs_record_payload(rec), "error"));
        add_dead(r, rec, r->run->source.connection,
                 why ? cs_xasprintf("%s (stream \"%s\")", why, cs_record_stream(rec))
                     : cs_xasprintf("no mapping for stream \"%s\" in this workflow", cs_record_stream(rec)));
        return CS_OK;
    }
    json_array_append_new(r->records, rec);
    return CS_OK;
}

static cs_status on_checkpoint(void *arg, const char *stream, json_t *cursor)
{
    struct reader *r = arg;
    struct cs_workflow *wf = r->wf;
    size_t n = json_array_size(r->records);
    cs_record **recs = cs_xcalloc(n, sizeof *recs);
    struct cs_enqueue e;
    const cs_connector *src = &r->run->source.component->u.connector;
    int rc;

    if (r->failure != CS_OK) {
        json_decref(cursor);
        free(recs);
        return r->failure;
    }
    for (size_t i = 0; i < n; i++)
        recs[i] = json_array_get(r->records, i);
    e = (struct cs_enqueue){recs, n, r->dead, r->n_dead, stream, cursor};
    rc = cs_backlog_enqueue(wf->env.backlog, wf->id, &e);
    free(recs);
    r->fenced = rc == CS_E_FENCED;
    if (rc != 0) {
        fail(r, CS_RETRY, cs_xasprintf("the state database refused the batch: %s", cs_backlog_errmsg(wf->env.backlog)));
        json_decref(cursor);
        return CS_RETRY;
    }
    atomic_fetch_add(&wf->records_read, (long long)(n + r->n_dead));
    cs_rate_add(&wf->read_rate, (int64_t)(n + r->n_dead));
    atomic_fetch_add(&wf->records_rejected, (long long)r->n_dead);
    if (n || r->n_dead)
        atomic_store(&wf->source_idle, 0);
    clear_pending(r);
    json_object_set_new(r->cursors, stream, cursor);
    if (n)
        cs_workflow_wake(wf);
    if (src->ack)
        src->ack(r->run->source.inst, stream, cursor);
    return CS_OK;
}

static const struct cs_ctx_hooks reader_hooks = {.emit = on_emit, .checkpoint = on_checkpoint};

/* ---- the loop ---------------------------------------------------------------------------------- */

/* Wait while the backlog is above the high-water mark (and this daemon still holds the reader lease:
 * another member's reader may keep the backlog there). */
static void apply_backpressure(struct reader *r)
{
    int64_t backlog = 0, dead = 0;
    int paused = 0;
    while (!atomic_load(&r->wf->stopping) && cs_backlog_lease_held(r->wf->env.backlog, r->wf->id)) {
        cs_backlog_counts(r->wf->env.backlog, r->wf->id, &backlog, &dead);
        if (backlog < r->run->set.high_water)
            break;
        if (!paused) {
            char *text = cs_xasprintf("paused: backlog %lld at the high-water mark %lld", (long long)backlog,
                                      (long long)r->run->set.high_water);
            cs_workflow_set_substate(r->wf, 0, text);
            free(text);
            paused = 1;
        }
        cs_workflow_wait(r->wf, cs_now_ms() + 1000);
    }
    if (paused)
        cs_workflow_set_substate(r->wf, 0, NULL);
}

/* One read() of one stream. Returns its status (CS_OK, CS_NODATA, CS_RETRY or CS_FATAL). */
static cs_status read_stream(struct reader *r, const char *stream, struct cs_ctx *ctx)
{
    const cs_connector *src = &r->run->source.component->u.connector;
    /* the source borrows the cursor for the whole call: a checkpoint replaces it in r->cursors */
    json_t *cursor = json_incref(json_object_get(r->cursors, stream));
    cs_status st;

    cs_ctx_clear_reason(ctx);
    r->failure = CS_OK;
    r->reading = stream;
    st = src->read(r->run->source.inst, stream, json_is_null(cursor) ? NULL : cursor, (size_t)r->run->set.read_batch);
    json_decref(cursor);
    if (json_array_size(r->records) || r->n_dead) {
        cs_log(CS_LOG_DEBUG, ctx->scope, "%zu records emitted after the last checkpoint will be read again",
               json_array_size(r->records) + r->n_dead);
        clear_pending(r);
    }
    if (r->failure != CS_OK) {
        st = r->failure;
        cs_ctx_clear_reason(ctx);
        ctx->reason = r->failure_reason;
        r->failure_reason = NULL;
    }
    return st == CS_REJECT ? CS_FATAL : st;
}

static void load_cursors(struct reader *r)
{
    for (size_t i = 0; i < r->run->n_streams; i++) {
        const char *stream = r->run->streams[i];
        json_t *cursor = NULL;
        cs_backlog_cursor_get(r->wf->env.backlog, r->wf->id, stream, &cursor);
        json_object_set_new(r->cursors, stream, cursor ? cursor : json_null());
    }
}

/* retry.redrive_not_found: a record the sink refused with 404 usually references something that does
 * not exist yet (an event's contact); every so often such dead letters, from the last
 * redrive_not_found_for, go back into the backlog and are written once it exists. */
static void redrive_not_found(struct reader *r)
{
    const struct cs_run_settings *set = &r->run->set;
    int64_t now = cs_now_ms();
    struct cs_redrive_filter f = {404, now - set->redrive_for_ms};
    size_t n = 0;
    if (set->redrive_every_ms <= 0 || now < r->next_redrive)
        return;
    r->next_redrive = now + set->redrive_every_ms;
    if (cs_backlog_dead_redrive_matching(r->wf->env.backlog, r->wf->id, &f, &n) != 0) {
        cs_log(CS_LOG_ERROR, r->wf->id, "cannot redrive the dead letters refused as not found: %s",
               cs_backlog_errmsg(r->wf->env.backlog));
    } else if (n) {
        cs_log(CS_LOG_NOTICE, r->wf->id, "%zu dead letter(s) refused as not found (404) put back into the backlog", n);
        cs_workflow_wake(r->wf);
    }
}

static void back_off(struct reader *r, struct cs_ctx *ctx, int attempt)
{
    int64_t until = cs_now_ms() + cs_backoff_delay(r->run->set.retry_base_ms, r->run->set.retry_cap_ms, attempt,
                                                   ctx->reason_retry_after_ms);
    char clock[16], *text;
    cs_format_clock(until, clock, sizeof clock);
    text = cs_xasprintf("backing off until %s: %s from %s", clock, cs_ctx_reason(ctx, "temporary failure"),
                        r->run->source.connection);
    cs_workflow_set_substate(r->wf, 0, text);
    free(text);
    cs_workflow_sleep_until(r->wf, until);
}

/* The fleet's reader lease of this workflow: kept, or taken now (reading goes on from the committed
 * cursor), or held by another member: this daemon stands by (its writers go on) and tries again later.
 * 1 when this daemon may read. */
static int hold_lease(struct reader *r)
{
    struct cs_backlog *b = r->wf->env.backlog;
    char *holder = NULL, *text;
    int rc;
    if (r->leased && cs_backlog_lease_held(b, r->wf->id))
        return 1;
    rc = cs_backlog_lease_take(b, r->wf->id, &holder); /* a store of one process: taken at once */
    if (rc != 1 && r->leased)
        cs_log(CS_LOG_WARNING, r->wf->id,
               holder ? "reader lease lost to node %s: this node stops reading"
                      : "reader lease expired%s: this node stops reading",
               holder   ? holder
               : rc < 0 ? " (the state database cannot be reached)"
                        : "");
    r->leased = rc == 1;
    if (rc == 1) {
        load_cursors(r);
        cs_workflow_set_substate(r->wf, 0, NULL);
        atomic_store(&r->wf->source_idle, 0);
        return 1;
    }
    text = holder   ? cs_xasprintf("standby: node %s reads the source; this node writes", holder)
           : rc < 0 ? cs_xasprintf("standby: the reader lease cannot be taken: %s", cs_backlog_errmsg(b))
                    : cs_xstrdup("standby: the reader lease is being taken by another node");
    cs_workflow_set_substate(r->wf, 0, text);
    free(text);
    free(holder);
    atomic_store(&r->wf->source_idle, 1); /* the source is read elsewhere: nothing to catch up here */
    cs_workflow_sleep_until(r->wf, cs_now_ms() + LEASE_POLL_MS);
    return 0;
}

/* Read every stream once: 1 when none had anything new, 0 when one had, -1 when the pass ended early
 * (a stop, a fatal error, or the lease went). */
static int read_streams(struct reader *r, struct cs_ctx *ctx, int *attempt)
{
    int idle = 1;
    r->fenced = 0;
    for (size_t i = 0; i < r->run->n_streams && !atomic_load(&r->wf->stopping); i++) {
        cs_status st;
        apply_backpressure(r);
        if (atomic_load(&r->wf->stopping) || !cs_backlog_lease_held(r->wf->env.backlog, r->wf->id))
            return -1;
        st = read_stream(r, r->run->streams[i], ctx);
        if (r->fenced) /* not a failure of the source: the lease is gone (hold_lease says so) */
            return -1;
        if (st == CS_FATAL) {
            cs_workflow_fatal(r->wf, "source \"%s\": %s", r->run->source.connection,
                              cs_ctx_reason(ctx, "no reason given"));
            return -1;
        }
        if (st == CS_RETRY) {
            idle = 0;
            back_off(r, ctx, ++*attempt);
            continue;
        }
        if (*attempt) {
            *attempt = 0;
            cs_workflow_set_substate(r->wf, 0, NULL);
        }
        if (st == CS_OK)
            idle = 0;
    }
    return idle;
}

void *cs_reader_main(void *arg)
{
    struct reader r = {.run = arg, .wf = ((struct cs_run *)arg)->wf};
    struct cs_ctx *ctx = r.run->source.ctx;
    int attempt = 0;

    r.cursors = json_object();
    r.records = json_array();
    r.dead_recs = json_array();
    cs_ctx_set_hooks(ctx, &reader_hooks, &r);
    while (!atomic_load(&r.wf->stopping)) {
        int idle;
        if (!hold_lease(&r) || (idle = read_streams(&r, ctx, &attempt)) < 0)
            continue;
        redrive_not_found(&r);
        if (idle && !atomic_load(&r.wf->stopping)) {
            long long read = atomic_load(&r.wf->records_read);
            /* worth a notice once (the first catch-up since start); the steady ones that follow are info */
            if (read != r.read_at_idle)
                cs_log(r.caught_up ? CS_LOG_INFO : CS_LOG_NOTICE, r.wf->id,
                       "caught up with the source: %lld records read since start", read);
            r.caught_up = 1;
            r.read_at_idle = read;
            atomic_store(&r.wf->source_idle, 1);
            cs_workflow_sleep_until(r.wf, cs_now_ms() + r.run->set.poll_ms);
        }
    }
    if (r.leased)
        cs_backlog_lease_drop(r.wf->env.backlog, r.wf->id);
    cs_ctx_set_hooks(ctx, NULL, NULL);
    clear_pending(&r);
    free(r.dead);
    free(r.dead_details);
    free(r.failure_reason);
    json_decref(r.cursors);
    json_decref(r.records);
    json_decref(r.dead_recs);
    return NULL;
}
