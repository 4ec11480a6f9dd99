/*
 * plugin_list.c - prints every loaded plugin, its version and ABI, and each component with its
 * options: type, required/secret flags, default and help (see plugin_list.h).
 */
#include "plugin_list.h"

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
