/*
 * yaml_emit.h - a JSON document written as block-style YAML (for `crmsyncctl edit`, and the one workflow
 * a configuration error shows to write), with libyaml's emitter. Strings that would read back as another
 * type are quoted, so the round trip is exact.
 */
#ifndef CS_YAML_EMIT_H
#define CS_YAML_EMIT_H

#include <jansson.h>

/* New string; NULL on failure, with *err (new string) saying why. */
char *cs_yaml_dump(const json_t *doc, char **err);

#endif
