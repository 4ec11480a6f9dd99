/*
 * d365_preflight.c - the dynamics365 connector's preflight (plugin ABI 1.4): what the workflows using
 * this connection need of the org, from the core's `need`, checked against the live
 * metadata: the credentials and the Web API (token, WhoAmI), each table a workflow reads (it exists,
 * change tracking is on, the mapped columns exist) or writes (it exists, an activity table when the
 * entity handler writes timeline activities, the columns it writes exist with compatible types, the
 * alternate key of tables.<target>.key exists and its index is Active), the application user's
 * privileges on them (RetrieveUserPrivileges), and the rows an initial load reads against Adobe's
 * guardrail. Each failed check says the fix: the setting, the Power Apps screen, or `crmsyncctl setup
 * dynamics365` (d365_setup.c) for what setup creates. The org's answers are read live and kept for the
 * run (struct d365_pf).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "d365.h"
#include "preflight/preflight_check.h"

#define INITIAL_LOAD_GUARDRAIL 15000000LL /* Adobe: "15 million total records for the initial sync" */
#define SETUP_FIX              "crmsyncctl setup dynamics365 creates it"

cs_status d365_pf_request(struct d365_pf *pf, const char *method, const char *path, const json_t *body, json_t **out)
{
    static const char *const json_hdr[] = {"Consistency: Strong", "Content-Type: application/json; charset=utf-8",
                                           "MSCRM.MergeLabels: true", NULL};
    struct d365 *d = pf->d;
    struct cshttp_response r = {0};
    char *url = NULL, *text = body ? json_dumps(body, JSON_COMPACT) : NULL, msg[600];
    cs_status st = CS_RETRY;

    if (out)
        *out = NULL;
    pf->why[0] = '\0';
    pf->http = 0;
    if (asprintf(&url, "%s/%s", d->api, path) < 0) {
        snprintf(pf->why, sizeof pf->why, "out of memory");
        free(text);
        return CS_RETRY;
    }
    st = d365_call(d, d->http, method, url, json_hdr, text, text ? strlen(text) : 0, path, &r);
    pf->http = r.status;
    if (st == CS_OK && strcmp(method, "GET") != 0)
        cshttp_docs_forget(d->docs); /* the metadata the connection's instances keep a while changed */
    if (st == CS_OK && out && r.body_len && !(*out = cshttp_response_json(&r))) {
        snprintf(pf->why, sizeof pf->why, "%s %s: the answer is not JSON", method, path);
        st = CS_RETRY;
    } else if (st != CS_OK && r.status) {
        d365_error_text(r.body, r.body_len, msg, sizeof msg);
        snprintf(pf->why, sizeof pf->why, "%s %s: HTTP %ld (%s)", method, path, r.status, msg);
    } else if (st != CS_OK) {
        snprintf(pf->why, sizeof pf->why, "%s %s: %s", method, path, *r.error ? r.error : "no answer");
    }
    cshttp_response_clear(&r);
    free(url);
    free(text);
    return st;
}

void d365_pf_add(struct d365_pf *pf, const char *workflow, const char *check, int ok, const char *fix, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    cs_preflight_vadd(pf->out, workflow, check, ok, fix, fmt, ap);
    va_end(ap);
}

/* ---- what the workflows need ------------------------------------------------------------------- */

/* The requirement of workflow `wf` on table `name` (added when absent). */
static json_t *requirement(struct d365_pf *pf, const char *wf, const char *name, const char *stream)
{
    json_t *r;
    size_t i;
    json_array_foreach (pf->needs, i, r)
        if (!strcmp(json_string_value(json_object_get(r, "workflow")), wf) &&
            !strcmp(json_string_value(json_object_get(r, "name")), name))
            return r;
    r = json_pack("{s:s, s:s, s:s, s:b, s:b, s:{}, s:b, s:b}", "workflow", wf, "name", name, "stream", stream, "read",
                  0, "write", 0, "columns", "activity", 0, "update_only", 0);
    json_array_append_new(pf->needs, r);
    return r;
}

/* A read column: lookups are read as _<name>_value, the column is <name>. */
static void add_read_column(json_t *columns, const char *name)
{
    size_t n = strlen(name);
    char base[256];
    if (n > 7 && name[0] == '_' && !strcmp(name + n - 6, "_value") && n - 7 < sizeof base) {
        snprintf(base, sizeof base, "%.*s", (int)(n - 7), name + 1);
        name = base;
    }
    if (!json_object_get(columns, name))
        json_object_set_new(columns, name, json_object());
}

/* One mapping element of a workflow, from the side `side`. */
static void add_mapping(struct d365_pf *pf, const char *wf, const char *side, const json_t *el)
{
    int sink = !strcmp(side, "sink");
    const char *stream = json_string_value(json_object_get(el, sink ? "target" : "stream")), *col;
    const struct d365_table *t = stream ? d365_table_for(pf->d, stream, 0) : NULL;
    const json_t *needs = json_object_get(el, "needs"), *v;
    json_t *r, *columns;
    size_t i;
    if (!stream)
        return;
    r = requirement(pf, wf, t && t->logical ? t->logical : stream, stream);
    columns = json_object_get(r, "columns");
    json_object_set_new(r, sink ? "write" : "read", json_true());
    if (!sink) {
        const json_t *cols = t && t->columns ? t->columns : json_object_get(el, "columns");
        json_array_foreach (cols, i, v)
            add_read_column(columns, json_string_value(v));
        return;
    }
    if (t && t->key)
        json_object_set(r, "key", t->key);
    if (t && t->update_only)
        json_object_set_new(r, "update_only", json_true());
    if (json_is_true(json_object_get(needs, "activity")))
        json_object_set_new(r, "activity", json_true());
    json_object_foreach ((json_t *)json_object_get(needs, "fields"), col, v)
        json_object_set(columns, col, (json_t *)v);
    json_array_foreach (t ? t->key : NULL, i, v)
        if (!json_object_get(columns, json_string_value(v)))
            json_object_set_new(columns, json_string_value(v),
                                json_pack("{s:s, s:i}", "type", "string", "max_length", 100));
}

static void needs_build(struct d365_pf *pf, const json_t *need)
{
    const json_t *wf, *el;
    size_t i, j;
    json_array_foreach (json_object_get(need, "workflows"), i, wf) {
        const char *id = json_string_value(json_object_get(wf, "id"));
        const char *side = json_string_value(json_object_get(wf, "side"));
        if (!id || !side)
            continue;
        json_array_foreach (json_object_get(wf, "mappings"), j, el)
            add_mapping(pf, id, side, el);
    }
}

/* ---- the org as it is ---------------------------------------------------------------------------- */

/* Dataverse logical and entity set names are letters, digits and "_". */
static int plain(const char *s)
{
    size_t n = strlen(s);
    return n && n < 128 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

cs_status d365_pf_table(struct d365_pf *pf, const char *name, json_t **state)
{
    json_t *doc = NULL, *e, *attrs = NULL, *keys = NULL;
    char *path = NULL;
    const char *logical;
    cs_status st;
    *state = json_object_get(pf->org, name);
    if (*state)
        return CS_OK;
    if (!plain(name)) {
        snprintf(pf->why, sizeof pf->why, "\"%s\" is not a table name (letters, digits and _)", name);
        return CS_FATAL;
    }
    if (asprintf(&path,
                 "EntityDefinitions?$select=LogicalName,SchemaName,EntitySetName,PrimaryIdAttribute,"
                 "ChangeTrackingEnabled,IsActivity&$filter=LogicalName%%20eq%%20'%s'%%20or%%20"
                 "EntitySetName%%20eq%%20'%s'",
                 name, name) < 0)
        return CS_RETRY;
    st = d365_pf_request(pf, "GET", path, NULL, &doc);
    free(path);
    e = json_array_get(json_object_get(doc, "value"), 0);
    logical = json_string_value(json_object_get(e, "LogicalName"));
    if (st == CS_OK && logical) {
        if (asprintf(&path, "EntityDefinitions(LogicalName='%s')/Attributes?$select=LogicalName,AttributeType",
                     logical) < 0)
            st = CS_RETRY;
        else
            st = d365_pf_request(pf, "GET", path, NULL, &attrs);
        free(path);
        if (st == CS_OK && asprintf(&path,
                                    "EntityDefinitions(LogicalName='%s')/Keys?$select=SchemaName,"
                                    "KeyAttributes,EntityKeyIndexStatus",
                                    logical) >= 0) {
            st = d365_pf_request(pf, "GET", path, NULL, &keys);
            free(path);
        }
    }
    if (st == CS_OK) {
        *state = logical ? json_pack("{s:O, s:O, s:O}", "entity", e, "attributes", json_object_get(attrs, "value"),
                                     "keys", json_object_get(keys, "value"))
                         : json_object(); /* {}: no such table */
        json_object_set_new(pf->org, name, *state);
    }
    json_decref(doc);
    json_decref(attrs);
    json_decref(keys);
    return st;
}

void d365_pf_forget(struct d365_pf *pf, const char *name)
{
    json_object_del(pf->org, name);
}

const char *d365_pf_attr_type(const json_t *state, const char *column)
{
    const json_t *a;
    size_t i;
    json_array_foreach (json_object_get(state, "attributes"), i, a) {
        const char *name = json_string_value(json_object_get(a, "LogicalName"));
        if (name && !strcmp(name, column))
            return json_string_value(json_object_get(a, "AttributeType"));
    }
    return NULL;
}

const json_t *d365_pf_key(const json_t *state, const json_t *columns)
{
    const json_t *k;
    size_t i;
    json_array_foreach (json_object_get(state, "keys"), i, k) {
        const json_t *attrs = json_object_get(k, "KeyAttributes");
        size_t hits = 0;
        for (size_t a = 0; a < json_array_size(attrs); a++)
            for (size_t b = 0; b < json_array_size(columns); b++)
                hits += json_equal(json_array_get(attrs, a), json_array_get(columns, b));
        if (hits == json_array_size(attrs) && hits == json_array_size(columns))
            return k;
    }
    return NULL;
}

int d365_pf_compatible(const json_t *want, const char *native)
{
    const char *type = json_string_value(json_object_get(want, "type")), *have = d365_normal_type(native);
    if (json_object_get(want, "lookup"))
        return !strcmp(native, "Lookup") || !strcmp(native, "Owner") || !strcmp(native, "Customer");
    if (!type)
        return 1;
    if (!strcmp(type, "date"))
        return !strcmp(have, "datetime");
    return !strcmp(type, have) || (!strcmp(type, "decimal") && !strcmp(have, "double"));
}

/* ---- the checks ---------------------------------------------------------------------------------- */

/* Credentials, the Web API and the application user: WhoAmI. 0, or -1 after a failed check. */
static int check_connection(struct d365_pf *pf)
{
    struct d365 *d = pf->d;
    char err[512] = "", *token = NULL;
    int64_t retry = -1;
    json_t *who = NULL;
    cs_status st = cshttp_token_get(d->token, d->http, 0, NULL, &token, &retry, err, sizeof err);
    cshttp_token_drop(token);
    if (st != CS_OK) {
        d365_pf_add(pf, NULL, "credentials", 0,
                    "check tenant, client_id and client_secret of this connection, and "
                    "authority when it is not Entra ID's",
                    "no token for %s: %s", d->org_url, err);
        return -1;
    }
    if (d365_pf_request(pf, "GET", "WhoAmI", NULL, &who) != CS_OK) {
        d365_pf_add(pf, NULL, "reachability", 0,
                    "check url and api_version of this connection, and that the app "
                    "registration has an application user in the org",
                    "token obtained, but %s", pf->why);
        json_decref(who);
        return -1;
    }
    snprintf(pf->user_id, sizeof pf->user_id, "%s",
             json_string_value(json_object_get(who, "UserId")) ? json_string_value(json_object_get(who, "UserId"))
                                                               : "");
    d365_pf_add(pf, NULL, "credentials and reachability", 1, NULL,
                "token obtained; org %s, Web API %s, organization "
                "%s, application user %s",
                d->org_url, strrchr(d->api, '/') + 1,
                json_string_value(json_object_get(who, "OrganizationId"))
                    ? json_string_value(json_object_get(who, "OrganizationId"))
                    : "?",
                pf->user_id);
    json_decref(who);
    return 0;
}

/* The application user's privilege names into pf->privileges (an object name -> true). */
static void read_privileges(struct d365_pf *pf)
{
    json_t *doc = NULL, *p;
    char *path = NULL;
    size_t i;
    if (!*pf->user_id ||
        asprintf(&path, "systemusers(%s)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()", pf->user_id) < 0)
        return;
    if (d365_pf_request(pf, "GET", path, NULL, &doc) == CS_OK) {
        pf->privileges = json_object();
        json_array_foreach (json_object_get(doc, "RolePrivileges"), i, p)
            if (json_string_value(json_object_get(p, "PrivilegeName")))
                json_object_set_new(pf->privileges, json_string_value(json_object_get(p, "PrivilegeName")),
                                    json_true());
    } else {
        d365_pf_add(pf, NULL, "privileges", 0,
                    "give the application user a security role that may read its own "
                    "privileges (or check them by hand)",
                    "cannot read the application user's privileges: %s", pf->why);
    }
    json_decref(doc);
    free(path);
}

/* Which of the privileges a requirement needs the user lacks, into `missing` ("" when none). */
static void missing_privileges(struct d365_pf *pf, const json_t *r, const char *schema, char *missing, size_t len)
{
    static const char *const reads[] = {"Read", NULL}, *const writes[] = {"Write", "Create", NULL};
    size_t n = 0;
    missing[0] = '\0';
    for (int w = 0; w < 2; w++) {
        if (!json_is_true(json_object_get(r, w ? "write" : "read")))
            continue;
        for (const char *const *p = w ? writes : reads; *p; p++) {
            char name[200];
            if (w && !strcmp(*p, "Create") && json_is_true(json_object_get(r, "update_only")))
                continue;
            snprintf(name, sizeof name, "prv%s%s", *p, schema);
            if (!json_object_get(pf->privileges, name) && !strstr(missing, name))
                n += (size_t)snprintf(missing + n, n < len ? len - n : 0, "%s%s", n ? ", " : "", name);
        }
    }
}

/* The columns of requirement `r` the table lacks, or has with another type, into the two lists. */
static void column_gaps(const json_t *r, const json_t *state, char *absent, char *wrong, size_t len)
{
    const char *col;
    json_t *want;
    size_t na = 0, nw = 0;
    absent[0] = wrong[0] = '\0';
    json_object_foreach ((json_t *)json_object_get(r, "columns"), col, want) {
        const char *native = d365_pf_attr_type(state, col);
        if (!native)
            na += (size_t)snprintf(absent + na, na < len ? len - na : 0, "%s%s", na ? ", " : "", col);
        else if (!d365_pf_compatible(want, native))
            nw += (size_t)snprintf(wrong + nw, nw < len ? len - nw : 0, "%s%s is %s, not %s", nw ? "; " : "", col,
                                   native, json_string_value(json_object_get(want, "type")));
    }
}

static void check_table(struct d365_pf *pf, const json_t *r)
{
    const char *wf = json_string_value(json_object_get(r, "workflow")),
               *name = json_string_value(json_object_get(r, "name"));
    const char *stream = json_string_value(json_object_get(r, "stream"));
    int write = json_is_true(json_object_get(r, "write")), read = json_is_true(json_object_get(r, "read"));
    const json_t *state, *e, *key = json_object_get(r, "key"), *k;
    char what[300], absent[1024], wrong[1024], fix[1200];

    snprintf(what, sizeof what, "table %s", name);
    if (d365_pf_table(pf, name, (json_t **)&state) != CS_OK) {
        d365_pf_add(pf, wf, what, 0, "see the detail", "cannot read its metadata: %s", pf->why);
        return;
    }
    if (!(e = json_object_get(state, "entity"))) {
        snprintf(fix, sizeof fix,
                 write && !read ? SETUP_FIX " (as the connection's tables.%s names it)"
                                : "name an existing table: tables.%s.table, or the mapping's stream",
                 stream);
        d365_pf_add(pf, wf, what, 0, fix, "no table has the logical or entity set name %s in %s", name, pf->d->org_url);
        return;
    }
    name = json_string_value(json_object_get(e, "LogicalName"));
    if (json_is_true(json_object_get(r, "activity")) && !json_is_true(json_object_get(e, "IsActivity")))
        d365_pf_add(pf, wf, what, 0,
                    "point tables.<target>.table at an activity table, or let crmsyncctl setup "
                    "dynamics365 create one under a new name",
                    "%s is not an activity table: its rows would not "
                    "show on the contact's Timeline",
                    name);
    else
        d365_pf_add(pf, wf, what, 1, NULL, "exists (entity set %s%s)",
                    json_string_value(json_object_get(e, "EntitySetName")),
                    json_is_true(json_object_get(e, "IsActivity")) ? ", an activity table" : "");
    if (read)
        d365_pf_add(pf, wf, "change tracking", json_is_true(json_object_get(e, "ChangeTrackingEnabled")),
                    "crmsyncctl setup dynamics365 turns it on (or Power Apps: Tables > the table > Properties > "
                    "Advanced options > Track changes)",
                    "%s: change tracking is %s", name,
                    json_is_true(json_object_get(e, "ChangeTrackingEnabled")) ? "on" : "off");
    column_gaps(r, state, absent, wrong, sizeof absent);
    snprintf(fix, sizeof fix, "%s", write ? SETUP_FIX : "correct the mapping's fields (or tables.<stream>.columns)");
    if (*absent)
        d365_pf_add(pf, wf, "columns", 0, fix, "%s lacks the column(s) %s", name, absent);
    if (*wrong)
        d365_pf_add(pf, wf, "column types", 0,
                    "crmsync never alters a column: give the column another name in the "
                    "configuration, or change the column in Power Apps",
                    "%s: %s", name, wrong);
    if (!*absent && !*wrong)
        d365_pf_add(pf, wf, "columns", 1, NULL, "%s has the %zu column(s) the workflow %s", name,
                    json_object_size(json_object_get(r, "columns")), write ? "writes" : "reads");
    if (key && !(k = d365_pf_key(state, key)))
        d365_pf_add(pf, wf, "alternate key", 0, SETUP_FIX, "%s has no alternate key on the column(s) of tables.%s.key",
                    name, stream);
    else if (key && strcmp(json_string_value(json_object_get(k, "EntityKeyIndexStatus"))
                               ? json_string_value(json_object_get(k, "EntityKeyIndexStatus"))
                               : "Active",
                           "Active"))
        d365_pf_add(pf, wf, "alternate key", 0,
                    !strcmp(json_string_value(json_object_get(k, "EntityKeyIndexStatus")), "Failed")
                        ? "rows of the table repeat a value of the key: remove the duplicates, then reactivate the key "
                          "(ReactivateEntityKey, or Power Apps: Tables > Keys)"
                        : "wait until its index is built (crmsyncctl setup dynamics365 waits for it)",
                    "%s: the index of the key %s is %s", name, json_string_value(json_object_get(k, "SchemaName")),
                    json_string_value(json_object_get(k, "EntityKeyIndexStatus")));
    else if (key)
        d365_pf_add(pf, wf, "alternate key", 1, NULL, "%s: the key %s is Active", name,
                    json_string_value(json_object_get(k, "SchemaName")));
    if (pf->privileges) {
        missing_privileges(pf, r, json_string_value(json_object_get(e, "SchemaName")), absent, sizeof absent);
        snprintf(fix, sizeof fix,
                 "add %s to a security role of the application user (Power Platform admin center: "
                 "Environments > the environment > Settings > Users + permissions > Security roles)",
                 absent);
        if (*absent)
            d365_pf_add(pf, wf, "privileges", 0, fix, "the application user lacks %s", absent);
        else
            d365_pf_add(pf, wf, "privileges", 1, NULL, "the application user may %s %s",
                        read && write ? "read and write"
                        : write       ? "write"
                                      : "read",
                        name);
    }
}

/* Adobe's guardrail on the rows of an initial load, per workflow that reads tables here. */
static void check_rows(struct d365_pf *pf, const char *wf)
{
    const json_t *r;
    char list[1024] = "", *path = NULL;
    size_t i, n = 0;
    long long total = 0;
    json_array_foreach (pf->needs, i, r) {
        const json_t *state = json_object_get(pf->org, json_string_value(json_object_get(r, "name")));
        const char *logical = json_string_value(json_object_get(json_object_get(state, "entity"), "LogicalName"));
        json_t *doc = NULL;
        if (strcmp(json_string_value(json_object_get(r, "workflow")), wf) ||
            !json_is_true(json_object_get(r, "read")) || !logical ||
            asprintf(&path, "RetrieveTotalRecordCount(EntityNames=@p1)?@p1=%%5B%%22%s%%22%%5D", logical) < 0)
            continue;
        if (d365_pf_request(pf, "GET", path, NULL, &doc) == CS_OK) {
            long long rows = json_integer_value(
                json_array_get(json_object_get(json_object_get(doc, "EntityRecordCountCollection"), "Values"), 0));
            total += rows;
            n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s %lld", n ? ", " : "", logical,
                                  rows);
        }
        json_decref(doc);
        free(path);
    }
    if (n) {
        json_t *item = cs_preflight_add(pf->out, wf, "initial load", 1, NULL,
                                        "%lld rows (%s); Adobe's guardrail is 15,000,000 for an initial "
                                        "load%s",
                                        total, list,
                                        total > INITIAL_LOAD_GUARDRAIL ? ": over it, split the load (filters) or "
                                                                         "plan it with Adobe"
                                                                       : "");
        if (item && total > INITIAL_LOAD_GUARDRAIL)
            json_object_set_new(item, "warning", json_true());
    }
}

static void run_checks(struct d365_pf *pf)
{
    const json_t *r;
    size_t i;
    read_privileges(pf);
    json_array_foreach (pf->needs, i, r)
        check_table(pf, r);
    json_array_foreach (pf->needs, i, r) {
        const char *wf = json_string_value(json_object_get(r, "workflow"));
        int first = 1;
        for (size_t k = 0; k < i; k++)
            first &= strcmp(json_string_value(json_object_get(json_array_get(pf->needs, k), "workflow")), wf) != 0;
        if (first)
            check_rows(pf, wf);
    }
}

cs_status d365_preflight(void *inst, const json_t *need, unsigned flags, json_t **out)
{
    struct d365_pf pf = {.d = inst, .flags = flags, .out = json_array(), .needs = json_array(), .org = json_object()};
    cs_status st = CS_OK;
    pf.d->docs_live = 1;
    needs_build(&pf, need);
    if (flags & CS_PREFLIGHT_SETUP)
        st = d365_setup(&pf);
    else if (check_connection(&pf) == 0)
        run_checks(&pf);
    pf.d->docs_live = 0;
    json_decref(pf.needs);
    json_decref(pf.org);
    json_decref(pf.privileges);
    *out = pf.out;
    return st;
}
