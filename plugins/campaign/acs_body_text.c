/*
 * acs_body_text.c - a Campaign body's canonical text (compact JSON, keys sorted at every level) and its
 * hash, from one pass: the text is what a create sends, and the hash (FNV-1a 64 over the text's bytes,
 * as 16 hex digits) is what the key -> PKey cache stores to tell an unchanged record. The text is byte
 * for byte jansson's sorted, compact dump (lib/json/json_text.c), which earlier versions hashed, so that
 * a cache written by them still matches.
 */
#include <stdint.h>
#include <stdlib.h>

#include "campaign.h"
#include "json/json_text.h"

/* FNV-1a 64 of `len` bytes of text, as 16 lower-case hex digits. */
static void text_hash(const char *text, size_t len, char hash[ACS_HASH_LEN])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ULL;
    for (int i = 15; i >= 0; i--, h >>= 4)
        hash[i] = hex[h & 15];
    hash[16] = '\0';
}

char *acs_body_text(const json_t *body, size_t *len, char hash[ACS_HASH_LEN])
{
    char *text = cs_json_text(body, 1, len);
    if (text)
        text_hash(text, *len, hash);
    return text;
}
