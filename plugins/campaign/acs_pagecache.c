/*
 * acs_pagecache.c - the journal pages an instance fetched in the last few seconds, by request URL.
 * Each event type is its own stream with its own cursor (acs_events.c), and the core reads the
 * streams of a workflow one after the other; while their cursors agree (always, unless a stream was
 * mapped later or a crash fell between their checkpoints) each asks for the same pages, and this
 * cache answers all but the first. A journal page at a given position only grows at the end of the
 * journal, so a page a few seconds old is a consistent, if slightly short, view: the next read
 * continues from its last position. A page is dropped once every stream of the instance has read it,
 * and the cache is bounded by slots, bytes and age; no global state.
 */
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define MAX_AGE_MS 10000
#define MAX_BYTES  (6u << 20) /* four pages of 1.5 MB, the largest the emulator answers */

static void drop(struct acs_pagecache *c, struct acs_cached_page *p)
{
    c->bytes -= p->bytes;
    free(p->url);
    free(p->next);
    json_decref(p->doc);
    memset(p, 0, sizeof *p);
}

/* Drop the pages too old to reuse. */
static void expire(struct acs_pagecache *c, int64_t now)
{
    for (size_t i = 0; i < ACS_PAGECACHE_SLOTS; i++)
        if (c->slot[i].url && now - c->slot[i].at_ms > MAX_AGE_MS)
            drop(c, &c->slot[i]);
}

json_t *acs_pagecache_take(struct acs_pagecache *c, const char *url, int kind, char **next)
{
    expire(c, acs_now_ms());
    for (size_t i = 0; i < ACS_PAGECACHE_SLOTS; i++) {
        struct acs_cached_page *p = &c->slot[i];
        json_t *doc;
        if (!p->url || strcmp(p->url, url) != 0)
            continue;
        *next = NULL;
        if (p->next && !(*next = strdup(p->next)))
            return NULL; /* out of memory: fetched again */
        doc = json_incref(p->doc);
        p->waiting &= ~(1u << kind);
        if (!p->waiting) /* every stream has read it */
            drop(c, p);
        return doc;
    }
    return NULL;
}

void acs_pagecache_put(struct acs_pagecache *c, const char *url, json_t *doc, size_t bytes, const char *next,
                       unsigned waiting)
{
    int64_t now = acs_now_ms();
    struct acs_cached_page *victim = NULL;
    expire(c, now);
    if (!waiting || bytes > MAX_BYTES / 4) { /* no other reader, or a page too big to keep */
        json_decref(doc);
        return;
    }
    for (size_t i = 0; i < ACS_PAGECACHE_SLOTS; i++) { /* a free slot, else the oldest */
        struct acs_cached_page *p = &c->slot[i];
        if (!p->url || strcmp(p->url, url) == 0) {
            victim = p;
            break;
        }
        if (!victim || p->at_ms < victim->at_ms)
            victim = p;
    }
    if (victim->url)
        drop(c, victim);
    while (c->bytes + bytes > MAX_BYTES) { /* make room: oldest first */
        struct acs_cached_page *oldest = NULL;
        for (size_t i = 0; i < ACS_PAGECACHE_SLOTS; i++)
            if (c->slot[i].url && (!oldest || c->slot[i].at_ms < oldest->at_ms))
                oldest = &c->slot[i];
        if (!oldest)
            break;
        drop(c, oldest);
    }
    victim->url = strdup(url);
    victim->next = next ? strdup(next) : NULL;
    if (!victim->url || (next && !victim->next)) { /* out of memory: not cached, nothing lost */
        free(victim->url);
        free(victim->next);
        victim->url = victim->next = NULL;
        json_decref(doc);
        return;
    }
    victim->doc = doc;
    victim->bytes = bytes;
    victim->at_ms = now;
    victim->waiting = waiting;
    c->bytes += bytes;
}

void acs_pagecache_free(struct acs_pagecache *c)
{
    for (size_t i = 0; i < ACS_PAGECACHE_SLOTS; i++)
        if (c->slot[i].url)
            drop(c, &c->slot[i]);
}
