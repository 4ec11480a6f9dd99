/*
 * ctl_client.h - crmsyncctl's connection to the admin API: where it is (--url, or the config file's
 * admin.listen), the bearer token (--token-file, or the config's admin.token_file), and JSON requests
 * with the API's error bodies turned into messages and exit codes.
 */
#ifndef CS_CTL_CLIENT_H
#define CS_CTL_CLIENT_H

#include <jansson.h>

/* crmsyncctl's exit codes (documented in crmsyncctl(1)). */
enum {
    CTL_OK = 0,
    CTL_FAILED = 1,      /* the daemon refused or failed the operation */
    CTL_USAGE = 2,       /* bad command line */
    CTL_UNREACHABLE = 3, /* no answer from the admin API */
    CTL_NOT_FOUND = 4,   /* no such workflow, revision or dead letter */
    CTL_CONFLICT = 5,    /* not allowed in the workflow's current state */
    CTL_INVALID = 6,     /* the definition (or request) was refused as invalid */
    CTL_UNHEALTHY = 7,   /* health: some workflow that should run does not */
    CTL_NOT_READY = 8    /* preflight: a prerequisite in a remote system is missing */
};

struct ctl_client;

/* url may be NULL (use the config's admin.listen); token_file NULL (use the config's). The config file
 * is read only when one of them is NULL; config_given: it was named (-c), so it must be readable. */
struct ctl_client *ctl_client_new(const char *url, const char *token_file, const char *config_path, int config_given,
                                  char **err);
void ctl_client_free(struct ctl_client *c);

/*
 * Send a request; *status is the HTTP status (0: unreachable), *doc the JSON answer (new) or NULL.
 * `path` starts with "/api/v1". body may be NULL. Returns the exit code this outcome maps to and
 * prints the API's error message to stderr when there is one.
 */
int ctl_call(struct ctl_client *c, const char *method, const char *path, const json_t *body, long *status,
             json_t **doc);

/* A JSON answer as --json prints it: indented, keys sorted, on stdout. */
void ctl_print_json(const json_t *doc);

#endif
