/*
 * config.c - the configuration file (see config.h and doc/configuration.md), put together from its parts:
 * the text read (yaml_read.c), the drop-ins merged (dropins.c), the whole checked against the core schema
 * (core_schema.c) by the checker (schema.c); plugin options and single workflow definitions checked the
 * same way.
 */
#include "config_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* The absolute directory of file `path` (new): relative paths in it are taken from there. */
static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? cs_xasprintf("%.*s", (int)(slash == path ? 1 : slash - path), path) : cs_xstrdup(".");
    char *abs = realpath(dir, NULL);
    if (!abs) { /* the file cannot be read either: the error says so */
        abs = dir;
        dir = NULL;
    }
    free(dir);
    return abs;
}

int cs_config_load(const char *path, struct cs_config **out, char **err)
{
    struct cs_config *cfg = cs_xcalloc(1, sizeof *cfg);
    struct checker c = {.cfg = cfg};
    json_t *doc = NULL;
    char *text;
    size_t len;
    int rc = CS_E_INVAL;

    *out = NULL;
    *err = NULL;
    cfg->path = cs_xstrdup(path);
    cfg->dir = directory_of(path);
    cfg->positions = json_object();
    text = cs_read_file(path, CONFIG_MAX, &len, err);
    if (!text) {
        if (errno == EFBIG) {
            free(*err);
            *err = cs_xasprintf("%s: larger than the %u KiB a configuration file may have; move workflows or "
                                "connections into files of a conf.d directory beside it",
                                path, CONFIG_MAX / 1024);
        }
        rc = CS_E_IO;
        goto out;
    }
    doc = cs_cfg_parse_text(text, len, path, cfg->positions, &c.errors);
    if (doc && !json_is_object(doc))
        cs_cfg_report(&c, "", "the top level must be a mapping, got %s", cs_cfg_type_name(doc));
    else if (doc && cs_cfg_merge_dropins(&c, path, doc) == 0)
        cfg->root = cs_cfg_check_object(&c, "", doc, &cs_cfg_root_schema, NULL);
    if (cfg->root)
        cs_cfg_check_former_pair(&c, doc);
    cfg->raw = json_incref(doc);
    if (c.errors) {
        *err = c.errors;
        goto out;
    }
    *out = cfg;
    cfg = NULL;
    rc = 0;
out:
    free(text);
    json_decref(doc);
    cs_config_free(cfg);
    return rc;
}

void cs_config_free(struct cs_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->dir);
    json_decref(cfg->raw);
    json_decref(cfg->root);
    json_decref(cfg->positions);
    free(cfg);
}

/* The value at key path `path` ("connections.d365", "workflows[0].mappings[1].entity"), or NULL. */
static json_t *lookup(json_t *root, const char *path)
{
    json_t *v = root;

    while (*path && v) {
        if (*path == '[') {
            char *end;
            size_t i = strtoul(path + 1, &end, 10);
            v = *end == ']' ? json_array_get(v, i) : NULL;
            path = end + (*end == ']');
        } else {
            char *key;
            path += *path == '.';
            key = cs_xasprintf("%.*s", (int)strcspn(path, ".["), path);
            v = json_object_get(v, key);
            path += strlen(key);
            free(key);
        }
    }
    return v;
}

int cs_config_plugin_options(const struct cs_config *cfg, const char *path, const cs_setting *table,
                             const char *const *skip, json_t **resolved, char **err)
{
    struct checker c = {.cfg = cfg, .null_missing = 1};
    size_t n = 0;
    struct field *fields;
    struct schema s = {NULL, 0, NULL};
    json_t *obj = json_incref(lookup(cfg->root, path)), *out = NULL;

    while (table && table[n].name)
        n++;
    fields = cs_xcalloc(n + 1, sizeof *fields);
    for (size_t i = 0; i < n; i++) {
        fields[i].name = table[i].name;
        fields[i].type = table[i].type;
        fields[i].flags =
            (table[i].flags & (CS_OPT_REQUIRED | CS_OPT_SECRET)) | (table[i].flags & CS_OPT_PATH ? F_PATH : 0);
        fields[i].def = table[i].default_value;
        fields[i].min = table[i].min;
        fields[i].max = table[i].max;
        fields[i].choices = table[i].choices;
    }
    s.fields = fields;
    if (!obj)
        obj = json_object(); /* an absent entity or stage options object: defaults only */
    if (json_is_object(obj))
        out = cs_cfg_check_object(&c, path, obj, &s, skip);
    else
        cs_cfg_report(&c, path, "expected a mapping, got %s", cs_cfg_type_name(obj));
    if (c.errors) {
        json_decref(out);
        out = NULL;
    }
    *resolved = out;
    *err = c.errors;
    json_decref(obj);
    free(fields);
    return c.errors ? CS_E_INVAL : 0;
}

int cs_config_check_workflow(const json_t *definition, const char *label, json_t **normalized, char **err)
{
    struct cs_config unplaced = {.path = (char *)label, .positions = json_object()};
    struct checker c = {.cfg = &unplaced};
    json_t *out = NULL;

    if (json_is_object(definition))
        out = cs_cfg_check_object(&c, "", (json_t *)definition, &cs_cfg_workflow_schema, NULL);
    else
        cs_cfg_report(&c, "", "a workflow definition must be a mapping, got %s", cs_cfg_type_name(definition));
    json_decref(unplaced.positions);
    if (c.errors) {
        json_decref(out);
        out = NULL;
    }
    *normalized = out;
    *err = c.errors;
    return c.errors ? CS_E_INVAL : 0;
}
