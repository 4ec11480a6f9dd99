/*
 * cshttp.h - the HTTP layer shared by the connector plugins (compiled into each plugin, never
 * exported): a client per plugin instance that keeps many requests in flight through libcurl's multi
 * interface (keep-alive connections reused, HTTP/2 multiplexing where a TLS server offers it, TLS
 * verification always on), a gate that every sender of one connection shares (at most max_in_flight
 * requests at once, and no request before a Retry-After has passed), requests with JSON or form
 * bodies, parsed Retry-After, the mapping of HTTP outcomes onto cs_status, and an OAuth2
 * client-credentials token cache (Microsoft identity platform and Adobe IMS speak the same flow).
 * A client is used from one thread at a time (the core's guarantee for plugin instances); gates and
 * token caches are thread-safe, so instances of one connection may share them.
 */
#ifndef CSHTTP_H
#define CSHTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <crmsync/plugin.h>

struct cshttp_gate;

struct cshttp_options {
    const char *ca_bundle;   /* NULL: the system's CA store */
    long connect_timeout_ms; /* <= 0: 10 s */
    long timeout_ms;         /* whole request; <= 0: 60 s */
    /* Optional: told the outcome of every request (HTTP status, 0 for a transport failure), e.g. to
     * count remote calls with cshttp_count_call. */
    void (*observe)(void *arg, long status);
    void *observe_arg;
    /* Optional: the gate of the connection (borrowed, outlives the client); NULL: no limit. */
    struct cshttp_gate *gate;
};

/* An observe callback for plugins: counts the call as the metric "http_<status>" (or "http_error")
 * of the instance. `arg` is a struct cshttp_counter. */
struct cshttp_counter {
    const cs_host *host;
    cs_ctx *ctx;
};
void cshttp_count_call(void *counter, long status);

/* Monotonic milliseconds: the clock of every deadline and age in this library. */
static inline int64_t cshttp_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct cshttp_client;

/* New client; calls curl_global_init once per process. NULL on allocation failure. */
struct cshttp_client *cshttp_client_new(const struct cshttp_options *o);
void cshttp_client_free(struct cshttp_client *c);

struct cshttp_response {
    long status; /* HTTP status, 0 when no response arrived */
    char *body;  /* NUL-terminated, never NULL after a request */
    size_t body_len;
    char *headers; /* "name\0value\0" pairs, names in lower case (read with cshttp_response_header) */
    size_t headers_len, headers_cap;
    int64_t retry_after_ms; /* Retry-After in ms (delta-seconds or HTTP date), -1 when absent */
    char error[256];        /* transport error text when status == 0 */
};

/* Free what a response holds and reset it for reuse. */
void cshttp_response_clear(struct cshttp_response *r);

/*
 * Send one request. `headers` is a NULL-terminated list of "Name: value" lines (may be NULL);
 * `body` may be NULL. Returns 0 when a response arrived (whatever its status) and -1 on a transport
 * failure (timeout, refused, reset, TLS), with r->error set. r must be zero-initialised or hold an
 * earlier response, which is freed first.
 */
int cshttp_request(struct cshttp_client *c, const char *method, const char *url, const char *const *headers,
                   const char *body, size_t body_len, struct cshttp_response *r);

/* ---- many requests in flight ------------------------------------------------------------------- */

/* One request of a set sent with cshttp_request_all. The caller fills the request members; `r` must
 * be zero-initialised (or hold an earlier response, freed first). */
struct cshttp_call {
    const char *method, *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;           /* may be NULL */
    size_t body_len;
    struct cshttp_response r; /* the answer; r.status 0 with r.error on a transport failure */
    int unsent;               /* 1: not sent because the gate is paused; r.retry_after_ms says how long */
};

/*
 * Send the n calls concurrently and return when each has its outcome. At most the gate's
 * max_in_flight requests of the connection are in flight at once, counting every client sharing the
 * gate. An answer carrying Retry-After (or a 429 without one: 1 s) pauses the gate: calls of this
 * set not sent yet, and those of every other sender of the gate, are not sent before the time given;
 * they come back with `unsent` set and r.retry_after_ms the time left, so that the caller schedules
 * them instead of holding its thread. A transport failure is that call's alone (r.status 0).
 */
void cshttp_request_all(struct cshttp_client *c, struct cshttp_call *calls, size_t n);

/* ---- one request started now, collected later -------------------------------------------------- */

struct cshttp_pending;

/*
 * Start `req` on `c` and return at once: on a kept-alive connection the request is on its way while the
 * caller does other work. Its method, URL, header lines and body are copied and kept with the call
 * (req->r is not used), so that the caller's strings may go at once and the request can be sent again
 * after its answer (cshttp_pending_url, cshttp_pending_headers). When the gate has no room or is paused,
 * it is sent at cshttp_finish instead. NULL on allocation failure. While calls are pending on a client,
 * the client is used for nothing but these calls (give pending calls a client of their own).
 */
struct cshttp_pending *cshttp_start(struct cshttp_client *c, const struct cshttp_call *req);
/* Wait for the answer of `p` (sending it now if it could not start) into *r (cleared first, as for
 * cshttp_request; r->status 0 with r->error on a transport failure, or r->retry_after_ms when the gate
 * was paused). `p` keeps its request until cshttp_pending_free. */
void cshttp_finish(struct cshttp_pending *p, struct cshttp_response *r);
/* The URL and the NULL-terminated header lines `p` was started with (its own copies). */
const char *cshttp_pending_url(const struct cshttp_pending *p);
const char *const *cshttp_pending_headers(const struct cshttp_pending *p);
/* Free `p` (NULL is fine), abandoning its transfer if it is still under way; its header lines, which may
 * carry a token, are wiped first. */
void cshttp_pending_free(struct cshttp_pending *p);

/* A gate for one connection: at most max_in_flight (>= 1) requests at once. NULL on allocation failure. */
struct cshttp_gate *cshttp_gate_new(int max_in_flight);
void cshttp_gate_free(struct cshttp_gate *g);
/* No request through `g` before `ms` from now (a later pause already set stays). */
void cshttp_gate_pause(struct cshttp_gate *g, int64_t ms);
/* Milliseconds until the gate's pause ends; 0 when it is open. */
int64_t cshttp_gate_paused_ms(struct cshttp_gate *g);

/* The body parsed as JSON (new reference), or NULL when it is empty or not JSON. */
json_t *cshttp_response_json(const struct cshttp_response *r);
/* The string value of the top-level member `name` of a JSON object answer (new string), read without
 * parsing the whole answer; NULL when there is none (or it is not a string, or the body is no object). */
char *cshttp_response_member(const struct cshttp_response *r, const char *name);
/* A header's value (borrowed), or NULL. `name` in lower case. */
const char *cshttp_response_header(const struct cshttp_response *r, const char *name);

/*
 * The default meaning of an outcome: transport failure, 408, 429 and 5xx -> CS_RETRY; 2xx and 3xx not
 * followed -> CS_OK for 2xx; 401 and 403 -> CS_FATAL (connectors refresh the token once on 401 before
 * calling this); other 4xx -> CS_REJECT.
 */
cs_status cshttp_classify(const struct cshttp_response *r);

/* URL-encode `s` for a query string or form body. New string. */
char *cshttp_escape(const char *s);

/* ---- OAuth2 client credentials ---------------------------------------------------------------- */

struct cshttp_token_config {
    const char *token_url; /* e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token */
    const char *client_id;
    const char *client_secret; /* never logged */
    const char *scope;         /* e.g. https://org.crm.dynamics.com/.default */
    const char *setting_hint;  /* named in errors, e.g. "client_id / client_secret_file of connection d365" */
};

struct cshttp_token;

struct cshttp_token *cshttp_token_new(const struct cshttp_token_config *cfg);
void cshttp_token_free(struct cshttp_token *t);

/*
 * A valid access token (new string: the caller clears and frees it), fetched when absent, when less
 * than a minute (a quarter of a short lifetime) remains, or when `force` (after a 401) unless another
 * caller fetched it since `seen` (the token the 401 came with; NULL: none). Callers sharing `t` from
 * several threads fetch it once. On failure the status says what to do: CS_FATAL when the identity
 * provider refused the credentials (invalid_client, unauthorized_client, invalid_scope...), CS_RETRY
 * on transport errors, 429 and 5xx; `err` (errlen bytes) explains, naming the settings to check and
 * never the secret; *retry_after_ms is the provider's Retry-After or -1.
 */
cs_status cshttp_token_get(struct cshttp_token *t, struct cshttp_client *c, int force, const char *seen, char **token,
                           int64_t *retry_after_ms, char *err, size_t errlen);
/* Clear and free a token from cshttp_token_get (NULL is fine). */
void cshttp_token_drop(char *token);

/* ---- what the instances of one connection share ------------------------------------------------------ */

/* JSON answers of one instance, kept a few seconds for the other instances (cshttp_docs.c). */
struct cshttp_docs;
struct cshttp_docs *cshttp_docs_new(void);
void cshttp_docs_free(struct cshttp_docs *dc);
/* The answer kept for `url` if it is fresh enough (new reference), or NULL. */
json_t *cshttp_docs_find(struct cshttp_docs *dc, const char *url);
/* Keep `doc` (borrowed) as the answer for `url`. */
void cshttp_docs_keep(struct cshttp_docs *dc, const char *url, json_t *doc);
/* Forget every answer kept (what they describe was changed). */
void cshttp_docs_forget(struct cshttp_docs *dc);

/* One token cache, one gate and one set of documents for every instance of a connection. */
struct cshttp_shared {
    struct cshttp_token *token;
    struct cshttp_gate *gate;
    struct cshttp_docs *docs;
};

/*
 * The connection's shared token, gate and documents: through host->connection_shared (plugin ABI 1.3), made on
 * first use from `tc` and max_in_flight; under an older core, or for an instance outside any
 * connection, a new one of the instance's own, also returned in *own (free it with
 * cshttp_shared_free after the instance's last request). NULL when out of memory.
 */
struct cshttp_shared *cshttp_shared_get(const cs_host *host, cs_ctx *ctx, const struct cshttp_token_config *tc,
                                        int max_in_flight, struct cshttp_shared **own);
void cshttp_shared_free(struct cshttp_shared *s);

#endif
