/*
 * cshttp.c - the connectors' HTTP layer (see cshttp.h): libcurl easy handles with keep-alive,
 * response capture, Retry-After parsing, outcome classification and the OAuth2 token cache.
 */
#include "cshttp.h"

#include <ctype.h>
#include <crmsync/version.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct cshttp_client {
    CURL *curl;
    struct cshttp_options opts;
    char *ca_bundle;
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
    if (c->opts.ca_bundle && !(c->ca_bundle = strdup(c->opts.ca_bundle))) {
        free(c);
        return NULL;
    }
    if (!(c->curl = curl_easy_init())) {
        free(c->ca_bundle);
        free(c);
        return NULL;
    }
    return c;
}

void cshttp_client_free(struct cshttp_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->ca_bundle);
    free(c);
}

void cshttp_response_clear(struct cshttp_response *r)
{
    free(r->body);
    json_decref(r->headers);
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

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata)
{
    json_t *headers = userdata;
    size_t n = size * nitems, name_len, value_start, value_end;
    char *colon = memchr(buffer, ':', n), name[128];
    const char *prev;
    if (!colon || (name_len = (size_t)(colon - buffer)) >= sizeof name)
        return n; /* the status line, or a header too long to be one we read */
    if (strncmp(buffer, "HTTP/", 5) == 0)
        return n;
    for (size_t i = 0; i < name_len; i++)
        name[i] = (char)tolower((unsigned char)buffer[i]);
    name[name_len] = '\0';
    value_start = name_len + 1;
    while (value_start < n && (buffer[value_start] == ' ' || buffer[value_start] == '\t'))
        value_start++;
    value_end = n;
    while (value_end > value_start && (buffer[value_end - 1] == '\r' || buffer[value_end - 1] == '\n' ||
                                       buffer[value_end - 1] == ' '))
        value_end--;
    /* repeated headers combine into one comma-separated value (RFC 9110 5.3), e.g. several Link lines */
    if ((prev = json_string_value(json_object_get(headers, name)))) {
        char *joined = NULL;
        if (asprintf(&joined, "%s, %.*s", prev, (int)(value_end - value_start), buffer + value_start) >= 0)
            json_object_set_new(headers, name, json_string(joined));
        free(joined);
    } else {
        json_object_set_new(headers, name, json_stringn(buffer + value_start, value_end - value_start));
    }
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

/* ---- requests --------------------------------------------------------------------------------- */

static void set_common_options(struct cshttp_client *c)
{
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "crmsync/" CRMSYNC_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms > 0 ? c->opts.connect_timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->opts.timeout_ms > 0 ? c->opts.timeout_ms : 60000L);
    if (c->ca_bundle)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_bundle);
}

int cshttp_request(struct cshttp_client *c, const char *method, const char *url, const char *const *headers,
                   const char *body, size_t body_len, struct cshttp_response *r)
{
    struct curl_slist *list = NULL;
    struct sink s = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc;

    cshttp_response_clear(r);
    r->headers = json_object();
    curl_easy_reset(c->curl); /* keeps the connection cache: keep-alive survives */
    set_common_options(c);
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    list = curl_slist_append(list, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r->headers);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    rc = curl_easy_perform(c->curl);
    curl_slist_free_all(list);
    r->body = s.data ? s.data : strdup("");
    r->body_len = s.len;
    if (rc != CURLE_OK || s.failed || !r->body) {
        snprintf(r->error, sizeof r->error, "%s", s.failed ? "out of memory reading the response"
                                                  : *errbuf ? errbuf
                                                            : curl_easy_strerror(rc));
        r->status = 0;
        if (c->opts.observe)
            c->opts.observe(c->opts.observe_arg, 0);
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    r->retry_after_ms = parse_retry_after(cshttp_response_header(r, "retry-after"));
    if (c->opts.observe)
        c->opts.observe(c->opts.observe_arg, r->status);
    return 0;
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
    return json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
}

const char *cshttp_response_header(const struct cshttp_response *r, const char *name)
{
    return json_string_value(json_object_get(r->headers, name));
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
    free(t->access_token);
    free(t);
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
static void describe_refusal(const struct cshttp_token *t, const struct cshttp_response *r, char *err,
                             size_t errlen)
{
    json_t *doc = cshttp_response_json(r);
    const char *code = json_string_value(json_object_get(doc, "error"));
    const char *desc = json_string_value(json_object_get(doc, "error_description"));
    int desc_len = desc ? (int)strcspn(desc, "\r\n") : 0;
    snprintf(err, errlen, "the identity provider at %s refused the credentials (HTTP %ld%s%s%s%.*s); check %s",
             t->token_url, r->status, code ? ", " : "", code ? code : "", desc ? ": " : "", desc_len,
             desc ? desc : "", t->hint);
    json_decref(doc);
}

cs_status cshttp_token_get(struct cshttp_token *t, struct cshttp_client *c, int force, const char **token,
                           int64_t *retry_after_ms, char *err, size_t errlen)
{
    static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded",
                                          "Accept: application/json", NULL};
    struct cshttp_response r = {0};
    json_t *doc = NULL;
    char *form;
    cs_status st;
    const char *access;
    json_int_t expires_in;

    *retry_after_ms = -1;
    if (!force && t->access_token && time(NULL) < t->refresh_at) {
        *token = t->access_token;
        return CS_OK;
    }
    if (!(form = token_form(t))) {
        snprintf(err, errlen, "out of memory building the token request");
        return CS_RETRY;
    }
    if (cshttp_request(c, "POST", t->token_url, headers, form, strlen(form), &r) != 0) {
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
    free(t->access_token);
    if (!(t->access_token = strdup(access))) {
        snprintf(err, errlen, "out of memory keeping the token");
        st = CS_RETRY;
        goto out;
    }
    if (expires_in <= 0)
        expires_in = 300;
    t->refresh_at = time(NULL) + (time_t)expires_in - (expires_in >= 240 ? 60 : (time_t)expires_in / 4);
    *token = t->access_token;
    st = CS_OK;
out:
    memset(form, 0, strlen(form));
    free(form);
    json_decref(doc);
    cshttp_response_clear(&r);
    return st;
}
