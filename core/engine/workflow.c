/*
 * workflow.c - the state machine of one workflow and the supervisor thread of each run: create the
 * instances, start() them (retrying with backoff while STARTING), run the reader and writers, and on
 * stop or a fatal error join them and destroy the instances (see workflow.h).
 */
#include "workflow_run.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "state/backlog.h"
#include "util/backoff.h"
#include "util/log.h"
#include "config/mapping.h"
#include "mapping_check.h"
#include "replay.h"
#include "util/util.h"

static const char *const status_names[] = {"STOPPED", "STARTING", "RUNNING", "FAILED"};
static const char *const stored_names[] = {"stopped", "starting", "running", "failed"}; /* state DB spelling */

const int64_t cs_latency_bounds_ms[CS_LATENCY_BUCKETS] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

const char *cs_wf_status_name(enum cs_wf_status s)
{
    return status_names[s];
}

struct cs_workflow *cs_workflow_new(const char *id, const struct cs_workflow_env *env)
{
    struct cs_workflow *wf = cs_xcalloc(1, sizeof *wf);
    pthread_condattr_t attr;
    wf->id = cs_xstrdup(id);
    wf->env = *env;
    pthread_mutex_init(&wf->lock, NULL);
    pthread_mutex_init(&wf->persist_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_REALTIME);
    pthread_cond_init(&wf->wake, &attr);
    pthread_condattr_destroy(&attr);
    wf->status = CS_WF_STOPPED;
    wf->metrics = cs_metrics_new();
    wf->source_rows = json_object();
    cs_rate_init(&wf->read_rate);
    cs_rate_init(&wf->write_rate);
    return wf;
}

const char *cs_workflow_id(const struct cs_workflow *wf)
{
    return wf->id;
}

/* ---- status ----------------------------------------------------------------------------------- */

static void replace(char **slot, const char *text)
{
    free(*slot);
    *slot = text ? cs_xstrdup(text) : NULL;
}

/* What the operator sees: the writers' trouble first, then the reader's, then a connector's. Lock held. */
static const char *current_substate(const struct cs_workflow *wf)
{
    return wf->writer_substate ? wf->writer_substate : wf->reader_substate ? wf->reader_substate : wf->plugin_substate;
}

/* Change the status in memory. Lock held; the caller then calls announce() without it. */
static void set_status_locked(struct cs_workflow *wf, enum cs_wf_status status, const char *reason)
{
    wf->status = status;
    replace(&wf->reason, status == CS_WF_FAILED ? reason : NULL);
}

/* Log a status change made with set_status_locked and store the current status in the state DB.
 * Lock NOT held: persist_lock orders the writes, each of which stores the status as it is then. */
static void announce(struct cs_workflow *wf, enum cs_wf_status status, const char *reason, int64_t rev)
{
    enum cs_wf_status now;
    char *substate, *why;
    int64_t now_rev;

    if (status == CS_WF_FAILED)
        cs_log(CS_LOG_ERROR, wf->id, "FAILED: %s", reason);
    else
        cs_log(CS_LOG_NOTICE, wf->id, "%s (revision %lld)", status_names[status], (long long)rev);
    pthread_mutex_lock(&wf->persist_lock);
    pthread_mutex_lock(&wf->lock);
    now = wf->status;
    substate = current_substate(wf) ? cs_xstrdup(current_substate(wf)) : NULL;
    why = wf->reason ? cs_xstrdup(wf->reason) : NULL;
    now_rev = wf->running_rev;
    pthread_mutex_unlock(&wf->lock);
    cs_backlog_status_set(wf->env.backlog, wf->id, stored_names[now], substate, why, now_rev);
    pthread_mutex_unlock(&wf->persist_lock);
    free(substate);
    free(why);
}

static void set_status(struct cs_workflow *wf, enum cs_wf_status status, const char *reason)
{
    int64_t rev;
    pthread_mutex_lock(&wf->lock);
    set_status_locked(wf, status, reason);
    rev = wf->running_rev;
    pthread_mutex_unlock(&wf->lock);
    announce(wf, status, reason, rev);
}

/* host->set_substate of the run's connectors */
static void plugin_substate(void *arg, const char *text)
{
    cs_workflow_set_substate(arg, 2, text);
}

void cs_workflow_set_substate(struct cs_workflow *wf, int writer, const char *text)
{
    char **slot, *was = NULL;
    int changed;
    pthread_mutex_lock(&wf->lock);
    slot = writer == 2 ? &wf->plugin_substate : writer ? &wf->writer_substate : &wf->reader_substate;
    changed = (*slot == NULL) != (text == NULL) || (text && strcmp(*slot, text) != 0);
    if (changed) {
        was = *slot;
        *slot = text ? cs_xstrdup(text) : NULL;
    }
    pthread_mutex_unlock(&wf->lock);
    if (changed && text)
        cs_log(CS_LOG_WARNING, wf->id, "%s", text);
    else if (changed)
        cs_log(CS_LOG_NOTICE, wf->id, "recovered (was: %s)", was);
    free(was);
}

void cs_workflow_fatal(struct cs_workflow *wf, const char *fmt, ...)
{
    va_list ap;
    char *reason;
    va_start(ap, fmt);
    reason = cs_xvasprintf(fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&wf->lock);
    if (!wf->fatal) {
        wf->fatal = reason;
        reason = NULL;
    }
    atomic_store(&wf->stopping, 1);
    pthread_cond_broadcast(&wf->wake);
    pthread_mutex_unlock(&wf->lock);
    free(reason);
}

void cs_workflow_wake(struct cs_workflow *wf)
{
    pthread_mutex_lock(&wf->lock);
    pthread_cond_broadcast(&wf->wake);
    pthread_mutex_unlock(&wf->lock);
}

static void wait_on_wake(struct cs_workflow *wf, int64_t deadline_ms, int until_deadline)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_mutex_lock(&wf->lock);
    do {
        if (atomic_load(&wf->stopping) || cs_now_ms() >= deadline_ms)
            break;
        pthread_cond_timedwait(&wf->wake, &wf->lock, &ts);
    } while (until_deadline);
    pthread_mutex_unlock(&wf->lock);
}

void cs_workflow_sleep_until(struct cs_workflow *wf, int64_t deadline_ms)
{
    wait_on_wake(wf, deadline_ms, 1);
}

void cs_workflow_wait(struct cs_workflow *wf, int64_t deadline_ms)
{
    wait_on_wake(wf, deadline_ms, 0);
}

/* ---- building a run ---------------------------------------------------------------------------- */

static int64_t def_int(const json_t *def, const char *section, const char *key)
{
    const json_t *obj = section ? json_object_get(def, section) : def;
    return (int64_t)json_integer_value(json_object_get(obj, key));
}

static void read_settings(const json_t *def, struct cs_run_settings *s)
{
    s->writers = (int)def_int(def, NULL, "writers");
    s->batch_size = (int)def_int(def, NULL, "batch_size");
    s->read_batch = (int)def_int(def, NULL, "read_batch");
    s->poll_ms = def_int(def, NULL, "poll_interval");
    s->stall_ms = def_int(def, NULL, "stall_after");
    s->high_water = def_int(def, "backlog", "high_water");
    s->retry_base_ms = def_int(def, "retry", "base");
    s->retry_cap_ms = def_int(def, "retry", "cap");
    s->max_attempts = (int)def_int(def, "retry", "max_attempts");
    s->max_age_ms = def_int(def, "retry", "max_age");
    s->redrive_every_ms = def_int(def, "retry", "redrive_not_found");
    s->redrive_for_ms = def_int(def, "retry", "redrive_not_found_for");
}

static char *instance_create(struct cs_workflow *wf, struct cs_instance *in, const char *role, int index)
{
    const char *conn = json_string_value(json_object_get(wf->run->definition, role));
    const struct cs_component *connector;
    json_t *options = NULL;
    char *scope;
    cs_status st;

    if (wf->env.endpoint(wf->env.arg, conn, &connector, &options) != 0)
        return cs_xasprintf("%s: unknown connection \"%s\"", role, conn ? conn : "");
    if (!(connector->u.connector.caps & (strcmp(role, "source") == 0 ? CS_CAP_SOURCE : CS_CAP_SINK))) {
        json_decref(options);
        return cs_xasprintf("connection \"%s\" (connector %s) cannot be a %s", conn, connector->u.connector.name, role);
    }
    in->component = connector;
    in->connection = cs_xstrdup(conn);
    scope = index < 0 ? cs_xasprintf("%s/%s", wf->id, conn) : cs_xasprintf("%s/%s#%d", wf->id, conn, index);
    in->ctx = cs_ctx_new(scope, conn, wf->env.backlog, &wf->stopping, wf->metrics);
    cs_ctx_set_streams(in->ctx, cs_mapping_streams(wf->run->definition));
    cs_ctx_set_substater(in->ctx, plugin_substate, wf);
    cs_ctx_set_connection(in->ctx, &connector->u.connector, conn, options);
    free(scope);
    st = connector->u.connector.create(&cs_host_table, in->ctx, options, &in->inst);
    json_decref(options);
    if (st != CS_OK) {
        in->inst = NULL;
        return cs_xasprintf("%s \"%s\" could not be created: %s", role, conn,
                            cs_ctx_reason(in->ctx, "no reason given"));
    }
    return NULL;
}

static void instance_destroy(struct cs_instance *in)
{
    if (in->inst) {
        if (in->component->u.connector.stop)
            in->component->u.connector.stop(in->inst);
        in->component->u.connector.destroy(in->inst);
    }
    cs_ctx_free(in->ctx);
    free(in->connection);
}

static void writer_pipelines_free(struct cs_writer_arg *wa)
{
    for (size_t i = 0; i < wa->n_pipelines; i++)
        cs_pipeline_free(wa->pipelines[i]);
    free(wa->pipelines);
    wa->pipelines = NULL;
    wa->n_pipelines = 0;
}

static void run_free(struct cs_run *run)
{
    if (!run)
        return;
    for (int i = 0; run->writer_args && i < run->set.writers; i++)
        writer_pipelines_free(&run->writer_args[i]);
    instance_destroy(&run->source);
    for (int i = 0; run->sinks && i < run->set.writers; i++)
        instance_destroy(&run->sinks[i]);
    free(run->streams);
    free(run->sinks);
    free(run->writers);
    free(run->writer_args);
    json_decref(run->resolved);
    json_decref(run->definition);
    free(run);
}

/* Check the definition's plugin options and create every connector instance. NULL or why it cannot run
 * (new). */
static char *run_build(struct cs_workflow *wf)
{
    struct cs_run *run = wf->run;
    const json_t *mappings = json_object_get(run->definition, "mappings");
    char *err = NULL;

    if (wf->env.resolve_mappings(wf->env.arg, run->definition, wf->running_rev, &run->resolved, &err) != 0)
        return err;
    run->streams = cs_xcalloc(json_array_size(mappings) + 1, sizeof *run->streams);
    for (size_t i = 0; i < json_array_size(mappings); i++)
        run->streams[run->n_streams++] = json_string_value(json_object_get(json_array_get(mappings, i), "stream"));
    if ((err = instance_create(wf, &run->source, "source", -1)))
        return err;
    run->sinks = cs_xcalloc(run->set.writers, sizeof *run->sinks);
    run->writer_args = cs_xcalloc(run->set.writers, sizeof *run->writer_args);
    for (int i = 0; i < run->set.writers; i++) {
        run->writer_args[i] = (struct cs_writer_arg){run, &run->sinks[i], NULL, 0, 0};
        if ((err = instance_create(wf, &run->sinks[i], "sink", i)))
            return err;
    }
    return NULL;
}

cs_status cs_instance_describe(struct cs_instance *in, const char *stream, json_t **out, struct cs_ctx *caller)
{
    const cs_connector *c = &in->component->u.connector;
    cs_status st;
    *out = NULL;
    if (!c->describe)
        return CS_NODATA;
    cs_ctx_clear_reason(in->ctx);
    st = c->describe(in->inst, stream, out);
    if (st != CS_OK && st != CS_NODATA)
        cs_ctx_set_reason(caller, in->ctx->reason_http, in->ctx->reason_retry_after_ms,
                          cs_ctx_reason(in->ctx, "no reason given"));
    if (st != CS_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

/* host->describe for the run's entity handlers and stages, and for the mapping check: the source's
 * or the first sink's describe(). */
static cs_status run_describe(void *arg, const char *side, const char *stream, json_t **out, struct cs_ctx *caller)
{
    struct cs_run *run = arg;
    cs_status st;
    *out = NULL;
    if (strcmp(side, "source") != 0 && strcmp(side, "target") != 0) {
        cs_ctx_set_reason(caller, 0, -1, "describe: the side is \"source\" or \"target\"");
        return CS_FATAL;
    }
    st = cs_instance_describe(strcmp(side, "source") == 0 ? &run->source : &run->sinks[0], stream, out, caller);
    if (st == CS_RETRY) /* the pause a throttled service asked for, for the retry of what asked */
        run->describe_retry_after_ms = caller->reason_retry_after_ms;
    return st;
}

/* The reader reads linked parents' streams before their children's (the entity handlers' order(),
 * asked of the first writer's pipelines; equal ranks keep the definition's order), so a full load
 * writes parents first and children seldom wait for theirs. */
static void order_streams(struct cs_run *run)
{
    const struct cs_writer_arg *wa = &run->writer_args[0];
    for (size_t i = 1; i < run->n_streams && i < wa->n_pipelines; i++) {
        const char *stream = run->streams[i];
        int rank = cs_pipeline_rank(wa->pipelines[i]);
        struct cs_pipeline *p = wa->pipelines[i];
        size_t j = i;
        for (; j > 0 && cs_pipeline_rank(wa->pipelines[j - 1]) > rank; j--) {
            run->streams[j] = run->streams[j - 1];
            wa->pipelines[j] = wa->pipelines[j - 1];
        }
        run->streams[j] = stream;
        wa->pipelines[j] = p;
    }
}

/* Each writer's own pipelines (entity handler and stages per mapping). NULL or why not (new), with
 * *transient set when a create() answered CS_RETRY. */
static char *build_pipelines(struct cs_workflow *wf, int *transient)
{
    struct cs_run *run = wf->run;
    json_t *streams = cs_mapping_streams(run->definition);
    struct cs_pipeline_env penv = {wf->env.registry, wf->env.backlog, wf->metrics, wf->id, run_describe, run, streams};
    const json_t *mappings = json_object_get(run->definition, "mappings");
    char *err = NULL;
    int rc = 0;
    for (int w = 0; !err && w < run->set.writers; w++) {
        struct cs_writer_arg *wa = &run->writer_args[w];
        wa->pipelines = cs_xcalloc(json_array_size(mappings), sizeof *wa->pipelines);
        for (size_t i = 0; !err && i < json_array_size(mappings); i++) {
            if ((rc = cs_pipeline_new(&penv, json_array_get(mappings, i), json_array_get(run->resolved, i),
                                      &wa->pipelines[i], &err)) == 0)
                wa->n_pipelines++;
        }
    }
    json_decref(streams);
    *transient = rc == CS_E_AGAIN;
    if (!err)
        order_streams(run);
    for (int w = 0; err && w < run->set.writers; w++)
        writer_pipelines_free(&run->writer_args[w]);
    return err;
}

/* STARTING: say why (and from which connection, when one said so) and when the next attempt is, and
 * sleep until then (or a stop). */
static void starting_backoff(struct cs_workflow *wf, int attempt, int64_t retry_after_ms, const char *why,
                             const char *from)
{
    struct cs_run *run = wf->run;
    int64_t until =
        cs_now_ms() + cs_backoff_delay(run->set.retry_base_ms, run->set.retry_cap_ms, attempt, retry_after_ms);
    char clock[16], *text;
    cs_format_clock(until, clock, sizeof clock);
    text = cs_xasprintf("starting: retrying at %s: %s%s%s", clock, why, from ? " from " : "", from ? from : "");
    cs_workflow_set_substate(wf, 0, text);
    free(text);
    cs_workflow_sleep_until(wf, until);
}

/* Build the pipelines, retrying a transient failure (a throttled describe in an entity handler's
 * create()) with backoff. 0, or -1 after cs_workflow_fatal (or a stop). */
static int run_pipelines(struct cs_workflow *wf)
{
    int attempt = 0, transient = 0;
    char *err;
    while ((err = build_pipelines(wf, &transient)) && transient && !atomic_load(&wf->stopping)) {
        starting_backoff(wf, ++attempt, wf->run->describe_retry_after_ms, err, NULL);
        wf->run->describe_retry_after_ms = 0;
        free(err);
    }
    if (attempt)
        cs_workflow_set_substate(wf, 0, NULL);
    if (err && !atomic_load(&wf->stopping))
        cs_workflow_fatal(wf, "%s", err);
    free(err);
    return err || atomic_load(&wf->stopping) ? -1 : 0;
}

/* start() every instance, retrying transient failures with backoff. 0 when all started. */
static int run_start_instances(struct cs_workflow *wf)
{
    struct cs_run *run = wf->run;
    int attempt = 0;
    for (int i = -1; i < run->set.writers && !atomic_load(&wf->stopping);) {
        struct cs_instance *in = i < 0 ? &run->source : &run->sinks[i];
        cs_status st = CS_OK;
        if (in->component->u.connector.start) {
            cs_ctx_clear_reason(in->ctx);
            st = in->component->u.connector.start(in->inst);
        }
        if (st == CS_OK) {
            i++;
            attempt = 0;
            continue;
        }
        if (st != CS_RETRY) {
            cs_workflow_fatal(wf, "%s \"%s\" could not start: %s", i < 0 ? "source" : "sink", in->connection,
                              cs_ctx_reason(in->ctx, "no reason given"));
            return -1;
        }
        starting_backoff(wf, ++attempt, in->ctx->reason_retry_after_ms, cs_ctx_reason(in->ctx, "temporary failure"),
                         in->connection);
    }
    cs_workflow_set_substate(wf, 0, NULL);
    return atomic_load(&wf->stopping) ? -1 : 0;
}

static void run_threads(struct cs_workflow *wf)
{
    struct cs_run *run = wf->run;
    int started = 0;
    run->writers = cs_xcalloc(run->set.writers, sizeof *run->writers);
    if (pthread_create(&run->reader, NULL, cs_reader_main, run) != 0) {
        cs_workflow_fatal(wf, "cannot create the reader thread");
        return;
    }
    for (; started < run->set.writers; started++) {
        if (pthread_create(&run->writers[started], NULL, cs_writer_main, &run->writer_args[started]) != 0) {
            cs_workflow_fatal(wf, "cannot create writer thread %d", started);
            break;
        }
    }
    pthread_join(run->reader, NULL);
    for (int i = 0; i < started; i++)
        pthread_join(run->writers[i], NULL);
}

/* Check the mappings against both systems' live metadata, then keep what the source said of each
 * table's size for the replay guard. 0, or -1 after cs_workflow_fatal (or a stop). */
static int run_check_mappings(struct cs_workflow *wf)
{
    struct cs_run *run = wf->run;
    json_t *rows = json_object();
    cs_status st = CS_RETRY;
    int attempt = 0;
    while (st == CS_RETRY && !atomic_load(&wf->stopping)) {
        char *why = NULL;
        struct cs_ctx *ctx = cs_ctx_new(wf->id, "core", NULL, NULL, NULL);
        json_object_clear(rows);
        st = cs_mapping_check_live(run->definition, run_describe, run, ctx, rows, &why, NULL);
        if (st == CS_FATAL)
            cs_workflow_fatal(wf, "%s", why);
        else if (st == CS_RETRY)
            cs_workflow_sleep_until(wf, cs_now_ms() + cs_backoff_delay(run->set.retry_base_ms, run->set.retry_cap_ms,
                                                                       ++attempt, ctx->reason_retry_after_ms));
        if (st == CS_RETRY) {
            char *text = cs_xasprintf("starting: %s", why);
            cs_workflow_set_substate(wf, 0, text);
            free(text);
        }
        free(why);
        cs_ctx_free(ctx);
    }
    cs_workflow_set_substate(wf, 0, NULL);
    pthread_mutex_lock(&wf->lock);
    json_object_update(wf->source_rows, rows);
    pthread_mutex_unlock(&wf->lock);
    json_decref(rows);
    return st == CS_OK && !atomic_load(&wf->stopping) ? 0 : -1;
}

static void *supervise(void *arg)
{
    struct cs_workflow *wf = arg;
    struct cs_run *run;
    char *err, *fatal;
    int64_t rev;

    pthread_mutex_lock(&wf->lock);
    rev = wf->running_rev;
    pthread_mutex_unlock(&wf->lock);
    announce(wf, CS_WF_STARTING, NULL, rev);
    if ((err = run_build(wf))) {
        cs_workflow_fatal(wf, "%s", err);
        free(err);
    } else if (run_start_instances(wf) == 0 && run_check_mappings(wf) == 0 && run_pipelines(wf) == 0) {
        cs_replay_apply_staged(wf->env.backlog, wf->id);
        set_status(wf, CS_WF_RUNNING, NULL);
        run_threads(wf);
    }
    pthread_mutex_lock(&wf->lock);
    run = wf->run;
    wf->run = NULL;
    pthread_mutex_unlock(&wf->lock);
    run_free(run); /* the connectors' stop() and destroy() may call the host: no lock held */
    pthread_mutex_lock(&wf->lock);
    replace(&wf->reader_substate, NULL);
    replace(&wf->writer_substate, NULL);
    replace(&wf->plugin_substate, NULL);
    wf->suspended_until = 0;
    wf->writer_failures = 0;
    fatal = wf->fatal;
    wf->fatal = NULL;
    set_status_locked(wf, fatal ? CS_WF_FAILED : CS_WF_STOPPED, fatal);
    rev = wf->running_rev;
    pthread_mutex_unlock(&wf->lock);
    announce(wf, fatal ? CS_WF_FAILED : CS_WF_STOPPED, fatal, rev);
    free(fatal);
    return NULL;
}

/* ---- public state changes ---------------------------------------------------------------------- */

/* Join a supervisor that ended on its own (FAILED) so a new one can start. Lock NOT held. */
static void reap(struct cs_workflow *wf)
{
    int joinable;
    pthread_mutex_lock(&wf->lock);
    joinable = wf->supervisor_joinable;
    wf->supervisor_joinable = 0;
    pthread_mutex_unlock(&wf->lock);
    if (joinable)
        pthread_join(wf->supervisor, NULL);
}

int cs_workflow_start(struct cs_workflow *wf, const json_t *definition, int64_t rev)
{
    struct cs_run *run;
    int created;
    pthread_mutex_lock(&wf->lock);
    if (wf->status != CS_WF_STOPPED && wf->status != CS_WF_FAILED) {
        pthread_mutex_unlock(&wf->lock);
        return CS_E_STATE;
    }
    pthread_mutex_unlock(&wf->lock);
    reap(wf);

    run = cs_xcalloc(1, sizeof *run);
    run->wf = wf;
    run->definition = json_deep_copy(definition);
    read_settings(run->definition, &run->set);
    pthread_mutex_lock(&wf->lock);
    if (wf->status != CS_WF_STOPPED && wf->status != CS_WF_FAILED) { /* another start came first */
        pthread_mutex_unlock(&wf->lock);
        run_free(run);
        return CS_E_STATE;
    }
    wf->run = run;
    wf->running_rev = rev;
    wf->stall_ms = run->set.stall_ms;
    wf->progress_at = cs_now_ms();
    atomic_store(&wf->stopping, 0);
    atomic_store(&wf->source_idle, 0);
    set_status_locked(wf, CS_WF_STARTING, NULL);
    created = pthread_create(&wf->supervisor, NULL, supervise, wf) == 0;
    if (created) {
        wf->supervisor_joinable = 1;
    } else {
        wf->run = NULL;
        set_status_locked(wf, CS_WF_FAILED, "cannot create the supervisor thread");
    }
    pthread_mutex_unlock(&wf->lock);
    if (created)
        return 0; /* the supervisor announces STARTING */
    announce(wf, CS_WF_FAILED, "cannot create the supervisor thread", rev);
    run_free(run);
    return CS_E_NOMEM;
}

int cs_workflow_stop(struct cs_workflow *wf)
{
    int64_t rev;
    int was_failed;
    pthread_mutex_lock(&wf->lock);
    atomic_store(&wf->stopping, 1);
    pthread_cond_broadcast(&wf->wake);
    pthread_mutex_unlock(&wf->lock);
    reap(wf);
    pthread_mutex_lock(&wf->lock);
    was_failed = wf->status == CS_WF_FAILED;
    if (was_failed)
        set_status_locked(wf, CS_WF_STOPPED, NULL);
    rev = wf->running_rev;
    pthread_mutex_unlock(&wf->lock);
    if (was_failed)
        announce(wf, CS_WF_STOPPED, NULL, rev);
    return 0;
}

void cs_workflow_free(struct cs_workflow *wf)
{
    if (!wf)
        return;
    cs_workflow_stop(wf);
    free(wf->id);
    free(wf->reason);
    pthread_mutex_destroy(&wf->lock);
    pthread_mutex_destroy(&wf->persist_lock);
    pthread_cond_destroy(&wf->wake);
    cs_metrics_free(wf->metrics);
    json_decref(wf->source_rows);
    cs_rate_destroy(&wf->read_rate);
    cs_rate_destroy(&wf->write_rate);
    free(wf);
}

int64_t cs_workflow_source_rows(struct cs_workflow *wf, const char *stream)
{
    int64_t rows;
    pthread_mutex_lock(&wf->lock);
    rows = json_is_integer(json_object_get(wf->source_rows, stream))
               ? (int64_t)json_integer_value(json_object_get(wf->source_rows, stream))
               : -1;
    pthread_mutex_unlock(&wf->lock);
    return rows;
}

void cs_workflow_observe_write(struct cs_workflow *wf, int64_t ms)
{
    int i = 0;
    while (i < CS_LATENCY_BUCKETS && ms > cs_latency_bounds_ms[i])
        i++;
    atomic_fetch_add(&wf->write_latency[i], 1);
    atomic_fetch_add(&wf->write_latency_sum_ms, ms);
}

/* ---- reading the state ------------------------------------------------------------------------- */

enum cs_wf_status cs_workflow_status(struct cs_workflow *wf)
{
    enum cs_wf_status s;
    pthread_mutex_lock(&wf->lock);
    s = wf->status;
    pthread_mutex_unlock(&wf->lock);
    return s;
}

int64_t cs_workflow_running_rev(struct cs_workflow *wf)
{
    int64_t rev;
    pthread_mutex_lock(&wf->lock);
    rev = wf->status == CS_WF_STOPPED ? 0 : wf->running_rev;
    pthread_mutex_unlock(&wf->lock);
    return rev;
}

int cs_workflow_writers(struct cs_workflow *wf)
{
    int n;
    pthread_mutex_lock(&wf->lock);
    n = wf->status == CS_WF_RUNNING && wf->run ? wf->run->set.writers : 0;
    pthread_mutex_unlock(&wf->lock);
    return n;
}

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *latency_snapshot(struct cs_workflow *wf)
{
    json_t *buckets = json_array();
    for (int i = 0; i <= CS_LATENCY_BUCKETS; i++)
        json_array_append_new(buckets, json_integer(atomic_load(&wf->write_latency[i])));
    return json_pack("{s:o, s:I}", "buckets", buckets, "sum_ms", (json_int_t)atomic_load(&wf->write_latency_sum_ms));
}

json_t *cs_workflow_snapshot(struct cs_workflow *wf)
{
    int64_t backlog = 0, dead = 0, last = atomic_load(&wf->last_success_at);
    json_t *snap;
    cs_backlog_counts(wf->env.backlog, wf->id, &backlog, &dead);
    pthread_mutex_lock(&wf->lock);
    snap = json_pack(
        "{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "id", wf->id, "status",
        status_names[wf->status], "substate", string_or_null(current_substate(wf)), "reason",
        string_or_null(wf->reason), "running_revision", (json_int_t)(wf->status == CS_WF_STOPPED ? 0 : wf->running_rev),
        "backlog", (json_int_t)backlog, "dead_letters", (json_int_t)dead, "last_success_at",
        last ? json_integer(last) : json_null(), "records_read", (json_int_t)atomic_load(&wf->records_read),
        "records_written", (json_int_t)atomic_load(&wf->records_written), "records_rejected",
        (json_int_t)atomic_load(&wf->records_rejected), "write_retries", (json_int_t)atomic_load(&wf->write_retries));
    pthread_mutex_unlock(&wf->lock);
    json_object_set_new(snap, "metrics", cs_metrics_snapshot(wf->metrics, 0));
    json_object_set_new(snap, "gauges", cs_metrics_snapshot(wf->metrics, 1));
    json_object_set_new(snap, "records_filtered", json_integer(atomic_load(&wf->records_filtered)));
    json_object_set_new(snap, "replay_pending", cs_replay_staged(wf->env.backlog, wf->id));
    json_object_set_new(snap, "write_latency", latency_snapshot(wf));
    json_object_set_new(snap, "rates",
                        json_pack("{s:f, s:f}", "read_per_s", cs_rate_per_second(&wf->read_rate), "written_per_s",
                                  cs_rate_per_second(&wf->write_rate)));
    return snap;
}

char *cs_workflow_stalled(struct cs_workflow *wf)
{
    int64_t backlog = 0, dead = 0, now = cs_now_ms(), last, success = atomic_load(&wf->last_success_at);
    long long moved = atomic_load(&wf->records_read) + atomic_load(&wf->records_written) +
                      atomic_load(&wf->records_filtered) + atomic_load(&wf->records_rejected);
    int caught_up = atomic_load(&wf->source_idle);
    char *why = NULL;

    cs_backlog_counts(wf->env.backlog, wf->id, &backlog, &dead);
    pthread_mutex_lock(&wf->lock);
    if (moved != wf->progress_seen) {
        wf->progress_seen = moved;
        wf->progress_at = now;
    }
    last = success > wf->progress_at ? success : wf->progress_at;
    if (wf->status == CS_WF_RUNNING && wf->stall_ms > 0 && now - last >= wf->stall_ms && (backlog > 0 || !caught_up))
        why = cs_xasprintf("no progress for %lld s while work is pending (backlog %lld%s)%s%s",
                           (long long)((now - last) / 1000), (long long)backlog,
                           caught_up ? "" : ", the source has not caught up", current_substate(wf) ? ": " : "",
                           current_substate(wf) ? current_substate(wf) : "");
    pthread_mutex_unlock(&wf->lock);
    return why;
}

int cs_workflow_idle(struct cs_workflow *wf)
{
    int64_t backlog = 1, dead = 0;
    if (cs_workflow_status(wf) != CS_WF_RUNNING || !atomic_load(&wf->source_idle))
        return 0;
    cs_backlog_counts(wf->env.backlog, wf->id, &backlog, &dead);
    /* a written batch leaves the backlog before its records are counted: wait for the count too */
    return backlog == 0 && atomic_load(&wf->batches_in_flight) == 0;
}
