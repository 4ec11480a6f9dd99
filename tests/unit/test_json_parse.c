/*
 * test_json_parse.c - JSON text parsed by lib/json/json_parse.c gives jansson's json_loadb(...,
 * JSON_DECODE_ANY) value exactly (types, member order, duplicates, UTF-8, escapes and surrogate pairs,
 * reals) for the texts its fast path reads and for those it hands to jansson (\u0000, lone surrogates,
 * long integers, reals out of range, deep nesting), and jansson's refusal for text that is not JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "json/json_parse.h"
#include "check.h"

/* The value of `text` (len bytes) is jansson's, member order included. */
static void same_as_jansson(const char *text, size_t len)
{
    json_t *want = json_loadb(text, len, JSON_DECODE_ANY, NULL), *got = cs_json_parse(text, len);
    char *w = want ? json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int same = want ? got && json_equal(want, got) && w && g && strcmp(w, g) == 0 : !got;
    if (!same)
        fprintf(stderr, "text %.*s\njansson: %s\ngot:     %s\n", (int)len, text, w ? w : "(refused)",
                g ? g : "(refused)");
    CHECK(same);
    free(w);
    free(g);
    json_decref(want);
    json_decref(got);
}

int main(void)
{
    static const char *const texts[] = {
        /* the fast path's */
        "{}",
        "[]",
        " { } ",
        "{\"a\":1}",
        "[1,2,3]",
        "\"s\"",
        "0",
        "-0",
        "-12",
        "true",
        "false",
        "null",
        "{\"contactid\":\"c-1\",\"firstName\":\"Zoë\",\"n\":123456789012345678,\"m\":-123456789012345678,"
        "\"ok\":true,\"no\":false,\"x\":null,\"loc\":{\"city\":\"Paris\",\"tags\":[\"a\",[],{}]},\"e\":\"\"}",
        "{ \"b\" : 1 ,\n\t\"a\" :\r[ 1 , 2 ] }",
        "{\"dup\":1,\"other\":2,\"dup\":3}",
        "{\"€\":\"😀\"}",
        /* escapes, as jansson decodes them */
        "{\"q\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u00E9\\u20AC\\ud83d\\ude00\\u0001\\u007f\"}",
        "{\"k\\u0041\":1,\"@odata.etag\":\"W/\\\"12\\\"\"}",
        "\"\\u0000\"",
        "\"\\ud83d\"",
        "\"\\ude00\"",
        "\"\\ud83dx\"",
        "\"\\ud83d\\u0041\"",
        "\"\\u12\"",
        "\"\\u12G4\"",
        "\"\\x\"",
        "\"\\\"",
        "{\"\\u0000\":1}",
        /* numbers */
        "[1.5,-0.0,1e3,2E-2,1E+5,0.1,123456789.123456789,4.9e-324,1.7976931348623157e308]",
        "1e999",
        "-1e999",
        "1e-999",
        "1.e5",
        "1e",
        "1e+",
        "-",
        "-a",
        ".5",
        "1.5.2",
        "0.0000000000000000000000000000000000000000000000000000000000001",
        /* integers beyond the fast path's 18 digits */
        "1234567890123456789",
        "-9223372036854775808",
        "9223372036854775807",
        "9223372036854775808",
        /* not JSON */
        "",
        " ",
        "{",
        "}",
        "[1,]",
        "{\"a\":}",
        "{\"a\" 1}",
        "{a:1}",
        "[01]",
        "-",
        "1.",
        "tru",
        "truex",
        "nul",
        "[1 2]",
        "{\"a\":1,}",
        "\"unterminated",
        "\"ctl\x01\"",
        "\"bad \xff utf8\"",
        "{\"\xc3\":1}",
        "1 2",
        "{\"a\":1}x",
        "[\"a\"]]",
        "+1",
    };
    char deep[300], big[2000];
    size_t n;

    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        same_as_jansson(texts[i], strlen(texts[i]));
    same_as_jansson("[1]\0[2]", 7);                /* a NUL after the value */
    same_as_jansson("\"a\0b\"", 5);                /* a NUL inside a string */
    same_as_jansson("{\"a\":[1,2]} trailing", 11); /* only the length given is read */
    /* a key and a string longer than the decoding buffer on the stack, with escapes */
    n = (size_t)snprintf(big, sizeof big, "{\"");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, i % 50 ? "k" : "\\n");
    n += (size_t)snprintf(big + n, sizeof big - n, "\":\"");
    for (int i = 0; i < 400; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, i % 70 ? "é" : "\\u00e9");
    n += (size_t)snprintf(big + n, sizeof big - n, "\"}");
    same_as_jansson(big, n);
    memset(deep, '[', 150);
    memset(deep + 150, ']', 150);
    same_as_jansson(deep, 300); /* deeper than the fast path goes */
    return check_exit();
}
