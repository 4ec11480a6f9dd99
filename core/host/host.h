/*
 * host.h - the host table the core hands to every plugin instance, and the per-instance context
 * (struct cs_ctx) behind it. The owner of an instance (reader, writer, pipeline) installs hooks that
 * receive what the plugin emits, checkpoints and reports; the rest (log, kv store, metrics, stopping)
 * the context serves itself.
 */
#ifndef CS_HOST_H
#define CS_HOST_H

#include <pthread.h>
#include <stdatomic.h>

#include <crmsync/plugin.h>

struct cs_backlog;
struct cs_metrics;
struct cs_kv_writes;
struct cs_shared;

/* A shared object (host->connection_shared) this context holds until it is freed. */
struct cs_ctx_share {
    struct cs_ctx_share *next;
    struct cs_shared *entry;
};

/* Callbacks of the instance's owner; any may be NULL (the host call then fails or is ignored). */
struct cs_ctx_hooks {
    cs_status (*emit)(void *arg, cs_record *rec);                           /* steals rec */
    cs_status (*checkpoint)(void *arg, const char *stream, json_t *cursor); /* steals cursor */
    void (*set_result)(void *arg, size_t index, cs_status status, int http_status, int64_t retry_after_ms,
                       const char *detail);
};

struct cs_ctx {
    char *scope; /* "workflow/instance" log prefix */
    char *kv_ns; /* namespace in the kv store */
    struct cs_backlog *backlog;
    const atomic_int *stopping;
    struct cs_metrics *metrics;
    json_t *streams; /* [{stream, target}] of the workflow, for connector instances */
    const struct cs_ctx_hooks *hooks;
    void *hook_arg;
    /* what host->set_substate forwards to (the workflow of a connector instance) */
    void (*substate)(void *arg, const char *text);
    void *substate_arg;
    /* what host->describe forwards to (set by the owner of an entity handler or stage instance) */
    cs_status (*describe)(void *arg, const char *side, const char *stream, json_t **out, struct cs_ctx *caller);
    void *describe_arg;
    /* what host->connection_shared keys on: connector, connection and its options (NULL: no connection) */
    char *share_scope;
    struct cs_ctx_share *shares;
    /* kv_put while kv_holding is held here (key -> string, or null for a delete) until settled */
    json_t *kv_held;
    int kv_holding;
    /* the last set_reason() of the current call */
    int reason_http;
    int64_t reason_retry_after_ms;
    char *reason;
};

/* The table every plugin receives. */
extern const cs_host cs_host_table;

struct cs_ctx *cs_ctx_new(const char *scope, const char *kv_ns, struct cs_backlog *backlog, const atomic_int *stopping,
                          struct cs_metrics *metrics);
void cs_ctx_free(struct cs_ctx *ctx);
void cs_ctx_set_hooks(struct cs_ctx *ctx, const struct cs_ctx_hooks *hooks, void *arg);
/* What host->mapping_streams answers: [{stream, target}] (steals `streams`). */
void cs_ctx_set_streams(struct cs_ctx *ctx, json_t *streams);
/* Where host->describe goes for this instance (NULL: CS_NODATA). The callee reports failures with
 * cs_ctx_set_reason on `caller`. */
void cs_ctx_set_describer(struct cs_ctx *ctx,
                          cs_status (*fn)(void *arg, const char *side, const char *stream, json_t **out,
                                          struct cs_ctx *caller),
                          void *arg);
/* Where host->set_substate goes for this instance (NULL: ignored). */
void cs_ctx_set_substater(struct cs_ctx *ctx, void (*fn)(void *arg, const char *text), void *arg);
/* The connection a connector instance serves: `connector`'s instances of connection `name` with these
 * resolved options share what host->connection_shared makes. */
void cs_ctx_set_connection(struct cs_ctx *ctx, const cs_connector *connector, const char *name, const json_t *options);
/* While on, host->kv_put is held in memory (host->kv_get sees it) instead of written: a sink's writes
 * inside write(), settled with the batch. */
void cs_ctx_kv_hold(struct cs_ctx *ctx, int on);
/* The held writes, in *kv (borrowed until the next hold or settle); NULL when none are held. */
const struct cs_kv_writes *cs_ctx_kv_held(const struct cs_ctx *ctx, struct cs_kv_writes *kv);
/* The held writes are committed: forget them. */
void cs_ctx_kv_settled(struct cs_ctx *ctx);
/* Commit the held writes in a transaction of their own (when no batch settles them); 0 or the
 * backlog's error (they stay held then). */
int cs_ctx_kv_keep(struct cs_ctx *ctx);
/* Record a reason on ctx as set_reason would (for a core-side callee answering for a plugin). */
void cs_ctx_set_reason(struct cs_ctx *ctx, int http_status, int64_t retry_after_ms, const char *reason);
/* Forget the reason of a previous call (before calling into the plugin). */
void cs_ctx_clear_reason(struct cs_ctx *ctx);
/* The reason of the last call, or `fallback` when the plugin gave none (borrowed). */
const char *cs_ctx_reason(const struct cs_ctx *ctx, const char *fallback);

/* Named counters shared by the instances of one workflow, exported by the admin API. */
struct cs_metrics *cs_metrics_new(void);
void cs_metrics_free(struct cs_metrics *m);
void cs_metrics_add(struct cs_metrics *m, const char *name, int64_t delta);
void cs_metrics_set(struct cs_metrics *m, const char *name, int64_t value);
/* A new object {name: value} of the counters (gauges: 0) or of the gauges (gauges: 1). */
json_t *cs_metrics_snapshot(struct cs_metrics *m, int gauges);

#endif
