/*
 * d365_lookup.c - lookup columns the sink writes as @odata.bind (reference A11, A15): the option
 * `tables.<target>.lookups: {column: table}` says that the payload member `column` holds the primary id
 * (a GUID) of a row of `table`, e.g. {regardingobjectid: contact, ownerid: systemuser}. At start the
 * column's navigation property is read from the table's ManyToOneRelationships (it is case-sensitive
 * and, for a polymorphic lookup such as an activity's regarding, names the target too:
 * regardingobjectid_contact_<activity>) and the linked table's entity set from EntityDefinitions, so
 * nothing is guessed. Writing then sends "<nav>@odata.bind": "/<set>(<id>)"; a value that is not a GUID
 * is refused before any request, and a 404 naming the linked row (it does not exist, e.g. an email
 * event whose contact is not in Dynamics 365) is explained so that the dead letter says what to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "d365.h"

int d365_lookups_parse(struct d365_table *t, const json_t *spec, char *err, size_t errlen)
{
    const char *col;
    json_t *v;
    if (!spec || json_is_null(spec))
        return 0;
    if (!json_is_object(spec) || json_object_size(spec) == 0) {
        snprintf(err, errlen,
                 "tables.%s.lookups: must map each lookup column to the table it points at, e.g. "
                 "{regardingobjectid: contact}",
                 t->stream);
        return -1;
    }
    json_decref(t->lookups);
    t->lookups = json_object();
    json_object_foreach ((json_t *)spec, col, v) {
        if (!json_is_string(v) || !*json_string_value(v)) {
            snprintf(err, errlen, "tables.%s.lookups.%s: must name the table the column points at (e.g. contact)",
                     t->stream, col);
            return -1;
        }
        json_object_set_new(t->lookups, col, json_pack("{s:O}", "table", v));
    }
    t->lookups_ready = 0;
    return 0;
}

/* The logical name and entity set of the table `name` (logical or entity set name), from its metadata,
 * described once per instance (several tables' lookups usually point at the same contact or user). */
static cs_status linked_table(struct d365 *d, const char *name, char **logical, char **set)
{
    struct d365_table tmp = {0};
    json_t *known = json_object_get(d->linked, name);
    cs_status st = CS_OK;
    *logical = *set = NULL;
    if (!known) {
        if (!(tmp.stream = strdup(name))) {
            d->host->set_reason(d->ctx, 0, -1, "out of memory");
            return CS_RETRY;
        }
        if ((st = d365_describe(d, &tmp)) == CS_OK &&
            json_object_set_new(d->linked, name,
                                json_pack("{s:s, s:s}", "logical", tmp.logical, "set", tmp.entity_set)) == 0)
            known = json_object_get(d->linked, name);
        d365_table_free(&tmp);
    }
    if (st == CS_OK && (!known || !(*logical = strdup(json_string_value(json_object_get(known, "logical")))) ||
                        !(*set = strdup(json_string_value(json_object_get(known, "set")))))) {
        free(*logical);
        *logical = NULL;
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        st = CS_RETRY;
    }
    return st;
}

/* Resolve one lookup from the relationships `rels` of the table. */
static cs_status resolve(struct d365 *d, struct d365_table *t, const char *col, json_t *spec, const json_t *rels)
{
    char *logical = NULL, *set = NULL, targets[512] = "";
    const char *nav = NULL, *owner_nav = NULL;
    size_t i, n = 0;
    json_t *r;
    cs_status st = linked_table(d, json_string_value(json_object_get(spec, "table")), &logical, &set);
    if (st != CS_OK)
        goto out;
    json_array_foreach (rels, i, r) {
        const char *attr = json_string_value(json_object_get(r, "ReferencingAttribute"));
        const char *to = json_string_value(json_object_get(r, "ReferencedEntity"));
        const char *via = json_string_value(json_object_get(r, "ReferencingEntityNavigationPropertyName"));
        if (!attr || !to || !via || strcmp(attr, col) != 0)
            continue;
        n++;
        snprintf(targets + strlen(targets), sizeof targets - strlen(targets), "%s%s", n > 1 ? ", " : "", to);
        if (strcmp(to, logical) == 0)
            nav = via;
        else if (strcmp(to, "owner") == 0) /* ownerid points at "owner" (a user or a team) */
            owner_nav = via;
    }
    if (!nav && owner_nav && (!strcmp(logical, "systemuser") || !strcmp(logical, "team")))
        nav = owner_nav;
    if (!nav) {
        if (n)
            d->host->set_reason(d->ctx, 0, -1,
                                "stream %s: the lookup %s of table %s points at %s, not at %s; fix "
                                "tables.%s.lookups.%s",
                                t->stream, col, t->logical, targets, logical, t->stream, col);
        else
            d->host->set_reason(d->ctx, 0, -1, "stream %s: table %s has no lookup column \"%s\"; fix tables.%s.lookups",
                                t->stream, t->logical, col, t->stream);
        st = CS_FATAL;
        goto out;
    }
    json_object_set_new(spec, "logical", json_string(logical));
    json_object_set_new(spec, "set", json_string(set));
    json_object_set_new(spec, "nav", json_string(nav));
out:
    free(logical);
    free(set);
    return st;
}

cs_status d365_lookups_describe(struct d365 *d, struct d365_table *t)
{
    char *path = NULL;
    json_t *doc = NULL, *spec;
    const char *col;
    cs_status st;
    if (!t->lookups || t->lookups_ready)
        return CS_OK;
    if (asprintf(&path,
                 "EntityDefinitions(LogicalName='%s')/ManyToOneRelationships?$select=ReferencingAttribute,"
                 "ReferencedEntity,ReferencingEntityNavigationPropertyName",
                 t->logical) < 0) {
        d->host->set_reason(d->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    st = d365_get_json(d, path, "reading the lookups' relationships", &doc);
    free(path);
    json_object_foreach (st == CS_OK ? t->lookups : NULL, col, spec)
        if ((st = resolve(d, t, col, spec, json_object_get(doc, "value"))) != CS_OK)
            break;
    json_decref(doc);
    if (st == CS_OK) {
        t->lookups_ready = 1;
        d->host->log(d->ctx, CS_LOG_INFO, "stream %s: %zu lookup(s) bound through their navigation properties",
                     t->stream, json_object_size(t->lookups));
    }
    return st;
}

int d365_lookup_bind(const struct d365_table *t, const char *column, const json_t *value, json_t *body, char *why,
                     size_t whylen)
{
    const json_t *spec = json_object_get(t->lookups, column);
    char name[300], ref[400];
    if (!spec)
        return 0;
    if (!value || json_is_null(value))
        return 1; /* no link: left out (a PATCH cannot clear a lookup with a bind) */
    if (!d365_is_guid(json_string_value(value))) {
        char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(why, whylen,
                 "%s must be the id (a GUID) of a %s row, not %.100s: no %s in Dynamics 365 can "
                 "have it",
                 column, json_string_value(json_object_get(spec, "logical")), text ? text : "?",
                 json_string_value(json_object_get(spec, "logical")));
        free(text);
        return -1;
    }
    snprintf(name, sizeof name, "%s@odata.bind", json_string_value(json_object_get(spec, "nav")));
    snprintf(ref, sizeof ref, "/%s(%s)", json_string_value(json_object_get(spec, "set")), json_string_value(value));
    json_object_set_new(body, name, json_string(ref));
    return 1;
}

int d365_lookup_missing(const struct d365_table *t, const cs_record *rec, const char *service_text, char *out,
                        size_t outlen)
{
    const char *col;
    json_t *spec;
    json_object_foreach (t->lookups, col, spec) {
        const char *id = json_string_value(json_object_get(cs_record_payload(rec), col));
        if (id && *id && strcasestr(service_text, id)) {
            snprintf(out, outlen,
                     "%s %s, which %s links to, does not exist in Dynamics 365 (HTTP 404: %s); once "
                     "it exists, redrive this dead letter",
                     json_string_value(json_object_get(spec, "logical")), id, col, service_text);
            return 1;
        }
    }
    return 0;
}
