/*
 * stages.h - the built-in mapping stages (stages.so), written only against the public stage ABI:
 * filter, replace, map and convert, and the dotted-path helpers they share ("location.address2").
 */
#ifndef STAGES_H
#define STAGES_H

#include <crmsync/plugin.h>

extern const cs_stage stages_filter;
extern const cs_stage stages_replace;
extern const cs_stage stages_map;
extern const cs_stage stages_convert;

/* The value at a dotted path of an object (borrowed), or NULL. */
json_t *stages_path_get(const json_t *obj, const char *path);
/* Set the value at a dotted path, creating intermediate objects (steals `value`). 0 or -1. */
int stages_path_set(json_t *obj, const char *path, json_t *value);

/* A value as text for comparisons and messages: strings as they are, other scalars as JSON. New. */
char *stages_text(const json_t *v);

/* What each stage instance keeps of its host. */
struct stage_base {
    const cs_host *host;
    cs_ctx *ctx;
};

#endif
