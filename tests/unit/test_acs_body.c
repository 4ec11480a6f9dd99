/*
 * test_acs_body.c - a Campaign body's canonical text and hash (plugins/campaign/acs_body_text.c): the
 * text is compact JSON with sorted keys, and the hash is the value crmsync stored before the text and
 * the hash came from one pass (FNV-1a 64 fed by jansson's sorted dump), so that a key -> PKey cache
 * written by an earlier version still finds an unchanged record unchanged (the text itself is checked
 * against jansson's in every form by test_json_text).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/campaign/campaign.h"
#include "check.h"

/* The hash as earlier versions computed it: the bytes of a sorted, compact dump as its callback hands
 * them over. */
static int fnv_bytes(const char *buf, size_t len, void *data)
{
    uint64_t *h = data;
    for (size_t i = 0; i < len; i++)
        *h = (*h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
    return 0;
}

static void hash_the_old_way(const json_t *body, char out[ACS_HASH_LEN])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    json_dump_callback(body, fnv_bytes, &h, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(out, ACS_HASH_LEN, "%016" PRIx64, h);
}

/* The text and hash of `body` are jansson's sorted, compact dump and the old hash of it; the text is
 * returned (new). */
static char *same_as_before(json_t *body)
{
    char old[ACS_HASH_LEN], now[ACS_HASH_LEN] = "", *text, *dumped = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    size_t len = 0;
    CHECK(body != NULL && dumped != NULL);
    hash_the_old_way(body, old);
    text = acs_body_text(body, &len, now);
    CHECK(text != NULL && len == strlen(text));
    if (!text || !dumped || strcmp(text, dumped) != 0 || strcmp(old, now) != 0)
        fprintf(stderr, "jansson: %s (hash %s)\nnow:     %s (hash %s)\n", dumped, old, text ? text : "(null)", now);
    CHECK(text && dumped && strcmp(text, dumped) == 0);
    CHECK(strcmp(old, now) == 0);
    free(dumped);
    json_decref(body);
    return text;
}

int main(void)
{
    static const char *const bodies[] = {
        "{}",
        "{\"email\":\"a@example.com\",\"firstName\":\"Zoë\",\"age\":42,\"score\":1.5,\"optIn\":true,\"x\":null}",
        "{\"location\":{\"zipCode\":\"75001\",\"city\":\"Paris\"},\"crmId\":\"c-1\",\"note\":\"a\\n\\u0001\\\"\"}",
        "{\"company\":{\"PKey\":\"@abc\"},\"unlinked\":{},\"birthDate\":\"1980-02-29\",\"gender\":\"female\"}",
    };
    char hash[ACS_HASH_LEN], *text;
    size_t len;
    json_t *body;

    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        body = json_loads(bodies[i], 0, NULL);
        CHECK(body != NULL);
        free(same_as_before(body));
    }

    /* compact, keys sorted at every level: what a create sends */
    text = same_as_before(json_loads(
        "{\"lastName\":\"Doe\",\"location\":{\"zipCode\":\"1\",\"city\":\"X\"},\"email\":\"d@e.f\"}", 0, NULL));
    CHECK(text &&
          strcmp(text, "{\"email\":\"d@e.f\",\"lastName\":\"Doe\",\"location\":{\"city\":\"X\",\"zipCode\":\"1\"}}") ==
              0);
    free(text);

    /* a value stored by earlier versions (the key -> PKey cache of a running installation holds these) */
    body = json_pack("{s:s, s:s, s:s}", "crmId", "0001", "email", "jane@example.com", "lastName", "Doe");
    text = acs_body_text(body, &len, hash);
    CHECK(text && strcmp(hash, "33a9a2fdae57f5bb") == 0);
    free(text);
    json_decref(body);
    return check_exit();
}
