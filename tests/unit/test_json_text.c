/*
 * test_json_text.c - compact JSON text (lib/json/json_text.c) is byte for byte what jansson's json_dumps
 * writes with JSON_COMPACT | JSON_ENCODE_ANY, members in insertion order or (sorted) by key: escapes,
 * control characters, UTF-8, a NUL inside a string, integers at their limits, reals, nesting, empty
 * containers, bare scalars, and objects with more members than the sort keeps on the stack.
 */
#include <stdlib.h>
#include <string.h>

#include "json/json_text.h"
#include "check.h"

/* Both forms of `v` are jansson's; v is released. */
static void same_as_jansson(json_t *v)
{
    for (int sorted = 0; sorted <= 1; sorted++) {
        size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | (sorted ? JSON_SORT_KEYS : 0), len = 0;
        char *want = json_dumps(v, flags), *got = cs_json_text(v, sorted, &len);
        CHECK(want != NULL && got != NULL);
        if (want && got && (strcmp(want, got) != 0 || len != strlen(want)))
            fprintf(stderr, "sorted %d\njansson: %s\ngot:     %s\n", sorted, want, got);
        CHECK(want && got && strcmp(want, got) == 0 && len == strlen(want));
        free(want);
        free(got);
    }
    json_decref(v);
}

int main(void)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "{\"email\":\"a@example.com\",\"firstName\":\"Zoë\",\"age\":42,\"score\":1.5,\"optIn\":true,\"x\":null}",
        "{\"location\":{\"zipCode\":\"75001\",\"city\":\"Paris\"},\"note\":\"line\\nbreak \\\"q\\\" / \\\\\"}",
        "{\"company\":{\"PKey\":\"@abc\"},\"unlinked\":{},\"list\":[3,\"two\",{\"b\":1,\"a\":2},[],[null,false]]}",
        "{\"c\":\"\\u0001\\u001f\\b\\f\\r\\t\\\\ \\u007f \\u00e9 \\u20ac "
        "\\ud83d\\ude00\",\"\":\"\",\"B\":\"\",\"a\":\"\"}",
        "{\"r\":[0.1,-2.5,1e300,3.0,-0.0,123456789.125,1e-7],\"i\":[0,-1,9223372036854775807,-9223372036854775808]}",
        "{\"k\\u00e9\":1,\"k\":2,\"k\\u0001\":3,\"K\":4,\"k k\":5,\"k\\\"\":6}",
        "\"just a string\\n\"",
        "-17",
        "2.5",
        "true",
        "null",
    };
    char key[8];
    json_t *v;

    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        v = json_loads(docs[i], JSON_DECODE_ANY, NULL);
        CHECK(v != NULL);
        if (v)
            same_as_jansson(v);
    }
    same_as_jansson(json_pack("{s:s#}", "nul", "a\0b", (size_t)3));
    for (int n = 17; n <= 100; n += 83) { /* past the insertion sort, and past the members kept on the stack */
        v = json_object();
        for (int i = n - 1; i >= 0; i--) {
            snprintf(key, sizeof key, "f%d", (i * 7) % n);
            json_object_set_new(v, key, json_integer(i));
        }
        same_as_jansson(v);
    }
    return check_exit();
}
