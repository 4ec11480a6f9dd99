/*
 * mapping.h - the table-mapping form of a workflow mapping (Adobe's "Edit Table Mapping" page):
 * key, fields, replacements, filters, apply_deletes, picklists. The core compiles it into invocations
 * of the built-in stages (filter, replace, map; convert for fields given a type) that run before the
 * mapping's own `stages`, checks what can be checked without the remote systems, and tells the
 * connectors what a mapping reads and writes. doc/workflows.md documents the form.
 */
#ifndef CS_MAPPING_H
#define CS_MAPPING_H

#include <jansson.h>

/* Reports one problem at `member` (a path below the mapping, e.g. "fields[2].target"). */
typedef void (*cs_mapping_report)(void *arg, const char *member, const char *message);

/* True when `mapping` uses the table-mapping form (it has "fields"). */
int cs_mapping_is_table(const json_t *mapping);

/*
 * Check a normalized table mapping and store its compiled stage invocations under "compiled" (a list
 * of {name, ...options}). Problems go to `report`; returns their number (0: compiled).
 */
int cs_mapping_compile(json_t *mapping, cs_mapping_report report, void *arg);

/* The source columns a table mapping reads (key, fields, filters, and the `links[].column` of its
 * entity handler), as a new array of strings; empty for the explicit form (the connection's own table
 * options say what to read). */
json_t *cs_mapping_columns(const json_t *mapping);

/* What host->mapping_streams answers for a normalized definition: per mapping {stream, target,
 * mapping (the definition), columns (cs_mapping_columns), labels (picklists: label), target_key (the
 * key's target, table form only)}. New. */
json_t *cs_mapping_streams(const json_t *definition);

/* Whether `stream` counts as a custom entity for the guardrail (every table but the contact). */
int cs_mapping_is_custom(const json_t *mapping);

/*
 * Why `next` may not replace `prev` (both normalized definitions of one workflow), or NULL: a saved
 * mapping keeps its table pair and its keys (delete the mapping and add a new one to change them).
 * New string.
 */
char *cs_mapping_check_immutable(const json_t *prev, const json_t *next);

#endif
