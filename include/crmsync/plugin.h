/*
 * crmsync/plugin.h - the versioned plugin ABI: descriptors, option tables, the host table.
 *
 * A plugin is a shared object that exports exactly one symbol, cs_plugin_entry(). The core calls it with
 * its own ABI version and gets back a cs_plugin descriptor listing the plugin's connectors (endpoints
 * that read and/or write records), entity handlers (how one kind of record is keyed and ordered) and
 * stages (record -> record | drop | reject). Every descriptor begins with CS_HEAD_FIELDS; structs only
 * grow at the end within a major, and the core reads a member only when struct_size covers it.
 * Compatibility policy and the dated bump log: doc/plugin-abi.md.
 *
 * Ownership follows jansson: arguments are borrowed unless the comment says "steals"; results named
 * _new or documented as "new" belong to the caller.
 * Concurrency: the core never calls one plugin instance from two threads at once; different instances
 * of the same plugin may run concurrently, so plugins keep no global mutable state.
 */
#ifndef CRMSYNC_PLUGIN_H
#define CRMSYNC_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <crmsync/record.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI 1.0 (2026-11-28): initial. ABI 1.1 (2026-11-28): cs_host.mapping_streams.
 * ABI 1.2 (2026-11-28): cs_connector.describe, cs_host.describe, cs_host.set_substate, cs_host.metric_set,
 * mapping_streams for entity handlers.
 * ABI 1.3 (2026-12-03): cs_host.connection_shared; a sink's kv_put inside write() is durable when the
 * batch settles.
 * ABI 1.4 (2026-12-03): cs_setting, the option table that states ranges and choices (the descriptors'
 * `settings`).
 * ABI 1.5 (2026-12-03): cs_connector.preflight, cs_entity.needs (preflight and setup, issue 19).
 * Bump the minor when appending members; the major on anything else. */
#define CS_ABI_MAJOR 1
#define CS_ABI_MINOR 5
#define CS_MAGIC     0x534d5243u /* "CRMS" read as little-endian bytes */

#define CS_HEAD_FIELDS                                                                                                 \
    uint32_t magic;                                                                                                    \
    uint16_t abi_major;                                                                                                \
    uint16_t abi_minor;                                                                                                \
    uint32_t struct_size
/* First initializers of every descriptor: CS_HEAD(cs_connector), then designated members. */
#define CS_HEAD(T) CS_MAGIC, CS_ABI_MAJOR, CS_ABI_MINOR, (uint32_t)sizeof(T)

/* Result of every plugin callback. */
typedef enum cs_status {
    CS_OK = 0,
    CS_RETRY = 1,  /* transient (network, 408, 429, 5xx): keep the record, back off, try again */
    CS_REJECT = 2, /* this record can never succeed (validation 4xx): dead-letter it with the detail */
    CS_FATAL = 3,  /* the instance is unusable (auth refused, schema gone): the workflow goes FAILED */
    CS_NODATA = 4  /* read(): nothing new at the source right now */
} cs_status;

/* syslog severities, so they map onto journald priorities unchanged. */
enum cs_log_level { CS_LOG_ERROR = 3, CS_LOG_WARNING = 4, CS_LOG_NOTICE = 5, CS_LOG_INFO = 6, CS_LOG_DEBUG = 7 };

/*
 * Declarative option table: the core validates the configuration against it, fills defaults, prints it
 * in `crmsyncd --list-plugins` and redacts secrets. The value handed to create() is an object holding
 * every option: strings as strings, CS_OPT_INT and CS_OPT_DURATION as integers (durations in
 * milliseconds), CS_OPT_BOOL as booleans, CS_OPT_LIST as an array of strings, CS_OPT_JSON as given.
 * An option flagged CS_OPT_SECRET is never accepted inline: the operator writes `<name>_file` (a file
 * readable by its owner only) or `<name>_env`, and the plugin receives the value under `<name>`.
 * Two tables say this: cs_option (ABI 1.0, the descriptors' `options`), whose element layout is fixed
 * for the whole major, and cs_setting (ABI 1.4, `settings`), which grows like a descriptor and also
 * states each option's accepted range or values. A descriptor gives one of them; each ends with an
 * entry whose name is NULL.
 */
typedef enum cs_option_type {
    CS_OPT_STRING = 0,
    CS_OPT_INT = 1,
    CS_OPT_BOOL = 2,
    CS_OPT_DURATION = 3, /* "250ms", "5s", "30m", "1h", "2d" or integer seconds */
    CS_OPT_LIST = 4,     /* list of strings */
    CS_OPT_JSON = 5      /* any JSON value, validated by the plugin */
} cs_option_type;

#define CS_OPT_REQUIRED 0x1u
#define CS_OPT_SECRET   0x2u
/* A file or directory (1.3): the core hands the plugin a relative one taken from the configuration
 * file's directory, as it does its own paths; a URL (anything with "://") is left as written. */
#define CS_OPT_PATH 0x4u

typedef struct cs_option {
    const char *name;
    cs_option_type type;
    unsigned flags;            /* CS_OPT_REQUIRED | CS_OPT_SECRET | CS_OPT_PATH */
    const char *default_value; /* textual default as it would be written in the config, or NULL */
    const char *help;          /* one line */
} cs_option;

/*
 * ABI 1.4: one option of a `settings` table. Every element begins with its own size, CS_SETTING_HEAD, so
 * the element can grow at the end within the major like the descriptors do: the core steps through the
 * table by the first element's struct_size and reads a member only when it is covered. The core refuses
 * a value out of range or not among the choices at its file:line:col, before create() sees it, and
 * `crmsyncd --list-plugins` shows both:
 *
 *   static const char *const modes[] = {"fast", "safe", NULL};
 *   static const cs_setting settings[] = {
 *       {CS_SETTING_HEAD, "page_size", CS_OPT_INT, 0, "500", "rows per page", .min = 1, .max = 5000},
 *       {CS_SETTING_HEAD, "mode", CS_OPT_STRING, CS_OPT_REQUIRED, NULL, "how to write", .choices = modes},
 *       {CS_SETTING_HEAD, NULL},
 *   };
 */
typedef struct cs_setting {
    uint32_t struct_size; /* CS_SETTING_HEAD: sizeof(cs_setting) as the plugin was built */
    const char *name;     /* NULL ends the table */
    cs_option_type type;
    unsigned flags;            /* CS_OPT_REQUIRED | CS_OPT_SECRET */
    const char *default_value; /* textual default as it would be written in the config, or NULL */
    const char *help;          /* one line */
    /* CS_OPT_INT, and CS_OPT_DURATION in milliseconds: the accepted range, both ends included, when
     * min < max; max INT64_MAX means "at least min". 0 and 0: any value. */
    int64_t min, max;
    const char *const *choices; /* CS_OPT_STRING: the accepted values, NULL-terminated; NULL: any string */
} cs_setting;
/* First initializer of every element: it designates struct_size, and the members after it follow in order. */
#define CS_SETTING_HEAD .struct_size = (uint32_t)sizeof(cs_setting)

/* Opaque per-instance context the core hands to every host call. */
typedef struct cs_ctx cs_ctx;

/*
 * Services the core offers a plugin instance. Passed to create(); valid until destroy() returns.
 * Append-only: check struct_size before using a member newer than your build's CS_ABI_MINOR.
 */
typedef struct cs_host {
    uint32_t struct_size;
    uint16_t abi_major, abi_minor;

    /* Log with the instance's [workflow/plugin] prefix. Never pass secrets; payloads only at DEBUG. */
    void (*log)(cs_ctx *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

    /* Source, inside read(): hand one record to the core (steals `rec`). The core maps it and holds it
     * until the next checkpoint. CS_RETRY asks the source to stop emitting and return soon. */
    cs_status (*emit)(cs_ctx *ctx, cs_record *rec);
    /* Source, inside read(): every record emitted so far is covered by `cursor` (steals it). The core
     * commits those records and the cursor in one transaction, then calls ack(). */
    cs_status (*checkpoint)(cs_ctx *ctx, const char *stream, json_t *cursor);

    /* Sink, inside write(): the outcome of record `index` of the batch when it is not CS_OK.
     * retry_after_ms <= 0 means "use the workflow's backoff"; http_status 0 when there is none. */
    void (*set_result)(cs_ctx *ctx, size_t index, cs_status status, int http_status, int64_t retry_after_ms,
                       const char *detail);
    /* Any callback returning CS_RETRY, CS_REJECT or CS_FATAL: why, for the operator (no secrets). */
    void (*set_reason)(cs_ctx *ctx, int http_status, int64_t retry_after_ms, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

    /* A small persistent key/value store private to this connection, stage or entity handler (for
     * caches such as key -> remote id). kv_get returns a new string (free() it) or NULL when absent;
     * kv_put with value NULL deletes. Since 1.3, a sink's kv_put inside write() is held in memory and
     * committed in the transaction that settles the batch (or, when the batch goes back to the backlog
     * unsettled, in one of its own): it is durable once the batch settles, not when kv_put returns.
     * kv_get sees the held values at once (a held delete reads as absent). Everywhere else kv_put is
     * durable when it returns CS_OK. The writers of one workflow share the namespace of their
     * connection and never hold the same record key at once, so keys derived from the record key are
     * never written by two writers at the same time. */
    char *(*kv_get)(cs_ctx *ctx, const char *key);
    cs_status (*kv_put)(cs_ctx *ctx, const char *key, const char *value);

    /* Add `delta` to the counter `name` of this instance (exported by the admin API). */
    void (*metric_add)(cs_ctx *ctx, const char *name, int64_t delta);

    /* Nonzero once the core wants a long-running call to return (the workflow is stopping). */
    int (*stopping)(cs_ctx *ctx);

    /* ABI 1.1: the mappings of the workflow this instance serves, as a new array of
     * {"stream": source stream, "target": destination stream}, so that start() can check every table
     * it will read or write. Since 1.2 each element also holds the mapping's definition under
     * "mapping", the source columns a table mapping reads under "columns", "labels" (true: choice
     * columns as labels), "target_key" (the destination's key field), and entity handlers get the
     * list too, their own mapping's element marked "self": true (still empty for stages). */
    json_t *(*mapping_streams)(cs_ctx *ctx);

    /* ABI 1.2, entity handlers and stages, only inside create(): what the workflow's source
     * (side "source") or sink (side "target") connector's describe() says of `stream`, in the shape
     * documented at cs_connector.describe. Same results as describe(); CS_NODATA also when the
     * connector has no describe(). */
    cs_status (*describe)(cs_ctx *ctx, const char *side, const char *stream, json_t **out);

    /* ABI 1.2, connectors: a condition the operator should see while the workflow goes on running
     * (e.g. "no opt-out export for 27 h"), shown as its sub-state until cleared with NULL. Unlike
     * CS_RETRY it neither backs off nor fails anything. */
    void (*set_substate)(cs_ctx *ctx, const char *text);
    /* ABI 1.2: set the gauge `name` of this workflow to `value` (exported as a gauge, unlike the
     * counters of metric_add). */
    void (*metric_set)(cs_ctx *ctx, const char *name, int64_t value);

    /* ABI 1.3, connectors: the object every connector instance of this connection in this process
     * shares under `name` (a workflow's writers and reader, the admin API's instances, other workflows
     * naming the same connection), such as an OAuth token, metadata, or an in-flight limit and a
     * Retry-After pause. The first instance that asks makes it with make(arg); the others get the same
     * pointer (a concurrent caller waits until it is made). It is released with release(obj) a minute
     * after the last instance that asked for it is destroyed, unless a new instance (a workflow started
     * again) takes it in that time, and before the plugin is unloaded. Instances share it when they are
     * of the same connector, connection name and options (a reload that changes the options gets a new
     * object).
     * make() may return NULL: the call then returns NULL and nothing is kept, so the next call makes
     * again. NULL too outside a connector instance. The plugin makes the object thread-safe: instances
     * use it from several threads at once. make() and release() may not call the host. */
    void *(*connection_shared)(cs_ctx *ctx, const char *name, void *(*make)(void *arg), void (*release)(void *obj),
                               void *arg);
} cs_host;

/* Connector capabilities. */
#define CS_CAP_SOURCE 0x1u /* read() and, optionally, ack() */
#define CS_CAP_SINK   0x2u /* write() */

/* An endpoint. create() and destroy() are required; read() for sources, write() for sinks. */
typedef struct cs_connector {
    CS_HEAD_FIELDS;
    const char *name, *version, *description;
    uint32_t caps;
    const cs_option *options;

    /* New instance from validated options. The core creates one instance per reader and per writer, and
     * one (destroyed at once, without start()) whenever it checks a configuration, so that an option
     * create() refuses is reported at its file:line: do no I/O here, and begin a refusal's reason with
     * the option's name ("max_in_flight must be 1-1024"). */
    cs_status (*create)(const cs_host *host, cs_ctx *ctx, const json_t *options, void **inst);
    /* Connect, authenticate, check metadata. CS_RETRY keeps the workflow STARTING and retries later. */
    cs_status (*start)(void *inst);
    /* Emit up to max_records changes of `stream` after `cursor` (NULL on first run) with host->emit and
     * cover them with host->checkpoint. CS_OK: more may be ready now; CS_NODATA: caught up. */
    cs_status (*read)(void *inst, const char *stream, const json_t *cursor, size_t max_records);
    /* Optional: the records up to `cursor` are durable in the backlog. */
    cs_status (*ack)(void *inst, const char *stream, const json_t *cursor);
    /* Write n records (upsert or delete by key; idempotent). Per-record outcomes through
     * host->set_result; records without one succeeded. CS_RETRY or CS_FATAL for the whole batch. */
    cs_status (*write)(void *inst, cs_record *const *records, size_t n);
    void (*stop)(void *inst);
    void (*destroy)(void *inst);

    /* ABI 1.2, optional, called after start(): the live metadata of `stream` (a table read or a
     * target written), as a new object in *out:
     *   {"name": remote table/resource name,
     *    "key": the field holding the record key,
     *    "rows": number of rows (only when the remote can count them cheaply),
     *    "fields": {field: {"type": T, "native": remote type name,
     *                       "choice": true (a picklist; "labels": {value: label}),
     *                       "lookup": table (a reference to another table's key),
     *                       "link": resource (a link to another resource),
     *                       "unique": true (can identify a record), "readonly": true}}}
     * with T one of boolean integer decimal double string date datetime, or "other" (synced as a
     * string). Nested fields are listed by dotted path ("location.city"). CS_NODATA: this connection
     * does not know `stream`; CS_RETRY / CS_FATAL with set_reason as usual.
     * A name no stream of the instance uses is described on demand when the remote system has such a
     * table ("key" may then be absent: none is chosen yet), so that an editor can offer any table.
     * With stream NULL, the tables the connection can see, for choosing one:
     *   {"tables": [{"name": what a mapping's stream or target names, "label": display name, ...}]}
     * (connectors add members of their own, e.g. "configured": true for the streams of their options).
     * The core asks both on a fresh instance (create, start, describe, stop, destroy) for the admin API. */
    cs_status (*describe)(void *inst, const char *stream, json_t **out);

    /* ABI 1.4: the option table with ranges and choices, instead of `options` (leave that NULL). */
    const cs_setting *settings;

    /* ABI 1.5, optional: the prerequisites in the remote system of the workflows that use this
     * connection. Called on a fresh instance after create() and without start() (what start() would
     * refuse is among what it reports), outside any workflow. `need` is
     *   {"workflows": [{"id", "title", "side": "source" | "sink",
     *                   "mappings": [mapping_streams elements, each with "needs" (the entity handler's
     *                                cs_entity.needs, when it has one) and "source_fields" (what the
     *                                source connector's describe() says of the stream's fields, when it
     *                                could)]}]}
     * With CS_PREFLIGHT_CHECK it checks and *out is a new array of checks
     *   {"workflow": id (absent for the connection itself), "check": what, "ok": bool,
     *    "warning": true (ok, but near or past a documented limit), "detail": what was found,
     *    "fix": what to do (the setting, the screen of the remote system, or the setup command)},
     * one per prerequisite, an unreachable system being one failed check with its cause. With
     * CS_PREFLIGHT_SETUP it creates what is missing and may be created through the API (never deleting or
     * altering what holds data), and *out lists each step {"check": what, "ok", "changed": bool,
     * "detail": the request sent (or, with CS_PREFLIGHT_DRY_RUN, that would be sent)}; nothing missing is
     * an empty array. CS_OK when the checks were made or the steps done, whatever they found; CS_RETRY
     * or CS_FATAL with set_reason when it could not go on (*out may then hold the steps done). */
    cs_status (*preflight)(void *inst, const json_t *need, unsigned flags, json_t **out);
} cs_connector;

/* cs_connector.preflight flags */
#define CS_PREFLIGHT_CHECK   0x0u
#define CS_PREFLIGHT_SETUP   0x1u
#define CS_PREFLIGHT_DRY_RUN 0x2u

/*
 * How one kind of record is synced. prepare() runs before the stages: it sets the record's key from
 * the entity's identity and may apply the entity's default mapping. order() (optional) ranks streams
 * for writing so that linked parents go before children: lower first.
 */
typedef struct cs_entity {
    CS_HEAD_FIELDS;
    const char *name, *version, *description;
    const cs_option *options;

    cs_status (*create)(const cs_host *host, cs_ctx *ctx, const json_t *options, void **inst);
    /* Same contract as cs_stage.apply. */
    cs_status (*prepare)(void *inst, cs_record **rec);
    int (*order)(void *inst, const char *stream);
    void (*destroy)(void *inst);

    /* ABI 1.4: as cs_connector.settings. */
    const cs_setting *settings;

    /* ABI 1.5, optional: what the handler writes into its mapping's target, for the sink's preflight and
     * setup, as a new object {"activity": true (the target is a timeline activity table),
     * "fields": {column: {"type": T as in describe(), "max_length": n (strings), "lookup": table,
     *                     "label": display name}}}. */
    json_t *(*needs)(void *inst);
} cs_entity;

/*
 * A mapping stage. apply() owns *rec for the duration of the call and may mutate it in place, replace
 * it (json_decref the old one, store the new one) or drop it (json_decref and store NULL).
 * CS_REJECT (with host->set_reason) dead-letters the record; the core still owns *rec then.
 */
typedef struct cs_stage {
    CS_HEAD_FIELDS;
    const char *name, *version, *description;
    const cs_option *options;

    cs_status (*create)(const cs_host *host, cs_ctx *ctx, const json_t *options, void **inst);
    cs_status (*apply)(void *inst, cs_record **rec);
    void (*destroy)(void *inst);

    /* ABI 1.4: as cs_connector.settings. */
    const cs_setting *settings;
} cs_stage;

/* What cs_plugin_entry returns. Each list is NULL-terminated; a NULL list means none. */
typedef struct cs_plugin {
    CS_HEAD_FIELDS;
    const char *name, *version;
    const cs_connector *const *connectors;
    const cs_entity *const *entities;
    const cs_stage *const *stages;
} cs_plugin;

/* The only exported symbol. Return NULL to refuse a core whose ABI you cannot serve. */
#define CS_PLUGIN_ENTRY_SYMBOL "cs_plugin_entry"
typedef const cs_plugin *(*cs_plugin_entry_fn)(uint16_t core_abi_major, uint16_t core_abi_minor);

#if defined(__GNUC__)
#define CS_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define CS_PLUGIN_EXPORT
#endif

/* Every plugin defines it, usually with CS_PLUGIN_ENTRY below. */
CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(uint16_t core_abi_major, uint16_t core_abi_minor);

/* Define cs_plugin_entry() returning the descriptor `desc` to any core of this ABI major (a core with
 * an older minor is refused by the core itself when the descriptors say they need a newer one). */
#define CS_PLUGIN_ENTRY(desc)                                                                                          \
    CS_PLUGIN_EXPORT const cs_plugin *cs_plugin_entry(uint16_t core_abi_major, uint16_t core_abi_minor)                \
    {                                                                                                                  \
        (void)core_abi_minor;                                                                                          \
        return core_abi_major == CS_ABI_MAJOR ? &(desc) : NULL;                                                        \
    }

#ifdef __cplusplus
}
#endif

#endif
