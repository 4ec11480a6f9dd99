/*
 * campaign.h - internals shared by the files of the Adobe Campaign Standard connector: the instance,
 * the configured targets, and the entry points of each concern (HTTP + auth, describe, value
 * conversion, write, I/O Events journal, opt-out export). Nothing here crosses the plugin boundary.
 */
#ifndef ACS_CAMPAIGN_H
#define ACS_CAMPAIGN_H

#include <stddef.h>
#include <stdint.h>

#include <crmsync/plugin.h>

#include "http/cshttp.h"

#define ACS_EVENTS_STREAM      "email-events"
#define ACS_OPTOUT_STREAM      "opt-outs"
#define ACS_OPTOUT_POLL_STREAM "opt-outs-poll"
#define ACS_OPTOUT_BAD_STREAM  "opt-outs-malformed"    /* never mapped: the core dead-letters these */
#define ACS_EVENTS_BAD_STREAM  "email-events-rejected" /* never mapped: the core dead-letters these */
/* One stream per event type, "email-events.<type>", each mapped (or not) on its own: the type toggles */
#define ACS_EVENT_KINDS 5      /* 0: every type (email-events); 1-4: send, open, click, bounce (hard only) */
#define ACS_RECORD_KEY  "$key" /* in `fields`/`links`: the record's key */

/* How values are converted for a field of Campaign's metadata (acs_fields.c). */
enum acs_kind {
    ACS_KIND_STRING,
    ACS_KIND_INTEGER,
    ACS_KIND_REAL,
    ACS_KIND_BOOLEAN,
    ACS_KIND_DATE,
    ACS_KIND_TIMESTAMP,
    ACS_KIND_ENUM,
    ACS_KIND_OBJECT
};

/* A field of a target's metadata, resolved once per metadata. */
struct acs_field {
    const char *name;   /* borrowed from the target's meta */
    const json_t *spec; /* its description in meta (borrowed) */
    enum acs_kind kind;
    json_int_t max_length; /* strings: at most this many characters (0: no limit) */
};

/* One sink target: how the records of one mapping target stream are written. */
struct acs_target {
    char *stream;           /* the records' "stream" (the mapping's target) */
    char *resource;         /* Campaign resource: profile, cusMembership... */
    char *key;              /* the identification-key field the record key fills */
    char *filter;           /* the filter that resolves a key (configured, or found by describe) */
    char *param;            /* that filter's parameter */
    char *collection;       /* absolute URL of the resource's collection */
    json_t *fields;         /* Campaign field path -> payload member or "$key"; NULL: the payload as is */
    json_t *links;          /* link name -> {"target": stream, "from": payload member or "$key"} */
    json_t *meta;           /* the metadata's "content": field name -> description (after start()) */
    struct acs_field *plan; /* meta's fields sorted by name (acs_target_set_meta) */
    size_t nplan;
    json_t *filters;           /* the resource's filters as acs_filters_list() normalises them (after start()) */
    const char *filter_option; /* the setting that names `filter`, for messages (NULL: resources.<stream>.filter) */
};

/* Recently seen journal event ids: two generations of hash sets of at most ACS_SEEN_GEN ids each, the
 * older dropped when the newer fills, so memory stays bounded while duplicates near each other (the
 * journal redelivers within minutes) are dropped. */
#define ACS_SEEN_GEN 65536
struct acs_seen {
    uint64_t *gen[2]; /* open addressing, 2 * ACS_SEEN_GEN slots, 0 = empty */
    size_t count;     /* ids in gen[0] */
};

/* Journal pages fetched lately, by URL, so that the per-type streams reading the same positions one
 * after the other share one request (acs_pagecache.c). A page is kept until every other stream of the
 * instance has read it, and bounded in entries, bytes and age. */
#define ACS_PAGECACHE_SLOTS 16
struct acs_pagecache {
    struct acs_cached_page {
        char *url, *next; /* the request URL and its Link rel="next" (NULL: none) */
        json_t *doc;      /* the page as parsed */
        size_t bytes;
        int64_t at_ms;    /* monotonic time it was fetched */
        unsigned waiting; /* the stream kinds (1 << kind) that have not read it yet */
    } slot[ACS_PAGECACHE_SLOTS];
    size_t bytes;
};

/* The journal page after the last one read, requested ahead (acs_ahead.c). */
#define ACS_AHEAD_LINKS 4
struct acs_ahead {
    struct cshttp_client *http; /* its own client (created on first use) */
    struct acs_link {
        char *since, *url; /* a page read ended at position `since`; its Link rel="next" */
    } links[ACS_AHEAD_LINKS];
    size_t newest;               /* links[newest] is the last one kept */
    struct cshttp_pending *call; /* the GET of links[newest].url under way, or NULL */
};

struct acs {
    const cs_host *host;
    cs_ctx *ctx;
    char *base;        /* <url>/campaign */
    char *client_id;   /* also the X-Api-Key */
    char *org_id;      /* IMS organization, x-ims-org-id of journal calls (may be NULL) */
    char *journal_url; /* may be NULL */
    char *export_url;  /* directory URL, file:// or sftp:// (may be NULL) */
    char *ca_bundle;
    char *ssh_key, *known_hosts; /* sftp:// export */
    long journal_limit, timeout_ms, connect_timeout_ms;
    struct cshttp_options http_opts; /* of every client of the instance */
    struct cshttp_client *http;
    struct cshttp_counter calls;      /* every request counted as http_<status> */
    struct cshttp_token *token;       /* the connection's shared token (borrowed) */
    struct cshttp_shared *own_shared; /* token, gate and docs, when the core does not share them (ABI < 1.3) */
    struct cshttp_docs *docs;         /* the connection's metadata documents read lately (borrowed) */
    int docs_live;                    /* describe(): read the metadata now, not another instance's copy */
    struct acs_target *targets;
    size_t ntargets;
    char *org_unit;            /* option org_unit: the name of the unit new records get (NULL: none) */
    char *org_unit_pkey;       /* its PKey, found at start (acs_orgunit.c) */
    struct acs_target *poll;   /* stream opt-outs-poll: the profile filter on lastModified (NULL: not configured) */
    long poll_page;            /* profiles per page of that stream */
    int64_t export_max_age_ms; /* no new export file for longer: the stream opt-outs says so (acs_optout.c) */
    int export_stale;          /* the sub-state "no opt-out export for ..." is shown */
    int64_t journal_idle_until_ms[ACS_EVENT_KINDS]; /* end of the journal reached: no call before this */
    unsigned event_streams;                         /* bit k: stream kind k is mapped (acs_events_plan); 0: unknown */
    struct acs_pagecache pages;
    struct acs_ahead ahead;
    struct acs_seen seen;
    char err[1024]; /* why the last call failed (no secret), for set_reason/set_result */
    long err_http;
    int64_t err_retry_ms;
    int err_record_only; /* a CS_RETRY that concerns this record only (a linked record is missing) */
    char held_tag[48];   /* names this daemon process in the held-for-parent marks (acs_write.c) */
};

/* ---- acs_http.c: authenticated calls ------------------------------------------------------------- */
/* A call to Campaign or the journal with the token, X-Api-Key (and x-ims-org-id when `journal`).
 * A 401 refreshes the token once and resends. Returns CS_OK when an answer other than 401/403
 * arrived (the caller classifies it with acs_classify), CS_RETRY on transport failures and token
 * service outages, CS_FATAL when the credentials or the API key are refused (a->err says which). */
cs_status acs_call(struct acs *a, const char *method, const char *url, const char *body, int journal,
                   struct cshttp_response *r);
/* The calls sent concurrently (up to the connection's max_in_flight), each with the token and headers
 * of acs_call; calls answered 401 are sent once more with a fresh token. CS_OK: every call has its own
 * outcome to classify (an answer, a transport failure with r.status 0, or `unsent` while the service's
 * Retry-After runs); CS_RETRY: no token (nothing sent); CS_FATAL: credentials or API key refused
 * (a->err says which). */
cs_status acs_call_all(struct acs *a, struct cshttp_call *calls, size_t n, int journal);
/* An answer's meaning: 2xx CS_OK; 408/429/502-504, transport failures and gateway 500s CS_RETRY;
 * engine refusals (500 with the engine's message, other 4xx) CS_REJECT. Fills a->err* when not OK. */
cs_status acs_classify(struct acs *a, const struct cshttp_response *r, const char *what);
/* GET a page of Campaign as JSON (*doc new): CS_OK, or the failure with a->err ("what: ..."); a refusal
 * (CS_REJECT) is CS_FATAL, a->err followed by `advice` when given (what to configure). */
cs_status acs_get_page(struct acs *a, const char *url, const char *what, const char *advice, json_t **doc);
/* The service said the PKey in the URL or body is not (or no longer) valid. */
int acs_is_stale_pkey(const struct cshttp_response *r);
/* A journal GET sent now on client `c` (used for nothing else while it is pending) and collected by
 * acs_call_finish, which answers as acs_call (a 401 or a lost connection sends it again on a->http) and
 * frees it; or dropped by cshttp_pending_free. NULL when it could not start (no token, no memory). */
struct cshttp_pending *acs_call_start(struct acs *a, struct cshttp_client *c, const char *url);
cs_status acs_call_finish(struct acs *a, struct cshttp_pending *p, struct cshttp_response *r);
/* Record why the instance failed: a->err from a format. */
void acs_fail(struct acs *a, long http, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An href of an answer as an absolute URL (new; NULL when href is NULL or out of memory): Adobe's pages
 * show absolute hrefs and paths relative to <url>/campaign ("/profileAndServices/..."). */
char *acs_url(const struct acs *a, const char *href);
/* Token check at start(). */
cs_status acs_authenticate(struct acs *a);

/* ---- acs_describe.c: targets and metadata ---------------------------------------------------------- */
/* Parse the `resources` option into a->targets (CS_FATAL with a->err on a bad entry). */
cs_status acs_targets_parse(struct acs *a, const json_t *resources);
/* The target of stream opt-outs-poll from option optout_filter (none when `filter` is NULL). */
cs_status acs_poll_target(struct acs *a, const char *filter);
/* Free the sink targets and the poll target. */
void acs_targets_free(struct acs *a);
/* Read the metadata and filters of each sink target (`sink`) and of the opt-out poll filter (`poll`);
 * check keys, fields and links (CS_FATAL with advice). */
cs_status acs_describe(struct acs *a, int sink, int poll);
struct acs_target *acs_target_find(struct acs *a, const char *stream);
/* A mapping's target that is not under `resources` (ABI 1.2 mapping_streams element carrying
 * "target_key"): the Campaign resource named like the target, keyed by target_key. CS_FATAL with a->err
 * when the element has no target_key. */
cs_status acs_target_from_mapping(struct acs *a, const json_t *element);
/* Describe one target now (metadata, filters, fields, links) if start() did not. */
cs_status acs_describe_target(struct acs *a, struct acs_target *t);

/* ---- acs_filters.c: a resource's filter listing, in each documented form ----------------------------- */
/* The filters of a listing answer (keyed by filter name, or a list of named filters, bare or under
 * "content") as a new array of {"name", "params": [parameter names in order]}. */
json_t *acs_filters_list(const json_t *doc);
/* The first parameter of a normalised entry, or NULL. */
const char *acs_filter_param(const json_t *entry);
/* Does normalised entry `entry` look records up by `field` (its parameter is field or field_parameter;
 * a by<Field> name alone may be a range, such as byLastModified(since))? */
int acs_filter_resolves(const json_t *entry, const char *field);
/* For messages: the filters `list` holds with their parameters, or what the answer `doc` held instead. */
void acs_filters_found(const json_t *doc, const json_t *list, char *out, size_t len);

/* ---- acs_orgunit.c: the organizational unit of new records (option org_unit) ------------------------ */
/* At start, after the targets are described: find org_unit in orgUnitBase and check that the profile
 * targets can take it (CS_FATAL with the fix). Nothing to do without org_unit. */
cs_status acs_org_unit_start(struct acs *a);
/* The body of a create of target `t`: `body` with {"orgUnit": {"PKey": ...}} added when org_unit is set
 * and the resource has the link (a new reference; NULL when out of memory). */
json_t *acs_org_unit_body(const struct acs *a, const struct acs_target *t, json_t *body);

/* ---- acs_schema.c: the connector's describe() (plugin ABI 1.2) ------------------------------------- */
cs_status acs_describe_stream(void *inst, const char *stream, json_t **out);

/* ---- acs_preflight.c: the connector's preflight() (plugin ABI 1.4) ---------------------------------- */
cs_status acs_preflight(void *inst, const json_t *need, unsigned flags, json_t **out);

/* ---- acs_convert.c: payload -> Campaign body --------------------------------------------------------- */
/* The body for `rec` (new object; links left as the linked records' keys), or NULL with a->err
 * naming the field and value that cannot be converted. */
json_t *acs_body_new(struct acs *a, const struct acs_target *t, const cs_record *rec);

/* ---- acs_fields.c: a target's fields, resolved once per metadata -------------------------------------- */
/* The conversion a field description asks for (a missing or unknown type: string). */
enum acs_kind acs_kind_of(const json_t *spec);
/* Make `meta` (a reference the target takes; NULL: none) the target's metadata and resolve its fields
 * (-1 when out of memory: the target is then left without metadata, as if never described). */
int acs_target_set_meta(struct acs_target *t, json_t *meta);
/* The field of the target named by the `len` first bytes of `name`, or NULL. */
const struct acs_field *acs_field_find(const struct acs_target *t, const char *name, size_t len);

/* ---- acs_body_text.c: a body's canonical text and hash ------------------------------------------- */
#define ACS_HASH_LEN 24 /* a body hash as text: 16 hex digits and room to spare */
/* `body` as compact JSON with its keys sorted (new, its length in *len; NULL when out of memory) and the
 * hash of that text, in one dump. */
char *acs_body_text(const json_t *body, size_t *len, char hash[ACS_HASH_LEN]);

/* ---- acs_write.c: the sink ------------------------------------------------------------------------- */
/* The record of target `t` whose key is `key`, through the target's filter (one GET): CS_OK with
 * *record new, or NULL when none has it; CS_REJECT when several have it. */
cs_status acs_find_by_key(struct acs *a, const struct acs_target *t, const char *key, json_t **record);
/* The connector's write(): `inst` is the struct acs. */
cs_status acs_write(void *inst, cs_record *const *records, size_t n);

/* ---- acs_optout_sink.c: the sink target "opt-outs" (deny-list attributes of existing profiles) ------ */
/* The connector's write(): target opt-outs here, the others to acs_write(). */
cs_status acs_write_any(void *inst, cs_record *const *records, size_t n);
cs_status acs_optout_write(struct acs *a, cs_record *const *records, size_t n);
/* The newest change time (Unix ms) the opt-out export reported for (externalId, field); 0 when none. */
int64_t acs_optout_time(struct acs *a, const char *ext, const char *field);
/* Remember a change time the export reported (kept when newer than the one known). */
void acs_optout_remember(struct acs *a, const char *ext, const char *field, int64_t ms);

/* ---- acs_events.c / acs_optout.c / acs_poll.c: the sources ------------------------------------------- */
/* The kind of an email-events stream (0 email-events, 1-4 email-events.<type>), or -1 for another name. */
int acs_events_kind(const char *stream);
/* start(): the workflow maps `stream` (used to pick the stream that reports untyped rejected entries). */
void acs_events_plan(struct acs *a, const char *stream);
cs_status acs_events_read(struct acs *a, const char *stream, const json_t *cursor, size_t max_records);
/* acs_pagecache.c: the page fetched for `url` within the last few seconds (new reference; *next a new
 * string or NULL), read now by the stream of `kind`; NULL when it is not kept. */
json_t *acs_pagecache_take(struct acs_pagecache *c, const char *url, int kind, char **next);
/* Keep a page (steals `doc`) for the stream kinds in `waiting`, the streams that have not read it yet. */
void acs_pagecache_put(struct acs_pagecache *c, const char *url, json_t *doc, size_t bytes, const char *next,
                       unsigned waiting);
void acs_pagecache_free(struct acs_pagecache *c);
cs_status acs_optout_read(struct acs *a, const json_t *cursor, size_t max_records);
/* The newest file of the opt-out export directory (*name new, NULL when there is none) and its
 * modification time (*mtime_ms Unix ms, -1 unknown); else the failure with a->err. */
cs_status acs_optout_newest(struct acs *a, char **name, int64_t *mtime_ms);
cs_status acs_poll_read(struct acs *a, const json_t *cursor, size_t max_records);
void acs_seen_free(struct acs_seen *s);
/* acs_ahead.c: the Link rel="next" of the page that ended at position `since` (new string), or NULL. */
char *acs_ahead_link(const struct acs *a, const char *since);
/* Remember `url` as the page after position `since` and request it now (best effort). */
void acs_ahead_start(struct acs *a, const char *since, const char *url);
/* 1 when the page of `url` was requested ahead: its outcome is in *r and *st (as acs_call's). */
int acs_ahead_take(struct acs *a, const char *url, struct cshttp_response *r, cs_status *st);
void acs_ahead_free(struct acs_ahead *h);
/* An opt-out record of stream `stream`: key "<externalId or email>/<field>", payload {externalId, email,
 * field, value, lastModified} (new; NULL when out of memory). */
cs_record *acs_optout_record(const char *stream, const char *ext, const char *email, const char *field, int value,
                             const char *modified, int64_t ts);
/* A record the core dead-letters (stream `bad_stream` is never mapped): `payload` (stolen) gets
 * "error": why; counted in the metric `metric`. */
cs_record *acs_rejected_record(struct acs *a, const char *bad_stream, const char *key, json_t *payload, const char *why,
                               const char *metric);

/* "YYYY-MM-DD[( |T)HH:MM[:SS[.fff]][Z|+HH:MM]]" -> Unix ms; -1 when it is not one. */
int acs_parse_time(const char *s, int64_t *ms);

/* Milliseconds on the monotonic clock. */
int64_t acs_now_ms(void);

#endif
