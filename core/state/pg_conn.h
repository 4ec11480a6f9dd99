/*
 * pg_conn.h - private to the PostgreSQL driver: its connection to the state database (pg_conn.c). The
 * connection string is a secret: it is never logged, and its password (and PGPASSWORD's) is scrubbed
 * from every message libpq gives. Several crmsyncd may share one database (the fleet: pg_fleet.c).
 */
#ifndef CS_PG_CONN_H
#define CS_PG_CONN_H

#include <stdint.h>

#include <libpq-fe.h>

/* The transaction lock the schema migrations take (pg_schema.c): "crmsync" + 1. */
#define CS_PG_MIGRATION_LOCK (0x63726d73796e63LL + 1)

struct cs_pg_conn {
    PGconn *conn;
    char *conninfo; /* the DSN: secret */
    char *password; /* the DSN's password, scrubbed from messages; NULL when it has none */
    char *where;    /* "PostgreSQL database D on H:P as U", for messages: no secret */
    /* the server ends a transaction left open this long (ms; 0: never): one cut off mid-way by a network
     * partition must not hold its row locks (a reader lease's) beyond a bound */
    int64_t idle_tx_ms;
};

/* Check the connection string (it is never shown, not even when it cannot be parsed), then connect. */
int cs_pg_conn_open(struct cs_pg_conn *c, const char *conninfo, char **err);
/* (Re)connect: 0, or CS_E_DB (unreachable: *err, new, has libpq's reason). */
int cs_pg_conn_connect(struct cs_pg_conn *c, char **err);
void cs_pg_conn_close(struct cs_pg_conn *c);
/* Bound transactions left open to `ms` (idle_tx_ms) on this connection and the next ones: 0 or CS_E_DB. */
int cs_pg_conn_bound_idle(struct cs_pg_conn *c, int64_t ms, char **err);
/* libpq's message `msg` on one line with the password scrubbed (new). */
char *cs_pg_conn_message(const struct cs_pg_conn *c, const char *msg);

#endif
