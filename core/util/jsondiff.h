/*
 * jsondiff.h - what changed between two JSON documents, as a list an operator can read: one entry per
 * added, removed or changed value, with its path ("$.mappings[1].stream").
 */
#ifndef CS_JSONDIFF_H
#define CS_JSONDIFF_H

#include <jansson.h>

/* New array of {"path", "op": "added" | "removed" | "changed", "from"?, "to"?}; empty when equal. */
json_t *cs_json_diff(const json_t *from, const json_t *to);

#endif
