/*
 * d365_schema.c - the dynamics365 connector's describe() (plugin ABI 1.2): the live metadata of a table
 * the connection reads or writes, from EntityDefinitions, in the shape of cs_connector.describe:
 *   key     the primary id; "unique" on it and on the columns of one-column alternate keys
 *   fields  every attribute by logical name (records carry a lookup as _<name>_value), its type
 *           normalised from AttributeType ("native"): Boolean boolean, Integer/BigInt integer,
 *           Decimal/Money decimal, Double double, String/Memo string, DateTime datetime (date when its
 *           behaviour or format is DateOnly), Picklist/State/Status integer with "choice" and "labels",
 *           Lookup/Customer/Owner string with "lookup" (the first target table; all of them in
 *           "targets" when there are several) and "cascade_delete" (the Delete behaviour of its
 *           relationship: Cascade, RemoveLink or Restrict), Uniqueidentifier string, anything else
 *           "other"; "readonly" when the column can be neither created nor updated
 *   rows    from the RetrieveTotalRecordCount function (a snapshot the service refreshes daily)
 * A configured or mapped stream is described now if start() did not; any other name is looked up as a
 * table's logical or entity set name and described on demand (CS_NODATA when the org has no such
 * table), without becoming a stream of the instance. describe(NULL) lists the streams of the `tables`
 * option, then the org's tables:
 *   {"tables": [{"name": what a mapping names (the stream, or the entity set), "table": logical name,
 *                "label": display name, "change_tracking": whether the table can be read
 *                (ChangeTrackingEnabled; org tables only), "configured": true (streams of `tables`)}]}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "d365.h"

const char *d365_normal_type(const char *native)
{
    static const char *const map[][2] = {
        {"Boolean", "boolean"},   {"Integer", "integer"},  {"BigInt", "integer"}, {"Decimal", "decimal"},
        {"Money", "decimal"},     {"Double", "double"},    {"String", "string"},  {"Memo", "string"},
        {"DateTime", "datetime"}, {"Picklist", "integer"}, {"State", "integer"},  {"Status", "integer"},
        {"Lookup", "string"},     {"Customer", "string"},  {"Owner", "string"},   {"Uniqueidentifier", "string"},
    };
    for (size_t i = 0; native && i < sizeof map / sizeof *map; i++)
        if (!strcmp(native, map[i][0]))
            return map[i][1];
    return "other";
}

/* GET EntityDefinitions(LogicalName='<table>')/<rest>; *value borrowed from *doc (new). */
static cs_status get_list(struct d365 *d, const struct d365_table *t, const char *rest, const char *what, json_t **doc,
                          json_t **value)
{
    char *path = NULL;
    cs_status st;
    *doc = *value = NULL;
    if (asprintf(&path, "EntityDefinitions(LogicalName='%s')/%s", t->logical, rest) < 0) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    st = d365_get_json(d, path, what, doc);
    free(path);
    if (st == CS_OK)
        *value = json_object_get(*doc, "value");
    return st;
}

/* Every attribute with its type and whether it can be written. */
static cs_status add_attributes(struct d365 *d, const struct d365_table *t, json_t *fields)
{
    json_t *doc, *list, *a;
    size_t i;
    cs_status st = get_list(d, t, "Attributes?$select=LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate",
                            "describing the columns", &doc, &list);
    json_array_foreach (list, i, a) {
        const char *name = json_string_value(json_object_get(a, "LogicalName"));
        const char *native = json_string_value(json_object_get(a, "AttributeType"));
        json_t *f;
        if (!name || !native)
            continue;
        f = json_pack("{s:s, s:s}", "type", d365_normal_type(native), "native", native);
        if (json_is_false(json_object_get(a, "IsValidForCreate")) &&
            json_is_false(json_object_get(a, "IsValidForUpdate")))
            json_object_set_new(f, "readonly", json_true());
        if (!strcmp(name, t->primary_id))
            json_object_set_new(f, "unique", json_true());
        json_object_set_new(fields, name, f);
    }
    json_decref(doc);
    return st;
}

/* DateTime columns whose behaviour or format is DateOnly hold dates. */
static cs_status mark_dates(struct d365 *d, const struct d365_table *t, json_t *fields)
{
    json_t *doc, *list, *a;
    size_t i;
    cs_status st = get_list(d, t,
                            "Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata"
                            "?$select=LogicalName,Format,DateTimeBehavior",
                            "describing the date columns", &doc, &list);
    json_array_foreach (list, i, a) {
        json_t *f = json_object_get(fields, json_string_value(json_object_get(a, "LogicalName")));
        const char *format = json_string_value(json_object_get(a, "Format"));
        const char *behaviour = json_string_value(json_object_get(json_object_get(a, "DateTimeBehavior"), "Value"));
        if (f && ((format && !strcmp(format, "DateOnly")) || (behaviour && !strcmp(behaviour, "DateOnly"))))
            json_object_set_new(f, "type", json_string("date"));
    }
    json_decref(doc);
    return st;
}

static cs_status add_choices(struct d365 *d, const struct d365_table *t, json_t *fields)
{
    json_t *all, *labels;
    const char *name;
    cs_status st = d365_choice_labels(d, t, &all);
    json_object_foreach (all, name, labels) {
        json_t *f = json_object_get(fields, name);
        if (f) {
            json_object_set_new(f, "choice", json_true());
            json_object_set(f, "labels", labels);
        }
    }
    json_decref(all);
    return st;
}

/* Each lookup's target tables, then the Delete behaviour of its relationship to the first one. */
static cs_status add_lookups(struct d365 *d, const struct d365_table *t, json_t *fields)
{
    json_t *doc, *list, *a;
    size_t i;
    cs_status st =
        get_list(d, t, "Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata?$select=LogicalName,Targets",
                 "describing the lookups", &doc, &list);
    json_array_foreach (list, i, a) {
        json_t *f = json_object_get(fields, json_string_value(json_object_get(a, "LogicalName")));
        json_t *targets = json_object_get(a, "Targets");
        if (!f || !json_is_string(json_array_get(targets, 0)))
            continue;
        json_object_set(f, "lookup", json_array_get(targets, 0));
        if (json_array_size(targets) > 1)
            json_object_set(f, "targets", targets);
    }
    json_decref(doc);
    if (st != CS_OK)
        return st;
    st = get_list(d, t, "ManyToOneRelationships?$select=ReferencingAttribute,ReferencedEntity,CascadeConfiguration",
                  "describing the relationships", &doc, &list);
    json_array_foreach (list, i, a) {
        json_t *f = json_object_get(fields, json_string_value(json_object_get(a, "ReferencingAttribute")));
        json_t *cascade = json_object_get(json_object_get(a, "CascadeConfiguration"), "Delete");
        if (f && json_is_string(cascade) &&
            json_equal(json_object_get(f, "lookup"), json_object_get(a, "ReferencedEntity")))
            json_object_set(f, "cascade_delete", cascade);
    }
    json_decref(doc);
    return st;
}

/* The columns of one-column alternate keys identify a row. */
static cs_status mark_keys(struct d365 *d, const struct d365_table *t, json_t *fields)
{
    json_t *doc, *list, *k;
    size_t i;
    cs_status st = get_list(d, t, "Keys?$select=KeyAttributes", "describing the alternate keys", &doc, &list);
    json_array_foreach (list, i, k) {
        json_t *attrs = json_object_get(k, "KeyAttributes");
        json_t *f =
            json_array_size(attrs) == 1 ? json_object_get(fields, json_string_value(json_array_get(attrs, 0))) : NULL;
        if (f)
            json_object_set_new(f, "unique", json_true());
    }
    json_decref(doc);
    return st;
}

/* "rows" from RetrieveTotalRecordCount; left out (logged) when the service will not count. */
static cs_status count_rows(struct d365 *d, const struct d365_table *t, json_t *out)
{
    char *path = NULL;
    json_t *doc = NULL, *coll, *key;
    size_t i;
    cs_status st;
    if (asprintf(&path, "RetrieveTotalRecordCount(EntityNames=@p1)?@p1=%%5B%%22%s%%22%%5D", t->logical) < 0) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    st = d365_get_json(d, path, "counting the rows", &doc);
    free(path);
    if (st == CS_RETRY)
        return st;
    coll = json_object_get(doc, "EntityRecordCountCollection");
    json_array_foreach (json_object_get(coll, "Keys"), i, key) {
        json_t *n = json_array_get(json_object_get(coll, "Values"), i);
        if (json_is_string(key) && !strcmp(json_string_value(key), t->logical) && json_is_integer(n))
            json_object_set(out, "rows", n);
    }
    if (!json_object_get(out, "rows"))
        d->host->log(d->ctx, CS_LOG_INFO,
                     "stream %s: the service did not count the rows of %s; described without "
                     "a row count",
                     t->stream, t->logical);
    json_decref(doc);
    return CS_OK;
}

/* The display label of a metadata item ({"UserLocalizedLabel": {"Label"}}), or NULL. */
static const char *display_label(const json_t *item)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(item, "DisplayName"), "UserLocalizedLabel"), "Label"));
}

/* describe(NULL): the configured streams, then every table that has an entity set, in the order the
 * service lists them. */
static cs_status list_tables(struct d365 *d, json_t **out)
{
    json_t *doc = NULL, *list, *e;
    size_t i;
    cs_status st = d365_get_json(d,
                                 "EntityDefinitions?$select=LogicalName,EntitySetName,DisplayName,"
                                 "ChangeTrackingEnabled",
                                 "listing the tables", &doc);
    if (st != CS_OK)
        return st;
    list = json_array();
    for (size_t k = 0; k < d->n_tables; k++) {
        const struct d365_table *t = &d->tables[k];
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:b}", "name", t->stream, "table",
                                        t->logical ? t->logical : t->stream, "label", t->stream, "configured", 1));
    }
    json_array_foreach (json_object_get(doc, "value"), i, e) {
        const char *logical = json_string_value(json_object_get(e, "LogicalName"));
        const char *set = json_string_value(json_object_get(e, "EntitySetName")), *label = display_label(e);
        if (logical && set)
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:b}", "name", set, "table", logical, "label",
                                                  label ? label : logical, "change_tracking",
                                                  json_is_true(json_object_get(e, "ChangeTrackingEnabled"))));
    }
    json_decref(doc);
    *out = json_pack("{s:o}", "tables", list);
    return CS_OK;
}

/* Dataverse logical and entity set names are letters, digits and "_" (so they need no quoting). */
static int plain_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 128 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* A table neither configured nor mapped: its logical name when the org has a table of that logical or
 * entity set name (*logical new), CS_NODATA when it has none. */
static cs_status find_table(struct d365 *d, const char *name, char **logical)
{
    char *path = NULL;
    json_t *doc = NULL;
    const char *found;
    cs_status st;
    *logical = NULL;
    if (!plain_name(name))
        return CS_NODATA;
    if (asprintf(&path,
                 "EntityDefinitions?$select=LogicalName&$filter=LogicalName%%20eq%%20'%s'%%20or%%20"
                 "EntitySetName%%20eq%%20'%s'",
                 name, name) < 0) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    st = d365_get_json(d, path, "looking up a table", &doc);
    free(path);
    found = json_string_value(json_object_get(json_array_get(json_object_get(doc, "value"), 0), "LogicalName"));
    if (st == CS_OK && !found)
        st = CS_NODATA;
    if (st == CS_OK && !(*logical = strdup(found))) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        st = CS_RETRY;
    }
    json_decref(doc);
    return st;
}

/* The describe() answer of a described table (new in *out). */
static cs_status describe_table(struct d365 *d, struct d365_table *t, json_t **out)
{
    json_t *fields, *desc;
    cs_status st;
    fields = json_object();
    desc = json_pack("{s:s, s:s, s:o}", "name", t->logical, "key", t->primary_id, "fields", fields);
    if (!desc) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    if ((st = add_attributes(d, t, fields)) == CS_OK && (st = mark_dates(d, t, fields)) == CS_OK &&
        (st = add_choices(d, t, fields)) == CS_OK && (st = add_lookups(d, t, fields)) == CS_OK &&
        (st = mark_keys(d, t, fields)) == CS_OK)
        st = count_rows(d, t, desc);
    if (st != CS_OK) {
        json_decref(desc);
        return st;
    }
    *out = desc;
    return CS_OK;
}

/* describe() of `stream`, the metadata read live. */
static cs_status describe_stream(struct d365 *d, const char *stream, json_t **out)
{
    struct d365_table *t, once = {0};
    cs_status st;

    *out = NULL;
    if (!stream)
        return list_tables(d, out);
    if (!(t = d365_table_for(d, stream, 0)) && d365_mapping_names(d, stream) && !(t = d365_table_for(d, stream, 1))) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    if (t)
        return (st = d365_describe(d, t)) == CS_OK ? describe_table(d, t, out) : st;
    /* on demand: a table of the org that no stream of this instance names */
    if ((st = find_table(d, stream, &once.logical)) == CS_OK && !(once.stream = strdup(stream))) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        st = CS_RETRY;
    }
    if (st == CS_OK && (st = d365_describe(d, &once)) == CS_OK)
        st = describe_table(d, &once, out);
    d365_table_free(&once);
    return st;
}

cs_status d365_describe_stream(void *inst, const char *stream, json_t **out)
{
    struct d365 *d = inst;
    cs_status st;
    d->docs_live = 1; /* the core asks at start and again when records are refused: never a copy */
    st = describe_stream(d, stream, out);
    d->docs_live = 0;
    return st;
}
