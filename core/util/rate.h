/*
 * rate.h - records per second over the last minute, from one-second slots: cheap to add to from
 * writer threads and to read from the admin API.
 */
#ifndef CS_RATE_H
#define CS_RATE_H

#include <pthread.h>
#include <stdint.h>

#define CS_RATE_WINDOW 60

struct cs_rate {
    pthread_mutex_t lock;
    int64_t second[CS_RATE_WINDOW]; /* which second each slot counts */
    int64_t count[CS_RATE_WINDOW];
};

void cs_rate_init(struct cs_rate *r);
void cs_rate_destroy(struct cs_rate *r);
void cs_rate_add(struct cs_rate *r, int64_t n);
/* Average per second over the last CS_RATE_WINDOW seconds. */
double cs_rate_per_second(struct cs_rate *r);

#endif
