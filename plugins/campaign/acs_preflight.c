/*
 * acs_preflight.c - the campaign connector's preflight (plugin ABI 1.4). Campaign's API cannot create
 * custom resources, identification keys or filters, so setup only says so; preflight checks what the
 * workflows using this connection need and, for what is missing, says exactly what to create in
 * Campaign's UI (the resource, its fields with types, the identification key, the filter, the links,
 * then Publish) and verifies it afterwards:
 *   - the credentials and the instance (token, the resources the API lists);
 *   - each target a workflow writes: the resource exists and is published, its key field is an
 *     identification key with a filter that looks a record up by it, its links exist (acs_describe.c);
 *   - Adobe's guardrails on what a workflow writes: 20 custom resources, 50 columns and 5 linked
 *     columns per mapping, a link chain of three tables at most (table1 -> table2 -> table3);
 *   - each source: the I/O Events journal answers (email events); the opt-out export directory holds a
 *     file younger than export_max_age (opt-outs).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"
#include "preflight/preflight_check.h"

#define MAX_CUSTOM_RESOURCES 20
#define MAX_COLUMNS          50
#define MAX_LINKS            5
#define MAX_CHAIN_TABLES     3 /* "table1->table2->table3" */

/* Campaign's name of a field type for the UI, from a describe() type of the source. */
static const char *ui_type(const char *type)
{
    static const char *const map[][2] = {{"boolean", "Boolean"}, {"integer", "Integer (32 bits)"},
                                         {"decimal", "Float"},   {"double", "Float"},
                                         {"date", "Date"},       {"datetime", "Date & time"}};
    for (size_t i = 0; type && i < sizeof map / sizeof *map; i++)
        if (!strcmp(type, map[i][0]))
            return map[i][1];
    return "Text";
}

/* What to create in Campaign's UI for mapping element `el` written to resource `resource`. */
static void ui_fix(const json_t *el, const char *resource, const char *key, char *out, size_t len)
{
    const json_t *m = json_object_get(el, "mapping"), *f, *link;
    const json_t *src = json_object_get(el, "source_fields");
    size_t i, n = 0;
    n += (size_t)snprintf(out + n, len - n,
                          "in Campaign, Administration > Development > Custom resources: %s%s "
                          "with the fields %s (Text)",
                          !strcmp(resource, "profile") ? "extend " : "create ", resource, key);
    json_array_foreach (json_object_get(m, "fields"), i, f) {
        const char *from = json_string_value(json_object_get(f, "source"));
        const char *to = json_string_value(json_object_get(f, "target"));
        const char *type = json_string_value(json_object_get(f, "type"));
        if (!type)
            type = json_string_value(json_object_get(json_object_get(src, from ? from : ""), "type"));
        if (to && n < len)
            n += (size_t)snprintf(out + n, len - n, ", %s (%s)", to, ui_type(type));
    }
    if (n < len)
        n += (size_t)snprintf(out + n, len - n,
                              "; Identification keys: a key on %s (Custom Identification Key, no "
                              "duplicates); Definition of filters: by%c%s with a parameter %s (%s equal to it)",
                              key, key[0] >= 'a' && key[0] <= 'z' ? key[0] - 'a' + 'A' : key[0], key + 1, key, key);
    json_array_foreach (json_object_get(json_object_get(m, "entity"), "links"), i, link)
        if (n < len)
            n += (size_t)snprintf(
                out + n, len - n, "; a link %s (0 or 1 cardinality simple link) to the resource of %s",
                json_string_value(json_object_get(link, "link")) ? json_string_value(json_object_get(link, "link"))
                                                                 : "?",
                json_string_value(json_object_get(link, "parent")) ? json_string_value(json_object_get(link, "parent"))
                                                                   : "?");
    if (n < len)
        snprintf(out + n, len - n,
                 "; then Administration > Development > Publishing: Prepare publication, Publish "
                 "(with Create the Profiles & Services Ext API checked); then run crmsyncctl preflight again");
}

static void check_target(struct acs *a, json_t *out, const char *wf, const json_t *el)
{
    const char *target = json_string_value(json_object_get(el, "target"));
    struct acs_target *t = target ? acs_target_find(a, target) : NULL;
    char what[300], fix[2400];
    if (!t && (acs_target_from_mapping(a, el) != CS_OK || !(t = acs_target_find(a, target)))) {
        cs_preflight_add(out, wf, "target", 0, "add the target under resources of this connection", "%s", a->err);
        return;
    }
    snprintf(what, sizeof what, "resource %s", t->resource);
    if (acs_describe_target(a, t) != CS_OK) {
        ui_fix(el, t->resource, t->key, fix, sizeof fix);
        cs_preflight_add(out, wf, what, 0, fix, "%s", a->err);
        return;
    }
    cs_preflight_add(out, wf, what, 1, NULL, "published; key %s is an identification key found by the filter %s(%s)",
                     t->key, t->filter, t->param);
}

/* The longest chain of links from `stream` up through its parents (0: it links nowhere). */
static int link_depth(const json_t *mappings, const char *stream, int guard)
{
    const json_t *el, *link;
    size_t i, j;
    int best = 0;
    if (guard > 8)
        return guard;
    json_array_foreach (mappings, i, el) {
        if (strcmp(json_string_value(json_object_get(el, "stream")) ? json_string_value(json_object_get(el, "stream"))
                                                                    : "",
                   stream))
            continue;
        json_array_foreach (json_object_get(json_object_get(json_object_get(el, "mapping"), "entity"), "links"), j,
                            link) {
            const char *parent = json_string_value(json_object_get(link, "parent"));
            int d = parent ? 1 + link_depth(mappings, parent, guard + 1) : 0;
            best = d > best ? d : best;
        }
    }
    return best;
}

/* After check_target() of every mapping: a target named under `resources` counts as its resource. */
static void guardrails(struct acs *a, json_t *out, const char *wf, const json_t *mappings)
{
    const json_t *el;
    size_t i, custom = 0, columns = 0, links = 0;
    int depth = 0;
    json_t *seen = json_object();
    json_array_foreach (mappings, i, el) {
        const char *target = json_string_value(json_object_get(el, "target"));
        const struct acs_target *t = acs_target_find(a, target);
        const json_t *m = json_object_get(el, "mapping");
        size_t c = json_array_size(json_object_get(m, "fields"));
        size_t l = json_array_size(json_object_get(json_object_get(m, "entity"), "links"));
        int d = link_depth(
            mappings,
            json_string_value(json_object_get(el, "stream")) ? json_string_value(json_object_get(el, "stream")) : "",
            0);
        if (t)
            target = t->resource;
        if (target && !strncmp(target, "cus", 3) && !json_object_get(seen, target)) {
            json_object_set_new(seen, target, json_true());
            custom++;
        }
        columns = c > columns ? c : columns;
        links = l > links ? l : links;
        depth = d > depth ? d : depth;
    }
    json_decref(seen);
    cs_preflight_add(out, wf, "guardrail: custom resources", custom <= MAX_CUSTOM_RESOURCES,
                     "map at most 20 custom tables (Adobe's "
                     "guardrail)",
                     "%zu custom resource(s) written (Adobe's guardrail: %d)", custom, MAX_CUSTOM_RESOURCES);
    cs_preflight_add(out, wf, "guardrail: columns", columns <= MAX_COLUMNS,
                     "map at most 50 columns per table (Adobe's guardrail)",
                     "at most %zu column(s) per mapping (Adobe's guardrail: %d)", columns, MAX_COLUMNS);
    cs_preflight_add(out, wf, "guardrail: links", links <= MAX_LINKS && depth + 1 <= MAX_CHAIN_TABLES,
                     "link at most 5 columns per "
                     "resource, in chains of at most three tables (Adobe's guardrail)",
                     "at most %zu linked column(s) per resource "
                     "(guardrail: %d), link chains of %d table(s) (guardrail: %d)",
                     links, MAX_LINKS, depth + 1, MAX_CHAIN_TABLES);
}

static void check_journal(struct acs *a, json_t *out, const char *wf)
{
    struct cshttp_response r = {0};
    char *url = NULL;
    cs_status st;
    if (!a->journal_url) {
        cs_preflight_add(out, wf, "I/O Events journal", 0,
                         "set journal_url to the Journaling URL of the I/O Events registration "
                         "(Adobe Developer Console: the project > the event registration > Journaling)",
                         "journal_url is not set");
        return;
    }
    if (asprintf(&url, "%s%slimit=1", a->journal_url, strchr(a->journal_url, '?') ? "&" : "?") < 0)
        return;
    st = acs_call(a, "GET", url, NULL, 1, &r);
    if (st == CS_OK)
        st = acs_classify(a, &r, "reading the journal");
    if (st == CS_OK)
        cs_preflight_add(out, wf, "I/O Events journal", 1, NULL, "the journal answers (HTTP %ld)", r.status);
    else
        cs_preflight_add(out, wf, "I/O Events journal", 0,
                         "check journal_url (Developer Console: the event registration > "
                         "Journaling) and that the project has the I/O Events API with Campaign's events",
                         "%s", a->err);
    cshttp_response_clear(&r);
    free(url);
}

static void check_export(struct acs *a, json_t *out, const char *wf)
{
    char *name = NULL;
    int64_t mtime = -1, age;
    const char *fix = "restart the opt-out export workflow in Campaign (Marketing plans > Workflows; Adobe sets it up "
                      "on request) and check export_url";
    if (!a->export_url) {
        cs_preflight_add(out, wf, "opt-out export", 0,
                         "set export_url to the directory Campaign's opt-out export writes to",
                         "export_url is not set");
        return;
    }
    if (acs_optout_newest(a, &name, &mtime) != CS_OK) {
        cs_preflight_add(out, wf, "opt-out export", 0, fix, "%s", a->err);
        return;
    }
    age = mtime >= 0 ? (int64_t)time(NULL) * 1000 - mtime : -1;
    if (!name)
        cs_preflight_add(out, wf, "opt-out export", 0, fix, "%s holds no export file yet", a->export_url);
    else if (a->export_max_age_ms > 0 && (age < 0 || age > a->export_max_age_ms))
        cs_preflight_add(out, wf, "opt-out export", 0, fix,
                         "the newest file, %s, is %lld h %02lld min old (export_max_age: %lld h)", name,
                         (long long)(age / 3600000), (long long)(age / 60000 % 60),
                         (long long)(a->export_max_age_ms / 3600000));
    else
        cs_preflight_add(out, wf, "opt-out export", 1, NULL, "the newest file, %s, is %lld min old", name,
                         (long long)(age >= 0 ? age / 60000 : 0));
    free(name);
}

static void check_workflow(struct acs *a, json_t *out, const json_t *wf)
{
    const char *id = json_string_value(json_object_get(wf, "id"));
    const json_t *mappings = json_object_get(wf, "mappings"), *el;
    int sink = !strcmp(
        json_string_value(json_object_get(wf, "side")) ? json_string_value(json_object_get(wf, "side")) : "", "sink");
    int journal = 0, export = 0;
    size_t i;
    json_array_foreach (mappings, i, el) {
        const char *stream = json_string_value(json_object_get(el, "stream"));
        if (sink)
            check_target(a, out, id, el);
        else if (stream && acs_events_kind(stream) >= 0 && !journal++)
            check_journal(a, out, id);
        else if (stream && !strcmp(stream, ACS_OPTOUT_STREAM) && !export ++)
            check_export(a, out, id);
    }
    if (sink)
        guardrails(a, out, id, mappings);
}

cs_status acs_preflight(void *inst, const json_t *need, unsigned flags, json_t **out)
{
    struct acs *a = inst;
    json_t *tables = NULL;
    const json_t *wf;
    size_t i;
    *out = json_array();
    if (flags & CS_PREFLIGHT_SETUP) {
        cs_preflight_add(*out, NULL, "setup", 0,
                         "run crmsyncctl preflight: it says what to create in Campaign's UI and checks it "
                         "afterwards",
                         "Campaign's API cannot create custom resources, identification keys or filters");
        return CS_OK;
    }
    if (acs_authenticate(a) != CS_OK) {
        cs_preflight_add(*out, NULL, "credentials", 0,
                         "check client_id, client_secret and ims_url of this connection (Adobe "
                         "Developer Console: the project's OAuth Server-to-Server credential)",
                         "no token: %s", a->err);
        return CS_OK;
    }
    a->docs_live = 1;
    if (acs_describe_stream(a, NULL, &tables) != CS_OK) {
        cs_preflight_add(*out, NULL, "reachability", 0,
                         "check url (https://mc.adobe.io/<instance>) and that the credential's "
                         "product profile includes the Campaign instance",
                         "token obtained, but %s", a->err);
        a->docs_live = 0;
        return CS_OK;
    }
    cs_preflight_add(*out, NULL, "credentials and reachability", 1, NULL,
                     "token obtained; instance %s, %zu resources listed", a->base,
                     json_array_size(json_object_get(tables, "tables")));
    json_decref(tables);
    json_array_foreach (json_object_get(need, "workflows"), i, wf)
        check_workflow(a, *out, wf);
    a->docs_live = 0;
    return CS_OK;
}
