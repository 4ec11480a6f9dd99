/*
 * engine.h - every workflow of the daemon: applies a configuration (checks every plugin reference and
 * option, records a new definition revision when a workflow's definition in the file changed), starts
 * the workflows whose desired state is "running", and offers the operations the admin API needs:
 * list, start, stop, definition, revisions. The latest revision is what the next start runs; a running
 * workflow keeps the revision it started with, and pending = latest != running.
 */
#ifndef CS_ENGINE_H
#define CS_ENGINE_H

#include <jansson.h>
#include <stdint.h>

struct cs_backlog;
struct cs_config;
struct cs_registry;
struct cs_engine;

/* The registry and backlog are borrowed and must outlive the engine. */
struct cs_engine *cs_engine_new(const struct cs_registry *registry, struct cs_backlog *backlog);
/* Stops every workflow gracefully, then frees. */
void cs_engine_free(struct cs_engine *e);
/* The daemon is stopping: every workflow stops gracefully (their desired states stay as they are) and
 * none starts again (a start is CS_E_STATE); the other operations still answer, so the admin API's
 * requests in progress can end before the engine is freed. */
void cs_engine_shutdown(struct cs_engine *e);

/*
 * Check `cfg` against the loaded plugins (connections' connectors and options, every workflow's
 * source, sink, entity handlers and stages and their options). Without `apply`, only checks
 * (--check-config). With it, the engine takes `cfg` (frees it later), records revisions for changed
 * definitions and creates workflows first seen. On failure *err (new) lists every error, one per line.
 */
int cs_engine_check_config(struct cs_engine *e, struct cs_config *cfg, int apply, char **err);

/* While the state store cannot be opened yet (an unreachable database, retried): every workflow of `cfg`
 * (checked) is STARTING with the reason `why` in cs_engine_list and cs_engine_workflow; called again as
 * the reason changes. The other operations must not be called meanwhile: the admin API refuses them
 * while cs_engine_awaited says why. */
void cs_engine_await_state(struct cs_engine *e, const struct cs_config *cfg, const char *why);
/* Why the engine waits for its state store (new), or NULL once it is open. */
char *cs_engine_awaited(struct cs_engine *e);
/* The state store is open: the engine's from now on (an engine made with none), before
 * cs_engine_check_config applies a configuration; the workflows still show STARTING until
 * cs_engine_await_done (the configuration applied). */
void cs_engine_state_opened(struct cs_engine *e, struct cs_backlog *backlog);
void cs_engine_await_done(struct cs_engine *e);

/* Start every configured workflow whose persisted desired state is "running". */
void cs_engine_start_desired(struct cs_engine *e);

/* Operator start/stop: persists the desired state. CS_E_NOTFOUND for an unknown id, CS_E_STATE when the
 * workflow is not in a state that allows it (start: STOPPED or FAILED; stop: STARTING or RUNNING). */
int cs_engine_start(struct cs_engine *e, const char *id, char **err);
int cs_engine_stop(struct cs_engine *e, const char *id, char **err);

/* Nonzero when workflow `id` is configured. */
int cs_engine_has_workflow(struct cs_engine *e, const char *id);
/* What every command and resource answers about an unknown workflow id: `no workflow "ID" (crmsyncctl
 * workflows, or GET /api/v1/workflows, lists them)`. New string. */
char *cs_engine_unknown(const char *id);

/* New array of workflow snapshots, each with title, latest_revision and pending added. */
json_t *cs_engine_list(struct cs_engine *e);
/* One workflow's snapshot as in the list (new), or NULL for an unknown id. */
json_t *cs_engine_workflow(struct cs_engine *e, const char *id);

/* The latest definition as written: a new object {revision, source, author, created_at, definition}. */
int cs_engine_definition(struct cs_engine *e, const char *id, json_t **out, char **err);

/*
 * An edit (the admin API's PUT): check `definition` against the schema, the connections and the
 * plugins, and store it as a new "api" revision (pending until the workflow is stopped and started).
 * The definition's id, when present, must be `id`. On CS_E_INVAL *errors is a new array of
 * {path, message} and nothing is stored.
 */
int cs_engine_put_definition(struct cs_engine *e, const char *id, const json_t *definition, const char *author,
                             int64_t *rev, json_t **errors);

/* Revisions newest first (new array). */
int cs_engine_revisions(struct cs_engine *e, const char *id, json_t **out);
/* One revision with its diff against the previous: new {revision, source, author, created_at,
 * definition, diff}. */
int cs_engine_revision(struct cs_engine *e, const char *id, int64_t rev, json_t **out);

/* Stage a replay of a mapping's stream (replay.h): it is read again from the beginning at the next start.
 * CS_E_NOTFOUND (no such workflow or mapping), CS_E_STATE (past limits.replay_max_records), with *err. */
int cs_engine_replay(struct cs_engine *e, const char *id, const char *stream, char **err);

/* Dead letters (see cs_backlog_dead_list) and redrive (id 0: all). */
int cs_engine_dead_letters(struct cs_engine *e, const char *id, int64_t before_id, size_t limit, int include_payload,
                           json_t **out);
int cs_engine_redrive(struct cs_engine *e, const char *id, int64_t dead_id, size_t *n, char **err);

/* A consistent copy of the state database to `dest` (cs_backlog_backup): *out new {path, bytes,
 * elapsed_ms}; CS_E_INVAL, CS_E_STATE (dest exists), CS_E_IO or CS_E_DB with *err (new). */
int cs_engine_backup(struct cs_engine *e, const char *dest, json_t **out, char **err);

/* Connections with their connector and options; secrets only as {"set": true|false}. New array. */
json_t *cs_engine_connections(struct cs_engine *e);
/* Loaded plugins with version, ABI, path and components. New array. */
json_t *cs_engine_plugins(struct cs_engine *e);
/* 1 when every workflow whose desired state is running is RUNNING and moving, and the state database
 * has not failed lately; *problems (new array) says why not. */
int cs_engine_healthy(struct cs_engine *e, json_t **problems);
/* 1 when every workflow whose desired state is running is RUNNING (ready: the start is over); *problems
 * (new array) names the others. */
int cs_engine_ready(struct cs_engine *e, json_t **problems);

/* ---- engine_describe.c: a connection outside any workflow (the admin API's editors and Settings) ---- */

/* Nonzero when a connection `conn` is configured. */
int cs_engine_conn_exists(struct cs_engine *e, const char *conn);
/* A fresh instance of connection `conn` describes `table` (describe(), the live metadata), or with
 * table NULL lists its tables (describe(NULL)): *out new. CS_E_NOTFOUND: no such connection or table;
 * CS_E_STATE: the connector cannot describe; CS_E_IO: the connector failed. *err (new) says why. */
int cs_engine_conn_describe(struct cs_engine *e, const char *conn, const char *table, json_t **out, char **err);
/* Create and start a fresh instance of `conn`, then destroy it: *out new {connection, connector, ok,
 * result (in words), elapsed_ms}. Only CS_E_NOTFOUND (with *err) fails the call itself. */
int cs_engine_conn_check(struct cs_engine *e, const char *conn, json_t **out, char **err);
/* Write secret `option` of `conn` into the file its <option>_file names (atomically, owner-only) and
 * use it from the connection's next start. CS_E_NOTFOUND (no connection or no such secret option),
 * CS_E_STATE (the secret comes from <option>_env, or no file is configured), CS_E_INVAL (empty or too
 * long), CS_E_IO (the file could not be written). The value never appears in *err or the log. */
int cs_engine_conn_put_secret(struct cs_engine *e, const char *conn, const char *option, const char *value, char **err);

/* ---- engine_preflight.c: the prerequisites in the remote systems ---- */

/* Preflight of the workflows `ids` (NULL or empty: every one): each connection they use checks what
 * they need of its remote system (cs_connector.preflight): *out new {"ok", "failed", "checks": [{"connection",
 * "workflow"?, "check", "ok", "warning"?, "detail", "fix"}]}. With `setup_for` (a connector or connection
 * name) the connections it names create what is missing instead (`dry_run`: only say what they would
 * send): *out new {"ok", "dry_run", "changed", "steps": [...]}. CS_E_NOTFOUND with *err: an unknown
 * workflow, or no connection `setup_for` names. No lock is held while a connector works. */
int cs_engine_preflight(struct cs_engine *e, const json_t *ids, const char *setup_for, int dry_run, json_t **out,
                        char **err);

/* ---- engine_fleet.c: several crmsyncd on one shared state database ---- */

/* Join the fleet of the state database as node `node` (the host name when NULL) with the reader lease
 * `lease_ms`, its admin API at `admin` (may be NULL), and follow it from a thread of its own: heartbeat
 * and sweep of dead members every lease/3, and every workflow's desired state and revision as another
 * member changed them. With a store of one process (sqlite) the fleet is this daemon alone. CS_E_STATE
 * (a live member holds the node name) or CS_E_DB with *err (new). */
int cs_engine_join_fleet(struct cs_engine *e, const char *node, int64_t lease_ms, const char *admin, char **err);
/* Stop following the fleet and leave it (a graceful stop, after the workflows stopped). */
void cs_engine_leave_fleet(struct cs_engine *e);
/* The fleet: new {node (this daemon's), lease_ms, members: [{node, host, pid, admin, started_at,
 * heartbeat_age_ms, alive, self, writers: {workflow: n}}], workflows: {id: {reader, writers: {node: n}}}}.
 * CS_E_DB with *err (new) when the database cannot tell. */
int cs_engine_fleet(struct cs_engine *e, json_t **out, char **err);
/* What an operator alerts on, for /metrics: new {members (live, as last seen), heartbeat_age_ms (since this
 * node's last heartbeat that succeeded; -1: none yet), heartbeats_failed, state_db_answering (no call
 * waits on the database longer than the admin API's patience), leases: {workflow id: 1 when
 * this node holds its reader lease and reads, else 0}}; NULL without a shared state database. */
json_t *cs_engine_fleet_health(struct cs_engine *e);

/* Every workflow RUNNING and idle (see cs_workflow_idle), or STOPPED/FAILED; *failed counts FAILED. */
int cs_engine_all_idle(struct cs_engine *e, int *failed);

#endif
