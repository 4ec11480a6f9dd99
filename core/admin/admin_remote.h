/*
 * admin_remote.h - private to the admin API: the answers that make crmsyncd call a connection's remote
 * system (Dynamics 365, Campaign) with its credentials, cached and rate-limited (admin_remote.c).
 */
#ifndef CS_ADMIN_REMOTE_H
#define CS_ADMIN_REMOTE_H

#include <stdint.h>

#include "admin_http.h"

struct cs_engine;
struct cs_remote;

/* Describe answers are kept `ttl_ms` (0: not kept); each connection is asked at most `per_minute`
 * times a minute (a burst of as many, refilled evenly). New. */
struct cs_remote *cs_remote_new(int64_t ttl_ms, int64_t per_minute);
void cs_remote_free(struct cs_remote *r);

/* GET connections/{conn}/tables[/{table}] (table NULL: the list): from the cache, or asked of the
 * connection when its rate allows (else 429 with Retry-After). */
void cs_remote_describe(struct cs_remote *r, struct cs_engine *e, const char *conn, const char *table,
                        struct cs_reply *rep);

/* May a call reach connection `conn`'s remote system now? 0 (and it is counted), or -1 with the answer
 * in rep: 404 for no such connection, 429 with Retry-After when it was asked too often. */
int cs_remote_admit(struct cs_remote *r, struct cs_engine *e, const char *conn, struct cs_reply *rep);

/* Drop what is cached of `conn` (its credentials changed). */
void cs_remote_forget(struct cs_remote *r, const char *conn);

#endif
