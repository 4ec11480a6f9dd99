/*
 * backoff.c - full-jitter exponential backoff (see backoff.h), with a per-thread xorshift generator so
 * writers never contend on a shared random state.
 */
#include "backoff.h"

#include <time.h>

static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;
    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&state;
        state |= 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int64_t cs_backoff_delay(int64_t base_ms, int64_t cap_ms, int attempt, int64_t retry_after_ms)
{
    int64_t ceiling = base_ms > 0 ? base_ms : 1, delay;
    for (int i = 1; i < attempt && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    delay = ceiling > 0 ? (int64_t)(next_random() % (uint64_t)(ceiling + 1)) : 0;
    return delay > retry_after_ms ? delay : retry_after_ms;
}
