/*
 * state_dir.c - the state directory before and after its database opens: one crmsyncd at a time (a
 * write lock on crmsyncd.lock, which names the holder's PID once its state database has opened), an
 * empty state.db where a database was opened before refused, and the database's files owner-only.
 */
#include "state_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define LOCK_FILE "crmsyncd.lock"

/* The write lock on the open lock file, or why not (new). */
static char *take_lock(int fd, const char *path)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) == 0)
        return NULL;
    if (errno != EACCES && errno != EAGAIN)
        return cs_xasprintf("cannot lock %s: %s", path, strerror(errno));
    fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        return cs_xasprintf("the state directory is in use: crmsyncd PID %ld holds the lock on %s", (long)fl.l_pid,
                            path);
    return cs_xasprintf("the state directory is in use: another process holds the lock on %s", path);
}

/* Refuse an empty state.db where a crmsyncd opened one before (the lock file says so: CS_E_DAMAGED),
 * and make the database's files owner-only (CS_E_STATE when that fails). 0, or *err (new) says why not. */
static int check_db(const char *dir, int opened_before, char **err)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", NULL};
    char *db = cs_xasprintf("%s/state.db", dir);
    struct stat st;

    *err = NULL;
    if (stat(db, &st) == 0 && st.st_size == 0 && opened_before) {
        *err = cs_xasprintf("state database %s is empty (0 bytes), but a crmsyncd kept its state here before: "
                            "the cursors and the backlog are gone",
                            db);
        free(db);
        return CS_E_DAMAGED;
    }
    for (size_t i = 0; !*err && suffixes[i]; i++) {
        char *file = cs_xasprintf("%s%s", db, suffixes[i]);
        if (chmod(file, 0600) != 0 && errno != ENOENT)
            *err = cs_xasprintf("cannot make %s owner-only (chmod 600): %s", file, strerror(errno));
        free(file);
    }
    free(db);
    return *err ? CS_E_STATE : 0;
}

int cs_state_dir_take(const char *dir, int *fd, char **err)
{
    char *path = cs_xasprintf("%s/" LOCK_FILE, dir);

    *err = NULL;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0)
        *err = cs_xasprintf("cannot open %s: %s", path, strerror(errno));
    else if ((*err = take_lock(*fd, path))) {
        close(*fd);
        *fd = -1;
    }
    free(path);
    return *err ? CS_E_STATE : 0;
}

int cs_state_dir_lock(const char *dir, int *fd, char **err)
{
    struct stat st;
    int rc;

    if (cs_state_dir_take(dir, fd, err) != 0) {
        char *why = cs_xasprintf("%s; stop it first, or give this one another state_dir (two daemons on one "
                                 "state would write every record twice)",
                                 *err);
        free(*err);
        *err = why;
        return CS_E_STATE;
    }
    if ((rc = check_db(dir, fstat(*fd, &st) == 0 && st.st_size > 0, err)) != 0) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

void cs_state_dir_opened(int fd)
{
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        return; /* only informative: the lock itself holds */
}
