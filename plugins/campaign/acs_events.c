/*
 * acs_events.c - the source streams of Campaign's email events (send, open, click, bounce) from the
 * Adobe I/O Events journal (reference B10.3): "email-events" carries every type, and
 * "email-events.send", ".open", ".click" and ".bounce" one type each (".bounce": hard bounces only,
 * Adobe's "email to recipient experienced a hard bounce"), so that a workflow maps exactly the types
 * it sends (Adobe's per-type Yes/No) and each type goes to its own table. Each stream has its own
 * cursor, the journal position ({"since": position}), checkpointed only after the page's events were
 * emitted; pages of `journal_limit` follow Link rel="next", and the streams reading the same positions
 * share the fetches (acs_pagecache.c). 204 at the end of the journal makes read() answer CS_NODATA
 * and that stream makes no call before its retry-after has passed. Duplicate deliveries are dropped by
 * event id (per stream); order does not matter (records are keyed by event id). An event that carries
 * only the Campaign profile is resolved to the profile's externalId, cached in the key/value store;
 * when Campaign cannot answer, the page is read again later (CS_RETRY), and when the profile cannot be
 * told (gone, no externalId) the event is dead-lettered on the unmapped stream
 * "email-events-rejected", as is a journal entry without an event id (by the stream of its type, or,
 * when its type is unknown, by the first mapped one): nothing is dropped silently or written
 * half-empty. Events of a type no mapped stream carries are not sent: that is the type's switch.
 * The event payload of a real registration is not documented: event_record() is the one place that
 * reads it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

/* The type each stream kind carries; kind 0 ("email-events") carries them all. */
static const char *const KIND_TYPES[ACS_EVENT_KINDS] = {NULL, "send", "open", "click", "bounce"};

int acs_events_kind(const char *stream)
{
    size_t n = strlen(ACS_EVENTS_STREAM);
    if (strncmp(stream, ACS_EVENTS_STREAM, n) != 0)
        return -1;
    if (stream[n] == '\0')
        return 0;
    for (int k = 1; stream[n] == '.' && k < ACS_EVENT_KINDS; k++)
        if (strcmp(stream + n + 1, KIND_TYPES[k]) == 0)
            return k;
    return -1;
}

void acs_events_plan(struct acs *a, const char *stream)
{
    int k = acs_events_kind(stream);
    if (k >= 0)
        a->event_streams |= 1u << k;
}

/* An event id's hash in the seen set of stream kind `kind` (each stream drops its own duplicates). */
static uint64_t id_hash(int kind, const char *s)
{
    uint64_t h = (0xcbf29ce484222325ULL ^ (uint64_t)kind) * 0x100000001b3ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h ? h : 1;
}

/* 1 when `h` is in `table`; otherwise inserts it when `insert` and returns 0. */
static int table_has(uint64_t *table, uint64_t h, int insert)
{
    size_t mask = 2 * ACS_SEEN_GEN - 1, i = (size_t)h & mask;
    while (table[i]) {
        if (table[i] == h)
            return 1;
        i = (i + 1) & mask;
    }
    if (insert)
        table[i] = h;
    return 0;
}

/* Allocate the tables on first use; -1 when out of memory. */
static int seen_ready(struct acs_seen *s)
{
    for (int g = 0; g < 2; g++)
        if (!s->gen[g] && !(s->gen[g] = calloc(2 * ACS_SEEN_GEN, sizeof *s->gen[g])))
            return -1;
    return 0;
}

/* 1 when `id` was seen recently by a stream of `kind` (the tables are ready). */
static int seen_has(const struct acs_seen *s, int kind, const char *id)
{
    uint64_t h = id_hash(kind, id);
    return table_has(s->gen[1], h, 0) || table_has(s->gen[0], h, 0);
}

/* Remember `id` (the tables are ready); the older generation goes when the newer one is full. */
static void seen_add(struct acs_seen *s, int kind, const char *id)
{
    uint64_t h = id_hash(kind, id);
    if (seen_has(s, kind, id))
        return;
    if (s->count == ACS_SEEN_GEN) {
        uint64_t *old = s->gen[1];
        s->gen[1] = s->gen[0];
        s->gen[0] = old;
        memset(s->gen[0], 0, 2 * ACS_SEEN_GEN * sizeof *s->gen[0]);
        s->count = 0;
    }
    table_has(s->gen[0], h, 1);
    s->count++;
}

void acs_seen_free(struct acs_seen *s)
{
    free(s->gen[0]);
    free(s->gen[1]);
    memset(s, 0, sizeof *s);
}

/* The profile's externalId for an event that carries only the Campaign profile: cached by recipient
 * id (stable, unlike PKeys), else read from the profile. CS_OK with *ext (new string); CS_REJECT when
 * it cannot be told (no profile named, the profile is gone or has no externalId), CS_RETRY or
 * CS_FATAL when Campaign could not answer; a->err says why. */
static cs_status resolve_external_id(struct acs *a, const char *recipient, const char *pkey, char **ext)
{
    struct cshttp_response r = {0};
    char *kvkey = NULL, *url = NULL;
    json_t *doc = NULL, *profile;
    cs_status st;
    *ext = NULL;
    if (!pkey || !*pkey)
        return acs_fail(a, 0, "the event names no profile (neither profileExternalId nor profilePKey)"), CS_REJECT;
    if (asprintf(&kvkey, "ext:%s", recipient && *recipient ? recipient : pkey) < 0)
        return acs_fail(a, 0, "out of memory"), CS_RETRY;
    if ((*ext = a->host->kv_get(a->ctx, kvkey))) {
        st = CS_OK;
        goto out;
    }
    if (asprintf(&url, "%s/profileAndServicesExt/profile/%s", a->base, pkey) < 0) {
        url = NULL;
        acs_fail(a, 0, "out of memory");
        st = CS_RETRY;
        goto out;
    }
    a->host->metric_add(a->ctx, "acs_profile_lookup", 1);
    if ((st = acs_call(a, "GET", url, NULL, 0, &r)) != CS_OK ||
        (st = acs_classify(a, &r, "reading the event's profile")) != CS_OK)
        goto out;
    /* the profile itself (the Verbs page), or wrapped in a one-element content list (Updating profiles) */
    if ((doc = cshttp_response_json(&r)) && json_is_array(json_object_get(doc, "content")))
        profile = json_array_get(json_object_get(doc, "content"), 0);
    else
        profile = doc;
    if (!doc) {
        acs_fail(a, r.status, "reading the event's profile: the answer is not JSON");
        st = CS_RETRY;
    } else if (json_string_length(json_object_get(profile, "externalId")) == 0) {
        acs_fail(a, r.status, "profile %s has no externalId", pkey);
        st = CS_REJECT;
    } else if (!(*ext = strdup(json_string_value(json_object_get(profile, "externalId"))))) {
        acs_fail(a, 0, "out of memory");
        st = CS_RETRY;
    } else {
        a->host->kv_put(a->ctx, kvkey, *ext);
    }
out:
    json_decref(doc);
    cshttp_response_clear(&r);
    free(url);
    free(kvkey);
    return st;
}

static const char *short_type(const char *event_type)
{
    static const char *const map[][2] = {{"emailSent", "send"},      {"emailDelivered", "send"},
                                         {"emailOpened", "open"},    {"emailClicked", "click"},
                                         {"emailBounced", "bounce"}, {"emailBouncedSoft", "bounce"}};
    const char *dot = event_type ? strrchr(event_type, '.') : NULL;
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot + 1, map[i][0]) == 0)
            return map[i][1];
    return event_type ? event_type : "";
}

static void copy_str(json_t *to, const char *name, const json_t *from, const char *member)
{
    const char *v = json_string_value(json_object_get(from, member));
    if (v && *v)
        json_object_set_new(to, name, json_string(v));
}

/* Does the stream of `kind` carry an entry of short type `type` (soft bounces aside)? An entry without
 * an event id and of no known type is dead-lettered by one stream only: the first mapped one. */
static int carries(const struct acs *a, int kind, const char *type, int has_id)
{
    int known = 0, first = 0;
    if (kind == 0 || strcmp(type, KIND_TYPES[kind]) == 0)
        return 1;
    for (int k = 1; k < ACS_EVENT_KINDS; k++)
        known |= strcmp(type, KIND_TYPES[k]) == 0;
    if (has_id || known)
        return 0;
    while (first < ACS_EVENT_KINDS && !(a->event_streams & (1u << first)))
        first++;
    return first == ACS_EVENT_KINDS || first == kind;
}

static int soft_bounce(const json_t *ev, const char *event_type)
{
    const char *bt = json_string_value(json_object_get(ev, "bounceType"));
    size_t n = event_type ? strlen(event_type) : 0;
    return (bt && strcmp(bt, "hard") != 0) || (n >= 4 && strcmp(event_type + n - 4, "Soft") == 0);
}

/* Is `id` in the array of strings `ids`? */
static int listed(const json_t *ids, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach (ids, i, s)
        if (strcmp(json_string_value(s), id) == 0)
            return 1;
    return 0;
}

/* The record of one journal entry not seen before nor earlier on its page (`page_ids`) (CS_OK with *rec,
 * NULL for a duplicate): the event,
 * or a record on the unmapped stream email-events-rejected that the core dead-letters with the reason
 * (no event id, profile not resolvable). CS_RETRY/CS_FATAL when the profile could not be read. */
static cs_status event_record(struct acs *a, const char *stream_name, int kind, const json_t *entry,
                              const json_t *page_ids, cs_record **rec)
{
    const json_t *ev = json_object_get(entry, "event");
    const json_t *dm = json_object_get(ev, "xdm:directMarketing");
    const char *id = json_string_value(json_object_get(ev, "event_id"));
    const char *type = json_string_value(json_object_get(ev, "xdm:eventType"));
    const char *when = json_string_value(json_object_get(ev, "xdm:timestamp"));
    const char *ext = json_string_value(json_object_get(ev, "profileExternalId"));
    const char *pos = json_string_value(json_object_get(entry, "position"));
    char *resolved = NULL;
    int64_t ts = 0;
    json_t *p;
    cs_status st = CS_OK;
    *rec = NULL;
    if (!id)
        id = json_string_value(json_object_get(ev, "@id"));
    if (!carries(a, kind, short_type(type), id && *id))
        return CS_OK; /* another type: another stream's, or a type switched off */
    if (kind == 4 && soft_bounce(ev, type)) {
        a->host->metric_add(a->ctx, "acs_event_soft_bounce", 1);
        return CS_OK; /* Adobe's bounce events are hard bounces */
    }
    if (!id || !*id) {
        a->host->log(a->ctx, CS_LOG_WARNING, "journal entry at %s has no event id: dead-lettered", pos ? pos : "?");
        *rec = acs_rejected_record(a, ACS_EVENTS_BAD_STREAM, pos ? pos : "?",
                                   json_pack("{s:s, s:s}", "position", pos ? pos : "", "eventType", type ? type : ""),
                                   "journal entry without an event id", "acs_event_rejected");
        return CS_OK;
    }
    if (seen_has(&a->seen, kind, id) || listed(page_ids, id)) {
        a->host->metric_add(a->ctx, "acs_event_duplicate", 1);
        return CS_OK;
    }
    if ((!ext || !*ext) &&
        (st = resolve_external_id(a, json_string_value(json_object_get(dm, "xdm:recipientId")),
                                  json_string_value(json_object_get(ev, "profilePKey")), &resolved)) == CS_OK)
        ext = resolved;
    if (st == CS_RETRY || st == CS_FATAL)
        return st;
    p = json_pack("{s:s, s:s, s:s}", "eventId", id, "type", short_type(type), "eventType", type ? type : "");
    if (st == CS_OK)
        json_object_set_new(p, "profileExternalId", json_string(ext));
    copy_str(p, "timestamp", ev, "xdm:timestamp");
    copy_str(p, "email", ev, "email");
    copy_str(p, "url", ev, "url");
    copy_str(p, "mirrorPageUrl", ev, "mirrorPageUrl");
    copy_str(p, "bounceType", ev, "bounceType");
    copy_str(p, "campaignId", dm, "xdm:campaignId");
    copy_str(p, "campaignName", dm, "xdm:campaignName");
    copy_str(p, "deliveryId", dm, "xdm:deliveryId");
    copy_str(p, "deliveryName", dm, "xdm:deliveryName");
    copy_str(p, "recipientId", dm, "xdm:recipientId");
    copy_str(p, "position", entry, "position");
    free(resolved);
    if (st == CS_REJECT) { /* never written with an empty profileExternalId */
        a->host->log(a->ctx, CS_LOG_WARNING, "event %s: %s; dead-lettered", id, a->err);
        *rec = acs_rejected_record(a, ACS_EVENTS_BAD_STREAM, id, p, a->err, "acs_event_rejected");
        return CS_OK;
    }
    if (when && acs_parse_time(when, &ts) != 0)
        ts = 0;
    *rec = cs_record_new(stream_name, id, CS_OP_UPSERT, p, ts);
    return CS_OK;
}

/* The URL of Link rel="next" (absolute), or NULL. Handles "<a>; rel=next, <b>; rel=validate". */
static char *next_link(const struct acs *a, const struct cshttp_response *r)
{
    const char *h = cshttp_response_header(r, "link"), *lt, *gt;
    char *out = NULL;
    while (h && (lt = strchr(h, '<')) && (gt = strchr(lt, '>'))) {
        const char *end = strchr(gt, ',');
        size_t len = end ? (size_t)(end - gt) : strlen(gt);
        if (memmem(gt, len, "rel=\"next\"", 10) || memmem(gt, len, "rel=next", 8)) {
            const char *scheme = strstr(a->journal_url, "://");
            const char *path_start = scheme ? strchr(scheme + 3, '/') : NULL;
            int origin = path_start ? (int)(path_start - a->journal_url) : (int)strlen(a->journal_url);
            if (lt[1] == '/') /* a path: the journal's origin */
                return asprintf(&out, "%.*s%.*s", origin, a->journal_url, (int)(gt - lt - 1), lt + 1) < 0 ? NULL : out;
            return strndup(lt + 1, (size_t)(gt - lt - 1));
        }
        h = end ? end + 1 : NULL;
    }
    return NULL;
}

static char *first_url(const struct acs *a, const json_t *cursor, size_t limit)
{
    const char *since = json_string_value(json_object_get(cursor, "since"));
    char *esc = since ? cshttp_escape(since) : NULL, *url = NULL;
    if (asprintf(&url, "%s%slimit=%zu%s%s", a->journal_url, strchr(a->journal_url, '?') ? "&" : "?", limit,
                 esc ? "&since=" : "", esc ? esc : "") < 0)
        url = NULL;
    free(esc);
    return url;
}

/* The position a page ends at: its _page.last, else its last entry's (borrowed), or NULL. */
static const char *page_last(const json_t *doc)
{
    const json_t *events = json_object_get(doc, "events");
    const char *last = json_string_value(json_object_get(json_object_get(doc, "_page"), "last"));
    if (!last && json_array_size(events))
        last = json_string_value(json_object_get(json_array_get(events, json_array_size(events) - 1), "position"));
    return last;
}

/* Emit one page's events, none unless all could be made (a profile lookup that must be retried
 * aborts the page before anything is emitted). `ids` receives the keys emitted, which join the seen
 * set once the page is checkpointed: a page read again after a failure is not mistaken for
 * duplicates. *last is the page's last position (borrowed from doc). CS_NODATA: asked to stop. */
static cs_status emit_page(struct acs *a, const char *stream, int kind, const json_t *doc, json_t *ids, size_t *emitted,
                           const char **last)
{
    json_t *recs = json_array(), *entry;
    size_t i;
    cs_status st = CS_OK;
    if (seen_ready(&a->seen) != 0) {
        json_decref(recs);
        return acs_fail(a, 0, "out of memory"), CS_RETRY;
    }
    json_array_foreach (json_object_get(doc, "events"), i, entry) {
        cs_record *rec;
        if ((st = event_record(a, stream, kind, entry, ids, &rec)) != CS_OK)
            break;
        if (rec) {
            json_array_append_new(ids, json_string(cs_record_key(rec)));
            json_array_append_new(recs, rec);
        }
    }
    json_array_foreach (st == CS_OK ? recs : NULL, i, entry) {
        if (a->host->emit(a->ctx, json_incref(entry)) != CS_OK) {
            st = CS_NODATA; /* the core asks us to stop: what follows the last checkpoint is read again */
            break;
        }
        (*emitted)++;
    }
    json_decref(recs);
    if (st == CS_OK)
        *last = page_last(doc);
    return st;
}

/* One journal page: from the page cache when a stream of this instance fetched it a moment ago, else
 * from the read ahead or the journal (the page after it is then requested ahead). CS_OK with *doc
 * (new) and *next (new, NULL at the last page); CS_NODATA at the end of the journal (the stream of
 * `kind` then waits for the retry-after); else the failure. */
static cs_status fetch_page(struct acs *a, int kind, const char *url, json_t **doc, char **next)
{
    struct cshttp_response r = {0};
    cs_status st;
    *next = NULL;
    if ((*doc = acs_pagecache_take(&a->pages, url, kind, next))) {
        a->host->metric_add(a->ctx, "acs_journal_page_shared", 1);
        return CS_OK;
    }
    if (!acs_ahead_take(a, url, &r, &st))
        st = acs_call(a, "GET", url, NULL, 1, &r);
    if (st != CS_OK)
        goto out;
    if (r.status == 204) { /* the end of the journal: come back after retry-after */
        a->journal_idle_until_ms[kind] = acs_now_ms() + (r.retry_after_ms >= 0 ? r.retry_after_ms : 10000);
        st = CS_NODATA;
        goto out;
    }
    if ((st = acs_classify(a, &r, "reading the I/O Events journal")) != CS_OK) {
        if (st == CS_REJECT) { /* 400/404: a position past retention or a wrong registration URL */
            acs_fail(a, r.status,
                     "%s; check journal_url, or the stored position is older than the "
                     "journal's retention (7 days)",
                     a->err);
            st = CS_FATAL;
        }
        goto out;
    }
    if (!(*doc = cshttp_response_json(&r))) {
        acs_fail(a, r.status, "the journal answered a body that is not JSON");
        st = CS_RETRY;
        goto out;
    }
    *next = next_link(a, &r);
    if (*next && json_array_size(json_object_get(*doc, "events")))
        acs_ahead_start(a, page_last(*doc), *next);
    acs_pagecache_put(&a->pages, url, json_incref(*doc), r.body_len, *next, a->event_streams & ~(1u << kind));
out:
    cshttp_response_clear(&r);
    return st;
}

cs_status acs_events_read(struct acs *a, const char *stream, const json_t *cursor, size_t max_records)
{
    size_t limit = (size_t)a->journal_limit < max_records ? (size_t)a->journal_limit : max_records, emitted = 0;
    int kind = acs_events_kind(stream);
    char *url;
    cs_status st = CS_OK;
    if (kind < 0) {
        acs_fail(a, 0,
                 "the Campaign connector has no event stream \"%s\" (it has %s and %s.send, .open, .click, "
                 ".bounce)",
                 stream, ACS_EVENTS_STREAM, ACS_EVENTS_STREAM);
        return CS_FATAL;
    }
    if (!a->journal_url) {
        acs_fail(a, 0, "stream %s needs journal_url (the journaling URL of the I/O Events registration)", stream);
        a->host->set_reason(a->ctx, 0, -1, "%s", a->err);
        return CS_FATAL;
    }
    if (acs_now_ms() < a->journal_idle_until_ms[kind])
        return CS_NODATA;
    if (!(url = acs_ahead_link(a, json_string_value(json_object_get(cursor, "since")))) &&
        !(url = first_url(a, cursor, limit ? limit : 1)))
        return acs_fail(a, 0, "out of memory"), CS_RETRY;
    while (emitted + limit <= max_records && !a->host->stopping(a->ctx)) {
        json_t *doc, *ids, *id;
        const char *last = NULL;
        char *next;
        size_t i;
        if ((st = fetch_page(a, kind, url, &doc, &next)) != CS_OK)
            break;
        ids = json_array();
        if ((st = emit_page(a, stream, kind, doc, ids, &emitted, &last)) == CS_NODATA) {
            json_decref(ids);
            json_decref(doc);
            free(next);
            st = CS_OK;
            break;
        }
        if (st == CS_OK && last &&
            (st = a->host->checkpoint(a->ctx, stream, json_pack("{s:s}", "since", last))) != CS_OK)
            acs_fail(a, 0, "the journal position could not be stored");
        json_array_foreach (st == CS_OK ? ids : NULL, i, id)
            seen_add(&a->seen, kind, json_string_value(id));
        json_decref(ids);
        json_decref(doc);
        free(url);
        url = next;
        if (st != CS_OK || !url)
            break;
    }
    free(url);
    if (st == CS_RETRY || st == CS_FATAL)
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
    return st;
}
