/*
 * admin_auth.c - who may do what on the admin API (see admin_auth.h).
 *
 * Tokens come from files only (owner-only, read once at start) and are compared in constant time, with
 * every configured token. A request needs:
 *   - nothing: a read (GET, HEAD) on a loopback listener;
 *   - any token (operator or viewer), even on loopback: a read that makes crmsyncd call a remote system
 *     with its credentials (GET connections/{name}/tables...), any read on another listener, and POST
 *     /api/v1/session (the Workflows page's sign-in, which answers the role);
 *   - an operator token: dead-letter payloads (personal data), a backup of the state database (POST
 *     /api/v1/backup, the same data), and every change.
 * Loopback is not a trust boundary against a web page (DNS rebinding, see admin_host.c) or another
 * local user: what costs remote calls or shows personal data needs a token there too.
 */
#include "admin_auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "engine/engine.h"
#include "util/util.h"

struct token {
    char *value;
    enum cs_role role;
    char *where; /* its key path, for messages: "admin.token_file", "admin.tokens[1]" */
};

struct cs_tokens {
    struct token *v;
    size_t n;
};

enum need { NEED_NOTHING, NEED_TOKEN, NEED_OPERATOR };

const char *cs_role_name(enum cs_role role)
{
    return role == CS_ROLE_OPERATOR ? "operator" : role == CS_ROLE_VIEWER ? "viewer" : "none";
}

/* Equal strings, in time independent of where they differ. */
static int same_token(const char *given, const char *want)
{
    size_t n = strlen(given), m = strlen(want);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)(want[i] ^ (i < n ? given[i] : 0));
    return diff == 0;
}

void cs_tokens_free(struct cs_tokens *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        explicit_bzero(t->v[i].value, strlen(t->v[i].value));
        free(t->v[i].value);
        free(t->v[i].where);
    }
    free(t->v);
    free(t);
}

size_t cs_tokens_count(const struct cs_tokens *t)
{
    return t->n;
}

/* Read the token in `file` as `role`; `where` (steals) names it. 0, or -1 with *err. */
static int add_token(struct cs_tokens *t, const char *file, enum cs_role role, char *where, char **err)
{
    char *value = NULL, *why = NULL;
    if (cs_config_read_secret(file, &value, &why) != 0) {
        *err = cs_xasprintf("%s: %s", where, why);
        free(why);
        free(where);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (same_token(value, t->v[i].value)) {
            *err = cs_xasprintf("%s holds the same token as %s: give each token its own value", where, t->v[i].where);
            explicit_bzero(value, strlen(value));
            free(value);
            free(where);
            return -1;
        }
    }
    t->v[t->n++] = (struct token){value, role, where};
    return 0;
}

int cs_tokens_load(const json_t *admin, struct cs_tokens **out, char **err)
{
    const char *legacy = json_string_value(json_object_get(admin, "token_file"));
    const json_t *list = json_object_get(admin, "tokens");
    struct cs_tokens *t = cs_xcalloc(1, sizeof *t);
    int rc = 0;

    *out = NULL;
    *err = NULL;
    t->v = cs_xcalloc(json_array_size(list) + 1, sizeof *t->v);
    if (legacy)
        rc = add_token(t, legacy, CS_ROLE_OPERATOR, cs_xstrdup("admin.token_file"), err);
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        const json_t *item = json_array_get(list, i);
        const char *role = json_string_value(json_object_get(item, "role"));
        rc = add_token(t, json_string_value(json_object_get(item, "token_file")),
                       role && strcmp(role, "viewer") == 0 ? CS_ROLE_VIEWER : CS_ROLE_OPERATOR,
                       cs_xasprintf("admin.tokens[%zu].token_file", i), err);
    }
    if (rc != 0) {
        cs_tokens_free(t);
        return CS_E_INVAL;
    }
    *out = t;
    return 0;
}

/* What a request needs, and in words what it asks for (for the refusals). */
static enum need need_of(int loopback, const char *method, char *const *seg, size_t n, int payload, const char **what)
{
    int api = n >= 3 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0;
    if (api && n == 3 && strcmp(seg[2], "session") == 0 && strcmp(method, "POST") == 0) {
        *what = "signing in";
        return NEED_TOKEN;
    }
    if (api && n == 3 && strcmp(seg[2], "backup") == 0) {
        *what = "a backup of the state database (personal data)";
        return NEED_OPERATOR;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *what = "a change through the admin API";
        return NEED_OPERATOR;
    }
    if (api && n == 5 && strcmp(seg[2], "workflows") == 0 && strcmp(seg[4], "dead-letters") == 0 && payload) {
        *what = "reading dead-letter payloads (personal data)";
        return NEED_OPERATOR;
    }
    if (api && n >= 5 && strcmp(seg[2], "connections") == 0 && strcmp(seg[4], "tables") == 0) {
        *what = "reading a connection's live metadata (calls to its remote system)";
        return NEED_TOKEN;
    }
    *what = "a read on a listener that is not loopback";
    return loopback ? NEED_NOTHING : NEED_TOKEN;
}

/* The configured token `given` is, or NULL; every token is compared, whichever matches. */
static const struct token *find_token(const struct cs_tokens *t, const char *given)
{
    const struct token *match = NULL;
    for (size_t i = 0; i < t->n; i++)
        if (same_token(given, t->v[i].value))
            match = &t->v[i];
    return match;
}

int cs_authorize(const struct cs_tokens *t, int loopback, const char *method, char *const *segments, size_t n,
                 int payload, const char *authorization, enum cs_role *role, struct cs_reply *rep)
{
    const char *what = NULL;
    enum need need = need_of(loopback, method, segments, n, payload, &what);
    const struct token *match;

    *role = CS_ROLE_NONE;
    if (need == NEED_NOTHING)
        return 0;
    if (t->n == 0) {
        cs_reply_error(rep, 403, "forbidden",
                       "no admin token is configured: set admin.token_file (or admin.tokens) "
                       "to allow %s",
                       what);
        return -1;
    }
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) {
        cs_reply_error(rep, 401, "unauthorized", "%s needs a token: send the header Authorization: Bearer <token>",
                       what);
        return -1;
    }
    if (!(match = find_token(t, authorization + 7))) {
        cs_reply_error(rep, 403, "forbidden",
                       "the bearer token is not an admin token (admin.token_file, admin.tokens)");
        return -1;
    }
    if (need == NEED_OPERATOR && match->role != CS_ROLE_OPERATOR) {
        cs_reply_error(rep, 403, "insufficient_role",
                       "this token (%s) has the %s role, which reads without payloads: %s needs a token with the "
                       "operator role",
                       match->where, cs_role_name(match->role), what);
        return -1;
    }
    *role = match->role;
    return 0;
}
