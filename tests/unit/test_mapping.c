/*
 * test_mapping.c - the table-mapping form: what the config schema and core/config/mapping.c refuse (each
 * message and path checked), what a mapping compiles to, the immutable table pair and key, the type
 * conversions, and the check against live metadata with a fake describe() of both sides.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config/config.h"
#include "host/host.h"
#include "config/mapping.h"
#include "engine/mapping_check.h"

#define TABLE                                                                                                          \
    "{\"stream\": \"contacts\", \"target\": \"profiles\", \"key\": {\"source\": \"contactid\", "                       \
    "\"target\": \"externalId\"}, \"fields\": [{\"source\": \"firstname\", \"target\": \"firstName\"}, "               \
    "{\"source\": \"birthdate\", \"target\": \"birthDate\", \"apply_updates\": false, \"type\": \"date\"}, "           \
    "{\"source\": \"gendercode\", \"target\": \"gender\"}], "                                                          \
    "\"replacements\": [{\"field\": \"gendercode\", \"from\": 1, \"to\": \"male\"}], "                                 \
    "\"filters\": {\"match\": \"any\", \"rules\": [{\"field\": \"statecode\", \"op\": \"eq\", \"value\": 0}]}"

/* Check a workflow whose only mapping is TABLE plus `extra` members; *errs gets the error text. */
static json_t *workflow(const char *extra, char **errs)
{
    char *text = NULL;
    json_t *def, *out = NULL;
    if (asprintf(&text, "{\"id\": \"w\", \"source\": \"a\", \"sink\": \"b\", \"mappings\": [" TABLE "%s}]}", extra) < 0)
        abort();
    def = json_loads(text, 0, NULL);
    CHECK(def != NULL);
    *errs = NULL;
    cs_config_check_workflow(def, "def", &out, errs);
    json_decref(def);
    free(text);
    return out;
}

static void test_compiled(void)
{
    char *errs;
    json_t *def = workflow("", &errs), *compiled, *stage;
    CHECK(errs == NULL);
    compiled = json_object_get(json_array_get(json_object_get(def, "mappings"), 0), "compiled");
    CHECK(json_array_size(compiled) == 4);
    stage = json_array_get(compiled, 0);
    CHECK_STR(json_string_value(json_object_get(stage, "name")), "filter");
    CHECK_STR(json_string_value(json_object_get(stage, "match")), "any");
    CHECK(json_is_true(json_object_get(stage, "apply_deletes")));
    CHECK_STR(json_string_value(json_object_get(json_array_get(compiled, 1), "name")), "replace");
    stage = json_array_get(compiled, 2);
    CHECK_STR(json_string_value(json_object_get(stage, "name")), "map");
    /* the key is mapped first, then the fields with their apply_updates */
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(stage, "fields"), 0), "target")),
              "externalId");
    CHECK(json_is_false(json_object_get(json_array_get(json_object_get(stage, "fields"), 2), "apply_updates")));
    stage = json_array_get(compiled, 3);
    CHECK_STR(json_string_value(json_object_get(json_object_get(stage, "types"), "birthDate")), "date");
    {
        json_t *cols = cs_mapping_columns(json_array_get(json_object_get(def, "mappings"), 0));
        char *text = json_dumps(cols, JSON_COMPACT);
        CHECK_STR(text, "[\"contactid\",\"firstname\",\"birthdate\",\"gendercode\",\"statecode\"]");
        free(text);
        json_decref(cols);
    }
    json_decref(def);

    /* apply_deletes off with no filter rule still compiles a filter that drops deletes */
    def = workflow(", \"apply_deletes\": false, \"filters\": {}", &errs);
    CHECK(errs == NULL);
    compiled = json_object_get(json_array_get(json_object_get(def, "mappings"), 0), "compiled");
    CHECK(json_is_false(json_object_get(json_array_get(compiled, 0), "apply_deletes")));
    json_decref(def);
}

static void refused(const char *extra, const char *want)
{
    char *errs;
    json_t *def = workflow(extra, &errs);
    CHECK(def == NULL);
    CHECK_CONTAINS(errs, want);
    free(errs);
}

static void test_refusals(void)
{
    refused(", \"picklists\": \"labels\"", "mappings[0].picklists");
    refused(", \"filters\": {\"rules\": [{\"field\": \"x\", \"op\": \"between\", \"value\": 1}]}",
            "mappings[0].filters.rules[0].op");
    refused(", \"filters\": {\"rules\": [{\"field\": \"x\", \"op\": \"gt\"}]}",
            "mappings[0].filters.rules[0].value: operator \"gt\" needs a value");
    refused(", \"filters\": {\"rules\": [{\"field\": \"x\", \"op\": \"in\", \"value\": 3}]}",
            "operator \"in\" needs a list of values");
    refused(", \"replacements\": [{\"field\": \"statecode\", \"from\": 0, \"to\": \"active\"}]",
            "mappings[0].replacements[0].field: \"statecode\" is not a mapped field");
    refused(", \"replacements\": [{\"field\": \"gendercode\", \"from\": 1, \"to\": \"M\"}, "
            "{\"field\": \"gendercode\", \"from\": 1, \"to\": \"F\"}]",
            "replacements[1].from: replacements[0] already replaces this value");
    /* a rule without its field (a typo in the key) is reported, before and after a good rule */
    refused(", \"replacements\": [{\"fiel\": \"gendercode\", \"from\": 1, \"to\": \"M\"}, "
            "{\"field\": \"gendercode\", \"from\": 1, \"to\": \"F\"}]",
            "mappings[0].replacements[0].field: required");
    refused(", \"replacements\": [{\"field\": \"gendercode\", \"from\": 1, \"to\": \"M\"}, "
            "{\"fiel\": \"gendercode\", \"from\": 1, \"to\": \"F\"}]",
            "mappings[0].replacements[1].field: required");
    refused(", \"fields\": [{\"source\": \"a\", \"target\": \"x\"}, {\"source\": \"b\", \"target\": \"x\"}]",
            "mappings[0].fields[1].target: \"x\" is already the target of fields[0] (a)");
    refused(", \"fields\": [{\"source\": \"a\", \"target\": \"externalId\"}]",
            "mappings[0].fields[0].target: \"externalId\" is the mapping's key");
    refused(", \"key\": null", "mappings[0].key");
}

static void test_guardrails_and_targets(void)
{
    char *errs = NULL, text[4096];
    json_t *def, *out = NULL;
    size_t n = 0;
    /* three custom tables with limits.custom_entities 2; two mappings onto one target */
    n += (size_t)snprintf(text + n, sizeof text - n,
                          "{\"id\": \"w\", \"source\": \"a\", \"sink\": \"b\", "
                          "\"limits\": {\"custom_entities\": 2, \"columns\": 1}, \"mappings\": [");
    for (int i = 0; i < 3; i++)
        n += (size_t)snprintf(
            text + n, sizeof text - n,
            "%s{\"stream\": \"new_t%d\", \"target\": \"%s\", \"key\": {\"source\": \"id\", \"target\": "
            "\"k\"}, \"fields\": [{\"source\": \"a\", \"target\": \"b\"}, {\"source\": \"c\", "
            "\"target\": \"d\"}]}",
            i ? ", " : "", i,
            i == 2   ? "cusT0"
            : i == 0 ? "cusT0"
                     : "cusT1");
    snprintf(text + n, sizeof text - n, "]}");
    def = json_loads(text, 0, NULL);
    CHECK(def != NULL);
    cs_config_check_workflow(def, "def", &out, &errs);
    CHECK(out == NULL);
    CHECK_CONTAINS(errs, "mappings[2].target: \"cusT0\" is already the target of mappings[0] (new_t0)");
    CHECK_CONTAINS(errs, "mappings[2]: more than 2 custom entities in one workflow (limits.custom_entities");
    CHECK_CONTAINS(errs, "mappings[0].fields: 2 mapped columns, more than limits.columns (1");
    free(errs);
    json_decref(def);
}

static void test_immutable(void)
{
    char *errs, *why;
    json_t *prev = workflow("", &errs), *next = json_deep_copy(prev), *m;
    m = json_array_get(json_object_get(next, "mappings"), 0);
    CHECK(cs_mapping_check_immutable(prev, next) == NULL); /* unchanged */
    json_array_append_new(json_object_get(m, "fields"),
                          json_pack("{s:s, s:s}", "source", "lastname", "target", "lastName"));
    CHECK(cs_mapping_check_immutable(prev, next) == NULL); /* fields may change */
    json_object_set_new(m, "target", json_string("customers"));
    why = cs_mapping_check_immutable(prev, next);
    CHECK_CONTAINS(why, "mappings[0].target: the table pair contacts -> profiles is fixed once saved");
    free(why);
    json_object_set_new(m, "target", json_string("profiles"));
    json_object_set_new(json_object_get(m, "key"), "target", json_string("email"));
    why = cs_mapping_check_immutable(prev, next);
    CHECK_CONTAINS(why, "mappings[0].key: the key of contacts -> profiles (contactid -> externalId) is fixed");
    free(why);
    json_decref(prev);
    json_decref(next);
}

static void test_types(void)
{
    CHECK(cs_mapping_types_compatible("datetime", "date"));
    CHECK(cs_mapping_types_compatible("integer", "double"));
    CHECK(cs_mapping_types_compatible("other", "string"));
    CHECK(cs_mapping_types_compatible("boolean", "string"));
    CHECK(!cs_mapping_types_compatible("string", "integer"));
    CHECK(!cs_mapping_types_compatible("datetime", "boolean"));
    CHECK(!cs_mapping_types_compatible("other", "date"));
    CHECK(!cs_mapping_types_compatible("decimal", "integer"));
}

/* A fake describe(): the source contact table and the target profile, as JSON texts per side. */
static const char *source_meta, *target_meta;
static cs_status fake_describe(void *arg, const char *side, const char *stream, json_t **out, struct cs_ctx *caller)
{
    const char *text = strcmp(side, "source") == 0 ? source_meta : target_meta;
    (void)arg, (void)stream;
    if (!text)
        return CS_NODATA;
    if (strcmp(text, "down") == 0) {
        cs_ctx_set_reason(caller, 503, 2000, "503 from the service");
        return CS_RETRY;
    }
    *out = json_loads(text, 0, NULL);
    return CS_OK;
}

#define SOURCE_OK                                                                                                      \
    "{\"key\": \"contactid\", \"rows\": 1234, \"fields\": {\"contactid\": {\"type\": \"string\"}, "                    \
    "\"firstname\": {\"type\": \"string\"}, \"birthdate\": {\"type\": \"datetime\"}, "                                 \
    "\"gendercode\": {\"type\": \"integer\", \"choice\": true}, \"statecode\": {\"type\": \"integer\"}}}"
#define TARGET_OK                                                                                                      \
    "{\"key\": \"externalId\", \"fields\": {\"externalId\": {\"type\": \"string\", \"unique\": true}, "                \
    "\"firstName\": {\"type\": \"string\"}, \"birthDate\": {\"type\": \"date\"}, \"gender\": {\"type\": "              \
    "\"other\"}}}"

static char *last_path; /* of the last live_with() */

static cs_status live_with(const char *extra, const char *src, const char *tgt, char **why, json_t *rows)
{
    char *errs;
    json_t *def = workflow(extra, &errs);
    struct cs_ctx *ctx = cs_ctx_new("test", "test", NULL, NULL, NULL);
    cs_status st;
    source_meta = src;
    target_meta = tgt;
    free(last_path);
    st = cs_mapping_check_live(def, fake_describe, NULL, ctx, rows, why, &last_path);
    cs_ctx_free(ctx);
    json_decref(def);
    return st;
}

static cs_status live(const char *src, const char *tgt, char **why, json_t *rows)
{
    return live_with("", src, tgt, why, rows);
}

static void test_live(void)
{
    char *why = NULL;
    json_t *rows = json_object();
    CHECK(live(SOURCE_OK, TARGET_OK, &why, rows) == CS_OK && why == NULL);
    CHECK(json_integer_value(json_object_get(rows, "contacts")) == 1234);
    CHECK(live(NULL, NULL, &why, rows) == CS_OK); /* no describe(): not checked */

    CHECK(live("{\"key\": \"contactid\", \"fields\": {\"contactid\": {\"type\": \"string\"}, \"statecode\": "
               "{\"type\": \"integer\"}, \"gendercode\": {\"type\": \"integer\"}, \"birthdate\": {\"type\": "
               "\"datetime\"}}}",
               TARGET_OK, &why, rows) == CS_FATAL);
    CHECK_CONTAINS(why, "mapping contacts -> profiles: fields[0]: Dynamics 365 table contacts has no column "
                        "\"firstname\" (removed or renamed?");
    free(why);
    CHECK(live(SOURCE_OK,
               "{\"fields\": {\"externalId\": {\"type\": \"string\", \"unique\": true}, \"firstName\": "
               "{\"type\": \"string\"}, \"birthDate\": {\"type\": \"boolean\"}, \"gender\": {\"type\": \"other\"}}}",
               &why, rows) == CS_FATAL);
    CHECK_CONTAINS(why, "fields[1]: birthdate (date) cannot be written to birthDate (boolean)");
    CHECK_STR(last_path, "mappings[0].fields[1]");
    free(why);
    CHECK(live(SOURCE_OK,
               "{\"fields\": {\"externalId\": {\"type\": \"string\"}, \"firstName\": {\"type\": "
               "\"string\"}, \"birthDate\": {\"type\": \"date\"}, \"gender\": {\"type\": \"other\"}}}",
               &why, rows) == CS_FATAL);
    CHECK_CONTAINS(why, "key.target \"externalId\" cannot identify a record of Campaign resource profiles");
    CHECK_STR(last_path, "mappings[0].key.target");
    free(why);
    CHECK(live("{\"key\": \"id\", \"fields\": {}}", TARGET_OK, &why, rows) == CS_FATAL);
    CHECK_CONTAINS(why,
                   "key.source \"contactid\" is not the primary key of Dynamics 365 table contacts (it is \"id\")");
    free(why);
    /* a lookup mapped by its value column is the lookup column Dataverse describes */
    CHECK(live_with(", \"fields\": [{\"source\": \"_parentcustomerid_value\", \"target\": \"firstName\"}], "
                    "\"replacements\": []",
                    "{\"key\": \"contactid\", \"fields\": {\"parentcustomerid\": {\"type\": \"string\", "
                    "\"lookup\": \"account\"}, \"statecode\": {\"type\": \"integer\"}}}",
                    TARGET_OK, &why, rows) == CS_OK);
    CHECK(why == NULL);
    CHECK(live(SOURCE_OK, "down", &why, rows) == CS_RETRY);
    CHECK_CONTAINS(why, "cannot read the destination's metadata of profiles: 503 from the service");
    free(why);
    json_decref(rows);
    free(last_path);
    last_path = NULL;
}

int main(void)
{
    test_compiled();
    test_refusals();
    test_guardrails_and_targets();
    test_immutable();
    test_types();
    test_live();
    return check_exit();
}
