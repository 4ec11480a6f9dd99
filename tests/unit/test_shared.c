/*
 * test_shared.c - host->connection_shared and its registry (core/host/shared.c): instances of one
 * connector, connection and options share one object per name; other options, another connection or
 * another name get their own; one context asking twice holds it once; after the last holder's context
 * is freed the object lingers for the next instance (a restart), and a flush releases exactly what
 * nobody holds; a NULL from make() keeps nothing; concurrent first callers make it once; a context
 * without a connection gets NULL.
 */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "host/host.h"
#include "util/log.h"
#include "host/shared.h"
#include "util/util.h"

static const cs_connector token_conn = {.name = "campaign"};
static const cs_connector other_conn = {.name = "dynamics365"};

/* What make() and release() saw. */
static int made, released;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void *make_token(void *arg)
{
    int *token = cs_xcalloc(1, sizeof *token);
    pthread_mutex_lock(&count_lock);
    *token = ++made;
    pthread_mutex_unlock(&count_lock);
    (void)arg;
    return token;
}

static void *make_nothing(void *arg)
{
    (void)arg;
    return NULL;
}

static void release_token(void *obj)
{
    pthread_mutex_lock(&count_lock);
    released++;
    pthread_mutex_unlock(&count_lock);
    free(obj);
}

/* A context of a connector instance of connection `name` with options {"url": url}. */
static struct cs_ctx *instance_ctx(const cs_connector *c, const char *name, const char *url)
{
    struct cs_ctx *ctx = cs_ctx_new("test", name, NULL, NULL, NULL);
    json_t *options = json_pack("{s:s, s:i}", "url", url, "max_in_flight", 8);
    cs_ctx_set_connection(ctx, c, name, options);
    json_decref(options);
    return ctx;
}

static void *shared(struct cs_ctx *ctx, const char *name)
{
    return cs_host_table.connection_shared(ctx, name, make_token, release_token, NULL);
}

static void test_sharing(void)
{
    struct cs_ctx *w0 = instance_ctx(&token_conn, "acs", "http://a"),
                  *w1 = instance_ctx(&token_conn, "acs", "http://a");
    struct cs_ctx *reloaded = instance_ctx(&token_conn, "acs", "http://b");
    struct cs_ctx *other_name = instance_ctx(&token_conn, "acs2", "http://a");
    struct cs_ctx *other_connector = instance_ctx(&other_conn, "acs", "http://a");
    void *token;

    made = released = 0;
    token = shared(w0, "token");
    CHECK(token != NULL);
    CHECK(shared(w1, "token") == token);
    CHECK(shared(w0, "token") == token); /* asking again holds it once */
    CHECK_INT(made, 1);
    CHECK(shared(w0, "metadata") != token);
    CHECK(shared(reloaded, "token") != token);
    CHECK(shared(other_name, "token") != token);
    CHECK(shared(other_connector, "token") != token);
    CHECK_INT(made, 5);

    cs_ctx_free(w0); /* w1 still holds the token; the metadata, no longer held, lingers */
    CHECK_INT(released, 0);
    CHECK(shared(w1, "token") == token);
    cs_ctx_free(w1);
    cs_ctx_free(reloaded);
    cs_ctx_free(other_name);
    cs_ctx_free(other_connector);
    CHECK_INT(released, 0);

    /* a workflow started again within the minute takes the lingering objects: nothing is made */
    w0 = instance_ctx(&token_conn, "acs", "http://a");
    CHECK(shared(w0, "token") == token);
    CHECK(shared(w0, "metadata") != NULL);
    CHECK_INT(made, 5);

    /* a flush (before the plugins are unloaded) releases what nobody holds, and only that */
    cs_shared_flush();
    CHECK_INT(released, 3);
    cs_ctx_free(w0);
    cs_shared_flush();
    CHECK_INT(released, 5);

    /* once released, the next instance makes a new one */
    w0 = instance_ctx(&token_conn, "acs", "http://a");
    CHECK(shared(w0, "token") != NULL);
    CHECK_INT(made, 6);
    cs_ctx_free(w0);
    cs_shared_flush();
    CHECK_INT(released, 6);
}

static void test_make_null(void)
{
    struct cs_ctx *ctx = instance_ctx(&token_conn, "acs", "http://null");
    struct cs_ctx *plain = cs_ctx_new("test/stage", "stage", NULL, NULL, NULL);

    made = released = 0;
    CHECK(cs_host_table.connection_shared(ctx, "token", make_nothing, release_token, NULL) == NULL);
    CHECK(shared(ctx, "token") != NULL); /* nothing was kept: this call makes it */
    CHECK_INT(made, 1);
    CHECK(shared(plain, "token") == NULL); /* no connection */
    CHECK_INT(made, 1);
    cs_ctx_free(ctx);
    cs_ctx_free(plain);
    cs_shared_flush();
    CHECK_INT(released, 1);
}

#define THREADS 8

struct taker {
    struct cs_ctx *ctx;
    void *got;
};

static void *take(void *arg)
{
    struct taker *t = arg;
    t->got = shared(t->ctx, "token");
    return NULL;
}

static void test_concurrent_first_callers(void)
{
    struct taker t[THREADS];
    pthread_t th[THREADS];

    made = released = 0;
    for (int i = 0; i < THREADS; i++) {
        t[i].ctx = instance_ctx(&token_conn, "acs", "http://concurrent");
        pthread_create(&th[i], NULL, take, &t[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(made, 1);
    for (int i = 0; i < THREADS; i++) {
        CHECK(t[i].got == t[0].got);
        cs_ctx_free(t[i].ctx);
    }
    cs_shared_flush();
    CHECK_INT(released, 1);
}

int main(void)
{
    cs_log_set_level(CS_LOG_ERROR);
    test_sharing();
    test_make_null();
    test_concurrent_first_callers();
    return check_exit();
}
