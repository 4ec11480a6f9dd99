/*
 * cshttp.c - the connectors' HTTP layer (see cshttp.h): a libcurl multi handle per client with keep-alive,
 * response capture, Retry-After parsing, outcome classification and the OAuth2 token cache.
 */
#include "cshttp.h"
#include "cshttp_loop.h"
#include "json/json_parse.h"

#include <ctype.h>
#include <stddef.h>
#include <crmsync/version.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_CONNECTS 16 /* kept-alive connections of a client without a gate */

struct cshttp_client {
    CURLM *multi; /* its connection cache is what keep-alive and multiplexing reuse */
    struct cshttp_loop loop;
    struct cshttp_options opts;
    char *ca_bundle;
    CURL **idle; /* easy handles kept for the next requests */
    size_t n_idle, cap_idle;
};

/* Shared by every client of one connection: a counting limit on requests in flight, and a pause. */
struct cshttp_gate {
    pthread_mutex_t lock;
    pthread_cond_t freed; /* signalled when requests end */
    int max, in_flight;
    int64_t paused_until_ms; /* monotonic */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;

static void global_init(void)
{
    /* libcurl >= 7.84 makes this thread-safe; once per process is all it needs either way */
    global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

struct cshttp_client *cshttp_client_new(const struct cshttp_options *o)
{
    struct cshttp_client *c;
    pthread_once(&global_once, global_init);
    if (!global_ok || !(c = calloc(1, sizeof *c)))
        return NULL;
    if (o)
        c->opts = *o;
    if ((c->opts.ca_bundle && !(c->ca_bundle = strdup(c->opts.ca_bundle))) || !(c->multi = curl_multi_init())) {
        free(c->ca_bundle);
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* keep a connection for every request the client may have in flight: libcurl's default cache (4 per
     * transfer added at the moment) closed one connection in five when the transfers ended together */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)(c->opts.gate ? c->opts.gate->max : MAX_CONNECTS));
    if (cshttp_loop_init(&c->loop, c->multi) != 0) {
        cshttp_client_free(c);
        return NULL;
    }
    return c;
}

void cshttp_client_free(struct cshttp_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_idle; i++)
        curl_easy_cleanup(c->idle[i]);
    free(c->idle);
    curl_multi_cleanup(c->multi);
    cshttp_loop_free(&c->loop);
    free(c->ca_bundle);
    free(c);
}

/* ---- the gate ----------------------------------------------------------------------------------- */

struct cshttp_gate *cshttp_gate_new(int max_in_flight)
{
    struct cshttp_gate *g = calloc(1, sizeof *g);
    pthread_condattr_t attr;
    if (!g)
        return NULL;
    g->max = max_in_flight > 0 ? max_in_flight : 1;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->freed, &attr);
    pthread_condattr_destroy(&attr);
    return g;
}

void cshttp_gate_free(struct cshttp_gate *g)
{
    if (!g)
        return;
    pthread_cond_destroy(&g->freed);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void cshttp_gate_pause(struct cshttp_gate *g, int64_t ms)
{
    int64_t until = cshttp_mono_ms() + (ms > 0 ? ms : 0);
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    if (until > g->paused_until_ms)
        g->paused_until_ms = until;
    pthread_mutex_unlock(&g->lock);
}

int64_t cshttp_gate_paused_ms(struct cshttp_gate *g)
{
    int64_t left;
    if (!g)
        return 0;
    pthread_mutex_lock(&g->lock);
    left = g->paused_until_ms - cshttp_mono_ms();
    pthread_mutex_unlock(&g->lock);
    return left > 0 ? left : 0;
}

/* Take up to `want` slots. With `block` (the caller has nothing in flight to wait for), waits until at
 * least one is free. Returns the slots taken; 0 with *paused_ms > 0 while the gate is paused. */
static size_t gate_take(struct cshttp_gate *g, size_t want, int block, int64_t *paused_ms)
{
    size_t got = 0;
    *paused_ms = 0;
    if (!g)
        return want;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        int64_t now = cshttp_mono_ms();
        if (g->paused_until_ms > now) {
            *paused_ms = g->paused_until_ms - now;
            break;
        }
        if (g->in_flight < g->max) {
            got = want < (size_t)(g->max - g->in_flight) ? want : (size_t)(g->max - g->in_flight);
            g->in_flight += (int)got;
            break;
        }
        if (!block)
            break;
        /* the slots are held by other senders' requests, each bounded by its timeout */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&g->freed, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return got;
}

static void gate_give(struct cshttp_gate *g, size_t n)
{
    if (!g || !n)
        return;
    pthread_mutex_lock(&g->lock);
    g->in_flight -= (int)n;
    pthread_cond_broadcast(&g->freed);
    pthread_mutex_unlock(&g->lock);
}

void cshttp_response_clear(struct cshttp_response *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
    r->retry_after_ms = -1;
}

/* ---- capturing the response ------------------------------------------------------------------- */

struct sink {
    char *data;
    size_t len, cap;
    int failed;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *grown;
        while (cap < s->len + n + 1)
            cap *= 2;
        if (!(grown = realloc(s->data, cap))) {
            s->failed = 1;
            return 0;
        }
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

/* The value of header `name` (lower case) in r's "name\0value\0" pairs, or NULL. */
static char *header_find(const struct cshttp_response *r, const char *name, size_t name_len)
{
    for (size_t at = 0; at < r->headers_len;) {
        char *n = r->headers + at, *v = n + strlen(n) + 1;
        if (strlen(n) == name_len && memcmp(n, name, name_len) == 0)
            return v;
        at = (size_t)(v - r->headers) + strlen(v) + 1;
    }
    return NULL;
}

/* Append the pair name, value to r's headers. -1 when out of memory. */
static int header_append(struct cshttp_response *r, const char *name, size_t name_len, const char *v1, size_t v1_len,
                         const char *v2, size_t v2_len)
{
    size_t need = r->headers_len + name_len + v1_len + v2_len + 2;
    if (need > r->headers_cap) {
        size_t cap = r->headers_cap ? r->headers_cap : 512;
        char *grown;
        while (cap < need)
            cap *= 2;
        if (!(grown = realloc(r->headers, cap)))
            return -1;
        r->headers = grown;
        r->headers_cap = cap;
    }
    memcpy(r->headers + r->headers_len, name, name_len);
    r->headers[r->headers_len += name_len] = '\0';
    r->headers_len++;
    memcpy(r->headers + r->headers_len, v1, v1_len);
    memcpy(r->headers + r->headers_len + v1_len, v2, v2_len);
    r->headers[r->headers_len += v1_len + v2_len] = '\0';
    r->headers_len++;
    return 0;
}

/* Keep the header `name: value` (repeated headers combine into one comma-separated value, RFC 9110
 * 5.3, e.g. several Link lines). */
static void header_keep(struct cshttp_response *r, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    char *prev = header_find(r, name, name_len), *joined;
    size_t prev_len, pair_at, pair_len;
    if (!prev) {
        header_append(r, name, name_len, value, value_len, "", 0);
        return;
    }
    /* the earlier pair goes, and the joined value is appended */
    prev_len = strlen(prev);
    pair_at = (size_t)(prev - r->headers) - name_len - 1;
    pair_len = name_len + prev_len + 2;
    if (!(joined = malloc(prev_len + 2)))
        return;
    memcpy(joined, prev, prev_len);
    memcpy(joined + prev_len, ", ", 2);
    memmove(r->headers + pair_at, r->headers + pair_at + pair_len, r->headers_len - pair_at - pair_len);
    r->headers_len -= pair_len;
    header_append(r, name, name_len, joined, prev_len + 2, value, value_len);
    free(joined);
}

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata)
{
    struct cshttp_response *r = userdata;
    size_t n = size * nitems, name_len, value_start, value_end;
    char *colon = memchr(buffer, ':', n), name[128];
    if (!colon || (name_len = (size_t)(colon - buffer)) >= sizeof name)
        return n; /* the status line, or a header too long to be one we read */
    if (strncmp(buffer, "HTTP/", 5) == 0)
        return n;
    for (size_t i = 0; i < name_len; i++)
        name[i] = (char)tolower((unsigned char)buffer[i]);
    value_start = name_len + 1;
    while (value_start < n && (buffer[value_start] == ' ' || buffer[value_start] == '\t'))
        value_start++;
    value_end = n;
    while (value_end > value_start &&
           (buffer[value_end - 1] == '\r' || buffer[value_end - 1] == '\n' || buffer[value_end - 1] == ' '))
        value_end--;
    header_keep(r, name, name_len, buffer + value_start, value_end - value_start);
    return n;
}

/* Retry-After: delta-seconds or an HTTP date. -1 when absent or unreadable. */
static int64_t parse_retry_after(const char *v)
{
    struct tm tm;
    char *end;
    long secs;
    if (!v || !*v)
        return -1;
    secs = strtol(v, &end, 10);
    if (end != v && *end == '\0')
        return secs < 0 ? -1 : (int64_t)secs * 1000;
    memset(&tm, 0, sizeof tm);
    if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
        int64_t delta = ((int64_t)timegm(&tm) - (int64_t)time(NULL)) * 1000;
        return delta > 0 ? delta : 0;
    }
    return -1;
}

/* ---- requests ----------------------------------------------------------------------------------- */

/* One call on its way: its easy handle and what the callbacks fill. */
struct transfer {
    struct cshttp_call *call;
    CURL *easy;
    struct curl_slist *list; /* its own header list (NULL when it uses one of its set's: see header_lists) */
    struct sink body;
    char errbuf[CURL_ERROR_SIZE];
};

static void set_common_options(struct cshttp_client *c, CURL *h);

/* An easy handle with the client's common options: one kept from an earlier request (its options stay
 * set; transfer_start sets every option that differs between requests), or a new one. */
static CURL *easy_take(struct cshttp_client *c)
{
    CURL *h;
    if (c->n_idle)
        return c->idle[--c->n_idle];
    if ((h = curl_easy_init()))
        set_common_options(c, h);
    return h;
}

static void easy_keep(struct cshttp_client *c, CURL *h)
{
    if (c->n_idle == c->cap_idle) {
        size_t cap = c->cap_idle ? 2 * c->cap_idle : 16;
        CURL **grown = realloc(c->idle, cap * sizeof *grown);
        if (!grown) {
            curl_easy_cleanup(h);
            return;
        }
        c->idle = grown;
        c->cap_idle = cap;
    }
    /* what pointed into the ended transfer goes; the rest of the options serve the next request */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(h, CURLOPT_PRIVATE, NULL);
    c->idle[c->n_idle++] = h;
}

static void set_common_options(struct cshttp_client *c, CURL *h)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "crmsync/" CRMSYNC_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     c->opts.connect_timeout_ms > 0 ? c->opts.connect_timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->opts.timeout_ms > 0 ? c->opts.timeout_ms : 60000L);
    /* HTTP/2 where TLS offers it */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    if (c->ca_bundle)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_bundle);
}

/* NULL-terminated header lines as the list libcurl takes (new), with a blank Expect: (no 100-continue
 * round trip). NULL when out of memory. */
static struct curl_slist *header_list(const char *const *lines)
{
    struct curl_slist *list = NULL, *grown;
    for (size_t i = 0; lines && lines[i]; i++) {
        if (!(grown = curl_slist_append(list, lines[i]))) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = grown;
    }
    if (!(grown = curl_slist_append(list, "Expect:")))
        curl_slist_free_all(list);
    return grown;
}

/* The header lists of a set of calls sent together. Calls given the same array of lines (a connector
 * hands one array to every call of a round: token, key, content type) share one list, built once for
 * the set instead of once per request. */
struct header_lists {
    const char *const **lines;
    struct curl_slist **lists;
    size_t n;
};

/* The list of `lines` in the set (built on first use; borrowed), or NULL when out of memory. */
static struct curl_slist *header_lists_get(struct header_lists *hl, const char *const *lines)
{
    for (size_t i = hl->n; i-- > 0;)
        if (hl->lines[i] == lines)
            return hl->lists[i];
    if (!(hl->lists[hl->n] = header_list(lines)))
        return NULL;
    hl->lines[hl->n] = lines;
    return hl->lists[hl->n++];
}

static void header_lists_free(struct header_lists *hl)
{
    for (size_t i = 0; i < hl->n; i++)
        curl_slist_free_all(hl->lists[i]);
    free(hl->lines);
    free(hl->lists);
}

/* Set up t->call on a handle with the header list `list` (borrowed: it outlives the transfer; NULL when
 * it could not be built) and add it to the multi. -1 (the call failed, r.error says why) on error. */
static int transfer_start(struct cshttp_client *c, struct transfer *t, struct curl_slist *list)
{
    struct cshttp_call *k = t->call;
    CURL *h = list ? easy_take(c) : NULL;
    if (!h) {
        snprintf(k->r.error, sizeof k->r.error, "out of memory starting the request");
        return -1;
    }
    t->easy = h;
    curl_easy_setopt(h, CURLOPT_URL, k->url);
    /* new requests wait to share a connection being set up where it may offer HTTP/2 */
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, strncmp(k->url, "https:", 6) == 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, k->method);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); /* a GET, no body, whatever the handle sent before */
    if (strcmp(k->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (k->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, k->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)k->body_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t->body);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &k->r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(h, CURLOPT_PRIVATE, t);
    if (curl_multi_add_handle(c->multi, h) != CURLM_OK) {
        snprintf(k->r.error, sizeof k->r.error, "cannot start the request");
        return -1;
    }
    return 0;
}

/* The outcome of a finished transfer into its call; its handle goes back to the idle list. */
static void transfer_finish(struct cshttp_client *c, struct transfer *t, CURLcode rc)
{
    struct cshttp_response *r = &t->call->r;
    if (t->easy) {
        curl_multi_remove_handle(c->multi, t->easy);
        if (rc == CURLE_OK)
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r->status);
        easy_keep(c, t->easy);
        t->easy = NULL;
    }
    curl_slist_free_all(t->list);
    t->list = NULL;
    r->body = t->body.data ? t->body.data : strdup("");
    r->body_len = t->body.len;
    t->body.data = NULL;
    if (rc != CURLE_OK || t->body.failed || !r->body) {
        if (!*r->error)
            snprintf(r->error, sizeof r->error, "%s",
                     t->body.failed ? "out of memory reading the response"
                     : *t->errbuf   ? t->errbuf
                                    : curl_easy_strerror(rc));
        r->status = 0;
    } else {
        r->retry_after_ms = parse_retry_after(cshttp_response_header(r, "retry-after"));
    }
    if (c->opts.observe)
        c->opts.observe(c->opts.observe_arg, r->status);
}

/* A 429 or an answer with Retry-After pauses every sender of the gate. */
static void note_pause(struct cshttp_gate *g, const struct cshttp_response *r)
{
    if (r->retry_after_ms >= 0 && r->status >= 400)
        cshttp_gate_pause(g, r->retry_after_ms);
    else if (r->status == 429)
        cshttp_gate_pause(g, 1000);
}

/* Collect what the multi finished. Returns how many ended. */
static size_t collect(struct cshttp_client *c, struct cshttp_gate *g)
{
    CURLMsg *m;
    int left;
    size_t ended = 0;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        char *priv = NULL;
        struct transfer *t;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        t = (struct transfer *)priv;
        transfer_finish(c, t, m->data.result);
        note_pause(g, &t->call->r);
        ended++;
    }
    return ended;
}

static void perform(struct cshttp_client *c, struct cshttp_gate *g, struct cshttp_call *calls, size_t n)
{
    struct transfer *ts = calloc(n ? n : 1, sizeof *ts);
    struct header_lists hl = {calloc(n ? n : 1, sizeof *hl.lines), calloc(n ? n : 1, sizeof *hl.lists), 0};
    size_t next = 0, running = 0;
    if (!hl.lines || !hl.lists) {
        free(ts);
        ts = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cshttp_response_clear(&calls[i].r);
        calls[i].unsent = 0;
        if (ts)
            ts[i].call = &calls[i];
    }
    if (!ts) {
        for (size_t i = 0; i < n; i++)
            snprintf(calls[i].r.error, sizeof calls[i].r.error, "out of memory starting the requests");
        next = n;
    }
    while (next < n || running) {
        if (next < n) {
            int64_t paused;
            size_t got = gate_take(g, n - next, running == 0, &paused);
            if (paused > 0) {
                for (; next < n; next++) {
                    calls[next].unsent = 1;
                    calls[next].r.retry_after_ms = paused;
                    snprintf(calls[next].r.error, sizeof calls[next].r.error,
                             "not sent: the service asked to wait %lld ms more (Retry-After)", (long long)paused);
                }
            }
            for (size_t k = 0; k < got; k++, next++) {
                if (transfer_start(c, &ts[next], header_lists_get(&hl, calls[next].headers)) == 0) {
                    running++;
                } else {
                    transfer_finish(c, &ts[next], CURLE_FAILED_INIT);
                    gate_give(g, 1);
                }
            }
        }
        if (!running)
            continue;
        cshttp_loop_run(&c->loop, next < n ? 10 : 1000);
        if (ts) {
            size_t ended = collect(c, g);
            running -= ended;
            gate_give(g, ended);
        }
    }
    header_lists_free(&hl);
    free(ts);
}

void cshttp_request_all(struct cshttp_client *c, struct cshttp_call *calls, size_t n)
{
    perform(c, c->opts.gate, calls, n);
}

/* One request through `g`: 0 when an answer arrived, -1 otherwise (r->error says why). */
static int request_one(struct cshttp_client *c, struct cshttp_gate *g, const char *method, const char *url,
                       const char *const *headers, const char *body, size_t body_len, struct cshttp_response *r)
{
    struct cshttp_call call = {.method = method, .url = url, .headers = headers, .body = body, .body_len = body_len};
    cshttp_response_clear(r);
    perform(c, g, &call, 1);
    *r = call.r;
    return r->status ? 0 : -1;
}

int cshttp_request(struct cshttp_client *c, const char *method, const char *url, const char *const *headers,
                   const char *body, size_t body_len, struct cshttp_response *r)
{
    return request_one(c, c->opts.gate, method, url, headers, body, body_len, r);
}

/* A call started by cshttp_start: its transfer while it is in the multi, or to send at cshttp_finish, and
 * the copies of its request. */
struct cshttp_pending {
    struct cshttp_client *client;
    struct transfer t;       /* t.easy is NULL once the transfer has ended (or was never started) */
    struct cshttp_call call; /* its strings are the copies below */
    int started;             /* holds a slot of the gate */
    char *method, *url, *body;
    char **lines; /* NULL-terminated */
};

/* Wipe (they may carry a token) and free NULL-terminated header lines. */
static void lines_free(char **lines)
{
    for (size_t i = 0; lines && lines[i]; i++) {
        memset(lines[i], 0, strlen(lines[i]));
        free(lines[i]);
    }
    free(lines);
}

/* A copy of NULL-terminated header lines (NULL: none), or NULL when out of memory. */
static char **lines_copy(const char *const *lines)
{
    size_t n = 0;
    char **out;
    while (lines && lines[n])
        n++;
    if (!(out = calloc(n + 1, sizeof *out)))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = strdup(lines[i]))) {
            lines_free(out);
            return NULL;
        }
    }
    return out;
}

/* p's copies of req's strings, its call pointing to them. -1 when out of memory. */
static int pending_copy(struct cshttp_pending *p, const struct cshttp_call *req)
{
    if (!(p->method = strdup(req->method)) || !(p->url = strdup(req->url)) || !(p->lines = lines_copy(req->headers)))
        return -1;
    if (req->body) {
        if (!(p->body = malloc(req->body_len + 1)))
            return -1;
        memcpy(p->body, req->body, req->body_len);
        p->body[req->body_len] = '\0';
    }
    p->call = (struct cshttp_call){.method = p->method,
                                   .url = p->url,
                                   .headers = (const char *const *)p->lines,
                                   .body = p->body,
                                   .body_len = req->body_len};
    p->call.r.retry_after_ms = -1;
    p->t.call = &p->call;
    return 0;
}

static void pending_release(struct cshttp_pending *p)
{
    free(p->method);
    free(p->url);
    free(p->body);
    lines_free(p->lines);
    cshttp_response_clear(&p->call.r);
    free(p);
}

struct cshttp_pending *cshttp_start(struct cshttp_client *c, const struct cshttp_call *req)
{
    struct cshttp_pending *p = calloc(1, sizeof *p);
    int64_t paused;
    if (!p)
        return NULL;
    p->client = c;
    if (pending_copy(p, req) != 0) {
        pending_release(p);
        return NULL;
    }
    if (gate_take(c->opts.gate, 1, 0, &paused) == 0)
        return p; /* no room now: cshttp_finish sends it */
    p->started = 1;
    p->t.list = header_list((const char *const *)p->lines);
    if (transfer_start(c, &p->t, p->t.list) != 0)
        transfer_finish(c, &p->t, CURLE_FAILED_INIT);
    else
        cshttp_loop_run(&c->loop, 0); /* on a kept-alive connection this sends the request */
    return p;
}

void cshttp_finish(struct cshttp_pending *p, struct cshttp_response *r)
{
    struct cshttp_client *c = p->client;
    cshttp_response_clear(r);
    if (!p->started)
        perform(c, c->opts.gate, &p->call, 1);
    for (;;) { /* collect() ends any pending call of the client; this one is done when it has */
        collect(c, c->opts.gate);
        if (!p->t.easy)
            break;
        cshttp_loop_run(&c->loop, 1000);
    }
    if (p->started)
        gate_give(c->opts.gate, 1);
    p->started = 0;
    *r = p->call.r;
    memset(&p->call.r, 0, sizeof p->call.r);
}

const char *cshttp_pending_url(const struct cshttp_pending *p)
{
    return p->url;
}

const char *const *cshttp_pending_headers(const struct cshttp_pending *p)
{
    return (const char *const *)p->lines;
}

void cshttp_pending_free(struct cshttp_pending *p)
{
    if (!p)
        return;
    if (p->t.easy) {
        curl_multi_remove_handle(p->client->multi, p->t.easy);
        curl_easy_cleanup(p->t.easy);
        curl_slist_free_all(p->t.list);
        free(p->t.body.data);
    }
    if (p->started)
        gate_give(p->client->opts.gate, 1);
    pending_release(p);
}

void cshttp_count_call(void *counter, long status)
{
    struct cshttp_counter *k = counter;
    char name[32];
    if (status)
        snprintf(name, sizeof name, "http_%ld", status);
    else
        snprintf(name, sizeof name, "http_error");
    k->host->metric_add(k->ctx, name, 1);
}

json_t *cshttp_response_json(const struct cshttp_response *r)
{
    if (!r->body || r->body_len == 0)
        return NULL;
    return cs_json_parse(r->body, r->body_len);
}

const char *cshttp_response_header(const struct cshttp_response *r, const char *name)
{
    return header_find(r, name, strlen(name));
}

cs_status cshttp_classify(const struct cshttp_response *r)
{
    long s = r->status;
    if (s == 0 || s == 408 || s == 429 || s >= 500)
        return CS_RETRY;
    if (s >= 200 && s < 300)
        return CS_OK;
    if (s == 401 || s == 403)
        return CS_FATAL;
    return CS_REJECT;
}

char *cshttp_escape(const char *s)
{
    char *tmp = curl_easy_escape(NULL, s ? s : "", 0), *out;
    if (!tmp)
        return NULL;
    out = strdup(tmp);
    curl_free(tmp);
    return out;
}

/* ---- OAuth2 client credentials ---------------------------------------------------------------- */

struct cshttp_token {
    pthread_mutex_t lock; /* callers of several threads fetch one token */
    char *token_url, *client_id, *client_secret, *scope, *hint;
    char *access_token;
    time_t refresh_at; /* a minute before expiry, or at 3/4 of a short lifetime */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct cshttp_token *cshttp_token_new(const struct cshttp_token_config *cfg)
{
    struct cshttp_token *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->token_url = dup_or_null(cfg->token_url);
    t->client_id = dup_or_null(cfg->client_id);
    t->client_secret = dup_or_null(cfg->client_secret);
    t->scope = dup_or_null(cfg->scope);
    t->hint = dup_or_null(cfg->setting_hint ? cfg->setting_hint : "the connection's client_id and client_secret");
    if (!t->token_url || !t->client_id || !t->client_secret || !t->hint) {
        cshttp_token_free(t);
        return NULL;
    }
    return t;
}

void cshttp_token_free(struct cshttp_token *t)
{
    if (!t)
        return;
    if (t->client_secret)
        memset(t->client_secret, 0, strlen(t->client_secret));
    free(t->token_url);
    free(t->client_id);
    free(t->client_secret);
    free(t->scope);
    free(t->hint);
    cshttp_token_drop(t->access_token);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void cshttp_token_drop(char *token)
{
    if (token)
        memset(token, 0, strlen(token));
    free(token);
}

/* The form body of a token request. New string, or NULL on allocation failure. */
static char *token_form(const struct cshttp_token *t)
{
    char *id = cshttp_escape(t->client_id), *secret = cshttp_escape(t->client_secret),
         *scope = t->scope ? cshttp_escape(t->scope) : NULL, *form = NULL;
    if (id && secret && (scope || !t->scope) &&
        asprintf(&form, "grant_type=client_credentials&client_id=%s&client_secret=%s%s%s", id, secret,
                 scope ? "&scope=" : "", scope ? scope : "") < 0)
        form = NULL;
    if (secret)
        memset(secret, 0, strlen(secret));
    free(id);
    free(secret);
    free(scope);
    return form;
}

/* Explain a refused token request: the provider's error and description, first line only. */
static void describe_refusal(const struct cshttp_token *t, const struct cshttp_response *r, char *err, size_t errlen)
{
    json_t *doc = cshttp_response_json(r);
    const char *code = json_string_value(json_object_get(doc, "error"));
    const char *desc = json_string_value(json_object_get(doc, "error_description"));
    int desc_len = desc ? (int)strcspn(desc, "\r\n") : 0;
    snprintf(err, errlen, "the identity provider at %s refused the credentials (HTTP %ld%s%s%s%.*s); check %s",
             t->token_url, r->status, code ? ", " : "", code ? code : "", desc ? ": " : "", desc_len, desc ? desc : "",
             t->hint);
    json_decref(doc);
}

/* Fetch a new token into t (t->lock held). */
static cs_status token_fetch(struct cshttp_token *t, struct cshttp_client *c, int64_t *retry_after_ms, char *err,
                             size_t errlen)
{
    static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
                                          NULL};
    struct cshttp_response r = {0};
    json_t *doc = NULL;
    char *form;
    cs_status st;
    const char *access;
    json_int_t expires_in;

    *retry_after_ms = -1;
    if (!(form = token_form(t))) {
        snprintf(err, errlen, "out of memory building the token request");
        return CS_RETRY;
    }
    /* never held by the service's gate: the identity provider is another service */
    if (request_one(c, NULL, "POST", t->token_url, headers, form, strlen(form), &r) != 0) {
        snprintf(err, errlen, "cannot reach the identity provider at %s: %s", t->token_url, r.error);
        st = CS_RETRY;
        goto out;
    }
    *retry_after_ms = r.retry_after_ms;
    st = cshttp_classify(&r);
    if (st == CS_RETRY) {
        snprintf(err, errlen, "the identity provider at %s answered HTTP %ld; retrying", t->token_url, r.status);
        goto out;
    }
    if (st != CS_OK) {
        describe_refusal(t, &r, err, errlen);
        st = CS_FATAL;
        goto out;
    }
    doc = cshttp_response_json(&r);
    access = json_string_value(json_object_get(doc, "access_token"));
    expires_in = json_integer_value(json_object_get(doc, "expires_in"));
    if (!access || !*access) {
        snprintf(err, errlen, "the identity provider at %s answered without an access_token", t->token_url);
        st = CS_RETRY;
        goto out;
    }
    cshttp_token_drop(t->access_token);
    if (!(t->access_token = strdup(access))) {
        snprintf(err, errlen, "out of memory keeping the token");
        st = CS_RETRY;
        goto out;
    }
    if (expires_in <= 0)
        expires_in = 300;
    t->refresh_at = time(NULL) + (time_t)expires_in - (expires_in >= 240 ? 60 : (time_t)expires_in / 4);
    st = CS_OK;
out:
    memset(form, 0, strlen(form));
    free(form);
    json_decref(doc);
    cshttp_response_clear(&r);
    return st;
}

cs_status cshttp_token_get(struct cshttp_token *t, struct cshttp_client *c, int force, const char *seen, char **token,
                           int64_t *retry_after_ms, char *err, size_t errlen)
{
    cs_status st = CS_OK;
    *token = NULL;
    *retry_after_ms = -1;
    pthread_mutex_lock(&t->lock);
    /* a forced refresh is needed only if nobody replaced the token the 401 came with */
    if (force && seen && t->access_token && strcmp(seen, t->access_token) != 0)
        force = 0;
    if (force || !t->access_token || time(NULL) >= t->refresh_at)
        st = token_fetch(t, c, retry_after_ms, err, errlen);
    if (st == CS_OK && !(*token = strdup(t->access_token))) {
        snprintf(err, errlen, "out of memory copying the token");
        st = CS_RETRY;
    }
    pthread_mutex_unlock(&t->lock);
    return st;
}

/* ---- what the instances of one connection share ------------------------------------------------------ */

struct shared_args {
    const struct cshttp_token_config *tc;
    int max_in_flight;
};

void cshttp_shared_free(struct cshttp_shared *s)
{
    if (!s)
        return;
    cshttp_token_free(s->token);
    cshttp_gate_free(s->gate);
    cshttp_docs_free(s->docs);
    free(s);
}

static void shared_release(void *obj)
{
    cshttp_shared_free(obj);
}

static void *shared_make(void *arg)
{
    const struct shared_args *a = arg;
    struct cshttp_shared *s = calloc(1, sizeof *s);
    if (s && (!(s->token = cshttp_token_new(a->tc)) || !(s->gate = cshttp_gate_new(a->max_in_flight)) ||
              !(s->docs = cshttp_docs_new()))) {
        cshttp_shared_free(s);
        s = NULL;
    }
    return s;
}

struct cshttp_shared *cshttp_shared_get(const cs_host *host, cs_ctx *ctx, const struct cshttp_token_config *tc,
                                        int max_in_flight, struct cshttp_shared **own)
{
    struct shared_args args = {tc, max_in_flight};
    struct cshttp_shared *s = NULL;
    *own = NULL;
    if (host->struct_size >= offsetof(cs_host, connection_shared) + sizeof host->connection_shared &&
        host->connection_shared)
        s = host->connection_shared(ctx, "cshttp", shared_make, shared_release, &args);
    return s ? s : (*own = shared_make(&args));
}
