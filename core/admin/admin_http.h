/*
 * admin_http.h - private to the admin API: what a handler receives and how it answers, independent of
 * libmicrohttpd, so the routes (admin_routes.c) stay plain functions of the engine.
 */
#ifndef CS_ADMIN_HTTP_H
#define CS_ADMIN_HTTP_H

#include <jansson.h>

struct cs_engine;
struct cs_remote;

struct cs_request {
    const char *method;
    char **segments; /* the path split at "/", after "/api/v1" */
    size_t n_segments;
    const json_t *body;                                                 /* parsed JSON body, or NULL */
    const char *(*query)(const struct cs_request *r, const char *name); /* a query argument or NULL */
    const char *author;                                                 /* X-Crmsync-Author or NULL */
    const char *role;         /* the token's role: "operator", "viewer", or "none" when it needs no token */
    struct cs_remote *remote; /* the calls to remote systems: cached, rate-limited (admin_remote.h) */
    void *conn;
};

struct cs_reply {
    int status;
    json_t *body; /* JSON answer (new), or NULL when text is used */
    char *text;   /* a text answer (new), with content_type */
    const char *content_type;
    int retry_after; /* seconds, for a Retry-After header; 0: none */
};

/* Answer an /api/v1 request. */
void cs_admin_route(struct cs_engine *e, const struct cs_request *req, struct cs_reply *rep);
/* The /metrics page in Prometheus text format (new). */
char *cs_admin_metrics(struct cs_engine *e);
/* An engine failure `rc` as an error answer: CS_E_NOTFOUND 404, CS_E_STATE 409, CS_E_INVAL 400, anything
 * else `other` (500 "internal", or 502 "remote_failed" when a remote system failed); `msg` or a default. */
void cs_reply_failed(struct cs_reply *rep, int rc, const char *msg, int other);
/* Fill an error answer {"error": {"code", "message"}} (steals nothing; copies message). */
void cs_reply_error(struct cs_reply *rep, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
