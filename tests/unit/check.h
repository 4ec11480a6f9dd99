/*
 * check.h - a minimal test harness for the unit tests: CHECK() records a failure with file and line
 * and keeps going; check_exit() returns the automake exit status (0 pass, 1 fail); check_remove_dir()
 * cleans a scratch directory up.
 */
#ifndef CS_TEST_CHECK_H
#define CS_TEST_CHECK_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int check_failures;

/* Remove a test's scratch directory and the files in it. */
static inline void check_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
                unlink(path);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                   \
            check_failures++;                                                                                          \
        }                                                                                                              \
    } while (0)

/* Both strings non-NULL and equal. */
#define CHECK_STR(got, want)                                                                                           \
    do {                                                                                                               \
        const char *got_ = (got), *want_ = (want);                                                                     \
        if (!got_ || !want_ || strcmp(got_, want_) != 0) {                                                             \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, #got,         \
                    got_ ? got_ : "(null)", want_ ? want_ : "(null)");                                                 \
            check_failures++;                                                                                          \
        }                                                                                                              \
    } while (0)

/* `haystack` non-NULL and contains `needle`. */
#define CHECK_CONTAINS(haystack, needle)                                                                               \
    do {                                                                                                               \
        const char *h_ = (haystack), *n_ = (needle);                                                                   \
        if (!h_ || !strstr(h_, n_)) {                                                                                  \
            fprintf(stderr, "%s:%d: CHECK_CONTAINS failed: %s\n  in:   %s\n  want: %s\n", __FILE__, __LINE__,          \
                    #haystack, h_ ? h_ : "(null)", n_);                                                                \
            check_failures++;                                                                                          \
        }                                                                                                              \
    } while (0)

#define CHECK_INT(got, want)                                                                                           \
    do {                                                                                                               \
        long long got_ = (long long)(got), want_ = (long long)(want);                                                  \
        if (got_ != want_) {                                                                                           \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s\n  got:  %lld\n  want: %lld\n", __FILE__, __LINE__, #got,     \
                    got_, want_);                                                                                      \
            check_failures++;                                                                                          \
        }                                                                                                              \
    } while (0)

static inline int check_exit(void)
{
    if (check_failures)
        fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}

#endif
