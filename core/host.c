/*
 * host.c - the host table (cs_host_table) and per-instance contexts: logging with the instance's
 * scope, routing emit/checkpoint/set_result to the instance's owner, the kv store, metrics.
 */
#include "host.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "log.h"
#include "util.h"

struct cs_metrics {
    pthread_mutex_t lock;
    json_t *counters, *gauges;
};

struct cs_metrics *cs_metrics_new(void)
{
    struct cs_metrics *m = cs_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->counters = json_object();
    m->gauges = json_object();
    return m;
}

void cs_metrics_free(struct cs_metrics *m)
{
    if (!m)
        return;
    json_decref(m->counters);
    json_decref(m->gauges);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void cs_metrics_add(struct cs_metrics *m, const char *name, int64_t delta)
{
    json_t *v;
    pthread_mutex_lock(&m->lock);
    v = json_object_get(m->counters, name);
    if (v)
        json_integer_set(v, json_integer_value(v) + delta);
    else
        json_object_set_new(m->counters, name, json_integer(delta));
    pthread_mutex_unlock(&m->lock);
}

void cs_metrics_set(struct cs_metrics *m, const char *name, int64_t value)
{
    pthread_mutex_lock(&m->lock);
    json_object_set_new(m->gauges, name, json_integer(value));
    pthread_mutex_unlock(&m->lock);
}

json_t *cs_metrics_snapshot(struct cs_metrics *m, int gauges)
{
    json_t *copy;
    pthread_mutex_lock(&m->lock);
    copy = json_deep_copy(gauges ? m->gauges : m->counters);
    pthread_mutex_unlock(&m->lock);
    return copy;
}

struct cs_ctx *cs_ctx_new(const char *scope, const char *kv_ns, struct cs_backlog *backlog,
                          const atomic_int *stopping, struct cs_metrics *metrics)
{
    struct cs_ctx *ctx = cs_xcalloc(1, sizeof *ctx);
    ctx->scope = cs_xstrdup(scope);
    ctx->kv_ns = cs_xstrdup(kv_ns);
    ctx->backlog = backlog;
    ctx->stopping = stopping;
    ctx->metrics = metrics;
    return ctx;
}

void cs_ctx_free(struct cs_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->scope);
    free(ctx->kv_ns);
    free(ctx->reason);
    json_decref(ctx->streams);
    free(ctx);
}

void cs_ctx_set_streams(struct cs_ctx *ctx, json_t *streams)
{
    json_decref(ctx->streams);
    ctx->streams = streams;
}

void cs_ctx_set_hooks(struct cs_ctx *ctx, const struct cs_ctx_hooks *hooks, void *arg)
{
    ctx->hooks = hooks;
    ctx->hook_arg = arg;
}

void cs_ctx_clear_reason(struct cs_ctx *ctx)
{
    free(ctx->reason);
    ctx->reason = NULL;
    ctx->reason_http = 0;
    ctx->reason_retry_after_ms = 0;
}

const char *cs_ctx_reason(const struct cs_ctx *ctx, const char *fallback)
{
    return ctx->reason ? ctx->reason : fallback;
}

/* ---- the table -------------------------------------------------------------------------------- */

static void host_log(cs_ctx *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cs_vlog(level, ctx->scope, fmt, ap);
    va_end(ap);
}

static cs_status host_emit(cs_ctx *ctx, cs_record *rec)
{
    if (!ctx->hooks || !ctx->hooks->emit) {
        cs_log(CS_LOG_ERROR, ctx->scope, "emit() called outside read(); record dropped by the plugin's bug");
        json_decref(rec);
        return CS_FATAL;
    }
    return ctx->hooks->emit(ctx->hook_arg, rec);
}

static cs_status host_checkpoint(cs_ctx *ctx, const char *stream, json_t *cursor)
{
    if (!ctx->hooks || !ctx->hooks->checkpoint) {
        json_decref(cursor);
        return CS_FATAL;
    }
    return ctx->hooks->checkpoint(ctx->hook_arg, stream, cursor);
}

static void host_set_result(cs_ctx *ctx, size_t index, cs_status status, int http_status, int64_t retry_after_ms,
                            const char *detail)
{
    if (ctx->hooks && ctx->hooks->set_result)
        ctx->hooks->set_result(ctx->hook_arg, index, status, http_status, retry_after_ms, detail);
}

static void host_set_reason(cs_ctx *ctx, int http_status, int64_t retry_after_ms, const char *fmt, ...)
{
    va_list ap;
    free(ctx->reason);
    va_start(ap, fmt);
    ctx->reason = cs_xvasprintf(fmt, ap);
    va_end(ap);
    ctx->reason_http = http_status;
    ctx->reason_retry_after_ms = retry_after_ms;
}

void cs_ctx_set_reason(struct cs_ctx *ctx, int http_status, int64_t retry_after_ms, const char *reason)
{
    free(ctx->reason);
    ctx->reason = cs_xstrdup(reason);
    ctx->reason_http = http_status;
    ctx->reason_retry_after_ms = retry_after_ms;
}

static char *host_kv_get(cs_ctx *ctx, const char *key)
{
    char *value = NULL;
    if (!ctx->backlog || cs_backlog_kv_get(ctx->backlog, ctx->kv_ns, key, &value) != 0)
        return NULL;
    return value;
}

static cs_status host_kv_put(cs_ctx *ctx, const char *key, const char *value)
{
    if (!ctx->backlog)
        return CS_FATAL;
    return cs_backlog_kv_put(ctx->backlog, ctx->kv_ns, key, value) == 0 ? CS_OK : CS_RETRY;
}

/* Remote-call counters ("http_<status>") are kept per connection: "http_429@d365". */
static void host_metric_add(cs_ctx *ctx, const char *name, int64_t delta)
{
    char *key;
    if (!ctx->metrics || !name)
        return;
    if (strncmp(name, "http_", 5) != 0) {
        cs_metrics_add(ctx->metrics, name, delta);
        return;
    }
    key = cs_xasprintf("%s@%s", name, ctx->kv_ns);
    cs_metrics_add(ctx->metrics, key, delta);
    free(key);
}

static int host_stopping(cs_ctx *ctx)
{
    return ctx->stopping && atomic_load(ctx->stopping);
}

static json_t *host_mapping_streams(cs_ctx *ctx)
{
    return ctx->streams ? json_deep_copy(ctx->streams) : json_array();
}

void cs_ctx_set_describer(struct cs_ctx *ctx,
                          cs_status (*fn)(void *arg, const char *side, const char *stream, json_t **out,
                                          struct cs_ctx *caller),
                          void *arg)
{
    ctx->describe = fn;
    ctx->describe_arg = arg;
}

void cs_ctx_set_substater(struct cs_ctx *ctx, void (*fn)(void *arg, const char *text), void *arg)
{
    ctx->substate = fn;
    ctx->substate_arg = arg;
}

static void host_set_substate(cs_ctx *ctx, const char *text)
{
    if (ctx->substate)
        ctx->substate(ctx->substate_arg, text);
}

static void host_metric_set(cs_ctx *ctx, const char *name, int64_t value)
{
    if (ctx->metrics && name)
        cs_metrics_set(ctx->metrics, name, value);
}

static cs_status host_describe(cs_ctx *ctx, const char *side, const char *stream, json_t **out)
{
    *out = NULL;
    if (!ctx->describe || !side || !stream)
        return CS_NODATA;
    return ctx->describe(ctx->describe_arg, side, stream, out, ctx);
}

const cs_host cs_host_table = {
    .struct_size = sizeof(cs_host),
    .abi_major = CS_ABI_MAJOR,
    .abi_minor = CS_ABI_MINOR,
    .log = host_log,
    .emit = host_emit,
    .checkpoint = host_checkpoint,
    .set_result = host_set_result,
    .set_reason = host_set_reason,
    .kv_get = host_kv_get,
    .kv_put = host_kv_put,
    .metric_add = host_metric_add,
    .stopping = host_stopping,
    .mapping_streams = host_mapping_streams,
    .describe = host_describe,
    .set_substate = host_set_substate,
    .metric_set = host_metric_set,
};
