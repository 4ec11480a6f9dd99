/*
 * pg_conn.c - the PostgreSQL driver's connection (pg_conn.h): connect with the DSN and crmsyncd's own
 * defaults (application_name, connect_timeout: the DSN's values win), scrub the password from libpq's
 * messages, and take the session advisory lock that keeps a second crmsyncd off the same database.
 */
#include "pg_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

#define LOCK_TRIES 20 /* 250 ms apart */
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

/* Which session holds the one-daemon lock, for the refusal (new). */
static char *lock_holder(const struct cs_pg_conn *c)
{
    char sql[320];
    PGresult *res;
    char *who;
    snprintf(sql, sizeof sql,
             "SELECT a.pid, coalesce(host(a.client_addr), 'a local socket') FROM pg_locks l JOIN pg_stat_activity a"
             " USING (pid) WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %lld AND l.objid = %lld",
             (long long)(CS_PG_DAEMON_LOCK >> 32), (long long)(CS_PG_DAEMON_LOCK & 0xffffffffLL));
    res = PQexec(c->conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        who = cs_xasprintf("the session of PostgreSQL backend %s, connected from %s,", PQgetvalue(res, 0, 0),
                           PQgetvalue(res, 0, 1));
    else
        who = cs_xstrdup("another session");
    PQclear(res);
    return who;
}

/* The lock, or why not. A session that ended a moment ago (a crmsyncd that stopped or died just before
 * this one started) may hold it until its server process has gone: asked again for a few seconds. */
static int take_lock(struct cs_pg_conn *c, char **err)
{
    const struct timespec pause = {0, 250 * 1000000L};
    char sql[64], *msg, *who;
    PGresult *res;
    int rc = 0;
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", (long long)CS_PG_DAEMON_LOCK);
    res = PQexec(c->conn, sql);
    for (int i = 0; i < LOCK_TRIES && PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") != 0;
         i++) {
        PQclear(res);
        nanosleep(&pause, NULL);
        res = PQexec(c->conn, sql);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        msg = cs_pg_conn_message(c, PQresultErrorMessage(res));
        *err = cs_xasprintf("state database %s: cannot take the crmsyncd lock: %s", c->where, msg);
        free(msg);
        rc = CS_E_DB;
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        who = lock_holder(c);
        *err = cs_xasprintf("the state database %s is in use: %s holds the crmsyncd lock; stop that crmsyncd "
                            "first, or give this one another database (two daemons on one state would write "
                            "every record twice)",
                            c->where, who);
        free(who);
        rc = CS_E_STATE;
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

    *err = NULL;
    PQfinish(c->conn);
    c->conn = PQconnectdbParams(keywords, values, 1);
    free(c->where);
    c->where = c->conn ? cs_xasprintf("\"%s\" on %s:%s as %s", PQdb(c->conn), PQhost(c->conn), PQport(c->conn),
                                      PQuser(c->conn))
                       : cs_xstrdup("(out of memory)");
    if (PQstatus(c->conn) != CONNECTION_OK) {
        msg = cs_pg_conn_message(c, c->conn ? PQerrorMessage(c->conn) : "out of memory");
        *err = cs_xasprintf("cannot connect to the state database %s: %s", c->where, msg);
        free(msg);
        return CS_E_DB;
    }
    PQsetNoticeProcessor(c->conn, notice, c);
    return take_lock(c, err);
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
    return cs_pg_conn_connect(c, err);
}

void cs_pg_conn_close(struct cs_pg_conn *c)
{
    if (PQstatus(c->conn) == CONNECTION_OK) /* at once: the server releases a closed session's locks later */
        PQclear(PQexec(c->conn, "SELECT pg_advisory_unlock_all()"));
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
