/*
 * dynamics365.c - the dynamics365 plugin: its descriptor, the connection options and the instance
 * lifecycle (create, start, destroy). The connector reads Dataverse tables through change tracking
 * (d365_read.c) and writes them through $batch (d365_write.c), after describing every configured
 * table from EntityDefinitions (d365_describe.c); requests and the token go through d365_http.c.
 *
 * Concurrency: the core calls one instance from one thread at a time and creates one instance per
 * reader and per writer. An instance owns its HTTP clients (one for every request, one for the reader's
 * pages read ahead); write() sends its $batch requests concurrently on its client's libcurl multi handle,
 * at most max_in_flight at once through the connection's gate, which a 429 / Retry-After pauses for
 * every sender of it. The gate and the token cache are the connection's state, shared by its instances
 * through the core (plugin ABI 1.3 connection_shared; d365_connection_state).
 * Nothing is global but libcurl's one-time initialisation.
 *
 * Idempotency key: a record's key is the row's primary id (read: the GUID Dataverse returns, also for
 * $deletedEntity tombstones). The sink writes by that id, or by the alternate key configured for the
 * target table (values taken from the payload, or from the record key for a one-column key): an upsert
 * is a PATCH by key and a delete a DELETE by key (404 counts as done), so writing a record twice
 * leaves the row as writing it once.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "d365.h"

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "url", CS_OPT_STRING, CS_OPT_REQUIRED, NULL,
     "organization URL, e.g. https://contoso.crm.dynamics.com"},
    {CS_SETTING_HEAD, "tenant", CS_OPT_STRING, CS_OPT_REQUIRED, NULL,
     "Entra ID tenant (GUID or domain) of the app registration"},
    {CS_SETTING_HEAD, "client_id", CS_OPT_STRING, CS_OPT_REQUIRED, NULL,
     "application (client) id of the app registration"},
    {CS_SETTING_HEAD, "client_secret", CS_OPT_STRING, CS_OPT_REQUIRED | CS_OPT_SECRET, NULL,
     "client secret of the app registration (client_secret_file or client_secret_env)"},
    {CS_SETTING_HEAD, "authority", CS_OPT_STRING, 0, "https://login.microsoftonline.com",
     "identity provider; the token URL is <authority>/<tenant>/oauth2/v2.0/token"},
    {CS_SETTING_HEAD, "api_version", CS_OPT_STRING, 0, "v9.2", "Web API version"},
    {CS_SETTING_HEAD, "ca_bundle", CS_OPT_STRING, 0, NULL,
     "CA certificates file (default: the system store); TLS is always verified"},
    {CS_SETTING_HEAD, "connect_timeout", CS_OPT_DURATION, 0, "10s", "TCP and TLS connection timeout"},
    {CS_SETTING_HEAD, "timeout", CS_OPT_DURATION, 0, "120s", "timeout of one whole request"},
    {CS_SETTING_HEAD, "page_size", CS_OPT_INT, 0, "5000", "rows per page when reading (odata.maxpagesize)", .min = 1,
     .max = D365_MAX_PAGE},
    {CS_SETTING_HEAD, "batch_size", CS_OPT_INT, 0, "100", "operations per $batch request when writing", .min = 1,
     .max = D365_MAX_BATCH},
    {CS_SETTING_HEAD, "max_in_flight", CS_OPT_INT, 0, "48",
     "requests in flight at once on this connection: Dataverse's service protection allows 52 concurrent "
     "requests per user; 48 leaves room for other clients of the same application user",
     .min = 1, .max = D365_MAX_IN_FLIGHT},
    {CS_SETTING_HEAD, "tables", CS_OPT_JSON, 0, NULL,
     "stream -> {table, columns, labels, key, update_only}; a mapped stream may be left out (README)"},
    {CS_SETTING_HEAD, NULL},
};

static char *dup_trimmed_url(const char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '/')
        n--;
    return strndup(s, n);
}

static int is_string_array(const json_t *a)
{
    size_t i;
    json_t *v;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return 0;
    json_array_foreach (a, i, v)
        if (!json_is_string(v) || !*json_string_value(v))
            return 0;
    return 1;
}

void d365_table_free(struct d365_table *t)
{
    d365_read_reset(t);
    free(t->stream);
    free(t->logical);
    json_decref(t->columns);
    json_decref(t->labels);
    json_decref(t->key);
    free(t->entity_set);
    free(t->primary_id);
    free(t->select);
    json_decref(t->attr_types);
    json_decref(t->options);
    json_decref(t->lookups);
}

struct d365_table *d365_table_for(struct d365 *d, const char *stream, int add)
{
    struct d365_table *grown;
    for (size_t i = 0; i < d->n_tables; i++)
        if (strcmp(d->tables[i].stream, stream) == 0)
            return &d->tables[i];
    if (!add || !(grown = realloc(d->tables, (d->n_tables + 1) * sizeof *grown)))
        return NULL;
    d->tables = grown;
    memset(&grown[d->n_tables], 0, sizeof *grown);
    if (!(grown[d->n_tables].stream = strdup(stream)))
        return NULL;
    return &d->tables[d->n_tables++];
}

/* One entry of the tables option into a table. 0, or -1 with the problem in err. */
static int parse_table(struct d365 *d, const char *stream, const json_t *spec, char *err, size_t errlen)
{
    const json_t *v;
    const char *k;
    struct d365_table *t;
    if (!json_is_object(spec)) {
        snprintf(err, errlen, "tables.%s: must be a mapping", stream);
        return -1;
    }
    json_object_foreach ((json_t *)spec, k, v)
        if (strcmp(k, "table") && strcmp(k, "columns") && strcmp(k, "labels") && strcmp(k, "key") &&
            strcmp(k, "update_only") && strcmp(k, "lookups")) {
            snprintf(err, errlen,
                     "tables.%s.%s: unknown key (expected table, columns, labels, key, update_only, lookups)", stream,
                     k);
            return -1;
        }
    if (!(t = d365_table_for(d, stream, 1))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if ((v = json_object_get(spec, "table")) && (!json_is_string(v) || !*json_string_value(v))) {
        snprintf(err, errlen, "tables.%s.table: must be a table's logical name", stream);
        return -1;
    }
    if (v && !(t->logical = strdup(json_string_value(v)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if ((v = json_object_get(spec, "columns")) && !is_string_array(v)) {
        snprintf(err, errlen, "tables.%s.columns: must be a non-empty list of column names", stream);
        return -1;
    }
    t->columns = json_incref((json_t *)v);
    v = json_object_get(spec, "labels");
    if (v && !json_is_boolean(v) && !is_string_array(v)) {
        snprintf(err, errlen, "tables.%s.labels: must be true, false or a list of choice columns", stream);
        return -1;
    }
    if (v && !json_is_false(v)) {
        if (!t->columns) {
            snprintf(err, errlen, "tables.%s.labels: needs columns (labels apply to reading)", stream);
            return -1;
        }
        t->labels = json_incref((json_t *)v);
    }
    if ((v = json_object_get(spec, "key")) && !is_string_array(v)) {
        snprintf(err, errlen, "tables.%s.key: must be a non-empty list of alternate-key columns", stream);
        return -1;
    }
    t->key = json_incref((json_t *)v);
    if ((v = json_object_get(spec, "update_only")) && !json_is_boolean(v)) {
        snprintf(err, errlen, "tables.%s.update_only: must be true or false", stream);
        return -1;
    }
    t->update_only = json_is_true(v);
    return d365_lookups_parse(t, json_object_get(spec, "lookups"), err, errlen);
}

static void d365_destroy(void *inst)
{
    struct d365 *d = inst;
    if (!d)
        return;
    for (size_t i = 0; i < d->n_tables; i++)
        d365_table_free(&d->tables[i]);
    free(d->tables);
    json_decref(d->linked);
    cshttp_client_free(d->ahead);
    cshttp_client_free(d->http);
    cshttp_shared_free(d->own_shared);
    free((char *)d->http_opts.ca_bundle);
    free(d->org_url);
    free(d->api);
    free(d->settings_hint);
    free(d);
}

static const char *opt_str(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static long opt_int(const json_t *o, const char *name)
{
    return (long)json_integer_value(json_object_get(o, name));
}

/* The state of the connection, shared by its instances: its gate (max_in_flight requests, Retry-After
 * pauses), token cache and metadata documents, into d->gate, d->token and d->docs. -1 on allocation
 * failure. */
static int d365_connection_state(struct d365 *d, long max_in_flight, const struct cshttp_token_config *tc)
{
    struct cshttp_shared *s = cshttp_shared_get(d->host, d->ctx, tc, (int)max_in_flight, &d->own_shared);
    if (!s)
        return -1;
    d->gate = s->gate;
    d->token = s->token;
    d->docs = s->docs;
    return 0;
}

static cs_status d365_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    struct d365 *d = calloc(1, sizeof *d);
    const char *url = opt_str(o, "url"), *tenant = opt_str(o, "tenant"), *ca = opt_str(o, "ca_bundle"), *k;
    char *authority = NULL, *token_url = NULL, *scope = NULL, err[256] = "";
    const json_t *tables = json_object_get(o, "tables"), *spec;
    long page = opt_int(o, "page_size"), batch = opt_int(o, "batch_size"), in_flight = opt_int(o, "max_in_flight");
    struct cshttp_token_config tc;

    if (!d || !(d->linked = json_object())) {
        free(d);
        return CS_FATAL;
    }
    d->host = host;
    d->ctx = ctx;
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        snprintf(err, sizeof err, "url: must start with https:// (got \"%s\")", url);
        goto fail;
    }
    if (tables && !json_is_null(tables) && !json_is_object(tables)) {
        snprintf(err, sizeof err, "tables: must map each stream to its table settings");
        goto fail;
    }
    json_object_foreach ((json_t *)tables, k, spec)
        if (parse_table(d, k, spec, err, sizeof err) != 0)
            goto fail;
    d->page_size = (int)page;
    d->batch_size = (int)batch;
    d->http_opts.connect_timeout_ms = opt_int(o, "connect_timeout");
    d->http_opts.timeout_ms = opt_int(o, "timeout");
    d->calls = (struct cshttp_counter){host, ctx};
    d->http_opts.observe = cshttp_count_call;
    d->http_opts.observe_arg = &d->calls;
    if (ca && !(d->http_opts.ca_bundle = strdup(ca)))
        goto oom;
    if (!(d->org_url = dup_trimmed_url(url)) || !(authority = dup_trimmed_url(opt_str(o, "authority"))) ||
        asprintf(&d->api, "%s/api/data/%s", d->org_url, opt_str(o, "api_version")) < 0 ||
        asprintf(&token_url, "%s/%s/oauth2/v2.0/token", authority, tenant) < 0 ||
        asprintf(&scope, "%s/.default", d->org_url) < 0 ||
        asprintf(&d->settings_hint,
                 "tenant, client_id and client_secret of this connection (and that the app "
                 "registration has an application user in %s)",
                 d->org_url) < 0)
        goto oom;
    tc = (struct cshttp_token_config){token_url, opt_str(o, "client_id"), opt_str(o, "client_secret"), scope,
                                      d->settings_hint};
    if (d365_connection_state(d, in_flight, &tc) != 0)
        goto oom;
    d->http_opts.gate = d->gate;
    if (!(d->http = cshttp_client_new(&d->http_opts)))
        goto oom;
    free(authority);
    free(token_url);
    free(scope);
    *inst = d;
    return CS_OK;
oom:
    snprintf(err, sizeof err, "out of memory");
fail:
    host->set_reason(ctx, 0, 0, "%s", err);
    free(authority);
    free(token_url);
    free(scope);
    d365_destroy(d);
    return CS_FATAL;
}

static const char *str_or_empty(const json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v ? v : "";
}

/*
 * Every mapping of the workflow must be one this connection reads (its stream is in tables with columns)
 * or writes (its target is in tables). The ABI does not say which side of the workflow an instance
 * serves, so a mapping passes when either holds. A core older than ABI 1.1 cannot tell the mappings:
 * then the first read() names a stream that is not configured.
 */
static cs_status check_mappings(struct d365 *d)
{
    json_t *maps, *m;
    size_t i;
    cs_status st = CS_OK;

    if (d->host->struct_size < offsetof(cs_host, mapping_streams) + sizeof d->host->mapping_streams)
        return CS_OK;
    maps = d->host->mapping_streams(d->ctx);
    json_array_foreach (maps, i, m) {
        const char *stream = str_or_empty(m, "stream"), *target = str_or_empty(m, "target");
        const struct d365_table *t = d365_table_for(d, stream, 0);
        if ((t && t->columns) || d365_table_for(d, target, 0))
            continue;
        if (t)
            d->host->set_reason(d->ctx, 0, -1,
                                "mapping %s -> %s: tables.%s has no columns; give its columns to "
                                "read it from this connection, or add tables.%s to write it",
                                stream, target, stream, target);
        else
            d->host->set_reason(d->ctx, 0, -1,
                                "mapping %s -> %s: this connection neither reads %s nor writes %s; "
                                "add tables.%s with its columns to read it, or tables.%s to write it",
                                stream, target, stream, target, stream, target);
        st = CS_FATAL;
        break;
    }
    json_decref(maps);
    return st;
}

/* start() describes the tables the workflow's mappings name (every configured one under a core that
 * cannot tell): a table of `tables` no mapping uses (an event type switched off) need not exist. */
static int described_at_start(struct d365 *d, const struct d365_table *t)
{
    return d->host->struct_size < offsetof(cs_host, mapping_streams) + sizeof d->host->mapping_streams ||
           d365_mapping_names(d, t->stream);
}

/* Take the columns of mapped streams, check the mappings, authenticate, then describe the mapped tables. */
static cs_status d365_start(void *inst)
{
    struct d365 *d = inst;
    char *token = NULL;
    cs_status st = d365_mapped_tables(d);
    if (st == CS_OK)
        st = check_mappings(d);
    if (st == CS_OK)
        st = d365_token(d, 0, NULL, &token);
    cshttp_token_drop(token);
    for (size_t i = 0; st == CS_OK && i < d->n_tables; i++)
        if (described_at_start(d, &d->tables[i]) && (st = d365_describe(d, &d->tables[i])) == CS_OK)
            st = d365_lookups_describe(d, &d->tables[i]);
    if (st == CS_OK)
        d->host->log(d->ctx, CS_LOG_INFO, "connected to %s: %zu table(s) described", d->org_url, d->n_tables);
    return st;
}

static const cs_connector connector = {
    CS_HEAD(cs_connector),
    .name = "dynamics365",
    .version = "1.0",
    .description = "Microsoft Dynamics 365 / Dataverse Web API: change-tracking source, $batch upsert sink",
    .caps = CS_CAP_SOURCE | CS_CAP_SINK,
    .settings = settings,
    .create = d365_create,
    .start = d365_start,
    .read = d365_read,
    .write = d365_write,
    .destroy = d365_destroy,
    .describe = d365_describe_stream,
    .preflight = d365_preflight,
};

static const cs_connector *const connectors[] = {&connector, NULL};

static const cs_plugin plugin = {
    CS_HEAD(cs_plugin),
    .name = "dynamics365",
    .version = "1.0",
    .connectors = connectors,
};

CS_PLUGIN_ENTRY(plugin)
