/*
 * pg_conn.c - the PostgreSQL driver's connection (pg_conn.h): connect with the DSN and crmsyncd's own
 * defaults (application_name, connect_timeout: the DSN's values win), scrub the password from libpq's
 * messages, bound how long the server keeps a transaction the daemon left open, and bound every call:
 * libpq's non-blocking API, its socket polled until the call's deadline, the connection dropped at it.
 */
#include "pg_conn.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

static char *password_of(const char *conninfo, int *valid)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL), *o;
    char *password = NULL;
    *valid = opts != NULL;
    for (o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            password = cs_xstrdup(o->val);
    PQconninfoFree(opts);
    return password;
}

/* Replace every occurrence of `secret` in s (in place) by asterisks. */
static void scrub(char *s, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    for (char *at = n ? strstr(s, secret) : NULL; at; at = strstr(at + n, secret))
        memset(at, '*', n);
}

char *cs_pg_conn_message(const struct cs_pg_conn *c, const char *msg)
{
    char *s = cs_xstrdup(msg ? msg : "unknown error"), *p;
    size_t len;
    for (p = s; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    for (len = strlen(s); len && s[len - 1] == ' '; len--)
        s[len - 1] = '\0';
    scrub(s, c->password);
    scrub(s, getenv("PGPASSWORD"));
    return s;
}

/* ---- bounded calls ---------------------------------------------------------------------------- */

/* Wait until the socket is ready for `events` or the deadline (mono ms): 1 ready, 0 past the deadline. */
static int ready(PGconn *conn, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = PQsocket(conn), .events = events};
        int64_t left = deadline - cs_mono_ms();
        int n;
        if (left <= 0)
            return 0;
        n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n != 0 && !(n < 0 && errno == EINTR))
            return 1; /* ready, or an error libpq's next call reports */
    }
}

/* No result (c->why says why): drop the connection (its state is unknown); the next call connects again. */
static PGresult *dropped(struct cs_pg_conn *c)
{
    PQfinish(c->conn);
    c->conn = NULL;
    atomic_store(&c->unanswered, 1);
    return NULL;
}

static PGresult *no_result(struct cs_pg_conn *c, const char *why)
{
    snprintf(c->why, sizeof c->why, "%s", why);
    return dropped(c);
}

/* Why a call or a connection (`then`: what comes next) got nothing within `bound_ms`, into c->why. */
static void say_late(struct cs_pg_conn *c, int64_t bound_ms, const char *then)
{
    snprintf(c->why, sizeof c->why,
             "the state database did not answer within %.1f s (the network or the server stalls): %s",
             bound_ms / 1000.0, then);
}

static PGresult *late(struct cs_pg_conn *c, int64_t bound_ms)
{
    say_late(c, bound_ms, "the connection is dropped and made again at the next call");
    return dropped(c);
}

/* Keep the first failed result of a call, else its last. */
static PGresult *keep(PGresult *kept, PGresult *r)
{
    ExecStatusType st = PQresultStatus(kept);
    if (kept && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        PQclear(r);
        return kept;
    }
    PQclear(kept);
    return r;
}

/* Flush the call sent and collect its results, within the deadline. */
static PGresult *collect(struct cs_pg_conn *c, int64_t deadline)
{
    PGresult *kept = NULL, *r;
    int flushing;
    while ((flushing = PQflush(c->conn)) == 1) {
        if (!ready(c->conn, POLLIN | POLLOUT, deadline))
            return late(c, c->call_ms);
        if (!PQconsumeInput(c->conn))
            break;
    }
    for (;;) {
        while (flushing < 0 || PQstatus(c->conn) == CONNECTION_BAD || !PQisBusy(c->conn)) {
            if (!(r = PQgetResult(c->conn))) {
                if (!kept)
                    return no_result(c, PQerrorMessage(c->conn));
                atomic_store(&c->unanswered, 0);
                return kept;
            }
            kept = keep(kept, r);
        }
        if (!ready(c->conn, POLLIN, deadline)) {
            PQclear(kept);
            return late(c, c->call_ms);
        }
        if (!PQconsumeInput(c->conn))
            flushing = -1; /* the connection broke: its results (an error) come at once */
    }
}

PGresult *cs_pg_conn_call(struct cs_pg_conn *c, enum cs_pg_send how, const char *name, const char *sql, int n,
                          const char *const *values)
{
    int64_t started = cs_mono_ms();
    PGresult *r;
    int sent;
    if (PQstatus(c->conn) != CONNECTION_OK)
        return no_result(c, c->conn ? PQerrorMessage(c->conn) : "not connected");
    atomic_store(&c->busy_since, started);
    sent = how == CS_PG_QUERY     ? PQsendQuery(c->conn, sql)
           : how == CS_PG_PARAMS  ? PQsendQueryParams(c->conn, sql, n, NULL, values, NULL, NULL, 0)
           : how == CS_PG_PREPARE ? PQsendPrepare(c->conn, name, sql, 0, NULL)
                                  : PQsendQueryPrepared(c->conn, name, n, values, NULL, NULL, 0);
    r = sent ? collect(c, started + c->call_ms) : no_result(c, PQerrorMessage(c->conn));
    atomic_store(&c->busy_since, 0);
    return r;
}

PGresult *cs_pg_conn_exec(struct cs_pg_conn *c, const char *sql)
{
    return cs_pg_conn_call(c, CS_PG_QUERY, NULL, sql, 0, NULL);
}

const char *cs_pg_conn_reason(const struct cs_pg_conn *c, const PGresult *r)
{
    return r ? PQresultErrorMessage(r) : c->why;
}

int cs_pg_conn_silent(const struct cs_pg_conn *c, int64_t patience_ms, int64_t *silent_ms)
{
    int64_t since = atomic_load(&c->busy_since);
    *silent_ms = since ? cs_mono_ms() - since : 0;
    return atomic_load(&c->unanswered) || (since && *silent_ms >= patience_ms);
}

/* Connect within connect_ms (libpq's non-blocking connection): 1 connected, 0 not (c->conn says why). */
static int connect_bounded(struct cs_pg_conn *c, const char *const *keywords, const char *const *values)
{
    int64_t deadline = cs_mono_ms() + c->connect_ms;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    c->conn = PQconnectStartParams(keywords, values, 1);
    if (PQstatus(c->conn) == CONNECTION_BAD)
        return 0;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        if (!ready(c->conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline)) {
            say_late(c, c->connect_ms, "tried again at the next call");
            return 0;
        }
        st = PQconnectPoll(c->conn);
    }
    return st == PGRES_POLLING_OK && PQsetnonblocking(c->conn, 1) == 0;
}

/* The bound of a transaction left open (pg_conn.h), on this session. */
static int bound_idle_transactions(struct cs_pg_conn *c, char **err)
{
    char sql[96], *msg;
    PGresult *res;
    int rc = 0;
    if (c->idle_tx_ms <= 0)
        return 0;
    snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %lld", (long long)c->idle_tx_ms);
    res = cs_pg_conn_exec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        msg = cs_pg_conn_message(c, cs_pg_conn_reason(c, res));
        *err = cs_xasprintf("state database %s: %s", c->where, msg);
        free(msg);
        rc = CS_E_DB;
    }
    PQclear(res);
    return rc;
}

/* The server's notices (e.g. "relation ... already exists, skipping") are for a debug log only. */
static void notice(void *arg, const char *message)
{
    char *msg = cs_pg_conn_message(arg, message);
    cs_log(CS_LOG_DEBUG, "backlog", "state database: %s", msg);
    free(msg);
}

int cs_pg_conn_connect(struct cs_pg_conn *c, char **err)
{
    static const char *const keywords[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {"10", "crmsyncd", c->conninfo, NULL};
    char *msg;

    int connected;

    *err = NULL;
    PQfinish(c->conn);
    c->why[0] = '\0';
    atomic_store(&c->busy_since, cs_mono_ms());
    connected = connect_bounded(c, keywords, values);
    atomic_store(&c->busy_since, 0);
    atomic_store(&c->unanswered, !connected);
    free(c->where);
    c->where = c->conn ? cs_xasprintf("\"%s\" on %s:%s as %s", PQdb(c->conn), PQhost(c->conn), PQport(c->conn),
                                      PQuser(c->conn))
                       : cs_xstrdup("(out of memory)");
    if (!connected) {
        msg = cs_pg_conn_message(c, c->why[0] ? c->why : c->conn ? PQerrorMessage(c->conn) : "out of memory");
        PQfinish(c->conn);
        c->conn = NULL;
        *err = cs_xasprintf("cannot connect to the state database %s: %s", c->where, msg);
        free(msg);
        return CS_E_DB;
    }
    PQsetNoticeProcessor(c->conn, notice, c);
    return bound_idle_transactions(c, err);
}

int cs_pg_conn_bound(struct cs_pg_conn *c, int64_t lease_ms, char **err)
{
    *err = NULL;
    c->idle_tx_ms = lease_ms / 2;
    c->call_ms = lease_ms / 3 > 1000 ? lease_ms / 3 : 1000;
    c->connect_ms = lease_ms;
    return bound_idle_transactions(c, err);
}

int cs_pg_conn_open(struct cs_pg_conn *c, const char *conninfo, char **err)
{
    int valid;
    *err = NULL;
    c->password = password_of(conninfo, &valid);
    if (!valid) {
        *err = cs_xstrdup("the state database's connection string cannot be parsed (it is not shown: it may hold "
                          "a password): write key=value pairs (host=... dbname=... user=...) or a "
                          "postgresql://user@host/dbname URI");
        return CS_E_INVAL;
    }
    c->conninfo = cs_xstrdup(conninfo);
    c->call_ms = CS_PG_CALL_MS;
    c->connect_ms = CS_PG_CONNECT_MS;
    return cs_pg_conn_connect(c, err);
}

void cs_pg_conn_close(struct cs_pg_conn *c)
{
    PQfinish(c->conn);
    if (c->conninfo)
        explicit_bzero(c->conninfo, strlen(c->conninfo));
    if (c->password)
        explicit_bzero(c->password, strlen(c->password));
    free(c->conninfo);
    free(c->password);
    free(c->where);
    *c = (struct cs_pg_conn){0};
}
