/*
 * d365_setup.c - `crmsyncctl setup dynamics365`: creates in the org what the workflows need and the
 * Web API can create (Microsoft's "Create and update table definitions using the Web API"): a missing
 * table a workflow writes (POST EntityDefinitions; an activity table when the entity handler writes
 * timeline activities), the missing columns it writes (POST .../Attributes), the alternate key of
 * tables.<target>.key (POST .../Keys, then waiting until its index is Active), and change tracking on
 * every table a workflow reads (the definition read, ChangeTrackingEnabled set, PUT back whole: the
 * service takes no PATCH of a definition). It only adds: a column that exists is never altered or
 * deleted (a wrong type is a failed step naming the fix), and a run stopped half-way is completed by
 * the next, which finds what the first created. Nothing missing: no step at all. With
 * CS_PREFLIGHT_DRY_RUN every request is listed, none sent. A refusal for want of a privilege names it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "d365.h"

#define KEY_WAIT_S 300 /* how long to wait for an alternate key's index */

static json_t *label(const char *text)
{
    return json_pack("{s:[{s:s, s:i}]}", "LocalizedLabels", "Label", text, "LanguageCode", 1033);
}

/* The AttributeMetadata that creates column `name` holding what `want` describes; NULL for a lookup
 * (created with a relationship, which setup does not do). */
static json_t *column_body(const char *name, const json_t *want)
{
    const char *type = json_string_value(json_object_get(want, "type"));
    const char *text = json_string_value(json_object_get(want, "label"));
    json_int_t max = json_integer_value(json_object_get(want, "max_length"));
    json_t *b;
    if (json_object_get(want, "lookup") || !type)
        return NULL;
    b = json_pack("{s:s, s:o, s:{s:s, s:b, s:s}}", "SchemaName", name, "DisplayName", label(text ? text : name),
                  "RequiredLevel", "Value", "None", "CanBeChanged", 1, "ManagedPropertyLogicalName",
                  "canmodifyrequirementlevelsettings");
    if (!strcmp(type, "string") && max > 4000) {
        json_object_set_new(b, "@odata.type", json_string("Microsoft.Dynamics.CRM.MemoAttributeMetadata"));
        json_object_set_new(b, "AttributeType", json_string("Memo"));
        json_object_set_new(b, "MaxLength", json_integer(max));
    } else if (!strcmp(type, "string")) {
        json_object_set_new(b, "@odata.type", json_string("Microsoft.Dynamics.CRM.StringAttributeMetadata"));
        json_object_set_new(b, "AttributeType", json_string("String"));
        json_object_set_new(b, "MaxLength", json_integer(max ? max : 100));
        json_object_set_new(b, "FormatName", json_pack("{s:s}", "Value", "Text"));
    } else if (!strcmp(type, "datetime") || !strcmp(type, "date")) {
        json_object_set_new(b, "@odata.type", json_string("Microsoft.Dynamics.CRM.DateTimeAttributeMetadata"));
        json_object_set_new(b, "AttributeType", json_string("DateTime"));
        json_object_set_new(b, "Format", json_string(!strcmp(type, "date") ? "DateOnly" : "DateAndTime"));
    } else if (!strcmp(type, "boolean")) {
        json_object_set_new(b, "@odata.type", json_string("Microsoft.Dynamics.CRM.BooleanAttributeMetadata"));
        json_object_set_new(b, "AttributeType", json_string("Boolean"));
        json_object_set_new(b, "DefaultValue", json_false());
        json_object_set_new(b, "OptionSet",
                            json_pack("{s:{s:i, s:o}, s:{s:i, s:o}, s:s}", "TrueOption", "Value", 1, "Label",
                                      label("Yes"), "FalseOption", "Value", 0, "Label", label("No"), "OptionSetType",
                                      "Boolean"));
    } else if (!strcmp(type, "integer") || !strcmp(type, "decimal") || !strcmp(type, "double")) {
        const char *native = !strcmp(type, "integer") ? "Integer" : !strcmp(type, "decimal") ? "Decimal" : "Double";
        char odt[80];
        snprintf(odt, sizeof odt, "Microsoft.Dynamics.CRM.%sAttributeMetadata", native);
        json_object_set_new(b, "@odata.type", json_string(odt));
        json_object_set_new(b, "AttributeType", json_string(native));
    } else {
        json_decref(b);
        return NULL;
    }
    return b;
}

static json_t *table_body(const char *name, int activity)
{
    json_t *primary =
        json_pack("{s:s, s:s, s:b, s:i, s:o, s:{s:s}}", "@odata.type", "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                  "AttributeType", "String", "IsPrimaryName", 1, "MaxLength", 200, "DisplayName",
                  label(activity ? "Subject" : "Name"), "FormatName", "Value", "Text");
    char plural[200], primary_name[200];
    snprintf(plural, sizeof plural, "%ss", name);
    snprintf(primary_name, sizeof primary_name, "%s_name", name);
    json_object_set_new(primary, "SchemaName", json_string(activity ? "Subject" : primary_name));
    json_object_set_new(primary, "RequiredLevel",
                        json_pack("{s:s}", "Value", activity ? "ApplicationRequired" : "None"));
    return json_pack("{s:s, s:s, s:o, s:o, s:s, s:b, s:b, s:b, s:b, s:[o]}", "@odata.type",
                     "Microsoft.Dynamics.CRM.EntityMetadata", "SchemaName", name, "DisplayName", label(name),
                     "DisplayCollectionName", label(plural), "OwnershipType", "UserOwned", "IsActivity", activity,
                     "HasActivities", 0, "HasNotes", activity, "ChangeTrackingEnabled", 0, "Attributes", primary);
}

/* The privilege a 403 names ("... is missing prvCreateEntity privilege ..."), into out ("" when none). */
static void privilege_named(const char *why, char *out, size_t len)
{
    const char *p = strstr(why, "missing ");
    size_t n;
    out[0] = '\0';
    if (!p)
        return;
    p += 8;
    n = strcspn(p, " ,)");
    if (n && n < len && !strncmp(p + n, " privilege", 10))
        snprintf(out, len, "%.*s", (int)n, p);
}

/* Send one step (or only list it with --dry-run). 0 when it was done (or listed). */
static int step(struct d365_pf *pf, const char *wf, const char *what, const char *method, const char *path,
                const json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, privilege[128], fix[600];
    int done;
    if (pf->flags & CS_PREFLIGHT_DRY_RUN) {
        d365_pf_add(pf, wf, what, 1, NULL, "would send %s %s/%s%s%s", method, pf->d->api, path, text ? " " : "",
                    text ? text : "");
        json_object_set_new(json_array_get(pf->out, json_array_size(pf->out) - 1), "changed", json_true());
        free(text);
        return 0;
    }
    done = d365_pf_request(pf, method, path, body, NULL) == CS_OK;
    privilege_named(pf->why, privilege, sizeof privilege);
    if (*privilege)
        snprintf(fix, sizeof fix,
                 "give the application user a security role with the privilege %s (Power "
                 "Platform admin center: Environments > the environment > Settings > Security roles; System "
                 "Customizer has it), then run setup again",
                 privilege);
    else
        snprintf(fix, sizeof fix, "correct what the service names, then run setup again (what was created stays)");
    if (done)
        d365_pf_add(pf, wf, what, 1, NULL, "%s %s/%s", method, pf->d->api, path);
    else
        d365_pf_add(pf, wf, what, 0, fix, "%s%s%s", pf->why, *privilege ? ": the application user lacks " : "",
                    privilege);
    if (done)
        json_object_set_new(json_array_get(pf->out, json_array_size(pf->out) - 1), "changed", json_true());
    free(text);
    return done ? 0 : -1;
}

/* Poll the key on `columns` of `logical` until its index is Active (or Failed, or too long). */
static void wait_for_key(struct d365_pf *pf, const char *wf, const char *name, const char *logical,
                         const json_t *columns)
{
    time_t until = time(NULL) + KEY_WAIT_S;
    const char *status = "Pending";
    const json_t *state, *k;
    struct timespec pause = {1, 0};
    while (!strcmp(status, "Pending") || !strcmp(status, "InProgress")) {
        d365_pf_forget(pf, name);
        if (d365_pf_table(pf, name, (json_t **)&state) != CS_OK || !(k = d365_pf_key(state, columns))) {
            d365_pf_add(pf, wf, "alternate key index", 0, "run setup again", "%s: cannot read the key: %s", logical,
                        pf->why);
            return;
        }
        status = json_string_value(json_object_get(k, "EntityKeyIndexStatus"));
        status = status ? status : "Active";
        if ((strcmp(status, "Pending") && strcmp(status, "InProgress")) || time(NULL) >= until)
            break;
        nanosleep(&pause, NULL);
    }
    if (!strcmp(status, "Active"))
        d365_pf_add(pf, wf, "alternate key index", 1, NULL, "%s: the key's index is Active", logical);
    else
        d365_pf_add(pf, wf, "alternate key index", 0,
                    !strcmp(status, "Failed")
                        ? "rows repeat a value of the key: remove the duplicates, then reactivate the key (Power Apps: "
                          "Tables > Keys)"
                        : "run setup again later: it waits for the index again",
                    "%s: the key's index is %s", logical, status);
}

/* A lookup Dataverse gives every activity table. */
static int activity_lookup(const char *col)
{
    return !strcmp(col, "regardingobjectid") || !strcmp(col, "ownerid");
}

/* Create what requirement `r` (a table written) lacks: the table, its columns, its key. */
static void set_up_written(struct d365_pf *pf, const json_t *r, const json_t *state)
{
    const char *wf = json_string_value(json_object_get(r, "workflow")),
               *name = json_string_value(json_object_get(r, "name"));
    const json_t *e = json_object_get(state, "entity"), *key = json_object_get(r, "key"), *k;
    const char *col;
    int activity = e ? json_is_true(json_object_get(e, "IsActivity")) : json_is_true(json_object_get(r, "activity"));
    json_t *want, *body;
    char what[300], path[400], logical[200]; /* a copy: the state is read again as the steps change it */

    snprintf(logical, sizeof logical, "%s", e ? json_string_value(json_object_get(e, "LogicalName")) : name);
    if (!e) {
        snprintf(what, sizeof what, "create %stable %s", activity ? "activity " : "", name);
        body = table_body(name, activity);
        if (step(pf, wf, what, "POST", "EntityDefinitions", body) != 0) {
            json_decref(body);
            return;
        }
        json_decref(body);
        d365_pf_forget(pf, name);
        state = NULL; /* --dry-run: nothing was created, every column is to be */
        if (!(pf->flags & CS_PREFLIGHT_DRY_RUN) &&
            (d365_pf_table(pf, name, (json_t **)&state) != CS_OK || !json_object_get(state, "entity"))) {
            d365_pf_add(pf, wf, what, 0, "run setup again", "created, but not found afterwards: %s", pf->why);
            return;
        }
    }
    snprintf(path, sizeof path, "EntityDefinitions(LogicalName='%s')/Attributes", logical);
    json_object_foreach ((json_t *)json_object_get(r, "columns"), col, want) {
        const char *native = state ? d365_pf_attr_type(state, col) : NULL;
        if (native && !d365_pf_compatible(want, native)) {
            snprintf(what, sizeof what, "column %s.%s", logical, col);
            d365_pf_add(pf, wf, what, 0,
                        "crmsync never alters a column: give the column another name in the "
                        "configuration, or change it in Power Apps",
                        "it exists as %s, not %s", native, json_string_value(json_object_get(want, "type")));
        } else if (!native && !(activity && activity_lookup(col))) {
            snprintf(what, sizeof what, "create column %s.%s", logical, col);
            if (!(body = column_body(col, want)))
                d365_pf_add(pf, wf, what, 0,
                            "create the lookup in Power Apps (Tables > the table > Columns > New, "
                            "type Lookup)",
                            "setup does not create lookup columns");
            else
                step(pf, wf, what, "POST", path, body);
            json_decref(body);
        }
    }
    if (!key)
        return;
    if (!(pf->flags & CS_PREFLIGHT_DRY_RUN)) {
        d365_pf_forget(pf, name);
        if (d365_pf_table(pf, name, (json_t **)&state) != CS_OK)
            return;
    }
    k = state ? d365_pf_key(state, key) : NULL;
    if (k && !strcmp(json_string_value(json_object_get(k, "EntityKeyIndexStatus"))
                         ? json_string_value(json_object_get(k, "EntityKeyIndexStatus"))
                         : "Active",
                     "Active"))
        return;
    if (!k) {
        snprintf(what, sizeof what, "create alternate key of %s", logical);
        snprintf(path, sizeof path, "EntityDefinitions(LogicalName='%s')/Keys", logical);
        body = json_pack("{s:s+, s:o, s:O}", "SchemaName", json_string_value(json_array_get(key, 0)), "_key",
                         "DisplayName", label(json_string_value(json_array_get(key, 0))), "KeyAttributes", key);
        if (step(pf, wf, what, "POST", path, body) != 0) {
            json_decref(body);
            return;
        }
        json_decref(body);
    }
    if (!(pf->flags & CS_PREFLIGHT_DRY_RUN))
        wait_for_key(pf, wf, name, logical, key);
}

/* Turn change tracking on for a table read: the whole definition read, then PUT back. */
static void set_up_read(struct d365_pf *pf, const json_t *r, const json_t *state)
{
    const char *wf = json_string_value(json_object_get(r, "workflow")),
               *name = json_string_value(json_object_get(r, "name"));
    const json_t *e = json_object_get(state, "entity");
    const char *logical = json_string_value(json_object_get(e, "LogicalName"));
    json_t *md = NULL;
    char what[300], path[300];
    if (!e) {
        d365_pf_add(pf, wf, "table", 0, "name an existing table: tables.<stream>.table, or the mapping's stream",
                    "no table %s to read (setup creates only the tables workflows write)", name);
        return;
    }
    if (json_is_true(json_object_get(e, "ChangeTrackingEnabled")))
        return;
    snprintf(what, sizeof what, "turn on change tracking of %s", logical);
    snprintf(path, sizeof path, "EntityDefinitions(LogicalName='%s')", logical);
    if (!(pf->flags & CS_PREFLIGHT_DRY_RUN) && d365_pf_request(pf, "GET", path, NULL, &md) != CS_OK) {
        d365_pf_add(pf, wf, what, 0, "run setup again", "reading the definition: %s", pf->why);
        return;
    }
    if (!md)
        md = json_pack("{s:s, s:b}", "LogicalName", logical, "ChangeTrackingEnabled", 1);
    json_object_set_new(md, "ChangeTrackingEnabled", json_true());
    if (step(pf, wf, what, "PUT", path, md) == 0) /* PATCH of a definition is refused by the service */
        json_object_set_new((json_t *)e, "ChangeTrackingEnabled", json_true());
    json_decref(md);
}

cs_status d365_setup(struct d365_pf *pf)
{
    const json_t *r;
    json_t *state;
    size_t i;
    json_array_foreach (pf->needs, i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        if (d365_pf_table(pf, name, &state) != CS_OK) {
            d365_pf_add(pf, json_string_value(json_object_get(r, "workflow")), "read the org", 0,
                        "check the connection (crmsyncctl preflight)", "%s", pf->why);
            return CS_OK;
        }
        if (json_is_true(json_object_get(r, "write")) && !json_is_true(json_object_get(r, "update_only")))
            set_up_written(pf, r, state);
        if (json_is_true(json_object_get(r, "read")) && d365_pf_table(pf, name, &state) == CS_OK)
            set_up_read(pf, r, state);
    }
    return CS_OK;
}
