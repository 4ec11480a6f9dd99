/*
 * admin.c - the admin API's HTTP server on libmicrohttpd (the only module that touches it): binding
 * (IPv4/IPv6, optional TLS), a thread pool with connection limits and timeouts, body limits and content
 * types; requests are answered by admin_routes.c, the Workflows page's static files by admin_static.c.
 *
 * Every request is judged on its head, before any body byte is read: its framing, its Host and Origin
 * (admin_host.c), its token and role (admin_auth.c) and its declared body size.
 */
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "admin_auth.h"
#include "admin_guard.h"
#include "admin_host.h"
#include "admin_http.h"
#include "admin_remote.h"
#include "admin_static.h"
#include "config/config.h"
#include "state/backlog.h"
#include "util/log.h"
#include "util/util.h"

#define BODY_LIMIT   (1024 * 1024)      /* bytes in one request body */
#define BODIES_LIMIT (16u * BODY_LIMIT) /* bytes of request bodies held at once, all requests together */
#define MAX_SEGMENTS 8

struct cs_admin {
    struct MHD_Daemon *daemon;
    struct cs_engine *engine;
    struct cs_tokens *tokens;
    int loopback;
    char *tls_cert, *tls_key;
    struct cs_static *web;    /* the Workflows page (admin.web_dir) */
    struct cs_hosts *hosts;   /* the names it answers to */
    struct cs_remote *remote; /* metadata answers and the rate of calls to remote systems */
    struct cs_guard *guard;   /* connections: head deadline, limits, slow clients first out */
    atomic_size_t buffered;   /* bytes of BODIES_LIMIT reserved by requests */
    char *address;            /* where it listens: "http://127.0.0.1:8470" */
};

/* One request: its path (split at "/" in place), whether it was answered on its head, and its body. */
struct exchange {
    char *path;
    char *segments[MAX_SEGMENTS + 1];
    size_t n_segments;
    int is_static; /* a file of the Workflows page */
    enum cs_role role;
    int refused; /* answered on its head: the body is discarded */
    char *data;
    size_t len, cap;
    size_t reserved; /* bytes of the shared body budget (BODIES_LIMIT) this request holds */
    enum { BODY_OK, BODY_TOO_LARGE, BODY_NO_ROOM } body;
};

/* ---- answering --------------------------------------------------------------------------------- */

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct cs_reply *rep)
{
    char *text = rep->body ? json_dumps(rep->body, JSON_COMPACT) : rep->text;
    const char *type = rep->body ? "application/json" : rep->content_type;
    struct MHD_Response *resp;
    enum MHD_Result ok;

    if (rep->body && text) {
        char *line = cs_xasprintf("%s\n", text);
        free(text);
        text = line;
    }
    if (!text)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", type ? type : "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    /* an answer is data, never a page: not rendered, framed, sniffed or embedded by another site */
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    if (rep->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"crmsync\"");
    if (rep->retry_after > 0) {
        char seconds[24];
        snprintf(seconds, sizeof seconds, "%d", rep->retry_after);
        MHD_add_response_header(resp, "Retry-After", seconds);
    }
    ok = MHD_queue_response(conn, (unsigned)rep->status, resp);
    MHD_destroy_response(resp);
    json_decref(rep->body); /* the text went to libmicrohttpd, which frees it */
    return ok;
}

/* ---- requests ---------------------------------------------------------------------------------- */

static const char *query_arg(const struct cs_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static size_t split_path(char *path, char **segments)
{
    size_t n = 0;
    for (char *save = NULL, *seg = strtok_r(path, "/", &save); seg && n <= MAX_SEGMENTS;
         seg = strtok_r(NULL, "/", &save))
        segments[n++] = seg;
    return n;
}

/* Parse the body of a request that carries one. 0, or the error answer in rep. */
static int parse_body(struct MHD_Connection *conn, const struct exchange *x, json_t **body, struct cs_reply *rep)
{
    const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    json_error_t jerr;
    *body = NULL;
    if (x->body == BODY_TOO_LARGE) {
        cs_reply_error(rep, 413, "body_too_large", "the request body is larger than %d bytes", BODY_LIMIT);
        return -1;
    }
    if (x->body == BODY_NO_ROOM) {
        cs_reply_error(rep, 503, "busy", "the admin API holds %u MiB of request bodies already: retry in a moment",
                       BODIES_LIMIT >> 20);
        rep->retry_after = 1;
        return -1;
    }
    if (x->len == 0)
        return 0;
    if (!type || strncasecmp(type, "application/json", 16) != 0) {
        cs_reply_error(rep, 415, "unsupported_media_type", "send the body as Content-Type: application/json");
        return -1;
    }
    if (!(*body = json_loadb(x->data, x->len, 0, &jerr))) {
        cs_reply_error(rep, 400, "malformed_json", "the body is not JSON: %s at line %d, column %d", jerr.text,
                       jerr.line, jerr.column);
        return -1;
    }
    return 0;
}

/* A route of /api/v1: `segments` (n) follow that prefix. */
static void api_route(struct cs_admin *a, struct MHD_Connection *conn, const char *method, char **segments, size_t n,
                      json_t *body, const struct exchange *x, struct cs_reply *rep)
{
    struct cs_request req = {method,
                             segments,
                             n,
                             body,
                             query_arg,
                             MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Crmsync-Author"),
                             cs_role_name(x->role),
                             a->remote,
                             conn};
    cs_admin_route(a->engine, &req, rep);
}

static void dispatch(struct cs_admin *a, struct MHD_Connection *conn, const char *url, const char *method,
                     const struct exchange *x, struct cs_reply *rep)
{
    char *const *segments = x->segments;
    size_t n = x->n_segments;
    json_t *body = NULL;

    if (parse_body(conn, x, &body, rep) != 0)
        return;
    cs_backlog_patience(CS_BACKLOG_ADMIN_PATIENCE_MS); /* answer from the last known values, never hang */
    if (n == 1 && strcmp(segments[0], "metrics") == 0 && strcmp(method, "GET") == 0) {
        rep->status = 200;
        char *engine = cs_admin_metrics(a->engine), *guard = cs_guard_metrics(a->guard);
        rep->text = cs_xasprintf("%s%s", engine, guard);
        free(engine);
        free(guard);
        rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (n == 1 && (strcmp(segments[0], "healthz") == 0 || strcmp(segments[0], "readyz") == 0)) {
        /* where probes and load balancers look: /api/v1/health and /api/v1/ready */
        char *route[] = {strcmp(segments[0], "readyz") == 0 ? "ready" : "health"};
        api_route(a, conn, method, route, 1, body, x, rep);
    } else if (n >= 2 && strcmp(segments[0], "api") == 0 && strcmp(segments[1], "v1") == 0) {
        api_route(a, conn, method, (char **)segments + 2, n - 2, body, x, rep);
    } else {
        cs_reply_error(rep, 404, "not_found", "no such resource: %s (the API is under /api/v1)", url);
    }
    json_decref(body);
}

/* ---- bodies: at most BODY_LIMIT each, BODIES_LIMIT all together ---------------------------------- */

/* Reserve `n` more bytes of the shared budget for `x`: 0, or -1 when they do not fit. */
static int reserve(struct cs_admin *a, struct exchange *x, size_t n)
{
    if (atomic_fetch_add(&a->buffered, n) + n > BODIES_LIMIT) {
        atomic_fetch_sub(&a->buffered, n);
        return -1;
    }
    x->reserved += n;
    return 0;
}

/* Drop the body and give its reservation back. */
static void release(struct cs_admin *a, struct exchange *x)
{
    atomic_fetch_sub(&a->buffered, x->reserved);
    x->reserved = 0;
    free(x->data);
    x->data = NULL;
    x->len = x->cap = 0;
}

/* Keep `n` more bytes of the body; a body over BODY_LIMIT, or beyond the shared budget, is dropped (and
 * answered 413 or 503 once it has arrived). */
static void take_body(struct cs_admin *a, struct exchange *x, const char *data, size_t n)
{
    size_t need = x->len + n;
    if (x->body != BODY_OK)
        return;
    if (need > BODY_LIMIT) {
        x->body = BODY_TOO_LARGE;
    } else if (need > x->reserved) { /* a chunked body: grow the reservation by doubling */
        size_t want = need > 2 * x->reserved ? need : 2 * x->reserved;
        if (reserve(a, x, (want < BODY_LIMIT ? want : BODY_LIMIT) - x->reserved) != 0)
            x->body = BODY_NO_ROOM;
    }
    if (x->body != BODY_OK) {
        release(a, x);
        return;
    }
    if (x->cap < x->reserved) {
        if (!(x->data = realloc(x->data, x->reserved)))
            abort();
        x->cap = x->reserved;
    }
    memcpy(x->data + x->len, data, n);
    x->len = need;
}

/* How many times header `name` occurs. */
struct header_count {
    const char *name;
    unsigned n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct header_count *c = cls;
    (void)kind, (void)value;
    c->n += strcasecmp(key, c->name) == 0;
    return MHD_YES;
}

static unsigned header_count(struct MHD_Connection *conn, const char *name)
{
    struct header_count c = {name, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &c);
    return c.n;
}

/* A head that frames its request one way only: one Host, one Content-Length, not both Content-Length
 * and Transfer-Encoding (RFC 9112 6.3: a message framed two ways may be read differently by a proxy). */
static int framed_once(struct MHD_Connection *conn, struct cs_reply *rep)
{
    if (header_count(conn, "Host") > 1) {
        cs_reply_error(rep, 400, "bad_request", "the request has more than one Host header: send one");
    } else if (header_count(conn, "Content-Length") > 1) {
        cs_reply_error(rep, 400, "bad_request", "the request has more than one Content-Length header: send one");
    } else if (header_count(conn, "Content-Length") && header_count(conn, "Transfer-Encoding")) {
        cs_reply_error(rep, 400, "bad_request",
                       "the request has both Content-Length and Transfer-Encoding: send one of them");
    } else {
        return 0;
    }
    return -1;
}

/* The declared body length is within BODY_LIMIT and the shared budget: 0, else the answer is in rep. */
static int declared_body(struct cs_admin *a, struct MHD_Connection *conn, struct exchange *x, struct cs_reply *rep)
{
    const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    unsigned long long n = length ? strtoull(length, NULL, 10) : 0; /* libmicrohttpd checked its digits */
    if (n > BODY_LIMIT) {
        cs_reply_error(rep, 413, "body_too_large", "the request body is larger than %d bytes", BODY_LIMIT);
        return -1;
    }
    if (n && reserve(a, x, (size_t)n) != 0) {
        cs_reply_error(rep, 503, "busy", "the admin API holds %u MiB of request bodies already: retry in a moment",
                       BODIES_LIMIT >> 20);
        rep->retry_after = 1;
        return -1;
    }
    return 0;
}

/* Decide on the head alone, before any body byte is read (the token, too): 0 to go on, else the answer
 * is in rep. */
static int admit(struct cs_admin *a, struct MHD_Connection *conn, const char *url, const char *method,
                 struct exchange *x, struct cs_reply *rep)
{
    x->path = cs_xstrdup(url);
    x->n_segments = split_path(x->path, x->segments);
    if (framed_once(conn, rep) != 0 ||
        cs_hosts_check(a->hosts, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"),
                       MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"), rep) != 0)
        return -1;
    if ((x->is_static = cs_static_claims(method, url))) /* the page's files need no token; its API calls do */
        return 0;
    if (cs_authorize(a->tokens, a->loopback, method, x->segments, x->n_segments,
                     MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "include") != NULL,
                     MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"), &x->role, rep) != 0)
        return -1;
    /* only changes use a body, and they need an operator: any other body is read past, never kept */
    return x->role == CS_ROLE_OPERATOR ? declared_body(a, conn, x, rep) : 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct cs_admin *a = cls;
    struct exchange *x = *con_cls;
    struct cs_reply rep = {0};
    (void)version;

    if (!x) { /* first call: the head is complete, no body byte has been read */
        *con_cls = x = cs_xcalloc(1, sizeof *x);
        if (admit(a, conn, url, method, x, &rep) != 0) {
            x->refused = 1; /* answered now: libmicrohttpd discards the body and closes the connection */
            return send_reply(conn, &rep);
        }
        if (x->role == CS_ROLE_OPERATOR) /* trusted with a slow body; anyone else has the head's deadline */
            cs_guard_serving(conn);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!x->refused && x->role == CS_ROLE_OPERATOR)
            take_body(a, x, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (x->refused)
        return MHD_YES;
    cs_guard_serving(conn);
    if (x->is_static)
        return cs_static_serve(a->web, conn, url);
    dispatch(a, conn, url, method, x, &rep);
    if (!rep.status)
        cs_reply_error(&rep, 500, "internal", "the request was not answered");
    return send_reply(conn, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct exchange *x = *con_cls;
    (void)toe;
    cs_guard_request_done(conn); /* kept alive, it waits for its next head */
    if (x) {
        release(cls, x);
        free(x->path);
        free(x);
    }
    *con_cls = NULL;
}

/* ---- listening --------------------------------------------------------------------------------- */

/* A listening socket on the resolved address (bound here rather than by the HTTP server, so that a
 * refusal names the address and the cause), or -1 with *err (new). */
static int listen_on(const struct sockaddr_storage *ss, socklen_t sslen, const char *where, char **err)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
        (ss->ss_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0) &&
        bind(fd, (const struct sockaddr *)ss, sslen) == 0 && listen(fd, 128) == 0)
        return fd;
    *err = cs_xasprintf("admin.listen %s: cannot listen there: %s%s", where, strerror(errno),
                        errno == EADDRINUSE ? " (another process, perhaps another crmsyncd, has that port: stop "
                                              "it or choose another port)"
                                            : "");
    if (fd >= 0)
        close(fd);
    return -1;
}

/* The port a listening socket is bound to (the one the system chose for port 0). */
/* The URL the API is served at: the listen address "HOST:PORT" with the port it was bound to (new). */
static char *served_at(const char *listen, int tls, unsigned port)
{
    const char *colon = strrchr(listen, ':');
    int host_len = colon ? (int)(colon - listen) : (int)strlen(listen);
    return cs_xasprintf("%s%.*s:%u", tls ? "https://" : "http://", host_len, listen, port);
}

static unsigned bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* "127.0.0.1:8470", "[::1]:8470", "0.0.0.0:8470", "localhost:8470" -> one resolved address. */
static int resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, char **err)
{
    const char *colon = strrchr(listen, ':');
    char *host;
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc;

    if (!colon || !colon[1] || !(host = cs_host_name(listen))) {
        *err = cs_xasprintf("admin.listen \"%s\": expected HOST:PORT, e.g. 127.0.0.1:8470 or [::1]:8470", listen);
        return -1;
    }
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    free(host);
    if (rc != 0 || !res) {
        *err = cs_xasprintf("admin.listen \"%s\": %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static char *read_file(const char *path, char **err)
{
    char *value = NULL;
    if (cs_config_read_secret(path, &value, err) != 0)
        return NULL;
    return value;
}

void cs_admin_stop(struct cs_admin *a)
{
    if (!a)
        return;
    if (a->daemon)
        MHD_stop_daemon(a->daemon);
    cs_guard_free(a->guard);
    cs_tokens_free(a->tokens);
    free(a->tls_cert);
    if (a->tls_key)
        explicit_bzero(a->tls_key, strlen(a->tls_key));
    free(a->tls_key);
    cs_static_free(a->web);
    cs_hosts_free(a->hosts);
    cs_remote_free(a->remote);
    free(a->address);
    free(a);
}

const char *cs_admin_address(const struct cs_admin *a)
{
    return a->address;
}

/* admin.listen, or its default. */
static const char *listen_address(const json_t *admin)
{
    const char *listen = json_string_value(json_object_get(admin, "listen"));
    return listen ? listen : "127.0.0.1:8470";
}

/* What the admin API is set up from, read and checked as start needs it: the listen address, the tokens
 * (owner-only files), a token on a listener that is not loopback, the TLS files. Fills `a` and *ss,
 * *sslen, *flags; -1 with *err (new) otherwise. */
static int prepare(const json_t *admin, const char *listen, struct cs_admin *a, struct sockaddr_storage *ss,
                   socklen_t *sslen, unsigned *flags, char **err)
{
    const char *cert = json_string_value(json_object_get(admin, "tls_cert_file"));
    const char *key = json_string_value(json_object_get(admin, "tls_key_file"));
    char *why = NULL;
    size_t len;

    if (resolve_listen(listen, ss, sslen, err) != 0)
        return -1;
    a->loopback = is_loopback(ss);
    if (cs_tokens_load(admin, &a->tokens, err) != 0)
        return -1;
    if (!a->loopback && cs_tokens_count(a->tokens) == 0) {
        *err = cs_xasprintf("admin.listen %s is not a loopback address: set admin.token_file (or admin.tokens), or "
                            "listen on 127.0.0.1",
                            listen);
        return -1;
    }
    if (cert && key) { /* a certificate is public (any permissions); the key is a secret (owner-only) */
        if (!(a->tls_cert = cs_read_file(cert, BODY_LIMIT, &len, &why))) {
            *err = cs_xasprintf("admin.tls_cert_file: %s", why);
            free(why);
            return -1;
        }
        if (!(a->tls_key = read_file(key, &why))) {
            *err = cs_xasprintf("admin.tls_key_file: %s", why);
            free(why);
            return -1;
        }
        *flags |= MHD_USE_TLS;
    }
    if (ss->ss_family == AF_INET6)
        *flags |= MHD_USE_IPv6;
    return 0;
}

int cs_admin_check(const json_t *admin, char **err)
{
    struct cs_admin *a = cs_xcalloc(1, sizeof *a);
    struct sockaddr_storage ss;
    socklen_t sslen;
    unsigned flags = 0;
    int rc;
    *err = NULL;
    rc = prepare(admin, listen_address(admin), a, &ss, &sslen, &flags, err);
    cs_admin_stop(a);
    return rc == 0 ? 0 : CS_E_INVAL;
}

int cs_admin_start(struct cs_engine *engine, const json_t *admin, struct cs_admin **out, char **err)
{
    const char *listen = listen_address(admin);
    struct cs_admin *a = cs_xcalloc(1, sizeof *a);
    struct sockaddr_storage ss;
    socklen_t sslen;
    unsigned max, per_ip, flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    int fd, tls;

    *out = NULL;
    *err = NULL;
    a->engine = engine;
    if (prepare(admin, listen, a, &ss, &sslen, &flags, err) != 0)
        goto fail;
    tls = a->tls_cert != NULL; /* prepare read the certificate and key: both were given */
    a->web = cs_static_new(json_string_value(json_object_get(admin, "web_dir")));
    a->remote = cs_remote_new(json_integer_value(json_object_get(admin, "metadata_ttl")),
                              json_integer_value(json_object_get(admin, "remote_requests_per_minute")));
    a->hosts = cs_hosts_new(listen, tls, json_object_get(admin, "allowed_hosts"));
    max = (unsigned)json_integer_value(json_object_get(admin, "max_connections"));
    per_ip = (unsigned)json_integer_value(json_object_get(admin, "max_connections_per_ip"));
    a->guard = cs_guard_new(max, per_ip, json_integer_value(json_object_get(admin, "request_head_timeout")));
    if ((fd = listen_on(&ss, sslen, listen, err)) < 0)
        goto fail;
    /* libmicrohttpd's limit leaves room for the connections the guard is closing; its timeout is for
     * idle connections being served (a body, an answer) */
    a->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
                         4u, MHD_OPTION_CONNECTION_LIMIT, max + per_ip, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                         MHD_OPTION_NOTIFY_CONNECTION, cs_guard_notify, a->guard, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, a, tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, a->tls_cert,
                         MHD_OPTION_HTTPS_MEM_KEY, a->tls_key, MHD_OPTION_END);
    if (!a->daemon) {
        close(fd);
        *err = cs_xasprintf("cannot serve on %s: the HTTP server did not start (see the message before)", listen);
        goto fail;
    }
    cs_log(CS_LOG_NOTICE, "admin", "listening on %s%s (port %u)%s", tls ? "https://" : "http://", listen,
           bound_port(fd), cs_tokens_count(a->tokens) ? "" : "; no token: read-only");
    a->address = served_at(listen, tls, bound_port(fd));
    *out = a;
    return 0;
fail:
    cs_admin_stop(a);
    return CS_E_INVAL;
}
