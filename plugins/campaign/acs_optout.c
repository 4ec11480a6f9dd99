/*
 * acs_optout.c - the source stream "opt-outs": the deny-list changes a Campaign workflow exports
 * daily (reference B6, B10.4) as CSV files (externalId,email,field,value,lastModified) into the
 * directory `export_url` names, file:// or sftp://, read through libcurl. Files are taken in name
 * order, each once: the cursor is {"file", "offset", "line", "done"}. Each line is a record keyed
 * "<externalId or email>/<field>" (one attribute's latest change; the core's coalescing then keeps
 * every attribute). A malformed line is logged with its line number and emitted on the unmapped
 * stream "opt-outs-malformed", which the core dead-letters with the reason, so nothing is lost
 * silently and the file still advances. Each line's change time is also remembered per
 * (externalId, field) for the sink target opt-outs (acs_optout_sink.c): it is the only attribute-level
 * change time Campaign gives. Adobe's export runs once a day and its operators only find out by accident
 * when it stopped: when no new file has arrived for export_max_age (26 h), the workflow shows a sub-state
 * saying so (host->set_substate) while it stays RUNNING and keeps polling, until a file arrives; the
 * age of the newest file (since crmsync first saw it) is the gauge acs_optout_export_age_seconds.
 * cshttp is not used here: it sets HTTP-only options and has no directory listing (DIRLISTONLY).
 */
#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "campaign.h"

#define NEWEST_KEY "optout-export:newest" /* "<Unix ms first seen> <file name>" */

struct buf {
    char *data;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, size * n);
    b->data = grown;
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* A handle for `url` in the export directory (new, or NULL): file:// or sftp:// only, the connection's
 * timeouts and SSH key and known hosts. */
static CURL *export_handle(const struct acs *a, const char *url)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "file,sftp");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_FILE | CURLPROTO_SFTP));
#endif
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, a->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, a->timeout_ms);
    if (a->ssh_key)
        curl_easy_setopt(h, CURLOPT_SSH_PRIVATE_KEYFILE, a->ssh_key);
    if (a->known_hosts)
        curl_easy_setopt(h, CURLOPT_SSH_KNOWNHOSTS, a->known_hosts);
    return h;
}

/* Fetch `url` (a file, or with `list` a directory's names, one a line) into b. */
static cs_status fetch(struct acs *a, const char *url, int list, struct buf *b)
{
    CURL *h = export_handle(a, url);
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc;
    if (!h)
        return acs_fail(a, 0, "out of memory"), CS_RETRY;
    curl_easy_setopt(h, CURLOPT_DIRLISTONLY, (long)list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_LOGIN_DENIED) { /* sftp: host key or our key refused */
        acs_fail(a, 0, "reading the opt-out export %s: %s; check export_known_hosts and export_ssh_key", url,
                 *errbuf ? errbuf : curl_easy_strerror(rc));
        return CS_FATAL;
    }
    if (rc != CURLE_OK) {
        acs_fail(a, 0, "reading the opt-out export %s: %s", url, *errbuf ? errbuf : curl_easy_strerror(rc));
        return CS_RETRY;
    }
    if (!b->data && !(b->data = calloc(1, 1)))
        return acs_fail(a, 0, "out of memory"), CS_RETRY;
    return CS_OK;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(json_string_value(*(json_t *const *)x), json_string_value(*(json_t *const *)y));
}

/* Is this a name of an export file (not hidden, not a temporary file, not . or ..)? */
static int export_name(const char *n)
{
    size_t len = strlen(n);
    return *n && n[0] != '.' && !(len > 4 && strcmp(n + len - 4, ".tmp") == 0);
}

/* The export file names after `after` (NULL: all), sorted, into *out (a new array); else the failure
 * with a->err. */
static cs_status list_files(struct acs *a, const char *after, json_t **out)
{
    json_t *names = json_array();
    cs_status st;
    *out = NULL;
    if (strncmp(a->export_url, "file://", 7) == 0) {
        DIR *d = opendir(a->export_url + 7);
        struct dirent *e;
        if (!d) {
            acs_fail(a, 0, "cannot list the opt-out export directory %s", a->export_url);
            json_decref(names);
            return CS_RETRY;
        }
        while ((e = readdir(d)))
            if (export_name(e->d_name) && (!after || strcmp(e->d_name, after) > 0))
                json_array_append_new(names, json_string(e->d_name));
        closedir(d);
    } else {
        struct buf b = {0};
        char *line, *save = NULL;
        if ((st = fetch(a, a->export_url, 1, &b)) != CS_OK) {
            json_decref(names);
            return st;
        }
        for (line = strtok_r(b.data, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
            if (export_name(line) && (!after || strcmp(line, after) > 0))
                json_array_append_new(names, json_string(line));
        free(b.data);
    }
    if (json_array_size(names) > 1) {
        json_t **items = malloc(json_array_size(names) * sizeof *items);
        size_t n = json_array_size(names);
        if (!items) {
            json_decref(names);
            return acs_fail(a, 0, "out of memory"), CS_RETRY;
        }
        for (size_t i = 0; i < n; i++)
            items[i] = json_incref(json_array_get(names, i));
        qsort(items, n, sizeof *items, by_name);
        json_array_clear(names);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(names, items[i]);
        free(items);
    }
    *out = names;
    return CS_OK;
}

cs_status acs_optout_newest(struct acs *a, char **name, int64_t *mtime_ms)
{
    json_t *names = NULL;
    char *url = NULL;
    CURL *h;
    CURLcode rc = CURLE_OK;
    curl_off_t when = -1;
    cs_status st = list_files(a, NULL, &names);
    *name = NULL;
    *mtime_ms = -1;
    if (st != CS_OK || !json_array_size(names)) {
        json_decref(names);
        return st;
    }
    if (!(*name = strdup(json_string_value(json_array_get(names, json_array_size(names) - 1)))) ||
        asprintf(&url, "%s%s", a->export_url, *name) < 0 || !(h = export_handle(a, url))) {
        json_decref(names);
        return acs_fail(a, 0, "out of memory"), CS_RETRY;
    }
    json_decref(names);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
    if ((rc = curl_easy_perform(h)) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_FILETIME_T, &when);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        acs_fail(a, 0, "reading the time of %s: %s", url, curl_easy_strerror(rc));
        free(url);
        return CS_RETRY;
    }
    free(url);
    *mtime_ms = when >= 0 ? (int64_t)when * 1000 : -1;
    return CS_OK;
}

/* Split a CSV line in place (double quotes, "" escapes); returns the number of columns (max `max`). */
static int split_csv(char *s, char delim, char **cols, int max)
{
    int n = 0;
    while (n < max) {
        char *out = s;
        cols[n++] = s;
        if (*s == '"') {
            for (s++; *s; s++) {
                if (*s == '"' && s[1] == '"')
                    *out++ = *s++;
                else if (*s == '"') {
                    s++;
                    break;
                } else
                    *out++ = *s;
            }
            if (*s && *s != delim)
                return -1;
        } else {
            while (*s && *s != delim)
                out++, s++;
        }
        if (!*s) {
            *out = '\0';
            return n;
        }
        *out = '\0';
        s++;
    }
    return n + 1; /* more columns than expected */
}

cs_record *acs_optout_record(const char *stream, const char *ext, const char *email, const char *field, int value,
                             const char *modified, int64_t ts)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%s", *ext ? ext : email, field);
    return cs_record_new(stream, key, CS_OP_UPSERT,
                         json_pack("{s:s, s:s, s:s, s:b, s:s}", "externalId", ext, "email", email, "field", field,
                                   "value", value, "lastModified", modified),
                         ts);
}

cs_record *acs_rejected_record(struct acs *a, const char *bad_stream, const char *key, json_t *payload, const char *why,
                               const char *metric)
{
    a->host->metric_add(a->ctx, metric, 1);
    json_object_set_new(payload, "error", json_string(why));
    return cs_record_new(bad_stream, key, CS_OP_UPSERT, payload, 0);
}

static const char *const COLUMNS[] = {"externalId", "email", "field", "value", "lastModified"};
enum { C_EXT, C_EMAIL, C_FIELD, C_VALUE, C_MODIFIED, NCOLS };

/* The record of one data line, or NULL with *why. */
static cs_record *line_record(struct acs *a, char *line, char delim, const int *map, const char *file, long lineno,
                              const char **why)
{
    char *raw[NCOLS + 1];
    const char *v[NCOLS];
    int n = split_csv(line, delim, raw, NCOLS + 1), value;
    int64_t ts;
    cs_record *rec;
    if (n != NCOLS)
        return *why = "wrong number of columns", NULL;
    for (int i = 0; i < NCOLS; i++)
        v[i] = raw[map[i]];
    if (!*v[C_EXT] && !*v[C_EMAIL])
        return *why = "neither externalId nor email", NULL;
    if (!*v[C_FIELD])
        return *why = "no field", NULL;
    if (!strcasecmp(v[C_VALUE], "true") || !strcmp(v[C_VALUE], "1"))
        value = 1;
    else if (!strcasecmp(v[C_VALUE], "false") || !strcmp(v[C_VALUE], "0"))
        value = 0;
    else
        return *why = "value is not a boolean", NULL;
    if (acs_parse_time(v[C_MODIFIED], &ts) != 0)
        return *why = "lastModified is not a timestamp", NULL;
    if ((rec = acs_optout_record(ACS_OPTOUT_STREAM, v[C_EXT], v[C_EMAIL], v[C_FIELD], value, v[C_MODIFIED], ts))) {
        acs_optout_remember(a, v[C_EXT], v[C_FIELD], ts);
        json_object_set_new(cs_record_payload(rec), "file", json_string(file));
        json_object_set_new(cs_record_payload(rec), "line", json_integer((json_int_t)lineno));
    }
    return rec;
}

/* Column positions from the header line; -1 when a column is missing. */
static int header_map(char *header, char *delim, int *map)
{
    char *cols[16];
    int n;
    *delim = strchr(header, ';') ? ';' : strchr(header, '\t') ? '\t' : ',';
    n = split_csv(header, *delim, cols, 16);
    for (int i = 0; i < NCOLS; i++) {
        map[i] = -1;
        for (int j = 0; j < n && j < 16; j++)
            if (strcmp(cols[j], COLUMNS[i]) == 0)
                map[i] = j;
        if (map[i] < 0)
            return -1;
    }
    return n == NCOLS ? 0 : -1;
}

/* Emit the lines of `file` from cursor offset/line; checkpoints the new position. */
static cs_status read_file(struct acs *a, const char *file, size_t offset, long lineno, size_t max, size_t *emitted,
                           int *done)
{
    struct buf b = {0};
    char *url = NULL, delim, *p, *eol;
    int map[NCOLS];
    cs_status st;
    *done = 0;
    if (asprintf(&url, "%s%s%s", a->export_url, a->export_url[strlen(a->export_url) - 1] == '/' ? "" : "/", file) < 0)
        return acs_fail(a, 0, "out of memory"), CS_RETRY;
    if ((st = fetch(a, url, 0, &b)) != CS_OK)
        goto out;
    eol = strchr(b.data, '\n');
    if (eol)
        *eol = '\0';
    if (header_map(b.data, &delim, map) != 0) {
        acs_fail(a, 0, "opt-out export %s: the header is not %s,%s,%s,%s,%s", file, COLUMNS[0], COLUMNS[1], COLUMNS[2],
                 COLUMNS[3], COLUMNS[4]);
        st = CS_FATAL;
        goto out;
    }
    if (offset == 0) {
        offset = eol ? (size_t)(eol + 1 - b.data) : b.len;
        lineno = 1;
    }
    for (p = b.data + offset; p < b.data + b.len && *emitted < max; p = eol ? eol + 1 : b.data + b.len) {
        const char *why = NULL;
        char badkey[600];
        cs_record *rec;
        eol = strchr(p, '\n');
        if (eol)
            *eol = '\0';
        lineno++;
        if (eol > p && eol[-1] == '\r')
            eol[-1] = '\0';
        if (!*p)
            continue;
        if (!(rec = line_record(a, p, delim, map, file, lineno, &why))) {
            a->host->log(a->ctx, CS_LOG_WARNING, "opt-out export %s line %ld is malformed (%s): dead-lettered", file,
                         lineno, why);
            snprintf(badkey, sizeof badkey, "%s:%ld", file, lineno);
            rec = acs_rejected_record(a, ACS_OPTOUT_BAD_STREAM, badkey,
                                      json_pack("{s:s, s:I}", "file", file, "line", (json_int_t)lineno), why,
                                      "acs_optout_malformed");
        }
        if (a->host->emit(a->ctx, rec) != CS_OK) {
            st = CS_OK; /* asked to stop: the lines after the last checkpoint are read again */
            goto out;
        }
        (*emitted)++;
    }
    offset = (size_t)(p - b.data);
    *done = offset >= b.len;
    st = a->host->checkpoint(a->ctx, ACS_OPTOUT_STREAM,
                             json_pack("{s:s, s:I, s:I, s:b}", "file", file, "offset", (json_int_t)offset, "line",
                                       (json_int_t)lineno, "done", *done));
out:
    free(b.data);
    free(url);
    return st;
}

/* How long ago the newest export file (by name) was first seen, in ms; remembers a newer one. */
static int64_t export_age_ms(struct acs *a, const char *newest)
{
    struct timespec ts;
    char *v = a->host->kv_get(a->ctx, NEWEST_KEY), *name, stamp[600];
    int64_t now, seen;
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    seen = v ? strtoll(v, &name, 10) : 0;
    if (!v || (newest && strcmp(newest, *name ? name + 1 : "") > 0)) { /* the first look, or a new file */
        snprintf(stamp, sizeof stamp, "%lld %s", (long long)now, newest ? newest : "");
        a->host->kv_put(a->ctx, NEWEST_KEY, stamp);
        seen = now;
    }
    free(v);
    return now - seen;
}

/* Keep the gauge at the newest file's age, and the workflow's sub-state saying so while it is older
 * than allowed (the reading goes on: a late file is read as soon as it arrives). */
static cs_status check_export_age(struct acs *a, const char *newest)
{
    int64_t age = export_age_ms(a, newest), secs = age / 1000;
    char text[1024];
    a->host->metric_set(a->ctx, "acs_optout_export_age_seconds", secs);
    if (a->export_max_age_ms <= 0 || age <= a->export_max_age_ms) {
        if (a->export_stale)
            a->host->set_substate(a->ctx, NULL);
        a->export_stale = 0;
        return CS_NODATA;
    }
    snprintf(text, sizeof text,
             "no opt-out export file has arrived in %s for %lld h %02lld min (newest: %s); "
             "Campaign's opt-out export workflow has probably stopped: restart it in Campaign (crmsync keeps "
             "looking)",
             a->export_url, (long long)(secs / 3600), (long long)(secs % 3600 / 60), newest ? newest : "none yet");
    a->host->set_substate(a->ctx, text);
    a->export_stale = 1;
    return CS_NODATA;
}

cs_status acs_optout_read(struct acs *a, const json_t *cursor, size_t max_records)
{
    const char *cur = json_string_value(json_object_get(cursor, "file"));
    json_t *files = NULL;
    size_t emitted = 0, i = 0;
    int done = 1;
    cs_status st = CS_OK;
    if (!a->export_url) {
        acs_fail(a, 0, "stream %s needs export_url (file:///dir/ or sftp://host/dir/ of the opt-out export)",
                 ACS_OPTOUT_STREAM);
        st = CS_FATAL;
        goto out;
    }
    if (cur && !json_is_true(json_object_get(cursor, "done"))) { /* finish the file in progress */
        st = read_file(a, cur, (size_t)json_integer_value(json_object_get(cursor, "offset")),
                       (long)json_integer_value(json_object_get(cursor, "line")), max_records, &emitted, &done);
        if (st != CS_OK || !done)
            goto out;
    }
    if ((st = list_files(a, cur, &files)) != CS_OK)
        goto out;
    for (; i < json_array_size(files) && emitted < max_records && !a->host->stopping(a->ctx); i++) {
        st = read_file(a, json_string_value(json_array_get(files, i)), 0, 0, max_records, &emitted, &done);
        if (st != CS_OK || !done)
            break;
    }
out:
    if (st == CS_OK && done && (!files || i >= json_array_size(files))) { /* caught up: is the export alive? */
        size_t nf = json_array_size(files);
        cs_status age = check_export_age(a, nf ? json_string_value(json_array_get(files, nf - 1)) : cur);
        st = emitted ? CS_NODATA : age;
    }
    if (st == CS_RETRY || st == CS_FATAL)
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
    json_decref(files);
    return st;
}
