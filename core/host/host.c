/*
 * host.c - the host table (cs_host_table) and per-instance contexts: logging with the instance's
 * scope, routing emit/checkpoint/set_result to the instance's owner, the kv store (with the writes
 * a sink makes inside write() held until its batch settles), metrics, and the objects the instances
 * of one connection share.
 */
#include "host.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "state/backlog.h"
#include "util/log.h"
#include "shared.h"
#include "util/util.h"

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

struct cs_ctx *cs_ctx_new(const char *scope, const char *kv_ns, struct cs_backlog *backlog, const atomic_int *stopping,
                          struct cs_metrics *metrics)
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
    if (json_object_size(ctx->kv_held))
        cs_log(CS_LOG_ERROR, ctx->scope, "%zu key/value write(s) could not be stored in the state database",
               json_object_size(ctx->kv_held));
    json_decref(ctx->kv_held);
    while (ctx->shares) {
        struct cs_ctx_share *next = ctx->shares->next;
        cs_shared_drop(ctx->shares->entry);
        free(ctx->shares);
        ctx->shares = next;
    }
    free(ctx->share_scope);
    free(ctx);
}

void cs_ctx_set_connection(struct cs_ctx *ctx, const cs_connector *connector, const char *name, const json_t *options)
{
    char *canonical = json_dumps(options, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    free(ctx->share_scope);
    ctx->share_scope = cs_xasprintf("%s\x1f%s\x1f%s", connector->name, name, canonical ? canonical : "null");
    free(canonical);
}

void cs_ctx_kv_hold(struct cs_ctx *ctx, int on)
{
    ctx->kv_holding = on;
}

const struct cs_kv_writes *cs_ctx_kv_held(const struct cs_ctx *ctx, struct cs_kv_writes *kv)
{
    if (!json_object_size(ctx->kv_held))
        return NULL;
    *kv = (struct cs_kv_writes){ctx->kv_ns, ctx->kv_held};
    return kv;
}

void cs_ctx_kv_settled(struct cs_ctx *ctx)
{
    json_object_clear(ctx->kv_held);
}

int cs_ctx_kv_keep(struct cs_ctx *ctx)
{
    struct cs_kv_writes kv;
    int rc;
    if (!cs_ctx_kv_held(ctx, &kv))
        return 0;
    if ((rc = cs_backlog_kv_put_all(ctx->backlog, &kv)) == 0)
        cs_ctx_kv_settled(ctx);
    return rc;
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

/* A held write wins over the store: a held delete reads as absent. */
static char *host_kv_get(cs_ctx *ctx, const char *key)
{
    json_t *held = json_object_get(ctx->kv_held, key);
    char *value = NULL;
    if (held)
        return json_is_string(held) ? cs_xstrdup(json_string_value(held)) : NULL;
    if (!ctx->backlog || cs_backlog_kv_get(ctx->backlog, ctx->kv_ns, key, &value) != 0)
        return NULL;
    return value;
}

/* nocheck: a plugin's key or value need not be UTF-8 */
static void hold_kv(cs_ctx *ctx, const char *key, const char *value)
{
    if (!ctx->kv_held)
        ctx->kv_held = cs_xcheck(json_object());
    cs_xcheck(json_object_set_new_nocheck(ctx->kv_held, key, value ? json_string_nocheck(value) : json_null()) == 0
                  ? ctx->kv_held
                  : NULL);
}

/* Held while the owner holds (a sink's write()); otherwise written now, replacing a held write. */
static cs_status host_kv_put(cs_ctx *ctx, const char *key, const char *value)
{
    if (!ctx->backlog) {
        cs_log(CS_LOG_ERROR, ctx->scope,
               "cannot store %s: this instance has no state database (a configuration "
               "check's or the admin API's)",
               key);
        return CS_FATAL;
    }
    if (ctx->kv_holding) {
        hold_kv(ctx, key, value);
        return CS_OK;
    }
    if (cs_backlog_kv_put(ctx->backlog, ctx->kv_ns, key, value) != 0) {
        cs_log(CS_LOG_ERROR, ctx->scope, "cannot store %s in the state database: %s", key,
               cs_backlog_errmsg(ctx->backlog));
        return CS_RETRY;
    }
    json_object_del(ctx->kv_held, key);
    return CS_OK;
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

/* Keyed by connector, connection, its options and `name`; one hold per context, dropped when the
 * context is freed (after the instance's destroy()). */
static void *host_connection_shared(cs_ctx *ctx, const char *name, void *(*make)(void *arg), void (*release)(void *obj),
                                    void *arg)
{
    struct cs_ctx_share *s;
    char *key;
    void *obj;
    if (!ctx->share_scope || !name || !make)
        return NULL;
    key = cs_xasprintf("%s\x1f%s", ctx->share_scope, name);
    for (s = ctx->shares; s && strcmp(cs_shared_key(s->entry), key) != 0; s = s->next)
        ;
    if (s) {
        free(key);
        return cs_shared_object(s->entry);
    }
    s = cs_xcalloc(1, sizeof *s);
    obj = cs_shared_take(key, make, release, arg, &s->entry);
    free(key);
    if (!obj) {
        free(s);
        return NULL;
    }
    s->next = ctx->shares;
    ctx->shares = s;
    return obj;
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
    .connection_shared = host_connection_shared,
};
