/*
 * adobe.c - adobe.so: the descriptor listing its entity handlers, "email-activity" (email_activity.c)
 * and "opt-in-out" (optinout.c), and the small helpers they share.
 */
#include "adobe.h"

static const cs_entity *const entities[] = {&adobe_email_activity, &adobe_opt_in_out, NULL};

static const cs_plugin plugin = {
    CS_HEAD(cs_plugin),
    .name = "adobe",
    .version = "1.0",
    .entities = entities,
};

const char *adobe_opt_str(const json_t *options, const char *name)
{
    const char *s = json_string_value(json_object_get(options, name));
    return s && *s ? s : NULL;
}

CS_PLUGIN_ENTRY(plugin)
