/*
 * plugdrive.c - drives connector instances of one plugin the way a workflow does, from a JSON script,
 * so the connector tests control what the host says and see each call's outcome: the plugin is loaded
 * by the core's loader, its options resolved from a crmsync configuration by the core's config
 * module (defaults, durations, secrets), and every instance gets the core's host table with a context
 * on a real state DB (key/value store), shared metrics, the mappings of the script as
 * host->mapping_streams, and the connection's shared objects (host->connection_shared: the script's
 * instances are of one connection, so they share them as a workflow's writers do).
 *
 *   plugdrive SCRIPT.json
 *   {"plugin": "/abs/x.la", "config": "crmsync.conf", "connection": "name", "state": "state.db",
 *    "mappings": [{"stream", "target", ...}], "instances": 1,
 *    "steps": [{"do": "start" | "describe" | "read" | "write" | "metrics" | "kv" | "restart", "instance": 0,
 *               "stream": s, "cursor": c, "max": n, "records": [...], "key": k}]}
 *
 * Prints one JSON line per step (and one for a refused create): {"do", "status", "reason", "http",
 * and per step "out" (describe), "records" and "checkpoints" (read), "results" (write: the records'
 * set_result outcomes), "metrics", "value" (kv)}. Exit status 0 when the script ran, 2 when it could not.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/backlog.h"
#include "config/config.h"
#include "host/host.h"
#include "host/loader.h"
#include "util/log.h"
#include "util/util.h"

struct collect {
    json_t *records, *checkpoints, *results;
};

static const char *status_name(cs_status st)
{
    static const char *const names[] = {"OK", "RETRY", "REJECT", "FATAL", "NODATA"};
    return (unsigned)st < sizeof names / sizeof *names ? names[st] : "?";
}

static cs_status hook_emit(void *arg, cs_record *rec)
{
    struct collect *c = arg;
    json_array_append_new(c->records, rec ? rec : json_null());
    return CS_OK;
}

static cs_status hook_checkpoint(void *arg, const char *stream, json_t *cursor)
{
    struct collect *c = arg;
    json_array_append_new(c->checkpoints, json_pack("{s:s, s:o}", "stream", stream, "cursor", cursor));
    return CS_OK;
}

static void hook_result(void *arg, size_t index, cs_status status, int http, int64_t retry_after_ms, const char *detail)
{
    struct collect *c = arg;
    json_array_append_new(c->results, json_pack("{s:I, s:s, s:i, s:I, s:s}", "index", (json_int_t)index, "status",
                                                status_name(status), "http", http, "retry_after_ms",
                                                (json_int_t)retry_after_ms, "detail", detail ? detail : ""));
}

static const struct cs_ctx_hooks hooks = {hook_emit, hook_checkpoint, hook_result};

static int die(const char *what, const char *detail)
{
    fprintf(stderr, "plugdrive: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 2;
}

/* The connection's options as the daemon resolves them. New object, or NULL with *err (new). */
static json_t *resolve_options(const char *config, const char *connection, const cs_setting *table, char **err)
{
    static const char *const skip[] = {"connector", NULL};
    struct cs_config *cfg = NULL;
    json_t *resolved = NULL;
    char *path;
    if (cs_config_load(config, &cfg, err) != 0)
        return NULL;
    path = cs_xasprintf("connections.%s", connection);
    if (cs_config_plugin_options(cfg, path, table, skip, &resolved, err) != 0)
        resolved = NULL;
    free(path);
    cs_config_free(cfg);
    return resolved;
}

static void print_line(json_t *line)
{
    char *s = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    puts(s ? s : "{}");
    fflush(stdout);
    free(s);
    json_decref(line);
}

/* The outcome of one call: status, and the reason the instance gave. New object. */
static json_t *outcome(const char *what, cs_status st, struct cs_ctx *ctx)
{
    return json_pack("{s:s, s:s, s:s, s:i}", "do", what, "status", status_name(st), "reason", cs_ctx_reason(ctx, ""),
                     "http", ctx->reason_http);
}

/* The instances of the connection and what making one takes. */
struct drive {
    const cs_connector *conn;
    const char *connection;
    json_t *options, *mappings;
    struct cs_backlog *backlog;
    struct cs_metrics *metrics;
    atomic_int stopping;
    struct cs_ctx **ctxs;
    void **inst;
    size_t n;
};

/* Make instance i (its context, then create()), as a workflow starting does; prints a refused create. */
static cs_status make_instance(struct drive *d, size_t i)
{
    char scope[64];
    cs_status st;
    snprintf(scope, sizeof scope, "plugdrive/%s#%zu", d->connection, i);
    d->ctxs[i] = cs_ctx_new(scope, d->connection, d->backlog, &d->stopping, d->metrics);
    cs_ctx_set_streams(d->ctxs[i], json_deep_copy(d->mappings));
    cs_ctx_set_connection(d->ctxs[i], d->conn, d->connection, d->options);
    if ((st = d->conn->create(&cs_host_table, d->ctxs[i], d->options, &d->inst[i])) != CS_OK) {
        print_line(outcome("create", st, d->ctxs[i]));
        d->inst[i] = NULL;
    }
    return st;
}

/* Stop and destroy instance i and free its context, as a workflow stopping does. */
static void end_instance(struct drive *d, size_t i)
{
    if (d->inst[i]) {
        if (d->conn->stop)
            d->conn->stop(d->inst[i]);
        d->conn->destroy(d->inst[i]);
        d->inst[i] = NULL;
    }
    cs_ctx_free(d->ctxs[i]);
    d->ctxs[i] = NULL;
}

static cs_status run_step(struct drive *d, const json_t *step, json_t **line)
{
    const cs_connector *conn = d->conn;
    void **inst = d->inst;
    struct cs_ctx **ctxs = d->ctxs;
    size_t n = d->n;
    const char *what = json_string_value(json_object_get(step, "do"));
    size_t i = (size_t)json_integer_value(json_object_get(step, "instance"));
    const char *stream = json_string_value(json_object_get(step, "stream"));
    struct collect c = {json_array(), json_array(), json_array()};
    json_t *out = NULL;
    cs_status st = CS_OK;

    if (!what || i >= n || !inst[i]) {
        *line = json_pack("{s:s, s:s}", "do", what ? what : "?", "status", "bad step");
        goto done;
    }
    if (!strcmp(what, "restart")) { /* the instance ends and a new one is made, as a workflow's stop+start */
        end_instance(d, i);
        st = make_instance(d, i);
        if (st == CS_OK)
            st = conn->start ? conn->start(inst[i]) : CS_OK;
        *line = json_pack("{s:s, s:s}", "do", what, "status", status_name(st));
        goto done;
    }
    cs_ctx_clear_reason(ctxs[i]);
    cs_ctx_set_hooks(ctxs[i], &hooks, &c);
    if (!strcmp(what, "start"))
        st = conn->start ? conn->start(inst[i]) : CS_OK;
    else if (!strcmp(what, "describe"))
        st = conn->describe ? conn->describe(inst[i], stream ? stream : "", &out) : CS_NODATA;
    else if (!strcmp(what, "read")) {
        /* the reader's lifetime: the cursor lives for the call and is freed when it returns, so a
         * plugin that keeps a pointer into it is caught (ASan) */
        json_t *cursor = json_deep_copy(json_object_get(step, "cursor"));
        json_int_t max = json_integer_value(json_object_get(step, "max"));
        st = conn->read(inst[i], stream ? stream : "", json_is_null(cursor) ? NULL : cursor,
                        max > 0 ? (size_t)max : 1000);
        json_decref(cursor);
    } else if (!strcmp(what, "write")) {
        json_t *records = json_object_get(step, "records");
        size_t k = json_array_size(records);
        cs_record **batch = calloc(k ? k : 1, sizeof *batch);
        for (size_t r = 0; r < k; r++)
            batch[r] = json_array_get(records, r);
        st = conn->write(inst[i], batch, k);
        free(batch);
    } else if (strcmp(what, "metrics") && strcmp(what, "kv")) {
        *line = json_pack("{s:s, s:s}", "do", what, "status", "bad step");
        goto done;
    }
    *line = outcome(what, st, ctxs[i]);
    if (out)
        json_object_set_new(*line, "out", out);
    if (!strcmp(what, "read")) {
        json_object_set(*line, "records", c.records);
        json_object_set(*line, "checkpoints", c.checkpoints);
    }
    if (!strcmp(what, "write"))
        json_object_set(*line, "results", c.results);
    if (!strcmp(what, "metrics"))
        json_object_set_new(*line, "metrics", cs_metrics_snapshot(d->metrics, 0));
    if (!strcmp(what, "kv")) {
        char *v = cs_host_table.kv_get(ctxs[i], json_string_value(json_object_get(step, "key")));
        json_object_set_new(*line, "value", v ? json_string(v) : json_null());
        free(v);
    }
done:
    if (i < n && ctxs[i])
        cs_ctx_set_hooks(ctxs[i], NULL, NULL);
    json_decref(c.records);
    json_decref(c.checkpoints);
    json_decref(c.results);
    return st;
}

int main(int argc, char **argv)
{
    json_t *script, *step;
    struct cs_registry *reg = cs_registry_new();
    struct drive d = {.metrics = cs_metrics_new()};
    const struct cs_component *comp = NULL;
    const char *plugin;
    char *err = NULL;
    size_t i;
    int rc = 0;

    if (argc != 2)
        return die("usage", "plugdrive SCRIPT.json");
    if (!(script = json_load_file(argv[1], 0, NULL)))
        return die("cannot read the script", argv[1]);
    cs_log_set_level(getenv("PLUGDRIVE_DEBUG") ? CS_LOG_DEBUG : CS_LOG_INFO);
    d.connection = json_string_value(json_object_get(script, "connection"));
    d.mappings = json_object_get(script, "mappings");
    plugin = json_string_value(json_object_get(script, "plugin"));
    d.n = json_integer_value(json_object_get(script, "instances")) > 0
              ? (size_t)json_integer_value(json_object_get(script, "instances"))
              : 1;
    if (!d.connection || !plugin || cs_loader_load(reg, NULL, plugin, &err) != 0) {
        rc = die("cannot load the plugin", err);
        goto out;
    }
    for (i = 0; i < reg->n_components && !comp; i++)
        if (reg->components[i]->kind == CS_KIND_CONNECTOR)
            comp = reg->components[i];
    if (!comp) {
        rc = die("the plugin has no connector", NULL);
        goto out;
    }
    d.conn = &comp->u.connector;
    if (!(d.options = resolve_options(json_string_value(json_object_get(script, "config")), d.connection,
                                      cs_component_options(comp), &err)) ||
        cs_backlog_open(json_string_value(json_object_get(script, "state")), &d.backlog, &err) != 0) {
        rc = die("cannot prepare the instances", err);
        goto out;
    }
    d.ctxs = calloc(d.n, sizeof *d.ctxs);
    d.inst = calloc(d.n, sizeof *d.inst);
    for (i = 0; i < d.n; i++)
        if (make_instance(&d, i) != CS_OK)
            goto out;
    json_array_foreach (json_object_get(script, "steps"), i, step) {
        json_t *line = NULL;
        run_step(&d, step, &line);
        print_line(line);
    }
out:
    for (i = 0; d.ctxs && i < d.n; i++)
        end_instance(&d, i);
    free(d.ctxs);
    free(d.inst);
    json_decref(d.options);
    json_decref(script);
    free(err);
    cs_backlog_close(d.backlog);
    cs_metrics_free(d.metrics);
    cs_registry_free(reg);
    return rc;
}
