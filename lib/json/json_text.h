/*
 * json_text.h - JSON values as compact text, the way jansson writes them but cheaper (json_text.c).
 */
#ifndef CS_JSON_TEXT_H
#define CS_JSON_TEXT_H

#include <stddef.h>

#include <jansson.h>

/* `v` (any value) as compact JSON text, new: json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), with
 * JSON_SORT_KEYS when `sorted`, byte for byte. Its length in *len when len is not NULL; NULL when out
 * of memory. */
char *cs_json_text(const json_t *v, int sorted, size_t *len);

#endif
