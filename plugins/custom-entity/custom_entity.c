/*
 * custom_entity.c - custom-entity.so: the entity handler `custom-entity`, how a Dynamics 365 custom
 * table is synced to a Campaign custom resource linked to other synced records (Adobe's integration:
 * "linked and non-linked tables", links up to table1 -> table2 -> table3, 5 linked columns and 50
 * columns per custom resource). Option `links` lists the mapping's links: {column: the D365 lookup
 * column, parent: the stream of the parent mapping, link: the Campaign link on this mapping's target
 * resource}. create() checks the guardrails (max_links, max_depth, max_columns, each configurable
 * upward) and the links against both sides' live metadata; prepare() fills the record's "links"
 * member with the parent's key (the lookup's GUID, lowercased) or null to unlink; order() ranks
 * parents before children. The public plugin ABI only: the workflow is known through host calls.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ce.h"

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "links", CS_OPT_JSON, 0, NULL,
     "list of {column: D365 lookup column, parent: stream of the parent mapping, link: Campaign link name}"},
    {CS_SETTING_HEAD, "max_links", CS_OPT_INT, 0, "5",
     "linked columns allowed per custom resource (Adobe's guardrail: 5)", .min = 1, .max = INT64_MAX},
    {CS_SETTING_HEAD, "max_depth", CS_OPT_INT, 0, "3",
     "tables allowed in a link chain, table1 -> table2 -> table3 (guardrail: 3)", .min = 1, .max = INT64_MAX},
    {CS_SETTING_HEAD, "max_columns", CS_OPT_INT, 0, "50", "mapped columns allowed per custom entity (guardrail: 50)",
     .min = 1, .max = INT64_MAX},
    {CS_SETTING_HEAD, NULL},
};

static void ce_destroy(void *inst)
{
    struct ce *ce = inst;
    if (!ce)
        return;
    for (size_t i = 0; i < ce->nlinks; i++) {
        free(ce->links[i].column);
        free(ce->links[i].lookup);
        free(ce->links[i].value);
        free(ce->links[i].parent);
        free(ce->links[i].link);
    }
    free(ce->links);
    json_decref(ce->maps);
    free(ce);
}

/* Option `links` into ce->links; CS_FATAL with the reason on a malformed entry. */
static cs_status parse_links(struct ce *ce, const json_t *links)
{
    const json_t *l;
    size_t i;
    if (!links || json_is_null(links))
        return CS_OK;
    if (!json_is_array(links) || !(ce->links = calloc(json_array_size(links) + 1, sizeof *ce->links))) {
        ce->host->set_reason(ce->ctx, 0, -1, "links: must be a list of {column, parent, link}");
        return CS_FATAL;
    }
    json_array_foreach (links, i, l) {
        struct ce_link *x = &ce->links[ce->nlinks];
        const char *col = ce_str(l, "column"), *parent = ce_str(l, "parent"), *link = ce_str(l, "link"), *k;
        json_t *v;
        size_t n;
        json_object_foreach ((json_t *)l, k, v)
            if (strcmp(k, "column") && strcmp(k, "parent") && strcmp(k, "link")) {
                ce->host->set_reason(ce->ctx, 0, -1, "links[%zu].%s: unknown key (expected column, parent, link)", i,
                                     k);
                return CS_FATAL;
            }
        if (!col || !*col || !parent || !*parent || !link || !*link) {
            ce->host->set_reason(
                ce->ctx, 0, -1,
                "links[%zu]: needs column (the Dynamics 365 lookup column, e.g. "
                "_new_contact_value), parent (the stream of the parent mapping) and link (the Campaign "
                "link name on this mapping's resource)",
                i);
            return CS_FATAL;
        }
        n = strlen(col);
        /* _x_value names the lookup x as records carry it */
        x->lookup = n > 7 && col[0] == '_' && !strcmp(col + n - 6, "_value") ? strndup(col + 1, n - 7) : strdup(col);
        if (!(x->column = strdup(col)) || !x->lookup || asprintf(&x->value, "_%s_value", x->lookup) < 0 ||
            !(x->parent = strdup(parent)) || !(x->link = strdup(link))) {
            ce->host->set_reason(ce->ctx, 0, -1, "out of memory");
            return CS_FATAL;
        }
        ce->nlinks++;
        for (size_t j = 0; j + 1 < ce->nlinks; j++)
            if (!strcmp(ce->links[j].link, link)) {
                ce->host->set_reason(ce->ctx, 0, -1,
                                     "links[%zu].link: '%s' is already filled by links[%zu]; a Campaign "
                                     "link takes one parent",
                                     i, link, j);
                return CS_FATAL;
            }
    }
    return CS_OK;
}

/* The guardrails and the links of one mapping that invokes this instance. */
static cs_status check_mapping(struct ce *ce, const json_t *element)
{
    char *name = ce_mapping_name(element), *chain = NULL;
    const char *stream = ce_str(element, "stream");
    long columns = ce_mapped_columns(element);
    cs_status st = CS_FATAL;
    int depth;

    if (!name)
        goto out;
    if ((long)ce->nlinks > ce->max_links) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: %zu linked columns in links, more than max_links (%ld); link at most "
                             "%ld columns of this custom resource, or raise the custom-entity option max_links",
                             name, ce->nlinks, ce->max_links, ce->max_links);
        goto out;
    }
    if (columns > ce->max_columns) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: %ld mapped columns, more than max_columns (%ld); map fewer columns, or "
                             "raise the custom-entity option max_columns",
                             name, columns, ce->max_columns);
        goto out;
    }
    for (size_t i = 0; i < ce->nlinks; i++) {
        if (stream && !strcmp(ce->links[i].parent, stream)) {
            ce->host->set_reason(ce->ctx, 0, -1,
                                 "%s: links[%zu].parent '%s' is this mapping's own stream; a link joins a "
                                 "child to another mapping's records: fix links[%zu].parent",
                                 name, i, ce->links[i].parent, i);
            goto out;
        }
        if (!ce_element_of(ce->maps, ce->links[i].parent)) {
            ce->host->set_reason(ce->ctx, 0, -1,
                                 "%s: links[%zu].parent '%s' is not the stream of a mapping of this "
                                 "workflow; map that table too (its records are the parents), or fix links[%zu].parent",
                                 name, i, ce->links[i].parent, i);
            goto out;
        }
    }
    depth = ce_chain_depth(ce->maps, element, &chain);
    if (depth < 0) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: the links of the workflow's mappings form a cycle (%s); a parent cannot "
                             "be its own descendant: fix the links options",
                             name, chain ? chain : "?");
        goto out;
    }
    if (depth > ce->max_depth) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: the link chain %s is %d tables deep, more than max_depth (%ld); link "
                             "fewer levels, or raise the custom-entity option max_depth",
                             name, chain ? chain : "?", depth, ce->max_depth);
        goto out;
    }
    st = ce_check_metadata(ce, element);
out:
    free(chain);
    free(name);
    return st;
}

static cs_status ce_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    struct ce *ce = calloc(1, sizeof *ce);
    json_t *self = NULL, *m;
    size_t i;
    cs_status st = CS_FATAL;

    if (!ce)
        return CS_FATAL;
    ce->host = host;
    ce->ctx = ctx;
    ce->max_links = (long)json_integer_value(json_object_get(o, "max_links"));
    ce->max_depth = (long)json_integer_value(json_object_get(o, "max_depth"));
    ce->max_columns = (long)json_integer_value(json_object_get(o, "max_columns"));
    if (parse_links(ce, json_object_get(o, "links")) != CS_OK)
        goto out;
    ce->maps =
        host->struct_size >= offsetof(cs_host, mapping_streams) + sizeof host->mapping_streams && host->mapping_streams
            ? host->mapping_streams(ctx)
            : json_array();
    self = ce_self_elements(ce->maps, o, settings);
    if (json_array_size(self) == 0)
        host->log(ctx, CS_LOG_INFO,
                  "the workflow's mappings are not known to this handler: links, chain depth and "
                  "columns are not checked");
    st = CS_OK;
    json_array_foreach (self, i, m)
        if ((st = check_mapping(ce, m)) != CS_OK)
            break;
out:
    json_decref(self);
    if (st != CS_OK) {
        ce_destroy(ce);
        return st;
    }
    *inst = ce;
    return CS_OK;
}

/* The parent's key from the lookup's value: the GUID lowercased, null when the lookup is empty. */
static cs_status link_value(struct ce *ce, const cs_record *rec, const struct ce_link *l, size_t i, json_t **out)
{
    const json_t *payload = cs_record_payload(rec);
    const json_t *v =
        json_object_get(payload, l->value) ? json_object_get(payload, l->value) : json_object_get(payload, l->lookup);
    char *key;
    *out = NULL;
    if (!v) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "stream %s: the records carry no column '%s' (links[%zu].column); the source "
                             "must read it: add it to the columns of the mapping",
                             cs_record_stream(rec), l->value, i);
        return CS_FATAL;
    }
    if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v))) {
        *out = json_null();
        return CS_OK;
    }
    if (!json_is_string(v)) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "key %s: links[%zu].column '%s' holds a %s, not the key of a parent record",
                             cs_record_key(rec), i, l->column, json_is_integer(v) ? "number" : "non-string value");
        return CS_REJECT;
    }
    if (!(key = strdup(json_string_value(v))))
        return CS_RETRY;
    for (char *p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    *out = json_string(key);
    free(key);
    return *out ? CS_OK : CS_RETRY;
}

static cs_status ce_prepare(void *inst, cs_record **rec)
{
    struct ce *ce = inst;
    json_t *links;
    if (!ce->nlinks || cs_record_op(*rec) != CS_OP_UPSERT)
        return CS_OK; /* a delete names no parent */
    links = cs_record_links(*rec);
    if (!json_is_object(links)) {
        links = json_object();
        if (cs_record_set_links(*rec, links) != 0)
            return CS_RETRY;
    }
    for (size_t i = 0; i < ce->nlinks; i++) {
        json_t *v;
        cs_status st = link_value(ce, *rec, &ce->links[i], i, &v);
        if (st != CS_OK)
            return st;
        json_object_set_new(links, ce->links[i].link, v);
    }
    return CS_OK;
}

/* Parents before children: a stream ranks as the number of tables above it in its link chain. */
static int ce_order(void *inst, const char *stream)
{
    struct ce *ce = inst;
    size_t i;
    json_t *m;
    json_array_foreach (ce->maps, i, m) {
        char *chain = NULL;
        int depth;
        if (!stream || ((!ce_str(m, "stream") || strcmp(ce_str(m, "stream"), stream)) &&
                        (!ce_str(m, "target") || strcmp(ce_str(m, "target"), stream))))
            continue;
        depth = ce_chain_depth(ce->maps, m, &chain);
        free(chain);
        return depth > 0 ? depth - 1 : 0;
    }
    return 0;
}

static const cs_entity entity = {
    CS_HEAD(cs_entity),
    .name = CE_NAME,
    .version = "1.0",
    .description = "Dynamics 365 custom tables to Campaign custom resources: links to parent records, guardrails, "
                   "parents written before children",
    .settings = settings,
    .create = ce_create,
    .prepare = ce_prepare,
    .order = ce_order,
    .destroy = ce_destroy,
};

static const cs_entity *const entities[] = {&entity, NULL};

static const cs_plugin plugin = {
    CS_HEAD(cs_plugin),
    .name = CE_NAME,
    .version = "1.0",
    .entities = entities,
};

CS_PLUGIN_ENTRY(plugin)
