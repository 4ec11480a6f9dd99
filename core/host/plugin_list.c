/*
 * plugin_list.c - prints every loaded plugin, its version and ABI, and each component with its
 * options: type, required/secret/path flags, default, range or choices and help, as text (name, type
 * and flags in columns as wide as their longest entry) or as JSON (see plugin_list.h).
 */
#include "plugin_list.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "loader.h"
#include "loader_options.h"
#include "util/util.h"

static const char *const kind_names[] = {"connector", "entity", "stage"};

/* A bound of option `o` as it is written in the configuration (a duration for durations). New. */
static char *bound_text(const cs_setting *o, int64_t n)
{
    return o->type == CS_OPT_DURATION ? cs_config_duration_text(n) : cs_xasprintf("%" PRId64, n);
}

/* " range 1-1024", " at least 1s" or " one of a, b, c" for an option that states them, else "". New. */
static char *limits_text(const cs_setting *o)
{
    char *low, *high, *out;

    if (o->choices) {
        out = cs_xstrdup(" one of ");
        for (const char *const *ch = o->choices; *ch; ch++) {
            char *longer = cs_xasprintf("%s%s%s", out, ch == o->choices ? "" : ", ", *ch);
            free(out);
            out = longer;
        }
        return out;
    }
    if (o->min >= o->max)
        return cs_xstrdup("");
    low = bound_text(o, o->min);
    high = bound_text(o, o->max);
    out = o->max == INT64_MAX ? cs_xasprintf(" at least %s", low) : cs_xasprintf(" range %s-%s", low, high);
    free(low);
    free(high);
    return out;
}

/* "required, secret, path" as they apply (new). */
static char *flag_words(const cs_setting *o)
{
    return cs_xasprintf("%s%s%s%s%s", (o->flags & CS_OPT_REQUIRED) ? "required" : "",
                        (o->flags & CS_OPT_REQUIRED) && (o->flags & (CS_OPT_SECRET | CS_OPT_PATH)) ? ", " : "",
                        (o->flags & CS_OPT_SECRET) ? "secret" : "",
                        (o->flags & CS_OPT_SECRET) && (o->flags & CS_OPT_PATH) ? ", " : "",
                        (o->flags & CS_OPT_PATH) ? "path" : "");
}

/* " (default X, range A-B)": the default, or where a secret comes from, and the range or choices; "" when
 * there is none of them. New. */
static char *default_words(const cs_setting *o)
{
    char *limits = limits_text(o), *def, *out;
    if (o->flags & CS_OPT_SECRET)
        def = cs_xasprintf("set %s_file or %s_env", o->name, o->name);
    else
        def = o->default_value ? cs_xasprintf("default %s", o->default_value) : cs_xstrdup("");
    out = *def || *limits ? cs_xasprintf(" (%s%s%s)", def, *def && *limits ? "," : "", *def ? limits : limits + 1)
                          : cs_xstrdup("");
    free(def);
    free(limits);
    return out;
}

static int widest(int have, int len)
{
    return len > have ? len : have;
}

/* One option a line: name, type and flags in columns as wide as their longest entry (however long a
 * name is), then the help with the default and the range or choices in parentheses. */
static void print_options(const cs_setting *opts, FILE *out)
{
    int name_w = 0, type_w = 0, flags_w = 0;
    if (!opts[0].name) {
        fputs("      (no options)\n", out);
        return;
    }
    for (const cs_setting *o = opts; o->name; o++) {
        char *flags = flag_words(o);
        name_w = widest(name_w, (int)strlen(o->name));
        type_w = widest(type_w, (int)strlen(cs_option_type_name(o->type)));
        flags_w = widest(flags_w, (int)strlen(flags));
        free(flags);
    }
    for (const cs_setting *o = opts; o->name; o++) {
        char *flags = flag_words(o), *def = default_words(o);
        char *line = cs_xasprintf("      %-*s  %-*s  %-*s  %s%s", name_w, o->name, type_w, cs_option_type_name(o->type),
                                  flags_w, flags, o->help ? o->help : "", def);
        size_t len = strlen(line);
        while (len > 0 && line[len - 1] == ' ')
            line[--len] = '\0';
        fprintf(out, "%s\n", line);
        free(line);
        free(flags);
        free(def);
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

/* A bound of option `o` for the JSON listing: an integer, or a duration as written. New. */
static json_t *bound_json(const cs_setting *o, int64_t n)
{
    char *text;
    json_t *v;

    if (o->type != CS_OPT_DURATION)
        return json_integer((json_int_t)n);
    text = cs_config_duration_text(n);
    v = json_string(text);
    free(text);
    return v;
}

static json_t *options_json(const cs_setting *opts)
{
    json_t *list = json_array();
    for (const cs_setting *o = opts; o->name; o++) {
        json_t *entry = json_pack("{s:s, s:s, s:b, s:b, s:b, s:s?, s:s?}", "name", o->name, "type",
                                  cs_option_type_name(o->type), "required", (o->flags & CS_OPT_REQUIRED) != 0, "secret",
                                  (o->flags & CS_OPT_SECRET) != 0, "path", (o->flags & CS_OPT_PATH) != 0, "default",
                                  (o->flags & CS_OPT_SECRET) ? NULL : o->default_value, "help", o->help);
        if (o->min < o->max)
            json_object_set_new(entry, "min", bound_json(o, o->min));
        if (o->min < o->max && o->max != INT64_MAX)
            json_object_set_new(entry, "max", bound_json(o, o->max));
        if (o->choices) {
            json_t *choices = json_array();
            for (const char *const *ch = o->choices; *ch; ch++)
                json_array_append_new(choices, json_string(*ch));
            json_object_set_new(entry, "choices", choices);
        }
        json_array_append_new(list, entry);
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
    return json_pack("{s:s, s:s, s:o, s:s?, s:o}", "kind", kind_names[c->kind], "name", cs_component_name(c), "caps",
                     caps, "description", desc, "options", options_json(cs_component_options(c)));
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
                                                 json_sprintf("%u.%u", lp->desc.abi_major, lp->desc.abi_minor), "path",
                                                 lp->path, "components", components));
    }
    text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    fprintf(out, "%s\n", text ? text : "{}");
    free(text);
    json_decref(doc);
}
