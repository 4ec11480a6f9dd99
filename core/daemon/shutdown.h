/*
 * shutdown.h - the bound on a stop (SIGTERM, SIGINT): a watchdog that ends the process once stop_timeout
 * has passed, whatever the graceful stop is still waiting for (see shutdown.c).
 */
#ifndef CS_SHUTDOWN_H
#define CS_SHUTDOWN_H

#include <stdint.h>

struct cs_shutdown;

/* Arm the watchdog: after timeout_ms it logs what the stop was waiting for and exits with `status`. */
struct cs_shutdown *cs_shutdown_arm(int64_t timeout_ms, int status);
/* What the stop waits for now, in words ("the workflows to stop"), for the watchdog's message. */
void cs_shutdown_step(struct cs_shutdown *s, const char *waiting_for);
/* The stop is over: disarm and free. NULL is ignored. */
void cs_shutdown_done(struct cs_shutdown *s);

#endif
