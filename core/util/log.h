/*
 * log.h - the daemon's log: one line per event on stderr, "<level> [scope] message", with an sd-daemon
 * priority prefix when stderr is connected to journald. Scopes are "workflow/plugin", "loader", ...
 * Never log secrets; record payloads only at debug level.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stdarg.h>

#include <crmsync/plugin.h>

/* Messages above this level (CS_LOG_*) are dropped. Default CS_LOG_INFO. */
void cs_log_set_level(int level);
int cs_log_get_level(void);
/* Parse "error", "warning", "notice", "info", "debug"; returns -1 when unknown. */
int cs_log_level_parse(const char *name);

void cs_log(int level, const char *scope, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cs_vlog(int level, const char *scope, const char *fmt, va_list ap);

#endif
