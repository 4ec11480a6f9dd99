/*
 * state_dir.h - the state directory's guard: one crmsyncd per state directory, no silent loss of an
 * emptied state database, owner-only database files (see state_dir.c).
 */
#ifndef CS_STATE_DIR_H
#define CS_STATE_DIR_H

/* Lock `dir` for this process (the lock lives as long as *fd stays open). 0, or CS_E_STATE with *err
 * (new) naming the cause: the PID of the crmsyncd that holds it. */
int cs_state_dir_take(const char *dir, int *fd, char **err);

/* cs_state_dir_take (refused with the fix), then check its state.db before it is opened. 0, CS_E_STATE (the lock, or the files
 * cannot be made owner-only) or CS_E_DAMAGED (an empty state.db where one was kept before), with *err. */
int cs_state_dir_lock(const char *dir, int *fd, char **err);

/* The state database opened: record this PID in the lock file, which also marks that the directory
 * now holds state. */
void cs_state_dir_opened(int fd);

#endif
