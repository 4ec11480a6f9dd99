/*
 * state_reset.c - crmsyncd --reset-state (see state_reset.h): under the state directory's lock, after
 * the operator typed the directory's path (or --yes), the database files are renamed aside with the
 * time in their name; a damaged store stays on disk for a later look or a salvage. Also the words that
 * tell an operator how to mend a damaged store, so that every refusal names the same two commands.
 */
#include "state_reset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "state_dir.h"
#include "util/util.h"

/* state.db first: the -wal and -shm files keep its name as their stem, so the moved copy opens with its
 * last transactions */
static const char *const suffixes[] = {"", "-wal", "-shm"};
#define N_FILES (sizeof suffixes / sizeof *suffixes)

char *cs_state_fix(const char *config, const char *dir)
{
    return cs_xasprintf("To mend it, either restore a backup (taken with: crmsyncctl backup FILE): copy it to "
                        "%s/state.db, mode 600 (see crmsyncd(8), BACKUP); or move the damaged store aside "
                        "and start anew with a full sync of every workflow: crmsyncd --reset-state -c %s",
                        dir, config);
}

/* The operator typed `dir` on `in` after the prompt: 1, else 0. */
static int confirmed(const char *dir, FILE *in, FILE *prompt)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int yes;

    fprintf(prompt,
            "This moves the state database of %s aside: the backlog, the cursors, the dead letters and the "
            "definitions' history, and every workflow reads its source anew from the start.\n"
            "Type the state directory's path (%s) to confirm: ",
            dir, dir);
    fflush(prompt);
    n = getline(&line, &cap, in);
    if (!isatty(fileno(in))) /* the answer was not echoed: end the prompt's line */
        fputc('\n', prompt);
    if (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    yes = n > 0 && strcmp(line, dir) == 0;
    free(line);
    return yes;
}

/* Rename the database files of `dir` to the stem `aside`; on a failure, the ones moved go back. */
static int move_aside(const char *dir, const char *aside, char **err)
{
    size_t done = 0;
    int rc = 0;

    for (; done < N_FILES && rc == 0; done++) {
        char *from = cs_xasprintf("%s/state.db%s", dir, suffixes[done]);
        char *to = cs_xasprintf("%s%s", aside, suffixes[done]);
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0 && errno != ENOENT) {
            *err = cs_xasprintf("cannot move %s to %s: %s; nothing was reset", from, to, strerror(errno));
            rc = CS_E_IO;
            done--; /* this one stayed */
        }
        free(from);
        free(to);
    }
    while (rc != 0 && done-- > 0) {
        char *from = cs_xasprintf("%s%s", aside, suffixes[done]);
        char *to = cs_xasprintf("%s/state.db%s", dir, suffixes[done]);
        if (rename(from, to) != 0 && errno != ENOENT)
            fprintf(stderr, "crmsyncd: cannot move %s back to %s: %s\n", from, to, strerror(errno));
        free(from);
        free(to);
    }
    return rc;
}

/* "<db>.reset-<stamp>", or with ".2", ".3"... after it when a reset in the same second took that name:
 * a stem none of whose files exists (new; after 99 tries the last, which the rename then refuses). */
static char *free_stem(const char *db, const char *stamp)
{
    for (int n = 1;; n++) {
        char *stem = n == 1 ? cs_xasprintf("%s.reset-%s", db, stamp) : cs_xasprintf("%s.reset-%s.%d", db, stamp, n);
        size_t taken = 0;
        for (size_t i = 0; i < N_FILES; i++) {
            char *file = cs_xasprintf("%s%s", stem, suffixes[i]);
            taken += access(file, F_OK) == 0 || errno != ENOENT;
            free(file);
        }
        if (!taken || n == 99)
            return stem;
        free(stem);
    }
}

int cs_state_reset(const char *dir, int assume_yes, FILE *in, FILE *prompt, char **moved_to, char **err)
{
    char *db = cs_xasprintf("%s/state.db", dir), stamp[32];
    time_t now = time(NULL);
    struct stat st;
    int fd = -1, rc = 0;

    *moved_to = NULL;
    *err = NULL;
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        rc = 0; /* no state directory yet: nothing to move */
    } else if (cs_state_dir_take(dir, &fd, err) != 0) {
        char *why = cs_xasprintf("%s; stop it first: the state of a running daemon is not reset", *err);
        free(*err);
        *err = why;
        rc = CS_E_STATE;
    } else if (stat(db, &st) != 0 && errno == ENOENT) {
        rc = 0; /* nothing to move: the next start begins anew anyway */
    } else if (!assume_yes && !confirmed(dir, in, prompt)) {
        *err =
            cs_xasprintf("not confirmed: the state in %s stays as it is (type the path exactly, or pass --yes)", dir);
        rc = CS_E_STATE;
    } else {
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&now));
        *moved_to = free_stem(db, stamp);
        if ((rc = move_aside(dir, *moved_to, err)) != 0) {
            free(*moved_to);
            *moved_to = NULL;
        }
    }
    if (fd >= 0)
        close(fd);
    free(db);
    return rc;
}
