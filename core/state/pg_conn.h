/*
 * pg_conn.h - private to the PostgreSQL driver: its connection to the state database (pg_conn.c). The
 * connection string is a secret: it is never logged, and its password (and PGPASSWORD's) is scrubbed
 * from every message libpq gives. Several crmsyncd may share one database (the fleet: pg_fleet.c).
 *
 * Every call to the database is bounded (call_ms, connect_ms): a network that stops carrying bytes while
 * closing nothing (a partition) must not hold a caller, nor the driver's mutex, without end. A call past
 * its bound gets no result: the connection is dropped, and made again at the next call.
 */
#ifndef CS_PG_CONN_H
#define CS_PG_CONN_H

#include <stdatomic.h>
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
    int64_t call_ms;            /* a statement's bound (ms): its answer comes within it or the connection is dropped */
    int64_t connect_ms;         /* a connection's bound (ms) */
    char why[256];              /* why the last call got no result (no answer, connection lost): no secret */
    _Atomic int64_t busy_since; /* a call waits on the database since then (mono ms), 0: none */
    _Atomic int unanswered;     /* the last call got no answer (or no connection): 1 until one is answered */
};

/* The bounds before a fleet's lease sets them (cs_pg_conn_bound): opening, migrating, recovering. */
#define CS_PG_CALL_MS    30000
#define CS_PG_CONNECT_MS 10000

/* The ways of sending a call (cs_pg_conn_call). */
enum cs_pg_send { CS_PG_QUERY, CS_PG_PARAMS, CS_PG_PREPARE, CS_PG_PREPARED };

/* Check the connection string (it is never shown, not even when it cannot be parsed), then connect. */
int cs_pg_conn_open(struct cs_pg_conn *c, const char *conninfo, char **err);
/* (Re)connect: 0, or CS_E_DB (unreachable: *err, new, has libpq's reason). */
int cs_pg_conn_connect(struct cs_pg_conn *c, char **err);
void cs_pg_conn_close(struct cs_pg_conn *c);
/* Bound everything by a fleet's reader lease `lease_ms`, on this connection and the next ones: a
 * transaction left open lease/2 (idle_tx_ms), a call lease/3 (1 s at least), a connection lease: 0 or
 * CS_E_DB. */
int cs_pg_conn_bound(struct cs_pg_conn *c, int64_t lease_ms, char **err);
/* Send one call and wait for its result within call_ms: CS_PG_QUERY `sql` (statements without
 * parameters), CS_PG_PARAMS `sql` with n `values`, CS_PG_PREPARE `sql` as `name`, CS_PG_PREPARED `name`
 * with n `values`. Returns the result (the first failed one of several statements, else the last), or
 * NULL when none came: then `why` says why and the connection is closed (PQstatus: CONNECTION_BAD). */
PGresult *cs_pg_conn_call(struct cs_pg_conn *c, enum cs_pg_send how, const char *name, const char *sql, int n,
                          const char *const *values);
PGresult *cs_pg_conn_exec(struct cs_pg_conn *c, const char *sql);
/* Why call result `r` failed: its error, or `why` when there is no result. */
const char *cs_pg_conn_reason(const struct cs_pg_conn *c, const PGresult *r);
/* 0 while the database answers; 1 when a call has waited on it `patience_ms` or longer (*silent_ms: how
 * long) or the last call got no answer. Safe from any thread without the driver's mutex. */
int cs_pg_conn_silent(const struct cs_pg_conn *c, int64_t patience_ms, int64_t *silent_ms);
/* libpq's message `msg` on one line with the password scrubbed (new). */
char *cs_pg_conn_message(const struct cs_pg_conn *c, const char *msg);

#endif
