/*
 * d365_describe.c - what the dynamics365 plugin learns from EntityDefinitions about a configured
 * table: the entity set name (never guessed), the primary id, every attribute with its type, the
 * option labels of the choice columns read as labels, the declared alternate keys, and whether change
 * tracking is enabled; and the requests d365_schema.c shares (d365_get_json, every choice column's
 * labels). A document another instance of the connection read a moment ago is taken from it. Configuration that cannot work against the org (unknown table or column, a
 * read table without change tracking, a key that is not a declared alternate key) is CS_FATAL with a
 * reason that says what to change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "d365.h"

cs_status d365_get_json(struct d365 *d, const char *path, const char *what, json_t **out)
{
    static const char *const hdr[] = {"Consistency: Strong", NULL};
    struct cshttp_response r = {0};
    char *url = NULL;
    cs_status st;
    *out = NULL;
    if (asprintf(&url, "%s/%s", d->api, path) < 0) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    if (!d->docs_live && (*out = cshttp_docs_find(d->docs, url))) {
        free(url);
        return CS_OK;
    }
    st = d365_call(d, d->http, "GET", url, hdr, NULL, 0, what, &r);
    if (st == CS_OK && !(*out = cshttp_response_json(&r))) {
        d->host->set_reason(d->ctx, (int)r.status, -1, "%s: the answer is not JSON", what);
        st = CS_RETRY;
    }
    if (st == CS_OK)
        cshttp_docs_keep(d->docs, url, *out);
    cshttp_response_clear(&r);
    free(url);
    return st;
}

/* OData string literal content: quotes doubled, then URL-escaped. New string. */
static char *literal(const char *s)
{
    size_t n = strlen(s), j = 0;
    char *doubled = malloc(2 * n + 1), *out;
    if (!doubled)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        doubled[j++] = s[i];
        if (s[i] == '\'')
            doubled[j++] = '\'';
    }
    doubled[j] = '\0';
    out = cshttp_escape(doubled);
    free(doubled);
    return out;
}

/* The entity: set name, primary id, change tracking. */
static cs_status describe_entity(struct d365 *d, struct d365_table *t, int *change_tracking)
{
    const char *name = t->logical ? t->logical : t->stream;
    char *lit = literal(name), *path = NULL;
    json_t *doc = NULL, *e;
    cs_status st = CS_RETRY;
    const char *set, *pid;

    if (!lit || (t->logical ? asprintf(&path,
                                       "EntityDefinitions?$select=LogicalName,EntitySetName,"
                                       "PrimaryIdAttribute,ChangeTrackingEnabled&$filter=LogicalName%%20eq%%20'%s'",
                                       lit)
                            : asprintf(&path,
                                       "EntityDefinitions?$select=LogicalName,EntitySetName,"
                                       "PrimaryIdAttribute,ChangeTrackingEnabled&$filter=LogicalName%%20eq%%20'%s'"
                                       "%%20or%%20EntitySetName%%20eq%%20'%s'",
                                       lit, lit)) < 0) {
        path = NULL;
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        goto out;
    }
    if ((st = d365_get_json(d, path, "reading EntityDefinitions", &doc)) != CS_OK)
        goto out;
    e = json_array_get(json_object_get(doc, "value"), 0);
    set = json_string_value(json_object_get(e, "EntitySetName"));
    pid = json_string_value(json_object_get(e, "PrimaryIdAttribute"));
    if (!e || !set || !pid) {
        d->host->set_reason(
            d->ctx, 404, -1,
            "stream %s: %s \"%s\" does not exist in %s; set tables.%s.table to "
            "the table's logical name",
            t->stream, t->logical ? "no table has the logical name" : "no table has the logical or entity set name",
            name, d->org_url, t->stream);
        st = CS_FATAL;
        goto out;
    }
    free(t->logical);
    free(t->entity_set);
    free(t->primary_id);
    t->logical = strdup(json_string_value(json_object_get(e, "LogicalName")));
    t->entity_set = strdup(set);
    t->primary_id = strdup(pid);
    *change_tracking = json_is_true(json_object_get(e, "ChangeTrackingEnabled"));
    if (!t->logical || !t->entity_set || !t->primary_id) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        st = CS_RETRY;
    }
out:
    json_decref(doc);
    free(lit);
    free(path);
    return st;
}

/* Every attribute's type. */
static cs_status describe_attributes(struct d365 *d, struct d365_table *t)
{
    char *path = NULL;
    json_t *doc = NULL, *a;
    size_t i;
    cs_status st;
    if (asprintf(&path, "EntityDefinitions(LogicalName='%s')/Attributes?$select=LogicalName,AttributeType",
                 t->logical) < 0) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    st = d365_get_json(d, path, "reading the attributes", &doc);
    free(path);
    if (st != CS_OK)
        return st;
    json_decref(t->attr_types);
    t->attr_types = json_object();
    json_array_foreach (json_object_get(doc, "value"), i, a) {
        const char *name = json_string_value(json_object_get(a, "LogicalName")),
                   *type = json_string_value(json_object_get(a, "AttributeType"));
        if (name && type)
            json_object_set_new(t->attr_types, name, json_string(type));
    }
    json_decref(doc);
    return CS_OK;
}

static int is_lookup(const char *type)
{
    return type && (!strcmp(type, "Lookup") || !strcmp(type, "Customer") || !strcmp(type, "Owner"));
}

static int is_choice(const char *type)
{
    return type && (!strcmp(type, "Picklist") || !strcmp(type, "State") || !strcmp(type, "Status"));
}

static const char *attr_type(const struct d365_table *t, const char *name)
{
    return json_string_value(json_object_get(t->attr_types, name));
}

/* Append `column` to the comma-separated list being written to `sel` unless `listed` has it already: a
 * lookup may be listed both as x and as _x_value. */
static void append_column(FILE *sel, json_t *listed, const char *column)
{
    if (json_object_get(listed, column))
        return;
    fprintf(sel, "%s%s", json_object_size(listed) ? "," : "", column);
    json_object_set_new(listed, column, json_true());
}

/* The $select list: the configured columns that exist, lookups as _x_value; FATAL naming unknown ones. */
static cs_status build_select(struct d365 *d, struct d365_table *t)
{
    size_t i, size;
    json_t *c, *listed = json_object();
    char *sel = NULL;
    FILE *out = open_memstream(&sel, &size);
    if (!out || !listed) {
        if (out)
            fclose(out);
        free(sel);
        json_decref(listed);
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    json_array_foreach (t->columns, i, c) {
        const char *name = json_string_value(c), *type = attr_type(t, name);
        if (!type && strncmp(name, "_", 1) == 0 && strlen(name) > 7 && !strcmp(name + strlen(name) - 6, "_value")) {
            char base[256];
            snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - 7), name + 1);
            if (is_lookup(attr_type(t, base)))
                type = "Lookup";
        }
        if (!type) {
            if (t->mapped)
                d->host->set_reason(d->ctx, 0, -1,
                                    "stream %s: table %s has no column \"%s\", which the workflow's "
                                    "mapping of %s reads; fix the mapping's fields (or give tables.%s.columns)",
                                    t->stream, t->logical, name, t->stream, t->stream);
            else
                d->host->set_reason(d->ctx, 0, -1, "stream %s: table %s has no column \"%s\"; fix tables.%s.columns",
                                    t->stream, t->logical, name, t->stream);
            fclose(out);
            free(sel);
            json_decref(listed);
            return CS_FATAL;
        }
        if (is_lookup(attr_type(t, name))) {
            char *lookup = NULL;
            if (asprintf(&lookup, "_%s_value", name) >= 0)
                append_column(out, listed, lookup);
            free(lookup);
        } else {
            append_column(out, listed, name);
        }
    }
    json_decref(listed);
    if (fclose(out) != 0) {
        free(sel);
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    free(t->select);
    t->select = sel;
    return CS_OK;
}

cs_status d365_choice_labels(struct d365 *d, const struct d365_table *t, json_t **out)
{
    static const char *const casts[] = {"PicklistAttributeMetadata", "StateAttributeMetadata",
                                        "StatusAttributeMetadata"};
    json_t *all = json_object();
    *out = NULL;
    for (size_t k = 0; k < sizeof casts / sizeof *casts; k++) {
        char *path = NULL;
        json_t *doc, *a;
        size_t i;
        cs_status st;
        if (asprintf(&path,
                     "EntityDefinitions(LogicalName='%s')/Attributes/Microsoft.Dynamics.CRM.%s"
                     "?$select=LogicalName&$expand=OptionSet($select=Options)",
                     t->logical, casts[k]) < 0) {
            d->host->set_reason(d->ctx, 0, -1, "out of memory");
            json_decref(all);
            return CS_RETRY;
        }
        st = d365_get_json(d, path, "reading the option sets", &doc);
        free(path);
        if (st != CS_OK) {
            json_decref(all);
            return st;
        }
        json_array_foreach (json_object_get(doc, "value"), i, a) {
            const char *name = json_string_value(json_object_get(a, "LogicalName"));
            json_t *opts = json_object_get(json_object_get(a, "OptionSet"), "Options"), *o, *map;
            size_t j;
            if (!name)
                continue;
            map = json_object();
            json_array_foreach (opts, j, o) {
                const char *label = json_string_value(
                    json_object_get(json_object_get(json_object_get(o, "Label"), "UserLocalizedLabel"), "Label"));
                char value[32];
                snprintf(value, sizeof value, "%lld", (long long)json_integer_value(json_object_get(o, "Value")));
                if (label)
                    json_object_set_new(map, value, json_string(label));
            }
            json_object_set_new(all, name, map);
        }
        json_decref(doc);
    }
    *out = all;
    return CS_OK;
}

/* Option labels of the choice columns read as labels (all of them when labels is true). */
static cs_status describe_labels(struct d365 *d, struct d365_table *t)
{
    json_t *all, *map;
    const char *name;
    cs_status st = d365_choice_labels(d, t, &all);
    if (st != CS_OK)
        return st;
    json_decref(t->options);
    t->options = json_object();
    json_object_foreach (all, name, map) {
        int wanted = json_is_true(t->labels);
        for (size_t m = 0; !wanted && m < json_array_size(t->labels); m++)
            wanted = !strcmp(name, json_string_value(json_array_get(t->labels, m)));
        if (wanted)
            json_object_set(t->options, name, map);
    }
    json_decref(all);
    for (size_t m = 0; m < json_array_size(t->labels); m++) {
        name = json_string_value(json_array_get(t->labels, m));
        if (!is_choice(attr_type(t, name))) {
            d->host->set_reason(d->ctx, 0, -1, "stream %s: \"%s\" is not a choice column of %s; fix tables.%s.labels",
                                t->stream, name, t->logical, t->stream);
            return CS_FATAL;
        }
    }
    return CS_OK;
}

/* The configured key must be one of the table's alternate keys (same columns, any order). */
static cs_status check_key(struct d365 *d, struct d365_table *t)
{
    char *path = NULL;
    json_t *doc, *k;
    size_t i;
    cs_status st;
    if (asprintf(&path, "EntityDefinitions(LogicalName='%s')/Keys?$select=LogicalName,KeyAttributes", t->logical) < 0) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    st = d365_get_json(d, path, "reading the alternate keys", &doc);
    free(path);
    if (st != CS_OK)
        return st;
    st = CS_FATAL;
    json_array_foreach (json_object_get(doc, "value"), i, k) {
        json_t *attrs = json_object_get(k, "KeyAttributes");
        size_t hits = 0;
        for (size_t a = 0; a < json_array_size(attrs); a++)
            for (size_t b = 0; b < json_array_size(t->key); b++)
                hits += json_equal(json_array_get(attrs, a), json_array_get(t->key, b));
        if (hits == json_array_size(attrs) && hits == json_array_size(t->key))
            st = CS_OK;
    }
    json_decref(doc);
    if (st != CS_OK)
        d->host->set_reason(d->ctx, 0, -1,
                            "stream %s: the columns of tables.%s.key are not an alternate key of %s; "
                            "declare the key on the table or fix the option",
                            t->stream, t->stream, t->logical);
    return st;
}

cs_status d365_describe(struct d365 *d, struct d365_table *t)
{
    int change_tracking = 0;
    cs_status st;
    if (t->described)
        return CS_OK;
    if ((st = describe_entity(d, t, &change_tracking)) != CS_OK || (st = describe_attributes(d, t)) != CS_OK)
        return st;
    if (t->columns && !change_tracking) {
        d->host->set_reason(d->ctx, 0, -1,
                            "stream %s: change tracking is not enabled on table %s; enable it (Power "
                            "Apps: Tables > %s > Properties > Advanced options > Track changes) and start the "
                            "workflow again",
                            t->stream, t->logical, t->logical);
        return CS_FATAL;
    }
    if (t->columns && (st = build_select(d, t)) != CS_OK)
        return st;
    if (t->labels && (st = describe_labels(d, t)) != CS_OK)
        return st;
    if (t->key && (st = check_key(d, t)) != CS_OK)
        return st;
    t->described = 1;
    d->host->log(d->ctx, CS_LOG_INFO, "stream %s: table %s, entity set %s, primary id %s%s", t->stream, t->logical,
                 t->entity_set, t->primary_id, t->columns ? ", change tracking on" : "");
    return CS_OK;
}
