/*
 * admin_static.h - private to the admin API: the Workflows page's static files (admin.web_dir) served
 * at "/" by admin.c's server. See admin_static.c.
 */
#ifndef CS_ADMIN_STATIC_H
#define CS_ADMIN_STATIC_H

#include <microhttpd.h>

struct cs_static;

/* Serve the files of `dir`; a missing or unreadable directory is logged and every page answers 404
 * with the reason (the API goes on working). New; never NULL. */
struct cs_static *cs_static_new(const char *dir);
void cs_static_free(struct cs_static *s);

/* Nonzero when `method` and `url` are a request for a static file (GET or HEAD outside /api/, /metrics,
 * /healthz and /readyz); such requests need no token. */
int cs_static_claims(const char *method, const char *url);

/* Answer a claimed request: the file, or 404 (no such file, a directory, a path that is not a plain
 * relative name under the directory). */
enum MHD_Result cs_static_serve(const struct cs_static *s, struct MHD_Connection *conn, const char *url);

#endif
