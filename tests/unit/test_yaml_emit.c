/*
 * test_yaml_emit.c - cs_yaml_dump (core/util/yaml_emit.c, what `crmsyncctl show` and `edit` print): every
 * document reads back, through the configuration reader, as the document it came from, including the
 * strings that must be quoted to stay strings (durations such as 1s and 200ms, numbers, booleans, null,
 * the empty string, keys such as "yes") and the ones that need no quotes.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config/config.h"
#include "util/yaml_emit.h"

/* The document dumped and read back equals itself. */
static int round_trip(const char *json)
{
    json_t *doc = json_loads(json, 0, NULL), *back = NULL;
    char *err = NULL, *yaml = cs_yaml_dump(doc, &err);
    int same = 0;
    if (!yaml)
        fprintf(stderr, "cs_yaml_dump(%s): %s\n", json, err ? err : "(no reason)");
    else if (!(back = cs_config_parse_text(yaml, strlen(yaml), "dump", &err)))
        fprintf(stderr, "reading back %s: %s\n", yaml, err);
    else if (!(same = json_equal(doc, back)))
        fprintf(stderr, "%s read back differently:\n%s\n", json, yaml);
    free(err);
    free(yaml);
    json_decref(doc);
    json_decref(back);
    return same;
}

int main(void)
{
    CHECK(round_trip("{\"poll_interval\": \"1s\", \"retry\": {\"base\": \"200ms\", \"cap\": \"5m\"}}"));
    CHECK(round_trip("{\"a\": \"123\", \"b\": 123, \"c\": \"1.5\", \"d\": 1.5, \"e\": \"-7\", \"f\": \"1e3\"}"));
    CHECK(round_trip(
        "{\"t\": \"true\", \"u\": true, \"v\": \"no\", \"w\": false, \"x\": \"null\", \"y\": null, \"z\": \"\"}"));
    CHECK(round_trip("{\"yes\": 1, \"on\": \"off\", \"~\": \"~\"}"));
    CHECK(round_trip("{\"mappings\": [{\"stream\": \"contacts\", \"target\": \"profiles\", \"fields\": "
                     "{\"firstName\": \"firstname\", \"email\": \"emailaddress1\"}}, [], {}]}"));
    CHECK(round_trip("{\"s\": \"a: b # c\", \"q\": \"'quoted' \\\"twice\\\"\", \"n\": \"line\\nbreak\", "
                     "\"u\": \"Zo\\u00eb \\u2192 Campaign\", \"lead\": \" space\", \"dash\": \"- item\"}"));
    return check_exit();
}
