/*
 * test_member.c - cshttp_response_member (lib/http/cshttp_member.c): the top-level string member
 * of a JSON answer, found past nested objects, arrays, escaped strings and literals that hold the same
 * name; NULL when absent or not a string; escapes and texts that are not objects answered as the full
 * parser answers them; a truncated answer never read past its end.
 */
#include <stdlib.h>
#include <string.h>

#include "http/cshttp.h"
#include "check.h"

/* The member `name` of `body` as a string ("(null)" for NULL), kept in a static buffer. */
static const char *member(const char *body, size_t len, const char *name)
{
    static char out[256];
    struct cshttp_response r = {.body = (char *)body, .body_len = len};
    char *v = cshttp_response_member(&r, name);
    snprintf(out, sizeof out, "%s", v ? v : "(null)");
    free(v);
    return out;
}

#define MEMBER(body, name) member(body, strlen(body), name)

int main(void)
{
    const char *profile = "{\"href\": \"https://mc.adobe.io/t/campaign/profileAndServicesExt/profile/@a\","
                          " \"location\": {\"PKey\": \"@nested\", \"city\": \"Paris\"},"
                          " \"subscriptions\": [{\"PKey\": \"@inarray\"}, \"PKey\", 1.5e3, true, null],"
                          " \"note\": \"a \\\"PKey\\\": \\\"@fake\\\" in a string\", \"age\": -12,"
                          " \"PKey\": \"@2zn3TYXv0KGR\", \"after\": {\"x\": [[]]}}";
    CHECK(strcmp(MEMBER(profile, "PKey"), "@2zn3TYXv0KGR") == 0);
    CHECK(strcmp(MEMBER(profile, "href"), "https://mc.adobe.io/t/campaign/profileAndServicesExt/profile/@a") == 0);
    CHECK(strcmp(MEMBER(profile, "city"), "(null)") == 0); /* nested only */
    CHECK(strcmp(MEMBER(profile, "age"), "(null)") == 0);  /* not a string */
    CHECK(strcmp(MEMBER(profile, "missing"), "(null)") == 0);
    CHECK(strcmp(MEMBER("{}", "PKey"), "(null)") == 0);
    CHECK(strcmp(MEMBER("  {\"PKey\":\"@x\"}  ", "PKey"), "@x") == 0);
    CHECK(strcmp(MEMBER("{\"PKeyX\": \"no\", \"PKe\": \"no\", \"PKey\": \"yes\"}", "PKey"), "yes") == 0);
    /* escapes: decoded as the full parser decodes them */
    CHECK(strcmp(MEMBER("{\"PKey\": \"@a\\/b\"}", "PKey"), "@a/b") == 0);
    CHECK(strcmp(MEMBER("{\"P\\u004bey\": \"@u\"}", "PKey"), "@u") == 0);
    /* not an object, or not JSON */
    CHECK(strcmp(MEMBER("[\"PKey\"]", "PKey"), "(null)") == 0);
    CHECK(strcmp(MEMBER("<html>Oops</html>", "PKey"), "(null)") == 0);
    CHECK(strcmp(MEMBER("", "PKey"), "(null)") == 0);
    /* truncated: never read past the end (the length stops before the member's value) */
    {
        const char *full = "{\"a\": {\"b\": [1, 2]}, \"PKey\": \"@cut\"}";
        for (size_t n = 0; n < strlen(full) - 2; n++) {
            char *copy = malloc(n + 1);
            memcpy(copy, full, n);
            copy[n] = '\0';
            CHECK(strcmp(member(copy, n, "PKey"), "(null)") == 0);
            free(copy);
        }
    }
    return check_exit();
}
