/*
 * email_case.c - the example plugin's stage "email-case": lowercases the e-mail addresses of the
 * payload members listed in `fields` (default ["email"]), so that "Info@Contoso.EXAMPLE" and
 * "info@contoso.example" are one address in Campaign. A mapping lists it by name with its options,
 * after the entity handler and the built-in stages:
 *     stages: [{name: email-case, fields: [email]}]
 * A value that is not a string is left as it is. Deletes pass untouched.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <crmsync/plugin.h>

#include "example.h"

struct email_case {
    json_t *fields; /* the member names, a copy of the option */
};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "fields", CS_OPT_LIST, 0, "[email]", "payload members holding an e-mail address"},
    {CS_SETTING_HEAD, NULL},
};

static cs_status email_case_create(const cs_host *host, cs_ctx *ctx, const json_t *opts, void **inst)
{
    struct email_case *e = calloc(1, sizeof *e);
    if (!e) {
        host->set_reason(ctx, 0, 0, "out of memory");
        return CS_FATAL;
    }
    e->fields = json_deep_copy(json_object_get(opts, "fields"));
    if (!json_is_array(e->fields)) {
        json_decref(e->fields);
        e->fields = json_pack("[s]", "email");
    }
    *inst = e;
    return CS_OK;
}

static cs_status email_case_apply(void *inst, cs_record **rec)
{
    struct email_case *e = inst;
    json_t *payload = cs_record_payload(*rec), *name;
    size_t i;
    if (cs_record_op(*rec) == CS_OP_DELETE)
        return CS_OK;
    json_array_foreach (e->fields, i, name) {
        const char *v = json_string_value(json_object_get(payload, json_string_value(name)));
        size_t n = v ? strlen(v) : 0;
        char *lower = v ? malloc(n + 1) : NULL; /* -std=c11: no strdup */
        if (!lower)
            continue;
        for (size_t k = 0; k <= n; k++)
            lower[k] = (char)tolower((unsigned char)v[k]);
        json_object_set_new(payload, json_string_value(name), json_string(lower));
        free(lower);
    }
    return CS_OK;
}

static void email_case_destroy(void *inst)
{
    struct email_case *e = inst;
    json_decref(e->fields);
    free(e);
}

const cs_stage example_email_case = {
    CS_HEAD(cs_stage),         .name = "email-case",
    .version = "1.0",          .description = "lowercases e-mail addresses (example plugin)",
    .settings = settings,      .create = email_case_create,
    .apply = email_case_apply, .destroy = email_case_destroy,
};
