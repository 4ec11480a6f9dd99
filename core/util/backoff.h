/*
 * backoff.h - retry delays: exponential backoff with full jitter, capped, never shorter than what the
 * remote asked for (Retry-After).
 */
#ifndef CS_BACKOFF_H
#define CS_BACKOFF_H

#include <stdint.h>

/* Delay before retry number `attempt` (1 = first retry): uniform in [0, min(cap, base * 2^(attempt-1))],
 * then at least retry_after_ms. */
int64_t cs_backoff_delay(int64_t base_ms, int64_t cap_ms, int attempt, int64_t retry_after_ms);

#endif
