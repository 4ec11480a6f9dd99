/*
 * state_open.c - crmsyncd's state store at start (state_open.h): the state directory's SQLite database,
 * owner-only and locked, or a PostgreSQL database, waited for with back-off while it cannot be reached.
 * The connection string is read from its owner-only file here and handed to the driver only: it is
 * never logged.
 */
#include "state_open.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config/config.h"
#include "sdnotify.h"
#include "state/state_dir.h"
#include "state/state_reset.h"
#include "util/backoff.h"
#include "util/log.h"
#include "util/util.h"

#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS  30000

/* Log why the state could not be opened, with the way to mend a damaged store (rc CS_E_DAMAGED). */
static void state_refused(int rc, const char *err, const char *config, const char *dir)
{
    char *fix = rc == CS_E_DAMAGED ? cs_state_fix(config, dir) : NULL;
    cs_log(CS_LOG_ERROR, "core", "%s%s%s; nothing was started", err ? err : "cannot open the state database",
           fix ? ". " : "", fix ? fix : "");
    free(fix);
}

/* Lock the state directory (*lock_fd holds the lock) and open its database, owner-only. */
static int open_sqlite(const char *dir, const char *config, struct cs_backlog **backlog, int *lock_fd)
{
    char *path, *err = NULL;
    mode_t mask;
    int rc;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        cs_log(CS_LOG_ERROR, "core", "cannot create state_dir %s: %s", dir, strerror(errno));
        return -1;
    }
    if ((rc = cs_state_dir_lock(dir, lock_fd, &err)) != 0) {
        state_refused(rc, err, config, dir);
        free(err);
        return -1;
    }
    path = cs_xasprintf("%s/state.db", dir);
    mask = umask(077); /* a new state.db is owner-only, and SQLite gives its -wal and -shm its mode */
    rc = cs_backlog_open(path, backlog, &err);
    umask(mask);
    if (rc == 0)
        cs_state_dir_opened(*lock_fd);
    if (rc != 0) {
        state_refused(rc, err, config, dir);
        free(err);
    } else {
        cs_log(CS_LOG_INFO, "core", "state database %s", path);
    }
    free(path);
    return rc;
}

/* Wait ms unless SIGTERM or SIGINT (blocked in every thread) comes first: 1 when one came. */
static int signalled_within(int64_t ms)
{
    struct timespec wait = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT)
            return 1;
        if (sig < 0 && errno == EINTR)
            continue;
        return 0;
    }
}

/* Connect with the connection string of dsn_file (or libpq's PG* environment when there is none), again
 * and again while the database cannot be reached: a database that starts after crmsyncd is no error. */
static int open_postgresql(const char *dsn_file, struct cs_backlog **backlog, int *stopped,
                           const struct cs_state_wait *wait)
{
    char *dsn = NULL, *err = NULL, status[160], *why;
    int rc, attempt = 0;

    if (dsn_file && cs_config_read_secret(dsn_file, &dsn, &err) != 0) {
        cs_log(CS_LOG_ERROR, "core", "state.dsn_file: %s; nothing was started", err);
        free(err);
        return -1;
    }
    while ((rc = cs_backlog_open_driver("postgresql", dsn ? dsn : "", backlog, &err)) == CS_E_DB) {
        int64_t delay = cs_backoff_delay(RETRY_BASE_MS, RETRY_CAP_MS, ++attempt, RETRY_BASE_MS / 2);
        cs_log(CS_LOG_ERROR, "core", "%s; retrying in %.1f s (attempt %d)", err, delay / 1000.0, attempt);
        snprintf(status, sizeof status, "STATUS=starting: the state database cannot be reached (attempt %d)", attempt);
        cs_sd_notify(status);
        why = cs_xasprintf("the state database cannot be reached: %s; next try in %.1f s (attempt %d)", err,
                           delay / 1000.0, attempt);
        if (wait)
            wait->waiting(wait->arg, why);
        free(why);
        free(err);
        err = NULL;
        if ((*stopped = signalled_within(delay)))
            break;
    }
    if (dsn)
        explicit_bzero(dsn, strlen(dsn));
    free(dsn);
    if (rc != 0 && !*stopped)
        cs_log(CS_LOG_ERROR, "core", "%s; nothing was started", err ? err : "cannot open the state database");
    else if (rc == 0)
        cs_log(CS_LOG_INFO, "core", "state database: PostgreSQL%s", attempt ? ", reached at last" : "");
    free(err);
    return rc == 0 ? 0 : -1;
}

int cs_state_waits(const json_t *root)
{
    const char *driver = json_string_value(json_object_get(json_object_get(root, "state"), "driver"));
    return driver && strcmp(driver, "postgresql") == 0;
}

int cs_state_open(const json_t *root, const char *config, struct cs_backlog **backlog, int *lock_fd, int *stopped,
                  const struct cs_state_wait *wait)
{
    *stopped = 0;
    if (cs_state_waits(root))
        return open_postgresql(json_string_value(json_object_get(json_object_get(root, "state"), "dsn_file")), backlog,
                               stopped, wait);
    return open_sqlite(json_string_value(json_object_get(root, "state_dir")), config, backlog, lock_fd);
}
