/*
 * pg_fleet.c - the PostgreSQL driver's fleet (backlog.h, state_driver.h's cs_fleet_ops): several crmsyncd
 * sharing one state database. Every time below is the database's clock, the one clock of the fleet.
 *
 *  - member: one row per daemon (node, host, pid, admin address, lease, writers per workflow), its
 *    heartbeat renewed every lease/3. A member whose heartbeat is older than its lease is dead: any live
 *    member's heartbeat sweeps it (its row goes, its claims are released: the duplicate window). A node
 *    name is held by one live member; the same node coming back on its host after its process died
 *    replaces its old row at once.
 *  - reader_lease: one row per workflow (holder, expires_at). A member takes a free or expired lease; its
 *    heartbeat renews the leases it holds. Takers skip a row another member has locked, so no call here
 *    waits on another member's transaction.
 *  - the fence: an enqueue's transaction locks its lease row, held by this member and unexpired, as its
 *    last statement (pg_fence), so it commits only while the lease is held and no taker can change the row
 *    before that commit. A transaction a partition cuts off mid-way is ended by the server after lease/2
 *    (pg_conn.h's idle_tx_ms), so a lease is free again at most lease/2 after it expired.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_backlog.h"
#include "util/log.h"
#include "util/util.h"

/* A member's own clock may run a little faster than the database's: it stops reading this much early. */
#define LEASE_MARGIN(ms) ((ms) / 20)

#define ALIVE "heartbeat > now() - lease_ms * interval '1 ms'"

static const char *const SQL_MEMBER =
    "SELECT host, pid, " ALIVE ", (extract(epoch FROM now() - heartbeat) * 1000)::bigint FROM member WHERE node = $1";
static const char *const SQL_DROP_MEMBER = "DELETE FROM member WHERE node = $1";
static const char *const SQL_UNCLAIM = "UPDATE backlog SET claimed_by = NULL WHERE claimed_by = $1";
static const char *const SQL_FREE_LEASES =
    "UPDATE reader_lease SET holder = NULL, expires_at = '-infinity' WHERE holder = $1";
static const char *const SQL_ADD_MEMBER =
    "INSERT INTO member (node, host, pid, admin, lease_ms) VALUES ($1, $2, $3, $4, $5)";
/* the heartbeat, or the row again when a sweep took it while this member was cut off (and no other
 * process took the node name meanwhile) */
static const char *const SQL_BEAT =
    "INSERT INTO member (node, host, pid, admin, lease_ms, writers) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (node) DO UPDATE SET heartbeat = now(), writers = excluded.writers, admin = excluded.admin"
    " WHERE member.host = excluded.host AND member.pid = excluded.pid RETURNING (xmax = 0)";
static const char *const SQL_RENEW =
    "UPDATE reader_lease SET expires_at = now() + $2 * interval '1 ms' WHERE holder = $1 RETURNING workflow_id";
static const char *const SQL_SWEEP =
    "WITH dead AS (DELETE FROM member WHERE node <> $1 AND NOT (" ALIVE ") RETURNING node),"
    " released AS (UPDATE backlog b SET claimed_by = NULL FROM dead WHERE b.claimed_by = dead.node"
    " RETURNING dead.node)"
    " SELECT node, (SELECT count(*) FROM released r WHERE r.node = dead.node) FROM dead";
static const char *const SQL_LEASE_ROW =
    "INSERT INTO reader_lease (workflow_id) VALUES ($1) ON CONFLICT (workflow_id) DO NOTHING";
static const char *const SQL_LEASE_TAKE =
    "WITH cur AS (SELECT workflow_id, holder, expires_at FROM reader_lease WHERE workflow_id = $1"
    " FOR UPDATE SKIP LOCKED)"
    " UPDATE reader_lease l SET holder = $2, expires_at = now() + $3 * interval '1 ms',"
    " taken_at = CASE WHEN cur.holder = $2 THEN l.taken_at ELSE now() END FROM cur"
    " WHERE l.workflow_id = cur.workflow_id AND (cur.holder IS NULL OR cur.holder = $2 OR cur.expires_at < now())"
    " RETURNING cur.holder, cur.expires_at < now()";
static const char *const SQL_LEASE_HOLDER =
    "SELECT holder FROM reader_lease WHERE workflow_id = $1 AND holder IS NOT NULL AND expires_at > now()";
static const char *const SQL_LEASE_DROP =
    "UPDATE reader_lease SET holder = NULL, expires_at = '-infinity' WHERE workflow_id = $1 AND holder = $2";
static const char *const SQL_FENCE = "SELECT expires_at > clock_timestamp() FROM reader_lease"
                                     " WHERE workflow_id = $1 AND holder = $2 FOR UPDATE";
static const char *const SQL_LEASE_OF = "SELECT holder FROM reader_lease WHERE workflow_id = $1";
static const char *const SQL_MEMBERS =
    "SELECT node, host, pid, admin, (extract(epoch FROM started_at) * 1000)::bigint,"
    " (extract(epoch FROM now() - heartbeat) * 1000)::bigint, " ALIVE ", writers FROM member ORDER BY node";
static const char *const SQL_READERS =
    "SELECT workflow_id, holder FROM reader_lease WHERE holder IS NOT NULL AND expires_at > now()";
static const char *const SQL_DESIRED = "SELECT id, desired_state, coalesce(desired_rev, 0) FROM workflow";
static const char *const SQL_STARTED =
    "UPDATE workflow SET desired_state = 'running', desired_rev = $2, updated_at = $3 WHERE id = $1";

void pg_member_free(struct pg_member *m)
{
    if (!m)
        return;
    free(m->node);
    free(m->host);
    free(m->admin);
    free(m);
}

/* A process of this host with that pid exists. */
static int process_exists(long pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* ---- join and leave ----------------------------------------------------------------------------- */

/* The member row of node `me->node`, when a live process holds it: why this one cannot join (new). */
static char *node_taken(struct cs_backlog *b, const struct cs_member *me)
{
    PGresult *res;
    char *why = NULL;
    int rc = pg_exec(b, &res, SQL_MEMBER, "t", me->node);
    if (rc > 0) {
        const char *host = pg_text(res, 0, 0);
        long pid = (long)pg_int(res, 0, 1);
        int alive = *pg_text(res, 0, 2) == 't';
        int gone = strcmp(host, me->host) == 0 && !process_exists(pid);
        if (alive && !gone)
            why = cs_xasprintf("this crmsyncd (pid %ld on %s) cannot join the fleet of the state database %s as "
                               "node \"%s\": crmsyncd pid %ld on %s holds that node name (its heartbeat is %.1f s "
                               "old); give this one another state.node, or stop that one first",
                               (long)getpid(), me->host, b->pg.where, me->node, pid, host, pg_int(res, 0, 3) / 1000.0);
    }
    PQclear(res);
    return why;
}

/* The old row of this node (a process that is gone) goes with its claims and leases; this one's comes. */
static int replace_member(struct cs_backlog *b, const struct cs_member *me)
{
    const char *const clear[] = {SQL_DROP_MEMBER, SQL_UNCLAIM, SQL_FREE_LEASES};
    int rc = pg_begin(b), released = 0, n;
    for (size_t i = 0; rc == 0 && i < sizeof clear / sizeof *clear; i++)
        if ((n = pg_exec(b, NULL, clear[i], "t", me->node)) < 0)
            rc = n;
        else if (clear[i] == SQL_UNCLAIM)
            released = n;
    if (rc == 0)
        rc = pg_exec(b, NULL, SQL_ADD_MEMBER, "ttItI", me->node, me->host, (int64_t)getpid(), me->admin, me->lease_ms);
    rc = pg_finish(b, rc < 0 ? rc : 0);
    if (rc == 0 && released)
        cs_log(CS_LOG_NOTICE, "fleet", "%d row(s) node %s had in flight before it stopped are claimable again",
               released, me->node);
    return rc;
}

static int fleet_join(struct cs_backlog *b, const struct cs_member *me, char **err)
{
    char *why;
    int rc;
    pg_lock(b);
    if ((why = node_taken(b, me))) {
        rc = CS_E_STATE;
        *err = why;
    } else if ((rc = cs_pg_conn_bound(&b->pg, me->lease_ms, err)) == 0 && (rc = replace_member(b, me)) == 0) {
        struct pg_member *m = cs_xcalloc(1, sizeof *m);
        m->node = cs_xstrdup(me->node);
        m->host = cs_xstrdup(me->host);
        m->admin = me->admin ? cs_xstrdup(me->admin) : NULL;
        m->lease_ms = me->lease_ms;
        pg_member_free(b->me);
        b->me = m; /* published complete: fleet_lease_held reads it without the mutex */
        free(b->owner);
        b->owner = cs_xstrdup(me->node);
    }
    if (rc != 0 && !*err)
        *err = cs_xstrdup(cs_backlog_errmsg(b));
    pg_unlock(b);
    return rc;
}

static void fleet_leave(struct cs_backlog *b)
{
    pg_lock(b);
    if (b->me) {
        pg_exec(b, NULL, SQL_FREE_LEASES, "t", b->me->node);
        pg_exec(b, NULL, SQL_DROP_MEMBER, "t", b->me->node);
    }
    pg_unlock(b);
}

/* ---- heartbeat and sweep ---------------------------------------------------------------------------- */

/* This member's row and leases, renewed in one transaction; each workflow's lease deadline follows. */
static int beat(struct cs_backlog *b, const char *writers)
{
    int64_t started = cs_mono_ms();
    PGresult *res = NULL;
    int rc = pg_begin(b), rows = 0;
    if (rc == 0 && (rows = pg_exec(b, &res, SQL_BEAT, "ttItIt", b->me->node, b->me->host, (int64_t)getpid(),
                                   b->me->admin, b->me->lease_ms, writers)) == 0)
        rc = pg_failed(b, CS_E_STATE,
                       "node %s: another crmsyncd took this node name in %s while this one was cut off: "
                       "stop one of them",
                       b->me->node, b->pg.where);
    if (rows > 0 && *pg_text(res, 0, 0) == 't')
        cs_log(CS_LOG_WARNING, "fleet", "node %s: back in the fleet after the others found it dead", b->me->node);
    PQclear(res);
    res = NULL;
    if (rc == 0)
        rows = rc = pg_exec(b, &res, SQL_RENEW, "tI", b->me->node, b->me->lease_ms);
    rc = pg_finish(b, rc < 0 ? rc : 0);
    for (struct wf *w = b->wfs; w; w = w->next) {
        int renewed = 0;
        for (int i = 0; rc == 0 && i < rows && !renewed; i++)
            renewed = strcmp(pg_text(res, i, 0), w->id) == 0;
        if (renewed)
            w->lease_until = started + b->me->lease_ms - LEASE_MARGIN(b->me->lease_ms);
        else if (rc == 0)
            w->lease_until = 0; /* taken by another member: this one's reader stops */
    }
    PQclear(res);
    return rc;
}

/* Members dead for longer than their lease go, their claims released; *swept gets {node, claims}. A
 * claim row locked by a member cut off mid-transaction is waited for 2 s at most: swept next time. */
static int sweep(struct cs_backlog *b, json_t *swept)
{
    PGresult *res = NULL;
    int rc = pg_begin(b), rows = 0;
    if (rc == 0)
        rc = pg_exec(b, NULL, "SET LOCAL lock_timeout = '2s'", "");
    if (rc >= 0)
        rc = rows = pg_exec(b, &res, SQL_SWEEP, "t", b->me->node);
    rc = pg_finish(b, rc < 0 ? rc : 0);
    for (int i = 0; rc == 0 && i < rows; i++)
        json_array_append_new(
            swept, json_pack("{s:s, s:I}", "node", pg_text(res, i, 0), "claims", (json_int_t)pg_int(res, i, 1)));
    PQclear(res);
    return rc;
}

static int fleet_heartbeat(struct cs_backlog *b, const json_t *writers, json_t **swept)
{
    char *text = json_dumps(writers, JSON_COMPACT | JSON_SORT_KEYS);
    int rc;
    *swept = json_array();
    pg_lock(b);
    rc = b->me ? beat(b, text ? text : "{}") : CS_E_STATE;
    if (rc == 0)
        rc = sweep(b, *swept);
    pg_unlock(b);
    free(text);
    return rc;
}

/* ---- the reader lease ------------------------------------------------------------------------------- */

/* Say how node `node` came to hold the lease of `wf` (the previous holder `was`; `kept`: it held it). */
static void log_taken(const char *wf, const char *node, const char *was, int kept)
{
    if (!was)
        cs_log(CS_LOG_NOTICE, wf, "reader lease taken by node %s (it was free)", node);
    else if (strcmp(was, node) != 0)
        cs_log(CS_LOG_NOTICE, wf,
               "reader lease taken by node %s from node %s, whose lease expired: reading from "
               "the committed cursor",
               node, was);
    else if (!kept)
        cs_log(CS_LOG_NOTICE, wf, "reader lease taken again by node %s", node);
}

static int lease_take(struct cs_backlog *b, const char *wf, char **holder)
{
    int64_t started = cs_mono_ms();
    struct wf *w = pg_wf(b, wf);
    PGresult *res = NULL;
    int rc = pg_exec(b, NULL, SQL_LEASE_ROW, "t", wf), taken = 0;
    if (rc >= 0)
        rc = taken = pg_exec(b, &res, SQL_LEASE_TAKE, "ttI", wf, b->me->node, b->me->lease_ms);
    if (taken > 0)
        log_taken(wf, b->me->node, pg_text(res, 0, 0), w->lease_until != 0);
    PQclear(res);
    if (taken > 0) {
        w->lease_until = started + b->me->lease_ms - LEASE_MARGIN(b->me->lease_ms);
        return 1;
    }
    w->lease_until = 0;
    res = NULL;
    if (rc == 0 && (rc = pg_exec(b, &res, SQL_LEASE_HOLDER, "t", wf)) > 0)
        *holder = cs_xstrdup(pg_text(res, 0, 0));
    PQclear(res); /* also a result of no row */
    return rc < 0 ? rc : 0;
}

static int fleet_lease_take(struct cs_backlog *b, const char *wf, char **holder)
{
    int rc;
    *holder = NULL;
    pg_lock(b);
    rc = b->me ? lease_take(b, wf, holder) : 1; /* a process outside any fleet reads alone */
    pg_unlock(b);
    return rc;
}

/* Without the mutex: a call that waits on the database holds it, and the lease must lapse on time. */
static int fleet_lease_held(struct cs_backlog *b, const char *wf)
{
    struct wf *w;
    if (!b->me)
        return 1;
    w = pg_wf_known(b, wf);
    return w && cs_mono_ms() < w->lease_until;
}

static int fleet_lease_drop(struct cs_backlog *b, const char *wf)
{
    int rc = 0;
    pg_lock(b);
    if (b->me) {
        pg_wf(b, wf)->lease_until = 0;
        rc = pg_exec(b, NULL, SQL_LEASE_DROP, "tt", wf, b->me->node);
    }
    pg_unlock(b);
    return rc < 0 ? rc : 0;
}

int pg_fence(struct cs_backlog *b, const char *wf)
{
    PGresult *res = NULL;
    char *holder = NULL;
    int rc, valid;
    if (!b->me)
        return 0;
    rc = pg_exec(b, &res, SQL_FENCE, "tt", wf, b->me->node);
    valid = rc > 0 && *pg_text(res, 0, 0) == 't';
    PQclear(res);
    res = NULL;
    if (rc < 0 || valid)
        return rc < 0 ? rc : 0;
    pg_wf(b, wf)->lease_until = 0;
    if (rc == 0 && pg_exec(b, &res, SQL_LEASE_OF, "t", wf) > 0 && pg_text(res, 0, 0))
        holder = cs_xstrdup(pg_text(res, 0, 0));
    PQclear(res); /* also a result of no row */
    rc = holder ? pg_failed(b, CS_E_FENCED,
                            "%s: reader lease lost to node %s: this batch and its cursor are not "
                            "committed (node %s reads them from the committed cursor)",
                            wf, holder, holder)
         : rc == 0
             ? pg_failed(b, CS_E_FENCED,
                         "%s: reader lease lost: it was freed; this batch and its cursor are "
                         "not committed",
                         wf)
             : pg_failed(b, CS_E_FENCED, "%s: reader lease expired: this batch and its cursor are not committed", wf);
    free(holder);
    return rc;
}

/* ---- what the fleet looks like -------------------------------------------------------------------- */

static json_t *member_row(PGresult *res, int i, const struct pg_member *me)
{
    json_t *writers = json_loads(pg_text(res, i, 7), 0, NULL);
    json_t *m = json_pack("{s:s, s:s, s:I, s:o, s:I, s:I, s:b, s:o, s:b}", "node", pg_text(res, i, 0), "host",
                          pg_text(res, i, 1), "pid", (json_int_t)pg_int(res, i, 2), "admin",
                          pg_text(res, i, 3) ? json_string(pg_text(res, i, 3)) : json_null(), "started_at",
                          (json_int_t)pg_int(res, i, 4), "heartbeat_age_ms", (json_int_t)pg_int(res, i, 5), "alive",
                          *pg_text(res, i, 6) == 't', "writers", json_is_object(writers) ? writers : json_object(),
                          "self", me && strcmp(me->node, pg_text(res, i, 0)) == 0);
    if (!json_is_object(writers))
        json_decref(writers);
    if (!m)
        abort();
    return m;
}

static int fleet_view(struct cs_backlog *b, json_t **out)
{
    json_t *members, *readers;
    PGresult *res = NULL;
    int rc;
    *out = NULL;
    if ((rc = pg_lock_read(b)) != 0)
        return rc;
    members = json_array();
    readers = json_object();
    rc = pg_exec(b, &res, SQL_MEMBERS, "");
    for (int i = 0; i < rc; i++)
        json_array_append_new(members, member_row(res, i, b->me));
    PQclear(res);
    if (rc >= 0)
        rc = pg_exec(b, &res, SQL_READERS, "");
    for (int i = 0; i < rc; i++)
        json_object_set_new(readers, pg_text(res, i, 0), json_string(pg_text(res, i, 1)));
    if (rc >= 0)
        PQclear(res);
    pg_unlock(b);
    *out = rc < 0 ? NULL : json_pack("{s:O, s:O}", "members", members, "readers", readers);
    json_decref(members);
    json_decref(readers);
    return rc < 0 ? rc : 0;
}

static int fleet_desired(struct cs_backlog *b, json_t **out)
{
    PGresult *res = NULL;
    json_t *all = json_object();
    int rc;
    pg_lock(b);
    rc = pg_exec(b, &res, SQL_DESIRED, "");
    for (int i = 0; i < rc; i++)
        json_object_set_new(
            all, pg_text(res, i, 0),
            json_pack("{s:s, s:I}", "desired", pg_text(res, i, 1), "revision", (json_int_t)pg_int(res, i, 2)));
    if (rc >= 0)
        PQclear(res);
    pg_unlock(b);
    if (rc < 0)
        json_decref(all);
    *out = rc < 0 ? NULL : all;
    return rc < 0 ? rc : 0;
}

static int fleet_started(struct cs_backlog *b, const char *wf, int64_t rev)
{
    int rc;
    pg_lock(b);
    rc = pg_exec(b, NULL, SQL_STARTED, "tII", wf, rev, cs_now_ms());
    pg_unlock(b);
    return rc < 0 ? rc : 0;
}

const struct cs_fleet_ops cs_pg_fleet = {
    .join = fleet_join,
    .leave = fleet_leave,
    .heartbeat = fleet_heartbeat,
    .lease_take = fleet_lease_take,
    .lease_held = fleet_lease_held,
    .lease_drop = fleet_lease_drop,
    .fleet = fleet_view,
    .desired = fleet_desired,
    .started = fleet_started,
};
