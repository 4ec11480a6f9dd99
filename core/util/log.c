/*
 * log.c - stderr logging with levels and scopes (see log.h). One fputs per line under the stdio lock,
 * so lines from concurrent threads never interleave. A line to a terminal or a file starts with its
 * RFC 3339 time (UTC, milliseconds); journald keeps its own and gets the priority instead.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static int max_level = CS_LOG_INFO;
static int journal = -1; /* -1 unknown, 0 terminal/file, 1 journald stream */

static const char *const level_names[] = {[CS_LOG_ERROR] = "error",
                                          [CS_LOG_WARNING] = "warning",
                                          [CS_LOG_NOTICE] = "notice",
                                          [CS_LOG_INFO] = "info",
                                          [CS_LOG_DEBUG] = "debug"};

void cs_log_set_level(int level)
{
    max_level = level;
}

int cs_log_get_level(void)
{
    return max_level;
}

int cs_log_level_parse(const char *name)
{
    for (int l = CS_LOG_ERROR; l <= CS_LOG_DEBUG; l++)
        if (name && strcmp(name, level_names[l]) == 0)
            return l;
    return -1;
}

void cs_vlog(int level, const char *scope, const char *fmt, va_list ap)
{
    char *msg, *line;
    if (level > max_level)
        return;
    if (level < CS_LOG_ERROR)
        level = CS_LOG_ERROR;
    if (journal < 0)
        journal = getenv("JOURNAL_STREAM") != NULL; /* set by systemd when stderr goes to the journal */
    msg = cs_xvasprintf(fmt, ap);
    if (journal) {
        line = cs_xasprintf("<%d>[%s] %s\n", level, scope ? scope : "core", msg);
    } else {
        char stamp[32];
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        line = cs_xasprintf("%s.%03ldZ crmsyncd: %s: [%s] %s\n", stamp, ts.tv_nsec / 1000000, level_names[level],
                            scope ? scope : "core", msg);
    }
    fputs(line, stderr);
    fflush(stderr);
    free(line);
    free(msg);
}

void cs_log(int level, const char *scope, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cs_vlog(level, scope, fmt, ap);
    va_end(ap);
}
