/*
 * backlog_schema.c - the state DB's connection settings and its schema, as an ordered list of
 * forward-only migrations: migrations[v] takes PRAGMA user_version v to v + 1. Never edit a shipped
 * migration; append a new one and bump CS_BACKLOG_SCHEMA_VERSION (backlog_schema.h).
 */
#include "backlog_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

#define BUSY_TIMEOUT_MS 5000

static const char *const migrations[] = {
    /* 0 -> 1: the initial schema */
    "CREATE TABLE workflow ("
    "  id            TEXT PRIMARY KEY,"
    "  desired_state TEXT NOT NULL DEFAULT 'running' CHECK (desired_state IN ('running', 'stopped')),"
    "  state         TEXT NOT NULL DEFAULT 'stopped'"
    "                CHECK (state IN ('starting', 'running', 'stopped', 'failed')),"
    "  substate      TEXT,"
    "  state_reason  TEXT,"
    "  running_rev   INTEGER,"
    "  updated_at    INTEGER NOT NULL"
    ");"
    "CREATE TABLE revision ("
    "  workflow_id TEXT NOT NULL REFERENCES workflow(id) ON DELETE CASCADE,"
    "  rev         INTEGER NOT NULL,"
    "  source      TEXT NOT NULL CHECK (source IN ('config', 'api')),"
    "  definition  TEXT NOT NULL,"
    "  created_at  INTEGER NOT NULL,"
    "  PRIMARY KEY (workflow_id, rev)"
    ") WITHOUT ROWID;"
    "CREATE TABLE source_cursor ("
    "  workflow_id TEXT NOT NULL REFERENCES workflow(id) ON DELETE CASCADE,"
    "  stream      TEXT NOT NULL,"
    "  cursor      TEXT NOT NULL,"
    "  updated_at  INTEGER NOT NULL,"
    "  PRIMARY KEY (workflow_id, stream)"
    ") WITHOUT ROWID;"
    "CREATE TABLE backlog ("
    "  seq             INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  workflow_id     TEXT NOT NULL REFERENCES workflow(id),"
    "  stream          TEXT NOT NULL,"
    "  record_key      TEXT NOT NULL,"
    "  op              TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),"
    "  payload         TEXT NOT NULL,"
    "  ts              INTEGER NOT NULL DEFAULT 0,"
    "  enqueued_at     INTEGER NOT NULL,"
    "  attempts        INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL DEFAULT 0,"
    "  last_error      TEXT"
    ");"
    /* claim: workflow_id = ? ORDER BY seq, next_attempt_at filtered from the index */
    "CREATE INDEX backlog_order ON backlog (workflow_id, seq, next_attempt_at);"
    /* next due: workflow_id = ? ORDER BY next_attempt_at, seq */
    "CREATE INDEX backlog_due ON backlog (workflow_id, next_attempt_at);"
    /* coalescing and supersession: the rows of one key, newest by seq */
    "CREATE INDEX backlog_key ON backlog (workflow_id, stream, record_key);"
    "CREATE TABLE dead_letter ("
    "  id           INTEGER PRIMARY KEY,"
    "  orig_seq     INTEGER,"
    "  workflow_id  TEXT NOT NULL REFERENCES workflow(id),"
    "  stream       TEXT NOT NULL,"
    "  record_key   TEXT,"
    "  op           TEXT,"
    "  payload      TEXT NOT NULL,"
    "  ts           INTEGER NOT NULL DEFAULT 0,"
    "  error_class  TEXT NOT NULL"
    "               CHECK (error_class IN ('rejected', 'mapping_failed', 'retries_exhausted', 'expired')),"
    "  http_status  INTEGER,"
    "  error_detail TEXT,"
    "  failed_in    TEXT,"
    "  attempts     INTEGER NOT NULL DEFAULT 0,"
    "  enqueued_at  INTEGER,"
    "  failed_at    INTEGER NOT NULL,"
    "  redriven_at  INTEGER"
    ");"
    "CREATE INDEX dead_letter_wf ON dead_letter (workflow_id, id);"
    "CREATE TABLE kv ("
    "  ns         TEXT NOT NULL,"
    "  key        TEXT NOT NULL,"
    "  value      TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (ns, key)"
    ") WITHOUT ROWID;",
    /* 1 -> 2: who made a revision (the admin API's caller; NULL for the config file) */
    "ALTER TABLE revision ADD COLUMN author TEXT;",
    /* 2 -> 3: records are queued as the source read them (mapping runs in the writers), so whether a
     * record belongs to a full load or a replay ("initial") is kept with it */
    "ALTER TABLE backlog ADD COLUMN initial INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE dead_letter ADD COLUMN initial INTEGER NOT NULL DEFAULT 0;",
    /* 3 -> 4: the kv store becomes a rowid table with its key in an index of its own. As a WITHOUT
     * ROWID table every value lived in the key's b-tree, and a value that overflows its page (a
     * connector's id set: hundreds of KB) was read in full, overflow chain and all, whenever a lookup
     * of any other key compared against it: once such values existed, each kv read cost dozens of
     * page reads. Now a lookup compares (ns, key) cells only and reads one value. */
    "CREATE TABLE kv_rowid ("
    "  ns         TEXT NOT NULL,"
    "  key        TEXT NOT NULL,"
    "  value      TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "INSERT INTO kv_rowid (ns, key, value, updated_at) SELECT ns, key, value, updated_at FROM kv;"
    "DROP TABLE kv;"
    "ALTER TABLE kv_rowid RENAME TO kv;"
    "CREATE UNIQUE INDEX kv_key ON kv (ns, key);",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == CS_BACKLOG_SCHEMA_VERSION,
               "one migration per schema version");

/* sqlite3_exec callback: copy the first column of the (last) row into arg, a char[16]. */
static int first_column(void *arg, int ncol, char **values, char **names)
{
    (void)names;
    snprintf(arg, 16, "%s", ncol > 0 && values[0] ? values[0] : "");
    return 0;
}

/* Run `sql`; when `out` is not NULL it receives the first column of the result (char[16]). */
static int run(sqlite3 *db, const char *path, const char *sql, char *out, char **err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, out ? first_column : NULL, out, &msg) == SQLITE_OK)
        return 0;
    *err = cs_xasprintf("state database %s: %s", path, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return CS_E_DB;
}

static int set_version(sqlite3 *db, const char *path, int version, char **err)
{
    char *sql = cs_xasprintf("PRAGMA user_version = %d", version);
    int rc = run(db, path, sql, NULL, err);
    free(sql);
    return rc;
}

static int migrate(sqlite3 *db, const char *path, char **err)
{
    char version[16] = "";
    int rc, from = 0, v = 0;

    rc = run(db, path, "BEGIN IMMEDIATE", NULL, err);
    if (rc == 0)
        rc = run(db, path, "PRAGMA user_version", version, err);
    if (rc != 0)
        goto out;
    from = v = atoi(version);
    if (v > CS_BACKLOG_SCHEMA_VERSION) {
        *err = cs_xasprintf("state database %s has schema version %d, but this crmsyncd knows only up to "
                            "version %d: refusing to open it (was it written by a newer crmsyncd?)",
                            path, v, CS_BACKLOG_SCHEMA_VERSION);
        rc = CS_E_STATE;
        goto out;
    }
    for (; rc == 0 && v < CS_BACKLOG_SCHEMA_VERSION; v++)
        rc = run(db, path, migrations[v], NULL, err);
    if (rc == 0 && v != from)
        rc = set_version(db, path, v, err);
    if (rc == 0)
        rc = run(db, path, "COMMIT", NULL, err);
out:
    if (rc != 0 && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == 0 && v != from)
        cs_log(CS_LOG_NOTICE, "backlog", "state database %s: schema migrated from version %d to %d", path, from, v);
    return rc;
}

/* sqlite3_exec callback: keep the first row's first column in arg, a char[256]. */
static int first_row(void *arg, int ncol, char **values, char **names)
{
    char *out = arg;
    (void)names;
    if (!*out)
        snprintf(out, 256, "%s", ncol > 0 && values[0] ? values[0] : "");
    return 0;
}

/* PRAGMA quick_check: a damaged page is refused at start rather than batch by batch later. */
static int check_integrity(sqlite3 *db, const char *path, char **err)
{
    char first[256] = "", *msg = NULL;
    int rc = sqlite3_exec(db, "PRAGMA quick_check", first_row, first, &msg);
    if (rc == SQLITE_OK && strcmp(first, "ok") == 0)
        return 0;
    *err = cs_xasprintf("state database %s is damaged (quick_check: %s)", path,
                        rc == SQLITE_OK ? first
                        : msg           ? msg
                                        : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return CS_E_DB;
}

int cs_backlog_schema_setup(sqlite3 *db, const char *path, char **err)
{
    char mode[16] = "";
    int rc, damaged = 0;

    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* Only takes effect on a new file, before the first table is created. */
    rc = run(db, path, "PRAGMA auto_vacuum = INCREMENTAL", NULL, err);
    if (rc == 0)
        rc = run(db, path, "PRAGMA journal_mode = WAL", mode, err);
    if (rc == 0 && strcmp(mode, "wal") != 0) {
        *err = cs_xasprintf("state database %s: cannot switch to WAL journal mode (got \"%s\")", path, mode);
        rc = CS_E_DB;
    }
    if (rc == 0)
        rc = run(db, path, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, err);
    if (rc == 0)
        damaged = rc = check_integrity(db, path, err);
    if (rc == 0)
        rc = migrate(db, path, err);
    if (damaged || (rc != 0 && (sqlite3_errcode(db) == SQLITE_CORRUPT || sqlite3_errcode(db) == SQLITE_NOTADB)))
        rc = CS_E_DAMAGED; /* the caller knows the commands that mend it (state_reset.h) */
    return rc;
}
