/*
 * rate.c - sliding one-minute rate from one-second slots (see rate.h).
 */
#include "rate.h"

#include <string.h>

#include "util.h"

void cs_rate_init(struct cs_rate *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
}

void cs_rate_destroy(struct cs_rate *r)
{
    pthread_mutex_destroy(&r->lock);
}

void cs_rate_add(struct cs_rate *r, int64_t n)
{
    int64_t now = cs_mono_ms() / 1000;
    int slot = (int)(now % CS_RATE_WINDOW);
    pthread_mutex_lock(&r->lock);
    if (r->second[slot] != now) {
        r->second[slot] = now;
        r->count[slot] = 0;
    }
    r->count[slot] += n;
    pthread_mutex_unlock(&r->lock);
}

double cs_rate_per_second(struct cs_rate *r)
{
    int64_t now = cs_mono_ms() / 1000, sum = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < CS_RATE_WINDOW; i++)
        if (now - r->second[i] < CS_RATE_WINDOW)
            sum += r->count[i];
    pthread_mutex_unlock(&r->lock);
    return (double)sum / CS_RATE_WINDOW;
}
