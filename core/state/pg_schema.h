/*
 * pg_schema.h - private to pg_backlog.c: the forward-only schema migrations of the PostgreSQL state
 * database (core/state/pg_schema.c).
 */
#ifndef CS_PG_SCHEMA_H
#define CS_PG_SCHEMA_H

#include "pg_conn.h"

/* The schema version this build writes: crmsync_schema.version after cs_pg_schema_setup. */
#define CS_PG_SCHEMA_VERSION 2

/* Migrate the schema of the database `conn` is connected to forward in one transaction (under a lock, so
 * that two daemons starting at once migrate it once). A database whose version is newer than
 * CS_PG_SCHEMA_VERSION is refused with both versions named. Returns 0, CS_E_DB, or CS_E_STATE (too new); *err is new. */
int cs_pg_schema_setup(struct cs_pg_conn *c, char **err);

#endif
