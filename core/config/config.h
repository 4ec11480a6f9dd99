/*
 * config.h - the configuration file: YAML or JSON read with libyaml into a json_t, checked against the
 * core schema (see doc/configuration.md) and, once plugins are loaded, against each plugin's option table.
 *
 * Every error names the file, line and column and the key path, for example
 *   crmsync.conf:14:7: workflows[0].mappings[1].stream: required
 * Unknown keys are errors with a "did you mean" hint. Secrets come only from <name>_file (owner-only
 * permissions) or <name>_env and are never part of an error message.
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <jansson.h>

#include <crmsync/plugin.h>

struct cs_config {
    char *path;        /* as given on the command line */
    char *dir;         /* its directory, absolute: relative paths in it are taken from there (as nginx does) */
    json_t *raw;       /* the document as written (a workflow's revisions store its part of this) */
    json_t *root;      /* the validated document, core defaults filled in, durations in ms */
    json_t *positions; /* key path ("workflows[0].source") -> [line, column], 1-based */
};

/* Parse and check against the core schema. On failure *err (new) holds every error found, one per
 * line, and *out is NULL. */
int cs_config_load(const char *path, struct cs_config **out, char **err);
void cs_config_free(struct cs_config *cfg);

/* Path `p` of the configuration: as is when absolute, else from the configuration file's directory.
 * New string. (The paths of the schema and the options flagged CS_OPT_PATH are resolved already.) */
char *cs_config_path(const struct cs_config *cfg, const char *p);

/* "file:line:col: path" for a key path (the nearest ancestor with a position is used). New string. */
char *cs_config_where(const struct cs_config *cfg, const char *path);

/*
 * Check the plugin options found in the object at key path `path` (for example "connections.d365")
 * against `table`, ignoring the members named in `skip` (NULL-terminated, e.g. {"connector", NULL}).
 * Fills defaults, converts durations to ms, resolves secrets from <name>_file / <name>_env, and refuses
 * a value outside the option's range or choices.
 * *resolved is a new object of every option; on failure *err (new) holds every error, one per line.
 */
int cs_config_plugin_options(const struct cs_config *cfg, const char *path, const cs_setting *table,
                             const char *const *skip, json_t **resolved, char **err);

/*
 * Check one workflow definition as written (a JSON object, e.g. from the admin API or a stored
 * revision) against the workflow schema: *normalized (new) has defaults filled and durations in ms.
 * Errors, one per line, read "<label>: <key path>: <message>". Plugin references and connection names
 * are not checked here (the engine knows the plugins and connections).
 */
int cs_config_check_workflow(const json_t *definition, const char *label, json_t **normalized, char **err);

/* Parse YAML or JSON text as the configuration reader does (same scalar typing, same refusals), without
 * any schema. New document, or NULL with *err (new; "name:line:col: problem" lines). */
json_t *cs_config_parse_text(const char *text, size_t len, const char *name, char **err);

/* Read a secret from `file`: refused unless a non-empty regular file only its owner can read. One
 * trailing newline is dropped. *value (new; wipe it after use) or *err (new, never holds the secret). */
int cs_config_read_secret(const char *file, char **value, char **err);

/* Parse a duration ("250ms", "5s", "30m", "1h", "2d", or a bare integer of seconds) into ms.
 * Returns 0 or CS_E_INVAL. */
int cs_config_parse_duration(const char *text, int64_t *ms);
/* `ms` written in the largest unit that says it exactly ("90s", "2h", "250ms"). New string. */
char *cs_config_duration_text(int64_t ms);

#endif
