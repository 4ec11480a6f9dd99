/*
 * util.c - clocks, checked allocation and string formatting for the core (see util.h).
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t cs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cs_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void *cs_xcheck(void *p)
{
    if (!p) {
        fputs("crmsyncd: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *cs_xmalloc(size_t n)
{
    return cs_xcheck(malloc(n ? n : 1));
}

void *cs_xcalloc(size_t n, size_t size)
{
    return cs_xcheck(calloc(n ? n : 1, size ? size : 1));
}

char *cs_xstrdup(const char *s)
{
    return cs_xcheck(strdup(s ? s : ""));
}

char *cs_xvasprintf(const char *fmt, va_list ap)
{
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    return cs_xcheck(out);
}

char *cs_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *out;
    va_start(ap, fmt);
    out = cs_xvasprintf(fmt, ap);
    va_end(ap);
    return out;
}

void cs_format_clock(int64_t unix_ms, char *buf, size_t size)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, size, "%H:%M:%S", &tm);
}

int cs_read_all(int fd, size_t max, char **out, size_t *len)
{
    char *buf = cs_xmalloc(max + 1);
    size_t n = 0;
    int saved;

    for (;;) {
        ssize_t got = read(fd, buf + n, max + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max) {
            errno = EFBIG;
            goto fail;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
fail:
    saved = errno;
    explicit_bzero(buf, n);
    free(buf);
    errno = saved;
    return -1;
}

char *cs_read_file(const char *path, size_t max, size_t *len, char **err)
{
    char *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), saved = 0;
    if (fd < 0 || cs_read_all(fd, max, &text, len) < 0) {
        saved = errno;
        *err = cs_xasprintf("%s: %s", path, strerror(saved));
    }
    if (fd >= 0)
        close(fd);
    errno = saved; /* the caller may tell why (EFBIG: over max) */
    return text;
}
