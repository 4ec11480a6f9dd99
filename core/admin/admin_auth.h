/*
 * admin_auth.h - private to the admin API: who may do what (admin_auth.c). The bearer tokens of
 * admin.token_file (the operator's) and admin.tokens (each with a role), and the access each request
 * needs, decided on its head.
 */
#ifndef CS_ADMIN_AUTH_H
#define CS_ADMIN_AUTH_H

#include <jansson.h>

#include "admin_http.h"

/* operator: everything; viewer: reads, without dead-letter payloads. */
enum cs_role { CS_ROLE_NONE, CS_ROLE_VIEWER, CS_ROLE_OPERATOR };

struct cs_tokens;

/* Read the tokens the admin object names. 0, or CS_E_INVAL with *err (new; never holds a token):
 * an unreadable file, or the same token given twice. */
int cs_tokens_load(const json_t *admin, struct cs_tokens **out, char **err);
void cs_tokens_free(struct cs_tokens *t);
size_t cs_tokens_count(const struct cs_tokens *t);

/* The request `method` on the path `segments` (the whole path split at "/"), asking for payloads (an
 * "include" query argument) or not, with its Authorization header (or NULL), on a loopback listener or
 * not. 0 with *role (CS_ROLE_NONE for a request that needs
 * no token), or -1 with the error answer in rep: 401 without a bearer token, 403 with a wrong one or
 * a role too weak (code "insufficient_role"). */
int cs_authorize(const struct cs_tokens *t, int loopback, const char *method, char *const *segments, size_t n,
                 int payload, const char *authorization, enum cs_role *role, struct cs_reply *rep);

const char *cs_role_name(enum cs_role role);

#endif
