/*
 * backlog_backup.c - a consistent copy of the state database while the daemon runs (cs_backlog_backup in
 * backlog.h): VACUUM INTO from a second, read-only connection, whose read transaction sees the database
 * as of one moment (WAL) while the workflows go on committing through the first. The copy is created
 * owner-only before SQLite writes into it (it holds personal data), never over an existing file, and
 * is on disk (fsync) before the call returns.
 */
#include "backlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util/util.h"

#define BACKUP_BUSY_TIMEOUT_MS 30000 /* a checkpoint that resets the WAL holds its lock briefly */

/* Create `dest`, empty and owner-only (VACUUM INTO writes into an empty file): 0, or the code with *err. */
static int create_empty(const char *dest, char **err)
{
    int fd;
    if (dest[0] != '/') {
        *err = cs_xasprintf("backup file \"%s\": give an absolute path (the daemon writes it, as its own user)", dest);
        return CS_E_INVAL;
    }
    if ((fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        *err = errno == EEXIST
                   ? cs_xasprintf("backup file %s exists already: a backup never replaces a file; choose another "
                                  "name, or move that one away",
                                  dest)
                   : cs_xasprintf("cannot create backup file %s: %s", dest, strerror(errno));
        return errno == EEXIST ? CS_E_STATE : CS_E_IO;
    }
    close(fd);
    return 0;
}

/* VACUUM INTO `dest` from a read-only connection to `src`: 0, or CS_E_DB with *err. */
static int vacuum_into(const char *src, const char *dest, char **err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(src, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, BACKUP_BUSY_TIMEOUT_MS);
        rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, dest, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_OK && rc != SQLITE_DONE)
        *err = cs_xasprintf("cannot copy state database %s to %s: %s", src, dest,
                            db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_OK || rc == SQLITE_DONE ? 0 : CS_E_DB;
}

/* fsync `dest` and tell its size: 0, or CS_E_IO with *err. */
static int sync_file(const char *dest, int64_t *bytes, char **err)
{
    struct stat st;
    int fd = open(dest, O_RDONLY | O_CLOEXEC), rc = 0;
    if (fd < 0 || fsync(fd) != 0 || fstat(fd, &st) != 0) {
        *err = cs_xasprintf("cannot write backup file %s to disk: %s", dest, strerror(errno));
        rc = CS_E_IO;
    } else {
        *bytes = (int64_t)st.st_size;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

int cs_backlog_backup(struct cs_backlog *b, const char *dest, int64_t *bytes, char **err)
{
    int rc;
    *err = NULL;
    *bytes = 0;
    if (!cs_backlog_path(b)) {
        *err = cs_xasprintf("the state is kept in PostgreSQL, which crmsyncctl backup does not copy: back the "
                            "database up with pg_dump or your PostgreSQL service's own backups");
        return CS_E_INVAL;
    }
    if ((rc = create_empty(dest, err)) != 0)
        return rc;
    rc = vacuum_into(cs_backlog_path(b), dest, err);
    if (rc == 0)
        rc = sync_file(dest, bytes, err);
    if (rc != 0)
        unlink(dest); /* this call created it: no half copy is left to be taken for a backup */
    return rc;
}
