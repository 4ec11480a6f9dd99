/*
 * fake_host.h - a host table for unit tests that drive a plugin's entity handlers or stages without
 * the core: log is silent, set_reason keeps the last reason in fake_reason, metric_add is ignored,
 * mapping_streams answers fake_maps (an empty list when NULL), describe answers fake_described
 * (CS_NODATA when NULL), and connection_shared keeps one object per name for the whole program (every
 * instance is of one connection) until fake_shared_release() releases them. Include it once per test
 * program.
 */
#ifndef CS_TEST_FAKE_HOST_H
#define CS_TEST_FAKE_HOST_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <crmsync/plugin.h>

static char fake_reason[1024];
static json_t *fake_maps;      /* what mapping_streams answers */
static json_t *fake_described; /* what describe answers */

static void fake_log(cs_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx, (void)level, (void)fmt;
}

static void fake_set_reason(cs_ctx *ctx, int http, int64_t retry_after, const char *fmt, ...)
{
    va_list ap;
    (void)ctx, (void)http, (void)retry_after;
    va_start(ap, fmt);
    vsnprintf(fake_reason, sizeof fake_reason, fmt, ap);
    va_end(ap);
}

static void fake_metric_add(cs_ctx *ctx, const char *name, int64_t delta)
{
    (void)ctx, (void)name, (void)delta;
}

static json_t *fake_mapping_streams(cs_ctx *ctx)
{
    (void)ctx;
    return fake_maps ? json_deep_copy(fake_maps) : json_array();
}

static cs_status fake_describe(cs_ctx *ctx, const char *side, const char *stream, json_t **out)
{
    (void)ctx, (void)side, (void)stream;
    *out = fake_described ? json_incref(fake_described) : NULL;
    return fake_described ? CS_OK : CS_NODATA;
}

#define FAKE_SHARED_MAX 16
static struct fake_shared {
    char name[64];
    void *obj;
    void (*release)(void *obj);
} fake_shared[FAKE_SHARED_MAX];

static void *fake_connection_shared(cs_ctx *ctx, const char *name, void *(*make)(void *arg), void (*release)(void *obj),
                                    void *arg)
{
    int i = 0;
    (void)ctx;
    while (i < FAKE_SHARED_MAX && fake_shared[i].obj && strcmp(fake_shared[i].name, name) != 0)
        i++;
    if (i == FAKE_SHARED_MAX)
        return NULL;
    if (!fake_shared[i].obj && (fake_shared[i].obj = make(arg))) {
        snprintf(fake_shared[i].name, sizeof fake_shared[i].name, "%s", name);
        fake_shared[i].release = release;
    }
    return fake_shared[i].obj;
}

/* Release every shared object, as the core does after the last instance is destroyed. */
static inline void fake_shared_release(void)
{
    for (int i = 0; i < FAKE_SHARED_MAX && fake_shared[i].obj; i++) {
        if (fake_shared[i].release)
            fake_shared[i].release(fake_shared[i].obj);
        fake_shared[i] = (struct fake_shared){{0}, NULL, NULL};
    }
}

static const cs_host fake_host = {.struct_size = sizeof(cs_host),
                                  .log = fake_log,
                                  .set_reason = fake_set_reason,
                                  .metric_add = fake_metric_add,
                                  .mapping_streams = fake_mapping_streams,
                                  .describe = fake_describe,
                                  .connection_shared = fake_connection_shared};

#endif
