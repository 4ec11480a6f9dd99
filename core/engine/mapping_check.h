/*
 * mapping_check.h - a workflow's table mappings checked against the live metadata of both systems
 * (cs_connector.describe): the key is the source table's primary key and a unique field of the
 * target, every mapped or filtered column exists on its side, and the types can be converted (the
 * primitive types of Adobe's integration; anything else only into a string). Run at every start, so a
 * field removed or retyped while the workflow was stopped fails it with the field's name instead of
 * losing records.
 */
#ifndef CS_MAPPING_CHECK_H
#define CS_MAPPING_CHECK_H

#include <jansson.h>

#include <crmsync/plugin.h>

struct cs_ctx;

/* describe() of one side ("source" or "target"), as host.h's describer. */
typedef cs_status (*cs_describe_fn)(void *arg, const char *side, const char *stream, json_t **out,
                                    struct cs_ctx *caller);

/*
 * Check every table mapping of `definition`. CS_OK; CS_FATAL with *why naming the mapping and the
 * field (and, when `path` is given, *path its key path, "mappings[0].fields[2]"); CS_RETRY when a
 * system could not answer (*why says which; ctx holds its Retry-After). A side whose connector has no
 * describe() is not checked. The source's row count of each stream, when it gave one, is added to
 * `rows` ({stream: n}). *why and *path are new or NULL.
 */
cs_status cs_mapping_check_live(const json_t *definition, cs_describe_fn describe, void *arg, struct cs_ctx *ctx,
                                json_t *rows, char **why, char **path);

/* Whether a value of normalised type `from` can be written to a field of type `to`. */
int cs_mapping_types_compatible(const char *from, const char *to);

#endif
