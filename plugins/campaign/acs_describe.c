/*
 * acs_describe.c - the sink's targets (option `resources`) and what start() learns about them from
 * Campaign's metadata (reference B9, B5.1): the API a resource lives under (profileAndServicesExt for
 * the profile and linked custom resources, customResources otherwise), its fields with their types
 * (cus* extension fields and object fields such as location), its filters, and its links. A target
 * whose key has no identification filter, a field Campaign does not have or cannot write, or a link
 * that is not one, fails start() with what to configure. A mapping's target that is not under
 * `resources` but comes with a target_key (plugin ABI 1.2 mapping_streams) is the resource of that name.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "campaign.h"

static char *xstrdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void target_clear(struct acs_target *t)
{
    free(t->stream);
    free(t->resource);
    free(t->key);
    free(t->filter);
    free(t->param);
    free(t->collection);
    json_decref(t->fields);
    json_decref(t->links);
    acs_target_set_meta(t, NULL);
    json_decref(t->filters);
}

void acs_targets_free(struct acs *a)
{
    for (size_t i = 0; i < a->ntargets; i++)
        target_clear(&a->targets[i]);
    free(a->targets);
    a->targets = NULL;
    a->ntargets = 0;
    if (a->poll)
        target_clear(a->poll);
    free(a->poll);
    a->poll = NULL;
}

cs_status acs_poll_target(struct acs *a, const char *filter)
{
    struct acs_target *t;
    if (!filter || !*filter)
        return CS_OK;
    if (!(t = a->poll = calloc(1, sizeof *t)) || !(t->stream = strdup(ACS_OPTOUT_POLL_STREAM)) ||
        !(t->resource = strdup("profile")) || !(t->key = strdup("lastModified")) || !(t->filter = strdup(filter))) {
        acs_fail(a, 0, "out of memory");
        return CS_FATAL;
    }
    t->filter_option = "optout_filter";
    return CS_OK;
}

struct acs_target *acs_target_find(struct acs *a, const char *stream)
{
    for (size_t i = 0; stream && i < a->ntargets; i++)
        if (strcmp(a->targets[i].stream, stream) == 0)
            return &a->targets[i];
    return NULL;
}

/* Every member of `obj` is a string. */
static int all_strings(const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)obj, k, v)
        if (!json_is_string(v))
            return 0;
    return 1;
}

static cs_status parse_one(struct acs *a, struct acs_target *t, const char *stream, const json_t *spec)
{
    const char *res = json_string_value(json_object_get(spec, "resource"));
    const char *key = json_string_value(json_object_get(spec, "key"));
    const char *filter = json_string_value(json_object_get(spec, "filter"));
    json_t *fields = json_object_get(spec, "fields"), *links = json_object_get(spec, "links"), *l;
    const char *k;
    static const char *const known[] = {"resource", "key", "filter", "fields", "links", NULL};

    json_object_foreach ((json_t *)spec, k, l) {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i]) {
            acs_fail(a, 0, "resources.%s.%s: unknown member (known: resource, key, filter, fields, links)", stream, k);
            return CS_FATAL;
        }
    }
    if (!res || !*res) {
        acs_fail(a, 0, "resources.%s.resource: required (the Campaign resource, e.g. profile or cusMembership)",
                 stream);
        return CS_FATAL;
    }
    if ((fields && (!json_is_object(fields) || !all_strings(fields))) || (links && !json_is_object(links))) {
        acs_fail(a, 0,
                 "resources.%s: fields must map Campaign fields to payload members (strings), links must "
                 "map link names to {target, from}",
                 stream);
        return CS_FATAL;
    }
    json_object_foreach (links, k, l) {
        if (!json_is_string(json_object_get(l, "target")) || !json_is_string(json_object_get(l, "from"))) {
            acs_fail(a, 0,
                     "resources.%s.links.%s: needs target (a target stream of this connection) and from "
                     "(the payload member holding the linked record's key, or \"$key\")",
                     stream, k);
            return CS_FATAL;
        }
    }
    t->stream = strdup(stream);
    t->resource = strdup(res);
    t->key = strdup(key ? key : "externalId");
    t->filter = xstrdup_or_null(filter);
    t->fields = json_incref(fields);
    t->links = json_incref(links);
    if (!t->stream || !t->resource || !t->key || (filter && !t->filter)) {
        acs_fail(a, 0, "out of memory");
        return CS_FATAL;
    }
    return CS_OK;
}

/* Room for one more target, zeroed; NULL when out of memory. */
static struct acs_target *target_new(struct acs *a)
{
    struct acs_target *grown = realloc(a->targets, (a->ntargets + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    a->targets = grown;
    memset(&grown[a->ntargets], 0, sizeof *grown);
    return &grown[a->ntargets++];
}

cs_status acs_target_from_mapping(struct acs *a, const json_t *element)
{
    const char *stream = json_string_value(json_object_get(element, "stream"));
    const char *target = json_string_value(json_object_get(element, "target"));
    const char *key = json_string_value(json_object_get(element, "target_key"));
    struct acs_target *t;
    if (!target || !*target || !key || !*key) {
        acs_fail(a, 0,
                 "mapping %s -> %s: the Campaign connection has no target '%s'; add it under resources "
                 "({resource: profile or a custom resource, key: an identification key, fields...})",
                 stream ? stream : "?", target ? target : "?", target ? target : "?");
        return CS_FATAL;
    }
    if (!(t = target_new(a)) || !(t->stream = strdup(target)) || !(t->resource = strdup(target)) ||
        !(t->key = strdup(key))) {
        acs_fail(a, 0, "out of memory");
        return CS_FATAL;
    }
    return CS_OK;
}

cs_status acs_targets_parse(struct acs *a, const json_t *resources)
{
    const char *stream;
    json_t *spec;
    if (!resources || json_is_null(resources)) /* an option not given arrives as null */
        return CS_OK;
    if (!json_is_object(resources)) {
        acs_fail(a, 0, "resources: expected a mapping of target stream -> {resource, key, filter, fields, links}");
        return CS_FATAL;
    }
    json_object_foreach ((json_t *)resources, stream, spec) {
        struct acs_target *t;
        if (!json_is_object(spec)) {
            acs_fail(a, 0, "resources.%s: expected a mapping {resource, key, filter, fields, links}", stream);
            return CS_FATAL;
        }
        if (!(t = target_new(a))) { /* counted even when half-filled, so that acs_targets_free frees it */
            acs_fail(a, 0, "out of memory");
            return CS_FATAL;
        }
        if (parse_one(a, t, stream, spec) != CS_OK)
            return CS_FATAL;
    }
    return CS_OK;
}

/* GET a JSON document (or, unless a->docs_live, take the one another instance of the connection read
 * just now); CS_OK with *doc, or the failure (404 -> CS_FATAL with `missing`). */
static cs_status get_json(struct acs *a, const char *url, const char *what, const char *missing, json_t **doc)
{
    struct cshttp_response r = {0};
    cs_status st;
    if (!a->docs_live && (*doc = cshttp_docs_find(a->docs, url)))
        return CS_OK;
    st = acs_call(a, "GET", url, NULL, 0, &r);
    if (st == CS_OK && (st = acs_classify(a, &r, what)) == CS_OK && !(*doc = cshttp_response_json(&r))) {
        acs_fail(a, r.status, "%s: the answer is not JSON", what);
        st = CS_RETRY;
    }
    if (st == CS_REJECT && missing) {
        acs_fail(a, r.status, "%s", missing);
        st = CS_FATAL;
    } else if (st == CS_REJECT) {
        st = CS_FATAL;
    }
    if (st == CS_OK)
        cshttp_docs_keep(a->docs, url, *doc);
    cshttp_response_clear(&r);
    return st;
}

/* Does this filter identify records by `key`? Its name is by<Key>, or its parameter is the key itself
 * or <key>_parameter (Campaign's naming of custom filter parameters). */
static int filter_matches_key(const json_t *entry, const char *key)
{
    char by[256];
    snprintf(by, sizeof by, "by%s", key);
    return strcasecmp(json_string_value(json_object_get(entry, "name")), by) == 0 || acs_filter_resolves(entry, key);
}

/* The filter that resolves t's key (the one configured, or one matching the key) from the listing `doc`;
 * t->filters becomes the normalised listing. */
static cs_status choose_filter(struct acs *a, struct acs_target *t, const json_t *doc)
{
    json_t *list = acs_filters_list(doc), *e;
    char found[600];
    size_t i;
    json_decref(t->filters);
    t->filters = list;
    json_array_foreach (list, i, e) {
        const char *name = json_string_value(json_object_get(e, "name")), *param = acs_filter_param(e);
        if (param && (t->filter ? strcmp(name, t->filter) == 0 : filter_matches_key(e, t->key))) {
            free(t->filter);
            free(t->param); /* described again (describe() reads the live metadata each time) */
            t->filter = strdup(name);
            t->param = strdup(param);
            return t->filter && t->param ? CS_OK : CS_FATAL;
        }
    }
    acs_filters_found(doc, list, found, sizeof found);
    if (t->filter && t->filter_option)
        acs_fail(a, 0,
                 "stream %s: Campaign resource '%s' has no filter '%s' with a parameter (%s); define it in Campaign "
                 "(the resource's Filter definition, one parameter on '%s') and publish the Profiles & Services Ext "
                 "API, or fix %s",
                 t->stream, t->resource, t->filter, found, t->key, t->filter_option);
    else if (t->filter)
        acs_fail(a, 0,
                 "target %s: Campaign resource '%s' has no filter '%s' with a parameter (%s); define it in Campaign "
                 "(the resource's Filter definition, one parameter on '%s') and publish, or fix resources.%s.filter",
                 t->stream, t->resource, t->filter, found, t->key, t->stream);
    else
        acs_fail(a, 0,
                 "target %s: '%s' is not an identification key of Campaign resource '%s': no filter resolves it "
                 "(expected by%c%s, or a filter whose parameter is %s or %s_parameter; %s). In Campaign, add an "
                 "identification key on '%s' and a filter on it to the resource, then publish the Profiles & "
                 "Services Ext API; or name an existing filter in resources.%s.filter",
                 t->stream, t->key, t->resource, toupper((unsigned char)t->key[0]), t->key + 1, t->key, t->key, found,
                 t->key, t->stream);
    return CS_FATAL;
}

/* The Campaign fields a target writes exist and are writable; nested paths go into object fields. */
static cs_status check_fields(struct acs *a, const struct acs_target *t)
{
    const char *path;
    json_t *src, *spec;
    spec = json_object_get(t->meta, t->key);
    if (!spec) {
        acs_fail(a, 0, "target %s: '%s' is not a field of Campaign resource '%s' (resources.%s.key)", t->stream, t->key,
                 t->resource, t->stream);
        return CS_FATAL;
    }
    json_object_foreach (t->fields, path, src) {
        char top[256];
        const char *type;
        snprintf(top, sizeof top, "%.*s", (int)strcspn(path, "."), path);
        spec = json_object_get(t->meta, top);
        type = json_string_value(json_object_get(spec, "type"));
        if (!spec) {
            acs_fail(a, 0,
                     "target %s: '%s' is not a field of Campaign resource '%s' (resources.%s.fields); "
                     "custom fields need the Profiles & Services Ext API published",
                     t->stream, top, t->resource, t->stream);
            return CS_FATAL;
        }
        if (json_is_true(json_object_get(spec, "readOnly")) ||
            (type && (!strcmp(type, "link") || !strcmp(type, "collection")))) {
            acs_fail(a, 0, "target %s: Campaign field '%s' of '%s' is %s; it cannot be written (resources.%s.fields)",
                     t->stream, top, t->resource, type && !strcmp(type, "link") ? "a link (use links)" : "read-only",
                     t->stream);
            return CS_FATAL;
        }
        if (path[strlen(top)] == '.' && type && strcmp(type, "object") != 0) {
            acs_fail(a, 0, "target %s: '%s' is a %s field, not an object with sub-field '%s'", t->stream, top, type,
                     path + strlen(top) + 1);
            return CS_FATAL;
        }
    }
    return CS_OK;
}

static cs_status check_links(struct acs *a, const struct acs_target *t)
{
    const char *name;
    json_t *l;
    json_object_foreach (t->links, name, l) {
        json_t *spec = json_object_get(t->meta, name);
        const char *target = json_string_value(json_object_get(l, "target"));
        const char *res_target = json_string_value(json_object_get(spec, "resTarget"));
        const char *type = json_string_value(json_object_get(spec, "type"));
        struct acs_target *lt = acs_target_find(a, target);
        if (!type || strcmp(type, "link") != 0) {
            acs_fail(a, 0, "target %s: '%s' is not a link of Campaign resource '%s' (resources.%s.links)", t->stream,
                     name, t->resource, t->stream);
            return CS_FATAL;
        }
        if (!lt) {
            acs_fail(a, 0, "target %s: link '%s' names target '%s', which is not under resources", t->stream, name,
                     target);
            return CS_FATAL;
        }
        if (res_target && strcmp(res_target, lt->resource) != 0) {
            acs_fail(a, 0, "target %s: link '%s' points to Campaign resource '%s', but target %s writes '%s'",
                     t->stream, name, res_target, target, lt->resource);
            return CS_FATAL;
        }
    }
    return CS_OK;
}

static cs_status describe_one(struct acs *a, struct acs_target *t, const json_t *ext)
{
    const char *api = !strcmp(t->resource, "profile")     ? (ext ? "profileAndServicesExt" : "profileAndServices")
                      : json_object_get(ext, t->resource) ? "profileAndServicesExt"
                                                          : "customResources";
    char *url = NULL, *furl = NULL, missing[512];
    json_t *doc = NULL, *filters = NULL;
    const char *fhref;
    cs_status st = CS_FATAL;

    free(t->collection);
    if (asprintf(&t->collection, "%s/%s/%s", a->base, api, t->resource) < 0 ||
        asprintf(&url, "%s/%s/resourceType/%s", a->base, api, t->resource) < 0) {
        t->collection = NULL;
        acs_fail(a, 0, "out of memory");
        goto out;
    }
    snprintf(missing, sizeof missing,
             "target %s: Campaign has no resource '%s' under %s (resources.%s.resource); a custom resource must be "
             "published, and linked to the profile to appear under profileAndServicesExt",
             t->stream, t->resource, api, t->stream);
    if ((st = get_json(a, url, "reading the resource metadata", missing, &doc)) != CS_OK)
        goto out;
    if (acs_target_set_meta(t, json_incref(json_object_get(doc, "content"))) != 0) {
        acs_fail(a, 0, "out of memory");
        st = CS_RETRY;
        goto out;
    }
    if (!json_is_object(t->meta)) {
        acs_fail(a, 0, "target %s: the metadata of '%s' has no field list", t->stream, t->resource);
        st = CS_FATAL;
        goto out;
    }
    fhref = json_string_value(json_object_get(json_object_get(doc, "filters"), "href"));
    if (!fhref) {
        acs_fail(a, 0, "target %s: the metadata of '%s' does not list its filters", t->stream, t->resource);
        st = CS_FATAL;
        goto out;
    }
    if (!(furl = acs_url(a, fhref))) {
        acs_fail(a, 0, "out of memory");
        st = CS_FATAL;
        goto out;
    }
    if ((st = get_json(a, furl, "reading the resource's filters", NULL, &filters)) != CS_OK ||
        (st = choose_filter(a, t, filters)) != CS_OK)
        goto out;
    st = check_fields(a, t);
out:
    free(url);
    free(furl);
    json_decref(doc);
    json_decref(filters);
    return st;
}

/* The Ext API's listing of the custom resources linked to the profile (*ext new; NULL when the Ext API
 * is not published: then only profileAndServices). */
static cs_status ext_listing(struct acs *a, json_t **ext)
{
    char *url = NULL;
    cs_status st;
    *ext = NULL;
    if (asprintf(&url, "%s/profileAndServicesExt", a->base) < 0) {
        acs_fail(a, 0, "out of memory");
        return CS_FATAL;
    }
    st = get_json(a, url, "listing profileAndServicesExt", NULL, ext);
    free(url);
    return st == CS_FATAL && a->err_http == 404 ? CS_OK : st;
}

cs_status acs_describe_target(struct acs *a, struct acs_target *t)
{
    json_t *ext = NULL;
    int done = t->meta && t->param; /* described, its filter found */
    cs_status st = done ? CS_OK : ext_listing(a, &ext);
    if (st == CS_OK && !done && (st = describe_one(a, t, ext)) == CS_OK)
        st = check_links(a, t);
    json_decref(ext);
    return st;
}

cs_status acs_describe(struct acs *a, int sink, int poll)
{
    json_t *ext = NULL;
    cs_status st = CS_OK;
    sink = sink && a->ntargets;
    poll = poll && a->poll;
    if (!sink && !poll)
        return CS_OK;
    st = ext_listing(a, &ext);
    for (size_t i = 0; st == CS_OK && sink && i < a->ntargets; i++)
        st = describe_one(a, &a->targets[i], ext);
    for (size_t i = 0; st == CS_OK && sink && i < a->ntargets; i++)
        st = check_links(a, &a->targets[i]);
    if (st == CS_OK && sink)
        st = acs_org_unit_start(a);
    if (st == CS_OK && poll && (st = describe_one(a, a->poll, ext)) == CS_OK)
        a->host->log(a->ctx, CS_LOG_INFO, "stream %s: profiles listed by filter %s(%s)", a->poll->stream,
                     a->poll->filter, a->poll->param);
    if (st == CS_OK && sink)
        for (size_t i = 0; i < a->ntargets; i++)
            a->host->log(a->ctx, CS_LOG_INFO, "target %s: Campaign %s, key %s resolved by filter %s(%s)",
                         a->targets[i].stream, a->targets[i].collection, a->targets[i].key, a->targets[i].filter,
                         a->targets[i].param);
    json_decref(ext);
    return st;
}
