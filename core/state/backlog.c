/*
 * backlog.c - the SQLite driver of the state store (backlog.h, state_driver.h), the default: with
 * pg_backlog.c the only modules that issue SQL. It owns the one SQLite
 * connection and the mutex around it, the cache of prepared statements, and per-workflow memory: the
 * in-flight set of claimed rows and exact counters of queued rows and live dead letters. The schema and
 * its migrations live in backlog_schema.c.
 *
 * In flight is kept in memory only, so a crash hands every claimed row out again after the restart. The
 * duplicate window is at most the batches in flight at the time of a crash; sinks write by key, so a
 * resend leaves the same end state. A change enqueued while its key is in flight becomes a second row
 * of that key; if the daemon dies before the first completes, cs_backlog_open keeps only the newest.
 *
 * Errors: a failing call rolls its transaction back and leaves memory as it was (claimed rows stay in
 * flight, counters unchanged), so no row is ever lost. SQLite errors are logged at error level (scope
 * "backlog"); every message is kept for cs_backlog_errmsg() of the thread that made the call.
 */
#include "backlog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "backlog_schema.h"
#include "json/json_parse.h"
#include "json/json_text.h"
#include "state_driver.h"
#include "util/log.h"
#include "util/util.h"

/* Per workflow, in memory. */
struct wf {
    struct wf *next;
    char *id;
    int64_t queued;     /* backlog rows, pending and in flight */
    int64_t dead;       /* dead letters not redriven */
    json_t *inflight;   /* "stream\x1fkey" -> seq of the claimed row */
    json_t *by_seq;     /* "<seq>" -> "stream\x1fkey", for complete and release */
    int64_t claim_from; /* every row below this seq is in flight or gone: where a claim's walk starts */
};

enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_COLLAPSE,
    S_COUNTS,
    S_WF_INIT,
    S_DESIRED_GET,
    S_DESIRED_SET,
    S_STATUS_SET,
    S_REV_NEXT,
    S_REV_ADD,
    S_REV_LATEST,
    S_REV_GET,
    S_REV_LIST,
    S_CURSOR_GET,
    S_CURSOR_PUT,
    S_CURSOR_DEL,
    S_NEWEST,
    S_INSERT,
    S_COALESCE,
    S_DEAD_ADD,
    S_CLAIM,
    S_WAITING,
    S_NEXT_DUE,
    S_DELETE,
    S_REJECT,
    S_SUPERSEDE,
    S_RETRY,
    S_DEAD_LIST,
    S_DEAD_REDRIVABLE,
    S_DEAD_IDS,
    S_KEY_QUEUED,
    S_REQUEUE,
    S_REDRIVEN,
    S_KV_GET,
    S_KV_PUT,
    S_KV_DEL,
    S_WF_IDS,
    S_ADOPT_ROW,
    S_ADOPT_BACKLOG,
    S_ADOPT_CURSORS,
    S_ADOPT_DEAD,
    S_COUNT
};

/* A newer row of the same key as backlog row `backlog`. */
#define NEWER_ROW_OF_KEY                                                                                               \
    "SELECT 1 FROM backlog n WHERE n.workflow_id = backlog.workflow_id AND n.stream = backlog.stream "                 \
    "AND n.record_key = backlog.record_key AND n.seq > backlog.seq"

/* A dead letter that holds a record the backlog can take again. */
#define WELL_FORMED "(record_key IS NOT NULL AND stream <> '' AND op IN ('upsert', 'delete'))"

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_COLLAPSE] = "DELETE FROM backlog WHERE seq IN (SELECT seq FROM backlog WHERE EXISTS (" NEWER_ROW_OF_KEY "))",
    [S_COUNTS] = "SELECT w.id, (SELECT count(*) FROM backlog b WHERE b.workflow_id = w.id),"
                 " (SELECT count(*) FROM dead_letter d WHERE d.workflow_id = w.id AND d.redriven_at IS NULL)"
                 " FROM workflow w",
    [S_WF_INIT] = "INSERT INTO workflow (id, desired_state, updated_at) VALUES (?1, ?2, ?3)"
                  " ON CONFLICT (id) DO NOTHING",
    [S_DESIRED_GET] = "SELECT desired_state FROM workflow WHERE id = ?1",
    [S_DESIRED_SET] = "UPDATE workflow SET desired_state = ?2, updated_at = ?3 WHERE id = ?1",
    [S_STATUS_SET] = "UPDATE workflow SET state = ?2, substate = ?3, state_reason = ?4, running_rev = ?5,"
                     " updated_at = ?6 WHERE id = ?1",
    [S_REV_NEXT] = "SELECT coalesce(max(rev), 0) + 1 FROM revision WHERE workflow_id = ?1",
    [S_REV_ADD] = "INSERT INTO revision (workflow_id, rev, source, definition, created_at, author)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_REV_LATEST] = "SELECT rev, definition FROM revision WHERE workflow_id = ?1 AND (?2 IS NULL OR source = ?2)"
                     " ORDER BY rev DESC LIMIT 1",
    [S_REV_GET] = "SELECT definition, source, created_at FROM revision WHERE workflow_id = ?1 AND rev = ?2",
    [S_REV_LIST] = "SELECT rev, source, created_at, author FROM revision WHERE workflow_id = ?1 ORDER BY rev DESC",
    [S_CURSOR_GET] = "SELECT cursor FROM source_cursor WHERE workflow_id = ?1 AND stream = ?2",
    [S_CURSOR_DEL] = "DELETE FROM source_cursor WHERE workflow_id = ?1 AND stream = ?2",
    [S_CURSOR_PUT] = "INSERT INTO source_cursor (workflow_id, stream, cursor, updated_at) VALUES (?1, ?2, ?3, ?4)"
                     " ON CONFLICT (workflow_id, stream) DO UPDATE SET cursor = excluded.cursor,"
                     " updated_at = excluded.updated_at",
    [S_NEWEST] =
        "SELECT seq, op, payload, initial FROM backlog WHERE workflow_id = ?1 AND stream = ?2 AND record_key = ?3"
        " ORDER BY seq DESC LIMIT 1",
    [S_INSERT] = "INSERT INTO backlog (workflow_id, stream, record_key, op, payload, ts, enqueued_at, initial)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_COALESCE] = "UPDATE backlog SET op = ?2, payload = ?3, ts = ?4, enqueued_at = ?5, initial = ?6, attempts = 0,"
                   " next_attempt_at = 0, last_error = NULL WHERE seq = ?1",
    [S_DEAD_ADD] = "INSERT INTO dead_letter (workflow_id, stream, record_key, op, payload, ts, error_class,"
                   " http_status, error_detail, failed_in, attempts, failed_at, initial)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    /* The unary + keeps the planner on backlog_order (no sort of every due row). */
    [S_CLAIM] = "SELECT seq, stream, record_key, op, payload, ts, attempts, enqueued_at, initial FROM backlog"
                " WHERE workflow_id = ?1 AND seq >= ?3 AND +next_attempt_at <= ?2 ORDER BY seq",
    /* the first row scheduled for later (backlog_order would walk every row before it) */
    [S_WAITING] = "SELECT min(seq) FROM backlog INDEXED BY backlog_due WHERE workflow_id = ?1 AND next_attempt_at > ?2",
    [S_NEXT_DUE] = "SELECT stream, record_key, next_attempt_at FROM backlog WHERE workflow_id = ?1"
                   " ORDER BY next_attempt_at, seq",
    [S_DELETE] = "DELETE FROM backlog WHERE seq = ?1",
    [S_REJECT] = "INSERT INTO dead_letter (orig_seq, workflow_id, stream, record_key, op, payload, ts,"
                 " error_class, http_status, error_detail, failed_in, attempts, enqueued_at, failed_at, initial)"
                 " SELECT seq, workflow_id, stream, record_key, op, payload, ts, ?2, ?3, ?4, ?5, attempts + 1,"
                 " enqueued_at, ?6, initial FROM backlog WHERE seq = ?1",
    [S_SUPERSEDE] = "DELETE FROM backlog WHERE seq = ?1 AND EXISTS (" NEWER_ROW_OF_KEY ")",
    [S_RETRY] = "UPDATE backlog SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE seq = ?1",
    [S_DEAD_LIST] = "SELECT id, stream, record_key, op, error_class, http_status, error_detail, failed_in,"
                    " attempts, failed_at, redriven_at, payload FROM dead_letter"
                    " WHERE workflow_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    /* 1: can go back; 0: went back already; 2: a malformed record (no key, stream or op) cannot */
    [S_DEAD_REDRIVABLE] = "SELECT CASE WHEN redriven_at IS NOT NULL THEN 0 WHEN " WELL_FORMED " THEN 1 ELSE 2 END"
                          " FROM dead_letter WHERE workflow_id = ?1 AND id = ?2",
    [S_DEAD_IDS] = "SELECT id FROM dead_letter WHERE workflow_id = ?1 AND redriven_at IS NULL AND " WELL_FORMED
                   " AND (?2 = 0 OR http_status = ?2) AND ts >= ?3 ORDER BY id DESC",
    [S_KEY_QUEUED] = "SELECT EXISTS (SELECT 1 FROM dead_letter d JOIN backlog k ON k.workflow_id = d.workflow_id"
                     " AND k.stream = d.stream AND k.record_key = d.record_key WHERE d.id = ?1)",
    [S_REQUEUE] =
        "INSERT INTO backlog (workflow_id, stream, record_key, op, payload, ts, enqueued_at, initial)"
        " SELECT workflow_id, stream, record_key, op, payload, ts, ?2, initial FROM dead_letter WHERE id = ?1",
    [S_REDRIVEN] = "UPDATE dead_letter SET redriven_at = ?2 WHERE id = ?1 AND redriven_at IS NULL",
    [S_KV_GET] = "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
    [S_KV_PUT] = "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)"
                 " ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    [S_KV_DEL] = "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
    [S_WF_IDS] = "SELECT id FROM workflow ORDER BY id",
    [S_ADOPT_ROW] = "INSERT INTO workflow (id, desired_state, updated_at) SELECT ?2, desired_state, ?3 FROM workflow"
                    " WHERE id = ?1 ON CONFLICT (id) DO NOTHING",
    [S_ADOPT_BACKLOG] = "UPDATE backlog SET workflow_id = ?2 WHERE workflow_id = ?1",
    [S_ADOPT_CURSORS] = "UPDATE source_cursor SET workflow_id = ?2 WHERE workflow_id = ?1",
    [S_ADOPT_DEAD] = "UPDATE dead_letter SET workflow_id = ?2 WHERE workflow_id = ?1",
};

struct cs_backlog {
    const struct cs_state_driver *driver; /* first: see state_driver.h */
    pthread_mutex_t mu;                   /* guards everything below */
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[S_COUNT]; /* prepared on first use, kept until close */
    struct wf *wfs;
    int64_t transactions; /* write transactions committed, for cs_backlog_stats */
    char db_error[512];   /* the last SQLite error (CS_E_DB), for the health check */
    int64_t db_error_at;
};

static const char *const desired_states[] = {"running", "stopped", NULL};
static const char *const states[] = {"starting", "running", "stopped", "failed", NULL};
static const char *const sources[] = {"config", "api", NULL};
static const char *const dead_classes[] = {"rejected", "mapping_failed", "retries_exhausted", "expired", NULL};

/* ---- small helpers ----------------------------------------------------------------------------- */

static void must(int ok)
{
    if (!ok) {
        fputs("crmsyncd: out of memory\n", stderr);
        abort();
    }
}

static int one_of(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

/* The message of this thread's last failed call: each thread reads its own, so that another thread's
 * failure meanwhile cannot replace (or blank) the cause a caller logs. */
static _Thread_local char errmsg[512];

/* Keep the message for cs_backlog_errmsg and log it (error level for CS_E_DB, else warning). */
static int fail(struct cs_backlog *b, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct cs_backlog *b, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    if (rc == CS_E_DB) {
        memcpy(b->db_error, errmsg, sizeof b->db_error);
        b->db_error_at = cs_now_ms();
    }
    cs_log(rc == CS_E_DB ? CS_LOG_ERROR : CS_LOG_WARNING, "backlog", "%s", errmsg);
    return rc;
}

static int db_fail(struct cs_backlog *b, enum stmt id)
{
    return fail(b, CS_E_DB, "%s: %s (in \"%.48s...\")", b->path, sqlite3_errmsg(b->db), sql[id]);
}

/* A query() result as the API reports it: 0 for a row, CS_E_NOTFOUND for none, or the error. */
static int found(int rc)
{
    return rc > 0 ? 0 : rc == 0 ? CS_E_NOTFOUND : rc;
}

/* A query() or step() result where having no row is fine. */
static int settled(int rc)
{
    return rc < 0 ? rc : 0;
}

/* An exec() result of a statement that must change exactly one row. */
static int one(int changes)
{
    return changes == 1 ? 0 : changes < 0 ? changes : CS_E_NOTFOUND;
}

/* Compact JSON text (new) of a value the caller has checked. */
static char *dump(const json_t *v)
{
    char *s = cs_json_text(v, 0, NULL);
    must(s != NULL);
    return s;
}

/* "<stream>\x1f<key>": a key's name among those in flight, in `buf` (FLIGHT_KEY_BUF bytes) when it fits,
 * else new (joined by hand: this runs for every record claimed, where a formatted print or an
 * allocation cost more than the lookup it names). Free it with flight_key_free. */
#define FLIGHT_KEY_BUF 256
static char *flight_key(const char *stream, const char *key, char buf[FLIGHT_KEY_BUF])
{
    size_t ls = strlen(stream), lk = strlen(key);
    char *s = ls + lk + 2 <= FLIGHT_KEY_BUF ? buf : cs_xmalloc(ls + lk + 2);
    memcpy(s, stream, ls);
    s[ls] = '\x1f';
    memcpy(s + ls + 1, key, lk + 1);
    return s;
}

static void flight_key_free(char *fkey, const char buf[FLIGHT_KEY_BUF])
{
    if (fkey != buf)
        free(fkey);
}

/* A row's seq as the decimal text by_seq is keyed by, into name (24 bytes). */
static const char *seq_name(int64_t seq, char name[24])
{
    char *p = name + 23;
    uint64_t v = seq < 0 ? -(uint64_t)seq : (uint64_t)seq;
    *p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10));
    if (seq < 0)
        *--p = '-';
    return p;
}

/* ---- statements ------------------------------------------------------------------------------- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int64_t col_int(sqlite3_stmt *st, int i)
{
    return sqlite3_column_int64(st, i);
}

/* New copy of a text column, NULL when the column is NULL. */
static char *col_dup(sqlite3_stmt *st, int i)
{
    const char *s = col_text(st, i);
    return s ? cs_xstrdup(s) : NULL;
}

/* A JSON text column parsed (new), NULL when the column is NULL or not JSON. */
static json_t *col_json(sqlite3_stmt *st, int i)
{
    const char *s = col_text(st, i);
    return s ? cs_json_parse(s, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

/* A column as a new JSON scalar: null, integer or string. */
static json_t *col_value(sqlite3_stmt *st, int i)
{
    json_t *v;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return json_null();
    case SQLITE_INTEGER:
        v = json_integer((json_int_t)col_int(st, i));
        break;
    default:
        v = json_string(col_text(st, i));
        if (!v) /* a plugin's detail that is not UTF-8 */
            v = json_string("(not UTF-8)");
    }
    must(v != NULL);
    return v;
}

/*
 * The cached statement `id`, reset and bound to the arguments `fmt` describes, one letter each:
 * 't' const char * (NULL binds NULL), 'I' int64_t, 'n' int64_t that binds NULL when 0.
 */
static sqlite3_stmt *vprep(struct cs_backlog *b, enum stmt id, const char *fmt, va_list ap)
{
    sqlite3_stmt *st = b->stmts[id];
    int rc = SQLITE_OK;
    int64_t v;

    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        rc = sqlite3_prepare_v3(b->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &b->stmts[id], NULL);
        st = b->stmts[id];
    }
    for (int i = 1; rc == SQLITE_OK && fmt[i - 1]; i++) {
        switch (fmt[i - 1]) {
        case 't':
            rc = sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
            break;
        case 'I':
            rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
            break;
        case 'n':
            v = va_arg(ap, int64_t);
            rc = v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
            break;
        default:
            rc = SQLITE_MISUSE;
        }
    }
    if (rc != SQLITE_OK) {
        db_fail(b, id);
        return NULL;
    }
    return st;
}

/* Step statement `id`: 1 on a row, 0 when done, or CS_E_DB. */
static int step(struct cs_backlog *b, enum stmt id)
{
    int rc = sqlite3_step(b->stmts[id]);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(b, id);
}

static int vquery(struct cs_backlog *b, sqlite3_stmt **st, enum stmt id, const char *fmt, va_list ap)
{
    *st = vprep(b, id, fmt, ap);
    return *st ? step(b, id) : CS_E_DB;
}

/* Run query `id` up to its first row: 1 with *st on that row, 0 when there is none, or CS_E_DB. The
 * statement stays on its row until the next use or unlock(). */
static int query(struct cs_backlog *b, sqlite3_stmt **st, enum stmt id, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vquery(b, st, id, fmt, ap);
    va_end(ap);
    return rc;
}

/* Query `id` for one integer, the first column of its first row, into *value; returns like query(). */
static int query_int(struct cs_backlog *b, int64_t *value, enum stmt id, const char *fmt, ...)
{
    va_list ap;
    sqlite3_stmt *st;
    int rc;
    va_start(ap, fmt);
    rc = vquery(b, &st, id, fmt, ap);
    va_end(ap);
    if (rc > 0)
        *value = col_int(st, 0);
    if (st)
        sqlite3_reset(st);
    return rc;
}

/* Run statement `id` to completion: the number of rows it changed, or CS_E_DB. A write outside an
 * explicit transaction, and a COMMIT, count as one committed transaction. */
static int exec(struct cs_backlog *b, enum stmt id, const char *fmt, ...)
{
    va_list ap;
    sqlite3_stmt *st;
    int rc;
    va_start(ap, fmt);
    rc = vquery(b, &st, id, fmt, ap);
    va_end(ap);
    if (rc >= 0 && sqlite3_get_autocommit(b->db) && (id == S_COMMIT || !sqlite3_stmt_readonly(st)))
        b->transactions++;
    return rc < 0 ? rc : sqlite3_changes(b->db);
}

static int begin(struct cs_backlog *b)
{
    return settled(exec(b, S_BEGIN, ""));
}

/* Commit when rc is 0; otherwise, or when the commit fails, roll back. Returns the outcome. */
static int finish(struct cs_backlog *b, int rc)
{
    if (rc == 0 && (rc = settled(exec(b, S_COMMIT, ""))) == 0)
        return 0;
    if (!sqlite3_get_autocommit(b->db))
        exec(b, S_ROLLBACK, "");
    return rc;
}

static void lock(struct cs_backlog *b)
{
    pthread_mutex_lock(&b->mu);
}

/* Reset any statement left on a row, so that no read snapshot outlives the call, and unlock. */
static void unlock(struct cs_backlog *b)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(b->db, NULL); st; st = sqlite3_next_stmt(b->db, st))
        if (sqlite3_stmt_busy(st))
            sqlite3_reset(st);
    pthread_mutex_unlock(&b->mu);
}

/* ---- per-workflow memory ---------------------------------------------------------------------- */

/* The workflow's memory, created (empty) on first use. */
static struct wf *wf_get(struct cs_backlog *b, const char *id)
{
    struct wf *w;
    for (w = b->wfs; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    w = cs_xcalloc(1, sizeof *w);
    w->id = cs_xstrdup(id);
    w->inflight = json_object();
    w->by_seq = json_object();
    must(w->inflight && w->by_seq);
    w->next = b->wfs;
    b->wfs = w;
    return w;
}

static void wf_free(struct wf *w)
{
    json_decref(w->inflight);
    json_decref(w->by_seq);
    free(w->id);
    free(w);
}

/* The flight key of row `seq` (borrowed) when it is in flight, else NULL. */
static const char *flight_of(struct wf *w, int64_t seq)
{
    char name[24];
    return json_string_value(json_object_get(w->by_seq, seq_name(seq, name)));
}

static int flying(struct wf *w, const char *stream, const char *key)
{
    char buf[FLIGHT_KEY_BUF], *fkey = flight_key(stream, key, buf);
    int busy = json_object_get(w->inflight, fkey) != NULL;
    flight_key_free(fkey, buf);
    return busy;
}

static void flight_add(struct wf *w, int64_t seq, const char *stream, const char *key)
{
    char name[24], buf[FLIGHT_KEY_BUF], *fkey = flight_key(stream, key, buf);
    must(json_object_set_new(w->inflight, fkey, json_integer((json_int_t)seq)) == 0 &&
         json_object_set_new(w->by_seq, seq_name(seq, name), json_string(fkey)) == 0);
    flight_key_free(fkey, buf);
}

static void flight_drop(struct wf *w, int64_t seq)
{
    char name[24];
    const char *fkey = flight_of(w, seq);
    if (!fkey)
        return;
    json_object_del(w->inflight, fkey); /* before by_seq, which owns fkey */
    json_object_del(w->by_seq, seq_name(seq, name));
}

static int check_flight(struct cs_backlog *b, struct wf *w, int64_t seq)
{
    return flight_of(w, seq) ? 0 : fail(b, CS_E_STATE, "%s: row %" PRId64 " is not in flight", w->id, seq);
}

/* ---- open and close --------------------------------------------------------------------------- */

/* Keep only the newest row of each key: older ones are left by a crash while they were in flight. */
static int collapse(struct cs_backlog *b)
{
    int n = exec(b, S_COLLAPSE, "");
    if (n > 0)
        cs_log(CS_LOG_NOTICE, "backlog", "%s: %d row(s) in flight at the last stop superseded by newer changes",
               b->path, n);
    return settled(n);
}

static int load_counts(struct cs_backlog *b)
{
    sqlite3_stmt *st;
    int rc;
    for (rc = query(b, &st, S_COUNTS, ""); rc > 0; rc = step(b, S_COUNTS)) {
        struct wf *w = wf_get(b, col_text(st, 0));
        w->queued = col_int(st, 1);
        w->dead = col_int(st, 2);
    }
    return settled(rc);
}

static void sqlite_close(struct cs_backlog *b);

static int sqlite_open(const char *path, struct cs_backlog **out, char **err)
{
    struct cs_backlog *b = cs_xcalloc(1, sizeof *b);
    int rc;

    *out = NULL;
    *err = NULL;
    b->driver = &cs_state_sqlite;
    pthread_mutex_init(&b->mu, NULL);
    b->path = cs_xstrdup(path);
    if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        *err = cs_xasprintf("cannot open state database %s: %s", path, b->db ? sqlite3_errmsg(b->db) : "out of memory");
        rc = CS_E_DB;
        goto out;
    }
    rc = cs_backlog_schema_setup(b->db, path, err);
    if (rc == 0)
        rc = collapse(b);
    if (rc == 0)
        rc = load_counts(b);
    if (rc != 0 && !*err)
        *err = cs_xstrdup(errmsg);
out:
    if (rc != 0) {
        sqlite_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

static void sqlite_close(struct cs_backlog *b)
{
    if (!b)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(b->stmts[i]);
    if (sqlite3_close(b->db) != SQLITE_OK)
        cs_log(CS_LOG_ERROR, "backlog", "%s: cannot close: %s", b->path, sqlite3_errmsg(b->db));
    while (b->wfs) {
        struct wf *next = b->wfs->next;
        wf_free(b->wfs);
        b->wfs = next;
    }
    pthread_mutex_destroy(&b->mu);
    free(b->path);
    free(b);
}

static int sqlite_db_error(struct cs_backlog *b, int64_t since_ms, char **msg, int64_t *at_ms)
{
    int seen;
    lock(b);
    seen = b->db_error_at && b->db_error_at >= since_ms;
    *msg = seen ? cs_xstrdup(b->db_error) : NULL;
    *at_ms = seen ? b->db_error_at : 0;
    unlock(b);
    return seen;
}

static const char *sqlite_errmsg(struct cs_backlog *b)
{
    (void)b;
    return errmsg;
}

static const char *sqlite_path(const struct cs_backlog *b)
{
    return b->path;
}

/* ---- workflows -------------------------------------------------------------------------------- */

/* Run `id` (workflow init or desired-state update) with a checked desired state: the number of rows it
 * changed, or a negative code. */
static int write_desired(struct cs_backlog *b, enum stmt id, const char *wf, const char *desired)
{
    int rc;
    lock(b);
    if (!one_of(desired, desired_states))
        rc = fail(b, CS_E_INVAL, "%s: desired state must be \"running\" or \"stopped\"", wf);
    else
        rc = exec(b, id, "ttI", wf, desired, cs_now_ms());
    unlock(b);
    return rc;
}

static int sqlite_workflow_init(struct cs_backlog *b, const char *wf, const char *initial_desired)
{
    return settled(write_desired(b, S_WF_INIT, wf, initial_desired));
}

static int sqlite_workflow_ids(struct cs_backlog *b, json_t **ids)
{
    sqlite3_stmt *st;
    int rc;
    *ids = json_array();
    lock(b);
    for (rc = query(b, &st, S_WF_IDS, ""); rc > 0; rc = step(b, S_WF_IDS))
        json_array_append_new(*ids, json_string(col_text(st, 0)));
    unlock(b);
    if (rc < 0) {
        json_decref(*ids);
        *ids = NULL;
    }
    return settled(rc);
}

static int sqlite_workflow_adopt(struct cs_backlog *b, const char *from, const char *to)
{
    static const enum stmt moves[] = {S_ADOPT_BACKLOG, S_ADOPT_CURSORS, S_ADOPT_DEAD};
    struct wf *old, *now;
    int rc;
    lock(b);
    old = wf_get(b, from);
    now = wf_get(b, to);
    if (json_object_size(old->inflight) > 0) {
        rc = fail(b, CS_E_STATE, "%s: workflow %s is writing; stop it before %s takes its rows", b->path, from, to);
        unlock(b);
        return rc;
    }
    rc = begin(b);
    if (rc == 0)
        rc = one(exec(b, S_ADOPT_ROW, "ttI", from, to, cs_now_ms()));
    for (size_t i = 0; rc == 0 && i < sizeof moves / sizeof *moves; i++)
        rc = settled(exec(b, moves[i], "tt", from, to));
    rc = finish(b, rc);
    if (rc == 0) {
        now->queued += old->queued;
        now->dead += old->dead;
        old->queued = old->dead = 0;
        now->claim_from = 0; /* its rows came with their own seqs */
    }
    unlock(b);
    return rc;
}

static int sqlite_desired_get(struct cs_backlog *b, const char *wf, char **desired)
{
    sqlite3_stmt *st;
    int rc;
    *desired = NULL;
    lock(b);
    rc = query(b, &st, S_DESIRED_GET, "t", wf);
    if (rc > 0)
        *desired = col_dup(st, 0);
    unlock(b);
    return found(rc);
}

static int sqlite_desired_set(struct cs_backlog *b, const char *wf, const char *desired)
{
    return one(write_desired(b, S_DESIRED_SET, wf, desired));
}

static int sqlite_status_set(struct cs_backlog *b, const char *wf, const char *state, const char *substate,
                             const char *reason, int64_t running_rev)
{
    int rc;
    lock(b);
    if (!one_of(state, states))
        rc = fail(b, CS_E_INVAL, "%s: unknown workflow state \"%s\"", wf, state ? state : "(null)");
    else
        rc = one(exec(b, S_STATUS_SET, "ttttnI", wf, state, substate, reason, running_rev > 0 ? running_rev : 0,
                      cs_now_ms()));
    unlock(b);
    return rc;
}

/* ---- definition revisions --------------------------------------------------------------------- */

static int sqlite_revision_add(struct cs_backlog *b, const char *wf, const char *source, const char *author,
                               const char *definition, int64_t *rev)
{
    int64_t next = 0;
    int rc;
    lock(b);
    if (!one_of(source, sources) || !definition)
        rc = fail(b, CS_E_INVAL, "%s: a revision needs a definition and a source \"config\" or \"api\"", wf);
    else
        rc = begin(b);
    if (rc == 0)
        rc = settled(query_int(b, &next, S_REV_NEXT, "t", wf));
    if (rc == 0)
        rc = one(exec(b, S_REV_ADD, "tIttIt", wf, next, source, definition, cs_now_ms(), author));
    rc = finish(b, rc);
    if (rc == 0 && rev)
        *rev = next;
    unlock(b);
    return rc;
}

static int sqlite_revision_latest(struct cs_backlog *b, const char *wf, const char *source, int64_t *rev,
                                  char **definition)
{
    sqlite3_stmt *st;
    int rc;
    if (definition)
        *definition = NULL;
    lock(b);
    rc = query(b, &st, S_REV_LATEST, "tt", wf, source);
    if (rc > 0 && rev)
        *rev = col_int(st, 0);
    if (rc > 0 && definition)
        *definition = col_dup(st, 1);
    unlock(b);
    return found(rc);
}

static int sqlite_revision_get(struct cs_backlog *b, const char *wf, int64_t rev, char **definition, char **source,
                               int64_t *created_at)
{
    sqlite3_stmt *st;
    int rc;
    *definition = *source = NULL;
    lock(b);
    rc = query(b, &st, S_REV_GET, "tI", wf, rev);
    if (rc > 0) {
        *definition = col_dup(st, 0);
        *source = col_dup(st, 1);
        *created_at = col_int(st, 2);
    }
    unlock(b);
    return found(rc);
}

static int sqlite_revision_list(struct cs_backlog *b, const char *wf, json_t **out)
{
    sqlite3_stmt *st;
    json_t *list = json_array();
    int rc;
    must(list != NULL);
    lock(b);
    for (rc = query(b, &st, S_REV_LIST, "t", wf); rc > 0; rc = step(b, S_REV_LIST))
        must(json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:o}", "revision", col_value(st, 0), "source",
                                                   col_value(st, 1), "created_at", col_value(st, 2), "author",
                                                   col_value(st, 3))) == 0);
    unlock(b);
    if (rc < 0)
        json_decref(list);
    *out = rc < 0 ? NULL : list;
    return settled(rc);
}

/* ---- cursors ---------------------------------------------------------------------------------- */

static int sqlite_cursor_get(struct cs_backlog *b, const char *wf, const char *stream, json_t **cursor)
{
    sqlite3_stmt *st;
    int rc;
    *cursor = NULL;
    lock(b);
    rc = query(b, &st, S_CURSOR_GET, "tt", wf, stream);
    if (rc > 0 && !(*cursor = col_json(st, 0)))
        rc = fail(b, CS_E_DB, "%s: the cursor of stream %s is not JSON", wf, stream);
    unlock(b);
    return settled(rc);
}

static int sqlite_cursor_reset(struct cs_backlog *b, const char *wf, const char *stream)
{
    int rc;
    lock(b);
    rc = settled(exec(b, S_CURSOR_DEL, "tt", wf, stream));
    unlock(b);
    return rc;
}

/* ---- enqueue ---------------------------------------------------------------------------------- */

/* Replace the pending row of the record's key in place (it keeps its seq), or append a row when the key
 * has none or only an in-flight one; *appended counts new rows. */
static int put_record(struct cs_backlog *b, struct wf *w, const cs_record *rec, int64_t now, int64_t *appended)
{
    const char *stream = cs_record_stream(rec), *key = cs_record_key(rec);
    const char *op = json_string_value(json_object_get(rec, "op"));
    json_t *merged = NULL;
    sqlite3_stmt *st;
    int64_t seq = 0, initial = cs_record_is_initial(rec);
    char *payload;
    int rc;

    if (!cs_record_is_valid(rec))
        return fail(b, CS_E_INVAL, "%s: refusing to enqueue a malformed record", w->id);
    rc = query(b, &st, S_NEWEST, "ttt", w->id, stream, key);
    if (rc > 0) {
        seq = col_int(st, 0);
        /* an upsert over a pending upsert writes what both would have: the older fields the newer one
         * does not carry are kept (two PATCHes by key equal one with both sets of fields) */
        if (strcmp(op, "upsert") == 0 && strcmp(col_text(st, 1), "upsert") == 0 && (merged = col_json(st, 2)) &&
            json_is_object(merged)) {
            json_object_update(merged, cs_record_payload(rec));
            initial |= col_int(st, 3); /* the merged fields of a full load are still a full load's */
        }
        sqlite3_reset(st);
    }
    payload = dump(json_is_object(merged) ? merged : cs_record_payload(rec));
    json_decref(merged);
    if (rc > 0 && !flight_of(w, seq)) {
        rc = one(exec(b, S_COALESCE, "IttIII", seq, op, payload, cs_record_ts(rec), now, initial));
    } else if (rc >= 0) {
        rc = one(exec(b, S_INSERT, "tttttIII", w->id, stream, key, op, payload, cs_record_ts(rec), now, initial));
        *appended += rc == 0;
    }
    free(payload);
    return rc;
}

/* A record that failed mapping: its payload member (or the whole record when it has none) is kept.
 * Any malformed record is taken (one without a stream is stored under the stream ""), so that a bad
 * record never holds up the records and the cursor committed with it. */
static int put_dead(struct cs_backlog *b, const char *wf, const struct cs_dead_in *d, int64_t now)
{
    const json_t *rec = d->record, *payload = cs_record_payload(rec);
    const char *stream = cs_record_stream(rec);
    char *text;
    int rc;

    if (!one_of(d->error_class, dead_classes))
        return fail(b, CS_E_INVAL, "%s: refusing a dead letter of the unknown class \"%s\"", wf,
                    d->error_class ? d->error_class : "");
    text = dump(payload ? payload : rec ? rec : json_null());
    rc = one(exec(b, S_DEAD_ADD, "tttttItnttIII", wf, stream ? stream : "", cs_record_key(rec),
                  json_string_value(json_object_get(rec, "op")), text, cs_record_ts(rec), d->error_class,
                  (int64_t)d->http_status, d->detail, d->failed_in, (int64_t)d->attempts, now,
                  (int64_t)cs_record_is_initial(rec)));
    free(text);
    return rc;
}

static int put_cursor(struct cs_backlog *b, const char *wf, const char *stream, const json_t *cursor, int64_t now)
{
    char *text;
    int rc;
    if (!cursor)
        return fail(b, CS_E_INVAL, "%s: cursor of stream %s missing", wf, stream);
    text = dump(cursor);
    rc = one(exec(b, S_CURSOR_PUT, "tttI", wf, stream, text, now));
    free(text);
    return rc;
}

static int sqlite_enqueue(struct cs_backlog *b, const char *wf, const struct cs_enqueue *e)
{
    int64_t appended = 0, now = cs_now_ms();
    struct wf *w;
    int rc;

    lock(b);
    w = wf_get(b, wf);
    rc = begin(b);
    for (size_t i = 0; rc == 0 && i < e->n_records; i++)
        rc = put_record(b, w, e->records[i], now, &appended);
    for (size_t i = 0; rc == 0 && i < e->n_dead; i++)
        rc = put_dead(b, wf, &e->dead[i], now);
    if (rc == 0 && e->cursor_stream)
        rc = put_cursor(b, wf, e->cursor_stream, e->cursor, now);
    rc = finish(b, rc);
    if (rc == 0) {
        w->queued += appended;
        w->dead += (int64_t)e->n_dead;
    }
    unlock(b);
    return rc;
}

/* ---- claim and complete ----------------------------------------------------------------------- */

/* The claim of the row `st` is on: seq, stream, record_key, op, payload, ts, attempts, enqueued_at, initial. */
static int claim_row(struct cs_backlog *b, sqlite3_stmt *st, struct cs_claim *c)
{
    json_t *payload = col_json(st, 4);
    c->seq = col_int(st, 0);
    c->attempts = (int)col_int(st, 6);
    c->enqueued_at = col_int(st, 7);
    c->record = NULL;
    if (!json_is_object(payload)) {
        json_decref(payload);
        return fail(b, CS_E_DB, "%s: the payload of backlog row %" PRId64 " is not a JSON object", b->path, c->seq);
    }
    c->record =
        cs_record_new(col_text(st, 1), col_text(st, 2),
                      strcmp(col_text(st, 3), "delete") == 0 ? CS_OP_DELETE : CS_OP_UPSERT, payload, col_int(st, 5));
    must(c->record != NULL);
    if (col_int(st, 8))
        must(cs_record_set_initial(c->record, 1) == 0);
    return 0;
}

/* The seq of the first row scheduled for later than now_ms (INT64_MAX when none) into *seq. */
static int first_waiting(struct cs_backlog *b, struct wf *w, int64_t now_ms, int64_t *seq)
{
    sqlite3_stmt *st;
    int rc = query(b, &st, S_WAITING, "tI", w->id, now_ms);
    *seq = rc > 0 && sqlite3_column_type(st, 0) != SQLITE_NULL ? col_int(st, 0) : INT64_MAX;
    return rc < 0 ? rc : 0;
}

/*
 * Walk the due rows in seq order from w->claim_from and claim up to max whose key is not in flight
 * (claiming one puts its key in flight, so a key is taken at most once per batch). *from is where the
 * next walk may start: past every row this one passed, as those are in flight now, but not past a row
 * left for its key in flight nor past a row scheduled for later (which this walk does not see), so
 * that a walk does not pass the rows in flight again and again (its cost is that of the rows it
 * claims). Seqs only grow (AUTOINCREMENT), so a row added later is never below it; a row that is in
 * flight and comes back (a retry, a release) moves the start back to it (claim_start_back).
 */
static int claim_rows(struct cs_backlog *b, struct wf *w, int64_t now_ms, size_t max, struct cs_claim *out, size_t *n,
                      int64_t *from)
{
    sqlite3_stmt *st;
    int64_t waiting = INT64_MAX, seq;
    int rc = 0, passed_all = 1;
    *from = w->claim_from;
    if (max && (rc = first_waiting(b, w, now_ms, &waiting)) == 0)
        rc = query(b, &st, S_CLAIM, "tII", w->id, now_ms, w->claim_from);
    while (rc > 0) {
        seq = col_int(st, 0);
        /* a row in flight itself is passed by its seq, without naming its key */
        if (flight_of(w, seq)) {
            /* passed */
        } else if (flying(w, col_text(st, 1), col_text(st, 2))) {
            passed_all = 0; /* claimable once its key is done: the next walk starts here at the latest */
        } else {
            rc = claim_row(b, st, &out[*n]);
            if (rc < 0)
                break;
            flight_add(w, out[(*n)++].seq, col_text(st, 1), col_text(st, 2));
        }
        if (passed_all)
            *from = seq + 1;
        rc = *n < max ? step(b, S_CLAIM) : 0;
    }
    if (*from > waiting)
        *from = waiting;
    return rc;
}

/* Row `seq`, in flight, is claimable again (a retry, a release): the next walk starts at it at the latest. */
static void claim_start_back(struct wf *w, int64_t seq)
{
    if (seq < w->claim_from)
        w->claim_from = seq;
}

static int sqlite_claim(struct cs_backlog *b, const char *wf, int64_t now_ms, size_t max, struct cs_claim *out,
                        size_t *n)
{
    struct wf *w;
    int64_t from;
    int rc;
    *n = 0;
    lock(b);
    w = wf_get(b, wf);
    rc = claim_rows(b, w, now_ms, max, out, n, &from);
    for (size_t i = 0; rc < 0 && i < *n; i++) {
        flight_drop(w, out[i].seq);
        json_decref(out[i].record);
    }
    if (rc < 0)
        *n = 0;
    else
        w->claim_from = from;
    unlock(b);
    return settled(rc);
}

static int check_outcome(struct cs_backlog *b, struct wf *w, const struct cs_outcome *o)
{
    if (o->status != CS_OK && o->status != CS_RETRY && o->status != CS_REJECT)
        return fail(b, CS_E_INVAL, "%s: outcome %d of row %" PRId64 " is not OK, RETRY or REJECT", w->id,
                    (int)o->status, o->seq);
    if (o->status == CS_REJECT && o->error_class && !one_of(o->error_class, dead_classes))
        return fail(b, CS_E_INVAL, "%s: unknown dead-letter class \"%s\"", w->id, o->error_class);
    return check_flight(b, w, o->seq);
}

/* Schedule another attempt, or drop the row when a newer change of its key is waiting (superseded). */
static int retry_row(struct cs_backlog *b, const struct cs_outcome *o, int *gone)
{
    char *error = o->http_status && o->detail ? cs_xasprintf("HTTP %d: %s", o->http_status, o->detail)
                  : o->http_status            ? cs_xasprintf("HTTP %d", o->http_status)
                                              : NULL;
    int rc = exec(b, S_SUPERSEDE, "I", o->seq);
    *gone = rc == 1;
    if (rc == 0)
        rc = one(exec(b, S_RETRY, "IIt", o->seq, o->next_attempt_at, error ? error : o->detail));
    free(error);
    return settled(rc);
}

/* Apply one outcome in the open transaction; *gone is set when the row left the backlog. */
static int apply_outcome(struct cs_backlog *b, const struct cs_outcome *o, int64_t now, int *gone)
{
    int rc = 0;
    *gone = 1;
    switch (o->status) {
    case CS_RETRY:
        rc = retry_row(b, o, gone);
        break;
    case CS_REJECT:
        rc = one(exec(b, S_REJECT, "ItnttI", o->seq, o->error_class ? o->error_class : "rejected",
                      (int64_t)o->http_status, o->detail, o->failed_in, now));
        break;
    default: /* CS_OK */
        break;
    }
    if (rc == 0 && o->status != CS_RETRY)
        rc = one(exec(b, S_DELETE, "I", o->seq));
    if (rc == CS_E_NOTFOUND) /* claimed here, so only another process can have taken it */
        return fail(b, rc,
                    "backlog row %" PRId64 " is no longer in %s (another process writes to this state "
                    "database?)",
                    o->seq, b->path);
    return rc;
}

static int put_kv(struct cs_backlog *b, const char *ns, const char *key, const char *value)
{
    return settled(value ? exec(b, S_KV_PUT, "tttI", ns, key, value, cs_now_ms()) : exec(b, S_KV_DEL, "tt", ns, key));
}

/* Apply held key/value writes (kv may be NULL) in the open transaction. */
static int put_kv_writes(struct cs_backlog *b, const struct cs_kv_writes *kv)
{
    const char *key;
    json_t *value;
    int rc = 0;
    if (!kv)
        return 0;
    json_object_foreach ((json_t *)kv->values, key, value) {
        if ((rc = put_kv(b, kv->ns, key, json_string_value(value))) != 0)
            break;
    }
    return rc;
}

static int sqlite_complete(struct cs_backlog *b, const char *wf, const struct cs_outcome *o, size_t n,
                           const struct cs_kv_writes *kv)
{
    int64_t gone = 0, dead = 0, now = cs_now_ms();
    struct wf *w;
    int rc = 0, left;

    lock(b);
    w = wf_get(b, wf);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = check_outcome(b, w, &o[i]);
    if (rc == 0)
        rc = begin(b);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = apply_outcome(b, &o[i], now, &left);
        gone += left;
        dead += o[i].status == CS_REJECT;
    }
    if (rc == 0)
        rc = put_kv_writes(b, kv);
    rc = finish(b, rc);
    if (rc == 0) {
        w->queued -= gone;
        w->dead += dead;
        for (size_t i = 0; i < n; i++) {
            flight_drop(w, o[i].seq);
            if (o[i].status == CS_RETRY)
                claim_start_back(w, o[i].seq);
        }
    }
    unlock(b);
    return rc;
}

static int sqlite_release(struct cs_backlog *b, const char *wf, const int64_t *seqs, size_t n)
{
    struct wf *w;
    int rc = 0;
    lock(b);
    w = wf_get(b, wf);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = check_flight(b, w, seqs[i]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        flight_drop(w, seqs[i]);
        claim_start_back(w, seqs[i]);
    }
    unlock(b);
    return rc;
}

static int sqlite_counts(struct cs_backlog *b, const char *wf, int64_t *backlog, int64_t *dead)
{
    struct wf *w;
    lock(b);
    w = wf_get(b, wf);
    *backlog = w->queued;
    *dead = w->dead;
    unlock(b);
    return 0;
}

static int sqlite_next_due(struct cs_backlog *b, const char *wf, int64_t *next_at)
{
    struct wf *w;
    sqlite3_stmt *st;
    int rc;
    *next_at = INT64_MAX;
    lock(b);
    w = wf_get(b, wf);
    for (rc = query(b, &st, S_NEXT_DUE, "t", wf); rc > 0; rc = step(b, S_NEXT_DUE)) {
        if (!flying(w, col_text(st, 0), col_text(st, 1))) {
            *next_at = col_int(st, 2);
            break;
        }
    }
    unlock(b);
    return settled(rc);
}

/* ---- dead letters ----------------------------------------------------------------------------- */

static json_t *dead_row(sqlite3_stmt *st, int include_payload)
{
    json_t *o =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_value(st, 0), "stream",
                  col_value(st, 1), "key", col_value(st, 2), "op", col_value(st, 3), "error_class", col_value(st, 4),
                  "http_status", col_value(st, 5), "detail", col_value(st, 6), "failed_in", col_value(st, 7),
                  "attempts", col_value(st, 8), "failed_at", col_value(st, 9), "redriven_at", col_value(st, 10));
    json_t *payload = include_payload ? col_json(st, 11) : NULL;
    must(o != NULL);
    if (include_payload)
        must(json_object_set_new(o, "payload", payload ? payload : json_null()) == 0);
    return o;
}

static int sqlite_dead_list(struct cs_backlog *b, const char *wf, int64_t before_id, size_t limit, int include_payload,
                            json_t **out)
{
    int64_t below = before_id > 0 ? before_id : INT64_MAX;
    int64_t most = limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
    sqlite3_stmt *st;
    json_t *list = json_array();
    int rc;
    must(list != NULL);
    lock(b);
    for (rc = query(b, &st, S_DEAD_LIST, "tII", wf, below, most); rc > 0; rc = step(b, S_DEAD_LIST))
        must(json_array_append_new(list, dead_row(st, include_payload)) == 0);
    unlock(b);
    if (rc < 0)
        json_decref(list);
    *out = rc < 0 ? NULL : list;
    return settled(rc);
}

/* Requeue dead letter `id` as a new row unless its key already has a row in the backlog (a newer change
 * supersedes it), then mark it redriven. */
static int redrive_letter(struct cs_backlog *b, int64_t id, int64_t now, int64_t *requeued)
{
    int64_t queued = 0;
    int rc = query_int(b, &queued, S_KEY_QUEUED, "I", id);
    if (rc > 0 && !queued) {
        rc = one(exec(b, S_REQUEUE, "II", id, now));
        *requeued += rc == 0;
    }
    return rc < 0 ? rc : one(exec(b, S_REDRIVEN, "II", id, now));
}

static int redrive_one(struct cs_backlog *b, const char *wf, int64_t id, int64_t now, int64_t *requeued)
{
    int64_t redrivable = 0;
    int rc = query_int(b, &redrivable, S_DEAD_REDRIVABLE, "tI", wf, id);
    if (rc == 0)
        return fail(b, CS_E_NOTFOUND, "%s: no dead letter %" PRId64, wf, id);
    if (rc > 0 && !redrivable)
        return fail(b, CS_E_STATE, "%s: dead letter %" PRId64 " was redriven already", wf, id);
    if (rc > 0 && redrivable == 2)
        return fail(b, CS_E_STATE,
                    "%s: dead letter %" PRId64 " is a malformed record (no key, stream or operation) and cannot be "
                    "written; once the source row is fixed, its next change is read again",
                    wf, id);
    return rc < 0 ? rc : redrive_letter(b, id, now, requeued);
}

/* Newest first, so that of several dead letters of one key the newest goes back and the older ones are
 * superseded by it. The ids are collected before any is redriven: the loop writes the table it reads. */
static int redrive_all(struct cs_backlog *b, const char *wf, const struct cs_redrive_filter *f, int64_t now,
                       int64_t *requeued, int64_t *marked)
{
    json_t *ids = json_array();
    sqlite3_stmt *st;
    int rc;
    must(ids != NULL);
    for (rc = query(b, &st, S_DEAD_IDS, "tII", wf, (int64_t)f->http_status, f->min_ts); rc > 0;
         rc = step(b, S_DEAD_IDS))
        must(json_array_append_new(ids, json_integer((json_int_t)col_int(st, 0))) == 0);
    for (size_t i = 0; rc == 0 && i < json_array_size(ids); i++)
        rc = redrive_letter(b, json_integer_value(json_array_get(ids, i)), now, requeued);
    *marked = (int64_t)json_array_size(ids);
    json_decref(ids);
    return rc;
}

static int redrive_ids(struct cs_backlog *b, const char *wf, int64_t id, const struct cs_redrive_filter *f, size_t *n);

static int sqlite_dead_redrive(struct cs_backlog *b, const char *wf, int64_t id, size_t *n)
{
    static const struct cs_redrive_filter all = {0, 0};
    return id ? redrive_ids(b, wf, id, NULL, n) : redrive_ids(b, wf, 0, &all, n);
}

static int sqlite_dead_redrive_matching(struct cs_backlog *b, const char *wf, const struct cs_redrive_filter *f,
                                        size_t *n)
{
    return redrive_ids(b, wf, 0, f, n);
}

/* Dead letter `id`, or every one `f` matches, back into the backlog in one transaction. */
static int redrive_ids(struct cs_backlog *b, const char *wf, int64_t id, const struct cs_redrive_filter *f, size_t *n)
{
    int64_t requeued = 0, marked = 1 /* redrive_one */, now = cs_now_ms();
    struct wf *w;
    int rc;

    *n = 0;
    lock(b);
    w = wf_get(b, wf);
    rc = begin(b);
    if (rc == 0)
        rc = id ? redrive_one(b, wf, id, now, &requeued) : redrive_all(b, wf, f, now, &requeued, &marked);
    rc = finish(b, rc);
    if (rc == 0) {
        w->queued += requeued;
        w->dead -= marked;
        *n = (size_t)requeued;
    }
    unlock(b);
    return rc;
}

/* ---- plugin key/value store ------------------------------------------------------------------- */

static int sqlite_kv_get(struct cs_backlog *b, const char *ns, const char *key, char **value)
{
    sqlite3_stmt *st;
    int rc;
    *value = NULL;
    lock(b);
    rc = query(b, &st, S_KV_GET, "tt", ns, key);
    if (rc > 0)
        *value = col_dup(st, 0);
    unlock(b);
    return settled(rc);
}

static int sqlite_kv_put(struct cs_backlog *b, const char *ns, const char *key, const char *value)
{
    int rc;
    lock(b);
    rc = put_kv(b, ns, key, value);
    unlock(b);
    return rc;
}

static int sqlite_kv_put_all(struct cs_backlog *b, const struct cs_kv_writes *kv)
{
    int rc;
    lock(b);
    rc = begin(b);
    if (rc == 0)
        rc = put_kv_writes(b, kv);
    rc = finish(b, rc);
    unlock(b);
    return rc;
}

/* ---- statistics ------------------------------------------------------------------------------- */

static void sqlite_stats(struct cs_backlog *b, struct cs_backlog_stats *out)
{
    int miss = 0, hit = 0, high = 0;
    lock(b);
    sqlite3_db_status(b->db, SQLITE_DBSTATUS_CACHE_MISS, &miss, &high, 0);
    sqlite3_db_status(b->db, SQLITE_DBSTATUS_CACHE_HIT, &hit, &high, 0);
    out->transactions = b->transactions;
    out->page_reads = miss;
    out->page_hits = hit;
    unlock(b);
}

/* ---- the driver ------------------------------------------------------------------------------- */

const struct cs_state_driver cs_state_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .path = sqlite_path,
    .close = sqlite_close,
    .errmsg = sqlite_errmsg,
    .db_error = sqlite_db_error,
    .workflow_init = sqlite_workflow_init,
    .workflow_ids = sqlite_workflow_ids,
    .workflow_adopt = sqlite_workflow_adopt,
    .desired_get = sqlite_desired_get,
    .desired_set = sqlite_desired_set,
    .status_set = sqlite_status_set,
    .revision_add = sqlite_revision_add,
    .revision_latest = sqlite_revision_latest,
    .revision_get = sqlite_revision_get,
    .revision_list = sqlite_revision_list,
    .cursor_get = sqlite_cursor_get,
    .cursor_reset = sqlite_cursor_reset,
    .enqueue = sqlite_enqueue,
    .claim = sqlite_claim,
    .complete = sqlite_complete,
    .release = sqlite_release,
    .counts = sqlite_counts,
    .next_due = sqlite_next_due,
    .dead_list = sqlite_dead_list,
    .dead_redrive = sqlite_dead_redrive,
    .dead_redrive_matching = sqlite_dead_redrive_matching,
    .kv_get = sqlite_kv_get,
    .kv_put = sqlite_kv_put,
    .kv_put_all = sqlite_kv_put_all,
    .stats = sqlite_stats,
};
