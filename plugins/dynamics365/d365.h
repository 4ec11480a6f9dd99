/*
 * d365.h - internals shared by the files of the dynamics365 plugin: the instance, the per-stream table
 * description (what describe found and what the operator configured), and the functions each file
 * provides. Nothing here is exported from the shared object.
 */
#ifndef D365_H
#define D365_H

#include <stddef.h>
#include <stdint.h>

#include <crmsync/plugin.h>

#include "http/cshttp.h"

#define D365_MAX_PAGE      5000
#define D365_MAX_BATCH     1000
#define D365_MAX_IN_FLIGHT 52 /* Dataverse's service protection: concurrent requests per user */
#define D365_ID_BUCKETS    16 /* buckets of a stream's id set (d365_ids.c) */

/* One configured stream: the table it maps to, as configured and as described by EntityDefinitions. */
struct d365_table {
    char *stream;    /* the stream name used in the workflow mappings */
    char *logical;   /* LogicalName as configured, or NULL to look it up by stream name */
    json_t *columns; /* array of column names to read (NULL: the stream is not read) */
    json_t *labels;  /* true, or an array of choice columns read as labels; NULL: none */
    json_t *key;     /* array of alternate-key columns the sink writes by; NULL: the primary id */
    int update_only; /* PATCH with If-Match: * (never creates rows) */
    json_t *lookups; /* lookup column -> {"table": as configured; after d365_lookups_describe: "logical",
                         * "set" (entity set) and "nav" (navigation property)}; NULL: none (d365_lookup.c) */
    int lookups_ready;
    int mapped; /* columns (and labels) came from the workflow's mapping, not from `tables` */

    /* filled by d365_describe() */
    int described;
    char *entity_set;   /* EntitySetName */
    char *primary_id;   /* PrimaryIdAttribute */
    char *select;       /* the $select list (lookups as _x_value) */
    json_t *attr_types; /* LogicalName -> AttributeType */
    json_t *options;    /* choice column -> {"<value>": "<label>"} for the label columns */

    /* read state: one page in memory, tied to the cursor last checkpointed */
    json_t *page;   /* the current page's value array */
    size_t pos;     /* rows of it already checkpointed */
    char *page_url; /* the URL that returned the page */
    char *next_link, *delta_link;
    json_t *cursor_at;            /* the cursor the page state corresponds to */
    struct cshttp_pending *ahead; /* the GET of next_link, started when the page arrived (or NULL) */
    long page_no;                 /* index of the page in the full sync in progress; -1 on a delta page */
    char tag[17];                 /* names the stream's id set (d365_ids.c); carried in every cursor */
    int cycle_rows;               /* rows emitted since the last deltaLink was reached */
    size_t cycle_gone;            /* deletes emitted by the purge of the full sync in progress */
};

struct d365 {
    const cs_host *host;
    cs_ctx *ctx;
    char *org_url;       /* without a trailing slash */
    char *api;           /* <org>/api/data/<version> */
    char *settings_hint; /* names the settings to check when the credentials are refused */
    int page_size, batch_size;
    struct cshttp_options http_opts;
    struct cshttp_counter calls; /* every request counted as http_<status> */
    struct cshttp_client *http;  /* every request but the pages read ahead; $batch requests concurrently */
    struct cshttp_client *ahead; /* the reader's next pages, fetched while a page is committed (lazily) */
    /* the connection's state, shared by its instances: its gate (max_in_flight, Retry-After pauses),
     * token cache and the metadata documents read lately (borrowed; own_shared holds them under a core
     * without connection_shared) */
    struct cshttp_gate *gate;
    struct cshttp_token *token;
    struct cshttp_docs *docs;
    struct cshttp_shared *own_shared;
    int docs_live; /* describe(): read the metadata now, not another instance's copy */
    struct d365_table *tables;
    size_t n_tables;
    json_t *linked; /* tables lookups point at: name -> {"logical", "set"} (d365_lookup.c) */
};

/* ---- d365_http.c ------------------------------------------------------------------------------ */

/*
 * An authenticated Web API request (the OData headers added; `headers` NULL-terminated extra lines).
 * A 401 forces one token refresh and one retry. Returns the outcome class of the answer (cshttp_classify)
 * and, when it is not CS_OK, sets the instance's reason naming `what` and the service's message.
 */
cs_status d365_call(struct d365 *d, struct cshttp_client *c, const char *method, const char *url,
                    const char *const *headers, const char *body, size_t body_len, const char *what,
                    struct cshttp_response *r);
/* The reason for an answer that is not a success (`st` its class), naming `what`. */
void d365_explain(struct d365 *d, const char *what, const struct cshttp_response *r, cs_status st);

/* A GET started now on client `c` with d365_call's headers (copied), answered at d365_call_finish.
 * NULL when it cannot start (out of memory, no token at hand): the caller sends it with d365_call. */
struct cshttp_pending *d365_call_start(struct d365 *d, struct cshttp_client *c, const char *url,
                                       const char *const *headers);
/* The answer of a started GET, as d365_call's: a 401 (token refreshed) or a transport failure (e.g. the
 * request waited too long) sends it again with d365_call. Frees `p`; cshttp_pending_free abandons one. */
cs_status d365_call_finish(struct d365 *d, struct cshttp_pending *p, const char *what, struct cshttp_response *r);
/* The bearer token (new: cshttp_token_drop it), fetching it when needed (`force`: again, unless it
 * changed since `seen`); on failure the reason is set. */
cs_status d365_token(struct d365 *d, int force, const char *seen, char **token);
/* "<code>: <message>" of an error body ({"error":{"code","message"}}), or the start of the body. */
void d365_error_text(const char *body, size_t len, char *out, size_t outlen);
/* The error code of an error body into out, "" when there is none. */
void d365_error_code(const char *body, size_t len, char *out, size_t outlen);

/* ---- d365_describe.c -------------------------------------------------------------------------- */

/* Describe `t` from EntityDefinitions (once). CS_FATAL with a reason when the configuration cannot work
 * against this org (unknown table or column, change tracking off on a read table, undeclared key). */
cs_status d365_describe(struct d365 *d, struct d365_table *t);
/* GET a URL relative to the API as JSON (*out new); the reason names `what` when it fails. */
cs_status d365_get_json(struct d365 *d, const char *path, const char *what, json_t **out);
/* The option labels of every choice column (Picklist, State, Status) of a described table, as a new
 * object {column: {"<value>": "<label>"}}. */
cs_status d365_choice_labels(struct d365 *d, const struct d365_table *t, json_t **out);

/* ---- d365_schema.c: the connector's describe() (plugin ABI 1.2) --------------------------------- */

cs_status d365_describe_stream(void *inst, const char *stream, json_t **out);
/* The describe() type of a Dataverse AttributeType (boolean, integer, ..., "other"). */
const char *d365_normal_type(const char *native);

/* ---- d365_preflight.c / d365_setup.c: preflight and setup (plugin ABI 1.4) ----------------------- */

/* One preflight or setup run. */
struct d365_pf {
    struct d365 *d;
    unsigned flags;     /* CS_PREFLIGHT_* */
    json_t *out;        /* the checks, or the setup steps */
    json_t *needs;      /* per (workflow, table): {workflow, name, stream, read, write, columns: {column: what
                         * the handler writes, or {} for a column read}, key?, activity, update_only} */
    json_t *org;        /* table name -> {entity, attributes, keys} as read live ({}: no such table) */
    json_t *privileges; /* the application user's privilege names -> true; NULL: unknown */
    char user_id[64];
    long http;      /* HTTP status of the last d365_pf_request (0: none) */
    char why[1024]; /* why the last d365_pf_request failed */
};

cs_status d365_preflight(void *inst, const json_t *need, unsigned flags, json_t **out);
/* A Web API request relative to the API (`body` sent as JSON, *out the JSON answer, new, when `out`):
 * on failure pf->why says what happened and pf->http holds the status. */
cs_status d365_pf_request(struct d365_pf *pf, const char *method, const char *path, const json_t *body, json_t **out);
/* Append a check or step to pf->out (fix only when !ok; `workflow` may be NULL). */
void d365_pf_add(struct d365_pf *pf, const char *workflow, const char *check, int ok, const char *fix, const char *fmt,
                 ...) __attribute__((format(printf, 6, 7)));
/* The org's table `name` (logical or entity set name), read once per run: *state borrowed, {} when the
 * org has no such table. */
cs_status d365_pf_table(struct d365_pf *pf, const char *name, json_t **state);
/* Read `name` again at the next d365_pf_table (it was changed). */
void d365_pf_forget(struct d365_pf *pf, const char *name);
/* The AttributeType of `column` in a table state, or NULL. */
const char *d365_pf_attr_type(const json_t *state, const char *column);
/* The table state's key on exactly `columns` (any order), or NULL. */
const json_t *d365_pf_key(const json_t *state, const json_t *columns);
/* Can a column of AttributeType `native` hold what `want` ({type, lookup}) describes? */
int d365_pf_compatible(const json_t *want, const char *native);
/* Create what pf->needs lacks (d365_setup.c). */
cs_status d365_setup(struct d365_pf *pf);

/* ---- d365_mapping.c: what the workflow's mappings tell the connection --------------------------- */

/* Streams read because a mapping reads them: a mapping_streams element carrying "columns" (and
 * "labels") configures its stream when `tables` gives it no columns and does not list its target. */
cs_status d365_mapped_tables(struct d365 *d);
/* Nonzero when a mapping names `stream` on this connection's side: as its stream when the connection
 * does not write its target, as its target when the connection does not read its stream. */
int d365_mapping_names(struct d365 *d, const char *stream);

/* ---- d365_read.c / d365_write.c --------------------------------------------------------------- */

cs_status d365_read(void *inst, const char *stream, const json_t *cursor, size_t max_records);
cs_status d365_write(void *inst, cs_record *const *records, size_t n);
/* A GUID in its 36-character form (the key of a row of a primary-id table). NULL is not one. */
int d365_is_guid(const char *s);
/* Free the read state of a table (its page and links). */
void d365_read_reset(struct d365_table *t);
/* The primary id of a change-tracking entry (borrowed); *deleted set for a $deletedEntity entry. */
const char *d365_row_id(const struct d365_table *t, const json_t *row, int *deleted);

/* ---- d365_ids.c: the ids a stream has emitted and not deleted, per id-set tag ------------------ */

/* Full sync: the ids of page `page` (`merge`: added to those stored for it, else replacing them). */
cs_status d365_ids_seen(struct d365 *d, const struct d365_table *t, const char *tag, long page, const json_t *rows,
                        int merge);
/* Delta: add the upserted ids of rows[from, to) to the set (before their checkpoint), or with `deletes`
 * remove the ids of its $deletedEntity entries (after it). */
cs_status d365_ids_apply(struct d365 *d, const struct d365_table *t, const char *tag, const json_t *rows, size_t from,
                         size_t to, int deletes);
/* After a full sync of `pages` pages, bucket `bucket`: emit a delete for each known id the sync did not
 * see, checkpoint them with `cursor` (steals it), then make the seen ids the known ones. *deletes = how
 * many were emitted. */
cs_status d365_ids_purge(struct d365 *d, const struct d365_table *t, const char *tag, long pages, int bucket,
                         json_t *cursor, size_t *deletes);

/* ---- dynamics365.c ---------------------------------------------------------------------------- */

/* The table of `stream`; when absent and `add` is set, a new entry with defaults (for sink targets). */
struct d365_table *d365_table_for(struct d365 *d, const char *stream, int add);
/* Free what a table holds (not the struct itself). */
void d365_table_free(struct d365_table *t);

/* ---- d365_write.c: $batch plumbing shared with d365_optout.c --------------------------------- */

/* One operation of a $batch: the record it belongs to, and its request line, headers and body. */
struct d365_op {
    size_t index;
    char *request;
};
/* One inner response: status, Retry-After (ms, -1 when absent) and the body (borrowed from the answer). */
struct d365_inner {
    int status;
    int64_t retry_after_ms;
    const char *body;
    size_t body_len;
};
/* The multipart body of a $batch of `n` operations (no change sets). New; *len its length. */
char *d365_batch_body(const struct d365_op *ops, size_t n, const char *boundary, size_t *len);
/* Split a $batch answer into at most `max` inner responses, in order; returns how many were found. */
size_t d365_batch_parse(const struct cshttp_response *r, struct d365_inner *out, size_t max);

/* ---- d365_optout.c: Adobe's bidirectional opt-out rule at write time -------------------------- */

/* For the records asking for the rule ("@optout.rule": "adobe"), read their rows' current values and
 * modifiedon (one $batch of GETs per batch_size) and decide, per column, what to write: merged[i] is the
 * payload to write instead of the record's (new), skip[i] set when nothing is left to write, and a record
 * whose row does not exist is rejected through set_result (and skipped). CS_RETRY / CS_FATAL for the
 * whole batch with the reason set. */
cs_status d365_optout_merge(struct d365 *d, cs_record *const *records, size_t n, json_t **merged, unsigned char *skip);

/* ---- d365_lookup.c: lookup columns written as @odata.bind ------------------------------------- */

/* The `lookups` option of tables.<stream>: {column: table}, checked and copied into t->lookups. 0, or -1
 * with the problem in err. */
int d365_lookups_parse(struct d365_table *t, const json_t *spec, char *err, size_t errlen);
/* Resolve each lookup of `t` (described) to its navigation property and the linked table's entity set,
 * from ManyToOneRelationships and EntityDefinitions; CS_FATAL naming the option to fix. */
cs_status d365_lookups_describe(struct d365 *d, struct d365_table *t);
/* Put `value` of lookup column `column` into `body` as "<nav>@odata.bind": "/<set>(<id>)" (null: left
 * out). 1 when `column` is a lookup of `t` (then *why is set and -1 returned when the value cannot be
 * bound), 0 when it is not one. */
int d365_lookup_bind(const struct d365_table *t, const char *column, const json_t *value, json_t *body, char *why,
                     size_t whylen);
/* An upsert answered 404: when the service names a row a lookup of the record links to, `out` says
 * which and what to do, and 1 is returned; else 0. */
int d365_lookup_missing(const struct d365_table *t, const cs_record *rec, const char *service_text, char *out,
                        size_t outlen);

#endif
