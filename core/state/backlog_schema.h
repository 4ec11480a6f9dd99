/*
 * backlog_schema.h - private to backlog.c: connection settings and the forward-only schema migrations of
 * the state DB (core/state/backlog_schema.c).
 */
#ifndef CS_BACKLOG_SCHEMA_H
#define CS_BACKLOG_SCHEMA_H

#include <sqlite3.h>

/* The schema version this build writes: PRAGMA user_version after cs_backlog_schema_setup. */
#define CS_BACKLOG_SCHEMA_VERSION 4

/* Apply the connection settings (busy timeout, WAL, synchronous=FULL, foreign keys; auto_vacuum on a
 * new file), check the file's integrity (PRAGMA quick_check) and migrate the schema forward in one
 * transaction. A file whose user_version is newer than CS_BACKLOG_SCHEMA_VERSION is refused, and a
 * damaged one. Returns 0, CS_E_DB, CS_E_STATE (too new) or CS_E_DAMAGED (what quick_check or SQLite found
 * is in *err); *err is new. */
int cs_backlog_schema_setup(sqlite3 *db, const char *path, char **err);

#endif
