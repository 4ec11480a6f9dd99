/*
 * acs_optout_sink.c - the sink target "opt-outs": the deny-list attributes (blackList*, ccpaOptOut) of
 * the profile whose externalId is the record key, as adobe.so's opt-in-out handler sends them from
 * Dynamics 365 contacts. It is a `resources` entry named like the source stream
 * (resources.opt-outs: {resource: profile, key: externalId}), mapped in a workflow of its own; the other
 * targets are written by acs_write.c. Unlike them it never creates a profile: the profile is read
 * through the key's filter (one call), only the attributes whose value changes are PATCHed (none: no
 * second call), and a contact without profile is left alone when it opts in (a new profile is opted in
 * already) and kept and retried when it opts out, until the ingress workflow has created the profile.
 * With "@optout.rule": "adobe" (bidirectional mode) Adobe's rule (reference §4.3) decides against the
 * profile's current value: Campaign wins when its attribute changed after the contact's modifiedon
 * ("@optout.changed"), else opt-out TRUE wins. Campaign's REST API has no per-attribute change time
 * (reference B6): the time used is the newest one the opt-out export (acs_optout.c) reported for that
 * attribute, kept in the connection's key/value store; none known counts as older, so TRUE wins.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define RULE_MEMBER    "@optout.rule"
#define CHANGED_MEMBER "@optout.changed"

int64_t acs_optout_time(struct acs *a, const char *ext, const char *field)
{
    char kvkey[600], *v;
    int64_t ms = 0;
    snprintf(kvkey, sizeof kvkey, "optout-at:%s/%s", ext, field);
    if ((v = a->host->kv_get(a->ctx, kvkey))) {
        ms = strtoll(v, NULL, 10);
        free(v);
    }
    return ms;
}

void acs_optout_remember(struct acs *a, const char *ext, const char *field, int64_t ms)
{
    char kvkey[600], value[32];
    if (!ext || !*ext || ms <= 0 || ms <= acs_optout_time(a, ext, field))
        return;
    snprintf(kvkey, sizeof kvkey, "optout-at:%s/%s", ext, field);
    snprintf(value, sizeof value, "%" PRId64, ms);
    a->host->kv_put(a->ctx, kvkey, value); /* a hint: a failure only makes the rule treat Campaign as older */
}

/* The attributes to PATCH (new object, maybe empty) for `rec` against `profile`. */
static json_t *decide(struct acs *a, const cs_record *rec, const json_t *profile)
{
    const json_t *payload = cs_record_payload(rec);
    const char *rule = json_string_value(json_object_get(payload, RULE_MEMBER)), *field;
    int64_t d365_ms = json_integer_value(json_object_get(payload, CHANGED_MEMBER));
    json_t *body = json_object(), *v;
    json_object_foreach ((json_t *)payload, field, v) {
        int cur = json_is_true(json_object_get(profile, field)), want = json_is_true(v);
        if (strchr(field, '@') || !json_is_boolean(v))
            continue;
        if (rule && strcmp(rule, "adobe") == 0) {
            int64_t acs_ms = acs_optout_time(a, cs_record_key(rec), field);
            want = acs_ms > d365_ms ? cur : want || cur;
            if (want != json_is_true(v)) { /* the contact must follow: only a write to it could say so */
                a->host->metric_add(a->ctx, "optout_contact_behind", 1);
                a->host->log(a->ctx, CS_LOG_NOTICE,
                             "opt-out %s of contact %s: Campaign keeps %s (Adobe's rule); the "
                             "contact says %s",
                             field, cs_record_key(rec), cur ? "true" : "false", json_is_true(v) ? "true" : "false");
            }
        }
        if (want != cur)
            json_object_set_new(body, field, json_boolean(want));
    }
    return body;
}

/* One record: read the profile, decide, PATCH what changes. CS_OK, or the record's / batch's failure. */
static cs_status write_one(struct acs *a, const struct acs_target *t, const cs_record *rec)
{
    struct cshttp_response r = {0};
    json_t *profile = NULL, *body = NULL, *v;
    const char *field;
    char *url = NULL, *text = NULL;
    int opts_out = 0;
    cs_status st;
    if (cs_record_op(rec) != CS_OP_UPSERT)
        return CS_OK; /* a profile's opt-outs are never deleted */
    if ((st = acs_find_by_key(a, t, cs_record_key(rec), &profile)) != CS_OK)
        goto out;
    if (!profile) {
        json_object_foreach (cs_record_payload(rec), field, v)
            opts_out |= !strchr(field, '@') && json_is_true(v);
        a->host->metric_add(a->ctx, "acs_optout_no_profile", 1);
        if (opts_out) {
            acs_fail(a, 0,
                     "no profile has externalId %s yet: the opt-out is kept and retried until the ingress "
                     "workflow creates it (retry.max_age dead-letters the opt-outs of contacts never synced)",
                     cs_record_key(rec));
            a->err_record_only = 1;
            st = CS_RETRY;
        }
        goto out;
    }
    body = decide(a, rec, profile);
    if (json_object_size(body) == 0) {
        a->host->metric_add(a->ctx, "acs_unchanged", 1);
        goto out;
    }
    if (!(text = json_dumps(body, JSON_COMPACT)) ||
        asprintf(&url, "%s/%s", t->collection, json_string_value(json_object_get(profile, "PKey"))) < 0) {
        url = NULL;
        acs_fail(a, 0, "out of memory");
        st = CS_RETRY;
        goto out;
    }
    a->host->metric_add(a->ctx, "acs_update", 1);
    if ((st = acs_call(a, "PATCH", url, text, 0, &r)) == CS_OK &&
        (st = acs_classify(a, &r, "writing the profile's opt-outs")) == CS_REJECT && acs_is_stale_pkey(&r)) {
        a->err_record_only = 1; /* the profile changed under us: read it again next time */
        st = CS_RETRY;
    }
out:
    cshttp_response_clear(&r);
    json_decref(profile);
    json_decref(body);
    free(text);
    free(url);
    return st;
}

cs_status acs_optout_write(struct acs *a, cs_record *const *records, size_t n)
{
    const struct acs_target *t = acs_target_find(a, ACS_OPTOUT_STREAM);
    if (!t) {
        a->host->set_reason(a->ctx, 0, -1,
                            "the Campaign connection has no target '%s'; add resources.%s: {resource: "
                            "profile, key: externalId}",
                            ACS_OPTOUT_STREAM, ACS_OPTOUT_STREAM);
        return CS_FATAL;
    }
    for (size_t i = 0; i < n; i++) {
        cs_status st = write_one(a, t, records[i]);
        if (st == CS_OK)
            continue;
        if ((st == CS_RETRY && !a->err_record_only) || st == CS_FATAL) { /* Campaign is unwell: the whole batch waits */
            a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
            return st;
        }
        a->host->set_result(a->ctx, i, st, (int)a->err_http, a->err_retry_ms, a->err);
    }
    return CS_OK;
}

cs_status acs_write_any(void *inst, cs_record *const *records, size_t n)
{
    struct acs *a = inst;
    if (n && strcmp(cs_record_stream(records[0]), ACS_OPTOUT_STREAM) == 0)
        return acs_optout_write(a, records, n); /* plan() keeps this target in a workflow of its own */
    return acs_write(inst, records, n);
}
