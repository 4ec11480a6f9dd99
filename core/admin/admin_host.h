/*
 * admin_host.h - private to the admin API: the names a request may give in its Host header and the one
 * origin a browser may call it from (admin_host.c), against DNS rebinding and cross-origin pages.
 */
#ifndef CS_ADMIN_HOST_H
#define CS_ADMIN_HOST_H

#include <jansson.h>

#include "admin_http.h"

struct cs_hosts;

/* The names of a listener on `listen` (HOST:PORT as configured) served over TLS or not, plus the
 * names of `allowed` (admin.allowed_hosts, an array of strings). New; never NULL. */
struct cs_hosts *cs_hosts_new(const char *listen, int tls, const json_t *allowed);
void cs_hosts_free(struct cs_hosts *h);

/* The host of "host", "host:port" or "[v6]:port" (new; the v6 address without brackets), or NULL when
 * anything but ":" and digits follows the host. */
char *cs_host_name(const char *hostport);

/* 0 when `host` (the Host header; NULL for an HTTP/1.0 request without one) names this listener and
 * `origin` (the Origin header, or NULL) is the listener's own; else the error answer is in rep: 421
 * for a foreign Host, 403 for a foreign Origin. */
int cs_hosts_check(const struct cs_hosts *h, const char *host, const char *origin, struct cs_reply *rep);

#endif
