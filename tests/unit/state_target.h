/*
 * state_target.h - the state store a unit test runs against: SQLite files in the test's scratch
 * directory (the default), or, with CS_TEST_STATE=postgresql and CS_TEST_PG_DSN (a connection string to
 * a server's maintenance database, as tests/state/pg_unit.py sets them), one PostgreSQL database per
 * name, created afresh. A second, raw connection inspects the store and injects failures. Include it
 * after check.h.
 */
#ifndef CS_TEST_STATE_TARGET_H
#define CS_TEST_STATE_TARGET_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "state/backlog.h"
#include "util/util.h"

static const char *target_dir; /* the test's scratch directory */

/* The maintenance connection string when the tests run on PostgreSQL, else NULL. */
static inline const char *target_pg(void)
{
    const char *driver = getenv("CS_TEST_STATE"), *dsn = getenv("CS_TEST_PG_DSN");
    if (!driver || strcmp(driver, "postgresql") != 0)
        return NULL;
    if (!dsn || !*dsn) {
        fputs("CS_TEST_STATE=postgresql needs CS_TEST_PG_DSN (run through tests/state/pg_unit.py)\n", stderr);
        exit(99);
    }
    return dsn;
}

static inline const char *target_driver(void)
{
    return target_pg() ? "postgresql" : "sqlite";
}

static inline void target_pg_quiet(void *arg, const char *message)
{
    (void)arg, (void)message; /* "database ... does not exist, skipping" */
}

/* The text of a statement's first row's first column (new), NULL when none; *ok 0 when it failed (the
 * message printed). */
static inline char *target_pg_query(const char *dsn, const char *sql, int *ok)
{
    PGconn *c = PQconnectdb(dsn);
    PGresult *r;
    PQsetNoticeProcessor(c, target_pg_quiet, NULL);
    r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    ExecStatusType st = PQresultStatus(r);
    char *out = NULL;
    *ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (!*ok)
        fprintf(stderr, "raw %s: %s\n", sql, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        out = cs_xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return out;
}

/* Like target_pg_query, for every statement of `sql` in turn (the first row of any of them). */
static inline char *target_sqlite_query(const char *path, const char *sql, int *ok)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    int rc = sqlite3_open(path, &db);
    sqlite3_busy_timeout(db, 5000);
    while (rc == SQLITE_OK && *sql) {
        rc = sqlite3_prepare_v2(db, sql, -1, &st, &sql);
        while (rc == SQLITE_OK && st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (!out && sqlite3_column_text(st, 0))
                out = cs_xstrdup((const char *)sqlite3_column_text(st, 0));
            rc = SQLITE_OK;
        }
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_finalize(st);
        st = NULL;
    }
    *ok = rc == SQLITE_OK;
    if (!*ok)
        fprintf(stderr, "raw %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
    return out;
}

/* Statements on a raw connection to `target`; a failure counts as a failed check. */
static inline char *raw_text(const char *target, const char *sql)
{
    int ok;
    char *out = target_pg() ? target_pg_query(target, sql, &ok) : target_sqlite_query(target, sql, &ok);
    check_failures += !ok;
    return out;
}

/* First column of the first row as an integer, -1 when there is no row. */
static inline long long raw_int(const char *target, const char *sql)
{
    char *s = raw_text(target, sql);
    long long v = s ? atoll(s) : -1;
    free(s);
    return v;
}

static inline void raw_exec(const char *target, const char *sql)
{
    free(raw_text(target, sql));
}

/* Make every `event` (INSERT, UPDATE, DELETE) on `table` fail with the message "injected". */
static inline void raw_fail_on(const char *target, const char *table, const char *event)
{
    char *sql = target_pg() ? cs_xasprintf("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
                                           " RAISE EXCEPTION 'injected'; END$$; CREATE TRIGGER boom BEFORE %s ON %s"
                                           " FOR EACH ROW EXECUTE FUNCTION boom()",
                                           event, table)
                            : cs_xasprintf("CREATE TRIGGER boom BEFORE %s ON %s BEGIN SELECT RAISE(ABORT, "
                                           "'injected'); END",
                                           event, table);
    raw_exec(target, sql);
    free(sql);
}

static inline void raw_fail_off(const char *target, const char *table)
{
    char *sql = target_pg() ? cs_xasprintf("DROP TRIGGER boom ON %s; DROP FUNCTION boom()", table)
                            : cs_xstrdup("DROP TRIGGER boom");
    raw_exec(target, sql);
    free(sql);
}

/* The store named `name` (new): a file in the scratch directory, or the database t_<name>. */
static inline char *target_of(const char *name)
{
    const char *dsn = target_pg();
    return dsn ? cs_xasprintf("%s dbname=t_%s", dsn, name) : cs_xasprintf("%s/%s.db", target_dir, name);
}

/* target_of(name), new and empty: the file removed, or the database created afresh. */
static inline char *target_new(const char *name)
{
    const char *dsn = target_pg();
    char *sql;
    if (!dsn) {
        sql = target_of(name);
        remove(sql);
        return sql;
    }
    sql = cs_xasprintf("DROP DATABASE IF EXISTS \"t_%s\" WITH (FORCE)", name);
    raw_exec(dsn, sql);
    free(sql);
    sql = cs_xasprintf("CREATE DATABASE \"t_%s\"", name);
    raw_exec(dsn, sql);
    free(sql);
    return target_of(name);
}

/* The store `target` of a name target_new made; exits when it cannot be opened. */
static inline struct cs_backlog *target_open(const char *target)
{
    struct cs_backlog *b = NULL;
    char *err = NULL;
    if (cs_backlog_open_driver(target_driver(), target, &b, &err) != 0 || !b) {
        fprintf(stderr, "cannot open the %s store %s: %s\n", target_driver(), target, err ? err : "?");
        exit(1);
    }
    free(err);
    return b;
}

#endif
