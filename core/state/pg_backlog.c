/*
 * pg_backlog.c - the PostgreSQL driver of the state store (backlog.h, state_driver.h): with backlog.c the
 * only modules that issue SQL. It owns one libpq connection (pg_conn.c) and the mutex around it, the
 * statements it prepares on that connection, and per-workflow counters of queued rows and live dead
 * letters. The schema and its migrations live in pg_schema.c. A page of records is folded in memory over
 * the newest rows of its keys (pg_fold.c) and written in a few statements; a batch's written rows are
 * checked and deleted in one statement each.
 *
 * Claims are kept in the database: a claim locks due rows with FOR UPDATE SKIP LOCKED and marks them
 * claimed_by this process (its fleet node name once it joined: pg_fleet.c). Only the oldest row of a key
 * is claimable, and only when no row of its key is claimed, so a key is never in flight twice anywhere in
 * the fleet and its changes go out in order. At open, the claims of no live member are leftovers of a
 * crash: they are dropped (every such row is claimable again, the duplicate window of backlog.h) and older
 * unclaimed rows of a key collapse to the newest, as the SQLite driver does. A member's enqueue commits
 * only while it holds the workflow's reader lease (the fence, pg_fleet.c). The counters of queued rows and
 * dead letters follow this process's own changes and are counted again in the database at most every
 * COUNTS_TTL_MS, since other members change them too.
 *
 * A lost connection is made again at the start of the next call (not inside a transaction, whose work is
 * gone with it); until then calls fail with CS_E_DB and the callers retry, as for any database error. A
 * release the database missed is kept and made at the next claim, so that no row stays claimed by a
 * process that no longer writes it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg_backlog.h"
#include "pg_fold.h"
#include "pg_schema.h"
#include "state_driver.h"
#include "util/log.h"
#include "util/util.h"

#define MAX_PARAMS     16
#define COUNTS_TTL_MS  1000
#define COUNTS_WAIT_MS 200

enum stmt {
    S_UNCLAIM_LEFT,
    S_COLLAPSE,
    S_COUNTS,
    S_WF_INIT,
    S_DESIRED_GET,
    S_DESIRED_SET,
    S_STATUS_SET,
    S_WF_IDS,
    S_ADOPT_CLAIMED,
    S_ADOPT_ROW,
    S_ADOPT_BACKLOG,
    S_ADOPT_CURSORS,
    S_ADOPT_DEAD,
    S_REV_ADD,
    S_REV_LATEST,
    S_REV_GET,
    S_REV_LIST,
    S_CURSOR_GET,
    S_CURSOR_PUT,
    S_CURSOR_DEL,
    S_NEWEST_ALL,
    S_INSERT_ALL,
    S_COALESCE,
    S_DEAD_ADD,
    S_CLAIM,
    S_NEXT_DUE,
    S_CLAIMED,
    S_DELETE,
    S_REJECT,
    S_SUPERSEDE,
    S_RETRY,
    S_RELEASE,
    S_UNSTICK,
    S_CLAIMED_ALL,
    S_DELETE_ALL,
    S_DEAD_LIST,
    S_DEAD_REDRIVABLE,
    S_DEAD_IDS,
    S_KEY_QUEUED,
    S_REQUEUE,
    S_REDRIVEN,
    S_KV_GET,
    S_KV_PUT,
    S_KV_DEL,
    S_COUNT
};

/* Another row of the same key as backlog row `b`, with a seq `cmp` b's. */
#define OTHER_ROW_OF_KEY(cmp)                                                                                          \
    "SELECT 1 FROM backlog o WHERE o.workflow_id = b.workflow_id AND o.stream = b.stream"                              \
    " AND o.record_key = b.record_key AND o.seq " cmp " b.seq"

/* The rows a claim may take: unclaimed, the oldest of their key (so no row of the key is in flight). */
#define CLAIMABLE "b.claimed_by IS NULL AND NOT EXISTS (" OTHER_ROW_OF_KEY("<") ")"

/* A dead letter that holds a record the backlog can take again. */
#define WELL_FORMED "(record_key IS NOT NULL AND stream <> '' AND op IN ('upsert', 'delete'))"

#define BACKLOG_COLUMNS "seq, stream, record_key, op, payload, ts, attempts, enqueued_at, initial"

static const char *const sql[S_COUNT] = {
    /* claims of no live member (the fleet's members, pg_fleet.c) */
    [S_UNCLAIM_LEFT] = "UPDATE backlog SET claimed_by = NULL WHERE claimed_by IS NOT NULL AND claimed_by NOT IN"
                       " (SELECT node FROM member WHERE heartbeat > now() - lease_ms * interval '1 ms')",
    [S_COLLAPSE] = "DELETE FROM backlog b WHERE b.claimed_by IS NULL AND EXISTS (" OTHER_ROW_OF_KEY(">") ")",
    [S_COUNTS] = "SELECT w.id, (SELECT count(*) FROM backlog b WHERE b.workflow_id = w.id),"
                 " (SELECT count(*) FROM dead_letter d WHERE d.workflow_id = w.id AND d.redriven_at IS NULL)"
                 " FROM workflow w",
    [S_WF_INIT] = "INSERT INTO workflow (id, desired_state, updated_at) VALUES ($1, $2, $3)"
                  " ON CONFLICT (id) DO NOTHING",
    [S_DESIRED_GET] = "SELECT desired_state FROM workflow WHERE id = $1",
    [S_WF_IDS] = "SELECT id FROM workflow ORDER BY id",
    [S_ADOPT_CLAIMED] = "SELECT count(*) FROM backlog WHERE workflow_id = $1 AND claimed_by IS NOT NULL",
    [S_ADOPT_ROW] = "INSERT INTO workflow (id, desired_state, updated_at) SELECT $2, desired_state, $3 FROM workflow"
                    " WHERE id = $1 ON CONFLICT (id) DO NOTHING",
    [S_ADOPT_BACKLOG] = "UPDATE backlog SET workflow_id = $2 WHERE workflow_id = $1",
    [S_ADOPT_CURSORS] = "UPDATE source_cursor SET workflow_id = $2 WHERE workflow_id = $1",
    [S_ADOPT_DEAD] = "UPDATE dead_letter SET workflow_id = $2 WHERE workflow_id = $1",
    [S_DESIRED_SET] = "UPDATE workflow SET desired_state = $2, updated_at = $3 WHERE id = $1",
    [S_STATUS_SET] = "UPDATE workflow SET state = $2, substate = $3, state_reason = $4, running_rev = $5,"
                     " updated_at = $6 WHERE id = $1",
    [S_REV_ADD] = "INSERT INTO revision (workflow_id, rev, source, definition, created_at, author)"
                  " SELECT $1, coalesce(max(rev), 0) + 1, $2, $3, $4::bigint, $5 FROM revision WHERE workflow_id = $1"
                  " RETURNING rev",
    [S_REV_LATEST] = "SELECT rev, definition FROM revision WHERE workflow_id = $1 AND ($2::text IS NULL OR source = $2)"
                     " ORDER BY rev DESC LIMIT 1",
    [S_REV_GET] = "SELECT definition, source, created_at FROM revision WHERE workflow_id = $1 AND rev = $2",
    [S_REV_LIST] = "SELECT rev, source, created_at, author FROM revision WHERE workflow_id = $1 ORDER BY rev DESC",
    [S_CURSOR_GET] = "SELECT cursor FROM source_cursor WHERE workflow_id = $1 AND stream = $2",
    [S_CURSOR_DEL] = "DELETE FROM source_cursor WHERE workflow_id = $1 AND stream = $2",
    [S_CURSOR_PUT] = "INSERT INTO source_cursor (workflow_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4)"
                     " ON CONFLICT (workflow_id, stream) DO UPDATE SET cursor = excluded.cursor,"
                     " updated_at = excluded.updated_at",
    /* $2: [{"s": stream, "k": key}, ...] */
    [S_NEWEST_ALL] =
        "SELECT DISTINCT ON (b.stream, b.record_key) b.stream, b.record_key, b.seq, b.claimed_by IS NOT NULL,"
        " b.op, b.payload, b.initial, b.ts FROM backlog b JOIN (SELECT DISTINCT s, k FROM"
        " json_to_recordset($2::json) AS x (s text, k text)) x ON b.stream = x.s AND b.record_key = x.k"
        " WHERE b.workflow_id = $1 ORDER BY b.stream, b.record_key, b.seq DESC",
    /* $2: [{"s": stream, "k": key, "op": op, "p": payload text, "ts": ts, "i": initial}, ...], in order */
    [S_INSERT_ALL] =
        "INSERT INTO backlog (workflow_id, stream, record_key, op, payload, ts, enqueued_at, initial)"
        " SELECT $1, x.s, x.k, x.op, x.p, x.ts, $3::bigint, x.i FROM ROWS FROM (json_to_recordset($2::json)"
        " AS (s text, k text, op text, p text, ts bigint, i boolean)) WITH ORDINALITY AS x (s, k, op, p, ts,"
        " i, n) ORDER BY x.n",
    [S_COALESCE] = "UPDATE backlog SET op = $2, payload = $3, ts = $4, enqueued_at = $5, initial = $6, attempts = 0,"
                   " next_attempt_at = 0, last_error = NULL WHERE seq = $1 AND claimed_by IS NULL",
    [S_DEAD_ADD] = "INSERT INTO dead_letter (workflow_id, stream, record_key, op, payload, ts, error_class,"
                   " http_status, error_detail, failed_in, attempts, failed_at, initial)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    [S_CLAIM] = "WITH c AS (UPDATE backlog SET claimed_by = $4 WHERE seq IN (SELECT seq FROM backlog b"
                " WHERE b.workflow_id = $1 AND b.next_attempt_at <= $2 AND " CLAIMABLE
                " ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING " BACKLOG_COLUMNS ")"
                " SELECT " BACKLOG_COLUMNS " FROM c ORDER BY seq",
    [S_NEXT_DUE] = "SELECT min(next_attempt_at) FROM backlog b WHERE b.workflow_id = $1 AND " CLAIMABLE,
    [S_CLAIMED] = "SELECT claimed_by IS NOT DISTINCT FROM $2 FROM backlog WHERE seq = $1",
    [S_DELETE] = "DELETE FROM backlog WHERE seq = $1",
    [S_REJECT] = "INSERT INTO dead_letter (orig_seq, workflow_id, stream, record_key, op, payload, ts,"
                 " error_class, http_status, error_detail, failed_in, attempts, enqueued_at, failed_at, initial)"
                 " SELECT seq, workflow_id, stream, record_key, op, payload, ts, $2, $3::integer, $4, $5, attempts + 1,"
                 " enqueued_at, $6::bigint, initial FROM backlog WHERE seq = $1",
    [S_SUPERSEDE] = "DELETE FROM backlog b WHERE seq = $1 AND EXISTS (" OTHER_ROW_OF_KEY(">") ")",
    [S_RETRY] = "UPDATE backlog SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3, claimed_by = NULL"
                " WHERE seq = $1",
    [S_RELEASE] = "UPDATE backlog SET claimed_by = NULL WHERE seq = $1 AND claimed_by = $2",
    [S_CLAIMED_ALL] = "SELECT count(*) FROM backlog WHERE seq = ANY ($1::bigint[]) AND claimed_by = $2",
    [S_DELETE_ALL] = "DELETE FROM backlog WHERE seq = ANY ($1::bigint[])",
    [S_UNSTICK] = "UPDATE backlog SET claimed_by = NULL WHERE seq = ANY ($1::bigint[]) AND claimed_by = $2",
    [S_DEAD_LIST] = "SELECT id, stream, record_key, op, error_class, http_status, error_detail, failed_in,"
                    " attempts, failed_at, redriven_at, payload FROM dead_letter"
                    " WHERE workflow_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    /* 1: can go back; 0: went back already; 2: a malformed record (no key, stream or op) cannot */
    [S_DEAD_REDRIVABLE] = "SELECT CASE WHEN redriven_at IS NOT NULL THEN 0 WHEN " WELL_FORMED " THEN 1 ELSE 2 END"
                          " FROM dead_letter WHERE workflow_id = $1 AND id = $2",
    [S_DEAD_IDS] = "SELECT id FROM dead_letter WHERE workflow_id = $1 AND redriven_at IS NULL AND " WELL_FORMED
                   " AND ($2::integer = 0 OR http_status = $2::integer) AND ts >= $3 ORDER BY id DESC",
    [S_KEY_QUEUED] = "SELECT count(*) FROM dead_letter d JOIN backlog k ON k.workflow_id = d.workflow_id"
                     " AND k.stream = d.stream AND k.record_key = d.record_key WHERE d.id = $1",
    [S_REQUEUE] = "INSERT INTO backlog (workflow_id, stream, record_key, op, payload, ts, enqueued_at, initial)"
                  " SELECT workflow_id, stream, record_key, op, payload, ts, $2::bigint, initial FROM dead_letter"
                  " WHERE id = $1",
    [S_REDRIVEN] = "UPDATE dead_letter SET redriven_at = $2 WHERE id = $1 AND redriven_at IS NULL",
    [S_KV_GET] = "SELECT value FROM kv WHERE ns = $1 AND key = $2",
    [S_KV_PUT] = "INSERT INTO kv (ns, key, value, updated_at) VALUES ($1, $2, $3, $4)"
                 " ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    [S_KV_DEL] = "DELETE FROM kv WHERE ns = $1 AND key = $2",
};

_Static_assert(S_COUNT <= sizeof((struct cs_backlog *)0)->prepared, "a prepared flag per statement");

static const char *const desired_states[] = {"running", "stopped", NULL};
static const char *const states[] = {"starting", "running", "stopped", "failed", NULL};
static const char *const sources[] = {"config", "api", NULL};
static const char *const dead_classes[] = {"rejected", "mapping_failed", "retries_exhausted", "expired", NULL};

/* ---- small helpers ----------------------------------------------------------------------------- */

static int listed(const char *s, const char *const *list)
{
    while (s && *list)
        if (strcmp(s, *list++) == 0)
            return 1;
    return 0;
}

/* The message of this thread's last failed call (see backlog.c). */
static _Thread_local char errmsg[512];

static int vfail(struct cs_backlog *b, int rc, const char *fmt, va_list ap)
{
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    if (rc == CS_E_DB) {
        pthread_mutex_lock(&b->note_mu);
        memcpy(b->db_error, errmsg, sizeof b->db_error);
        b->db_error_at = cs_now_ms();
        pthread_mutex_unlock(&b->note_mu);
    }
    cs_log(rc == CS_E_DB ? CS_LOG_ERROR : CS_LOG_WARNING, "backlog", "%s", errmsg);
    return rc;
}

int pg_failed(struct cs_backlog *b, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rc = vfail(b, rc, fmt, ap);
    va_end(ap);
    return rc;
}

/* A failed statement: libpq's reason, the password scrubbed. */
static int pg_fail(struct cs_backlog *b, const char *what, const char *libpq_msg)
{
    char *msg = cs_pg_conn_message(&b->pg, libpq_msg);
    int rc = pg_failed(b, CS_E_DB, "state database %s: %s (in \"%.48s...\")", b->pg.where, msg, what);
    free(msg);
    return rc;
}

/* Like backlog.c: a row is 0, none CS_E_NOTFOUND; where none is fine; exactly one row changed. */
static int found(int rc)
{
    return rc > 0 ? 0 : rc == 0 ? CS_E_NOTFOUND : rc;
}

static int settled(int rc)
{
    return rc < 0 ? rc : 0;
}

static int one(int changes)
{
    return changes == 1 ? 0 : changes < 0 ? changes : CS_E_NOTFOUND;
}

static char *dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        abort();
    return s;
}

/* ---- columns of a result ----------------------------------------------------------------------- */

const char *pg_text(PGresult *res, int row, int i)
{
    return PQgetisnull(res, row, i) ? NULL : PQgetvalue(res, row, i);
}

int64_t pg_int(PGresult *res, int row, int i)
{
    const char *s = pg_text(res, row, i);
    return s ? strtoll(s, NULL, 10) : 0;
}

static int col_bool(PGresult *res, int row, int i)
{
    const char *s = pg_text(res, row, i);
    return s && *s == 't';
}

static char *col_dup(PGresult *res, int row, int i)
{
    const char *s = pg_text(res, row, i);
    return s ? cs_xstrdup(s) : NULL;
}

static json_t *col_json(PGresult *res, int row, int i)
{
    const char *s = pg_text(res, row, i);
    return s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
}

/* An integer column as a new JSON integer, null when NULL. */
static json_t *col_jint(PGresult *res, int row, int i)
{
    return pg_text(res, row, i) ? json_integer((json_int_t)pg_int(res, row, i)) : json_null();
}

/* A text column as a new JSON string, null when NULL. */
static json_t *col_jtext(PGresult *res, int row, int i)
{
    const char *s = pg_text(res, row, i);
    json_t *v = s ? json_string(s) : json_null();
    return v ? v : json_string("(not UTF-8)");
}

/* ---- connection and statements ----------------------------------------------------------------- */

/* Connect again when the connection was lost, outside a transaction only. */
static int connected(struct cs_backlog *b)
{
    char *err = NULL;
    int rc;
    if (PQstatus(b->pg.conn) == CONNECTION_OK)
        return 0;
    if (b->in_tx)
        return pg_failed(b, CS_E_DB, "state database %s: the connection was lost in a transaction", b->pg.where);
    memset(b->prepared, 0, sizeof b->prepared);
    rc = cs_pg_conn_connect(&b->pg, &err);
    if (rc == 0)
        cs_log(CS_LOG_NOTICE, "backlog", "state database %s: connected again", b->pg.where);
    else
        rc = pg_failed(b, CS_E_DB, "%s", err);
    free(err);
    return rc;
}

static int prepare(struct cs_backlog *b, enum stmt id)
{
    char name[16];
    PGresult *res;
    int rc = 0;
    if (b->prepared[id])
        return 0;
    snprintf(name, sizeof name, "s%d", (int)id);
    res = cs_pg_conn_call(&b->pg, CS_PG_PREPARE, name, sql[id], 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_fail(b, sql[id], cs_pg_conn_reason(&b->pg, res));
    PQclear(res);
    b->prepared[id] = rc == 0;
    return rc;
}

/*
 * Run statement `id` (prepared on first use), or the text `text` when id is S_COUNT, with the arguments
 * `fmt` describes, one letter each: 't' const char * (NULL is NULL), 'I' int64_t, 'n' int64_t that is
 * NULL when 0. *res (may be NULL: cleared) gets the result. Returns the number of rows it returned or
 * changed, or CS_E_DB.
 */
static int execute(struct cs_backlog *b, PGresult **res, enum stmt id, const char *text, const char *fmt, va_list ap)
{
    const char *values[MAX_PARAMS];
    char numbers[MAX_PARAMS][24], name[16];
    PGresult *r;
    int n = 0, rc;

    for (; fmt[n] && n < MAX_PARAMS; n++) {
        int64_t v;
        if (fmt[n] == 't') {
            values[n] = va_arg(ap, const char *);
            continue;
        }
        v = va_arg(ap, int64_t);
        snprintf(numbers[n], sizeof numbers[n], "%" PRId64, v);
        values[n] = fmt[n] == 'n' && v == 0 ? NULL : numbers[n];
    }
    if (res)
        *res = NULL;
    if ((rc = connected(b)) != 0 || (id != S_COUNT && (rc = prepare(b, id)) != 0))
        return rc;
    snprintf(name, sizeof name, "s%d", (int)id);
    r = id == S_COUNT ? cs_pg_conn_call(&b->pg, CS_PG_PARAMS, NULL, text, n, values)
                      : cs_pg_conn_call(&b->pg, CS_PG_PREPARED, name, NULL, n, values);
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
        rc = PQntuples(r);
        break;
    case PGRES_COMMAND_OK:
        rc = atoi(PQcmdTuples(r));
        if (!b->in_tx)
            b->transactions++;
        break;
    default:
        rc = pg_fail(b, text, cs_pg_conn_reason(&b->pg, r));
    }
    if (res && rc >= 0)
        *res = r;
    else
        PQclear(r);
    return rc;
}

static int vrun(struct cs_backlog *b, PGresult **res, enum stmt id, const char *fmt, va_list ap)
{
    return execute(b, res, id, sql[id], fmt, ap);
}

int pg_exec(struct cs_backlog *b, PGresult **res, const char *text, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = execute(b, res, S_COUNT, text, fmt, ap);
    va_end(ap);
    return rc;
}

static int run(struct cs_backlog *b, PGresult **res, enum stmt id, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vrun(b, res, id, fmt, ap);
    va_end(ap);
    return rc;
}

/* Run query `id` for one integer (its first row's first column) into *value; returns like run(). */
static int run_int(struct cs_backlog *b, int64_t *value, enum stmt id, const char *fmt, ...)
{
    PGresult *res;
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vrun(b, &res, id, fmt, ap);
    va_end(ap);
    if (rc > 0)
        *value = pg_int(res, 0, 0);
    PQclear(res);
    return rc;
}

static int command(struct cs_backlog *b, const char *what)
{
    PGresult *r = cs_pg_conn_exec(&b->pg, what);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : pg_fail(b, what, cs_pg_conn_reason(&b->pg, r));
    PQclear(r);
    return rc;
}

int pg_begin(struct cs_backlog *b)
{
    int rc = connected(b);
    if (rc == 0)
        rc = command(b, "BEGIN");
    b->in_tx = rc == 0;
    return rc;
}

/* Commit when rc is 0; otherwise, or when the commit fails, roll back. Returns the outcome. */
int pg_finish(struct cs_backlog *b, int rc)
{
    if (rc == 0 && (rc = command(b, "COMMIT")) == 0)
        b->transactions++;
    else if (PQtransactionStatus(b->pg.conn) == PQTRANS_INTRANS || PQtransactionStatus(b->pg.conn) == PQTRANS_INERROR)
        command(b, "ROLLBACK");
    b->in_tx = 0;
    return rc;
}

void pg_lock(struct cs_backlog *b)
{
    pthread_mutex_lock(&b->mu);
}

/* Take the mutex within `ms`: 0, or not (ETIMEDOUT). */
static int lock_within(struct cs_backlog *b, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_mutex_timedlock(&b->mu, &until);
}

int pg_lock_read(struct cs_backlog *b)
{
    int64_t patience = cs_backlog_patience_ms(), silent = 0;
    if (patience <= 0) {
        pg_lock(b);
        return 0;
    }
    if (!cs_pg_conn_silent(&b->pg, patience, &silent) || silent < patience) {
        if (lock_within(b, patience) == 0)
            return 0;
        silent = patience;
    }
    snprintf(errmsg, sizeof errmsg, "the state database is not answering: a call has waited on it for %.1f s",
             silent / 1000.0);
    return CS_E_DB;
}

void pg_unlock(struct cs_backlog *b)
{
    pthread_mutex_unlock(&b->mu);
}

struct wf *pg_wf_known(struct cs_backlog *b, const char *id)
{
    for (struct wf *w = b->wfs; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

struct wf *pg_wf(struct cs_backlog *b, const char *id)
{
    struct wf *w = pg_wf_known(b, id);
    if (w)
        return w;
    w = cs_xcalloc(1, sizeof *w);
    w->id = cs_xstrdup(id);
    w->next = b->wfs;
    b->wfs = w; /* published complete */
    return w;
}

/* ---- open and close --------------------------------------------------------------------------- */

/* Claims no live member holds are left by a crash: they go back, and of several unclaimed rows of a key
 * only the newest stays. */
static int recover(struct cs_backlog *b)
{
    int unclaimed, collapsed = 0, rc = pg_begin(b);
    if (rc == 0 && (unclaimed = run(b, NULL, S_UNCLAIM_LEFT, "")) < 0)
        rc = unclaimed;
    if (rc == 0 && (collapsed = run(b, NULL, S_COLLAPSE, "")) < 0)
        rc = collapsed;
    rc = pg_finish(b, rc);
    if (rc == 0 && collapsed > 0)
        cs_log(CS_LOG_NOTICE, "backlog", "%s: %d row(s) in flight at the last stop superseded by newer changes",
               b->pg.where, collapsed);
    return rc;
}

/* Count every workflow's queued rows and dead letters in the database (one query: an index-only count
 * of each workflow's rows). */
static int load_counts(struct cs_backlog *b)
{
    PGresult *res;
    int rc = run(b, &res, S_COUNTS, "");
    for (int i = 0; i < rc; i++) {
        struct wf *w = pg_wf(b, pg_text(res, i, 0));
        w->queued = pg_int(res, i, 1);
        w->dead = pg_int(res, i, 2);
    }
    PQclear(res);
    if (rc >= 0)
        b->counted_at = cs_mono_ms();
    return settled(rc);
}

static void pg_close(struct cs_backlog *b)
{
    cs_pg_conn_close(&b->pg);
    while (b->wfs) {
        struct wf *next = b->wfs->next;
        free(b->wfs->id);
        free(b->wfs);
        b->wfs = next;
    }
    pthread_mutex_destroy(&b->mu);
    pthread_mutex_destroy(&b->note_mu);
    json_decref(b->unreleased);
    pg_member_free(b->me);
    free(b->owner);
    free(b);
}

static int pg_open(const char *conninfo, struct cs_backlog **out, char **err)
{
    struct cs_backlog *b = cs_xcalloc(1, sizeof *b);
    char host[256] = "";
    int rc;

    *out = NULL;
    b->driver = &cs_state_postgresql;
    b->unreleased = json_array();
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->note_mu, NULL);
    gethostname(host, sizeof host - 1);
    b->owner = cs_xasprintf("%s:%ld:%" PRId64, host, (long)getpid(), cs_now_ms());
    rc = cs_pg_conn_open(&b->pg, conninfo, err);
    if (rc == 0)
        rc = cs_pg_schema_setup(&b->pg, err);
    if (rc == 0)
        rc = recover(b);
    if (rc == 0)
        rc = load_counts(b);
    if (rc != 0 && !*err)
        *err = cs_xstrdup(errmsg);
    if (rc != 0) {
        pg_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

static int pg_db_error(struct cs_backlog *b, int64_t since_ms, char **msg, int64_t *at_ms)
{
    int seen;
    pthread_mutex_lock(&b->note_mu);
    seen = b->db_error_at && b->db_error_at >= since_ms;
    *msg = seen ? cs_xstrdup(b->db_error) : NULL;
    *at_ms = seen ? b->db_error_at : 0;
    pthread_mutex_unlock(&b->note_mu);
    return seen;
}

/* 1 while the database does not answer (a call waits on it, or the last one got no answer): *why says
 * so (new). Without the mutex, which the waiting call holds. */
static int pg_silent(struct cs_backlog *b, int64_t patience_ms, char **why)
{
    int64_t silent = 0;
    *why = NULL;
    if (!cs_pg_conn_silent(&b->pg, patience_ms, &silent))
        return 0;
    if (silent >= patience_ms)
        *why = cs_xasprintf("the state database is not answering: a call has waited on it for %.1f s", silent / 1000.0);
    else {
        pthread_mutex_lock(&b->note_mu);
        *why = cs_xasprintf("the state database is not answering: %s", b->db_error);
        pthread_mutex_unlock(&b->note_mu);
    }
    return 1;
}

static const char *pg_errmsg(struct cs_backlog *b)
{
    (void)b;
    return errmsg;
}

/* ---- workflows -------------------------------------------------------------------------------- */

static int write_desired(struct cs_backlog *b, enum stmt id, const char *wf, const char *desired)
{
    int rc;
    pg_lock(b);
    if (!listed(desired, desired_states))
        rc = pg_failed(b, CS_E_INVAL, "%s: desired state must be \"running\" or \"stopped\"", wf);
    else
        rc = run(b, NULL, id, "ttI", wf, desired, cs_now_ms());
    pg_unlock(b);
    return rc;
}

static int pg_workflow_init(struct cs_backlog *b, const char *wf, const char *initial_desired)
{
    return settled(write_desired(b, S_WF_INIT, wf, initial_desired));
}

static int pg_workflow_ids(struct cs_backlog *b, json_t **ids)
{
    PGresult *res;
    json_t *list = json_array();
    int rc;
    pg_lock(b);
    rc = run(b, &res, S_WF_IDS, "");
    for (int i = 0; i < rc; i++)
        json_array_append_new(list, json_string(pg_text(res, i, 0)));
    PQclear(res);
    pg_unlock(b);
    if (rc < 0)
        json_decref(list);
    *ids = rc < 0 ? NULL : list;
    return settled(rc);
}

/* As the sqlite driver's: `to` takes over `from`'s rows, cursors and dead letters in one transaction,
 * refused while a row of `from` is claimed by a writer. */
static int pg_workflow_adopt(struct cs_backlog *b, const char *from, const char *to)
{
    static const enum stmt moves[] = {S_ADOPT_BACKLOG, S_ADOPT_CURSORS, S_ADOPT_DEAD};
    struct wf *old, *now;
    int64_t claimed = 0;
    int rc;
    pg_lock(b);
    old = pg_wf(b, from);
    now = pg_wf(b, to);
    rc = pg_begin(b);
    if (rc == 0 && (rc = run_int(b, &claimed, S_ADOPT_CLAIMED, "t", from)) > 0)
        rc = claimed ? pg_failed(b, CS_E_STATE, "workflow %s is writing; stop it before %s takes its rows", from, to)
                     : 0;
    if (rc == 0)
        rc = one(run(b, NULL, S_ADOPT_ROW, "ttI", from, to, cs_now_ms()));
    for (size_t i = 0; rc == 0 && i < sizeof moves / sizeof *moves; i++)
        rc = settled(run(b, NULL, moves[i], "tt", from, to));
    rc = pg_finish(b, rc);
    if (rc == 0) {
        now->queued += old->queued;
        now->dead += old->dead;
        old->queued = old->dead = 0;
    }
    pg_unlock(b);
    return rc;
}

static int pg_desired_set(struct cs_backlog *b, const char *wf, const char *desired)
{
    return one(write_desired(b, S_DESIRED_SET, wf, desired));
}

/* Query `id` for the first row; its columns `cols` (new strings) into out[]. Returns like found(). */
static int get_texts(struct cs_backlog *b, enum stmt id, const char *fmt, const char *a, const char *c, int ncols,
                     char **out[])
{
    PGresult *res;
    int rc;
    for (int i = 0; i < ncols; i++)
        if (out[i])
            *out[i] = NULL;
    if ((rc = pg_lock_read(b)) != 0)
        return rc;
    rc = run(b, &res, id, fmt, a, c);
    for (int i = 0; rc > 0 && i < ncols; i++)
        if (out[i])
            *out[i] = col_dup(res, 0, i);
    PQclear(res);
    pg_unlock(b);
    return rc;
}

static int pg_desired_get(struct cs_backlog *b, const char *wf, char **desired)
{
    char **out[] = {desired};
    return found(get_texts(b, S_DESIRED_GET, "t", wf, NULL, 1, out));
}

static int pg_status_set(struct cs_backlog *b, const char *wf, const char *state, const char *substate,
                         const char *reason, int64_t running_rev)
{
    int rc;
    pg_lock(b);
    if (!listed(state, states))
        rc = pg_failed(b, CS_E_INVAL, "%s: unknown workflow state \"%s\"", wf, state ? state : "(null)");
    else
        rc = one(run(b, NULL, S_STATUS_SET, "ttttnI", wf, state, substate, reason, running_rev > 0 ? running_rev : 0,
                     cs_now_ms()));
    pg_unlock(b);
    return rc;
}

/* ---- definition revisions --------------------------------------------------------------------- */

static int pg_revision_add(struct cs_backlog *b, const char *wf, const char *source, const char *author,
                           const char *definition, int64_t *rev)
{
    PGresult *res = NULL;
    int rc;
    pg_lock(b);
    if (!listed(source, sources) || !definition)
        rc = pg_failed(b, CS_E_INVAL, "%s: a revision needs a definition and a source \"config\" or \"api\"", wf);
    else
        rc = one(run(b, &res, S_REV_ADD, "tttIt", wf, source, definition, cs_now_ms(), author));
    if (rc == 0 && rev)
        *rev = pg_int(res, 0, 0);
    PQclear(res);
    pg_unlock(b);
    return rc;
}

static int pg_revision_latest(struct cs_backlog *b, const char *wf, const char *source, int64_t *rev, char **definition)
{
    PGresult *res;
    int rc;
    if (definition)
        *definition = NULL;
    if ((rc = pg_lock_read(b)) != 0)
        return rc;
    rc = run(b, &res, S_REV_LATEST, "tt", wf, source);
    if (rc > 0 && rev)
        *rev = pg_int(res, 0, 0);
    if (rc > 0 && definition)
        *definition = col_dup(res, 0, 1);
    PQclear(res);
    pg_unlock(b);
    return found(rc);
}

static int pg_revision_get(struct cs_backlog *b, const char *wf, int64_t rev, char **definition, char **source,
                           int64_t *created_at)
{
    PGresult *res;
    int rc;
    *definition = *source = NULL;
    if ((rc = pg_lock_read(b)) != 0)
        return rc;
    rc = run(b, &res, S_REV_GET, "tI", wf, rev);
    if (rc > 0) {
        *definition = col_dup(res, 0, 0);
        *source = col_dup(res, 0, 1);
        *created_at = pg_int(res, 0, 2);
    }
    PQclear(res);
    pg_unlock(b);
    return found(rc);
}

static int pg_revision_list(struct cs_backlog *b, const char *wf, json_t **out)
{
    PGresult *res;
    json_t *list;
    int rc;
    if ((rc = pg_lock_read(b)) != 0)
        return rc;
    list = json_array();
    rc = run(b, &res, S_REV_LIST, "t", wf);
    for (int i = 0; i < rc; i++)
        json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:o}", "revision", col_jint(res, i, 0), "source",
                                              col_jtext(res, i, 1), "created_at", col_jint(res, i, 2), "author",
                                              col_jtext(res, i, 3)));
    PQclear(res);
    pg_unlock(b);
    if (rc < 0)
        json_decref(list);
    *out = rc < 0 ? NULL : list;
    return settled(rc);
}

/* ---- cursors ---------------------------------------------------------------------------------- */

static int pg_cursor_get(struct cs_backlog *b, const char *wf, const char *stream, json_t **cursor)
{
    PGresult *res;
    int rc;
    *cursor = NULL;
    pg_lock(b);
    rc = run(b, &res, S_CURSOR_GET, "tt", wf, stream);
    if (rc > 0 && !(*cursor = col_json(res, 0, 0)))
        rc = pg_failed(b, CS_E_DB, "%s: the cursor of stream %s is not JSON", wf, stream);
    PQclear(res);
    pg_unlock(b);
    return settled(rc);
}

static int pg_cursor_reset(struct cs_backlog *b, const char *wf, const char *stream)
{
    int rc;
    pg_lock(b);
    rc = settled(run(b, NULL, S_CURSOR_DEL, "tt", wf, stream));
    pg_unlock(b);
    return rc;
}

/* ---- enqueue ---------------------------------------------------------------------------------- */

/* The page's records folded over the newest backlog rows of their keys (pg_fold.h). */
static int fold_page(struct cs_backlog *b, struct wf *w, const struct cs_enqueue *e, struct cs_fold *f,
                     int64_t *appended)
{
    json_t *keys = json_array();
    PGresult *res = NULL;
    char *text;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < e->n_records; i++) {
        const cs_record *rec = e->records[i];
        if (!cs_record_is_valid(rec))
            rc = pg_failed(b, CS_E_INVAL, "%s: refusing to enqueue a malformed record", w->id);
        else
            json_array_append_new(keys, json_pack("{s:s, s:s}", "s", cs_record_stream(rec), "k", cs_record_key(rec)));
    }
    text = dump(keys);
    json_decref(keys);
    if (rc == 0 && e->n_records)
        rc = run(b, &res, S_NEWEST_ALL, "tt", w->id, text);
    free(text);
    if (rc < 0)
        return rc;
    for (int i = 0; i < rc; i++)
        cs_fold_known(f, pg_text(res, i, 0), pg_text(res, i, 1), pg_int(res, i, 2), col_bool(res, i, 3),
                      pg_text(res, i, 4), col_json(res, i, 5), col_bool(res, i, 6), pg_int(res, i, 7));
    PQclear(res);
    for (size_t i = 0; i < e->n_records; i++)
        *appended += cs_fold_record(f, e->records[i]);
    return 0;
}

/* Write the folded page: the changed rows of the backlog in place, the new ones in one statement (and a
 * row another process claimed meanwhile as a new one). *appended counts rows added. */
static int put_page(struct cs_backlog *b, struct wf *w, struct cs_fold *f, int64_t now, int64_t *appended)
{
    json_t *rows = json_array();
    char *text;
    int rc = 0, changed;

    for (size_t i = 0; rc == 0 && i < f->n; i++) {
        struct cs_fold_row *r = &f->rows[i];
        if (!r->changed)
            continue;
        text = dump(r->payload);
        changed =
            r->seq ? run(b, NULL, S_COALESCE, "IttIIt", r->seq, r->op, text, r->ts, now, r->initial ? "true" : "false")
                   : 0;
        if (changed == 0)
            json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "s", r->stream, "k", r->key, "op",
                                                  r->op, "p", text, "ts", (json_int_t)r->ts, "i", r->initial));
        *appended += changed == 0 && r->seq;
        rc = settled(changed);
        free(text);
    }
    text = dump(rows);
    if (rc == 0 && json_array_size(rows))
        rc = settled(run(b, NULL, S_INSERT_ALL, "ttI", w->id, text, now));
    free(text);
    json_decref(rows);
    return rc;
}

/* A record refused before it was queued, kept as a dead letter (see backlog.c's put_dead). */
static int put_dead(struct cs_backlog *b, const char *wf, const struct cs_dead_in *d, int64_t now)
{
    const json_t *rec = d->record, *payload = cs_record_payload(rec);
    const char *stream = cs_record_stream(rec);
    char *text;
    int rc;

    if (!listed(d->error_class, dead_classes))
        return pg_failed(b, CS_E_INVAL, "%s: refusing a dead letter of the unknown class \"%s\"", wf,
                         d->error_class ? d->error_class : "");
    text = dump(payload ? payload : rec ? rec : json_null());
    rc = one(run(b, NULL, S_DEAD_ADD, "tttttItnttIIt", wf, stream ? stream : "", cs_record_key(rec),
                 json_string_value(json_object_get(rec, "op")), text, cs_record_ts(rec), d->error_class,
                 (int64_t)d->http_status, d->detail, d->failed_in, (int64_t)d->attempts, now,
                 cs_record_is_initial(rec) ? "true" : "false"));
    free(text);
    return rc;
}

static int pg_enqueue(struct cs_backlog *b, const char *wf, const struct cs_enqueue *e)
{
    int64_t appended = 0, now = cs_now_ms();
    struct cs_fold f;
    struct wf *w;
    char *cursor;
    int rc;

    pg_lock(b);
    w = pg_wf(b, wf);
    cs_fold_init(&f);
    rc = pg_begin(b);
    if (rc == 0)
        rc = fold_page(b, w, e, &f, &appended);
    if (rc == 0)
        rc = put_page(b, w, &f, now, &appended);
    cs_fold_free(&f);
    for (size_t i = 0; rc == 0 && i < e->n_dead; i++)
        rc = put_dead(b, wf, &e->dead[i], now);
    if (rc == 0 && e->cursor_stream && !e->cursor)
        rc = pg_failed(b, CS_E_INVAL, "%s: cursor of stream %s missing", wf, e->cursor_stream);
    if (rc == 0 && e->cursor_stream) {
        cursor = dump(e->cursor);
        rc = one(run(b, NULL, S_CURSOR_PUT, "tttI", wf, e->cursor_stream, cursor, now));
        free(cursor);
    }
    if (rc == 0)
        rc = pg_fence(b, wf);
    rc = pg_finish(b, rc);
    if (rc == 0) {
        w->queued += appended;
        w->dead += (int64_t)e->n_dead;
    }
    pg_unlock(b);
    return rc;
}

/* ---- claim and complete ----------------------------------------------------------------------- */

/* Row `i` of a claim's result: seq, stream, record_key, op, payload, ts, attempts, enqueued_at, initial. */
static int claim_row(struct cs_backlog *b, PGresult *res, int i, struct cs_claim *c)
{
    json_t *payload = col_json(res, i, 4);
    c->seq = pg_int(res, i, 0);
    c->attempts = (int)pg_int(res, i, 6);
    c->enqueued_at = pg_int(res, i, 7);
    c->record = NULL;
    if (!json_is_object(payload)) {
        json_decref(payload);
        return pg_failed(b, CS_E_DB, "%s: the payload of backlog row %" PRId64 " is not a JSON object", b->pg.where,
                         c->seq);
    }
    c->record = cs_record_new(pg_text(res, i, 1), pg_text(res, i, 2),
                              strcmp(pg_text(res, i, 3), "delete") == 0 ? CS_OP_DELETE : CS_OP_UPSERT, payload,
                              pg_int(res, i, 5));
    if (!c->record)
        abort();
    if (col_bool(res, i, 8) && cs_record_set_initial(c->record, 1) != 0)
        abort();
    return 0;
}

/* A JSON array of integers as a PostgreSQL array literal (new): [1,2] is {1,2}. */
static char *array_literal(const json_t *seqs)
{
    char *text = dump(seqs);
    text[0] = '{', text[strlen(text) - 1] = '}';
    return text;
}

/* Make the releases the database missed, in the open transaction. */
static int release_missed(struct cs_backlog *b)
{
    char *seqs;
    int rc;
    if (json_array_size(b->unreleased) == 0)
        return 0;
    seqs = array_literal(b->unreleased);
    rc = settled(run(b, NULL, S_UNSTICK, "tt", seqs, b->owner));
    free(seqs);
    return rc;
}

static int pg_claim(struct cs_backlog *b, const char *wf, int64_t now_ms, size_t max, struct cs_claim *out, size_t *n)
{
    PGresult *res = NULL;
    int rc = 0, rows = 0;
    *n = 0;
    if (!max)
        return 0;
    pg_lock(b);
    rc = pg_begin(b);
    if (rc == 0)
        rc = release_missed(b);
    if (rc == 0)
        rc = rows = run(b, &res, S_CLAIM, "tIIt", wf, now_ms, (int64_t)(max > INT32_MAX ? INT32_MAX : max), b->owner);
    for (int i = 0; rc >= 0 && i < rows; i++)
        if ((rc = claim_row(b, res, i, &out[i])) == 0)
            *n = (size_t)i + 1;
    rc = pg_finish(b, settled(rc));
    PQclear(res);
    if (rc == 0)
        json_array_clear(b->unreleased);
    for (size_t i = 0; rc != 0 && i < *n; i++)
        json_decref(out[i].record);
    if (rc != 0)
        *n = 0;
    pg_unlock(b);
    return rc;
}

/* The row is claimed by this process: 0, or CS_E_STATE. */
static int check_claimed(struct cs_backlog *b, const char *wf, int64_t seq)
{
    PGresult *res;
    int rc = run(b, &res, S_CLAIMED, "It", seq, b->owner), mine = rc > 0 && col_bool(res, 0, 0);
    PQclear(res);
    if (rc < 0 || mine)
        return settled(rc);
    if (rc == 0) /* gone: only another process can have taken it */
        return pg_failed(b, CS_E_STATE,
                         "%s: row %" PRId64 " is not in flight: it is no longer in %s (another "
                         "process writes to this state database?)",
                         wf, seq, b->pg.where);
    return pg_failed(b, CS_E_STATE, "%s: row %" PRId64 " is not in flight", wf, seq);
}

static int check_outcome(struct cs_backlog *b, const char *wf, const struct cs_outcome *o)
{
    if (o->status != CS_OK && o->status != CS_RETRY && o->status != CS_REJECT)
        return pg_failed(b, CS_E_INVAL, "%s: outcome %d of row %" PRId64 " is not OK, RETRY or REJECT", wf,
                         (int)o->status, o->seq);
    if (o->status == CS_REJECT && o->error_class && !listed(o->error_class, dead_classes))
        return pg_failed(b, CS_E_INVAL, "%s: unknown dead-letter class \"%s\"", wf, o->error_class);
    return 0;
}

/* Every outcome is valid and its row claimed by this process: one query when they all are, then a
 * look at each row to name the first that is not. */
static int check_outcomes(struct cs_backlog *b, const char *wf, const struct cs_outcome *o, size_t n)
{
    json_t *seqs = json_array();
    int64_t claimed = 0;
    char *literal;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = check_outcome(b, wf, &o[i]);
        json_array_append_new(seqs, json_integer((json_int_t)o[i].seq));
    }
    literal = array_literal(seqs);
    if (rc == 0 && n)
        rc = settled(run_int(b, &claimed, S_CLAIMED_ALL, "tt", literal, b->owner));
    for (size_t i = 0; rc == 0 && claimed != (int64_t)n && i < n; i++)
        rc = check_claimed(b, wf, o[i].seq);
    free(literal);
    json_decref(seqs);
    return rc;
}

/* Delete the rows written (CS_OK) in one statement: *gone counts them. */
static int delete_written(struct cs_backlog *b, const struct cs_outcome *o, size_t n, int64_t *gone)
{
    json_t *seqs = json_array();
    char *literal;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (o[i].status == CS_OK)
            json_array_append_new(seqs, json_integer((json_int_t)o[i].seq));
    literal = array_literal(seqs);
    if (json_array_size(seqs))
        rc = run(b, NULL, S_DELETE_ALL, "t", literal);
    if (rc >= 0 && rc != (int)json_array_size(seqs))
        rc = pg_failed(b, CS_E_STATE,
                       "%d of %zu written backlog rows are no longer in %s (another process writes to "
                       "this state database?)",
                       (int)json_array_size(seqs) - rc, json_array_size(seqs), b->pg.where);
    *gone += rc > 0 ? rc : 0;
    free(literal);
    json_decref(seqs);
    return settled(rc);
}

/* Schedule another attempt (the claim ends), or drop the row when a newer change of its key waits. */
static int retry_row(struct cs_backlog *b, const struct cs_outcome *o, int *gone)
{
    char *error = o->http_status && o->detail ? cs_xasprintf("HTTP %d: %s", o->http_status, o->detail)
                  : o->http_status            ? cs_xasprintf("HTTP %d", o->http_status)
                                              : NULL;
    int rc = run(b, NULL, S_SUPERSEDE, "I", o->seq);
    *gone = rc == 1;
    if (rc == 0)
        rc = one(run(b, NULL, S_RETRY, "IIt", o->seq, o->next_attempt_at, error ? error : o->detail));
    free(error);
    return settled(rc);
}

/* Apply a CS_RETRY or CS_REJECT outcome; *gone is set when the row left the backlog. */
static int apply_outcome(struct cs_backlog *b, const struct cs_outcome *o, int64_t now, int *gone)
{
    int rc;
    *gone = 1;
    if (o->status == CS_RETRY)
        return retry_row(b, o, gone);
    rc = one(run(b, NULL, S_REJECT, "ItnttI", o->seq, o->error_class ? o->error_class : "rejected",
                 (int64_t)o->http_status, o->detail, o->failed_in, now));
    return rc == 0 ? one(run(b, NULL, S_DELETE, "I", o->seq)) : rc;
}

/* Key/value writes (kv may be NULL) in the open transaction. */
static int put_kv_writes(struct cs_backlog *b, const struct cs_kv_writes *kv)
{
    const char *key;
    json_t *value;
    int rc = 0;
    if (!kv)
        return 0;
    json_object_foreach ((json_t *)kv->values, key, value) {
        const char *text = json_string_value(value);
        rc = settled(text ? run(b, NULL, S_KV_PUT, "tttI", kv->ns, key, text, cs_now_ms())
                          : run(b, NULL, S_KV_DEL, "tt", kv->ns, key));
        if (rc != 0)
            break;
    }
    return rc;
}

static int pg_complete(struct cs_backlog *b, const char *wf, const struct cs_outcome *o, size_t n,
                       const struct cs_kv_writes *kv)
{
    int64_t gone = 0, dead = 0, now = cs_now_ms();
    struct wf *w;
    int rc, left;

    pg_lock(b);
    w = pg_wf(b, wf);
    rc = pg_begin(b);
    if (rc == 0)
        rc = check_outcomes(b, wf, o, n);
    if (rc == 0)
        rc = delete_written(b, o, n, &gone);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (o[i].status == CS_OK)
            continue;
        rc = apply_outcome(b, &o[i], now, &left);
        gone += left;
        dead += o[i].status == CS_REJECT;
    }
    if (rc == 0)
        rc = put_kv_writes(b, kv);
    rc = pg_finish(b, rc);
    if (rc == 0) {
        w->queued -= gone;
        w->dead += dead;
    }
    pg_unlock(b);
    return rc;
}

static int pg_release(struct cs_backlog *b, const char *wf, const int64_t *seqs, size_t n)
{
    int rc, changed;
    pg_lock(b);
    rc = pg_begin(b);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        changed = run(b, NULL, S_RELEASE, "It", seqs[i], b->owner);
        rc = changed != 0 ? settled(changed)
                          : pg_failed(b, CS_E_STATE, "%s: row %" PRId64 " is not in flight", wf, seqs[i]);
    }
    rc = pg_finish(b, rc);
    for (size_t i = 0; rc == CS_E_DB && i < n; i++)
        json_array_append_new(b->unreleased, json_integer((json_int_t)seqs[i]));
    pg_unlock(b);
    return rc;
}

/* The counters as last counted, without waiting on a call in progress more than COUNTS_WAIT_MS: they
 * follow this process's own changes meanwhile. */
static int pg_counts(struct cs_backlog *b, const char *wf, int64_t *backlog, int64_t *dead)
{
    struct wf *w;
    if (lock_within(b, COUNTS_WAIT_MS) == 0) {
        if (cs_mono_ms() - b->counted_at >= COUNTS_TTL_MS && !b->in_tx)
            load_counts(b); /* on failure the counters stay as this process last knew them */
        pg_wf(b, wf);
        pg_unlock(b);
    }
    w = pg_wf_known(b, wf);
    *backlog = w ? w->queued : 0;
    *dead = w ? w->dead : 0;
    return 0;
}

static int pg_next_due(struct cs_backlog *b, const char *wf, int64_t *next_at)
{
    PGresult *res;
    int rc;
    *next_at = INT64_MAX;
    pg_lock(b);
    rc = run(b, &res, S_NEXT_DUE, "t", wf);
    if (rc > 0 && pg_text(res, 0, 0))
        *next_at = pg_int(res, 0, 0);
    PQclear(res);
    pg_unlock(b);
    return settled(rc);
}

/* ---- dead letters ----------------------------------------------------------------------------- */

static json_t *dead_row(PGresult *res, int i, int include_payload)
{
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_jint(res, i, 0),
                          "stream", col_jtext(res, i, 1), "key", col_jtext(res, i, 2), "op", col_jtext(res, i, 3),
                          "error_class", col_jtext(res, i, 4), "http_status", col_jint(res, i, 5), "detail",
                          col_jtext(res, i, 6), "failed_in", col_jtext(res, i, 7), "attempts", col_jint(res, i, 8),
                          "failed_at", col_jint(res, i, 9), "redriven_at", col_jint(res, i, 10));
    json_t *payload = include_payload ? col_json(res, i, 11) : NULL;
    if (!o)
        abort();
    if (include_payload)
        json_object_set_new(o, "payload", payload ? payload : json_null());
    return o;
}

static int pg_dead_list(struct cs_backlog *b, const char *wf, int64_t before_id, size_t limit, int include_payload,
                        json_t **out)
{
    int64_t below = before_id > 0 ? before_id : INT64_MAX;
    int64_t most = limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
    PGresult *res;
    json_t *list;
    int rc;
    if ((rc = pg_lock_read(b)) != 0)
        return rc;
    list = json_array();
    rc = run(b, &res, S_DEAD_LIST, "tII", wf, below, most);
    for (int i = 0; i < rc; i++)
        json_array_append_new(list, dead_row(res, i, include_payload));
    PQclear(res);
    pg_unlock(b);
    if (rc < 0)
        json_decref(list);
    *out = rc < 0 ? NULL : list;
    return settled(rc);
}

/* Requeue dead letter `id` unless its key has a row in the backlog already, then mark it redriven. */
static int redrive_letter(struct cs_backlog *b, int64_t id, int64_t now, int64_t *requeued)
{
    int64_t queued = 0;
    int rc = run_int(b, &queued, S_KEY_QUEUED, "I", id);
    if (rc > 0 && !queued) {
        rc = one(run(b, NULL, S_REQUEUE, "II", id, now));
        *requeued += rc == 0;
    }
    return rc < 0 ? rc : one(run(b, NULL, S_REDRIVEN, "II", id, now));
}

static int redrive_one(struct cs_backlog *b, const char *wf, int64_t id, int64_t now, int64_t *requeued)
{
    int64_t redrivable = 0;
    int rc = run_int(b, &redrivable, S_DEAD_REDRIVABLE, "tI", wf, id);
    if (rc == 0)
        return pg_failed(b, CS_E_NOTFOUND, "%s: no dead letter %" PRId64, wf, id);
    if (rc > 0 && !redrivable)
        return pg_failed(b, CS_E_STATE, "%s: dead letter %" PRId64 " was redriven already", wf, id);
    if (rc > 0 && redrivable == 2)
        return pg_failed(b, CS_E_STATE,
                         "%s: dead letter %" PRId64
                         " is a malformed record (no key, stream or operation) and cannot be "
                         "written; once the source row is fixed, its next change is read again",
                         wf, id);
    return rc < 0 ? rc : redrive_letter(b, id, now, requeued);
}

/* Newest first, so that of several dead letters of one key the newest goes back (see backlog.c). */
static int redrive_all(struct cs_backlog *b, const char *wf, const struct cs_redrive_filter *f, int64_t now,
                       int64_t *requeued, int64_t *marked)
{
    PGresult *res;
    int rc = run(b, &res, S_DEAD_IDS, "tII", wf, (int64_t)f->http_status, f->min_ts), rows = rc;
    *marked = rows > 0 ? rows : 0;
    for (int i = 0; i < rows && rc >= 0; i++)
        rc = redrive_letter(b, pg_int(res, i, 0), now, requeued);
    PQclear(res);
    return settled(rc);
}

static int redrive(struct cs_backlog *b, const char *wf, int64_t id, const struct cs_redrive_filter *f, size_t *n)
{
    int64_t requeued = 0, marked = 1 /* redrive_one */, now = cs_now_ms();
    struct wf *w;
    int rc;

    *n = 0;
    pg_lock(b);
    w = pg_wf(b, wf);
    rc = pg_begin(b);
    if (rc == 0)
        rc = id ? redrive_one(b, wf, id, now, &requeued) : redrive_all(b, wf, f, now, &requeued, &marked);
    rc = pg_finish(b, rc);
    if (rc == 0) {
        w->queued += requeued;
        w->dead -= marked;
        *n = (size_t)requeued;
    }
    pg_unlock(b);
    return rc;
}

static int pg_dead_redrive(struct cs_backlog *b, const char *wf, int64_t id, size_t *n)
{
    static const struct cs_redrive_filter all = {0, 0};
    return redrive(b, wf, id, id ? NULL : &all, n);
}

static int pg_dead_redrive_matching(struct cs_backlog *b, const char *wf, const struct cs_redrive_filter *f, size_t *n)
{
    return redrive(b, wf, 0, f, n);
}

/* ---- plugin key/value store ------------------------------------------------------------------- */

static int pg_kv_get(struct cs_backlog *b, const char *ns, const char *key, char **value)
{
    char **out[] = {value};
    return settled(get_texts(b, S_KV_GET, "tt", ns, key, 1, out));
}

static int pg_kv_put(struct cs_backlog *b, const char *ns, const char *key, const char *value)
{
    json_t *values = json_pack("{s:o}", key, value ? json_string(value) : json_null());
    struct cs_kv_writes kv = {ns, values};
    int rc;
    pg_lock(b);
    rc = put_kv_writes(b, &kv);
    pg_unlock(b);
    json_decref(values);
    return rc;
}

static int pg_kv_put_all(struct cs_backlog *b, const struct cs_kv_writes *kv)
{
    int rc;
    pg_lock(b);
    rc = pg_begin(b);
    if (rc == 0)
        rc = put_kv_writes(b, kv);
    rc = pg_finish(b, rc);
    pg_unlock(b);
    return rc;
}

/* ---- statistics ------------------------------------------------------------------------------- */

/* The page counters are SQLite's page cache: PostgreSQL's buffers are the server's, shown by its own
 * statistics views (pg_statio_user_tables), so they stay 0 here. */
static void pg_stats(struct cs_backlog *b, struct cs_backlog_stats *out)
{
    *out = (struct cs_backlog_stats){.transactions = b->transactions};
}

/* ---- the driver ------------------------------------------------------------------------------- */

/* A PostgreSQL store is no file: crmsyncctl backup does not copy it (pg_dump does). */
static const char *pg_path(const struct cs_backlog *b)
{
    (void)b;
    return NULL;
}

const struct cs_state_driver cs_state_postgresql = {
    .name = "postgresql",
    .open = pg_open,
    .path = pg_path,
    .close = pg_close,
    .errmsg = pg_errmsg,
    .db_error = pg_db_error,
    .silent = pg_silent,
    .workflow_init = pg_workflow_init,
    .workflow_ids = pg_workflow_ids,
    .workflow_adopt = pg_workflow_adopt,
    .desired_get = pg_desired_get,
    .desired_set = pg_desired_set,
    .status_set = pg_status_set,
    .revision_add = pg_revision_add,
    .revision_latest = pg_revision_latest,
    .revision_get = pg_revision_get,
    .revision_list = pg_revision_list,
    .cursor_get = pg_cursor_get,
    .cursor_reset = pg_cursor_reset,
    .enqueue = pg_enqueue,
    .claim = pg_claim,
    .complete = pg_complete,
    .release = pg_release,
    .counts = pg_counts,
    .next_due = pg_next_due,
    .dead_list = pg_dead_list,
    .dead_redrive = pg_dead_redrive,
    .dead_redrive_matching = pg_dead_redrive_matching,
    .kv_get = pg_kv_get,
    .kv_put = pg_kv_put,
    .kv_put_all = pg_kv_put_all,
    .stats = pg_stats,
    .fleet = &cs_pg_fleet,
};
