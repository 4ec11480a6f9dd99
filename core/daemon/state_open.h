/*
 * state_open.h - crmsyncd opens its state store as the configuration's `state` says (state_open.c).
 */
#ifndef CS_STATE_OPEN_H
#define CS_STATE_OPEN_H

#include <jansson.h>

#include "state/backlog.h"

/* Told why the state store is not open yet, at each attempt of a database that cannot be reached. */
struct cs_state_wait {
    void (*waiting)(void *arg, const char *why);
    void *arg;
};

/* 1 when the configuration `root`'s state store is a database that may have to be waited for. */
int cs_state_waits(const json_t *root);

/* Open the state store of the configuration `root` (read from the file `config`): the sqlite driver in
 * state_dir (locked for this process: *lock_fd holds the lock; a damaged store is refused with the commands
 * that mend it), or the postgresql driver with state.dsn_file's connection string; an unreachable database
 * is retried with back-off until it answers or SIGTERM/SIGINT arrives, `wait` (may be NULL) told why. 0, or -1 after the reason was logged
 * (*stopped set when a signal ended the wait). */
int cs_state_open(const json_t *root, const char *config, struct cs_backlog **backlog, int *lock_fd, int *stopped,
                  const struct cs_state_wait *wait);

#endif
