/*
 * test_stages.c - the built-in mapping stages (stages.so, loaded through the real loader) driven
 * against a fake host: every filter operator, all/any and delete_filtered; replacements by value and by
 * text, the first matching rule of a field the only one applied (more rules than a record's marks keep
 * on the stack too); field mapping with nested sources and targets (a long path segment too) and
 * apply_updates; every conversion and its rejection; and refused options.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "fake_host.h"
#include "host/loader.h"

static struct cs_registry *reg;

static const cs_stage *stage(const char *name)
{
    const struct cs_component *c = cs_registry_find(reg, CS_KIND_STAGE, name);
    return c ? &c->u.stage : NULL;
}

/* A stage instance from JSON options; NULL when create() refused (fake_reason in `fake_reason`). */
static void *make(const char *name, const char *options_json)
{
    json_t *o = json_loads(options_json, 0, NULL);
    void *inst = NULL;
    fake_reason[0] = '\0';
    if (stage(name)->create(&fake_host, NULL, o, &inst) != CS_OK)
        inst = NULL;
    json_decref(o);
    return inst;
}

static cs_record *rec(const char *payload_json, int initial)
{
    cs_record *r = cs_record_new("contacts", "k1", CS_OP_UPSERT, json_loads(payload_json, 0, NULL), 0);
    if (initial)
        cs_record_set_initial(r, 1);
    return r;
}

/* Run `name` (already created as inst) on a payload; returns the status and the payload text after. */
static cs_status run(const char *name, void *inst, const char *payload_json, int initial, char **after, int *op)
{
    cs_record *r = rec(payload_json, initial);
    cs_status st = stage(name)->apply(inst, &r);
    *after = r ? json_dumps(cs_record_payload(r), JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    *op = r ? cs_record_op(r) : 0;
    json_decref(r);
    return st;
}

/* Apply stage `name` (inst) to a payload: CS_OK and the payload `want` after. */
static void check_apply(const char *name, void *inst, const char *payload_json, int initial, const char *want)
{
    char *after;
    int op;
    CHECK_INT(run(name, inst, payload_json, initial, &after, &op), CS_OK);
    CHECK_STR(after, want);
    free(after);
}

static int filter_keeps(const char *rule_json, const char *payload_json)
{
    char *opts, *after;
    void *inst;
    int op, kept;
    if (asprintf(&opts, "{\"rules\": [%s], \"match\": \"all\", \"delete_filtered\": false}", rule_json) < 0)
        return -1;
    inst = make("filter", opts);
    free(opts);
    if (!inst)
        return -1;
    run("filter", inst, payload_json, 0, &after, &op);
    kept = after != NULL;
    free(after);
    stage("filter")->destroy(inst);
    return kept;
}

static void test_filter_operators(void)
{
    const char *p = "{\"age\": 42, \"name\": \"Ada Lovelace\", \"vip\": true, \"since\": \"2024-05-01\", \"n\": null}";
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"eq\", \"value\": 42}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"eq\", \"value\": 41}", p), 0);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"ne\", \"value\": 41}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"gt\", \"value\": 9}", p), 1); /* numbers, not text */
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"ge\", \"value\": 42}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"lt\", \"value\": 42}", p), 0);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"le\", \"value\": 42}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"since\", \"op\": \"gt\", \"value\": \"2024-01-31\"}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"name\", \"op\": \"contains\", \"value\": \"Love\"}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"name\", \"op\": \"startswith\", \"value\": \"Love\"}", p), 0);
    CHECK_INT(filter_keeps("{\"field\": \"name\", \"op\": \"startswith\", \"value\": \"Ada\"}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"name\", \"op\": \"endswith\", \"value\": \"lace\"}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"in\", \"value\": [1, 42]}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"in\", \"value\": [1, 2]}", p), 0);
    CHECK_INT(filter_keeps("{\"field\": \"n\", \"op\": \"null\"}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"missing\", \"op\": \"null\"}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"notnull\"}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"vip\", \"op\": \"eq\", \"value\": true}", p), 1);
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"between\", \"value\": 1}", p), -1);
    CHECK_CONTAINS(fake_reason, "rules[0] needs an op");
    CHECK_INT(filter_keeps("{\"field\": \"age\", \"op\": \"in\", \"value\": 1}", p), -1);
    CHECK_CONTAINS(fake_reason, "\"in\" needs a list value");
}

static void test_filter_any_and_delete(void)
{
    void *any = make("filter", "{\"rules\": [{\"field\": \"a\", \"op\": \"eq\", \"value\": 1}, {\"field\": \"b\", "
                               "\"op\": \"eq\", \"value\": 1}], \"match\": \"any\", \"delete_filtered\": true}");
    char *after;
    int op;
    CHECK(any != NULL);
    CHECK_INT(run("filter", any, "{\"a\": 0, \"b\": 1}", 0, &after, &op), CS_OK);
    CHECK_STR(after, "{\"a\":0,\"b\":1}");
    CHECK_INT(op, CS_OP_UPSERT);
    free(after);
    CHECK_INT(run("filter", any, "{\"a\": 0, \"b\": 0}", 0, &after, &op), CS_OK);
    CHECK_STR(after, "{}"); /* turned into a delete of its key */
    CHECK_INT(op, CS_OP_DELETE);
    free(after);
    stage("filter")->destroy(any);
}

/* A source delete through the filter: passed by default, dropped with apply_deletes false, whatever
 * the rules say; delete_filtered still deletes a record that stops passing. */
static cs_record *filter_delete(const char *options_json)
{
    void *inst = make("filter", options_json);
    cs_record *r = cs_record_new("contacts", "k1", CS_OP_DELETE, NULL, 0);
    CHECK(inst != NULL);
    CHECK_INT(stage("filter")->apply(inst, &r), CS_OK);
    stage("filter")->destroy(inst);
    return r;
}

static void test_filter_apply_deletes(void)
{
    cs_record *r = filter_delete("{\"rules\": []}");
    char *after = NULL;
    int op = 0;
    void *inst;
    CHECK(r && cs_record_op(r) == CS_OP_DELETE);
    json_decref(r);
    r = filter_delete("{\"rules\": [{\"field\": \"x\", \"op\": \"null\"}], \"apply_deletes\": false}");
    CHECK(r == NULL);
    json_decref(r);
    inst = make("filter", "{\"rules\": [{\"field\": \"x\", \"op\": \"null\"}], \"apply_deletes\": false, "
                          "\"delete_filtered\": true}");
    CHECK_INT(run("filter", inst, "{\"x\": 1}", 0, &after, &op), CS_OK);
    CHECK(op == CS_OP_DELETE);
    free(after);
    stage("filter")->destroy(inst);
}

/* {"rules": [...]}: 70 rules, "fN" from N to "xN", then a second rule of f69 (more rules than a record's
 * marks keep on the stack). */
static char many_rules[8192];

static void make_many_rules(void)
{
    size_t n = (size_t)snprintf(many_rules, sizeof many_rules, "{\"rules\": [");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(many_rules + n, sizeof many_rules - n,
                              "{\"field\": \"f%d\", \"from\": %d, \"to\": \"x%d\"}, ", i, i, i);
    snprintf(many_rules + n, sizeof many_rules - n, "{\"field\": \"f69\", \"from\": \"x69\", \"to\": \"again\"}]}");
}

static void test_replace(void)
{
    void *r = make("replace", "{\"rules\": [{\"field\": \"colour\", \"from\": \"#00FF00\", \"to\": \"green\"}, "
                              "{\"field\": \"sex\", \"from\": \"1\", \"to\": \"F\"}, {\"field\": \"sex\", \"from\": 1, "
                              "\"to\": \"X\"}, {\"field\": \"a.b\", \"from\": true, \"to\": \"yes\"}]}");
    char *after;
    int op;
    CHECK(r != NULL);
    CHECK_INT(run("replace", r, "{\"colour\": \"#00FF00\", \"sex\": 1, \"a\": {\"b\": true}}", 0, &after, &op), CS_OK);
    CHECK_STR(after, "{\"a\":{\"b\":\"yes\"},\"colour\":\"green\",\"sex\":\"F\"}"); /* first rule of a field wins */
    free(after);
    CHECK_INT(run("replace", r, "{\"colour\": \"#FF0000\"}", 0, &after, &op), CS_OK);
    CHECK_STR(after, "{\"colour\":\"#FF0000\"}");
    free(after);
    stage("replace")->destroy(r);
    /* a field replaced is done: a later rule of it (even one that matches the new value) is not applied,
     * while the rules of other fields in between are; a value matches a rule's by text too */
    r = make("replace", "{\"rules\": [{\"field\": \"g\", \"from\": 1, \"to\": \"2\"}, {\"field\": \"h\", \"from\": 2, "
                        "\"to\": \"two\"}, {\"field\": \"g\", \"from\": \"2\", \"to\": \"Z\"}]}");
    CHECK(r != NULL);
    check_apply("replace", r, "{\"g\": 1, \"h\": \"2\"}", 0, "{\"g\":\"2\",\"h\":\"two\"}");
    check_apply("replace", r, "{\"g\": 2}", 0, "{\"g\":\"Z\"}");
    stage("replace")->destroy(r);
    r = make("replace", many_rules);
    CHECK(r != NULL); /* f69's second rule is not applied */
    check_apply("replace", r, "{\"f69\": 69, \"f3\": 3, \"f0\": 1}", 0, "{\"f0\":1,\"f3\":\"x3\",\"f69\":\"x69\"}");
    stage("replace")->destroy(r);
    CHECK(make("replace", "{\"rules\": [{\"field\": \"x\", \"from\": 1}]}") == NULL);
    CHECK_STR(fake_reason, "rules[0] needs field, from and to");
}

#define LONG_SEGMENT                                                                                                   \
    "segment_of_a_path_longer_than_the_one_hundred_and_twenty_eight_characters_the_stages_keep_on_the_stack_"          \
    "when_they_walk_a_dotted_path"

static void test_map(void)
{
    void *m = make("map", "{\"fields\": [{\"source\": \"firstname\", \"target\": \"firstName\"}, {\"source\": "
                          "\"address1_line2\", \"target\": \"location.address2\"}, {\"source\": \"birthdate\", "
                          "\"target\": \"birthDate\", \"apply_updates\": false}]}");
    char *after;
    int op;
    CHECK(m != NULL);
    CHECK_INT(run("map", m,
                  "{\"firstname\": \"Ada\", \"address1_line2\": \"Flat 2\", \"birthdate\": "
                  "\"1815-12-10\", \"secret\": 1}",
                  0, &after, &op),
              CS_OK);
    CHECK_STR(after, "{\"firstName\":\"Ada\",\"location\":{\"address2\":\"Flat 2\"}}"); /* no birthDate update */
    free(after);
    CHECK_INT(run("map", m, "{\"firstname\": \"Ada\", \"birthdate\": \"1815-12-10\"}", 1, &after, &op), CS_OK);
    CHECK_STR(after, "{\"birthDate\":\"1815-12-10\",\"firstName\":\"Ada\"}"); /* initial load: written */
    free(after);
    stage("map")->destroy(m);
    /* an object mapped twice is copied each time: a target written into one copy leaves the other */
    m = make("map", "{\"fields\": [{\"source\": \"address\", \"target\": \"home\"}, {\"source\": \"address\", "
                    "\"target\": \"work\"}, {\"source\": \"city\", \"target\": \"home.city\"}]}");
    CHECK(m != NULL);
    CHECK_INT(run("map", m, "{\"address\": {\"street\": \"x\"}, \"city\": \"Paris\"}", 1, &after, &op), CS_OK);
    CHECK_STR(after, "{\"home\":{\"city\":\"Paris\",\"street\":\"x\"},\"work\":{\"street\":\"x\"}}");
    free(after);
    stage("map")->destroy(m);
    CHECK(
        make("map", "{\"fields\": [{\"source\": \"a\", \"target\": \"t\"}, {\"source\": \"b\", \"target\": \"t\"}]}") ==
        NULL);
    CHECK_STR(fake_reason, "fields[1]: target t is already fed by a; map one source field onto it");
    /* nested sources and targets, a path segment longer than the stages keep on the stack */
    m = make("map", "{\"fields\": [{\"source\": \"a.b.c\", \"target\": \"x.y\"}, {\"source\": \"s\", \"target\": "
                    "\"" LONG_SEGMENT ".z\"}]}");
    CHECK(m != NULL);
    check_apply("map", m, "{\"a\": {\"b\": {\"c\": 7}}, \"s\": \"v\"}", 0,
                "{\"" LONG_SEGMENT "\":{\"z\":\"v\"},\"x\":{\"y\":7}}");
    stage("map")->destroy(m);
}

static void expect_convert(const char *type, const char *value_json, const char *want)
{
    char *opts, *payload, *after;
    void *c;
    int op;
    cs_status st;
    if (asprintf(&opts, "{\"types\": {\"f\": \"%s\"}}", type) < 0 || asprintf(&payload, "{\"f\": %s}", value_json) < 0)
        return;
    c = make("convert", opts);
    st = run("convert", c, payload, 0, &after, &op);
    if (want) {
        CHECK_INT(st, CS_OK);
        CHECK_STR(after, want);
    } else {
        CHECK_INT(st, CS_REJECT);
        CHECK_CONTAINS(fake_reason, "field f: ");
        CHECK_CONTAINS(fake_reason, type);
    }
    free(after);
    free(opts);
    free(payload);
    stage("convert")->destroy(c);
}

static void test_convert(void)
{
    expect_convert("integer", "\"42\"", "{\"f\":42}");
    expect_convert("integer", "7.0", "{\"f\":7}");
    expect_convert("integer", "\"4x\"", NULL);
    expect_convert("double", "\"2.5\"", "{\"f\":2.5}");
    expect_convert("float", "3", "{\"f\":3.0}");
    expect_convert("boolean", "\"yes\"", "{\"f\":true}");
    expect_convert("boolean", "0", "{\"f\":false}");
    expect_convert("boolean", "\"maybe\"", NULL);
    expect_convert("string", "12", "{\"f\":\"12\"}");
    expect_convert("date", "\"2024-05-01T10:00:00Z\"", "{\"f\":\"2024-05-01\"}");
    expect_convert("date", "\"01/05/2024\"", NULL);
    expect_convert("datetime", "\"2024-05-01T10:00:00Z\"", "{\"f\":\"2024-05-01T10:00:00Z\"}");
    expect_convert("datetime", "\"2024-05-01\"", NULL);
    expect_convert("integer", "null", "{\"f\":null}"); /* nulls stay null */
    CHECK_STR(fake_reason, "");
    expect_convert("integer", "\"4x\"", NULL);
    CHECK_STR(fake_reason, "field f: 4x is not a valid integer");
    CHECK(make("convert", "{\"types\": {\"f\": \"money\"}}") == NULL);
    CHECK_CONTAINS(fake_reason, "types.f: unknown type");
}

static int fake_made, fake_released;
static void *fake_make(void *arg)
{
    fake_made++;
    return arg;
}
static void fake_release(void *obj)
{
    (void)obj;
    fake_released++;
}

/* The fake host's connection_shared behaves as the core's for plugins under test: one object per name. */
static void test_fake_shared(void)
{
    int a, b;
    CHECK(fake_host.connection_shared(NULL, "token", fake_make, fake_release, &a) == &a);
    CHECK(fake_host.connection_shared(NULL, "token", fake_make, fake_release, &b) == &a);
    CHECK(fake_host.connection_shared(NULL, "metadata", fake_make, fake_release, &b) == &b);
    CHECK_INT(fake_made, 2);
    fake_shared_release();
    CHECK_INT(fake_released, 2);
}

int main(void)
{
    char *err = NULL;
    reg = cs_registry_new();
    if (!getenv("STAGES_DIR") || cs_loader_load(reg, getenv("STAGES_DIR"), "stages", &err) != 0) {
        fprintf(stderr, "cannot load stages: %s\n", err ? err : "STAGES_DIR not set");
        return 99;
    }
    test_filter_operators();
    test_filter_any_and_delete();
    test_filter_apply_deletes();
    make_many_rules();
    test_replace();
    test_map();
    test_convert();
    test_fake_shared();
    cs_registry_free(reg);
    return check_exit();
}
