/*
 * admin.h - the admin HTTP API (JSON under /api/v1, Prometheus text at /metrics) that operators,
 * crmsyncctl and the Workflows page use. admin.c is the only module that touches libmicrohttpd.
 */
#ifndef CS_ADMIN_H
#define CS_ADMIN_H

#include <jansson.h>

struct cs_engine;
struct cs_admin;

/*
 * Listen as `admin` (the config's admin object: listen, token_file, tls_cert_file, tls_key_file,
 * web_dir) says. Refuses a non-loopback listener without a token. *err (new) explains a failure.
 */
int cs_admin_start(struct cs_engine *engine, const json_t *admin, struct cs_admin **out, char **err);
/* What cs_admin_start would refuse in `admin` (the address, the token files, a token on a listener that is
 * not loopback, the TLS files), without listening: 0, or CS_E_INVAL with *err (new). For --check-config. */
int cs_admin_check(const json_t *admin, char **err);
void cs_admin_stop(struct cs_admin *a);
/* The URL the API is served at, e.g. "http://127.0.0.1:8470" (its bound port when it listens on port 0). */
const char *cs_admin_address(const struct cs_admin *a);

#endif
