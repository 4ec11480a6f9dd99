/*
 * pg_conn.h - private to the PostgreSQL driver: its connection to the state database (pg_conn.c). The
 * connection string is a secret: it is never logged, and its password (and PGPASSWORD's) is scrubbed
 * from every message libpq gives. While connected, the connection holds the database's one-daemon lock.
 */
#ifndef CS_PG_CONN_H
#define CS_PG_CONN_H

#include <libpq-fe.h>

/* The session advisory lock one crmsyncd holds on its state database, and the transaction lock the
 * schema migrations take (pg_schema.c). */
#define CS_PG_DAEMON_LOCK    0x63726d73796e63LL /* "crmsync" */
#define CS_PG_MIGRATION_LOCK (CS_PG_DAEMON_LOCK + 1)

struct cs_pg_conn {
    PGconn *conn;
    char *conninfo; /* the DSN: secret */
    char *password; /* the DSN's password, scrubbed from messages; NULL when it has none */
    char *where;    /* "PostgreSQL database D on H:P as U", for messages: no secret */
};

/* Check the connection string (it is never shown, not even when it cannot be parsed), then connect. */
int cs_pg_conn_open(struct cs_pg_conn *c, const char *conninfo, char **err);
/* (Re)connect and take the one-daemon lock: 0, CS_E_DB (unreachable: *err has libpq's reason) or
 * CS_E_STATE (another crmsyncd holds the database). *err is new. */
int cs_pg_conn_connect(struct cs_pg_conn *c, char **err);
void cs_pg_conn_close(struct cs_pg_conn *c);
/* libpq's message `msg` on one line with the password scrubbed (new). */
char *cs_pg_conn_message(const struct cs_pg_conn *c, const char *msg);

#endif
