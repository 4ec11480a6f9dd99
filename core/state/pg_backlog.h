/*
 * pg_backlog.h - private to the PostgreSQL driver: its handle (struct cs_backlog) and the connection
 * helpers pg_backlog.c lends the fleet's calls (pg_fleet.c), which share its connection and mutex.
 */
#ifndef CS_PG_BACKLOG_H
#define CS_PG_BACKLOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "pg_conn.h"
#include "state_driver.h"

/* Per workflow, in memory: written with the mutex held, read without it too (the last known values while
 * a call waits on the database), so the list only grows and the values are atomic. */
struct wf {
    struct wf *next;
    char *id;
    _Atomic int64_t queued; /* backlog rows, pending and claimed: this process's changes since the last count */
    _Atomic int64_t dead;   /* dead letters not redriven, likewise */
    /* this member's reader lease is valid until then by its own clock (mono ms), 0: none */
    _Atomic int64_t lease_until;
};

/* This process as a fleet member, once it joined (pg_fleet.c). */
struct pg_member {
    char *node, *host, *admin;
    int64_t lease_ms;
};

struct cs_backlog {
    const struct cs_state_driver *driver; /* first: see state_driver.h */
    pthread_mutex_t mu;                   /* guards everything below but what is atomic or under note_mu */
    struct cs_pg_conn pg;
    char *owner;                /* the claim mark of this process: its node name once it joined */
    unsigned char prepared[64]; /* statement prepared on the current connection (pg_backlog.c's) */
    int in_tx;                  /* a transaction is open */
    json_t *unreleased;         /* seqs whose release the database missed: released at the next claim */
    struct wf *_Atomic wfs;
    int64_t counted_at;           /* when the counters were last counted in the database (mono ms) */
    struct pg_member *_Atomic me; /* NULL until the process joined the fleet */
    _Atomic int64_t transactions; /* write transactions committed, for cs_backlog_stats */
    pthread_mutex_t note_mu;      /* guards the two below; never held over a call to the database */
    char db_error[512];           /* the last database error (CS_E_DB), for the health check */
    int64_t db_error_at;
};

/* ---- lent by pg_backlog.c: call them with the mutex held (pg_lock) ---- */

void pg_lock(struct cs_backlog *b);
void pg_unlock(struct cs_backlog *b);
/* pg_lock for a read the admin API makes: a thread given a patience (cs_backlog_patience) waits that
 * long at most, and not at all while a call has waited on the database longer; then CS_E_DB, saying so
 * (not logged: the failed call logs its own error). 0: the mutex is held. */
int pg_lock_read(struct cs_backlog *b);
/* The workflow's in-memory entry when it has one, without the mutex. */
struct wf *pg_wf_known(struct cs_backlog *b, const char *id);
/* Run `sql` (not prepared: for the calls made every few seconds) with the arguments `fmt` describes, as
 * pg_backlog.c's run(): 't' const char *, 'I' int64_t, 'n' int64_t NULL when 0. *res (may be NULL) gets
 * the result; returns the rows returned or changed, or CS_E_DB (logged, the password scrubbed). */
int pg_exec(struct cs_backlog *b, PGresult **res, const char *sql, const char *fmt, ...);
/* BEGIN (connecting again first when the connection was lost), and COMMIT when rc is 0 or ROLLBACK. */
int pg_begin(struct cs_backlog *b);
int pg_finish(struct cs_backlog *b, int rc);
/* The workflow's in-memory entry, made when first asked. */
struct wf *pg_wf(struct cs_backlog *b, const char *id);
/* Record why the last call failed (cs_backlog_errmsg) and log it; returns rc. */
int pg_failed(struct cs_backlog *b, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A result column as text (NULL when NULL) or an integer (0 when NULL). */
const char *pg_text(PGresult *res, int row, int col);
int64_t pg_int(PGresult *res, int row, int col);

/* ---- pg_fleet.c ---- */

extern const struct cs_fleet_ops cs_pg_fleet;
/* The fence of an enqueue of `wf`, the last statement of its transaction: 0 when this member holds an
 * unexpired lease of `wf` (the lease row then stays locked until the commit, so no other member takes
 * it meanwhile), CS_E_FENCED otherwise; 0 at once for a process that did not join a fleet. */
int pg_fence(struct cs_backlog *b, const char *wf);
void pg_member_free(struct pg_member *m);

#endif
