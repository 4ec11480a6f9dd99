/*
 * acs_poll.c - the source stream "opt-outs-poll": near-real-time opt-outs read from the profiles
 * themselves (reference B5.1: there is no documented "modified since" filter, so the operator defines
 * a custom filter on lastModified in Campaign and names it in `optout_filter`, e.g. byLastModified).
 * Each read lists the profiles the filter returns for the cursor's time (inclusive), ordered by
 * lastModified, following next.href, and emits the profile's deny-list fields (blackList*, ccpaOptOut)
 * as opt-out records shaped as the export stream's (acs_optout.c) without file and line.
 * Cursor {"since": lastModified of the last profile emitted, "at": [ids of the profiles emitted at
 * exactly that time]}: the filter is inclusive, so profiles sharing the last timestamp come back and
 * those in "at" are skipped. A profile's id is its cryptedId (stable), else its externalId or email;
 * never the PKey, which differs between responses (reference B3); one changed again later has a later lastModified and is read again. Ties are
 * therefore neither lost nor read in a loop, whatever the page size. A profile without externalId and
 * email, or without a lastModified, is dead-lettered on the unmapped stream "opt-outs-malformed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define EPOCH "1970-01-01 00:00:00.000Z" /* the first read takes every profile */

/* Is `id` in the array of strings `at`? */
static int listed(const json_t *at, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach (at, i, s)
        if (strcmp(json_string_value(s), id) == 0)
            return 1;
    return 0;
}

/* The first non-empty string member of `p` among `names`, or NULL. */
static const char *member(const json_t *p, const char *const *names)
{
    for (; *names; names++) {
        const char *v = json_string_value(json_object_get(p, *names));
        if (v && *v)
            return v;
    }
    return NULL;
}

static int deny_list_field(const char *name)
{
    return strncmp(name, "blackList", 9) == 0 || strcmp(name, "ccpaOptOut") == 0;
}

/* Emit the records of one profile; CS_NODATA when the core asks us to stop. */
static cs_status emit_profile(struct acs *a, const json_t *p, const char *pid, const char *modified, int64_t ts,
                              size_t *emitted)
{
    const char *ext = json_string_value(json_object_get(p, "externalId"));
    const char *email = json_string_value(json_object_get(p, "email"));
    const char *name;
    json_t *v;
    if ((!ext || !*ext) && (!email || !*email)) {
        a->host->log(a->ctx, CS_LOG_WARNING,
                     "profile %s has neither externalId nor email: its opt-outs are "
                     "dead-lettered",
                     pid);
        if (a->host->emit(a->ctx, acs_rejected_record(a, ACS_OPTOUT_BAD_STREAM, pid,
                                                      json_pack("{s:s, s:s}", "profile", pid, "lastModified", modified),
                                                      "profile has neither externalId nor email",
                                                      "acs_optout_malformed")) != CS_OK)
            return CS_NODATA;
        (*emitted)++;
        return CS_OK;
    }
    json_object_foreach ((json_t *)p, name, v) {
        if (!deny_list_field(name) || !json_is_boolean(v))
            continue;
        if (a->host->emit(a->ctx, acs_optout_record(ACS_OPTOUT_POLL_STREAM, ext ? ext : "", email ? email : "", name,
                                                    json_is_true(v), modified, ts)) != CS_OK)
            return CS_NODATA;
        (*emitted)++;
    }
    return CS_OK;
}

/* Emit one page; moves *since / *since_ms / at to the last profile emitted. */
static cs_status emit_page(struct acs *a, const json_t *doc, char **since, int64_t *since_ms, json_t *at,
                           size_t *emitted)
{
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(doc, "content"), i, p) {
        static const char *const ids[] = {"cryptedId", "externalId", "email", "PKey", NULL};
        const char *pid = member(p, ids);
        const char *modified = json_string_value(json_object_get(p, "lastModified"));
        int64_t ms;
        if (!pid)
            return acs_fail(a, 0, "the profile filter %s answered a profile without any id", a->poll->filter), CS_RETRY;
        if (!modified || acs_parse_time(modified, &ms) != 0) {
            if (a->host->emit(a->ctx, acs_rejected_record(
                                          a, ACS_OPTOUT_BAD_STREAM, pid, json_pack("{s:s}", "profile", pid),
                                          "profile without a valid lastModified", "acs_optout_malformed")) != CS_OK)
                return CS_NODATA;
            (*emitted)++;
            continue;
        }
        if (ms == *since_ms && listed(at, pid))
            continue; /* emitted by an earlier read: the filter is inclusive */
        if (emit_profile(a, p, pid, modified, ms, emitted) != CS_OK)
            return CS_NODATA;
        if (ms > *since_ms) { /* a later time: the profiles at the previous one are behind us */
            char *copy = strdup(modified);
            if (!copy)
                return acs_fail(a, 0, "out of memory"), CS_RETRY;
            free(*since);
            *since = copy;
            *since_ms = ms;
            json_array_clear(at);
        }
        if (ms == *since_ms)
            json_array_append_new(at, json_string(pid));
    }
    return CS_OK;
}

static char *first_url(const struct acs *a, const char *since)
{
    char *esc = cshttp_escape(since), *url = NULL;
    if (!esc || asprintf(&url, "%s/%s?%s=%s&_order=lastModified&_lineCount=%ld&_forcePagination=true",
                         a->poll->collection, a->poll->filter, a->poll->param, esc, a->poll_page) < 0)
        url = NULL;
    free(esc);
    return url;
}

cs_status acs_poll_read(struct acs *a, const json_t *cursor, size_t max_records)
{
    const char *cur = json_string_value(json_object_get(cursor, "since"));
    char *since = strdup(cur ? cur : EPOCH), *url = NULL, advice[512];
    json_t *at = json_array();
    int64_t since_ms = 0;
    size_t emitted = 0, i;
    json_t *s;
    cs_status st = CS_OK;

    if (!a->poll || !a->poll->param) {
        acs_fail(a, 0,
                 "stream %s needs optout_filter: a filter on the profile's lastModified defined in Campaign "
                 "(e.g. byLastModified, one parameter, 'greater than or equal to')",
                 ACS_OPTOUT_POLL_STREAM);
        st = CS_FATAL;
        goto out;
    }
    if (!since || acs_parse_time(since, &since_ms) != 0 || !(url = first_url(a, since))) {
        acs_fail(a, 0, "out of memory, or a stored cursor that is not a time");
        st = CS_FATAL;
        goto out;
    }
    snprintf(advice, sizeof advice, "check optout_filter (%s with parameter %s on lastModified)", a->poll->filter,
             a->poll->param);
    json_array_foreach (json_object_get(cursor, "at"), i, s)
        json_array_append(at, s);
    while (emitted < max_records && !a->host->stopping(a->ctx)) {
        json_t *doc;
        const char *next;
        if ((st = acs_get_page(a, url, "listing the profiles changed since the cursor", advice, &doc)) != CS_OK)
            break;
        if ((st = emit_page(a, doc, &since, &since_ms, at, &emitted)) != CS_OK) {
            json_decref(doc);
            if (st == CS_NODATA) /* asked to stop: what follows the last checkpoint is read again */
                st = CS_OK;
            break;
        }
        if ((st = a->host->checkpoint(a->ctx, ACS_OPTOUT_POLL_STREAM,
                                      json_pack("{s:s, s:O}", "since", since, "at", at))) != CS_OK) {
            json_decref(doc);
            acs_fail(a, 0, "the opt-out poll position could not be stored");
            break;
        }
        next = json_string_value(json_object_get(json_object_get(doc, "next"), "href"));
        free(url);
        url = acs_url(a, next);
        json_decref(doc);
        if (!url) { /* the last page: caught up */
            st = CS_NODATA;
            break;
        }
    }
out:
    if (st == CS_RETRY || st == CS_FATAL)
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
    json_decref(at);
    free(since);
    free(url);
    return st;
}
