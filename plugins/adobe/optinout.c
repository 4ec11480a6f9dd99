/*
 * optinout.c - the entity handler "opt-in-out": Adobe's Opt In/Out between the Dynamics 365 contact and
 * the Campaign profile (reference §4). Options: `mode` (disabled, d365-to-campaign, campaign-to-d365,
 * bidirectional) and `fields`, the pairs {D365 boolean column: Campaign attribute}, the attribute one of
 * blackList, blackListEmail, blackListFax, blackListMobile, blackListPhone, blackListPostalMail,
 * blackListPushnotification, ccpaOptOut (each at most once: no many-to-one). A mapping of Campaign's
 * opt-out streams (opt-outs, opt-outs-poll: {externalId, field, value, lastModified}) goes Campaign to
 * Dynamics 365: its record becomes the update of the contact whose contactid is the profile's
 * externalId; any other mapping reads Dynamics 365 contacts and goes the other way: the record becomes
 * the profile's deny-list attributes, keyed by the contactid (the profile's externalId). A direction
 * the mode does not include fails the workflow at start. In a workflow with legs (Opt In/Out as one
 * workflow, legs campaign-to-d365 and d365-to-campaign) the core sets `mode` to the workflow's direction.
 * In bidirectional mode each record also carries
 * "@optout.rule": "adobe" and "@optout.changed" (its side's change time: the attribute's lastModified in
 * Campaign, the contact's modifiedon in Dynamics 365), and the sink applies §4.3 against the current
 * value and time of its own side at write time (dynamics365: d365_optout.c; campaign:
 * acs_optout_sink.c). A pure function of the record: the same output whenever the core runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adobe.h"

#define RULE_MEMBER    "@optout.rule"
#define CHANGED_MEMBER "@optout.changed"

static const char *const ATTRIBUTES[] = {"blackList",
                                         "blackListEmail",
                                         "blackListFax",
                                         "blackListMobile",
                                         "blackListPhone",
                                         "blackListPostalMail",
                                         "blackListPushnotification",
                                         "ccpaOptOut",
                                         NULL};
#define ALLOWED                                                                                                        \
    "blackList, blackListEmail, blackListFax, blackListMobile, blackListPhone, blackListPostalMail, "                  \
    "blackListPushnotification or ccpaOptOut"

enum mode { DISABLED, TO_CAMPAIGN, TO_D365, BIDIRECTIONAL };
static const char *const MODES[] = {"disabled", "d365-to-campaign", "campaign-to-d365", "bidirectional", NULL};

struct optinout {
    const cs_host *host;
    cs_ctx *ctx;
    enum mode mode;
    json_t *to_campaign; /* D365 column -> Campaign attribute */
    json_t *to_d365;     /* Campaign attribute -> D365 column */
};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "mode", CS_OPT_STRING, 0, NULL,
     "which way the flags move; bidirectional follows Adobe's conflict rule; in a workflow with legs, the "
     "workflow's direction",
     .choices = MODES},
    {CS_SETTING_HEAD, "fields", CS_OPT_JSON, CS_OPT_REQUIRED, NULL,
     "{D365 boolean column: Campaign attribute}, the attribute one of " ALLOWED},
    {CS_SETTING_HEAD, NULL},
};

static void oio_destroy(void *inst)
{
    struct optinout *o = inst;
    if (!o)
        return;
    json_decref(o->to_campaign);
    json_decref(o->to_d365);
    free(o);
}

static int allowed_attribute(const char *a)
{
    for (size_t i = 0; ATTRIBUTES[i]; i++)
        if (strcmp(a, ATTRIBUTES[i]) == 0)
            return 1;
    return 0;
}

/* A stream Campaign's opt-outs come from. */
static int from_campaign(const char *stream)
{
    return stream && (strcmp(stream, "opt-outs") == 0 || strcmp(stream, "opt-outs-poll") == 0);
}

/* The D365 side of the pairs must be boolean columns, when the connector can tell (describe()). */
static cs_status check_d365_types(struct optinout *o, const char *side, const char *stream)
{
    json_t *desc = NULL, *col;
    const char *name;
    cs_status st = CS_OK;
    if (o->host->struct_size < offsetof(cs_host, describe) + sizeof o->host->describe || !o->host->describe ||
        o->host->describe(o->ctx, side, stream, &desc) != CS_OK)
        return CS_OK; /* nothing to check against: the sink refuses a wrong column per record */
    json_object_foreach (o->to_campaign, name, col) {
        const json_t *f = json_object_get(json_object_get(desc, "fields"), name);
        const char *type = json_string_value(json_object_get(f, "type"));
        if (!f) {
            o->host->set_reason(o->ctx, 0, 0,
                                "fields.%s: Dynamics 365 has no column %s on %s; name a boolean column "
                                "of the contact (e.g. donotbulkemail)",
                                name, name, stream);
            st = CS_FATAL;
        } else if (type && strcmp(type, "boolean") != 0) {
            o->host->set_reason(o->ctx, 0, 0,
                                "fields.%s: %s is a %s column; opt-in/out pairs take a boolean column "
                                "of the contact",
                                name, name, type);
            st = CS_FATAL;
        }
        if (st != CS_OK)
            break;
    }
    json_decref(desc);
    return st;
}

/* Every mapping this handler serves must go a way the mode includes. */
static cs_status check_directions(struct optinout *o)
{
    json_t *maps, *m;
    size_t i;
    cs_status st = CS_OK;
    if (o->host->struct_size < offsetof(cs_host, mapping_streams) + sizeof o->host->mapping_streams ||
        !o->host->mapping_streams)
        return CS_OK;
    maps = o->host->mapping_streams(o->ctx);
    json_array_foreach (maps, i, m) {
        const char *stream = json_string_value(json_object_get(m, "stream"));
        const char *target = json_string_value(json_object_get(m, "target"));
        const char *entity =
            json_string_value(json_object_get(json_object_get(json_object_get(m, "mapping"), "entity"), "name"));
        int inbound = from_campaign(stream);
        if (!entity || strcmp(entity, "opt-in-out") != 0)
            continue;
        if ((inbound && o->mode == TO_CAMPAIGN) || (!inbound && o->mode == TO_D365)) {
            o->host->set_reason(o->ctx, 0, 0,
                                "mapping %s -> %s goes %s, which mode %s does not include; set mode to "
                                "%s or bidirectional, or remove the mapping",
                                stream ? stream : "?", target ? target : "?",
                                inbound ? "from Campaign to Dynamics 365" : "from Dynamics 365 to Campaign",
                                MODES[o->mode], inbound ? "campaign-to-d365" : "d365-to-campaign");
            st = CS_FATAL;
            break;
        }
        if (o->mode != DISABLED && (st = check_d365_types(o, inbound ? "target" : "source",
                                                          inbound ? (target ? target : stream) : stream)) != CS_OK)
            break;
    }
    json_decref(maps);
    return st;
}

static cs_status oio_create(const cs_host *host, cs_ctx *ctx, const json_t *opts, void **inst)
{
    struct optinout *o = calloc(1, sizeof *o);
    const char *mode = adobe_opt_str(opts, "mode"), *col;
    const json_t *fields = json_object_get(opts, "fields"), *attr;
    size_t m;
    if (!o)
        return CS_FATAL;
    o->host = host;
    o->ctx = ctx;
    o->to_campaign = json_object();
    o->to_d365 = json_object();
    for (m = 0; MODES[m] && (!mode || strcmp(mode, MODES[m]) != 0); m++)
        ;
    if (!mode) {
        host->set_reason(ctx, 0, 0,
                         "mode: required: give the workflow legs named campaign-to-d365 and "
                         "d365-to-campaign and a direction (it sets the mode), or set mode here");
        goto fail;
    }
    if (!MODES[m]) {
        host->set_reason(ctx, 0, 0,
                         "mode: \"%s\" is not a mode; use disabled, d365-to-campaign, campaign-to-d365 or "
                         "bidirectional (in a workflow with legs, name the legs so)",
                         mode);
        goto fail;
    }
    o->mode = (enum mode)m;
    if (!json_is_object(fields) || json_object_size(fields) == 0) {
        host->set_reason(ctx, 0, 0,
                         "fields: must pair each Dynamics 365 boolean column with a Campaign attribute, "
                         "e.g. {donotbulkemail: blackListEmail}; the attribute is one of " ALLOWED);
        goto fail;
    }
    json_object_foreach ((json_t *)fields, col, attr) {
        const char *a = json_string_value(attr);
        if (!a || !allowed_attribute(a)) {
            host->set_reason(ctx, 0, 0, "fields.%s: \"%s\" is not a Campaign opt-out attribute; use one of " ALLOWED,
                             col, a ? a : "(not a string)");
            goto fail;
        }
        if (json_object_get(o->to_d365, a)) {
            host->set_reason(ctx, 0, 0,
                             "fields.%s: %s is already paired with %s; each Campaign attribute takes one "
                             "Dynamics 365 column",
                             col, a, json_string_value(json_object_get(o->to_d365, a)));
            goto fail;
        }
        json_object_set_new(o->to_campaign, col, json_string(a));
        json_object_set_new(o->to_d365, a, json_string(col));
    }
    if (check_directions(o) != CS_OK)
        goto fail;
    if (o->mode == DISABLED)
        host->log(ctx, CS_LOG_NOTICE, "opt-in/out is disabled: no opt-in/out information moves");
    *inst = o;
    return CS_OK;
fail:
    oio_destroy(o);
    return CS_FATAL;
}

/* "YYYY-MM-DD[T ]HH:MM:SS[.mmm]Z" (Dataverse and Campaign both write UTC) -> Unix ms; -1 when it is not. */
static int64_t utc_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    if (s[n] == '.')
        ms = atoi(s + n + 1); /* Campaign writes milliseconds: three digits */
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Replace the record's payload (and key) by `payload`; in bidirectional mode add the rule's members. */
static void rewrite(struct optinout *o, cs_record *rec, const char *key, json_t *payload, int64_t changed)
{
    if (o->mode == BIDIRECTIONAL) {
        json_object_set_new(payload, RULE_MEMBER, json_string("adobe"));
        json_object_set_new(payload, CHANGED_MEMBER, json_integer((json_int_t)(changed > 0 ? changed : 0)));
    }
    cs_record_set_key(rec, key);
    cs_record_set_payload(rec, payload);
}

/* Campaign -> Dynamics 365: {externalId, email, field, value, lastModified} -> {<column>: value}. */
static cs_status from_profile(struct optinout *o, cs_record **rec)
{
    const json_t *in = cs_record_payload(*rec);
    const char *field = json_string_value(json_object_get(in, "field"));
    const char *ext = json_string_value(json_object_get(in, "externalId"));
    const char *col = field ? json_string_value(json_object_get(o->to_d365, field)) : NULL;
    const json_t *value = json_object_get(in, "value");
    if (!col) { /* an attribute the operator did not pair: not synced */
        o->host->metric_add(o->ctx, "optinout_unpaired", 1);
        json_decref(*rec);
        *rec = NULL;
        return CS_OK;
    }
    if (!ext || !*ext) {
        const char *email = json_string_value(json_object_get(in, "email"));
        o->host->set_reason(o->ctx, 0, 0,
                            "the profile (%s) has no externalId, so no Dynamics 365 contact can be told "
                            "for its %s; give the profile the contactid as externalId, then redrive",
                            email && *email ? email : "no email", field);
        return CS_REJECT;
    }
    if (!json_is_boolean(value)) {
        o->host->set_reason(o->ctx, 0, 0, "%s of profile %s is not a boolean", field, ext);
        return CS_REJECT;
    }
    rewrite(o, *rec, ext, json_pack("{s:O}", col, value),
            utc_ms(json_string_value(json_object_get(in, "lastModified"))));
    return CS_OK;
}

/* Dynamics 365 -> Campaign: the contact's paired columns -> the profile's attributes, keyed by contactid. */
static cs_status from_contact(struct optinout *o, cs_record **rec)
{
    const json_t *in = cs_record_payload(*rec);
    json_t *out = json_object(), *attr;
    const char *col;
    char *key;
    if (cs_record_op(*rec) == CS_OP_DELETE) { /* a deleted contact has no opt-out to keep in sync */
        json_decref(out);
        json_decref(*rec);
        *rec = NULL;
        return CS_OK;
    }
    json_object_foreach (o->to_campaign, col, attr) {
        const json_t *v = json_object_get(in, col);
        if (json_is_boolean(v))
            json_object_set(out, json_string_value(attr), (json_t *)v);
    }
    if (json_object_size(out) == 0) { /* none of the paired columns was read */
        json_decref(out);
        json_decref(*rec);
        *rec = NULL;
        return CS_OK;
    }
    if (!(key = strdup(cs_record_key(*rec)))) {
        json_decref(out);
        return CS_RETRY;
    }
    rewrite(o, *rec, key, out, utc_ms(json_string_value(json_object_get(in, "modifiedon"))));
    free(key);
    return CS_OK;
}

static cs_status oio_prepare(void *inst, cs_record **rec)
{
    struct optinout *o = inst;
    int inbound = from_campaign(cs_record_stream(*rec));
    if (o->mode == DISABLED || (inbound && o->mode == TO_CAMPAIGN) || (!inbound && o->mode == TO_D365)) {
        o->host->metric_add(o->ctx, "optinout_not_moved", 1);
        json_decref(*rec);
        *rec = NULL;
        return CS_OK;
    }
    return inbound ? from_profile(o, rec) : from_contact(o, rec);
}

/* cs_entity.needs: the contact's boolean columns of the pairs (for the Dynamics 365 sink's preflight). */
static json_t *oio_needs(void *inst)
{
    const struct optinout *o = inst;
    json_t *fields = json_object(), *attr;
    const char *col;
    json_object_foreach (o->to_campaign, col, attr)
        json_object_set_new(fields, col, json_pack("{s:s}", "type", "boolean"));
    return json_pack("{s:o}", "fields", fields);
}

const cs_entity adobe_opt_in_out = {
    CS_HEAD(cs_entity),
    .name = "opt-in-out",
    .version = "1.0",
    .description = "deny-list flags between the Dynamics 365 contact and the Campaign profile: modes, field pairs, "
                   "Adobe's bidirectional rule",
    .settings = settings,
    .create = oio_create,
    .prepare = oio_prepare,
    .destroy = oio_destroy,
    .needs = oio_needs,
};
