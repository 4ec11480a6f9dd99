/*
 * acs_body_text.c - a Campaign body's canonical text (compact JSON, keys sorted) and its hash, from one
 * dump: the text is what a create sends, and the hash (FNV-1a 64 over the text's bytes, as 16 hex digits)
 * is what the key -> PKey cache stores to tell an unchanged record. The hash of a body is the same value
 * crmsync has always stored for it (the bytes hashed are those of that canonical dump), so that a cache
 * written by an earlier version still matches.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "campaign.h"

/* FNV-1a 64 of `len` bytes of text, as 16 hex digits. */
static void text_hash(const char *text, size_t len, char hash[ACS_HASH_LEN])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ULL;
    snprintf(hash, ACS_HASH_LEN, "%016" PRIx64, h);
}

char *acs_body_text(const json_t *body, size_t *len, char hash[ACS_HASH_LEN])
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return NULL;
    *len = strlen(text);
    text_hash(text, *len, hash);
    return text;
}
