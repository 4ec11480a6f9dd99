/*
 * util.h - small helpers every core module uses: error codes, clocks, checked allocation and string
 * formatting. Core functions return 0 or a negative CS_E_* code.
 */
#ifndef CS_UTIL_H
#define CS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum {
    CS_E_NOMEM = -1,    /* allocation failed */
    CS_E_INVAL = -2,    /* bad argument or document */
    CS_E_NOTFOUND = -3, /* no such row or name */
    CS_E_DB = -4,       /* SQLite error (details in the error string) */
    CS_E_IO = -5,       /* file or system call error */
    CS_E_STATE = -6,    /* not legal in the current state */
    CS_E_AGAIN = -7,    /* a transient failure: the same call may succeed later */
    CS_E_DAMAGED = -8   /* the state database is damaged or emptied: restore a backup or reset it */
};

/* Wall clock and monotonic clock in milliseconds. */
int64_t cs_now_ms(void);
int64_t cs_mono_ms(void);

/* malloc/strdup that abort with a message on exhaustion: the daemon cannot continue sanely without
 * memory, and a silent NULL would risk losing records. */
void *cs_xmalloc(size_t n);
/* p, or the same abort when p is NULL (for allocations made elsewhere, e.g. jansson's). */
void *cs_xcheck(void *p);
void *cs_xcalloc(size_t n, size_t size);
char *cs_xstrdup(const char *s);
/* New string formatted like printf. */
char *cs_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cs_xvasprintf(const char *fmt, va_list ap);

/* Read all of `fd` (at most `max` bytes, else EFBIG) into a new NUL-terminated buffer. 0 or -1 (errno). */
int cs_read_all(int fd, size_t max, char **out, size_t *len);
/* A whole file (at most `max` bytes) as a new string of *len bytes, or NULL with *err (new) naming the
 * path and the reason, and errno set to it (EFBIG: larger than max). */
char *cs_read_file(const char *path, size_t max, size_t *len, char **err);

/* Format a Unix-ms time as local "HH:MM:SS" into buf (at least 9 bytes). */
void cs_format_clock(int64_t unix_ms, char *buf, size_t size);

#endif
