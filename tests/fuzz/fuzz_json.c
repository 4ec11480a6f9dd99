/*
 * fuzz_json.c - libFuzzer harness over lib/json: any input parsed by cs_json_parse gives jansson's
 * json_loadb(..., JSON_DECODE_ANY) value, member order included, or jansson's refusal; and a value
 * written by cs_json_text is jansson's json_dumps text byte for byte, sorted and not. A difference
 * aborts (a finding), as does a crash, a leak or an out-of-bounds read. Built and run by tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_parse.h"
#include "json/json_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cs_json_text(v, sorted) is json_dumps's text. */
static void same_text(const json_t *v, int sorted)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | (sorted ? JSON_SORT_KEYS : 0), len = 0;
    char *want = json_dumps(v, flags), *got = cs_json_text(v, sorted, &len);
    if (!want || !got || strcmp(want, got) != 0 || len != strlen(want))
        abort();
    free(want);
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *want = json_loadb(text, size, JSON_DECODE_ANY, NULL), *got = cs_json_parse(text, size);
    if (!want != !got)
        abort();
    if (want) {
        char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY),
             *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!json_equal(want, got) || !w || !g || strcmp(w, g) != 0) /* equal, and members in the same order */
            abort();
        free(w);
        free(g);
        same_text(want, 0);
        same_text(want, 1);
    }
    json_decref(want);
    json_decref(got);
    return 0;
}
