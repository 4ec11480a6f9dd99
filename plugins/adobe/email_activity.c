/*
 * email_activity.c - the entity handler "email-activity": a Campaign email event (campaign.so's
 * email-events streams: eventId, type, timestamp, profileExternalId, campaignName, deliveryName, url,
 * mirrorPageUrl...) becomes the row of a Dynamics 365 custom activity as Adobe's integration writes it
 * (reference §5, A15): subject "Campaign Name: <campaign>; Delivery Name: <delivery>", campaign name,
 * delivery name, event time, tracking URL (clicks), mirror page URL, the event id (the table's alternate
 * key, so a redelivered event updates the same row), the regarding contact (the profile's externalId,
 * which is the contact's contactid) and, when configured, an owner (otherwise Dynamics 365 makes the
 * calling application user the owner). Every column name is an option (an empty one leaves the
 * attribute out), since the AppSource solution's names are not public. The regarding and owner columns
 * hold plain ids: the dynamics365 sink binds them (tables.<target>.lookups) and dead-letters an event
 * whose contact does not exist. The record's key stays the event id; the handler is a pure function of
 * the record, so it gives the same row whenever the core runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adobe.h"

#define SUBJECT_MAX 200 /* characters of an activity's subject (reference A11's 0x80044331 example) */

struct email_activity {
    const cs_host *host;
    cs_ctx *ctx;
    json_t *columns; /* event member (or "subject") -> destination column, for the configured columns */
    char *subject_format;
    char *owner;        /* systemuser id, or NULL: the application user */
    char *owner_column; /* where it goes */
    int clicks;         /* the mapping carries click events (they alone have a URL) */
};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "event_id_column", CS_OPT_STRING, 0, "new_acseventid",
     "column of the event id (the alternate key)"},
    {CS_SETTING_HEAD, "subject_column", CS_OPT_STRING, 0, "subject", "column of the subject"},
    {CS_SETTING_HEAD, "subject_format", CS_OPT_STRING, 0,
     "Campaign Name: {campaignName}; Delivery Name: {deliveryName}",
     "the subject, {member} replaced by the event's member (cut at 200 characters)"},
    {CS_SETTING_HEAD, "campaign_column", CS_OPT_STRING, 0, "new_campaignname", "column of the campaign name"},
    {CS_SETTING_HEAD, "delivery_column", CS_OPT_STRING, 0, "new_deliveryname", "column of the delivery name"},
    {CS_SETTING_HEAD, "time_column", CS_OPT_STRING, 0, "new_eventtime",
     "column of the event time (Date Sent, Opened...)"},
    {CS_SETTING_HEAD, "url_column", CS_OPT_STRING, 0, "new_trackingurl",
     "column of the clicked URL (written when the event has one)"},
    {CS_SETTING_HEAD, "mirror_column", CS_OPT_STRING, 0, "new_mirrorpageurl", "column of the mirror page URL"},
    {CS_SETTING_HEAD, "regarding_column", CS_OPT_STRING, 0, "regardingobjectid",
     "lookup column of the contact (bind it with the sink's tables.<target>.lookups)"},
    {CS_SETTING_HEAD, "owner", CS_OPT_STRING, 0, NULL,
     "systemuser id owning the activities (default: the application user)"},
    {CS_SETTING_HEAD, "owner_column", CS_OPT_STRING, 0, "ownerid", "lookup column of the owner"},
    {CS_SETTING_HEAD, NULL},
};

/* event payload member -> option naming its column; "subject" is composed, not copied. Then what the
 * column holds (cs_entity.needs): its type, length, the table a lookup points at, and its display name. */
static const struct column_option {
    const char *member, *option, *type;
    int max_length;
    const char *lookup, *label;
} COLUMN_OPTIONS[] = {
    {"eventId", "event_id_column", "string", 100, NULL, "ACS Event Id"},
    {"subject", "subject_column", "string", SUBJECT_MAX, NULL, "Subject"},
    {"campaignName", "campaign_column", "string", 200, NULL, "Campaign Name"},
    {"deliveryName", "delivery_column", "string", 200, NULL, "Delivery Name"},
    {"timestamp", "time_column", "datetime", 0, NULL, "Event Date"},
    {"url", "url_column", "string", 2000, NULL, "Tracking URL"},
    {"mirrorPageUrl", "mirror_column", "string", 2000, NULL, "Mirror Page URL"},
    {"profileExternalId", "regarding_column", "string", 0, "contact", "Regarding"},
};

static void ea_destroy(void *inst)
{
    struct email_activity *e = inst;
    if (!e)
        return;
    json_decref(e->columns);
    free(e->subject_format);
    free(e->owner);
    free(e->owner_column);
    free(e);
}

static int is_guid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof shape - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return 0;
    return 1;
}

/* Does the mapping this handler serves carry clicks (email-events.click, or every type)? 1 when the core
 * cannot tell (plugin ABI < 1.2). */
static int serves_clicks(const cs_host *host, cs_ctx *ctx)
{
    json_t *maps, *m;
    size_t i;
    int clicks = 1;
    if (host->struct_size < offsetof(cs_host, mapping_streams) + sizeof host->mapping_streams || !host->mapping_streams)
        return 1;
    maps = host->mapping_streams(ctx);
    json_array_foreach (maps, i, m)
        if (json_is_true(json_object_get(m, "self"))) {
            const char *stream = json_string_value(json_object_get(m, "stream"));
            clicks = !stream || !strcmp(stream, "email-events") || !strcmp(stream, "email-events.click");
        }
    json_decref(maps);
    return clicks;
}

static cs_status ea_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    struct email_activity *e = calloc(1, sizeof *e);
    const char *owner = adobe_opt_str(o, "owner"), *owner_col = adobe_opt_str(o, "owner_column");
    if (!e)
        return CS_FATAL;
    e->host = host;
    e->ctx = ctx;
    e->clicks = serves_clicks(host, ctx);
    e->columns = json_object();
    for (size_t i = 0; i < sizeof COLUMN_OPTIONS / sizeof *COLUMN_OPTIONS; i++) {
        const char *col = adobe_opt_str(o, COLUMN_OPTIONS[i].option);
        if (col)
            json_object_set_new(e->columns, COLUMN_OPTIONS[i].member, json_string(col));
    }
    if (!json_object_get(e->columns, "eventId")) {
        host->set_reason(ctx, 0, 0,
                         "event_id_column must name the column of the event id: it is the alternate key "
                         "that keeps a redelivered event from creating a second activity");
        goto fail;
    }
    if (!(e->subject_format = strdup(adobe_opt_str(o, "subject_format") ? adobe_opt_str(o, "subject_format") : "")))
        goto fail;
    if (owner && !is_guid(owner)) {
        host->set_reason(ctx, 0, 0, "owner must be the id (a GUID) of a Dynamics 365 user, not \"%s\"", owner);
        goto fail;
    }
    if (owner && !owner_col) {
        host->set_reason(ctx, 0, 0, "owner is set but owner_column is empty: name the owner's lookup column (ownerid)");
        goto fail;
    }
    if (owner && (!(e->owner = strdup(owner)) || !(e->owner_column = strdup(owner_col))))
        goto fail;
    *inst = e;
    return CS_OK;
fail:
    ea_destroy(e);
    return CS_FATAL;
}

/* The subject: the format with each {member} replaced by the event's value, cut at SUBJECT_MAX
 * characters (UTF-8 aware). New string. */
static char *subject(const char *fmt, const json_t *payload)
{
    size_t cap = strlen(fmt) + 64, len = 0, chars = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = fmt; *p;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL, *piece = p;
        size_t n = 1;
        char name[128];
        if (close && (size_t)(close - p - 1) < sizeof name) {
            snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
            piece = json_string_value(json_object_get(payload, name));
            piece = piece ? piece : "";
            n = strlen(piece);
            p = close + 1;
        } else {
            p++;
        }
        for (size_t i = 0; i < n && chars <= SUBJECT_MAX; i++) {
            unsigned char c = (unsigned char)piece[i];
            if ((c & 0xc0) != 0x80 && ++chars > SUBJECT_MAX)
                break;
            if (len + 2 > cap) {
                char *grown = realloc(out, cap *= 2);
                if (!grown) {
                    free(out);
                    return NULL;
                }
                out = grown;
            }
            out[len++] = (char)c;
        }
    }
    out[len] = '\0';
    return out;
}

static cs_status ea_prepare(void *inst, cs_record **rec)
{
    struct email_activity *e = inst;
    const json_t *in = cs_record_payload(*rec);
    const char *member, *contact = json_string_value(json_object_get(in, "profileExternalId"));
    json_t *out, *col;
    char *subj;

    if (cs_record_op(*rec) == CS_OP_DELETE)
        return CS_OK; /* the sink deletes by key */
    if (!contact || !*contact) {
        e->host->set_reason(e->ctx, 0, 0,
                            "the event's profile has no externalId, so the Dynamics 365 contact it "
                            "belongs to cannot be told (email-events streams never emit such events: check the "
                            "source of stream %s)",
                            cs_record_stream(*rec));
        return CS_REJECT;
    }
    if (!(subj = subject(e->subject_format, in)))
        return CS_RETRY;
    out = json_object();
    json_object_foreach (e->columns, member, col) {
        const json_t *v = strcmp(member, "eventId") == 0 && !json_object_get(in, member) ? json_object_get(*rec, "key")
                                                                                         : json_object_get(in, member);
        if (strcmp(member, "subject") == 0)
            json_object_set_new(out, json_string_value(col), json_string(subj));
        else if (json_is_string(v) && *json_string_value(v))
            json_object_set(out, json_string_value(col), (json_t *)v);
    }
    free(subj);
    if (e->owner)
        json_object_set_new(out, e->owner_column, json_string(e->owner));
    cs_record_set_payload(*rec, out);
    return CS_OK;
}

/* cs_entity.needs: a timeline activity table with the configured columns (the URL's for clicks only, and
 * the owner's lookup when an owner is set). */
static json_t *ea_needs(void *inst)
{
    const struct email_activity *e = inst;
    json_t *fields = json_object();
    for (size_t i = 0; i < sizeof COLUMN_OPTIONS / sizeof *COLUMN_OPTIONS; i++) {
        const struct column_option *c = &COLUMN_OPTIONS[i];
        const char *col = json_string_value(json_object_get(e->columns, c->member));
        json_t *f;
        if (!col || (!strcmp(c->member, "url") && !e->clicks))
            continue;
        f = json_pack("{s:s, s:s}", "type", c->type, "label", c->label);
        if (c->max_length)
            json_object_set_new(f, "max_length", json_integer(c->max_length));
        if (c->lookup)
            json_object_set_new(f, "lookup", json_string(c->lookup));
        json_object_set_new(fields, col, f);
    }
    if (e->owner)
        json_object_set_new(fields, e->owner_column,
                            json_pack("{s:s, s:s, s:s}", "type", "string", "lookup", "systemuser", "label", "Owner"));
    return json_pack("{s:b, s:o}", "activity", 1, "fields", fields);
}

const cs_entity adobe_email_activity = {
    CS_HEAD(cs_entity),
    .name = "email-activity",
    .version = "1.0",
    .description = "a Campaign email event as a Dynamics 365 timeline activity (subject, regarding contact, "
                   "campaign, delivery, time, URLs, event id key)",
    .settings = settings,
    .create = ea_create,
    .prepare = ea_prepare,
    .destroy = ea_destroy,
    .needs = ea_needs,
};
