/*
 * campaign.c - campaign.so: the Adobe Campaign Standard connector (reference: Adobe's Campaign Standard API
 * pages; tests/emulators/README.md lists where our summary protocols.md Part B differs).
 * The descriptor, the connection options and the instance life cycle; the work is in acs_http.c
 * (IMS token, X-Api-Key, 401013 refresh), acs_describe.c (metadata), acs_convert.c (values),
 * acs_write.c (the sink), acs_events.c (email events from I/O Events), acs_optout.c (opt-outs
 * from the export files) and acs_poll.c (opt-outs polled through a profile filter on lastModified).
 * See README.md beside this file for the options and an example.
 *
 * Concurrency: the core creates one instance per reader and per writer and never calls one instance
 * from two threads; an instance owns its libcurl client (many requests in flight on reused
 * connections) and its state. The instances of one connection share, through the core (plugin ABI
 * 1.3 connection_shared), the IMS token and the gate that keeps max_in_flight requests in flight at
 * most and pauses every sender after a 429; the plugin keeps no global mutable state (cshttp's
 * once-only curl_global_init aside). Under an older core each instance has its own.
 *
 * Idempotency key: a record's key is the value of the target's identification key field in Campaign
 * (externalId by default: the Dynamics 365 contactid, Adobe's own convention), resolved to a PKey
 * through the identification filter (byExternalId). Writing the same record twice leaves Campaign as
 * writing it once, and costs no call the second time (the key/value store remembers the hash of the
 * last body written). Source records are keyed by the journal event id (email-events) and by
 * "<externalId or email>/<field>" (opt-outs).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define DEFAULT_SCOPES                                                                                                 \
    "[AdobeID, openid, read_organizations, additional_info.projectedProductContext, additional_info.roles, "           \
    "campaign_sdk]"

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "url", CS_OPT_STRING, CS_OPT_REQUIRED, NULL,
     "Campaign URL https://mc.adobe.io/<tenant> (/campaign is appended)"},
    {CS_SETTING_HEAD, "ims_url", CS_OPT_STRING, 0, "https://ims-na1.adobelogin.com",
     "Adobe IMS; tokens come from <ims_url>/ims/token/v3"},
    {CS_SETTING_HEAD, "client_id", CS_OPT_STRING, CS_OPT_REQUIRED, NULL,
     "OAuth Server-to-Server client id, also sent as X-Api-Key"},
    {CS_SETTING_HEAD, "client_secret", CS_OPT_STRING, CS_OPT_REQUIRED | CS_OPT_SECRET, NULL,
     "the credential's client secret"},
    {CS_SETTING_HEAD, "scopes", CS_OPT_LIST, 0, DEFAULT_SCOPES, "IMS scopes of the credential (Developer Console)"},
    {CS_SETTING_HEAD, "org_id", CS_OPT_STRING, 0, NULL,
     "IMS organization id (...@AdobeOrg), sent as x-ims-org-id to the journal"},
    {CS_SETTING_HEAD, "journal_url", CS_OPT_STRING, 0, NULL,
     "journaling URL of the I/O Events registration (stream email-events)"},
    {CS_SETTING_HEAD, "journal_limit", CS_OPT_INT, 0, "1000",
     "most events per journal page (the journal may answer fewer)", .min = 1, .max = INT64_MAX},
    {CS_SETTING_HEAD, "export_url", CS_OPT_STRING, CS_OPT_PATH, NULL,
     "directory of the opt-out export files: sftp://host/dir/, file:///dir/ or a local directory (a relative one is "
     "taken from the configuration file's directory)"},
    {CS_SETTING_HEAD, "optout_filter", CS_OPT_STRING, 0, NULL,
     "profile filter on lastModified (e.g. byLastModified) read by stream opt-outs-poll"},
    {CS_SETTING_HEAD, "optout_page_size", CS_OPT_INT, 0, "100", "profiles per page of stream opt-outs-poll", .min = 1,
     .max = INT64_MAX},
    {CS_SETTING_HEAD, "export_max_age", CS_OPT_DURATION, 0, "26h",
     "no opt-out export file for longer than this: the workflow says so (Campaign's export workflow has stopped)"},
    {CS_SETTING_HEAD, "export_ssh_key", CS_OPT_STRING, CS_OPT_PATH, NULL, "private key file for an sftp:// export_url"},
    {CS_SETTING_HEAD, "export_known_hosts", CS_OPT_STRING, CS_OPT_PATH, NULL,
     "known_hosts file checked for an sftp:// export_url"},
    {CS_SETTING_HEAD, "ca_bundle", CS_OPT_STRING, CS_OPT_PATH, NULL, "CA bundle (PEM) instead of the system's"},
    {CS_SETTING_HEAD, "connect_timeout", CS_OPT_DURATION, 0, "10s", "TCP and TLS connection timeout", .min = 1,
     .max = INT64_MAX},
    {CS_SETTING_HEAD, "timeout", CS_OPT_DURATION, 0, "60s", "timeout of one whole request", .min = 1, .max = INT64_MAX},
    {CS_SETTING_HEAD, "max_in_flight", CS_OPT_INT, 0, "256",
     "requests in flight at once on this connection, every writer together; Adobe publishes no limit: 256 "
     "allow about 2,500 requests/s at 100 ms, and a 429 pauses the whole connection",
     .min = 1, .max = 1024},
    {CS_SETTING_HEAD, "org_unit", CS_OPT_STRING, 0, NULL,
     "organizational unit (its name in orgUnitBase) that new profiles and custom-resource records get on a "
     "partitioned instance"},
    {CS_SETTING_HEAD, "resources", CS_OPT_JSON, 0, NULL,
     "sink targets: target stream -> {resource, key, filter, fields, links} (README.md)"},
    {CS_SETTING_HEAD, NULL},
};

static char *opt_dup(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s && *s ? strdup(s) : NULL;
}

/* The scopes as IMS wants them: one comma-separated string (new). */
static char *join_scopes(const json_t *list)
{
    size_t i, size;
    json_t *s;
    char *out = NULL;
    FILE *f = open_memstream(&out, &size);
    if (!f)
        return NULL;
    json_array_foreach (list, i, s)
        fprintf(f, "%s%s", i ? "," : "", json_string_value(s));
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void acs_destroy(void *inst)
{
    struct acs *a = inst;
    if (!a)
        return;
    acs_targets_free(a);
    acs_seen_free(&a->seen);
    acs_pagecache_free(&a->pages);
    acs_ahead_free(&a->ahead);
    cshttp_client_free(a->http);
    cshttp_shared_free(a->own_shared);
    free(a->base);
    free(a->client_id);
    free(a->org_id);
    free(a->journal_url);
    free(a->export_url);
    free(a->ca_bundle);
    free(a->ssh_key);
    free(a->known_hosts);
    free(a->org_unit);
    free(a->org_unit_pkey);
    free(a);
}

static cs_status out_of_memory(struct acs *a)
{
    a->host->set_reason(a->ctx, 0, 0, "out of memory creating the Campaign connection");
    return CS_FATAL;
}

/* The API base ("<url>/campaign") and the IMS token URL (*token_url, new) from the url and ims_url options. */
static cs_status endpoints(struct acs *a, const json_t *o, char **token_url)
{
    const char *url = json_string_value(json_object_get(o, "url"));
    const char *ims = json_string_value(json_object_get(o, "ims_url"));
    size_t ulen = url ? strlen(url) : 0, ilen = ims ? strlen(ims) : 0;

    while (ulen && url[ulen - 1] == '/')
        ulen--;
    while (ilen && ims[ilen - 1] == '/')
        ilen--;
    if (!ulen || !ilen || strncmp(url, "http", 4) != 0) {
        a->host->set_reason(a->ctx, 0, 0, "url must be the Campaign URL, e.g. https://mc.adobe.io/<tenant>");
        return CS_FATAL;
    }
    if (asprintf(&a->base, "%.*s%s", (int)ulen, url,
                 ulen >= 9 && strncmp(url + ulen - 9, "/campaign", 9) == 0 ? "" : "/campaign") < 0 ||
        asprintf(token_url, "%.*s/ims/token/v3", (int)ilen, ims) < 0) {
        a->base = *token_url = NULL;
        return out_of_memory(a);
    }
    return CS_OK;
}

/* The options kept as they are: limits, timeouts and names. */
static cs_status read_settings(struct acs *a, const json_t *o)
{
    a->journal_limit = (long)json_integer_value(json_object_get(o, "journal_limit"));
    a->poll_page = (long)json_integer_value(json_object_get(o, "optout_page_size"));
    a->export_max_age_ms = (int64_t)json_integer_value(json_object_get(o, "export_max_age"));
    a->connect_timeout_ms = (long)json_integer_value(json_object_get(o, "connect_timeout"));
    a->timeout_ms = (long)json_integer_value(json_object_get(o, "timeout"));
    a->client_id = opt_dup(o, "client_id");
    a->org_id = opt_dup(o, "org_id");
    a->journal_url = opt_dup(o, "journal_url");
    a->export_url = opt_dup(o, "export_url");
    a->ca_bundle = opt_dup(o, "ca_bundle");
    a->ssh_key = opt_dup(o, "export_ssh_key");
    a->known_hosts = opt_dup(o, "export_known_hosts");
    a->org_unit = opt_dup(o, "org_unit");
    return a->client_id ? CS_OK : out_of_memory(a);
}

/* export_url as a directory URL: a local directory (the core made a relative one absolute) becomes file://. */
static cs_status export_location(struct acs *a)
{
    if (a->export_url && a->export_url[0] == '/') {
        char *dir_url;
        if (asprintf(&dir_url, "file://%s", a->export_url) < 0)
            return out_of_memory(a);
        free(a->export_url);
        a->export_url = dir_url;
    }
    if (a->export_url && strncmp(a->export_url, "file://", 7) != 0 && strncmp(a->export_url, "sftp://", 7) != 0) {
        a->host->set_reason(a->ctx, 0, 0,
                            "export_url must be an sftp:// or file:// directory URL, or a local directory");
        return CS_FATAL;
    }
    return CS_OK;
}

/* The HTTP client, on the connection's shared token, metadata cache and gate of max_in_flight. */
static cs_status connect_http(struct acs *a, const json_t *o, const char *token_url)
{
    struct cshttp_options ho = {0};
    struct cshttp_shared *sh;
    char *scope = join_scopes(json_object_get(o, "scopes"));
    struct cshttp_token_config tc = {token_url, a->client_id, json_string_value(json_object_get(o, "client_secret")),
                                     scope,
                                     "client_id, client_secret (client_secret_file or client_secret_env) and "
                                     "scopes of the Campaign connection"};

    sh = scope && tc.client_secret
             ? cshttp_shared_get(a->host, a->ctx, &tc, (int)json_integer_value(json_object_get(o, "max_in_flight")),
                                 &a->own_shared)
             : NULL;
    free(scope);
    if (!sh)
        return out_of_memory(a);
    a->token = sh->token;
    a->docs = sh->docs;
    ho.gate = sh->gate;
    ho.ca_bundle = a->ca_bundle;
    ho.connect_timeout_ms = a->connect_timeout_ms;
    ho.timeout_ms = a->timeout_ms;
    a->calls = (struct cshttp_counter){a->host, a->ctx};
    ho.observe = cshttp_count_call;
    ho.observe_arg = &a->calls;
    a->http_opts = ho;
    return (a->http = cshttp_client_new(&ho)) ? CS_OK : out_of_memory(a);
}

static cs_status acs_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    struct acs *a = calloc(1, sizeof *a);
    char *token_url = NULL;
    cs_status st;

    if (!a)
        return CS_FATAL;
    a->host = host;
    a->ctx = ctx;
    if ((st = endpoints(a, o, &token_url)) == CS_OK && (st = read_settings(a, o)) == CS_OK &&
        (st = export_location(a)) == CS_OK && (st = connect_http(a, o, token_url)) == CS_OK) {
        if (acs_targets_parse(a, json_object_get(o, "resources")) != CS_OK ||
            acs_poll_target(a, json_string_value(json_object_get(o, "optout_filter"))) != CS_OK) {
            host->set_reason(ctx, 0, 0, "%s", a->err);
            st = CS_FATAL;
        }
    }
    free(token_url);
    if (st != CS_OK) {
        acs_destroy(a);
        return st;
    }
    *inst = a;
    return CS_OK;
}

static int source_stream(const char *stream)
{
    return acs_events_kind(stream) >= 0 || strcmp(stream, ACS_OPTOUT_STREAM) == 0 ||
           strcmp(stream, ACS_OPTOUT_POLL_STREAM) == 0;
}

/* What this instance will do, from the workflow's mappings (ABI 1.1): a mapping of one of the
 * Campaign streams is read (*poll when it is opt-outs-poll), any other is written, and its target must
 * be under `resources` or carry a target_key (ABI 1.2). A core without mapping_streams: describe
 * everything. */
static cs_status plan(struct acs *a, int *sink, int *poll)
{
    json_t *maps, *m;
    size_t i, optouts = 0, others = 0;
    cs_status st = CS_OK;
    *sink = *poll = 1;
    if (a->host->struct_size < offsetof(cs_host, mapping_streams) + sizeof a->host->mapping_streams ||
        !a->host->mapping_streams)
        return CS_OK;
    maps = a->host->mapping_streams(a->ctx);
    *sink = *poll = 0;
    json_array_foreach (maps, i, m) {
        const char *stream = json_string_value(json_object_get(m, "stream"));
        const char *target = json_string_value(json_object_get(m, "target"));
        if (stream && source_stream(stream)) {
            *poll |= strcmp(stream, ACS_OPTOUT_POLL_STREAM) == 0;
            acs_events_plan(a, stream);
            continue;
        }
        *sink = 1;
        *(target && strcmp(target, ACS_OPTOUT_STREAM) == 0 ? &optouts : &others) += 1;
        if (!acs_target_find(a, target) && (st = acs_target_from_mapping(a, m)) != CS_OK)
            break;
    }
    json_decref(maps);
    if (st == CS_OK && optouts && others) { /* acs_write_any() sends a whole batch one way */
        acs_fail(a, 0,
                 "the target %s (deny-list attributes of existing profiles) must be mapped in a workflow of "
                 "its own: move the other mappings of this workflow to another one",
                 ACS_OPTOUT_STREAM);
        st = CS_FATAL;
    }
    return st;
}

static cs_status acs_start(void *inst)
{
    struct acs *a = inst;
    int sink, poll;
    cs_status st = plan(a, &sink, &poll);
    if (st == CS_OK)
        st = acs_authenticate(a);
    if (st == CS_OK)
        st = acs_describe(a, sink, poll);
    if (st != CS_OK)
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
    return st;
}

static cs_status acs_read(void *inst, const char *stream, const json_t *cursor, size_t max_records)
{
    struct acs *a = inst;
    if (acs_events_kind(stream) >= 0)
        return acs_events_read(a, stream, cursor, max_records);
    if (strcmp(stream, ACS_OPTOUT_STREAM) == 0)
        return acs_optout_read(a, cursor, max_records);
    if (strcmp(stream, ACS_OPTOUT_POLL_STREAM) == 0)
        return acs_poll_read(a, cursor, max_records);
    a->host->set_reason(a->ctx, 0, 0,
                        "the Campaign connector has no stream \"%s\" (it reads %s, %s.send, .open, "
                        ".click, .bounce, %s and %s)",
                        stream, ACS_EVENTS_STREAM, ACS_EVENTS_STREAM, ACS_OPTOUT_STREAM, ACS_OPTOUT_POLL_STREAM);
    return CS_FATAL;
}

static const cs_connector connector = {
    CS_HEAD(cs_connector),
    .name = "campaign",
    .version = "1.0",
    .description = "Adobe Campaign Standard: profiles and custom resources (sink), email events and opt-outs (source)",
    .caps = CS_CAP_SOURCE | CS_CAP_SINK,
    .settings = settings,
    .create = acs_create,
    .start = acs_start,
    .read = acs_read,
    .write = acs_write_any,
    .destroy = acs_destroy,
    .describe = acs_describe_stream,
    .preflight = acs_preflight,
};

static const cs_connector *const connectors[] = {&connector, NULL};

static const cs_plugin plugin = {
    CS_HEAD(cs_plugin),
    .name = "campaign",
    .version = "1.0",
    .connectors = connectors,
};

CS_PLUGIN_ENTRY(plugin)
