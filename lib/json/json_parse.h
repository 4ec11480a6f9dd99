/*
 * json_parse.h - JSON text parsed the way jansson parses it but cheaper (json_parse.c).
 */
#ifndef CS_JSON_PARSE_H
#define CS_JSON_PARSE_H

#include <stddef.h>

#include <jansson.h>

/* `len` bytes of JSON text as a new value: json_loadb(text, len, JSON_DECODE_ANY, NULL)'s value, or its
 * NULL for a text that is not JSON. */
json_t *cs_json_parse(const char *text, size_t len);

#endif
