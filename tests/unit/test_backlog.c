/*
 * test_backlog.c - unit tests of the state store (backlog.h) on the driver state_target.h picks, SQLite or
 * PostgreSQL: schema creation, reopen and refusal of a newer schema; enqueue with its cursor in one
 * transaction; coalescing; per-key order, also with two concurrent writers; retry, reject and dead
 * letters; redrive; release; crash recovery; kv; revisions; workflow state; and a 100,000-record sanity
 * run. Every test has its own store (a file in a temporary directory that is removed at the end, or a
 * database). A second, raw connection inspects the store and injects failures.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/backlog.h"
#include "state/backlog_schema.h"
#include "check.h"
#include "state/pg_schema.h"
#include "state_target.h"
#include "util/log.h"
#include "util/util.h"

#define WF "wf"

static char tmpdir[4096];

/* ---- fixtures ---------------------------------------------------------------------------------- */

static struct cs_backlog *open_db(const char *target)
{
    return target_open(target);
}

/* A new store named `name` with workflow WF (running); *path (new: its target) when wanted. */
static struct cs_backlog *fresh(const char *name, char **path)
{
    char *p = target_new(name);
    struct cs_backlog *b = open_db(p);
    CHECK_INT(cs_backlog_workflow_init(b, WF, "running"), 0);
    if (path)
        *path = p;
    else
        free(p);
    return b;
}

/* ---- records, claims, outcomes ---------------------------------------------------------------- */

static cs_record *rec_v(const char *key, int v)
{
    return cs_record_new("contacts", key, CS_OP_UPSERT, json_pack("{s:i}", "v", v), 1000 + v);
}

/* Enqueue `recs` (n records, stolen) and, when cursor_stream is set, `cursor` (stolen). */
static int enq(struct cs_backlog *b, cs_record **recs, size_t n, const char *cursor_stream, json_t *cursor)
{
    struct cs_enqueue e = {.records = recs, .n_records = n, .cursor_stream = cursor_stream, .cursor = cursor};
    int rc = cs_backlog_enqueue(b, WF, &e);
    for (size_t i = 0; i < n; i++)
        json_decref(recs[i]);
    json_decref(cursor);
    return rc;
}

static int enq1(struct cs_backlog *b, const char *key, int v)
{
    cs_record *r = rec_v(key, v);
    return enq(b, &r, 1, NULL, NULL);
}

static size_t claim(struct cs_backlog *b, int64_t now, size_t max, struct cs_claim *out)
{
    size_t n = 99;
    CHECK_INT(cs_backlog_claim(b, WF, now, max, out, &n), 0);
    return n;
}

static void drop_claims(struct cs_claim *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(c[i].record);
}

static int v_of(const struct cs_claim *c)
{
    return (int)json_integer_value(json_object_get(cs_record_payload(c->record), "v"));
}

static int complete1(struct cs_backlog *b, int64_t seq, cs_status status, int64_t next_at)
{
    struct cs_outcome o = {.seq = seq, .status = status, .next_attempt_at = next_at};
    return cs_backlog_complete(b, WF, &o, 1, NULL);
}

static int64_t queued(struct cs_backlog *b)
{
    int64_t q = -1, d = -1;
    CHECK_INT(cs_backlog_counts(b, WF, &q, &d), 0);
    return q;
}

static int64_t dead(struct cs_backlog *b)
{
    int64_t q = -1, d = -1;
    CHECK_INT(cs_backlog_counts(b, WF, &q, &d), 0);
    return d;
}

/* Reject one claimed row as a plain "rejected" dead letter. */
static int reject1(struct cs_backlog *b, int64_t seq)
{
    struct cs_outcome o = {.seq = seq, .status = CS_REJECT, .http_status = 400, .detail = "bad", .failed_in = "t"};
    return cs_backlog_complete(b, WF, &o, 1, NULL);
}

/* ---- schema ------------------------------------------------------------------------------------ */

/* The SQLite file's settings and tables; a file of a newer schema is refused with both versions named. */
static void check_sqlite_schema(const char *path)
{
    struct cs_backlog *b2 = (struct cs_backlog *)&b2; /* a sentinel the refused open must clear */
    char *mode, *err = NULL, want[64];

    CHECK_INT(raw_int(path, "PRAGMA user_version"), CS_BACKLOG_SCHEMA_VERSION);
    CHECK_INT(raw_int(path, "PRAGMA auto_vacuum"), 2); /* incremental */
    mode = raw_text(path, "PRAGMA journal_mode");
    CHECK_STR(mode, "wal");
    free(mode);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                            " ('workflow', 'revision', 'source_cursor', 'backlog', 'dead_letter', 'kv')"),
              6);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN"
                            " ('backlog_order', 'backlog_due', 'backlog_key', 'dead_letter_wf')"),
              4);
    raw_exec(path, "PRAGMA user_version = 99");
    CHECK_INT(cs_backlog_open(path, &b2, &err), CS_E_STATE);
    CHECK(b2 == NULL);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, "schema version 99");
    snprintf(want, sizeof want, "up to version %d", CS_BACKLOG_SCHEMA_VERSION);
    CHECK_CONTAINS(err, want);
    CHECK_INT(raw_int(path, "PRAGMA user_version"), 99); /* untouched */
    free(err);
}

/* The PostgreSQL database's tables and version; a newer schema is refused with both versions named. A
 * second process opens the database beside the first (the fleet); a node name a live member holds is
 * refused, naming both. */
static void check_pg_schema(const char *target)
{
    struct cs_backlog *b = open_db(target), *b2 = (struct cs_backlog *)&b2;
    char *err = NULL, want[64];

    CHECK_INT(raw_int(target, "SELECT version FROM crmsync_schema"), CS_PG_SCHEMA_VERSION);
    CHECK_INT(raw_int(target, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN"
                              " ('workflow', 'revision', 'source_cursor', 'backlog', 'dead_letter', 'kv')"),
              6);
    CHECK_INT(cs_backlog_open_driver("postgresql", target, &b2, &err), 0);
    CHECK_INT(cs_backlog_join(b, &(struct cs_member){"n1", "h1", NULL, 3000}, &err), 0);
    CHECK_INT(cs_backlog_join(b2, &(struct cs_member){"n1", "h2", NULL, 3000}, &err), CS_E_STATE);
    CHECK_CONTAINS(err, "as node \"n1\"");
    CHECK_CONTAINS(err, "on h1 holds that node name");
    free(err);
    CHECK_INT(cs_backlog_join(b2, &(struct cs_member){"n2", "h2", NULL, 3000}, &err), 0);
    cs_backlog_close(b2);
    cs_backlog_close(b);

    raw_exec(target, "UPDATE crmsync_schema SET version = 99");
    b2 = (struct cs_backlog *)&b2;
    CHECK_INT(cs_backlog_open_driver("postgresql", target, &b2, &err), CS_E_STATE);
    CHECK(b2 == NULL);
    CHECK_CONTAINS(err, "schema version 99");
    snprintf(want, sizeof want, "up to version %d", CS_PG_SCHEMA_VERSION);
    CHECK_CONTAINS(err, want);
    CHECK_INT(raw_int(target, "SELECT version FROM crmsync_schema"), 99); /* untouched */
    free(err);
}

static void test_schema(void)
{
    char *path, *msg = NULL;
    int64_t at = 0;
    cs_record *orphan;
    struct cs_backlog *b = fresh("schema", &path);

    /* foreign keys: rows of an unknown workflow are refused */
    orphan = rec_v("a", 1);
    CHECK_INT(cs_backlog_db_error(b, 0, &msg, &at), 0); /* none yet */
    CHECK(msg == NULL);
    CHECK_INT(cs_backlog_enqueue(b, "nope", &(struct cs_enqueue){.records = &orphan, .n_records = 1}), CS_E_DB);
    CHECK_CONTAINS(cs_backlog_errmsg(b), target_pg() ? "foreign key" : "FOREIGN KEY");
    json_decref(orphan);
    CHECK_INT(enq1(b, "a", 1), 0);
    /* the database error is kept for the health check (the success after it does not hide it) */
    CHECK_INT(cs_backlog_db_error(b, 0, &msg, &at), 1);
    CHECK_CONTAINS(msg, target_pg() ? "foreign key" : "FOREIGN KEY");
    CHECK(at > 0);
    free(msg);
    CHECK_INT(cs_backlog_db_error(b, at + 1, &msg, &at), 0); /* nothing since */
    cs_backlog_close(b);

    b = open_db(path);
    CHECK_INT(queued(b), 1);
    cs_backlog_close(b);
    if (target_pg())
        check_pg_schema(path);
    else
        check_sqlite_schema(path);
    free(path);
}

/* ---- enqueue and cursor ------------------------------------------------------------------------ */

static void test_enqueue_cursor(void)
{
    char *path;
    struct cs_backlog *b = fresh("enqueue", &path);
    cs_record *recs[3] = {rec_v("a", 1), rec_v("b", 1), rec_v("c", 1)};
    cs_record *bad[2];
    static const char *const want[] = {"a", "b", "c", "e"};
    json_t *cursor = NULL;
    struct cs_claim c[8];
    size_t n;

    CHECK_INT(enq(b, recs, 3, "contacts", json_pack("{s:s}", "token", "t1")), 0);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "contacts", &cursor), 0);
    CHECK_STR(json_string_value(json_object_get(cursor, "token")), "t1");
    json_decref(cursor);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "accounts", &cursor), 0);
    CHECK(cursor == NULL);
    CHECK_INT(queued(b), 3);

    /* an invalid record after a valid one: neither the records nor the cursor commit */
    bad[0] = rec_v("d", 1);
    bad[1] = json_pack("{s:s, s:s, s:{}}", "stream", "contacts", "op", "upsert", "payload");
    CHECK_INT(enq(b, bad, 2, "contacts", json_pack("{s:s}", "token", "t2")), CS_E_INVAL);
    CHECK_CONTAINS(cs_backlog_errmsg(b), "malformed");
    CHECK_INT(queued(b), 3);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog WHERE record_key = 'd'"), 0);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "contacts", &cursor), 0);
    CHECK_STR(json_string_value(json_object_get(cursor, "token")), "t1");
    json_decref(cursor);

    /* a database failure at the cursor, after the records went in: all rolled back */
    raw_fail_on(path, "source_cursor", "INSERT");
    bad[0] = rec_v("e", 1);
    CHECK_INT(enq(b, bad, 1, "accounts", json_pack("{s:i}", "page", 2)), CS_E_DB);
    CHECK_CONTAINS(cs_backlog_errmsg(b), "injected");
    CHECK_INT(queued(b), 3);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog WHERE record_key = 'e'"), 0);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "accounts", &cursor), 0);
    CHECK(cursor == NULL);
    raw_fail_off(path, "source_cursor");

    /* a cursor that is not an object round-trips too; the refused records never show up */
    bad[0] = rec_v("e", 2);
    CHECK_INT(enq(b, bad, 1, "accounts", json_integer(7)), 0);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "accounts", &cursor), 0);
    CHECK_INT(json_integer_value(cursor), 7);
    json_decref(cursor);
    /* replay: the stream's cursor is forgotten, the other stream's kept */
    CHECK_INT(cs_backlog_cursor_reset(b, WF, "accounts"), 0);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "accounts", &cursor), 0);
    CHECK(cursor == NULL);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "contacts", &cursor), 0);
    CHECK_STR(json_string_value(json_object_get(cursor, "token")), "t1");
    json_decref(cursor);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 4);
    for (size_t i = 0; i < n && n == 4; i++)
        CHECK_STR(cs_record_key(c[i].record), want[i]);
    CHECK_INT(n == 4 ? v_of(&c[3]) : 0, 2);
    drop_claims(c, n);
    cs_backlog_close(b);
    free(path);
}

/* ---- coalescing -------------------------------------------------------------------------------- */

static void test_coalesce(void)
{
    char *path;
    struct cs_backlog *b = fresh("coalesce", &path);
    struct cs_claim c[8];
    cs_record *recs[2];
    long long seq_k;
    size_t n;

    CHECK_INT(enq1(b, "a", 1), 0);
    CHECK_INT(enq1(b, "k", 1), 0);
    seq_k = raw_int(path, "SELECT seq FROM backlog WHERE record_key = 'k'");
    CHECK_INT(enq1(b, "b", 1), 0);
    CHECK_INT(enq1(b, "k", 2), 0);
    recs[0] = cs_record_new("contacts", "k", CS_OP_DELETE, json_pack("{s:i}", "v", 3), 1003);
    CHECK_INT(enq(b, recs, 1, NULL, NULL), 0);
    CHECK_INT(queued(b), 3);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog WHERE record_key = 'k'"), 1);
    CHECK_INT(raw_int(path, "SELECT seq FROM backlog WHERE record_key = 'k'"), seq_k);

    /* two changes of one key in one batch */
    recs[0] = rec_v("x", 1);
    recs[1] = rec_v("x", 2);
    CHECK_INT(enq(b, recs, 2, NULL, NULL), 0);
    CHECK_INT(queued(b), 4);

    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK_STR(cs_record_key(c[0].record), "a");
        CHECK_STR(cs_record_key(c[1].record), "k"); /* kept its place before b */
        CHECK_STR(cs_record_key(c[2].record), "b");
        CHECK_STR(cs_record_key(c[3].record), "x");
        CHECK_INT(c[1].seq, seq_k);
        CHECK_INT(v_of(&c[1]), 3);
        CHECK_INT(cs_record_op(c[1].record), CS_OP_DELETE);
        CHECK_INT(cs_record_ts(c[1].record), 1003);
        CHECK_INT(v_of(&c[3]), 2);
    }
    for (size_t i = 0; i < n; i++)
        CHECK_INT(complete1(b, c[i].seq, i == 3 ? CS_RETRY : CS_OK, INT64_MAX), 0);
    drop_claims(c, n);

    /* a new change of a key waiting for its retry replaces it and is due at once */
    CHECK_INT(claim(b, cs_now_ms(), 8, c), 0);
    CHECK_INT(enq1(b, "x", 3), 0);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? v_of(&c[0]) : 0, 3);
    CHECK_INT(n == 1 ? c[0].attempts : -1, 0);
    drop_claims(c, n);
    cs_backlog_close(b);
    free(path);
}

/* An upsert over a pending upsert keeps the older fields the newer one lacks (two PATCHes by key), with
 * explicit nulls kept; a delete replaces everything; an upsert after a pending delete starts afresh. */
static void test_coalesce_merges_upserts(void)
{
    struct cs_backlog *b = fresh("merge", NULL);
    cs_record *r[1];
    struct cs_claim c[4];
    char *text;
    size_t n;

    r[0] = cs_record_new("contacts", "m", CS_OP_UPSERT,
                         json_pack("{s:s, s:s, s:i}", "name", "Ada", "birth", "1815", "v", 1), 1);
    CHECK_INT(enq(b, r, 1, NULL, NULL), 0);
    r[0] = cs_record_new("contacts", "m", CS_OP_UPSERT, json_pack("{s:s, s:n, s:i}", "name", "Ada L.", "phone", "v", 2),
                         2);
    CHECK_INT(enq(b, r, 1, NULL, NULL), 0);
    r[0] = cs_record_new("contacts", "d", CS_OP_UPSERT, json_pack("{s:s}", "name", "Bob"), 1);
    CHECK_INT(enq(b, r, 1, NULL, NULL), 0);
    r[0] = cs_record_new("contacts", "d", CS_OP_DELETE, NULL, 2);
    CHECK_INT(enq(b, r, 1, NULL, NULL), 0);
    r[0] = cs_record_new("contacts", "d", CS_OP_UPSERT, json_pack("{s:s}", "email", "bob@example.org"), 3);
    CHECK_INT(enq(b, r, 1, NULL, NULL), 0);
    n = claim(b, cs_now_ms(), 4, c);
    CHECK_INT(n, 2);
    if (n == 2) {
        text = json_dumps(cs_record_payload(c[0].record), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(text, "{\"birth\":\"1815\",\"name\":\"Ada L.\",\"phone\":null,\"v\":2}");
        free(text);
        text = json_dumps(cs_record_payload(c[1].record), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(text, "{\"email\":\"bob@example.org\"}"); /* not merged across the delete */
        free(text);
        CHECK_INT(cs_record_op(c[1].record), CS_OP_UPSERT);
    }
    drop_claims(c, n);
    cs_backlog_close(b);
}

/* ---- per-key order ----------------------------------------------------------------------------- */

static void test_per_key_order(void)
{
    char *path;
    struct cs_backlog *b = fresh("order", &path);
    struct cs_claim c[8], c2[8];
    size_t n;

    CHECK_INT(enq1(b, "k", 1), 0);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 1);
    CHECK_INT(enq1(b, "k", 2), 0); /* the key is in flight: a second row */
    CHECK_INT(queued(b), 2);
    CHECK_INT(claim(b, cs_now_ms(), 8, c2), 0);
    CHECK_INT(enq1(b, "k", 3), 0); /* coalesces into the second row */
    CHECK_INT(queued(b), 2);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog WHERE record_key = 'k'"), 2);
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);
    CHECK_INT(queued(b), 1);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? v_of(&c[0]) : 0, 3);
    CHECK_INT(claim(b, cs_now_ms(), 8, c2), 0);
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);

    /* two rows of one key, neither in flight (released): one batch takes only the older */
    CHECK_INT(enq1(b, "k", 4), 0);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(enq1(b, "k", 5), 0);
    CHECK_INT(n == 1 ? cs_backlog_release(b, WF, &c[0].seq, 1) : -1, 0);
    drop_claims(c, n);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? v_of(&c[0]) : 0, 4);
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n == 1 ? v_of(&c[0]) : 0, 5);
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);
    CHECK_INT(queued(b), 0);
    cs_backlog_close(b);
    free(path);
}

/* Two writers claim and complete while a producer enqueues many versions of few keys. */
#define T_KEYS     8
#define T_VERSIONS 300

struct shared {
    struct cs_backlog *b;
    pthread_mutex_t mu;
    int producer_done;
    int holder[T_KEYS];    /* writer holding the key, 0 for none */
    int last_seen[T_KEYS]; /* newest version handed out */
    int last_ok[T_KEYS];   /* newest version written */
    int overlaps, disorder, errors;
};

struct writer {
    struct shared *s;
    int id;
};

static void note_claim(struct shared *s, int me, const struct cs_claim *c)
{
    int k = atoi(cs_record_key(c->record) + 1), v = v_of(c);
    pthread_mutex_lock(&s->mu);
    s->overlaps += s->holder[k] != 0;
    s->holder[k] = me;
    s->disorder += v < s->last_seen[k];
    s->last_seen[k] = v;
    pthread_mutex_unlock(&s->mu);
}

/* Called before complete(): the key stays in flight in the backlog until complete() returns. */
static void note_done(struct shared *s, const struct cs_claim *c, cs_status status)
{
    int k = atoi(cs_record_key(c->record) + 1), v = v_of(c);
    pthread_mutex_lock(&s->mu);
    s->holder[k] = 0;
    if (status == CS_OK) {
        s->disorder += v <= s->last_ok[k];
        s->last_ok[k] = v;
    }
    pthread_mutex_unlock(&s->mu);
}

static int producer_done(struct shared *s)
{
    int done;
    pthread_mutex_lock(&s->mu);
    done = s->producer_done;
    pthread_mutex_unlock(&s->mu);
    return done;
}

static void count_error(struct shared *s)
{
    pthread_mutex_lock(&s->mu);
    s->errors++;
    pthread_mutex_unlock(&s->mu);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct shared *s = w->s;
    unsigned seed = (unsigned)w->id;
    struct cs_claim c[4];
    struct cs_outcome o[4];
    size_t n;

    for (;;) {
        int done = producer_done(s); /* read before claiming: every enqueue is committed by then */
        int64_t due = 0;
        if (cs_backlog_claim(s->b, WF, cs_now_ms(), 4, c, &n) != 0)
            count_error(s);
        if (n == 0) {
            /* Nothing claimable now. next_due skips keys in flight, so INT64_MAX means that every row
             * left, if any, is held by the other writer, which finishes it. */
            if (cs_backlog_next_due(s->b, WF, &due) != 0)
                count_error(s);
            if (done && due == INT64_MAX)
                break;
            sched_yield();
            continue;
        }
        for (size_t i = 0; i < n; i++)
            note_claim(s, w->id, &c[i]);
        sched_yield();
        for (size_t i = 0; i < n; i++) {
            o[i] = (struct cs_outcome){.seq = c[i].seq, .status = rand_r(&seed) % 6 ? CS_OK : CS_RETRY};
            note_done(s, &c[i], o[i].status);
        }
        if (cs_backlog_complete(s->b, WF, o, n, NULL) != 0)
            count_error(s);
        drop_claims(c, n);
    }
    return NULL;
}

static void test_concurrent_writers(void)
{
    struct shared s = {.b = fresh("threads", NULL), .mu = PTHREAD_MUTEX_INITIALIZER};
    struct writer w[2] = {{&s, 1}, {&s, 2}};
    pthread_t t[2];
    char key[8];

    for (int i = 0; i < 2; i++)
        CHECK_INT(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    for (int v = 1; v <= T_VERSIONS; v++) {
        cs_record *recs[T_KEYS];
        for (int k = 0; k < T_KEYS; k++) {
            snprintf(key, sizeof key, "k%d", k);
            recs[k] = rec_v(key, v);
        }
        CHECK_INT(enq(s.b, recs, T_KEYS, NULL, NULL), 0);
        if (v % 7 == 0)
            sched_yield();
    }
    pthread_mutex_lock(&s.mu);
    s.producer_done = 1;
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);

    CHECK_INT(s.errors, 0);
    CHECK_INT(s.overlaps, 0);
    CHECK_INT(s.disorder, 0);
    for (int k = 0; k < T_KEYS; k++)
        CHECK_INT(s.last_ok[k], T_VERSIONS);
    CHECK_INT(queued(s.b), 0);
    CHECK_INT(dead(s.b), 0);
    cs_backlog_close(s.b);
}

/* ---- retry ------------------------------------------------------------------------------------- */

static void test_retry(void)
{
    char *path, *err;
    struct cs_backlog *b = fresh("retry", &path);
    const int64_t now = 1000000;
    struct cs_claim c[4];
    struct cs_outcome o = {.status = CS_RETRY, .http_status = 503, .detail = "busy", .next_attempt_at = now + 5000};
    int64_t due = 0;
    size_t n;

    CHECK_INT(enq1(b, "a", 1), 0);
    CHECK_INT(cs_backlog_next_due(b, WF, &due), 0);
    CHECK_INT(due, 0);
    n = claim(b, now, 4, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? c[0].attempts : -1, 0);
    CHECK(n == 1 && c[0].enqueued_at > 0);
    CHECK_INT(cs_backlog_next_due(b, WF, &due), 0);
    CHECK_INT(due, INT64_MAX); /* its only row is in flight */
    o.seq = n == 1 ? c[0].seq : 0;
    drop_claims(c, n);
    CHECK_INT(cs_backlog_complete(b, WF, &o, 1, NULL), 0);
    CHECK_INT(queued(b), 1);
    CHECK_INT(claim(b, now, 4, c), 0);
    CHECK_INT(claim(b, now + 4999, 4, c), 0);
    CHECK_INT(cs_backlog_next_due(b, WF, &due), 0);
    CHECK_INT(due, now + 5000);
    err = raw_text(path, "SELECT last_error FROM backlog");
    CHECK_STR(err, "HTTP 503: busy");
    free(err);

    n = claim(b, now + 5000, 4, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? c[0].attempts : -1, 1);
    o = (struct cs_outcome){.seq = o.seq, .status = CS_RETRY, .detail = "timeout", .next_attempt_at = now + 6000};
    drop_claims(c, n);
    CHECK_INT(cs_backlog_complete(b, WF, &o, 1, NULL), 0);
    CHECK_INT(raw_int(path, "SELECT attempts FROM backlog"), 2);
    err = raw_text(path, "SELECT last_error FROM backlog");
    CHECK_STR(err, "timeout");
    free(err);

    /* superseded: a newer change arrives while the row is in flight, then the row fails */
    n = claim(b, now + 6000, 4, c);
    CHECK_INT(n, 1);
    CHECK_INT(enq1(b, "a", 2), 0);
    CHECK_INT(queued(b), 2);
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_RETRY, now + 99999) : -1, 0);
    drop_claims(c, n);
    CHECK_INT(queued(b), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog"), 1);
    n = claim(b, now + 6000, 4, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? v_of(&c[0]) : 0, 2);
    CHECK_INT(n == 1 ? c[0].attempts : -1, 0);
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);
    CHECK_INT(queued(b), 0);
    cs_backlog_close(b);
    free(path);
}

/* ---- reject and dead letters ------------------------------------------------------------------- */

static void test_reject(void)
{
    char *path;
    struct cs_backlog *b = fresh("reject", &path);
    struct cs_claim c[8];
    struct cs_outcome o[2];
    json_t *list = NULL, *d;
    size_t n;

    CHECK_INT(enq1(b, "a", 1), 0);
    CHECK_INT(enq1(b, "b", 1), 0);
    n = claim(b, cs_now_ms(), 4, c);
    CHECK_INT(n, 2);
    if (n == 2) {
        o[0] = (struct cs_outcome){
            .seq = c[0].seq, .status = CS_REJECT, .http_status = 400, .detail = "bad email", .failed_in = "campaign"};
        o[1] = (struct cs_outcome){.seq = c[1].seq,
                                   .status = CS_REJECT,
                                   .http_status = 503,
                                   .detail = "gave up",
                                   .failed_in = "campaign",
                                   .error_class = "retries_exhausted"};
        CHECK_INT(cs_backlog_complete(b, WF, o, 2, NULL), 0);
    }
    drop_claims(c, n);
    CHECK_INT(queued(b), 0);
    CHECK_INT(dead(b), 2);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog"), 0);

    CHECK_INT(cs_backlog_dead_list(b, WF, 0, 10, 1, &list), 0);
    CHECK_INT(json_array_size(list), 2);
    d = json_array_get(list, 0); /* newest first */
    CHECK_STR(json_string_value(json_object_get(d, "key")), "b");
    CHECK_STR(json_string_value(json_object_get(d, "error_class")), "retries_exhausted");
    d = json_array_get(list, 1);
    CHECK_STR(json_string_value(json_object_get(d, "key")), "a");
    CHECK_STR(json_string_value(json_object_get(d, "stream")), "contacts");
    CHECK_STR(json_string_value(json_object_get(d, "op")), "upsert");
    CHECK_STR(json_string_value(json_object_get(d, "error_class")), "rejected");
    CHECK_INT(json_integer_value(json_object_get(d, "http_status")), 400);
    CHECK_STR(json_string_value(json_object_get(d, "detail")), "bad email");
    CHECK_STR(json_string_value(json_object_get(d, "failed_in")), "campaign");
    CHECK_INT(json_integer_value(json_object_get(d, "attempts")), 1);
    CHECK(json_integer_value(json_object_get(d, "failed_at")) > 0);
    CHECK(json_is_null(json_object_get(d, "redriven_at")));
    CHECK_INT(json_integer_value(json_object_get(json_object_get(d, "payload"), "v")), 1);
    CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "id")) >
          json_integer_value(json_object_get(d, "id")));
    json_decref(list);

    /* refused outcomes change nothing and leave the row in flight */
    CHECK_INT(enq1(b, "c", 1), 0);
    n = claim(b, cs_now_ms(), 4, c);
    CHECK_INT(n, 1);
    o[0] = (struct cs_outcome){.seq = n ? c[0].seq : 0, .status = CS_REJECT, .error_class = "bogus"};
    CHECK_INT(cs_backlog_complete(b, WF, o, 1, NULL), CS_E_INVAL);
    o[0].status = CS_FATAL;
    CHECK_INT(cs_backlog_complete(b, WF, o, 1, NULL), CS_E_INVAL);
    CHECK_INT(complete1(b, 999999, CS_OK, 0), CS_E_STATE);
    CHECK_INT(queued(b), 1);
    CHECK_INT(dead(b), 2);
    CHECK_INT(claim(b, cs_now_ms(), 4, c + 4), 0);

    /* a database failure in complete loses nothing: the row stays, in flight, and can complete later */
    raw_fail_on(path, "backlog", "DELETE");
    CHECK_INT(n == 1 ? reject1(b, c[0].seq) : -1, CS_E_DB);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM dead_letter"), 2);
    CHECK_INT(queued(b), 1);
    CHECK_INT(dead(b), 2);
    CHECK_INT(claim(b, cs_now_ms(), 4, c + 4), 0);
    raw_fail_off(path, "backlog");
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);
    CHECK_INT(queued(b), 0);
    cs_backlog_close(b);
    free(path);
}

/* The automatic redrive takes the dead letters of one HTTP status whose source time is recent enough. */
static void test_redrive_matching(void)
{
    struct cs_backlog *b = fresh("redrive-matching", NULL);
    int64_t now = cs_now_ms();
    struct {
        const char *key;
        int http;
        int64_t ts;
    } letters[] = {
        {"fresh404", 404, now}, {"old404", 404, now - 10 * 86400000LL}, {"fresh500", 500, now}, {"notime404", 404, 0}};
    struct cs_redrive_filter f = {404, now - 86400000LL};
    size_t n = 9;
    for (size_t i = 0; i < sizeof letters / sizeof *letters; i++) {
        cs_record *r = cs_record_new("events", letters[i].key, CS_OP_UPSERT, NULL, letters[i].ts);
        struct cs_dead_in dl = {.record = r,
                                .error_class = "rejected",
                                .http_status = letters[i].http,
                                .detail = "refused",
                                .failed_in = "sink"};
        struct cs_enqueue e = {.dead = &dl, .n_dead = 1};
        CHECK_INT(cs_backlog_enqueue(b, WF, &e), 0);
        json_decref(r);
    }
    CHECK_INT(dead(b), 4);
    CHECK_INT(cs_backlog_dead_redrive_matching(b, WF, &f, &n), 0);
    CHECK_INT(n, 1); /* fresh404 only: not the old one, not the 500, not the one without a time */
    CHECK_INT(dead(b), 3);
    CHECK_INT(queued(b), 1);
    CHECK_INT(cs_backlog_dead_redrive_matching(b, WF, &f, &n), 0);
    CHECK_INT(n, 0); /* redriven once */
    f.min_ts = 0;
    CHECK_INT(cs_backlog_dead_redrive_matching(b, WF, &f, &n), 0);
    CHECK_INT(n, 2); /* any time: old404 and notime404 */
    CHECK_INT(dead(b), 1);
    cs_backlog_close(b);
}

static void test_mapping_dead(void)
{
    struct cs_backlog *b = fresh("mapping", NULL);
    json_t *raw = json_pack("{s:s, s:s, s:s, s:{s:s}, s:i}", "stream", "contact", "key", "m1", "op", "upsert",
                            "payload", "emailaddress1", "x@example.com", "ts", 5);
    struct cs_dead_in dl = {
        .record = raw, .error_class = "mapping_failed", .detail = "no such field", .failed_in = "map"};
    cs_record *recs[1] = {rec_v("r1", 1)};
    struct cs_enqueue e = {.records = recs, .n_records = 1, .dead = &dl, .n_dead = 1};
    json_t *list = NULL, *d, *cursor = NULL;
    int64_t oldest = 0, before = 0;
    size_t n = 9, seen = 0;

    e.cursor_stream = "contact";
    e.cursor = json_pack("{s:s}", "token", "m");
    CHECK_INT(cs_backlog_enqueue(b, WF, &e), 0);
    json_decref((json_t *)e.cursor);
    json_decref(recs[0]);
    CHECK_INT(queued(b), 1);
    CHECK_INT(dead(b), 1);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "contact", &cursor), 0);
    CHECK(cursor != NULL);
    json_decref(cursor);

    CHECK_INT(cs_backlog_dead_list(b, WF, 0, 10, 0, &list), 0);
    d = json_array_get(list, 0);
    CHECK_INT(json_array_size(list), 1);
    CHECK_STR(json_string_value(json_object_get(d, "error_class")), "mapping_failed");
    CHECK_STR(json_string_value(json_object_get(d, "key")), "m1");
    CHECK_STR(json_string_value(json_object_get(d, "failed_in")), "map");
    CHECK(json_is_null(json_object_get(d, "http_status")));
    CHECK(json_object_get(d, "payload") == NULL);
    json_decref(list);
    CHECK_INT(cs_backlog_dead_list(b, WF, 0, 10, 1, &list), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(list, 0), "payload"), "emailaddress1")),
              "x@example.com");
    oldest = json_integer_value(json_object_get(json_array_get(list, 0), "id"));
    json_decref(list);

    /* a bad dead letter refuses the whole batch */
    dl.error_class = "oops";
    e = (struct cs_enqueue){.dead = &dl, .n_dead = 1};
    CHECK_INT(cs_backlog_enqueue(b, WF, &e), CS_E_INVAL);
    dl.error_class = "mapping_failed";
    for (int i = 0; i < 4; i++)
        CHECK_INT(cs_backlog_enqueue(b, WF, &e), 0);
    CHECK_INT(dead(b), 5);

    /* paging newest first by id: 2 + 2 + 1 */
    for (int page = 0; page < 3; page++) {
        CHECK_INT(cs_backlog_dead_list(b, WF, before, 2, 0, &list), 0);
        CHECK_INT(json_array_size(list), page < 2 ? 2 : 1);
        for (size_t i = 0; i < json_array_size(list); i++) {
            int64_t id = json_integer_value(json_object_get(json_array_get(list, i), "id"));
            CHECK(before == 0 || id < before);
            before = id;
            seen++;
        }
        json_decref(list);
    }
    CHECK_INT(seen, 5);
    CHECK_INT(before, oldest); /* the oldest comes last */

    /* a mapping failure holds the record as the source read it: redriving it maps it again, with the
     * mapping of the current run; of the other four letters of that key, now queued, none goes back */
    CHECK_INT(cs_backlog_dead_redrive(b, WF, oldest, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, oldest, &n), CS_E_STATE);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, 0, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(dead(b), 0);
    CHECK_INT(queued(b), 2);
    json_decref(raw);
    cs_backlog_close(b);
}

/* Any malformed record is a dead letter, without a stream, a key or a record at all, so that the
 * records and the cursor committed with it are stored. */
static void test_malformed_dead(void)
{
    struct cs_backlog *b = fresh("malformed", NULL);
    json_t *keyless = json_pack("{s:s, s:{s:s}}", "op", "upsert", "payload", "firstname", "Ann"), *list = NULL,
           *cursor = NULL, *d;
    struct cs_dead_in bad[2] = {{.record = keyless, .error_class = "mapping_failed", .detail = "no key"},
                                {.record = NULL, .error_class = "mapping_failed", .detail = "no record"}};
    cs_record *recs[1] = {rec_v("r1", 1)};
    struct cs_enqueue e = {.records = recs, .n_records = 1, .dead = bad, .n_dead = 2, .cursor_stream = "contact"};
    size_t n = 0;

    e.cursor = json_pack("{s:s}", "token", "after-bad");
    CHECK_INT(cs_backlog_enqueue(b, WF, &e), 0);
    json_decref((json_t *)e.cursor);
    json_decref(keyless);
    json_decref(recs[0]);
    CHECK_INT(queued(b), 1);
    CHECK_INT(dead(b), 2);
    CHECK_INT(cs_backlog_cursor_get(b, WF, "contact", &cursor), 0);
    CHECK_STR(json_string_value(json_object_get(cursor, "token")), "after-bad");
    json_decref(cursor);
    CHECK_INT(cs_backlog_dead_list(b, WF, 0, 2, 1, &list), 0);
    d = json_array_get(list, 1); /* newest first */
    CHECK_STR(json_string_value(json_object_get(json_object_get(d, "payload"), "firstname")), "Ann");
    CHECK_STR(json_string_value(json_object_get(d, "detail")), "no key");
    /* they cannot be written: a redrive of all leaves them, one of them alone is refused, saying why */
    CHECK_INT(cs_backlog_dead_redrive(b, WF, 0, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(dead(b), 2);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, json_integer_value(json_object_get(d, "id")), &n), CS_E_STATE);
    CHECK_CONTAINS(cs_backlog_errmsg(b), "is a malformed record (no key, stream or operation) and cannot be written");
    json_decref(list);
    cs_backlog_close(b);
}

/* A claimed row that another process took away: completing it fails with that cause (the message
 * was empty), for each outcome. */
static void test_row_taken(void)
{
    char *path;
    struct cs_backlog *b = fresh("taken", &path);
    struct cs_claim c[3];
    const cs_status outcomes[3] = {CS_OK, CS_REJECT, CS_RETRY};
    size_t n;

    for (int i = 0; i < 3; i++)
        CHECK_INT(enq1(b, i == 0 ? "a" : i == 1 ? "b" : "c", 1), 0);
    n = claim(b, 0, 3, c);
    CHECK_INT(n, 3);
    raw_exec(path, "DELETE FROM backlog");
    for (size_t i = 0; i < n; i++) {
        CHECK(complete1(b, c[i].seq, outcomes[i], 0) != 0);
        CHECK_CONTAINS(cs_backlog_errmsg(b), "is no longer in");
        CHECK_CONTAINS(cs_backlog_errmsg(b), "another process writes to this state database?");
    }
    drop_claims(c, n);
    cs_backlog_close(b);
    free(path);
}

/* ---- redrive ----------------------------------------------------------------------------------- */

/* Enqueue key at version v, claim it and reject it. */
static void make_dead(struct cs_backlog *b, const char *key, int v)
{
    struct cs_claim c[1];
    size_t n;
    CHECK_INT(enq1(b, key, v), 0);
    n = claim(b, cs_now_ms(), 1, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? reject1(b, c[0].seq) : -1, 0);
    drop_claims(c, n);
}

static int64_t newest_dead_id(struct cs_backlog *b)
{
    json_t *list = NULL;
    int64_t id;
    CHECK_INT(cs_backlog_dead_list(b, WF, 0, 1, 0, &list), 0);
    id = json_integer_value(json_object_get(json_array_get(list, 0), "id"));
    json_decref(list);
    return id;
}

static void test_redrive(void)
{
    struct cs_backlog *b = fresh("redrive", NULL);
    struct cs_claim c[8];
    json_t *list = NULL;
    size_t n = 9;
    int64_t id;

    make_dead(b, "x", 1);
    make_dead(b, "y", 1);
    CHECK_INT(enq1(b, "y", 2), 0); /* a newer change of y is pending */
    CHECK_INT(queued(b), 1);
    CHECK_INT(dead(b), 2);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, 0, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(queued(b), 2);
    CHECK_INT(dead(b), 0);
    CHECK_INT(cs_backlog_dead_list(b, WF, 0, 10, 0, &list), 0);
    CHECK_INT(json_array_size(list), 2);
    for (size_t i = 0; i < json_array_size(list); i++)
        CHECK(json_integer_value(json_object_get(json_array_get(list, i), "redriven_at")) > 0);
    json_decref(list);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(cs_record_key(c[0].record), "y");
        CHECK_INT(v_of(&c[0]), 2);
        CHECK_STR(cs_record_key(c[1].record), "x"); /* requeued: a new row at the end */
        CHECK_INT(v_of(&c[1]), 1);
        CHECK_INT(c[1].attempts, 0);
    }
    for (size_t i = 0; i < n; i++)
        CHECK_INT(complete1(b, c[i].seq, CS_OK, 0), 0);
    drop_claims(c, n);

    /* one by id; again: already redriven; unknown id */
    make_dead(b, "x", 2);
    id = newest_dead_id(b);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, id, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(queued(b), 1);
    CHECK_INT(dead(b), 0);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, id, &n), CS_E_STATE);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, id + 1000, &n), CS_E_NOTFOUND);
    CHECK_INT(cs_backlog_dead_redrive(b, "other", id, &n), CS_E_NOTFOUND);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? v_of(&c[0]) : 0, 2);
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);

    /* one by id while its key has a pending change: marked, not requeued */
    make_dead(b, "w", 1);
    id = newest_dead_id(b);
    CHECK_INT(enq1(b, "w", 2), 0);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, id, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(queued(b), 1);
    CHECK_INT(dead(b), 0);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n == 1 ? v_of(&c[0]) : 0, 2);
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);

    /* two dead letters of one key: only the newest goes back */
    make_dead(b, "z", 1);
    make_dead(b, "z", 2);
    CHECK_INT(cs_backlog_dead_redrive(b, WF, 0, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(dead(b), 0);
    n = claim(b, cs_now_ms(), 8, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? v_of(&c[0]) : 0, 2);
    drop_claims(c, n);
    cs_backlog_close(b);
}

/* ---- release and crash recovery ---------------------------------------------------------------- */

static void test_release(void)
{
    struct cs_backlog *b = fresh("release", NULL);
    struct cs_claim c[4], c2[4];
    int64_t seqs[2];
    size_t n, n2;

    CHECK_INT(enq1(b, "a", 1), 0);
    CHECK_INT(enq1(b, "b", 1), 0);
    n = claim(b, cs_now_ms(), 4, c);
    CHECK_INT(n, 2);
    CHECK_INT(n ? cs_backlog_release(b, WF, &c[0].seq, 1) : -1, 0);
    n2 = claim(b, cs_now_ms(), 4, c2);
    CHECK_INT(n2, 1);
    CHECK_STR(n2 == 1 ? cs_record_key(c2[0].record) : NULL, "a");
    CHECK_INT(n2 == 1 ? c2[0].attempts : -1, 0);
    drop_claims(c2, n2);
    seqs[0] = n == 2 ? c[0].seq : 0;
    seqs[1] = 424242; /* never claimed: refused, and nothing is released */
    CHECK_INT(cs_backlog_release(b, WF, seqs, 2), CS_E_STATE);
    CHECK_INT(claim(b, cs_now_ms(), 4, c2), 0);
    seqs[1] = n == 2 ? c[1].seq : 0;
    CHECK_INT(cs_backlog_release(b, WF, seqs, 2), 0);
    drop_claims(c, n);
    CHECK_INT(queued(b), 2);
    n = claim(b, cs_now_ms(), 4, c);
    CHECK_INT(n, 2);
    CHECK_INT(n == 2 ? c[0].attempts + c[1].attempts : -1, 0);
    drop_claims(c, n);
    cs_backlog_close(b);
}

/* The keys of claims c[0..n) joined by spaces, for comparisons (drops the claims). */
static const char *keys_of(struct cs_claim *c, size_t n)
{
    static char out[256];
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", i ? " " : "", cs_record_key(c[i].record));
    drop_claims(c, n);
    return out;
}

/* The one row a claim of at most one takes, which must be of `key`. */
static struct cs_claim claim_one(struct cs_backlog *b, int64_t now, const char *key)
{
    struct cs_claim c = {0};
    size_t n = claim(b, now, 1, &c);
    CHECK_INT(n, 1);
    CHECK_STR(n == 1 ? cs_record_key(c.record) : NULL, key);
    return c;
}

/* A claim starts past the rows earlier claims passed (not walking the rows in flight again), yet no row
 * is left behind: a row released, a row retried (once due), a row scheduled for later among the rows a
 * claim passes, a row held while its key is in flight. */
static void test_claim_start(void)
{
    struct cs_backlog *b = fresh("claim_start", NULL);
    struct cs_claim x, y, c[8];
    int64_t now = cs_now_ms();
    size_t n;

    /* released */
    CHECK_INT(enq1(b, "a0", 0) || enq1(b, "a1", 1), 0);
    x = claim_one(b, now, "a0");
    y = claim_one(b, now, "a1");
    CHECK_INT(cs_backlog_release(b, WF, &x.seq, 1), 0);
    n = claim(b, now, 8, c);
    CHECK_STR(keys_of(c, n), "a0");
    CHECK_INT(complete1(b, x.seq, CS_OK, 0) || complete1(b, y.seq, CS_OK, 0), 0);
    drop_claims(&x, 1);
    drop_claims(&y, 1);

    /* retried */
    CHECK_INT(enq1(b, "b0", 0) || enq1(b, "b1", 1), 0);
    x = claim_one(b, now, "b0");
    y = claim_one(b, now, "b1");
    CHECK_INT(complete1(b, x.seq, CS_RETRY, now + 60000), 0);
    CHECK_INT(claim(b, now, 8, c), 0);
    n = claim(b, now + 60001, 8, c);
    CHECK_STR(keys_of(c, n), "b0");
    CHECK_INT(complete1(b, x.seq, CS_OK, 0) || complete1(b, y.seq, CS_OK, 0), 0);
    drop_claims(&x, 1);
    drop_claims(&y, 1);

    /* scheduled for later, among rows a claim passes */
    CHECK_INT(enq1(b, "c0", 0) || enq1(b, "c1", 1) || enq1(b, "c2", 2), 0);
    x = claim_one(b, now, "c0");
    CHECK_INT(complete1(b, x.seq, CS_RETRY, now + 60000), 0);
    drop_claims(&x, 1);
    n = claim(b, now, 8, c);
    CHECK_STR(keys_of(c, n), "c1 c2");
    n = claim(b, now + 60001, 8, c);
    CHECK_INT(n, 1);
    CHECK_STR(n == 1 ? cs_record_key(c[0].record) : NULL, "c0");
    CHECK_INT(n == 1 ? complete1(b, c[0].seq, CS_OK, 0) : -1, 0);
    drop_claims(c, n);

    /* held while its key is in flight */
    CHECK_INT(enq1(b, "d0", 0) || enq1(b, "d1", 1), 0);
    x = claim_one(b, now, "d0");
    CHECK_INT(enq1(b, "d0", 10) || enq1(b, "d2", 2), 0); /* a second row of d0, then d2 */
    n = claim(b, now, 8, c);
    CHECK_STR(keys_of(c, n), "d1 d2");
    CHECK_INT(complete1(b, x.seq, CS_OK, 0), 0);
    drop_claims(&x, 1);
    n = claim(b, now, 8, c);
    CHECK_INT(n, 1);
    CHECK_INT(n == 1 ? v_of(&c[0]) : -1, 10);
    drop_claims(c, n);
    cs_backlog_close(b);
}

static void test_crash_recovery(void)
{
    char *path;
    struct cs_backlog *b = fresh("crash", &path);
    struct cs_claim c[4];
    size_t n;

    CHECK_INT(enq1(b, "k", 1), 0);
    CHECK_INT(enq1(b, "m", 1), 0);
    n = claim(b, cs_now_ms(), 4, c);
    CHECK_INT(n, 2);
    drop_claims(c, n);
    CHECK_INT(enq1(b, "k", 2), 0); /* k in flight: a second row */
    CHECK_INT(queued(b), 3);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog"), 3);
    cs_backlog_close(b); /* as if the daemon died: nothing completed */

    b = open_db(path);
    CHECK_INT(queued(b), 2);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog WHERE record_key = 'k'"), 1);
    n = claim(b, cs_now_ms(), 4, c);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(cs_record_key(c[0].record), "m");
        CHECK_STR(cs_record_key(c[1].record), "k");
        CHECK_INT(v_of(&c[1]), 2);
    }
    for (size_t i = 0; i < n; i++)
        CHECK_INT(complete1(b, c[i].seq, CS_OK, 0), 0);
    drop_claims(c, n);
    CHECK_INT(queued(b), 0);
    cs_backlog_close(b);
    free(path);
}

/* PostgreSQL only: a connection the server cuts fails the call under way, the next call connects again,
 * and a release the database missed is made then: the rows are claimable again, nothing lost. */
static void test_connection_lost(void)
{
    char *path;
    struct cs_backlog *b = fresh("lost", &path);
    const char *cut =
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'crmsyncd'";
    struct cs_claim c[4];
    int64_t seqs[2];
    size_t n;

    CHECK_INT(enq1(b, "a", 1), 0);
    CHECK_INT(enq1(b, "b", 1), 0);
    n = claim(b, cs_now_ms(), 4, c);
    CHECK_INT(n, 2);
    for (size_t i = 0; i < n && i < 2; i++)
        seqs[i] = c[i].seq;
    drop_claims(c, n);
    CHECK_INT(raw_int(path, cut), 1);
    CHECK_INT(cs_backlog_release(b, WF, seqs, n), CS_E_DB); /* the cut connection */
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog WHERE claimed_by IS NOT NULL"), 2);
    n = claim(b, cs_now_ms(), 4, c); /* connects again, releases, claims */
    CHECK_INT(n, 2);
    for (size_t i = 0; i < n; i++)
        CHECK_INT(complete1(b, c[i].seq, CS_OK, 0), 0);
    drop_claims(c, n);
    CHECK_INT(queued(b), 0);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog"), 0);
    cs_backlog_close(b);
    free(path);
}

/* PostgreSQL only: two members of a fleet. The reader lease is one member's; the other's enqueue is
 * fenced (nothing of it committed). A member silent for longer than its lease is swept by the other's
 * heartbeat: its claims are released (claimable again), its lease taken, and its late enqueue fenced. */
static void test_fleet(void)
{
    char *path, *holder = NULL;
    struct cs_backlog *a = fresh("fleet", &path), *b = open_db(path);
    json_t *swept = NULL, *writers = json_object();
    struct cs_claim c[4];
    size_t n;

    CHECK_INT(cs_backlog_join(a, &(struct cs_member){"a", "h", NULL, 3000}, &holder), 0);
    CHECK_INT(cs_backlog_join(b, &(struct cs_member){"b", "h", NULL, 3000}, &holder), 0);
    CHECK_INT(enq1(a, "k", 1), CS_E_FENCED); /* no lease yet */
    CHECK_INT(cs_backlog_lease_take(a, WF, &holder), 1);
    CHECK_INT(cs_backlog_lease_held(a, WF), 1);
    CHECK_INT(cs_backlog_lease_take(b, WF, &holder), 0);
    CHECK_STR(holder, "a");
    free(holder);
    CHECK_INT(cs_backlog_lease_held(b, WF), 0);
    CHECK_INT(enq1(b, "k", 1), CS_E_FENCED);
    CHECK_CONTAINS(cs_backlog_errmsg(b), "reader lease lost to node a");
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog"), 0);
    CHECK_INT(enq1(a, "k", 1), 0);
    CHECK_INT(enq1(a, "m", 1), 0);
    n = claim(a, cs_now_ms(), 4, c);
    CHECK_INT(n, 2);
    drop_claims(c, n);
    CHECK_INT(claim(b, cs_now_ms(), 4, c), 0); /* both keys in flight at a */

    /* a falls silent: its heartbeat and lease are older than the lease */
    raw_exec(path, "UPDATE member SET heartbeat = now() - interval '10 s' WHERE node = 'a';"
                   "UPDATE reader_lease SET expires_at = now() - interval '7 s' WHERE holder = 'a'");
    CHECK_INT(cs_backlog_heartbeat(b, writers, &swept), 0);
    CHECK_INT(json_array_size(swept), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(swept, 0), "node")), "a");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(swept, 0), "claims")), 2);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM member WHERE node = 'a'"), 0);
    n = claim(b, cs_now_ms(), 4, c); /* a's in-flight rows: claimable again (the duplicate window) */
    CHECK_INT(n, 2);
    for (size_t i = 0; i < n; i++)
        CHECK_INT(complete1(b, c[i].seq, CS_OK, 0), 0);
    drop_claims(c, n);
    CHECK_INT(cs_backlog_lease_take(b, WF, &holder), 1);
    CHECK_INT(enq1(a, "late", 1), CS_E_FENCED); /* a's late commit: refused */
    CHECK_CONTAINS(cs_backlog_errmsg(a), "reader lease lost to node b");
    CHECK_INT(raw_int(path, "SELECT count(*) FROM backlog WHERE record_key = 'late'"), 0);
    CHECK_INT(enq1(b, "k", 2), 0);
    json_decref(swept);
    json_decref(writers);
    cs_backlog_close(b);
    cs_backlog_close(a);
    free(path);
}

/* ---- kv, revisions, workflow state ------------------------------------------------------------ */

static void test_kv(void)
{
    struct cs_backlog *b = fresh("kv", NULL);
    char *v = (char *)"unset";

    CHECK_INT(cs_backlog_kv_get(b, "campaign", "k", &v), 0);
    CHECK(v == NULL);
    CHECK_INT(cs_backlog_kv_put(b, "campaign", "k", "1"), 0);
    CHECK_INT(cs_backlog_kv_put(b, "d365", "k", "other"), 0);
    CHECK_INT(cs_backlog_kv_put(b, "campaign", "k", "2"), 0);
    CHECK_INT(cs_backlog_kv_get(b, "campaign", "k", &v), 0);
    CHECK_STR(v, "2");
    free(v);
    CHECK_INT(cs_backlog_kv_put(b, "campaign", "k", NULL), 0);
    CHECK_INT(cs_backlog_kv_get(b, "campaign", "k", &v), 0);
    CHECK(v == NULL);
    CHECK_INT(cs_backlog_kv_get(b, "d365", "k", &v), 0);
    CHECK_STR(v, "other");
    free(v);
    cs_backlog_close(b);
}

static void test_revisions(void)
{
    struct cs_backlog *b = fresh("revisions", NULL);
    char *def = NULL, *src = NULL;
    int64_t rev = 0, created = 0;
    json_t *list = NULL;

    CHECK_INT(cs_backlog_revision_latest(b, WF, NULL, &rev, &def), CS_E_NOTFOUND);
    CHECK_INT(cs_backlog_revision_add(b, WF, "config", NULL, "{\"n\":1}", &rev), 0);
    CHECK_INT(rev, 1);
    CHECK_INT(cs_backlog_revision_add(b, WF, "api", "alice", "{\"n\":2}", &rev), 0);
    CHECK_INT(rev, 2);
    CHECK_INT(cs_backlog_revision_add(b, WF, "config", NULL, "{\"n\":3}", &rev), 0);
    CHECK_INT(rev, 3);
    CHECK_INT(cs_backlog_revision_add(b, WF, "ui", NULL, "{}", &rev), CS_E_INVAL);

    CHECK_INT(cs_backlog_revision_latest(b, WF, NULL, &rev, &def), 0);
    CHECK_INT(rev, 3);
    CHECK_STR(def, "{\"n\":3}");
    free(def);
    CHECK_INT(cs_backlog_revision_latest(b, WF, "api", &rev, &def), 0);
    CHECK_INT(rev, 2);
    CHECK_STR(def, "{\"n\":2}");
    free(def);
    CHECK_INT(cs_backlog_revision_latest(b, WF, "config", NULL, NULL), 0);

    CHECK_INT(cs_backlog_revision_get(b, WF, 2, &def, &src, &created), 0);
    CHECK_STR(def, "{\"n\":2}");
    CHECK_STR(src, "api");
    CHECK(created > 0);
    free(def);
    free(src);
    CHECK_INT(cs_backlog_revision_get(b, WF, 9, &def, &src, &created), CS_E_NOTFOUND);
    CHECK(def == NULL && src == NULL);

    CHECK_INT(cs_backlog_revision_list(b, WF, &list), 0);
    CHECK_INT(json_array_size(list), 3);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(list, 0), "revision")), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "source")), "api");
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "author")), "alice");
    CHECK(json_is_null(json_object_get(json_array_get(list, 0), "author")));
    CHECK(json_integer_value(json_object_get(json_array_get(list, 2), "created_at")) > 0);
    json_decref(list);

    /* numbering is per workflow */
    CHECK_INT(cs_backlog_workflow_init(b, "second", "stopped"), 0);
    CHECK_INT(cs_backlog_revision_add(b, "second", "api", NULL, "{}", &rev), 0);
    CHECK_INT(rev, 1);
    cs_backlog_close(b);
}

static void test_workflow_state(void)
{
    char *path, *s = NULL;
    struct cs_backlog *b = fresh("state", &path);

    CHECK_INT(cs_backlog_desired_get(b, WF, &s), 0);
    CHECK_STR(s, "running");
    free(s);
    CHECK_INT(cs_backlog_workflow_init(b, WF, "stopped"), 0); /* exists: unchanged */
    CHECK_INT(cs_backlog_desired_get(b, WF, &s), 0);
    CHECK_STR(s, "running");
    free(s);
    CHECK_INT(cs_backlog_desired_set(b, WF, "stopped"), 0);
    CHECK_INT(cs_backlog_desired_set(b, WF, "paused"), CS_E_INVAL);
    CHECK_INT(cs_backlog_desired_set(b, "nope", "stopped"), CS_E_NOTFOUND);
    CHECK_INT(cs_backlog_desired_get(b, "nope", &s), CS_E_NOTFOUND);
    CHECK(s == NULL);
    CHECK_INT(cs_backlog_workflow_init(b, "third", "sideways"), CS_E_INVAL);

    CHECK_INT(cs_backlog_status_set(b, WF, "running", "suspended", "429 from campaign", 4), 0);
    CHECK_INT(cs_backlog_status_set(b, WF, "RUNNING", NULL, NULL, 0), CS_E_INVAL);
    CHECK_INT(cs_backlog_status_set(b, "nope", "failed", NULL, NULL, 0), CS_E_NOTFOUND);
    s = raw_text(path, "SELECT state || '/' || substate || '/' || state_reason || '/' || running_rev FROM workflow"
                       " WHERE id = 'wf'");
    CHECK_STR(s, "running/suspended/429 from campaign/4");
    free(s);
    cs_backlog_close(b);

    b = open_db(path); /* desired state survives a restart */
    CHECK_INT(cs_backlog_desired_get(b, WF, &s), 0);
    CHECK_STR(s, "stopped");
    free(s);
    cs_backlog_close(b);
    free(path);
}

/* ---- bulk sanity run --------------------------------------------------------------------------- */

static void test_bulk(void)
{
    enum { TOTAL = 100000, PAGE = 1000, BATCH = 100 };
    struct cs_backlog *b = fresh("bulk", NULL);
    struct cs_claim c[BATCH];
    struct cs_outcome o[BATCH];
    int64_t last_seq = 0;
    size_t n, total = 0, unordered = 0;
    int failed = 0;
    char key[16];

    for (int page = 0; page < TOTAL / PAGE; page++) {
        cs_record *recs[PAGE];
        for (int i = 0; i < PAGE; i++) {
            int k = page * PAGE + i;
            snprintf(key, sizeof key, "c%06d", k);
            recs[i] = cs_record_new("contacts", key, CS_OP_UPSERT,
                                    json_pack("{s:i, s:s}", "v", k, "email", "someone@example.com"), k);
        }
        failed += enq(b, recs, PAGE, "contacts", json_pack("{s:i}", "page", page)) != 0;
    }
    CHECK_INT(failed, 0);
    CHECK_INT(queued(b), TOTAL);

    while ((n = claim(b, cs_now_ms(), BATCH, c)) > 0) {
        for (size_t i = 0; i < n; i++) {
            unordered += c[i].seq <= last_seq;
            last_seq = c[i].seq;
            o[i] = (struct cs_outcome){.seq = c[i].seq, .status = CS_OK};
        }
        failed += cs_backlog_complete(b, WF, o, n, NULL) != 0;
        drop_claims(c, n);
        total += n;
        if (failed)
            break;
    }
    CHECK_INT(failed, 0);
    CHECK_INT(unordered, 0);
    CHECK_INT(total, TOTAL);
    CHECK_INT(queued(b), 0);
    CHECK_INT(dead(b), 0);
    cs_backlog_close(b);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_backlog.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    cs_log_set_level(CS_LOG_ERROR); /* the refused calls below log warnings by design */
    target_dir = tmpdir;
    printf("state driver: %s\n", target_driver());

    test_schema();
    test_enqueue_cursor();
    test_coalesce();
    test_coalesce_merges_upserts();
    test_per_key_order();
    test_concurrent_writers();
    test_retry();
    test_reject();
    test_mapping_dead();
    test_malformed_dead();
    test_row_taken();
    test_redrive_matching();
    test_redrive();
    test_release();
    test_claim_start();
    test_crash_recovery();
    if (target_pg())
        test_connection_lost();
    if (target_pg())
        test_fleet();
    test_kv();
    test_revisions();
    test_workflow_state();
    test_bulk();

    check_remove_dir(tmpdir);
    return check_exit();
}
