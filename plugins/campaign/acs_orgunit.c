/*
 * acs_orgunit.c - the option org_unit: the organizational unit new records get on a partitioned
 * instance (Adobe's Organizational units pages: units are listed at profileAndServicesExt/orgUnitBase,
 * and a profile is assigned one with {"orgUnit": {"PKey": ...}}, without which users of other units may
 * not see it). start() finds the unit by name in orgUnitBase and checks that the profile targets have
 * the orgUnit link (the profile extension with the Organizational unit field, published); creates of a
 * target whose resource has that link carry the unit. Updates leave a record's unit as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define ORG_UNIT_LINK "orgUnit"

/* Look for the unit named a->org_unit on the page of `doc`; appends the names seen to `seen`. */
static int find_unit(struct acs *a, const json_t *doc, char *seen, size_t len)
{
    size_t i, used = strlen(seen);
    json_t *u;
    json_array_foreach (json_object_get(doc, "content"), i, u) {
        const char *name = json_string_value(json_object_get(u, "name"));
        const char *pk = json_string_value(json_object_get(u, "PKey"));
        if (name && pk && strcmp(name, a->org_unit) == 0)
            return (a->org_unit_pkey = strdup(pk)) ? 1 : -1;
        if (name && used < len)
            used += (size_t)snprintf(seen + used, len - used, "%s%s", used ? ", " : "", name);
    }
    return 0;
}

/* The PKey of the unit named a->org_unit, read from orgUnitBase (every page). */
static cs_status resolve_unit(struct acs *a)
{
    char *url = NULL, seen[512] = "";
    cs_status st = CS_OK;
    int found = 0;
    if (asprintf(&url, "%s/profileAndServicesExt/orgUnitBase?_lineCount=100&_forcePagination=true", a->base) < 0)
        return acs_fail(a, 0, "out of memory"), CS_RETRY;
    while (st == CS_OK && url && !found) {
        json_t *doc;
        st = acs_get_page(a, url, "org_unit: listing the organizational units (orgUnitBase)",
                          "Campaign serves orgUnitBase under profileAndServicesExt once the Profiles & Services Ext "
                          "API is published",
                          &doc);
        free(url);
        url = NULL;
        if (st == CS_OK && (found = find_unit(a, doc, seen, sizeof seen)) == 0)
            url = acs_url(a, json_string_value(json_object_get(json_object_get(doc, "next"), "href")));
        json_decref(doc);
    }
    free(url);
    if (st == CS_OK && found < 0)
        acs_fail(a, 0, "out of memory"), st = CS_RETRY;
    else if (st == CS_OK && !found)
        acs_fail(a, 0,
                 "org_unit: Campaign has no organizational unit named '%s' (orgUnitBase lists: %s); set "
                 "org_unit to the name of one",
                 a->org_unit, *seen ? seen : "none"),
            st = CS_FATAL;
    return st;
}

static int has_unit_link(const struct acs_target *t)
{
    const char *type = json_string_value(json_object_get(json_object_get(t->meta, ORG_UNIT_LINK), "type"));
    return type && strcmp(type, "link") == 0;
}

cs_status acs_org_unit_start(struct acs *a)
{
    cs_status st;
    if (!a->org_unit)
        return CS_OK;
    free(a->org_unit_pkey);
    a->org_unit_pkey = NULL;
    if ((st = resolve_unit(a)) != CS_OK)
        return st;
    for (size_t i = 0; i < a->ntargets; i++) {
        const struct acs_target *t = &a->targets[i];
        if (has_unit_link(t) || !strcmp(t->stream, ACS_OPTOUT_STREAM)) /* opt-outs never creates */
            continue;
        if (!strcmp(t->resource, "profile")) {
            acs_fail(a, 0,
                     "org_unit: the profile resource has no orgUnit link (target %s): in Campaign, extend the "
                     "profile resource with the Organizational unit field (partitioning profiles) and publish "
                     "the Profiles & Services Ext API, or remove org_unit",
                     t->stream);
            return CS_FATAL;
        }
        a->host->log(a->ctx, CS_LOG_NOTICE,
                     "target %s: Campaign resource '%s' has no orgUnit link; its records are "
                     "created without an organizational unit",
                     t->stream, t->resource);
    }
    a->host->log(a->ctx, CS_LOG_INFO, "new records get organizational unit %s", a->org_unit);
    return CS_OK;
}

json_t *acs_org_unit_body(const struct acs *a, const struct acs_target *t, json_t *body)
{
    json_t *out;
    if (!a->org_unit_pkey || !has_unit_link(t) || json_object_get(body, ORG_UNIT_LINK))
        return json_incref(body);
    if ((out = json_copy(body)))
        json_object_set_new(out, ORG_UNIT_LINK, json_pack("{s:s}", "PKey", a->org_unit_pkey));
    return out;
}
