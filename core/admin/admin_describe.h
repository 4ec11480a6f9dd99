/*
 * admin_describe.h - private to the admin API: the /api/v1/connections/{name}/... resources that the
 * Workflows page's editors and Settings use (admin_describe.c).
 */
#ifndef CS_ADMIN_DESCRIBE_H
#define CS_ADMIN_DESCRIBE_H

#include "admin_http.h"

/* Answer a request whose path is connections/{name}/... (at least two segments after /api/v1). */
void cs_admin_describe_route(struct cs_engine *e, const struct cs_request *r, struct cs_reply *rep);

#endif
