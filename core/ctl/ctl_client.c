/*
 * ctl_client.c - crmsyncctl's admin API client (see ctl_client.h), on the connectors' HTTP layer.
 */
#include "ctl_client.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/cshttp.h"
#include "config/config.h"
#include "util/util.h"

struct ctl_client {
    struct cshttp_client *http;
    char *base;
    char *token;
    char *token_problem; /* why no token of the configuration could be read (NULL: none named, or one read) */
    char *author;
};

static char *base_from_listen(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    /* a wildcard listener is reached on loopback */
    if (strncmp(listen, "0.0.0.0:", 8) == 0)
        return cs_xasprintf("http://127.0.0.1%s", colon);
    if (strncmp(listen, "[::]:", 5) == 0)
        return cs_xasprintf("http://[::1]%s", colon);
    return cs_xasprintf("http://%s", listen);
}

static char *whoami(void)
{
    struct passwd *pw = getpwuid(getuid());
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    return cs_xasprintf("%s@%s (crmsyncctl)", pw ? pw->pw_name : "unknown", host);
}

/* Try one token file: 1 with *token, else 0, keeping the first reason in *problem. */
static int try_token(const char *file, char **token, char **problem)
{
    char *why = NULL;
    if (cs_config_read_secret(file, token, &why) == 0)
        return 1;
    if (!*problem)
        *problem = why;
    else
        free(why);
    return 0;
}

/* The first token of the configuration this user can read: admin.token_file, then the operator tokens
 * of admin.tokens, then its viewer tokens (new), or NULL with *problem (new) saying which file could not
 * be read and why. Token files are often root-only: without one, reads still work, and a refused change
 * says which file was tried (ctl_call). */
static char *config_token(const json_t *admin, char **problem)
{
    const json_t *list = json_object_get(admin, "tokens"), *item;
    const char *legacy = json_string_value(json_object_get(admin, "token_file"));
    char *token = NULL;
    size_t i;

    if (legacy && try_token(legacy, &token, problem))
        return token;
    for (int operator= 1; operator>= 0; operator--) {
        json_array_foreach (list, i, item) {
            const char *role = json_string_value(json_object_get(item, "role"));
            if ((role && strcmp(role, "operator") == 0) == operator&&
                try_token(json_string_value(json_object_get(item, "token_file")), &token, problem))
                break;
        }
        if (token)
            break;
    }
    if (token) {
        free(*problem);
        *problem = NULL;
    }
    return token;
}

struct ctl_client *ctl_client_new(const char *url, const char *token_file, const char *config_path, int config_given,
                                  char **err)
{
    struct ctl_client *c = cs_xcalloc(1, sizeof *c);
    struct cs_config *cfg = NULL;
    char *cfg_err = NULL;
    const json_t *admin = NULL;

    *err = NULL;
    /* the default config file is optional: an operator without read access passes --url and
     * --token-file; a file named with -c must be read, or the daemon reached would be a guess */
    if ((!url || !token_file) && cs_config_load(config_path, &cfg, &cfg_err) == 0)
        admin = json_object_get(cfg->root, "admin");
    if (cfg_err && config_given) {
        *err = cs_xasprintf("cannot use the configuration named with -c: %s (fix the path, or pass --url and "
                            "--token-file instead)",
                            cfg_err);
        free(cfg_err);
        goto fail;
    }
    free(cfg_err);
    c->base = url ? cs_xstrdup(url)
                  : base_from_listen(json_string_value(json_object_get(admin, "listen"))
                                         ? json_string_value(json_object_get(admin, "listen"))
                                         : "127.0.0.1:8470");
    if (token_file && cs_config_read_secret(token_file, &c->token, err) != 0)
        goto fail;
    if (!token_file)
        c->token = config_token(admin, &c->token_problem);
    if (!(c->http = cshttp_client_new(&(struct cshttp_options){.timeout_ms = 120000}))) {
        *err = cs_xstrdup("cannot initialise libcurl");
        goto fail;
    }
    c->author = whoami();
    cs_config_free(cfg);
    return c;
fail:
    cs_config_free(cfg);
    ctl_client_free(c);
    return NULL;
}

void ctl_client_free(struct ctl_client *c)
{
    if (!c)
        return;
    cshttp_client_free(c->http);
    if (c->token)
        explicit_bzero(c->token, strlen(c->token));
    free(c->token);
    free(c->token_problem);
    free(c->base);
    free(c->author);
    free(c);
}

static int exit_code(long status)
{
    switch (status) {
    case 0:
        return CTL_UNREACHABLE;
    case 404:
        return CTL_NOT_FOUND;
    case 409:
        return CTL_CONFLICT;
    case 400:
    case 413:
    case 415:
        return CTL_INVALID;
    case 503:
        return CTL_UNHEALTHY;
    default:
        return status >= 200 && status < 300 ? CTL_OK : CTL_FAILED;
    }
}

int ctl_call(struct ctl_client *c, const char *method, const char *path, const json_t *body, long *status, json_t **doc)
{
    struct cshttp_response r = {0};
    char *url = cs_xasprintf("%s%s", c->base, path), *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char *auth = c->token ? cs_xasprintf("Authorization: Bearer %s", c->token) : NULL;
    char *author = cs_xasprintf("X-Crmsync-Author: %s", c->author);
    const char *headers[] = {"Accept: application/json", author, body ? "Content-Type: application/json" : NULL, NULL,
                             NULL};
    const json_t *error;
    int code;

    headers[body ? 3 : 2] = auth;
    *doc = NULL;
    if (cshttp_request(c->http, method, url, headers, text, text ? strlen(text) : 0, &r) != 0) {
        fprintf(stderr, "crmsyncctl: cannot reach the admin API at %s: %s (is crmsyncd running? see --url)\n", c->base,
                r.error);
        *status = 0;
    } else {
        *status = r.status;
        *doc = cshttp_response_json(&r);
        error = json_object_get(*doc, "error");
        if (error && *status != 503)
            fprintf(stderr, "crmsyncctl: %s\n", json_string_value(json_object_get(error, "message")));
        if (*status == 401 && c->token_problem) /* say why no token was sent */
            fprintf(stderr, "crmsyncctl: no token was sent: %s (or pass --token-file)\n", c->token_problem);
    }
    code = exit_code(*status);
    cshttp_response_clear(&r);
    if (auth)
        explicit_bzero(auth, strlen(auth));
    free(auth);
    free(author);
    free(text);
    free(url);
    return code;
}

void ctl_print_json(const json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    puts(text ? text : "null");
    free(text);
}
