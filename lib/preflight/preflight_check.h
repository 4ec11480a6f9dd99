/*
 * preflight_check.h - one line of a connector's preflight answer, built the same way by every connector:
 * {check, ok, detail, workflow?, fix?} appended to the answer's array (preflight_check.c).
 */
#ifndef CS_PREFLIGHT_CHECK_H
#define CS_PREFLIGHT_CHECK_H

#include <stdarg.h>

#include <jansson.h>

/* Append the check `check` to `out`: `ok`, the detail formatted from `fmt`, `workflow` when not NULL and
 * `fix` only when the check failed. The new item, borrowed from `out` (for a mark such as "warning"). */
json_t *cs_preflight_add(json_t *out, const char *workflow, const char *check, int ok, const char *fix, const char *fmt,
                         ...) __attribute__((format(printf, 6, 7)));
json_t *cs_preflight_vadd(json_t *out, const char *workflow, const char *check, int ok, const char *fix,
                          const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

#endif
