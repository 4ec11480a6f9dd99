/*
 * test_kv.c - the plugins' key/value store as the host serves it, on the driver state_target.h picks: a sink's kv_put inside write() is
 * held in its context, read back at once, and committed in the one transaction that settles the batch
 * (or in one of its own when the batch goes back unsettled); kv_put elsewhere is written at once. The
 * schema migration that moved kv to a rowid table keeps every value, and the cost of a kv read per
 * drained row stays flat once large values (a source's id sets) share the table: pages touched and
 * read per row, counted by SQLite, printed per tenth of the drain (CRMSYNC_KV_BENCH_ROWS rows, 30,000
 * by default).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/backlog.h"
#include "state/backlog_schema.h"
#include "check.h"
#include "state_target.h"
#include "host/host.h"
#include "util/log.h"
#include "util/util.h"

#define WF "wf"
#define NS "acs"

static char tmpdir[4096];

/* The store `target` opened, with workflow WF. */
static struct cs_backlog *reopen(const char *target)
{
    struct cs_backlog *b = target_open(target);
    CHECK_INT(cs_backlog_workflow_init(b, WF, "running"), 0);
    return b;
}

/* A new store named `name`, with workflow WF. */
static struct cs_backlog *open_db(const char *name)
{
    char *target = target_new(name);
    struct cs_backlog *b = reopen(target);
    free(target);
    return b;
}

static int64_t transactions(struct cs_backlog *b)
{
    struct cs_backlog_stats s;
    cs_backlog_stats(b, &s);
    return s.transactions;
}

/* Pages the connection looked at, read from the file or found in its cache. */
static int64_t pages_touched(struct cs_backlog *b, int64_t *from_file)
{
    struct cs_backlog_stats s;
    cs_backlog_stats(b, &s);
    *from_file = s.page_reads;
    return s.page_reads + s.page_hits;
}

/* The stored value of `key` (new), bypassing any context. */
static char *stored(struct cs_backlog *b, const char *key)
{
    char *v = NULL;
    CHECK_INT(cs_backlog_kv_get(b, NS, key, &v), 0);
    return v;
}

/* Enqueue `n` records key0.. with a payload of `pad` bytes and claim up to n of them into c. */
static size_t enqueue_and_claim(struct cs_backlog *b, size_t first, size_t n, size_t pad, struct cs_claim *c)
{
    cs_record **recs = cs_xcalloc(n, sizeof *recs);
    char *text = cs_xcalloc(pad + 1, 1);
    size_t got = 0;
    memset(text, 'x', pad);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "key%zu", first + i);
        recs[i] = cs_record_new("contacts", key, CS_OP_UPSERT, json_pack("{s:s}", "pad", text), 0);
    }
    CHECK_INT(cs_backlog_enqueue(b, WF, &(struct cs_enqueue){.records = recs, .n_records = n}), 0);
    for (size_t i = 0; i < n; i++)
        json_decref(recs[i]);
    free(recs);
    free(text);
    if (c)
        CHECK_INT(cs_backlog_claim(b, WF, cs_now_ms(), n, c, &got), 0);
    return got;
}

/* Settle the claims as written, with the context's held kv writes; returns cs_backlog_complete's code. */
static int settle(struct cs_backlog *b, struct cs_claim *c, size_t n, struct cs_ctx *ctx)
{
    struct cs_outcome *o = cs_xcalloc(n, sizeof *o);
    struct cs_kv_writes kv;
    int rc;
    for (size_t i = 0; i < n; i++) {
        o[i] = (struct cs_outcome){.seq = c[i].seq, .status = CS_OK};
        json_decref(c[i].record);
    }
    rc = cs_backlog_complete(b, WF, o, n, ctx ? cs_ctx_kv_held(ctx, &kv) : NULL);
    free(o);
    return rc;
}

/* ---- held writes ------------------------------------------------------------------------------ */

static void test_held_until_settled(void)
{
    struct cs_backlog *b = open_db("held");
    struct cs_ctx *ctx = cs_ctx_new("test/acs#0", NS, b, NULL, NULL);
    struct cs_claim c[3];
    char *v;
    int64_t before;

    CHECK_INT(cs_backlog_kv_put(b, NS, "old", "stored before"), 0);
    CHECK_INT(enqueue_and_claim(b, 0, 3, 10, c), 3);

    /* what a sink does inside write(): puts, reads its own values back */
    before = transactions(b);
    cs_ctx_kv_hold(ctx, 1);
    for (size_t i = 0; i < 3; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "pk:%s", cs_record_key(c[i].record));
        snprintf(value, sizeof value, "hash%zu PKEY%zu", i, i);
        CHECK_INT(cs_host_table.kv_put(ctx, key, value), CS_OK);
        v = cs_host_table.kv_get(ctx, key);
        CHECK_STR(v, value);
        free(v);
    }
    CHECK_INT(cs_host_table.kv_put(ctx, "old", NULL), CS_OK);
    v = cs_host_table.kv_get(ctx, "old");
    CHECK(v == NULL); /* a held delete reads as absent */
    cs_ctx_kv_hold(ctx, 0);
    CHECK_INT(transactions(b), before); /* nothing written yet */
    v = stored(b, "pk:key0");
    CHECK(v == NULL);
    v = stored(b, "old");
    CHECK_STR(v, "stored before");
    free(v);

    /* the batch settles: rows and kv writes in one transaction */
    CHECK_INT(settle(b, c, 3, ctx), 0);
    cs_ctx_kv_settled(ctx);
    CHECK_INT(transactions(b), before + 1);
    v = stored(b, "pk:key2");
    CHECK_STR(v, "hash2 PKEY2");
    free(v);
    v = stored(b, "old");
    CHECK(v == NULL);
    CHECK(cs_ctx_kv_held(ctx, &(struct cs_kv_writes){0}) == NULL);
    cs_ctx_free(ctx);
    cs_backlog_close(b);
}

static void test_not_held_outside_write(void)
{
    struct cs_backlog *b = open_db("direct");
    struct cs_ctx *ctx = cs_ctx_new("test/acs#0", NS, b, NULL, NULL);
    int64_t before;
    char *v;

    cs_ctx_kv_hold(ctx, 1);
    CHECK_INT(cs_host_table.kv_put(ctx, "k", "held"), CS_OK);
    cs_ctx_kv_hold(ctx, 0);
    /* a put outside write() (start(), a source) is written at once and replaces a held write */
    before = transactions(b);
    CHECK_INT(cs_host_table.kv_put(ctx, "k", "direct"), CS_OK);
    CHECK_INT(transactions(b), before + 1);
    v = stored(b, "k");
    CHECK_STR(v, "direct");
    free(v);
    CHECK(cs_ctx_kv_held(ctx, &(struct cs_kv_writes){0}) == NULL);
    v = cs_host_table.kv_get(ctx, "k");
    CHECK_STR(v, "direct");
    free(v);
    cs_ctx_free(ctx);
    cs_backlog_close(b);
}

/* A batch going back unsettled (FATAL, drift, a failed settle): the held writes are kept on their own. */
static void test_kept_without_batch(void)
{
    struct cs_backlog *b = open_db("keep");
    struct cs_ctx *ctx = cs_ctx_new("test/acs#0", NS, b, NULL, NULL);
    int64_t before;
    char *v;

    cs_ctx_kv_hold(ctx, 1);
    CHECK_INT(cs_host_table.kv_put(ctx, "a", "1"), CS_OK);
    CHECK_INT(cs_host_table.kv_put(ctx, "b", "2"), CS_OK);
    cs_ctx_kv_hold(ctx, 0);
    before = transactions(b);
    CHECK_INT(cs_ctx_kv_keep(ctx), 0);
    CHECK_INT(transactions(b), before + 1);
    v = stored(b, "b");
    CHECK_STR(v, "2");
    free(v);
    CHECK_INT(cs_ctx_kv_keep(ctx), 0); /* nothing left: no transaction */
    CHECK_INT(transactions(b), before + 1);
    cs_ctx_free(ctx);
    cs_backlog_close(b);
}

/* A failed settle rolls the kv writes back with the rows; they stay held and are kept later. */
static void test_failed_settle_keeps_held(void)
{
    struct cs_backlog *b = open_db("failed");
    struct cs_ctx *ctx = cs_ctx_new("test/acs#0", NS, b, NULL, NULL);
    struct cs_outcome bad = {.seq = 424242, .status = CS_OK}; /* not in flight: refused */
    struct cs_kv_writes kv;
    char *v;

    cs_ctx_kv_hold(ctx, 1);
    CHECK_INT(cs_host_table.kv_put(ctx, "a", "1"), CS_OK);
    cs_ctx_kv_hold(ctx, 0);
    CHECK(cs_backlog_complete(b, WF, &bad, 1, cs_ctx_kv_held(ctx, &kv)) != 0);
    v = stored(b, "a");
    CHECK(v == NULL);
    v = cs_host_table.kv_get(ctx, "a");
    CHECK_STR(v, "1");
    free(v);
    CHECK_INT(cs_ctx_kv_keep(ctx), 0);
    v = stored(b, "a");
    CHECK_STR(v, "1");
    free(v);
    cs_ctx_free(ctx);
    cs_backlog_close(b);
}

/* ---- schema ----------------------------------------------------------------------------------- */

/* A version 3 file (kv WITHOUT ROWID) opens as version 4 with its values, the key unique. */
static void test_migration_keeps_values(void)
{
    char *path = target_of("v3"), *v;
    struct cs_backlog *b = open_db("v3");
    cs_backlog_close(b);
    raw_exec(path, "DROP TABLE kv;"
                   "CREATE TABLE kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                   " updated_at INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;"
                   "INSERT INTO kv VALUES ('acs', 'pk:1', 'h P1', 1), ('d365', 'pk:1', 'other', 1);"
                   "PRAGMA user_version = 3;");
    b = reopen(path);
    v = stored(b, "pk:1");
    CHECK_STR(v, "h P1");
    free(v);
    CHECK_INT(cs_backlog_kv_put(b, NS, "pk:1", "h2 P1"), 0);
    v = stored(b, "pk:1");
    CHECK_STR(v, "h2 P1");
    free(v);
    CHECK_INT(cs_backlog_kv_get(b, "d365", "pk:1", &v), 0);
    CHECK_STR(v, "other");
    free(v);
    cs_backlog_close(b);
    free(path);
}

/* ---- cost per row ----------------------------------------------------------------------------- */

#define BUCKETS 16

/* What dynamics365's id set does to the store: one value per bucket, of 36 bytes per id. Its
 * namespace sorts before the sink's, as "d365" before "dynamics" or "crm" before "d365" might. */
static void store_id_sets(struct cs_backlog *b, size_t ids)
{
    size_t len = ids / BUCKETS * 36;
    char *value = cs_xcalloc(len + 1, 1), key[32];
    memset(value, 'f', len);
    for (int k = 0; k < BUCKETS; k++) {
        snprintf(key, sizeof key, "ids/contacts/t/k%d", k);
        CHECK_INT(cs_backlog_kv_put(b, "aaa-source", key, value), 0);
    }
    free(value);
}

/* Pages touched and read per row in one tenth of a drain. */
struct tenth {
    double touched, read;
};

/* Drain `total` rows in batches of 100 as campaign.so's write() does per row (two kv reads, one held
 * put), the reader topping the backlog up to `high_water` until it has read them all, then storing
 * its id sets. */
static void drain(struct cs_backlog *b, size_t total, size_t high_water, struct tenth t[10])
{
    struct cs_ctx *ctx = cs_ctx_new("test/acs#0", NS, b, NULL, NULL);
    struct cs_claim c[100];
    size_t read = 0, written = 0, tenth = total / 10;
    int64_t queued, dead, read0, touched0 = pages_touched(b, &read0);

    while (written < total) {
        size_t n = 0;
        CHECK_INT(cs_backlog_counts(b, WF, &queued, &dead), 0);
        if (read < total && (size_t)queued < high_water) {
            size_t page = total - read < 1000 ? total - read : 1000;
            enqueue_and_claim(b, read, page, 1000, NULL);
            if ((read += page) == total)
                store_id_sets(b, total);
        }
        CHECK_INT(cs_backlog_claim(b, WF, cs_now_ms(), 100, c, &n), 0);
        cs_ctx_kv_hold(ctx, 1);
        for (size_t i = 0; i < n; i++) {
            char *pk = cs_xasprintf("pk:profile:email:%s", cs_record_key(c[i].record));
            char *held = cs_xasprintf("held:profile:email:%s", cs_record_key(c[i].record));
            free(cs_host_table.kv_get(ctx, pk));
            free(cs_host_table.kv_get(ctx, held));
            cs_host_table.kv_put(ctx, pk, "0123456789abcdef 01234567-89ab-cdef-0123-456789abcdef");
            free(pk);
            free(held);
        }
        cs_ctx_kv_hold(ctx, 0);
        CHECK_INT(n ? settle(b, c, n, ctx) : 0, 0);
        cs_ctx_kv_settled(ctx);
        if (n && (written + n) / tenth > written / tenth && (written + n) / tenth <= 10) {
            int64_t reads, touched = pages_touched(b, &reads);
            t[(written + n) / tenth - 1] =
                (struct tenth){(double)(touched - touched0) / (double)tenth, (double)(reads - read0) / (double)tenth};
            touched0 = touched;
            read0 = reads;
        }
        written += n;
    }
    cs_ctx_free(ctx);
}

static void test_cost_flat(void)
{
    const char *env = getenv("CRMSYNC_KV_BENCH_ROWS");
    size_t total = env && atol(env) >= 1000 ? (size_t)atol(env) : 30000;
    struct cs_backlog *b = open_db("drain");
    struct tenth t[10] = {{0, 0}};
    double early;

    drain(b, total, total / 3, t);
    printf("kv drain of %zu rows, per row and tenth: pages touched / read from the file:", total);
    for (int i = 0; i < 10; i++)
        printf(" %.1f/%.2f", t[i].touched, t[i].read);
    printf("\n");
    /* the last tenths (reading over, id sets stored) cost what the reading tenths did */
    early = t[1].touched > t[2].touched ? t[1].touched : t[2].touched;
    for (int i = 7; i < 10; i++)
        CHECK(t[i].touched <= 1.5 * early);
    cs_backlog_close(b);
}

/* A kv_put the state database refuses, and one without a state database, log the cause with the key
 * (a plugin's own message about it had none). */
static void test_refused_put_says_why(void)
{
    struct cs_backlog *b = open_db("refused");
    struct cs_ctx *ctx = cs_ctx_new("test/acs#0", NS, b, NULL, NULL),
                  *none = cs_ctx_new("check/acs", NS, NULL, NULL, NULL);
    char *path = target_of("refused"), *logged = cs_xasprintf("%s/refused.log", tmpdir), text[4096];
    FILE *f;
    size_t n;
    int saved = dup(2);

    raw_exec(path, "DROP TABLE kv");
    CHECK(freopen(logged, "w", stderr) != NULL);
    CHECK_INT(cs_host_table.kv_put(ctx, "ext:42", "v"), CS_RETRY);
    CHECK_INT(cs_host_table.kv_put(none, "ext:43", "v"), CS_FATAL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    f = fopen(logged, "r");
    n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    CHECK_CONTAINS(text, "[test/acs#0] cannot store ext:42 in the state database: ");
    CHECK_CONTAINS(text, target_pg() ? "relation \"kv\" does not exist" : "no such table: kv");
    CHECK_CONTAINS(text, "[check/acs] cannot store ext:43: this instance has no state database");
    cs_ctx_free(ctx);
    cs_ctx_free(none);
    cs_backlog_close(b);
    free(path);
    free(logged);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_kv.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    cs_log_set_level(CS_LOG_ERROR); /* the refused settle below logs a warning by design */
    target_dir = tmpdir;
    printf("state driver: %s\n", target_driver());

    test_held_until_settled();
    test_not_held_outside_write();
    test_kept_without_batch();
    test_refused_put_says_why();
    test_failed_settle_keeps_held();
    if (!target_pg()) { /* SQLite's own: its schema's history, and its page counters */
        test_migration_keeps_values();
        test_cost_flat();
    }

    check_remove_dir(tmpdir);
    return check_exit();
}
