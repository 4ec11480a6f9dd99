/*
 * loader.h - loading plugins and the registry of what they provide. loader.c is the only module that
 * touches libltdl. Plugins are loaded once, in the main thread, before any workflow starts, and stay
 * loaded until the daemon exits. Every descriptor is validated (magic, ABI major and minor, struct
 * size, required callbacks, unique names, option table) and copied into a zeroed core-side struct, so
 * members a plugin's older header did not have read as NULL.
 */
#ifndef CS_LOADER_H
#define CS_LOADER_H

#include <crmsync/plugin.h>

enum cs_component_kind { CS_KIND_CONNECTOR, CS_KIND_ENTITY, CS_KIND_STAGE };

struct cs_loaded_plugin {
    char *path; /* the file actually loaded */
    void *handle;
    cs_plugin desc;
};

struct cs_component {
    enum cs_component_kind kind;
    const struct cs_loaded_plugin *plugin;
    union {
        cs_connector connector;
        cs_entity entity;
        cs_stage stage;
    } u;
    cs_setting *settings; /* its option table, whichever the plugin gave (see loader_options.h) */
};

struct cs_registry {
    struct cs_loaded_plugin **plugins;
    size_t n_plugins;
    struct cs_component **components;
    size_t n_components;
    int ltdl_ready;
};

struct cs_registry *cs_registry_new(void);
/* Unloads every plugin; call only when no instance is left. */
void cs_registry_free(struct cs_registry *reg);

/*
 * Load one plugin. `name` is a short name resolved in `plugin_dir` (trying NAME.la then NAME.so) or an
 * absolute path. On refusal *err (new) names the file and the cause, and nothing is registered.
 */
int cs_loader_load(struct cs_registry *reg, const char *plugin_dir, const char *name, char **err);

/* Look a component up by kind and name; NULL when no loaded plugin provides it. */
const struct cs_component *cs_registry_find(const struct cs_registry *reg, enum cs_component_kind kind,
                                            const char *name);
/* Names of every component of a kind, comma separated, for error hints (new string). */
char *cs_registry_names(const struct cs_registry *reg, enum cs_component_kind kind);

/* The component's name and option table (never NULL; ranges and choices zero for an ABI 1.0 table),
 * whatever its kind. */
const char *cs_component_name(const struct cs_component *c);
const cs_setting *cs_component_options(const struct cs_component *c);

#endif
