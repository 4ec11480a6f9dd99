/*
 * pg_schema.c - the PostgreSQL state database's schema, as an ordered list of forward-only migrations:
 * migrations[v] takes crmsync_schema.version v to v + 1. Never edit a shipped migration; append a new
 * one and bump CS_PG_SCHEMA_VERSION (pg_schema.h). The tables are those of the SQLite schema
 * (backlog_schema.c) at its version 4, plus a claim mark on backlog rows: claims are rows locked with
 * FOR UPDATE SKIP LOCKED and marked claimed_by, so that several processes can share one backlog; and,
 * from version 2, the fleet of daemons sharing the database (pg_fleet.c): its members with their
 * heartbeats, each workflow's reader lease, and the revision the last start of a workflow applied.
 */
#include "pg_schema.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

static const char *const migrations[] = {
    /* 0 -> 1: the initial schema */
    "CREATE TABLE workflow ("
    "  id            TEXT PRIMARY KEY,"
    "  desired_state TEXT NOT NULL DEFAULT 'running' CHECK (desired_state IN ('running', 'stopped')),"
    "  state         TEXT NOT NULL DEFAULT 'stopped'"
    "                CHECK (state IN ('starting', 'running', 'stopped', 'failed')),"
    "  substate      TEXT,"
    "  state_reason  TEXT,"
    "  running_rev   BIGINT,"
    "  updated_at    BIGINT NOT NULL"
    ");"
    "CREATE TABLE revision ("
    "  workflow_id TEXT NOT NULL REFERENCES workflow(id) ON DELETE CASCADE,"
    "  rev         BIGINT NOT NULL,"
    "  source      TEXT NOT NULL CHECK (source IN ('config', 'api')),"
    "  definition  TEXT NOT NULL,"
    "  created_at  BIGINT NOT NULL,"
    "  author      TEXT,"
    "  PRIMARY KEY (workflow_id, rev)"
    ");"
    "CREATE TABLE source_cursor ("
    "  workflow_id TEXT NOT NULL REFERENCES workflow(id) ON DELETE CASCADE,"
    "  stream      TEXT NOT NULL,"
    "  cursor      TEXT NOT NULL,"
    "  updated_at  BIGINT NOT NULL,"
    "  PRIMARY KEY (workflow_id, stream)"
    ");"
    "CREATE TABLE backlog ("
    "  seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  workflow_id     TEXT NOT NULL REFERENCES workflow(id),"
    "  stream          TEXT NOT NULL,"
    "  record_key      TEXT NOT NULL,"
    "  op              TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),"
    "  payload         TEXT NOT NULL,"
    "  ts              BIGINT NOT NULL DEFAULT 0,"
    "  enqueued_at     BIGINT NOT NULL,"
    "  attempts        INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at BIGINT NOT NULL DEFAULT 0,"
    "  last_error      TEXT,"
    "  initial         BOOLEAN NOT NULL DEFAULT false,"
    "  claimed_by      TEXT"
    ");"
    /* claim: the unclaimed rows of a workflow in seq order */
    "CREATE INDEX backlog_claimable ON backlog (workflow_id, seq) WHERE claimed_by IS NULL;"
    /* coalescing, supersession and per-key order: the rows of one key by seq */
    "CREATE INDEX backlog_key ON backlog (workflow_id, stream, record_key, seq);"
    "CREATE TABLE dead_letter ("
    "  id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  orig_seq     BIGINT,"
    "  workflow_id  TEXT NOT NULL REFERENCES workflow(id),"
    "  stream       TEXT NOT NULL,"
    "  record_key   TEXT,"
    "  op           TEXT,"
    "  payload      TEXT NOT NULL,"
    "  ts           BIGINT NOT NULL DEFAULT 0,"
    "  error_class  TEXT NOT NULL"
    "               CHECK (error_class IN ('rejected', 'mapping_failed', 'retries_exhausted', 'expired')),"
    "  http_status  INTEGER,"
    "  error_detail TEXT,"
    "  failed_in    TEXT,"
    "  attempts     INTEGER NOT NULL DEFAULT 0,"
    "  enqueued_at  BIGINT,"
    "  failed_at    BIGINT NOT NULL,"
    "  redriven_at  BIGINT,"
    "  initial      BOOLEAN NOT NULL DEFAULT false"
    ");"
    "CREATE INDEX dead_letter_wf ON dead_letter (workflow_id, id);"
    "CREATE TABLE kv ("
    "  ns         TEXT NOT NULL,"
    "  key        TEXT NOT NULL,"
    "  value      TEXT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (ns, key)"
    ");",
    /* 1 -> 2: the fleet. Times are the database's (one clock for every member). */
    "ALTER TABLE workflow ADD COLUMN desired_rev BIGINT;"
    "CREATE TABLE member ("
    "  node       TEXT PRIMARY KEY,"
    "  host       TEXT NOT NULL,"
    "  pid        INTEGER NOT NULL,"
    "  admin      TEXT,"
    "  lease_ms   BIGINT NOT NULL,"
    "  writers    TEXT NOT NULL DEFAULT '{}',"
    "  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
    "  heartbeat  TIMESTAMPTZ NOT NULL DEFAULT now()"
    ");"
    "CREATE TABLE reader_lease ("
    "  workflow_id TEXT PRIMARY KEY,"
    "  holder      TEXT,"
    "  taken_at    TIMESTAMPTZ,"
    "  expires_at  TIMESTAMPTZ NOT NULL DEFAULT '-infinity'"
    ");"
    /* the claims of one member, released when it is found dead */
    "CREATE INDEX backlog_claimed ON backlog (claimed_by) WHERE claimed_by IS NOT NULL;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == CS_PG_SCHEMA_VERSION, "one migration per schema version");

/* Run `sql` (one or more statements, no parameters); `value` (may be NULL) receives the first column of
 * the first row as a new string, NULL when there is none. */
static int run(struct cs_pg_conn *c, const char *sql, char **value, char **err)
{
    PGresult *res = cs_pg_conn_exec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char *msg = cs_pg_conn_message(c, cs_pg_conn_reason(c, res));
        *err = cs_xasprintf("state database %s: %s", c->where, msg);
        free(msg);
        rc = CS_E_DB;
    } else if (value) {
        *value = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? cs_xstrdup(PQgetvalue(res, 0, 0)) : NULL;
    }
    PQclear(res);
    return rc;
}

static int migrate(struct cs_pg_conn *c, int from, char **err)
{
    int rc = 0, v = from;
    for (; rc == 0 && v < CS_PG_SCHEMA_VERSION; v++)
        rc = run(c, migrations[v], NULL, err);
    if (rc == 0 && v != from) {
        char *sql = cs_xasprintf("UPDATE crmsync_schema SET version = %d", v);
        rc = run(c, sql, NULL, err);
        free(sql);
    }
    if (rc == 0 && v != from)
        cs_log(CS_LOG_NOTICE, "backlog", "state database %s: schema migrated from version %d to %d", c->where, from, v);
    return rc;
}

int cs_pg_schema_setup(struct cs_pg_conn *c, char **err)
{
    char *version = NULL, lock_sql[64];
    int rc, v = 0;

    *err = NULL;
    snprintf(lock_sql, sizeof lock_sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)CS_PG_MIGRATION_LOCK);
    rc = run(c, "BEGIN", NULL, err);
    /* the lock orders two daemons that start at once: the second sees the first one's migrations */
    if (rc == 0)
        rc = run(c, lock_sql, NULL, err);
    if (rc == 0)
        rc = run(c,
                 "CREATE TABLE IF NOT EXISTS crmsync_schema (version INTEGER NOT NULL); "
                 "INSERT INTO crmsync_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM crmsync_schema)",
                 NULL, err);
    if (rc == 0)
        rc = run(c, "SELECT version FROM crmsync_schema", &version, err);
    if (rc == 0)
        v = version ? atoi(version) : 0;
    if (rc == 0 && v > CS_PG_SCHEMA_VERSION) {
        *err = cs_xasprintf("state database %s has schema version %d, but this crmsyncd knows only up to version "
                            "%d: refusing to open it (was it written by a newer crmsyncd?)",
                            c->where, v, CS_PG_SCHEMA_VERSION);
        rc = CS_E_STATE;
    }
    if (rc == 0)
        rc = migrate(c, v, err);
    if (rc == 0)
        rc = run(c, "COMMIT", NULL, err);
    if (rc != 0)
        PQclear(cs_pg_conn_exec(c, "ROLLBACK"));
    free(version);
    return rc;
}
