/*
 * account.c - an example third-party crmsync plugin, built out of tree with `pkg-config crmsync-plugin`
 * only (see GNUmakefile and README.md), and its descriptor. It provides one entity handler, "account"
 * (here), and one stage, "email-case" (email_case.c). The entity handler turns Dynamics 365
 * account rows into records of a Campaign custom resource (for example cusCompany), with its own
 * validation: an account without a name, with a name longer than the resource's field, with a malformed
 * e-mail address or a negative number of employees is rejected, so it becomes a dead letter that
 * names the reason instead of a half-written company in Campaign.
 *
 * Concurrency: the core creates one instance per reader and never calls one instance from two threads;
 * this file keeps no global mutable state.
 * Idempotency key: the account id (the source's key), written as the resource's externalId, so the
 * Campaign sink upserts and deletes by it and a re-sent batch changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include <crmsync/plugin.h>

#include "example.h"

struct account {
    const cs_host *host;
    cs_ctx *ctx;
    int require_email;
    json_int_t max_name_length;
};

/* The option table states each range: crmsyncd refuses a value outside it at its file:line:col before
 * create() is called. */
static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "require_email", CS_OPT_BOOL, 0, "false",
     "reject an account without a primary e-mail (emailaddress1)"},
    {CS_SETTING_HEAD, "max_name_length", CS_OPT_INT, 0, "100",
     "longest accepted name (the length of the resource's name field)", .min = 1, .max = INT64_MAX},
    {CS_SETTING_HEAD, NULL},
};

/* Options are valid only during create(): copy what is kept. */
static cs_status account_create(const cs_host *host, cs_ctx *ctx, const json_t *opts, void **inst)
{
    struct account *a;
    json_int_t max = json_integer_value(json_object_get(opts, "max_name_length"));

    if (!(a = calloc(1, sizeof *a))) {
        host->set_reason(ctx, 0, 0, "out of memory");
        return CS_FATAL;
    }
    a->host = host;
    a->ctx = ctx;
    a->require_email = json_is_true(json_object_get(opts, "require_email"));
    a->max_name_length = max;
    *inst = a;
    return CS_OK;
}

/* local@domain.tld: one '@', something before it, a dot inside the domain, no spaces. */
static int email_ok(const char *s)
{
    const char *at = strchr(s, '@'), *dot;
    if (!at || at == s || strchr(at + 1, '@') || strpbrk(s, " \t"))
        return 0;
    dot = strrchr(at + 1, '.');
    return dot && dot > at + 1 && dot[1] != '\0';
}

/* NULL when the row is acceptable, else why not (a static string). */
static const char *invalid(const struct account *a, const json_t *row, json_int_t *employees)
{
    const char *name = json_string_value(json_object_get(row, "name"));
    const json_t *email = json_object_get(row, "emailaddress1"), *n = json_object_get(row, "numberofemployees");

    if (!name || !*name)
        return "the account has no name";
    if ((json_int_t)strlen(name) > a->max_name_length)
        return "the name is longer than max_name_length";
    if (json_is_string(email) && *json_string_value(email) && !email_ok(json_string_value(email)))
        return "emailaddress1 is not an e-mail address";
    if (a->require_email && !(json_is_string(email) && *json_string_value(email)))
        return "the account has no emailaddress1 (require_email is on)";
    if (n && !json_is_null(n) && (!json_is_integer(n) || json_integer_value(n) < 0))
        return "numberofemployees is negative or not a whole number";
    *employees = json_is_integer(n) ? json_integer_value(n) : -1;
    return NULL;
}

/* Owns *rec during the call: the payload is replaced by the custom resource's fields. A delete keeps
 * its key and passes unchanged. CS_REJECT leaves *rec to the core, which dead-letters it. */
static cs_status account_prepare(void *inst, cs_record **rec)
{
    struct account *a = inst;
    const json_t *row = cs_record_payload(*rec);
    const char *key = cs_record_key(*rec), *why, *email, *city;
    json_int_t employees = -1;
    json_t *out;

    if (cs_record_op(*rec) == CS_OP_DELETE)
        return CS_OK;
    if ((why = invalid(a, row, &employees))) {
        a->host->set_reason(a->ctx, 0, 0, "account %s: %s", key, why);
        a->host->metric_add(a->ctx, "accounts_rejected", 1);
        return CS_REJECT;
    }
    out = json_pack("{s:s, s:s}", "externalId", key, "name", json_string_value(json_object_get(row, "name")));
    if (!out) {
        a->host->set_reason(a->ctx, 0, 0, "account %s: out of memory", key);
        return CS_RETRY;
    }
    if ((email = json_string_value(json_object_get(row, "emailaddress1"))) && *email)
        json_object_set_new(out, "email", json_string(email));
    if (employees >= 0)
        json_object_set_new(out, "employees", json_integer(employees));
    if ((city = json_string_value(json_object_get(row, "address1_city"))) && *city)
        json_object_set_new(out, "city", json_string(city));
    cs_record_set_payload(*rec, out); /* steals out, drops the row */
    a->host->metric_add(a->ctx, "accounts_prepared", 1);
    return CS_OK;
}

static void account_destroy(void *inst)
{
    free(inst);
}

static const cs_entity account_entity = {
    CS_HEAD(cs_entity),
    .name = "account",
    .version = "1.0",
    .description = "Dynamics 365 accounts to a Campaign custom resource, validated (example plugin)",
    .settings = settings,
    .create = account_create,
    .prepare = account_prepare,
    .destroy = account_destroy,
};
static const cs_entity *const entities[] = {&account_entity, NULL};
static const cs_stage *const stages[] = {&example_email_case, NULL};
static const cs_plugin plugin = {CS_HEAD(cs_plugin), .name = "example-account", .version = "1.0", .entities = entities,
                                 .stages = stages};

CS_PLUGIN_ENTRY(plugin)
