/*
 * shared.c - the registry of objects shared by the connector instances of one connection (shared.h):
 * a list of entries under one mutex, each counting its holders. make() and release() are plugin code
 * and run outside the mutex; an entry whose make() is running is "not ready", and a second caller of
 * its key waits on the condition until it is (or until the attempt failed and the entry went away).
 * An entry nobody holds lingers LINGER_MS for the next holder (a workflow stopped and started again
 * keeps its connection's token and metadata), then a later take or drop, or cs_shared_flush, releases it.
 */
#include "shared.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

#define LINGER_MS 60000

struct cs_shared {
    struct cs_shared *next;
    char *key;
    void *obj;
    void (*release)(void *obj);
    int holders;
    int ready;       /* 0 while make() runs */
    int64_t idle_at; /* monotonic ms the last holder let go (holders == 0) */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t made = PTHREAD_COND_INITIALIZER;
static struct cs_shared *entries; /* under mu */

/* The entry of `key`, or NULL. mu held. */
static struct cs_shared *find(const char *key)
{
    struct cs_shared *e = entries;
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    return e;
}

/* Take `e` out of the list. mu held. */
static void unlink_entry(struct cs_shared *e)
{
    struct cs_shared **p = &entries;
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
}

static void entry_free(struct cs_shared *e)
{
    free(e->key);
    free(e);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take the entries nobody holds (lingering at least `age` ms) out of the list, into *out. mu held. */
static void unlink_idle(int64_t age, struct cs_shared **out)
{
    struct cs_shared **p = &entries;
    int64_t now = now_ms();
    while (*p) {
        struct cs_shared *e = *p;
        if (e->ready && e->holders == 0 && now - e->idle_at >= age) {
            *p = e->next;
            e->next = *out;
            *out = e;
        } else {
            p = &e->next;
        }
    }
}

/* Release the entries of a list from unlink_idle (outside mu). */
static void release_all(struct cs_shared *list)
{
    while (list) {
        struct cs_shared *next = list->next;
        if (list->release)
            list->release(list->obj);
        entry_free(list);
        list = next;
    }
}

/* A new entry for `key`, in the list and not ready, held by its maker. mu held. */
static struct cs_shared *add_pending(const char *key, void (*release)(void *obj))
{
    struct cs_shared *e = cs_xcalloc(1, sizeof *e);
    e->key = cs_xstrdup(key);
    e->release = release;
    e->holders = 1;
    e->next = entries;
    entries = e;
    return e;
}

/* Run make() for the pending entry `e` and publish the outcome; NULL (and `e` freed) on failure. */
static struct cs_shared *make_for(struct cs_shared *e, void *(*make)(void *arg), void *arg)
{
    void *obj = make(arg);
    pthread_mutex_lock(&mu);
    if (obj) {
        e->obj = obj;
        e->ready = 1;
    } else {
        unlink_entry(e);
    }
    pthread_cond_broadcast(&made);
    pthread_mutex_unlock(&mu);
    if (obj)
        return e;
    entry_free(e);
    return NULL;
}

void *cs_shared_take(const char *key, void *(*make)(void *arg), void (*release)(void *obj), void *arg,
                     struct cs_shared **entry)
{
    struct cs_shared *e, *expired = NULL;
    int maker;
    pthread_mutex_lock(&mu);
    while ((e = find(key)) && !e->ready)
        pthread_cond_wait(&made, &mu);
    maker = !e;
    if (e)
        e->holders++; /* a lingering entry is held again */
    else
        e = add_pending(key, release);
    unlink_idle(LINGER_MS, &expired);
    pthread_mutex_unlock(&mu);
    release_all(expired);
    if (maker)
        e = make_for(e, make, arg);
    *entry = e;
    return e ? e->obj : NULL;
}

void cs_shared_drop(struct cs_shared *e)
{
    struct cs_shared *expired = NULL;
    if (!e)
        return;
    pthread_mutex_lock(&mu);
    if (--e->holders == 0)
        e->idle_at = now_ms();
    unlink_idle(LINGER_MS, &expired);
    pthread_mutex_unlock(&mu);
    release_all(expired);
}

void cs_shared_flush(void)
{
    struct cs_shared *idle = NULL;
    pthread_mutex_lock(&mu);
    unlink_idle(0, &idle);
    pthread_mutex_unlock(&mu);
    release_all(idle);
}

const char *cs_shared_key(const struct cs_shared *e)
{
    return e->key;
}

void *cs_shared_object(const struct cs_shared *e)
{
    return e->obj;
}
