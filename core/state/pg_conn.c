/*
 * pg_conn.c - the PostgreSQL driver's connection (pg_conn.h): connect with the DSN and crmsyncd's own
 * defaults (application_name, connect_timeout: the DSN's values win), scrub the password from libpq's
 * messages, and bound how long the server keeps a transaction the daemon left open.
 */
#include "pg_conn.h"

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

/* The bound of a transaction left open (pg_conn.h), on this session. */
static int bound_idle_transactions(struct cs_pg_conn *c, char **err)
{
    char sql[96], *msg;
    PGresult *res;
    int rc = 0;
    if (c->idle_tx_ms <= 0)
        return 0;
    snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %lld", (long long)c->idle_tx_ms);
    res = PQexec(c->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        msg = cs_pg_conn_message(c, PQresultErrorMessage(res));
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
    return bound_idle_transactions(c, err);
}

int cs_pg_conn_bound_idle(struct cs_pg_conn *c, int64_t ms, char **err)
{
    *err = NULL;
    c->idle_tx_ms = ms;
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
