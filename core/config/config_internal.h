/*
 * config_internal.h - private to core/config: the checker's field and schema descriptions, and the small
 * pieces the configuration's files share (key paths and their file:line:col, error texts, the parts of
 * reading, checking and drop-ins that the interface in config.c puts together).
 */
#ifndef CS_CONFIG_INTERNAL_H
#define CS_CONFIG_INTERNAL_H

#include <jansson.h>

#include "config.h"

#define CONFIG_MAX (1u << 20)  /* bytes in a configuration file */
#define SECRET_MAX (64u << 10) /* bytes in a secret file */
#define DEPTH_MAX  64          /* nesting of mappings and lists */

/* Field types beyond cs_option_type. */
enum { T_OBJECT = 16 /* a mapping checked against `schema` */, T_MAP /* name -> `item` */ };

/* Field flags beyond CS_OPT_REQUIRED and CS_OPT_SECRET. */
#define F_NONEMPTY 0x100u /* strings and lists must not be empty */
#define F_NULLABLE 0x200u /* null is accepted as is */
#define F_PATH     0x400u /* a file or directory: a relative one is taken from the configuration file's directory */

struct schema;

struct field {
    const char *name;
    int type;                    /* cs_option_type, T_OBJECT or T_MAP */
    unsigned flags;              /* CS_OPT_REQUIRED, CS_OPT_SECRET, F_* */
    const char *def;             /* default as written in the file; NULL: none */
    const char *same_as;         /* or default to the value of this sibling */
    int64_t min, max;            /* CS_OPT_INT, CS_OPT_DURATION (ms): accepted range when min < max */
    const char *const *choices;  /* CS_OPT_STRING: the accepted values, NULL-terminated */
    const struct schema *schema; /* T_OBJECT: its members */
    const struct field *item;    /* CS_OPT_LIST, T_MAP: each element (CS_OPT_LIST: a string if NULL) */
    const char *unless;          /* CS_OPT_REQUIRED only when this sibling is not given */
};

struct checker;

struct schema {
    const struct field *fields; /* ends with a NULL name */
    int open;                   /* other members are kept as they are (plugin options) */
    void (*post)(struct checker *c, const char *path, json_t *obj); /* checks across members */
};

struct checker {
    const struct cs_config *cfg;
    char *errors;     /* every error so far, one per line (new); NULL when none */
    int null_missing; /* options neither given nor defaulted become null */
};

/* ---- config_text.c: key paths, positions, error texts --------------------------------------------- */

/* "file:line:col: path", or "file:line:col" for the root. New string. */
char *cs_cfg_format_at(const char *file, long long line, long long col, const char *path);
/* The key path of member `key` of the object at `path`. New string. */
char *cs_cfg_child_path(const char *path, const char *key);
/* Line recorded for exactly `path`, 0 when none. */
long long cs_cfg_line_at(const json_t *positions, const char *path);
/* Append `line` (steals) to the newline-separated `*text`. */
void cs_cfg_add_line(char **text, char *line);
/* 1 when `key` is one of the NULL-terminated `list` (which may be NULL). */
int cs_cfg_listed(const char *const *list, const char *key);
/* The file a position belongs to: its third element (a conf.d file), else the main file. */
const char *cs_cfg_position_file(const struct cs_config *cfg, const json_t *pos);

/* ---- yaml_read.c: YAML or JSON text into a json_t, every key path's position into `positions` ------ */

json_t *cs_cfg_parse_text(const char *text, size_t len, const char *name, json_t *positions, char **err);

/* ---- schema.c: the checker --------------------------------------------------------------------------- */

extern const struct field cs_cfg_nonempty_string;
/* An error at key path `path`, appended to c->errors with its file:line:col. */
void cs_cfg_report(struct checker *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The JSON type of `v` in words. */
const char *cs_cfg_type_name(const json_t *v);
/* What field `f` takes, in words. */
const char *cs_cfg_expected(const struct field *f);
/* " (did you mean ...?)" or " (allowed: ...)" for `word` among `names` (new), labelled `label`. */
char *cs_cfg_hint(const char *word, const json_t *names, const char *label);
/* Check the object `obj` (borrowed) at `path` against `s`; members named in `skip` are ignored. New object
 * of the members that passed, defaults filled. */
json_t *cs_cfg_check_object(struct checker *c, const char *path, json_t *obj, const struct schema *s,
                            const char *const *skip);
/* Field `f`'s default (new), or NULL when it has none. */
json_t *cs_cfg_default_value(struct checker *c, const char *path, const struct field *f);

/* ---- core_schema.c: the configuration's own keys ------------------------------------------------------ */

extern const struct schema cs_cfg_root_schema;
extern const struct schema cs_cfg_workflow_schema;
/* "file:line:col" of the first key at or under `path` (new). */
char *cs_cfg_first_at(const struct cs_config *cfg, const char *path);
/* The former two Opt In/Out workflows, refused with the merged form. */
void cs_cfg_check_former_pair(struct checker *c, const json_t *doc);

/* ---- dropins.c: conf.d ---------------------------------------------------------------------------------- */

/* Merge the drop-in files of the directory beside the file `path` into `doc`, in name order. */
int cs_cfg_merge_dropins(struct checker *c, const char *path, json_t *doc);

#endif
