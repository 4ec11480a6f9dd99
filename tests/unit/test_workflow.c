/*
 * test_workflow.c - the workflow state machine and the engine, in process, with the test plugin and a
 * real state database: STOPPED -> STARTING (retrying) -> RUNNING -> STOPPED; illegal transitions
 * refused; FATAL at start and while writing -> FAILED with the reason, the other workflow unaffected;
 * a sink outage is RUNNING with a backing-off sub-state; desired state and revisions persist across
 * an engine restart; a running workflow keeps its revision and reports pending; a sink's kv writes in
 * write() are read back at once and stored with the batch, or on their own when a FATAL returns it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state/backlog.h"
#include "check.h"
#include "config/config.h"
#include "engine/engine.h"
#include "host/loader.h"
#include "util/util.h"

static char dir[256];
static struct cs_registry *reg;

static char *write_config(const char *name, const char *workflows)
{
    char *path = cs_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "state_dir: %s\n"
            "plugins: [testplug]\n"
            "plugin_dir: %s\n"
            "log_level: warning\n"
            "connections:\n"
            "  mem: {connector: memory-source, records: 50, page: 10, start_retries: 2}\n"
            "  slow-mem: {connector: memory-source, records: 100000, page: 100}\n"
            "  cap: {connector: capture-sink, file: %s/captured}\n"
            "  cap-forbidden: {connector: capture-sink, file: %s/x, start_fatal: true}\n"
            "  cap-401: {connector: capture-sink, file: %s/y, fatal_after: 2}\n"
            "  cap-429: {connector: capture-sink, file: %s/z, retry_every: 1, retry_after: 60s}\n"
            "  cap-kv: {connector: capture-sink, file: %s/kv, kv_marks: true}\n"
            "  cap-kv-401: {connector: capture-sink, file: %s/kv401, kv_marks: true, fatal_after: 1}\n"
            "  cap-stop: {connector: capture-sink, file: %s/stop, stop_substate: closing the capture file}\n"
            "workflows:\n%s",
            dir, getenv("TESTPLUG_DIR"), dir, dir, dir, dir, dir, dir, dir, workflows);
    fclose(f);
    return path;
}

#define WF(id, src, sink, extra)                                                                                       \
    "  - id: " id "\n    source: " src "\n    sink: " sink "\n    writers: 2\n    batch_size: 5\n"                     \
    "    retry: {base: 10ms, cap: 100ms}\n    mappings: [{stream: contacts}]\n" extra

static struct cs_engine *engine_from(const char *path, struct cs_backlog **backlog)
{
    struct cs_config *cfg = NULL;
    struct cs_engine *e;
    char *err = NULL, *db = cs_xasprintf("%s/state.db", dir);
    if (cs_config_load(path, &cfg, &err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        abort();
    }
    if (!*backlog && cs_backlog_open(db, backlog, &err) != 0) {
        fprintf(stderr, "backlog: %s\n", err);
        abort();
    }
    free(db);
    e = cs_engine_new(reg, *backlog);
    if (cs_engine_check_config(e, cfg, 1, &err) != 0) {
        fprintf(stderr, "check: %s\n", err);
        abort();
    }
    return e;
}

static const char *field(json_t *snap, const char *key)
{
    return json_string_value(json_object_get(snap, key));
}

/* Poll until the workflow reaches `status` (10 s at most); returns its snapshot (new) or NULL. */
static json_t *wait_status(struct cs_engine *e, const char *id, const char *status)
{
    for (int i = 0; i < 1000; i++) {
        json_t *snap = cs_engine_workflow(e, id);
        if (snap && strcmp(field(snap, "status"), status) == 0)
            return snap;
        json_decref(snap);
        usleep(10000);
    }
    fprintf(stderr, "%s never reached %s\n", id, status);
    return NULL;
}

static void test_lifecycle(void)
{
    struct cs_backlog *b = NULL;
    char *path =
        write_config("a.conf", WF("one", "mem", "cap", "") WF("other", "slow-mem", "cap", "    autostart: false\n"));
    struct cs_engine *e = engine_from(path, &b);
    char *err = NULL;
    json_t *snap;
    int seen_starting_retry = 0;

    snap = cs_engine_workflow(e, "one");
    CHECK_STR(field(snap, "status"), "STOPPED");
    CHECK_INT(json_integer_value(json_object_get(snap, "latest_revision")), 1);
    json_decref(snap);
    cs_engine_start_desired(e); /* "one" autostarts; "other" does not */
    for (int i = 0; i < 500 && !seen_starting_retry; i++) {
        snap = cs_engine_workflow(e, "one");
        if (strcmp(field(snap, "status"), "STARTING") == 0 && field(snap, "substate") &&
            strstr(field(snap, "substate"), "starting: retrying at ") &&
            strstr(field(snap, "substate"), "503 Service Unavailable (injected at start) from mem"))
            seen_starting_retry = 1;
        json_decref(snap);
        usleep(2000);
    }
    CHECK(seen_starting_retry);
    snap = wait_status(e, "one", "RUNNING");
    CHECK(snap != NULL);
    json_decref(snap);
    snap = cs_engine_workflow(e, "other");
    CHECK_STR(field(snap, "status"), "STOPPED");
    json_decref(snap);

    CHECK_INT(cs_engine_start(e, "one", &err), CS_E_STATE);
    CHECK_CONTAINS(err, "workflow one is RUNNING; it can start only when STOPPED or FAILED");
    free(err);
    CHECK_INT(cs_engine_stop(e, "other", &err), CS_E_STATE);
    CHECK_CONTAINS(err, "workflow other is STOPPED; only a STARTING or RUNNING workflow can be stopped");
    free(err);
    CHECK_INT(cs_engine_start(e, "nope", &err), CS_E_NOTFOUND);
    free(err);

    /* all 50 records get through, then stop */
    for (int i = 0; i < 500; i++) {
        int64_t n = 0, dead = 0;
        snap = cs_engine_workflow(e, "one");
        n = json_integer_value(json_object_get(snap, "records_written"));
        dead = json_integer_value(json_object_get(snap, "backlog"));
        json_decref(snap);
        if (n == 50 && dead == 0)
            break;
        usleep(10000);
    }
    snap = cs_engine_workflow(e, "one");
    CHECK_INT(json_integer_value(json_object_get(snap, "records_written")), 50);
    json_decref(snap);
    CHECK_INT(cs_engine_stop(e, "one", &err), 0);
    snap = cs_engine_workflow(e, "one");
    CHECK_STR(field(snap, "status"), "STOPPED");
    json_decref(snap);

    /* start "other", restart the engine: the desired states come back */
    CHECK_INT(cs_engine_start(e, "other", &err), 0);
    snap = wait_status(e, "other", "RUNNING");
    json_decref(snap);
    cs_engine_free(e);
    e = engine_from(path, &b);
    cs_engine_start_desired(e);
    snap = wait_status(e, "other", "RUNNING");
    CHECK(snap != NULL);
    json_decref(snap);
    snap = cs_engine_workflow(e, "one");
    CHECK_STR(field(snap, "status"), "STOPPED");
    CHECK_INT(json_integer_value(json_object_get(snap, "latest_revision")), 1); /* unchanged file: no revision */
    json_decref(snap);

    /* a changed definition becomes revision 2; the running workflow keeps 1 and is pending */
    free(path);
    path = write_config("a.conf", WF("one", "mem", "cap", "")
                                      WF("other", "slow-mem", "cap", "    autostart: false\n    poll_interval: 3s\n"));
    cs_engine_free(e);
    e = engine_from(path, &b);
    cs_engine_start_desired(e);
    snap = wait_status(e, "other", "RUNNING");
    CHECK_INT(json_integer_value(json_object_get(snap, "running_revision")), 2);
    CHECK(json_is_false(json_object_get(snap, "pending")));
    json_decref(snap);
    {
        struct cs_config *cfg = NULL;
        free(path);
        path = write_config("a.conf", WF("one", "mem", "cap", "") WF("other", "slow-mem", "cap",
                                                                     "    autostart: false\n    poll_interval: 4s\n"));
        CHECK(cs_config_load(path, &cfg, &err) == 0);
        CHECK(cs_engine_check_config(e, cfg, 1, &err) == 0); /* what SIGHUP does */
    }
    snap = cs_engine_workflow(e, "other");
    CHECK_STR(field(snap, "status"), "RUNNING");
    CHECK_INT(json_integer_value(json_object_get(snap, "running_revision")), 2);
    CHECK_INT(json_integer_value(json_object_get(snap, "latest_revision")), 3);
    CHECK(json_is_true(json_object_get(snap, "pending")));
    json_decref(snap);
    CHECK_INT(cs_engine_stop(e, "other", &err), 0);
    CHECK_INT(cs_engine_start(e, "other", &err), 0);
    snap = wait_status(e, "other", "RUNNING");
    CHECK_INT(json_integer_value(json_object_get(snap, "running_revision")), 3);
    CHECK(json_is_false(json_object_get(snap, "pending")));
    json_decref(snap);
    cs_engine_free(e);
    cs_backlog_close(b);
    free(path);
}

static void test_failures(void)
{
    struct cs_backlog *b = NULL;
    char *path =
        write_config("b.conf", WF("forbidden", "mem", "cap-forbidden", "") WF("unauthorized", "slow-mem", "cap-401", "")
                                   WF("throttled", "mem", "cap-429", "") WF("healthy", "slow-mem", "cap", ""));
    struct cs_engine *e;
    char *err = NULL;
    json_t *snap;
    int seen = 0;
    char *db = cs_xasprintf("%s/state.db", dir);

    unlink(db); /* a fresh state for these workflows */
    free(db);
    e = engine_from(path, &b);
    cs_engine_start_desired(e);
    snap = wait_status(e, "forbidden", "FAILED");
    CHECK_CONTAINS(field(snap, "reason"),
                   "sink \"cap-forbidden\" could not start: 403 Forbidden: the application user lacks a role");
    json_decref(snap);
    snap = wait_status(e, "unauthorized", "FAILED");
    CHECK_CONTAINS(field(snap, "reason"), "sink \"cap-401\": 401 Unauthorized: credentials refused (injected)");
    CHECK(json_integer_value(json_object_get(snap, "backlog")) > 0); /* kept for the next start */
    json_decref(snap);
    for (int i = 0; i < 500 && !seen; i++) {
        snap = cs_engine_workflow(e, "throttled");
        seen = strcmp(field(snap, "status"), "RUNNING") == 0 && field(snap, "substate") &&
               strstr(field(snap, "substate"), "backing off until ") &&
               strstr(field(snap, "substate"), ": 429 Too Many Requests (injected) from cap-429");
        json_decref(snap);
        usleep(10000);
    }
    CHECK(seen);
    snap = cs_engine_workflow(e, "healthy");
    CHECK_STR(field(snap, "status"), "RUNNING");
    json_decref(snap);
    /* FAILED can be started again, not stopped */
    CHECK_INT(cs_engine_stop(e, "forbidden", &err), CS_E_STATE);
    free(err);
    CHECK_INT(cs_engine_start(e, "forbidden", &err), 0);
    snap = wait_status(e, "forbidden", "FAILED");
    CHECK(snap != NULL);
    json_decref(snap);
    cs_engine_free(e);
    cs_backlog_close(b);
    free(path);
}

/* Keys "seen:k0000000".. of connection `ns` with a value in the state DB. */
static int kv_marks_stored(struct cs_backlog *b, const char *ns, int records)
{
    int stored = 0;
    for (int i = 0; i < records; i++) {
        char key[32], *v = NULL;
        snprintf(key, sizeof key, "seen:k%07d", i);
        if (cs_backlog_kv_get(b, ns, key, &v) == 0 && v)
            stored++;
        free(v);
    }
    return stored;
}

/* A sink's kv_put inside write() reads back at once and is stored once the batch settles; when the
 * batch goes back to the backlog (FATAL) its writes are stored too. */
static void test_sink_kv(void)
{
    struct cs_backlog *b = NULL;
    /* kv401 has one writer, so that nobody else writes the rows its failed batch returns */
    char *path = write_config(
        "kv.conf",
        WF("kv", "mem", "cap-kv",
           "") "  - id: kv401\n    source: mem\n"
               "    sink: cap-kv-401\n    writers: 1\n    batch_size: 5\n    mappings: [{stream: contacts}]\n");
    struct cs_engine *e;
    json_t *snap;
    json_int_t written;
    char *db = cs_xasprintf("%s/state.db", dir);

    unlink(db);
    free(db);
    e = engine_from(path, &b);
    cs_engine_start_desired(e);
    snap = wait_status(e, "kv401", "FAILED");
    json_decref(snap);
    for (int i = 0; i < 1000; i++) {
        snap = cs_engine_workflow(e, "kv");
        if (json_integer_value(json_object_get(snap, "backlog")) == 0 &&
            json_integer_value(json_object_get(snap, "records_written")) == 50) {
            json_decref(snap);
            break;
        }
        json_decref(snap);
        usleep(10000);
    }
    snap = cs_engine_workflow(e, "kv");
    CHECK_INT(json_integer_value(json_object_get(snap, "records_written")), 50);
    CHECK_INT(json_integer_value(json_object_get(snap, "dead_letters")), 0); /* every value read back */
    json_decref(snap);
    CHECK_INT(kv_marks_stored(b, "cap-kv", 50), 50);
    /* the writer of kv401 wrote one batch, then its second write() failed: the marks of the failed
     * batch (at least one record) are stored although its rows went back to the backlog */
    snap = cs_engine_workflow(e, "kv401"); /* first: a batch settles (marks stored) before it is counted */
    written = json_integer_value(json_object_get(snap, "records_written"));
    json_decref(snap);
    for (int i = 0; i < 500 && kv_marks_stored(b, "cap-kv-401", 50) < written + 1; i++)
        usleep(10000); /* the failed batch's writer may still be on its way out */
    CHECK(kv_marks_stored(b, "cap-kv-401", 50) >= written + 1);
    cs_engine_free(e);
    cs_backlog_close(b);
    free(path);
}

/* A latest revision that is not JSON (a damaged state database) refuses the start with the cause and
 * the fix; the workflow still lists, and a good definition from the config file starts it again. */
static void test_damaged_revision(void)
{
    struct cs_backlog *b = NULL;
    char *path = write_config("d.conf", WF("damaged", "mem", "cap", "    autostart: false\n")), *err = NULL;
    struct cs_engine *e;
    json_t *snap = NULL, *list;
    int64_t rev = 0;

    e = engine_from(path, &b);
    CHECK_INT(cs_backlog_revision_add(b, "damaged", "config", NULL, "{\"id\": \"damaged\", \"sour", &rev), 0);
    CHECK_INT(cs_engine_start(e, "damaged", &err), CS_E_INVAL);
    CHECK_CONTAINS(err, "workflow damaged revision 2 in the state database is not valid JSON");
    CHECK_CONTAINS(err, "restore state.db from a backup");
    free(err);
    list = cs_engine_list(e);
    CHECK_INT(json_array_size(list), 1);
    json_decref(list);
    CHECK_INT(cs_engine_definition(e, "damaged", &snap, &err), 0);
    CHECK(json_is_null(json_object_get(snap, "definition")));
    json_decref(snap);
    cs_engine_free(e);
    e = engine_from(path, &b); /* the file's definition is stored again as revision 3 */
    CHECK_INT(cs_engine_start(e, "damaged", &err), 0);
    snap = wait_status(e, "damaged", "RUNNING");
    CHECK_INT(json_integer_value(json_object_get(snap, "running_revision")), 3);
    json_decref(snap);
    cs_engine_free(e);
    cs_backlog_close(b);
    free(path);
}

static void *stop_thread(void *arg)
{
    char *err = NULL;
    int *rc = cs_xcalloc(1, sizeof *rc);
    *rc = cs_engine_stop(arg, "stopper", &err);
    free(err);
    return rc;
}

/* A sink whose stop() sets a sub-state (host->set_substate) while the workflow stops: the stop ends
 * (it deadlocked on the workflow's lock). A hang is reported after a minute instead of blocking. */
static void test_stop_callback(void)
{
    struct cs_backlog *b = NULL;
    char *path = write_config("s.conf", WF("stopper", "mem", "cap-stop", "    autostart: false\n")), *err = NULL;
    struct cs_engine *e = engine_from(path, &b);
    json_t *snap;
    pthread_t t;
    struct timespec deadline;
    int *rc = NULL;

    CHECK_INT(cs_engine_start(e, "stopper", &err), 0);
    snap = wait_status(e, "stopper", "RUNNING");
    CHECK(snap != NULL);
    json_decref(snap);
    CHECK(pthread_create(&t, NULL, stop_thread, e) == 0);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    if (pthread_timedjoin_np(t, (void **)&rc, &deadline) != 0) {
        fprintf(stderr, "FAIL: cs_engine_stop of a workflow whose sink sets a sub-state in stop() hangs\n");
        _exit(1);
    }
    CHECK_INT(*rc, 0);
    free(rc);
    snap = cs_engine_workflow(e, "stopper");
    CHECK_STR(field(snap, "status"), "STOPPED");
    json_decref(snap);
    cs_engine_free(e);
    cs_backlog_close(b);
    free(path);
}

/* The daemon stopping (SIGTERM): every workflow stops, its desired state stays "running" for the next start,
 * and no start is accepted any more (an admin request still in progress cannot start one behind the stop). */
static void test_shutdown(void)
{
    struct cs_backlog *b = NULL;
    char *path = write_config("shut.conf", WF("going", "slow-mem", "cap", "")), *err = NULL, *desired = NULL;
    struct cs_engine *e = engine_from(path, &b);
    json_t *snap;

    cs_engine_start_desired(e);
    snap = wait_status(e, "going", "RUNNING");
    CHECK(snap != NULL);
    json_decref(snap);
    cs_engine_shutdown(e);
    snap = cs_engine_workflow(e, "going");
    CHECK_STR(field(snap, "status"), "STOPPED");
    json_decref(snap);
    CHECK_INT(cs_engine_start(e, "going", &err), CS_E_STATE);
    CHECK_CONTAINS(err, "workflow going cannot start: crmsyncd is stopping");
    free(err);
    CHECK_INT(cs_backlog_desired_get(b, "going", &desired), 0);
    CHECK_STR(desired, "running");
    free(desired);
    cs_engine_free(e);
    cs_backlog_close(b);
    free(path);
}

/* The problem cs_engine_healthy reports for workflow `id` while it is RUNNING (new), or NULL. */
static char *health_problem(struct cs_engine *e, const char *id)
{
    json_t *problems = NULL, *p;
    char *why = NULL;
    size_t i;
    cs_engine_healthy(e, &problems);
    json_array_foreach (problems, i, p) {
        if (json_string_value(json_object_get(p, "workflow")) &&
            strcmp(json_string_value(json_object_get(p, "workflow")), id) == 0 &&
            strcmp(json_string_value(json_object_get(p, "status")), "RUNNING") == 0)
            why = cs_xstrdup(json_string_value(json_object_get(p, "reason")));
    }
    json_decref(problems);
    return why;
}

/* Health: a RUNNING workflow whose writes all fail reports no progress once stall_after passed while
 * its backlog waits; one that caught up with nothing pending is healthy. */
static void test_health_stall(void)
{
    struct cs_backlog *b = NULL;
    char *path = write_config("h.conf", WF("stuck", "mem", "cap-429", "    stall_after: 200ms\n")
                                            WF("fine", "mem", "cap", "    stall_after: 200ms\n"));
    struct cs_engine *e;
    char *why = NULL, *db = cs_xasprintf("%s/state.db", dir);
    json_t *snap;
    int idle = 0;

    unlink(db);
    free(db);
    e = engine_from(path, &b);
    cs_engine_start_desired(e);
    /* the first problem seen may name another cause (the source not caught up yet, before the sink's
     * first answer): wait for the one the sink's refusals make */
    for (int i = 0; i < 1000 && !(why && strstr(why, "429 Too Many Requests")); i++) {
        free(why);
        why = health_problem(e, "stuck");
        usleep(10000);
    }
    CHECK(why != NULL);
    CHECK_CONTAINS(why, "no progress for ");
    CHECK_CONTAINS(why, "while work is pending (backlog ");
    CHECK_CONTAINS(why, "429 Too Many Requests (injected) from cap-429");
    free(why);
    for (int i = 0; i < 1000 && !idle; i++) {
        snap = cs_engine_workflow(e, "fine");
        idle = json_integer_value(json_object_get(snap, "records_written")) == 50 &&
               json_integer_value(json_object_get(snap, "backlog")) == 0;
        json_decref(snap);
        usleep(10000);
    }
    CHECK(idle);
    usleep(300000); /* past stall_after: caught up, nothing pending, so still healthy */
    why = health_problem(e, "fine");
    CHECK(why == NULL);
    free(why);
    cs_engine_free(e);
    cs_backlog_close(b);
    free(path);
}

/* A transient failure creating the mappings' plugins at start (an entity handler's throttled
 * describe()) keeps the workflow STARTING, retrying with the reason, until it runs. */
static void test_transient_create(void)
{
    struct cs_backlog *b = NULL;
    char *path = write_config("t.conf", "  - id: throttled-create\n    source: mem\n    sink: cap\n"
                                        "    retry: {base: 10ms, cap: 50ms}\n    mappings: [{stream: contacts, "
                                        "stages: [{name: reject-every, every: 1000000, create_retries: 3}]}]\n");
    struct cs_engine *e = engine_from(path, &b);
    json_t *snap;
    char *attempts = NULL;

    cs_engine_start_desired(e);
    snap = wait_status(e, "throttled-create", "RUNNING");
    CHECK(snap != NULL);
    json_decref(snap);
    /* three throttled creates, then one per writer (4) */
    CHECK_INT(cs_backlog_kv_get(b, "throttled-create/contacts/reject-every/0", "create_attempts", &attempts), 0);
    CHECK_STR(attempts, "7");
    free(attempts);
    cs_engine_free(e);
    cs_backlog_close(b);
    free(path);
}

int main(void)
{
    char *err = NULL;
    snprintf(dir, sizeof dir, "%s/crmsync-wf-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir) || !getenv("TESTPLUG_DIR"))
        return 99;
    reg = cs_registry_new();
    if (cs_loader_load(reg, getenv("TESTPLUG_DIR"), "testplug", &err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 99;
    }
    test_lifecycle();
    test_failures();
    test_sink_kv();
    test_damaged_revision();
    test_stop_callback();
    test_shutdown();
    test_health_stall();
    test_transient_create();
    cs_registry_free(reg);
    if (!check_failures) {
        char *cmd = cs_xasprintf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
        free(cmd);
    }
    return check_exit();
}
