/*
 * plugin_list.c - prints every loaded plugin, its version and ABI, and each component with its
 * options: type, required/secret flags, default and help, as text or as JSON (see plugin_list.h).
 */
#include "plugin_list.h"

#include <stdlib.h>

#include "loader.h"

static const char *const type_names[] = {"string", "int", "bool", "duration", "list", "json"};
static const char *const kind_names[] = {"connector", "entity", "stage"};

static void print_options(const cs_option *opts, FILE *out)
{
    if (!opts || !opts[0].name) {
        fputs("      (no options)\n", out);
        return;
    }
    for (const cs_option *o = opts; o->name; o++) {
        const char *type = (unsigned)o->type < sizeof type_names / sizeof type_names[0] ? type_names[o->type] : "?";
        fprintf(out, "      %-22s %-8s %-8s %-6s", o->name, type, (o->flags & CS_OPT_REQUIRED) ? "required" : "",
                (o->flags & CS_OPT_SECRET) ? "secret" : "");
        if (o->flags & CS_OPT_SECRET)
            fprintf(out, " (set %s_file or %s_env)", o->name, o->name);
        else if (o->default_value)
            fprintf(out, " default %s", o->default_value);
        fprintf(out, "  %s\n", o->help ? o->help : "");
    }
}

void cs_plugin_list_print(const struct cs_registry *reg, FILE *out)
{
    if (reg->n_plugins == 0)
        fputs("no plugins are listed under `plugins` in the configuration\n", out);
    for (size_t p = 0; p < reg->n_plugins; p++) {
        const struct cs_loaded_plugin *lp = reg->plugins[p];
        fprintf(out, "%s %s (plugin ABI %u.%u) %s\n", lp->desc.name, lp->desc.version ? lp->desc.version : "?",
                lp->desc.abi_major, lp->desc.abi_minor, lp->path);
        for (size_t i = 0; i < reg->n_components; i++) {
            const struct cs_component *c = reg->components[i];
            const char *desc;
            if (c->plugin != lp)
                continue;
            desc = c->kind == CS_KIND_CONNECTOR ? c->u.connector.description
                   : c->kind == CS_KIND_ENTITY  ? c->u.entity.description
                                                : c->u.stage.description;
            fprintf(out, "  %s %s", kind_names[c->kind], cs_component_name(c));
            if (c->kind == CS_KIND_CONNECTOR)
                fprintf(out, " [%s%s%s]", (c->u.connector.caps & CS_CAP_SOURCE) ? "source" : "",
                        (c->u.connector.caps & CS_CAP_SOURCE) && (c->u.connector.caps & CS_CAP_SINK) ? ", " : "",
                        (c->u.connector.caps & CS_CAP_SINK) ? "sink" : "");
            fprintf(out, ": %s\n", desc ? desc : "");
            print_options(cs_component_options(c), out);
        }
    }
}

static json_t *options_json(const cs_option *opts)
{
    json_t *list = json_array();
    for (const cs_option *o = opts; o && o->name; o++) {
        const char *type = (unsigned)o->type < sizeof type_names / sizeof type_names[0] ? type_names[o->type] : "?";
        json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:b, s:s?, s:s?}", "name", o->name, "type", type,
                                              "required", (o->flags & CS_OPT_REQUIRED) != 0, "secret",
                                              (o->flags & CS_OPT_SECRET) != 0, "default",
                                              (o->flags & CS_OPT_SECRET) ? NULL : o->default_value, "help", o->help));
    }
    return list;
}

static json_t *component_json(const struct cs_component *c)
{
    json_t *caps = json_array();
    const char *desc = c->kind == CS_KIND_CONNECTOR ? c->u.connector.description
                       : c->kind == CS_KIND_ENTITY  ? c->u.entity.description
                                                    : c->u.stage.description;
    if (c->kind == CS_KIND_CONNECTOR && (c->u.connector.caps & CS_CAP_SOURCE))
        json_array_append_new(caps, json_string("source"));
    if (c->kind == CS_KIND_CONNECTOR && (c->u.connector.caps & CS_CAP_SINK))
        json_array_append_new(caps, json_string("sink"));
    return json_pack("{s:s, s:s, s:o, s:s?, s:o}", "kind", kind_names[c->kind], "name", cs_component_name(c),
                     "caps", caps, "description", desc, "options", options_json(cs_component_options(c)));
}

void cs_plugin_list_print_json(const struct cs_registry *reg, FILE *out)
{
    json_t *doc = json_object(), *plugins = json_array();
    char *text;
    json_object_set_new(doc, "plugins", plugins);
    for (size_t p = 0; p < reg->n_plugins; p++) {
        const struct cs_loaded_plugin *lp = reg->plugins[p];
        json_t *components = json_array();
        for (size_t i = 0; i < reg->n_components; i++)
            if (reg->components[i]->plugin == lp)
                json_array_append_new(components, component_json(reg->components[i]));
        json_array_append_new(plugins, json_pack("{s:s, s:s?, s:o, s:s, s:o}", "name", lp->desc.name, "version",
                                                 lp->desc.version, "abi",
                                                 json_sprintf("%u.%u", lp->desc.abi_major, lp->desc.abi_minor),
                                                 "path", lp->path, "components", components));
    }
    text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    fprintf(out, "%s\n", text ? text : "{}");
    free(text);
    json_decref(doc);
}
