/*
 * test_acs_fields.c - a Campaign target's fields resolved once per metadata (plugins/campaign/acs_fields.c):
 * the conversion each metadata type asks for ("number" by its resType), the maximum length of strings,
 * fields found by the name before a dot, and new metadata replacing every field of the old.
 */
#include <string.h>

#include "../../plugins/campaign/campaign.h"
#include "check.h"

static enum acs_kind kind(const char *spec)
{
    json_t *s = json_loads(spec, 0, NULL);
    enum acs_kind k = acs_kind_of(s);
    json_decref(s);
    return k;
}

static int found(const struct acs_target *t, const char *name, size_t len, const char *expect)
{
    const struct acs_field *f = acs_field_find(t, name, len);
    return expect ? f && strcmp(f->name, expect) == 0 : f == NULL;
}

int main(void)
{
    struct acs_target t = {0};
    const struct acs_field *f;

    CHECK(kind("{\"type\":\"string\",\"length\":10}") == ACS_KIND_STRING);
    CHECK(kind("{}") == ACS_KIND_STRING);
    CHECK(kind("{\"type\":\"memo\"}") == ACS_KIND_STRING);
    CHECK(kind("{\"type\":\"long\"}") == ACS_KIND_INTEGER);
    CHECK(kind("{\"type\":\"int64\"}") == ACS_KIND_INTEGER);
    CHECK(kind("{\"type\":\"number\",\"resType\":\"long\"}") == ACS_KIND_INTEGER);
    CHECK(kind("{\"type\":\"number\",\"resType\":\"double\"}") == ACS_KIND_REAL);
    CHECK(kind("{\"type\":\"number\"}") == ACS_KIND_REAL);
    CHECK(kind("{\"type\":\"decimal\"}") == ACS_KIND_REAL);
    CHECK(kind("{\"type\":\"boolean\"}") == ACS_KIND_BOOLEAN);
    CHECK(kind("{\"type\":\"date\"}") == ACS_KIND_DATE);
    CHECK(kind("{\"type\":\"datetime\"}") == ACS_KIND_TIMESTAMP);
    CHECK(kind("{\"type\":\"datetimenotz\"}") == ACS_KIND_TIMESTAMP);
    CHECK(kind("{\"type\":\"enumeration\",\"values\":[\"male\"]}") == ACS_KIND_ENUM);
    CHECK(kind("{\"type\":\"object\",\"content\":{}}") == ACS_KIND_OBJECT);

    CHECK(acs_target_set_meta(&t, json_loads("{\"email\":{\"type\":\"string\",\"length\":64},"
                                             "\"location\":{\"type\":\"object\",\"content\":{\"city\":{}}},"
                                             "\"age\":{\"type\":\"long\"},\"gender\":{\"type\":\"enumeration\"},"
                                             "\"birthDate\":{\"type\":\"date\"},\"lastName\":{\"type\":\"string\"}}",
                                             0, NULL)) == 0);
    CHECK(t.nplan == 6);
    for (size_t i = 1; i < t.nplan; i++)
        CHECK(strcmp(t.plan[i - 1].name, t.plan[i].name) < 0);
    f = acs_field_find(&t, "email", 5);
    CHECK(f && f->kind == ACS_KIND_STRING && f->max_length == 64 && f->spec == json_object_get(t.meta, "email"));
    f = acs_field_find(&t, "lastName", 8);
    CHECK(f && f->max_length == 0);
    CHECK(found(&t, "location.city", 8, "location"));
    CHECK(found(&t, "age", 3, "age") && found(&t, "birthDate", 9, "birthDate") && found(&t, "gender", 6, "gender"));
    CHECK(found(&t, "emailAddress", 12, NULL)); /* a longer name is another field */
    CHECK(found(&t, "emai", 4, NULL));          /* so is a shorter one */
    CHECK(found(&t, "zzz", 3, NULL) && found(&t, "a", 1, NULL));

    /* the metadata read again: only its fields are known */
    CHECK(acs_target_set_meta(&t, json_loads("{\"email\":{\"type\":\"boolean\"}}", 0, NULL)) == 0);
    CHECK(t.nplan == 1 && found(&t, "age", 3, NULL));
    f = acs_field_find(&t, "email", 5);
    CHECK(f && f->kind == ACS_KIND_BOOLEAN);

    CHECK(acs_target_set_meta(&t, NULL) == 0);
    CHECK(t.meta == NULL && t.nplan == 0 && found(&t, "email", 5, NULL));
    return check_exit();
}
