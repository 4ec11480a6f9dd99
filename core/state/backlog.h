/*
 * backlog.h - the persistent state of the daemon: workflow states and definition revisions, per-stream
 * source cursors, the backlog of records as the source read them (the writers map them after the claim),
 * dead letters, and the plugins' key/value store. Two drivers keep it (state_driver.h): one SQLite file
 * (backlog.c, the default) or a PostgreSQL database (pg_backlog.c); they are the only modules that issue
 * SQL, and every guarantee below holds for both.
 *
 * Guarantees:
 *  - cs_backlog_enqueue commits records, dead letters of malformed records and the source cursor in one
 *    transaction.
 *  - Coalescing: at most one pending (not in-flight) row per (workflow, stream, key); a newer change
 *    replaces the pending one in place (it keeps its seq). An upsert following an upsert carries the
 *    older payload's fields it does not have itself (two PATCHes by key equal one with both), so
 *    fields only a full load sends survive a quick update.
 *  - Per-key order: cs_backlog_claim never hands out a row whose key is in flight, nor two rows of one
 *    key; rows come in seq order. After a crash every row the process had in flight is claimable again
 *    (at once with SQLite; with PostgreSQL when the daemon comes back or another member finds it dead),
 *    so a batch in flight at the crash is written once more (the duplicate window).
 *  - Nothing is dropped: a row leaves the backlog only when written (CS_OK), moved to dead letters, or
 *    superseded by a newer pending change of the same key.
 * All functions are thread-safe (one connection behind a mutex). Error strings are new (free()).
 */
#ifndef CS_BACKLOG_H
#define CS_BACKLOG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <crmsync/plugin.h>

struct cs_backlog;

/* Open or create the state DB at `path` (WAL, synchronous=FULL, schema migrated forward). On open,
 * older duplicates of a key left by a crash are collapsed to the newest. CS_E_DAMAGED: the file failed
 * its integrity check (restore a backup, or reset the state: state_reset.h). */
int cs_backlog_open(const char *path, struct cs_backlog **out, char **err);
/* Open the state store of `driver`: "sqlite" (`target` is the file's path, as cs_backlog_open) or
 * "postgresql" (`target` is a libpq connection string: a secret, never logged nor put in *err). */
int cs_backlog_open_driver(const char *driver, const char *target, struct cs_backlog **out, char **err);
void cs_backlog_close(struct cs_backlog *b);
/* Why this thread's last failed call of `b` failed (borrowed, for logs; valid until its next call). */
const char *cs_backlog_errmsg(struct cs_backlog *b);
/* The state database's file, as opened, or NULL when the store is no file (PostgreSQL). */
const char *cs_backlog_path(const struct cs_backlog *b);
/* Write a consistent copy of the state database, as of one moment, to `dest` (an absolute path; the file is
 * created owner-only and must not exist) while the daemon goes on writing (backlog_backup.c); *bytes is its
 * size. CS_E_INVAL (a relative path, or a store that is no file), CS_E_STATE (dest exists), CS_E_IO or
 * CS_E_DB, with *err (new). */
int cs_backlog_backup(struct cs_backlog *b, const char *dest, int64_t *bytes, char **err);
/* 1 with the last SQLite error (*msg new) and its time when one happened at or after since_ms (unix
 * ms), else 0: the health check reports it. */
int cs_backlog_db_error(struct cs_backlog *b, int64_t since_ms, char **msg, int64_t *at_ms);
/* 1 while the state database does not answer: a call has waited on it `patience_ms` or longer, or the
 * last call got no answer (a stalled or lost connection); *why (new) says so. 0 while it answers (*why
 * NULL). It never waits: the admin API asks it to show the last known values instead of waiting. */
int cs_backlog_silent(struct cs_backlog *b, int64_t patience_ms, char **why);
/* This thread's patience with a state database that does not answer: the reads it makes (revisions,
 * desired states, dead letters, the fleet) wait at most `ms` behind a call in progress, and fail at once
 * with CS_E_DB while a call has waited longer; the counters are the last known ones. 0 (every thread's
 * default): wait as long as the call takes (itself bounded by the driver). The admin API's threads set it. */
void cs_backlog_patience(int64_t ms);
/* The admin API's patience: an answer waits this long at most on a state database that does not answer. */
#define CS_BACKLOG_ADMIN_PATIENCE_MS 2000

/* ---- workflows ------------------------------------------------------------------------------- */

/* Create the workflow row if absent with desired state `initial_desired` ("running" or "stopped"). */
int cs_backlog_workflow_init(struct cs_backlog *b, const char *wf, const char *initial_desired);
/* Every stored workflow id (a new array of strings). */
int cs_backlog_workflow_ids(struct cs_backlog *b, json_t **ids);
/* Workflow `to`, not stored yet, takes over what `from` kept in one transaction: its backlog rows,
 * source cursors and dead letters, and a row of its own with `from`'s desired state. `from` keeps its
 * revisions and desired state. CS_E_NOTFOUND when `from` is not stored or `to` is. */
int cs_backlog_workflow_adopt(struct cs_backlog *b, const char *from, const char *to);
/* Desired state, persisted across restarts: "running" or "stopped". *desired is new. */
int cs_backlog_desired_get(struct cs_backlog *b, const char *wf, char **desired);
int cs_backlog_desired_set(struct cs_backlog *b, const char *wf, const char *desired);
/* Last observed status, for display after a restart. substate and reason may be NULL. */
int cs_backlog_status_set(struct cs_backlog *b, const char *wf, const char *state, const char *substate,
                          const char *reason, int64_t running_rev);

/* ---- definition revisions -------------------------------------------------------------------- */

/* Append a revision (numbered 1, 2, ... per workflow). source is "config" or "api"; author may be NULL. */
int cs_backlog_revision_add(struct cs_backlog *b, const char *wf, const char *source, const char *author,
                            const char *definition, int64_t *rev);
/* Latest revision overall (source NULL) or latest from one source. CS_E_NOTFOUND when none.
 * *definition is new; rev/definition may be NULL when not wanted. */
int cs_backlog_revision_latest(struct cs_backlog *b, const char *wf, const char *source, int64_t *rev,
                               char **definition);
/* One revision: its definition (new) and source (new). CS_E_NOTFOUND when absent. */
int cs_backlog_revision_get(struct cs_backlog *b, const char *wf, int64_t rev, char **definition, char **source,
                            int64_t *created_at);
/* All revisions newest first as a new array of {"revision", "source", "created_at", "author"}. */
int cs_backlog_revision_list(struct cs_backlog *b, const char *wf, json_t **out);

/* ---- cursors --------------------------------------------------------------------------------- */

/* The committed cursor of a stream as a new json_t, or *cursor = NULL when none. */
int cs_backlog_cursor_get(struct cs_backlog *b, const char *wf, const char *stream, json_t **cursor);

/* Forget a stream's cursor: the source reads it from the beginning again (replay). */
int cs_backlog_cursor_reset(struct cs_backlog *b, const char *wf, const char *stream);

/* ---- enqueue ---------------------------------------------------------------------------------- */

/* A record that could not be mapped or written, on its way to dead letters. */
struct cs_dead_in {
    const cs_record *record; /* borrowed; the raw source record when mapping failed */
    const char *error_class; /* "rejected", "mapping_failed", "retries_exhausted", "expired" */
    int http_status;         /* 0 when none */
    const char *detail;      /* why, for the operator */
    const char *failed_in;   /* plugin or stage name */
    int attempts;
};

struct cs_enqueue {
    cs_record *const *records; /* records as the source read them, borrowed */
    size_t n_records;
    const struct cs_dead_in *dead; /* malformed records, refused before they are queued */
    size_t n_dead;
    const char *cursor_stream; /* NULL: no cursor change in this transaction */
    const json_t *cursor;
};

/* One transaction: coalesce-or-insert every record, insert dead letters, upsert the cursor. */
int cs_backlog_enqueue(struct cs_backlog *b, const char *wf, const struct cs_enqueue *e);

/* ---- claim and complete ---------------------------------------------------------------------- */

struct cs_claim {
    int64_t seq;
    cs_record *record; /* new reference: the caller decrefs it */
    int attempts;      /* failed attempts so far */
    int64_t enqueued_at;
};

/* Mark up to `max` due rows (next_attempt_at <= now_ms) in flight and return them in seq order,
 * skipping keys already in flight. *n may be 0. */
int cs_backlog_claim(struct cs_backlog *b, const char *wf, int64_t now_ms, size_t max, struct cs_claim *out, size_t *n);

struct cs_outcome {
    int64_t seq;
    cs_status status;        /* CS_OK delete; CS_RETRY reschedule; CS_REJECT move to dead letters */
    int http_status;         /* CS_REJECT / CS_RETRY detail, 0 when none */
    const char *detail;      /* last_error (RETRY) or error_detail (REJECT) */
    const char *failed_in;   /* plugin name for dead letters */
    const char *error_class; /* CS_REJECT: dead-letter class, NULL means "rejected" */
    int64_t next_attempt_at; /* CS_RETRY: unix ms */
};

/* Key/value writes of one namespace held in memory until they are settled: `values` maps each key to
 * its new value (a string) or to null (delete). */
struct cs_kv_writes {
    const char *ns;
    const json_t *values;
};

/* One transaction for a whole batch and the key/value writes made while writing it (kv may be NULL);
 * then the rows' keys leave the in-flight set. A CS_RETRY row whose key got a newer pending change
 * meanwhile is deleted (superseded), otherwise attempts+1. */
int cs_backlog_complete(struct cs_backlog *b, const char *wf, const struct cs_outcome *o, size_t n,
                        const struct cs_kv_writes *kv);
/* Return claimed rows untouched (no attempt counted): a graceful stop before write(). */
int cs_backlog_release(struct cs_backlog *b, const char *wf, const int64_t *seqs, size_t n);

/* Rows queued (pending + in flight) and dead letters not yet redriven. SQLite: in-memory counters kept
 * exact by every call above (loaded at open), no SQL. PostgreSQL, where other members change them too:
 * this process's own changes at once, everyone's from one counting query at most every second. */
int cs_backlog_counts(struct cs_backlog *b, const char *wf, int64_t *backlog, int64_t *dead);
/* Earliest next_attempt_at of a claimable row, or INT64_MAX when none. */
int cs_backlog_next_due(struct cs_backlog *b, const char *wf, int64_t *next_at);

/* ---- dead letters ---------------------------------------------------------------------------- */

/* Newest first, ids < before_id (0 = from the newest), at most `limit`, as a new array of objects
 * {id, stream, key, op, error_class, http_status, detail, failed_in, attempts, failed_at,
 *  redriven_at, payload (only when include_payload)}. */
int cs_backlog_dead_list(struct cs_backlog *b, const char *wf, int64_t before_id, size_t limit, int include_payload,
                         json_t **out);
/* Requeue one dead letter (id > 0) or all not yet redriven (id == 0); *n is how many went back.
 * A dead letter whose key has a newer pending change is marked redriven without requeueing. */
int cs_backlog_dead_redrive(struct cs_backlog *b, const char *wf, int64_t id, size_t *n);
/* Which dead letters an automatic redrive takes: http_status (0: any) and a source time `ts` of at
 * least min_ts (unix ms; 0: any, also letters whose source gave no time). */
struct cs_redrive_filter {
    int http_status;
    int64_t min_ts;
};
/* Requeue every dead letter not yet redriven that `f` matches (as redrive all does); *n went back. */
int cs_backlog_dead_redrive_matching(struct cs_backlog *b, const char *wf, const struct cs_redrive_filter *f,
                                     size_t *n);

/* ---- plugin key/value store ------------------------------------------------------------------ */

/* Namespaced by `ns` (the connection, stage or entity instance). *value new, NULL when absent. */
int cs_backlog_kv_get(struct cs_backlog *b, const char *ns, const char *key, char **value);
/* value NULL deletes. */
int cs_backlog_kv_put(struct cs_backlog *b, const char *ns, const char *key, const char *value);
/* Every write of `kv` in one transaction. */
int cs_backlog_kv_put_all(struct cs_backlog *b, const struct cs_kv_writes *kv);

/* ---- the fleet: several crmsyncd on one shared store ------------------------------------------ */

/* An enqueue refused because this process no longer holds the workflow's reader lease (its records and
 * cursor rolled back: the holder reads them). */
#define CS_E_FENCED (-40)

/* This process as a member of the fleet. */
struct cs_member {
    const char *node;  /* unique among live members */
    const char *host;  /* the host it runs on */
    const char *admin; /* its admin API's address, or NULL */
    int64_t lease_ms;  /* the reader lease; a member silent this long is dead */
};

/* 1 when several daemons can share the store (postgresql): the calls below work on it. 0 for a store of
 * one process (sqlite): the fleet is this daemon alone, and every call below succeeds at once (the
 * lease is always held, no member is ever swept). */
int cs_backlog_shared(struct cs_backlog *b);
/* Join the fleet as `me` (copied). Claims are marked with the node name from now on; an earlier member
 * of the same node that is gone (its heartbeat older than its lease, or its process no longer on this
 * host) is replaced, its claims and leases released. CS_E_STATE with *err (new) naming both when a live
 * member holds the node name; CS_E_DB. Enqueues of this process are fenced by the reader lease from now
 * on. */
int cs_backlog_join(struct cs_backlog *b, const struct cs_member *me, char **err);
/* Leave the fleet (a graceful stop): this member's row and leases go at once. */
void cs_backlog_leave(struct cs_backlog *b);
/* Every lease/3: renew this member's heartbeat and its reader leases, publish its writers per workflow
 * (`writers`: {workflow: n}), and sweep the members dead for longer than their lease: their claims are
 * released (their in-flight rows become claimable: the duplicate window) and their leases freed.
 * *swept (new) is an array of {node, claims, leases} swept by this call. */
int cs_backlog_heartbeat(struct cs_backlog *b, const json_t *writers, json_t **swept);
/* Take (or keep) the reader lease of `wf`: 1 held by this member (until now + lease, database time),
 * 0 held by another (*holder new: its node, or NULL when it is free but could not be taken this time),
 * or CS_E_DB. */
int cs_backlog_lease_take(struct cs_backlog *b, const char *wf, char **holder);
/* 1 while this member's lease of `wf` is valid by its own clock: the last renewal the database confirmed
 * plus the lease, less a margin. A member that cannot reach the database stops reading by itself. */
int cs_backlog_lease_held(struct cs_backlog *b, const char *wf);
/* Give up the reader lease of `wf` (its reader stopped). */
int cs_backlog_lease_drop(struct cs_backlog *b, const char *wf);
/* The fleet as the database sees it: new {members: [{node, host, pid, admin, started_at, heartbeat_age_ms,
 * alive, writers: {wf: n}}], readers: {wf: node}} (readers: unexpired leases only). */
int cs_backlog_fleet(struct cs_backlog *b, json_t **out);
/* What every daemon follows: new {wf: {desired, revision}}, revision the one the last start applied (0:
 * none recorded). */
int cs_backlog_fleet_desired(struct cs_backlog *b, json_t **out);
/* A start applied revision `rev` to `wf`: desired "running" and that revision, for the whole fleet. */
int cs_backlog_fleet_started(struct cs_backlog *b, const char *wf, int64_t rev);

/* ---- statistics ------------------------------------------------------------------------------ */

struct cs_backlog_stats {
    int64_t transactions; /* write transactions committed since open */
    int64_t page_reads;   /* pages this connection read from the files (page cache misses) since open */
    int64_t page_hits;    /* pages it found in its page cache since open */
};
void cs_backlog_stats(struct cs_backlog *b, struct cs_backlog_stats *out);

#endif
