/*
 * test_custom_entity.c - custom-entity.so loaded through the real loader and driven with the core's
 * host table, a core context holding the workflow's mappings (contacts -> profiles, new_vehicles ->
 * cusVehicle linked to the contact, new_services -> cusService linked to the vehicle) and a fake
 * describer standing for both connectors: every guardrail (max_links, max_depth, max_columns, each
 * raised), every option and metadata error message, a side that cannot describe, a describer that
 * fails, prepare()'s links, and order().
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core_options.h"
#include "host/host.h"
#include "host/loader.h"

static struct cs_registry *reg;
static json_t *described; /* {"source": {stream: description}, "target": {...}}; absent: CS_NODATA */

static const cs_entity *entity(void)
{
    return &cs_registry_find(reg, CS_KIND_ENTITY, "custom-entity")->u.entity;
}

static cs_status fake_describe(void *arg, const char *side, const char *stream, json_t **out, struct cs_ctx *caller)
{
    json_t *d = json_object_get(json_object_get(described, side), stream);
    (void)arg;
    if (json_is_string(d)) { /* "retry": the connector cannot answer now */
        cs_ctx_set_reason(caller, 503, 1000, json_string_value(d));
        return CS_RETRY;
    }
    if (!d)
        return CS_NODATA;
    *out = json_deep_copy(d);
    return CS_OK;
}

static const char *const MAPS =
    "[{\"stream\": \"contacts\", \"target\": \"profiles\", \"mapping\": {\"stream\": \"contacts\", \"target\": "
    "\"profiles\"}},"
    " {\"stream\": \"new_vehicles\", \"target\": \"cusVehicle\", \"mapping\": {\"stream\": \"new_vehicles\", "
    "\"target\": "
    "\"cusVehicle\", \"entity\": {\"name\": \"custom-entity\", \"links\": [{\"column\": \"_new_contact_value\", "
    "\"parent\": \"contacts\", \"link\": \"profile\"}]}}},"
    " {\"stream\": \"new_services\", \"target\": \"cusService\", \"mapping\": {\"stream\": \"new_services\", "
    "\"target\": "
    "\"cusService\", \"entity\": {\"name\": \"custom-entity\", \"links\": [{\"column\": \"new_vehicle\", \"parent\": "
    "\"new_vehicles\", \"link\": \"vehicle\"}]}}}]";

static const char *const DESCRIBED =
    "{\"source\": {"
    "  \"contacts\": {\"name\": \"contact\", \"key\": \"contactid\", \"fields\": {\"contactid\": {\"type\": "
    "\"string\"}}},"
    "  \"new_vehicles\": {\"name\": \"new_vehicle\", \"key\": \"new_vehicleid\", \"fields\": {"
    "     \"new_contact\": {\"type\": \"string\", \"native\": \"Lookup\", \"lookup\": \"contact\"},"
    "     \"new_owner\": {\"type\": \"string\", \"native\": \"Lookup\", \"lookup\": \"account\"},"
    "     \"new_year\": {\"type\": \"integer\", \"native\": \"Integer\"}}},"
    "  \"new_services\": {\"name\": \"new_service\", \"key\": \"new_serviceid\", \"fields\": {"
    "     \"new_vehicle\": {\"type\": \"string\", \"native\": \"Lookup\", \"lookup\": \"new_vehicle\"}}}},"
    " \"target\": {"
    "  \"profiles\": {\"name\": \"profile\", \"key\": \"externalId\", \"fields\": {}},"
    "  \"memberships\": {\"name\": \"cusMembership\", \"key\": \"membershipNumber\", \"fields\": {}},"
    "  \"cusVehicle\": {\"name\": \"cusVehicle\", \"key\": \"externalId\", \"fields\": {"
    "     \"profile\": {\"type\": \"other\", \"link\": \"profile\"}, \"owner\": {\"type\": \"string\"}}},"
    "  \"cusService\": {\"name\": \"cusService\", \"key\": \"externalId\", \"fields\": {"
    "     \"vehicle\": {\"type\": \"other\", \"link\": \"cusVehicle\"}}}}}";

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fprintf(stderr, "bad test JSON: %s (%s)\n", e.text, text);
    return j;
}

/* The options as the core hands them: every option, defaults filled. */
static json_t *options(const char *spec)
{
    json_t *o = load(spec);
    if (!json_object_get(o, "links"))
        json_object_set_new(o, "links", json_null());
    if (!json_object_get(o, "max_links"))
        json_object_set_new(o, "max_links", json_integer(5));
    if (!json_object_get(o, "max_depth"))
        json_object_set_new(o, "max_depth", json_integer(3));
    if (!json_object_get(o, "max_columns"))
        json_object_set_new(o, "max_columns", json_integer(50));
    return o;
}

/* The entity options of mapping `stream` in `maps` (new), as the core would resolve them. */
static json_t *options_of(json_t *maps, const char *stream)
{
    size_t i;
    json_t *m;
    json_array_foreach (maps, i, m)
        if (!strcmp(json_string_value(json_object_get(m, "stream")), stream)) {
            json_t *e = json_deep_copy(json_object_get(json_object_get(m, "mapping"), "entity")), *o;
            char *text;
            json_object_del(e, "name");
            text = json_dumps(e, 0);
            o = options(text);
            free(text);
            json_decref(e);
            return o;
        }
    return NULL;
}

struct made {
    struct cs_ctx *ctx;
    void *inst;
    cs_status st;
};

/* create() with these mappings (stolen) and options (stolen); describer on when `describe`. */
static struct made make(json_t *maps, json_t *opts, int describe)
{
    struct made m = {cs_ctx_new("test/custom-entity", "test/new_vehicles/custom-entity/0", NULL, NULL, NULL), NULL, 0};
    cs_ctx_set_streams(m.ctx, maps);
    if (describe)
        cs_ctx_set_describer(m.ctx, fake_describe, NULL);
    cs_ctx_clear_reason(m.ctx);
    m.st = entity()->create(&cs_host_table, m.ctx, opts, &m.inst);
    json_decref(opts);
    return m;
}

static void unmake(struct made *m)
{
    if (m->st == CS_OK)
        entity()->destroy(m->inst);
    cs_ctx_free(m->ctx);
}

/* create() for mapping `stream` of `maps` (stolen) with its own entity options; returns the reason
 * ("" when created). */
static char reason[1024];
static cs_status create_for(json_t *maps, const char *stream, int describe)
{
    struct made m = make(maps, options_of(maps, stream), describe);
    cs_status st = m.st;
    snprintf(reason, sizeof reason, "%s", st == CS_OK ? "" : cs_ctx_reason(m.ctx, "(no reason)"));
    unmake(&m);
    return st;
}

/* MAPS with the entity of mapping `stream` replaced by `entity_json`. New. */
static json_t *maps_with(const char *stream, const char *entity_json)
{
    json_t *maps = load(MAPS), *m;
    size_t i;
    json_array_foreach (maps, i, m)
        if (!strcmp(json_string_value(json_object_get(m, "stream")), stream))
            json_object_set_new(json_object_get(m, "mapping"), "entity", load(entity_json));
    return maps;
}

static void append_mapping(json_t *maps, const char *stream, const char *target, const char *entity_json)
{
    json_t *def = json_pack("{s:s, s:s}", "stream", stream, "target", target);
    if (entity_json)
        json_object_set_new(def, "entity", load(entity_json));
    json_array_append_new(maps, json_pack("{s:s, s:s, s:o}", "stream", stream, "target", target, "mapping", def));
}

static void test_valid_chain(void)
{
    CHECK_INT(create_for(load(MAPS), "new_vehicles", 1), CS_OK);
    CHECK_STR(reason, "");
    CHECK_INT(create_for(load(MAPS), "new_services", 1), CS_OK);
    CHECK_STR(reason, "");
    /* a side that cannot describe is not checked */
    json_object_del(described, "target");
    CHECK_INT(create_for(load(MAPS), "new_vehicles", 1), CS_OK);
    CHECK_INT(create_for(load(MAPS), "new_vehicles", 0), CS_OK);
}

static void test_prepare_and_order(void)
{
    json_t *maps = load(MAPS);
    struct made m = make(json_incref(maps), options_of(maps, "new_vehicles"), 1);
    cs_record *r;
    CHECK_INT(m.st, CS_OK);
    if (m.st != CS_OK)
        goto out;
    r = cs_record_new("new_vehicles", "v1", CS_OP_UPSERT,
                      load("{\"new_name\": \"Car\", \"_new_contact_value\": \"6B29FC40-CA47-1067-B31D-00DD010662DA\"}"),
                      0);
    CHECK_INT(entity()->prepare(m.inst, &r), CS_OK);
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "links"), "profile")),
              "6b29fc40-ca47-1067-b31d-00dd010662da");
    json_object_set_new(cs_record_payload(r), "_new_contact_value", json_null());
    CHECK_INT(entity()->prepare(m.inst, &r), CS_OK);
    CHECK(json_is_null(json_object_get(json_object_get(r, "links"), "profile")));
    CHECK(json_object_get(json_object_get(r, "links"), "profile") != NULL);
    json_object_del(cs_record_payload(r), "_new_contact_value");
    json_object_set_new(cs_record_payload(r), "new_contact", json_string("AB"));
    CHECK_INT(entity()->prepare(m.inst, &r), CS_OK); /* the lookup under its logical name */
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "links"), "profile")), "ab");
    json_object_set_new(cs_record_payload(r), "new_contact", json_integer(42));
    cs_ctx_clear_reason(m.ctx);
    CHECK_INT(entity()->prepare(m.inst, &r), CS_REJECT);
    CHECK_CONTAINS(cs_ctx_reason(m.ctx, ""), "key v1: links[0].column '_new_contact_value' holds a number, not the key "
                                             "of a parent record");
    json_object_del(cs_record_payload(r), "new_contact");
    CHECK_INT(entity()->prepare(m.inst, &r), CS_FATAL);
    CHECK_CONTAINS(cs_ctx_reason(m.ctx, ""), "stream new_vehicles: the records carry no column '_new_contact_value' "
                                             "(links[0].column); the source must read it");
    json_decref(r);
    r = cs_record_new("new_vehicles", "v1", CS_OP_DELETE, NULL, 0);
    CHECK_INT(entity()->prepare(m.inst, &r), CS_OK);
    CHECK(json_object_get(r, "links") == NULL);
    json_decref(r);

    CHECK_INT(entity()->order(m.inst, "contacts"), 0);
    CHECK_INT(entity()->order(m.inst, "profiles"), 0);
    CHECK_INT(entity()->order(m.inst, "new_vehicles"), 1);
    CHECK_INT(entity()->order(m.inst, "cusVehicle"), 1);
    CHECK_INT(entity()->order(m.inst, "cusService"), 2);
    CHECK_INT(entity()->order(m.inst, "unknown"), 0);
out:
    unmake(&m);
    json_decref(maps);
}

static void test_max_links(void)
{
    const char *six = "{\"name\": \"custom-entity\", \"links\": ["
                      "{\"column\": \"a1\", \"parent\": \"contacts\", \"link\": \"l1\"},"
                      "{\"column\": \"a2\", \"parent\": \"contacts\", \"link\": \"l2\"},"
                      "{\"column\": \"a3\", \"parent\": \"contacts\", \"link\": \"l3\"},"
                      "{\"column\": \"a4\", \"parent\": \"contacts\", \"link\": \"l4\"},"
                      "{\"column\": \"a5\", \"parent\": \"contacts\", \"link\": \"l5\"},"
                      "{\"column\": \"a6\", \"parent\": \"contacts\", \"link\": \"l6\"}]%s}";
    char spec[1024];
    snprintf(spec, sizeof spec, six, "");
    CHECK_INT(create_for(maps_with("new_vehicles", spec), "new_vehicles", 0), CS_FATAL);
    CHECK_CONTAINS(reason,
                   "mapping new_vehicles -> cusVehicle: 6 linked columns in links, more than max_links (5); "
                   "link at most 5 columns of this custom resource, or raise the custom-entity option max_links");
    snprintf(spec, sizeof spec, six, ", \"max_links\": 6");
    CHECK_INT(create_for(maps_with("new_vehicles", spec), "new_vehicles", 0), CS_OK);
}

static void test_max_depth(void)
{
    json_t *maps = load(MAPS);
    const char *parts = "{\"name\": \"custom-entity\", \"links\": [{\"column\": \"new_service\", \"parent\": "
                        "\"new_services\", \"link\": \"service\"}]%s}";
    char spec[512];
    snprintf(spec, sizeof spec, parts, "");
    append_mapping(maps, "new_parts", "cusPart", spec);
    CHECK_INT(create_for(maps, "new_parts", 0), CS_FATAL);
    CHECK_CONTAINS(reason, "mapping new_parts -> cusPart: the link chain contacts -> new_vehicles -> new_services -> "
                           "new_parts is 4 tables deep, more than max_depth (3); link fewer levels, or raise the "
                           "custom-entity option max_depth");
    maps = load(MAPS);
    snprintf(spec, sizeof spec, parts, ", \"max_depth\": 4");
    append_mapping(maps, "new_parts", "cusPart", spec);
    CHECK_INT(create_for(maps, "new_parts", 0), CS_OK);
    /* 3 tables is the default limit itself */
    CHECK_INT(create_for(load(MAPS), "new_services", 0), CS_OK);
}

/* A map stage of n fields, or a "columns" list of n (as the core passes it). */
static json_t *maps_with_columns(int n, int as_columns, const char *extra)
{
    json_t *maps = load(MAPS), *m = json_array_get(maps, 1), *list = json_array();
    char spec[256];
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "new_c%d", i);
        json_array_append_new(list,
                              as_columns ? json_string(name) : json_pack("{s:s, s:s}", "source", name, "target", name));
    }
    if (as_columns)
        json_object_set_new(m, "columns", list);
    else
        json_object_set_new(json_object_get(m, "mapping"), "stages",
                            json_pack("[{s:s, s:o}]", "name", "map", "fields", list));
    snprintf(spec, sizeof spec,
             "{\"name\": \"custom-entity\", \"links\": [{\"column\": \"_new_contact_value\", "
             "\"parent\": \"contacts\", \"link\": \"profile\"}]%s}",
             extra);
    json_object_set_new(json_object_get(m, "mapping"), "entity", load(spec));
    return maps;
}

static void test_max_columns(void)
{
    CHECK_INT(create_for(maps_with_columns(50, 1, ""), "new_vehicles", 1), CS_OK);
    CHECK_INT(create_for(maps_with_columns(51, 1, ""), "new_vehicles", 1), CS_FATAL);
    CHECK_CONTAINS(reason,
                   "mapping new_vehicles -> cusVehicle: 51 mapped columns, more than max_columns (50); map fewer "
                   "columns, or raise the custom-entity option max_columns");
    CHECK_INT(create_for(maps_with_columns(51, 0, ""), "new_vehicles", 1), CS_FATAL);
    CHECK_CONTAINS(reason, "51 mapped columns, more than max_columns (50)");
    CHECK_INT(create_for(maps_with_columns(60, 0, ", \"max_columns\": 60"), "new_vehicles", 1), CS_OK);
}

static void test_metadata_errors(void)
{
    json_t *saved = json_deep_copy(described);
    CHECK_INT(
        create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": [{\"column\": "
                                             "\"_new_x_value\", \"parent\": \"contacts\", \"link\": \"profile\"}]}"),
                   "new_vehicles", 1),
        CS_FATAL);
    CHECK_CONTAINS(reason, "mapping new_vehicles -> cusVehicle: links[0].column '_new_x_value' is not a column of "
                           "Dynamics 365 table 'new_vehicle'; name one of its lookup columns (new_contact, new_owner)");
    CHECK_INT(create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": [{\"column\": "
                                                   "\"new_year\", \"parent\": \"contacts\", \"link\": \"profile\"}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason, "links[0].column 'new_year' is a Integer column of 'new_vehicle', not a lookup; name the "
                           "lookup column that points at the parent's table");
    CHECK_INT(create_for(maps_with("new_vehicles",
                                   "{\"name\": \"custom-entity\", \"links\": [{\"column\": "
                                   "\"_new_owner_value\", \"parent\": \"contacts\", \"link\": \"profile\"}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason,
                   "links[0].column '_new_owner_value' looks up table 'account', but the parent mapping contacts "
                   "-> profiles reads table 'contact'; name the lookup column that points at 'contact', or fix "
                   "links[0].parent");
    CHECK_INT(create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": [{\"column\": "
                                                   "\"new_contact\", \"parent\": \"contacts\", \"link\": \"owner\"}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason,
                   "links[0].link 'owner' is not a link of Campaign resource 'cusVehicle' (its links: profile); "
                   "name one of them, or add the link to the custom resource in Campaign and publish it");
    /* the parent mapping writes another resource than the link points to */
    json_object_set_new(json_object_get(described, "target"), "profiles",
                        load("{\"name\": \"cusMembership\", \"key\": \"membershipNumber\", \"fields\": {}}"));
    CHECK_INT(create_for(load(MAPS), "new_vehicles", 1), CS_FATAL);
    CHECK_CONTAINS(reason,
                   "links[0].link 'profile' points to Campaign resource 'profile', but the parent mapping contacts "
                   "-> profiles writes 'cusMembership'; name the link of 'cusVehicle' to 'cusMembership', or fix "
                   "links[0].parent");
    /* a connector that cannot answer now: create fails with its reason */
    json_object_set_new(json_object_get(described, "source"), "new_vehicles", json_string("dataverse: HTTP 503"));
    CHECK_INT(create_for(load(MAPS), "new_vehicles", 1), CS_RETRY);
    CHECK_STR(reason, "dataverse: HTTP 503");
    json_decref(described);
    described = saved;
}

static void test_option_and_chain_errors(void)
{
    char *err;
    CHECK_INT(create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": [{\"column\": \"a\", "
                                                   "\"parent\": \"contacts\"}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason,
                   "links[0]: needs column (the Dynamics 365 lookup column, e.g. _new_contact_value), parent (the "
                   "stream of the parent mapping) and link");
    CHECK_INT(create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": [{\"column\": \"a\", "
                                                   "\"parent\": \"contacts\", \"link\": \"l\", \"to\": 1}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason, "links[0].to: unknown key (expected column, parent, link)");
    CHECK_INT(create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": ["
                                                   "{\"column\": \"a\", \"parent\": \"contacts\", \"link\": \"l\"},"
                                                   "{\"column\": \"b\", \"parent\": \"contacts\", \"link\": \"l\"}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason, "links[1].link: 'l' is already filled by links[0]");
    CHECK_INT(create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": [{\"column\": \"a\", "
                                                   "\"parent\": \"new_accounts\", \"link\": \"l\"}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason, "mapping new_vehicles -> cusVehicle: links[0].parent 'new_accounts' is not the stream of a "
                           "mapping of this workflow; map that table too (its records are the parents), or fix "
                           "links[0].parent");
    CHECK_INT(create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": [{\"column\": \"a\", "
                                                   "\"parent\": \"new_vehicles\", \"link\": \"l\"}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason, "links[0].parent 'new_vehicles' is this mapping's own stream");
    /* vehicles and services each other's parent */
    CHECK_INT(create_for(maps_with("new_vehicles", "{\"name\": \"custom-entity\", \"links\": [{\"column\": \"a\", "
                                                   "\"parent\": \"new_services\", \"link\": \"l\"}]}"),
                         "new_vehicles", 1),
              CS_FATAL);
    CHECK_CONTAINS(reason, "the links of the workflow's mappings form a cycle (new_vehicles -> new_services -> "
                           "new_vehicles)");
    err = core_option_errors(cs_registry_find(reg, CS_KIND_ENTITY, "custom-entity"),
                             "max_links: 0, max_depth: 0, max_columns: 0");
    CHECK_CONTAINS(err, ":3:21: connections.c.max_links: must be at least 1, got 0\n");
    CHECK_CONTAINS(err, ":3:35: connections.c.max_depth: must be at least 1, got 0\n");
    CHECK_CONTAINS(err, ":3:49: connections.c.max_columns: must be at least 1, got 0");
    free(err);
}

int main(void)
{
    char *err = NULL;
    reg = cs_registry_new();
    if (!getenv("CUSTOM_ENTITY_DIR") || cs_loader_load(reg, getenv("CUSTOM_ENTITY_DIR"), "custom-entity", &err) != 0) {
        fprintf(stderr, "cannot load custom-entity: %s\n", err ? err : "CUSTOM_ENTITY_DIR not set");
        free(err);
        return 1;
    }
    described = load(DESCRIBED);
    test_valid_chain();
    json_decref(described);
    described = load(DESCRIBED);
    test_prepare_and_order();
    test_max_links();
    test_max_depth();
    test_max_columns();
    test_metadata_errors();
    test_option_and_chain_errors();
    json_decref(described);
    cs_registry_free(reg);
    return check_exit();
}
