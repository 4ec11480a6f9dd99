/*
 * test_adobe.c - adobe.so's entity handlers (loaded through the real loader) against a fake host:
 * email-activity (Adobe's subject, every column, the 200-character cut on a character boundary, the
 * owner, refused options, an event without externalId) and opt-in-out (both directions, unpaired and
 * keyless lines, the rule's members in bidirectional mode, disabled, and every refusal: mode (by the
 * core, from the option table's choices), attribute, attribute twice, a direction the mode does not
 * include, a D365 column that is not boolean).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core_options.h"
#include "fake_host.h"
#include "host/loader.h"

static struct cs_registry *reg;

static const cs_entity *entity(const char *name)
{
    const struct cs_component *c = cs_registry_find(reg, CS_KIND_ENTITY, name);
    return c ? &c->u.entity : NULL;
}

static void *make(const char *name, const char *options_json)
{
    json_t *o = json_loads(options_json, 0, NULL);
    void *inst = NULL;
    fake_reason[0] = '\0';
    if (entity(name)->create(&fake_host, NULL, o, &inst) != CS_OK)
        inst = NULL;
    json_decref(o);
    return inst;
}

/* prepare() on a record; returns the status, *out the record after (key + payload as sorted JSON) or NULL. */
static cs_status run(const char *name, void *inst, const char *stream, const char *key, const char *payload_json,
                     char **out)
{
    cs_record *r = cs_record_new(stream, key, CS_OP_UPSERT, json_loads(payload_json, 0, NULL), 0);
    cs_status st = entity(name)->prepare(inst, &r);
    *out = NULL;
    if (r) {
        json_t *view = json_pack("{s:O, s:O}", "key", json_object_get(r, "key"), "payload", cs_record_payload(r));
        *out = json_dumps(view, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(view);
    }
    json_decref(r);
    return st;
}

static const char *EVENT = "{\"eventId\": \"e1\", \"type\": \"click\", \"timestamp\": \"2026-11-28T10:00:00+00:00\","
                           "\"profileExternalId\": \"11111111-2222-3333-4444-555555555555\", "
                           "\"campaignName\": \"Spring\","
                           "\"deliveryName\": \"DM1\", \"url\": \"https://x.example/o\", "
                           "\"mirrorPageUrl\": \"https://m\","
                           "\"email\": \"a@example.com\", \"recipientId\": \"42\"}";

static void test_email_activity(void)
{
    void *e = make("email-activity", "{\"event_id_column\": \"new_acseventid\", \"subject_column\": \"subject\","
                                     "\"subject_format\": \"Campaign Name: {campaignName}; "
                                     "Delivery Name: {deliveryName}\","
                                     "\"campaign_column\": \"new_campaignname\", "
                                     "\"delivery_column\": \"new_deliveryname\","
                                     "\"time_column\": \"new_eventtime\", \"url_column\": \"new_trackingurl\","
                                     "\"mirror_column\": \"new_mirrorpageurl\", "
                                     "\"regarding_column\": \"regardingobjectid\","
                                     "\"owner_column\": \"ownerid\"}");
    char *out, big[1200], want[1400];
    CHECK(e != NULL);
    CHECK(run("email-activity", e, "email-events.click", "e1", EVENT, &out) == CS_OK);
    CHECK_STR(out, "{\"key\":\"e1\",\"payload\":{\"new_acseventid\":\"e1\",\"new_campaignname\":\"Spring\","
                   "\"new_deliveryname\":\"DM1\",\"new_eventtime\":\"2026-11-28T10:00:00+00:00\","
                   "\"new_mirrorpageurl\":\"https://m\",\"new_trackingurl\":\"https://x.example/o\","
                   "\"regardingobjectid\":\"11111111-2222-3333-4444-555555555555\","
                   "\"subject\":\"Campaign Name: Spring; Delivery Name: DM1\"}}");
    free(out);
    /* a send has no url: no tracking URL column */
    CHECK(run("email-activity", e, "email-events.send", "e2",
              "{\"eventId\": \"e2\", \"profileExternalId\": \"p\", \"campaignName\": \"C\"}", &out) == CS_OK);
    CHECK_STR(out, "{\"key\":\"e2\",\"payload\":{\"new_acseventid\":\"e2\",\"new_campaignname\":\"C\","
                   "\"regardingobjectid\":\"p\",\"subject\":\"Campaign Name: C; Delivery Name: \"}}");
    free(out);
    /* 300 two-byte characters: cut at 200 characters, never inside one */
    size_t at =
        (size_t)snprintf(big, sizeof big, "{\"eventId\": \"e3\", \"profileExternalId\": \"p\", \"campaignName\": \"");
    for (int i = 0; i < 300; i++)
        at += (size_t)snprintf(big + at, sizeof big - at, "\xc3\xa9");
    snprintf(big + at, sizeof big - at, "\"}");
    CHECK(run("email-activity", e, "email-events.open", "e3", big, &out) == CS_OK);
    at = (size_t)snprintf(want, sizeof want, "Campaign Name: ");
    for (int i = 0; i < 200 - 15; i++)
        at += (size_t)snprintf(want + at, sizeof want - at, "\xc3\xa9");
    CHECK_CONTAINS(out, want);
    CHECK(strstr(out, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"") != NULL && strstr(out, want)[strlen(want)] == '"');
    free(out);
    CHECK(run("email-activity", e, "email-events.open", "e4", "{\"eventId\": \"e4\", \"profileExternalId\": \"\"}",
              &out) == CS_REJECT);
    CHECK_CONTAINS(fake_reason, "has no externalId");
    free(out);
    entity("email-activity")->destroy(e);

    e = make("email-activity", "{\"event_id_column\": \"new_acseventid\", \"subject_column\": \"subject\","
                               "\"subject_format\": \"{deliveryName}\", "
                               "\"owner\": \"00000000-0000-0000-0000-00000000a002\","
                               "\"owner_column\": \"ownerid\", \"url_column\": \"\"}");
    CHECK(e != NULL);
    CHECK(run("email-activity", e, "email-events.click", "e1", EVENT, &out) == CS_OK);
    CHECK_STR(out, "{\"key\":\"e1\",\"payload\":{\"new_acseventid\":\"e1\","
                   "\"ownerid\":\"00000000-0000-0000-0000-00000000a002\",\"subject\":\"DM1\"}}");
    free(out);
    entity("email-activity")->destroy(e);
    CHECK(make("email-activity", "{\"owner\": \"Sales Rep\", \"owner_column\": \"ownerid\", "
                                 "\"event_id_column\": \"new_acseventid\"}") == NULL);
    CHECK_CONTAINS(fake_reason, "owner must be the id (a GUID)");
    CHECK(make("email-activity", "{\"event_id_column\": \"\"}") == NULL);
    CHECK_CONTAINS(fake_reason, "event_id_column must name the column");
}

static const char *PAIRS = "{\"donotbulkemail\": \"blackListEmail\", \"donotemail\": \"blackList\"}";

static void *optinout(const char *mode, const char *fields)
{
    char opts[512];
    snprintf(opts, sizeof opts, "{\"mode\": \"%s\", \"fields\": %s}", mode, fields);
    return make("opt-in-out", opts);
}

static void test_optinout_directions(void)
{
    void *o = optinout("bidirectional", PAIRS);
    char *out;
    CHECK(o != NULL);
    CHECK(run("opt-in-out", o, "opt-outs", "c1/blackListEmail",
              "{\"externalId\": \"c1\", \"email\": \"a@x\", \"field\": \"blackListEmail\", \"value\": true,"
              " \"lastModified\": \"2026-11-28 10:00:01.250Z\"}",
              &out) == CS_OK);
    CHECK_STR(out, "{\"key\":\"c1\",\"payload\":{\"@optout.changed\":1795860001250,\"@optout.rule\":\"adobe\","
                   "\"donotbulkemail\":true}}");
    free(out);
    CHECK(run("opt-in-out", o, "opt-outs", "c1/blackListFax",
              "{\"externalId\": \"c1\", \"field\": \"blackListFax\", \"value\": true}", &out) == CS_OK);
    CHECK(out == NULL); /* unpaired: skipped */
    CHECK(run("opt-in-out", o, "opt-outs", "a@x/blackList",
              "{\"externalId\": \"\", \"email\": \"a@x\", \"field\": \"blackList\", "
              "\"value\": true}",
              &out) == CS_REJECT);
    CHECK_CONTAINS(fake_reason, "has no externalId");
    free(out);
    CHECK(run("opt-in-out", o, "contact-optouts", "c2",
              "{\"donotbulkemail\": false, \"donotemail\": true, \"firstname\": \"x\","
              " \"modifiedon\": \"2026-11-28T10:00:02Z\"}",
              &out) == CS_OK);
    CHECK_STR(out, "{\"key\":\"c2\",\"payload\":{\"@optout.changed\":1795860002000,\"@optout.rule\":\"adobe\","
                   "\"blackList\":true,\"blackListEmail\":false}}");
    free(out);
    entity("opt-in-out")->destroy(o);

    o = optinout("campaign-to-d365", PAIRS);
    CHECK(run("opt-in-out", o, "opt-outs-poll", "c1/blackList",
              "{\"externalId\": \"c1\", \"field\": \"blackList\", \"value\": false, "
              "\"lastModified\": \"x\"}",
              &out) == CS_OK);
    CHECK_STR(out, "{\"key\":\"c1\",\"payload\":{\"donotemail\":false}}");
    free(out);
    CHECK(run("opt-in-out", o, "contact-optouts", "c2", "{\"donotemail\": true}", &out) == CS_OK);
    CHECK(out == NULL); /* the other way: not in this mode */
    entity("opt-in-out")->destroy(o);

    o = optinout("disabled", PAIRS);
    CHECK(run("opt-in-out", o, "opt-outs", "c1/blackList",
              "{\"externalId\": \"c1\", \"field\": \"blackList\","
              " \"value\": true}",
              &out) == CS_OK);
    CHECK(out == NULL);
    entity("opt-in-out")->destroy(o);
}

static void test_optinout_refusals(void)
{
    char *err = core_option_errors(cs_registry_find(reg, CS_KIND_ENTITY, "opt-in-out"),
                                   "mode: both, fields: {donotbulkemail: blackListEmail}");
    CHECK_CONTAINS(err, ":3:21: connections.c.mode: unknown value \"both\" (expected one of: disabled, "
                        "d365-to-campaign, campaign-to-d365, bidirectional)");
    free(err);
    CHECK(optinout("bidirectional", "{\"donotbulkemail\": \"blackListSms\"}") == NULL);
    CHECK_CONTAINS(fake_reason, "\"blackListSms\" is not a Campaign opt-out attribute; use one of blackList, "
                                "blackListEmail, "
                                "blackListFax, blackListMobile, blackListPhone, blackListPostalMail, "
                                "blackListPushnotification or ccpaOptOut");
    CHECK(optinout("bidirectional", "{\"donotbulkemail\": \"blackList\", \"donotemail\": \"blackList\"}") == NULL);
    CHECK_CONTAINS(fake_reason, "blackList is already paired");
    CHECK(optinout("bidirectional", "{}") == NULL);
    CHECK_CONTAINS(fake_reason, "fields: must pair");

    fake_maps = json_loads("[{\"stream\": \"opt-outs\", \"target\": \"contact-optouts\","
                           " \"mapping\": {\"entity\": {\"name\": \"opt-in-out\"}}}]",
                           0, NULL);
    CHECK(optinout("d365-to-campaign", PAIRS) == NULL);
    CHECK_CONTAINS(fake_reason, "which mode d365-to-campaign does not include; set mode to campaign-to-d365 or b"
                                "idirectional");
    fake_described = json_loads("{\"fields\": {\"donotbulkemail\": {\"type\": \"boolean\"}, "
                                "\"donotemail\": {\"type\": \"string\"}}}",
                                0, NULL);
    CHECK(optinout("campaign-to-d365", PAIRS) == NULL);
    CHECK_CONTAINS(fake_reason, "fields.donotemail: donotemail is a string column");
    json_decref(fake_described);
    fake_described = json_loads("{\"fields\": {\"donotbulkemail\": {\"type\": \"boolean\"}}}", 0, NULL);
    CHECK(optinout("campaign-to-d365", PAIRS) == NULL);
    CHECK_CONTAINS(fake_reason, "Dynamics 365 has no column donotemail");
    json_decref(fake_described);
    fake_described = NULL;
    json_decref(fake_maps);
    fake_maps = NULL;
}

int main(void)
{
    char *err = NULL;
    reg = cs_registry_new();
    if (!getenv("ADOBE_PLUGIN") || cs_loader_load(reg, NULL, getenv("ADOBE_PLUGIN"), &err) != 0) {
        fprintf(stderr, "cannot load adobe.so: %s\n", err ? err : "ADOBE_PLUGIN not set");
        return 99;
    }
    test_email_activity();
    test_optinout_directions();
    test_optinout_refusals();
    cs_registry_free(reg);
    return check_exit();
}
