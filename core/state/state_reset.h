/*
 * state_reset.h - crmsyncd --reset-state: the state database moved aside (never deleted) after the
 * operator confirms, and the fix a damaged or emptied state database is refused with (state_reset.c).
 */
#ifndef CS_STATE_RESET_H
#define CS_STATE_RESET_H

#include <stdio.h>

/* What to do about a damaged or emptied state database in `dir` of configuration `config`: restore a
 * backup (crmsyncctl backup), or reset (crmsyncd --reset-state -c config). New string. */
char *cs_state_fix(const char *config, const char *dir);

/*
 * Move `dir`'s state.db and its -wal and -shm files aside to state.db.reset-<UTC time>[.N][-wal, -shm] in
 * `dir`, so that the next start begins anew. Asks first on `prompt`, unless `assume_yes`: the operator
 * types `dir` on `in`. Refused while a crmsyncd holds the directory (its PID named). 0 with *moved_to
 * (new; NULL when there was no state.db to move), or CS_E_STATE (not confirmed, in use) or CS_E_IO with
 * *err (new).
 */
int cs_state_reset(const char *dir, int assume_yes, FILE *in, FILE *prompt, char **moved_to, char **err);

#endif
