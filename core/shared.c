/*
 * shared.c - the registry of objects shared by the connector instances of one connection (shared.h):
 * a list of entries under one mutex, each counting its holders. make() and release() are plugin code
 * and run outside the mutex; an entry whose make() is running is "not ready", and a second caller of
 * its key waits on the condition until it is (or until the attempt failed and the entry went away).
 */
#include "shared.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct cs_shared {
    struct cs_shared *next;
    char *key;
    void *obj;
    void (*release)(void *obj);
    int holders;
    int ready; /* 0 while make() runs */
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
    struct cs_shared *e;
    int maker;
    pthread_mutex_lock(&mu);
    while ((e = find(key)) && !e->ready)
        pthread_cond_wait(&made, &mu);
    maker = !e;
    if (e)
        e->holders++;
    else
        e = add_pending(key, release);
    pthread_mutex_unlock(&mu);
    if (maker)
        e = make_for(e, make, arg);
    *entry = e;
    return e ? e->obj : NULL;
}

void cs_shared_drop(struct cs_shared *e)
{
    int last;
    if (!e)
        return;
    pthread_mutex_lock(&mu);
    last = --e->holders == 0;
    if (last)
        unlink_entry(e);
    pthread_mutex_unlock(&mu);
    if (!last)
        return;
    if (e->release)
        e->release(e->obj);
    entry_free(e);
}

const char *cs_shared_key(const struct cs_shared *e)
{
    return e->key;
}

void *cs_shared_object(const struct cs_shared *e)
{
    return e->obj;
}
