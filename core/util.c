/*
 * util.c - clocks, checked allocation and string formatting for the core (see util.h).
 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void *checked(void *p)
{
    if (!p) {
        fputs("crmsyncd: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *cs_xmalloc(size_t n)
{
    return checked(malloc(n ? n : 1));
}

void *cs_xcalloc(size_t n, size_t size)
{
    return checked(calloc(n ? n : 1, size ? size : 1));
}

char *cs_xstrdup(const char *s)
{
    return checked(strdup(s ? s : ""));
}

char *cs_xvasprintf(const char *fmt, va_list ap)
{
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    return checked(out);
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
