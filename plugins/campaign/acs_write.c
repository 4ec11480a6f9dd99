/*
 * acs_write.c - the sink: upsert and delete by key with as few engine calls and requests as possible
 * (reference B3, B5.1, B7, B8), the records of a batch written concurrently. Campaign has no upsert,
 * so a key is resolved to a PKey through the target's identification filter, then PATCHed, or POSTed
 * when absent. The connection's key/value store keeps "<hash of the last body written> <PKey>" per
 * (resource, key field, key): an update is then one PATCH and an unchanged record no call at all. A
 * record of a full load or replay whose key this connection never resolved is created directly (one
 * request); if Campaign answers that the key exists, it is looked up and PATCHed. A PKey Campaign no
 * longer accepts (the record was deleted or re-created, or a v8 migration changed PKeys) is
 * re-resolved once and the write resent; so are the PKeys of linked records. Calls are counted by kind
 * with metric_add.
 *
 * A batch is written in rounds: every record that needs its key resolved is looked up at once, then
 * every record ready to be sent is sent at once (acs_call_all: up to the connection's max_in_flight
 * requests in flight), then the records a round left unfinished (a duplicate key, a stale PKey) go
 * round again. A record with links that follows records of another target in its batch waits until
 * they are written (a wave of its own), so that a parent written in the same batch is found. Each record has its own outcome; the batch as a whole is CS_RETRY only when the
 * service failed every record that needed it, and CS_FATAL when credentials are refused.
 *
 * Links come from the target's `links` option and from the record's "links" member (an entity handler's
 * {link name: the parent's key, or null to unlink}, plugin ABI 1.2): both are resolved by the same code
 * to the parent's PKey, through the target this connection writes for the link's resource. A record
 * whose parent does not exist yet waits on its own (CS_RETRY for that record, "no ... (yet)") and is
 * counted in the gauge `held_for_parent` until it is written, rejected or deleted. Each held record is
 * marked in the connection's key/value store with the daemon process that counted it, so a retry by
 * another writer does not count it again; after a restart the gauge starts at 0 and counts a record
 * still held when it is first retried (a mark left by an earlier process is adopted, never subtracted).
 * A delete of a record Campaign no longer has (404, or no record for its key) is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaign.h"

#define NO_HASH "-" /* cached PKey of a record this instance did not write (resolved for a link) */

struct cached {
    char hash[ACS_HASH_LEN];
    char *pkey; /* NULL when unknown */
};

static char *kv_name(const struct acs_target *t, const char *key)
{
    char *s = NULL;
    return asprintf(&s, "pk:%s:%s:%s", t->resource, t->key, key) < 0 ? NULL : s;
}

static void cache_get(struct acs *a, const char *kvkey, struct cached *c)
{
    char *v = a->host->kv_get(a->ctx, kvkey), *sp;
    memset(c, 0, sizeof *c);
    if (v && (sp = strchr(v, ' ')) && sp[1]) {
        size_t n = (size_t)(sp - v) < sizeof c->hash ? (size_t)(sp - v) : sizeof c->hash - 1;
        memcpy(c->hash, v, n); /* c is zeroed: the hash stays terminated */
        c->pkey = strdup(sp + 1);
    }
    free(v);
}

static cs_status cache_put(struct acs *a, const char *kvkey, const char *hash, const char *pkey)
{
    char *v = NULL;
    cs_status st;
    if (pkey && asprintf(&v, "%s %s", hash, pkey) < 0)
        return CS_RETRY;
    st = a->host->kv_put(a->ctx, kvkey, v);
    free(v);
    if (st != CS_OK)
        acs_fail(a, 0, "cannot store the key -> PKey cache in the state database (its cause is logged just before)");
    return st;
}

/* The URL that looks `key` up through the target's filter (new; NULL when out of memory). */
static char *lookup_url(const struct acs_target *t, const char *key)
{
    char *esc = cshttp_escape(key), *url = NULL;
    if (esc && asprintf(&url, "%s/%s?%s=%s&_lineCount=2", t->collection, t->filter, t->param, esc) < 0)
        url = NULL;
    free(esc);
    return url;
}

/* The record a lookup answered (new; NULL when none has the key), from an answer already received. */
static cs_status found_record(struct acs *a, const struct acs_target *t, const char *key,
                              const struct cshttp_response *r, json_t **record)
{
    json_t *doc, *content;
    cs_status st = acs_classify(a, r, "resolving the key");
    *record = NULL;
    if (st != CS_OK)
        return st;
    doc = cshttp_response_json(r);
    content = json_object_get(doc, "content");
    if (!json_is_array(content)) {
        acs_fail(a, r->status, "resolving the key: the answer has no content list");
        st = CS_RETRY;
    } else if (json_array_size(content) > 1) {
        acs_fail(a, 0, "key '%s' matches several %s records through filter %s: it does not identify one", key,
                 t->resource, t->filter);
        st = CS_REJECT;
    } else {
        *record = json_incref(json_array_get(content, 0));
    }
    json_decref(doc);
    return st;
}

cs_status acs_find_by_key(struct acs *a, const struct acs_target *t, const char *key, json_t **record)
{
    struct cshttp_response r = {0};
    char *url = lookup_url(t, key);
    cs_status st;
    *record = NULL;
    if (!url) {
        acs_fail(a, 0, "out of memory");
        return CS_RETRY;
    }
    a->host->metric_add(a->ctx, "acs_lookup", 1);
    if ((st = acs_call(a, "GET", url, NULL, 0, &r)) == CS_OK)
        st = found_record(a, t, key, &r, record);
    cshttp_response_clear(&r);
    free(url);
    return st;
}

/* The PKey of a record a lookup found (new in *pkey; NULL when none was found). */
static cs_status pkey_of(struct acs *a, const json_t *record, char **pkey)
{
    const char *pk = json_string_value(json_object_get(record, "PKey"));
    *pkey = NULL;
    if (record && (!pk || !(*pkey = strdup(pk)))) {
        acs_fail(a, 0, "resolving the key: the record found has no PKey");
        return CS_RETRY;
    }
    return CS_OK;
}

/* Resolve a key through the target's filter: CS_OK with *pkey (new, NULL when no record has it). */
static cs_status lookup(struct acs *a, const struct acs_target *t, const char *key, char **pkey)
{
    json_t *record = NULL;
    cs_status st = acs_find_by_key(a, t, key, &record);
    *pkey = NULL;
    if (st == CS_OK)
        st = pkey_of(a, record, pkey);
    json_decref(record);
    return st;
}

/* Turn body[name], the linked record's key in target `lt`, into {"PKey": ...} (an empty or null key, or no
 * target: {}, unlink); `fresh` skips the cache. A parent not found is a CS_RETRY of this record only. */
static cs_status resolve_link(struct acs *a, const char *name, const struct acs_target *lt, json_t *body, int fresh)
{
    const char *lkey = json_string_value(json_object_get(body, name));
    struct cached c = {0};
    char *kvkey;
    cs_status st = CS_OK;
    if (!lkey || !*lkey || !lt) {
        if (json_object_get(body, name))
            json_object_set_new(body, name, json_object()); /* empty link: unlink */
        return CS_OK;
    }
    if (!(kvkey = kv_name(lt, lkey)))
        return CS_RETRY;
    if (!fresh)
        cache_get(a, kvkey, &c);
    if (!c.pkey && (st = lookup(a, lt, lkey, &c.pkey)) == CS_OK) {
        if (!c.pkey) {
            acs_fail(a, 0, "link '%s': no %s has %s '%s' (yet); the record is retried", name, lt->resource, lt->key,
                     lkey);
            a->err_record_only = 1;
            st = CS_RETRY;
        } else {
            a->host->metric_add(a->ctx, "acs_link_lookup", 1);
            cache_put(a, kvkey, NO_HASH, c.pkey);
        }
    }
    if (st == CS_OK)
        json_object_set_new(body, name, json_pack("{s:s}", "PKey", c.pkey));
    free(c.pkey);
    free(kvkey);
    return st;
}

/* The (described) target this connection writes for link `name` of t's resource, its resTarget; NULL
 * when there is none. */
static const struct acs_target *link_target(struct acs *a, const struct acs_target *t, const char *name)
{
    const char *res = json_string_value(json_object_get(json_object_get(t->meta, name), "resTarget"));
    for (size_t i = 0; res && i < a->ntargets; i++)
        if (!strcmp(a->targets[i].resource, res) && a->targets[i].collection && a->targets[i].param)
            return &a->targets[i];
    return NULL;
}

/* The record's "links" into the body as the parents' keys (null: unlink), so that the body's hash covers
 * them. CS_REJECT when a value is not a key; CS_FATAL when a name is not a link of the resource or the
 * connection writes nothing of the linked resource (the metadata or the configuration changed). */
static cs_status add_record_links(struct acs *a, const struct acs_target *t, const cs_record *rec, json_t *body)
{
    const json_t *links = cs_record_links(rec);
    const char *name;
    json_t *v;
    if (!links)
        return CS_OK;
    json_object_foreach ((json_t *)links, name, v) {
        const char *type = json_string_value(json_object_get(json_object_get(t->meta, name), "type"));
        if (!type || strcmp(type, "link") != 0) {
            acs_fail(a, 0,
                     "target %s: the record links '%s', which is not a link of Campaign resource '%s'; fix the "
                     "entity handler's links (or the resource in Campaign)",
                     t->stream, name, t->resource);
            return CS_FATAL;
        }
        if (!link_target(a, t, name)) {
            acs_fail(a, 0,
                     "target %s: link '%s' points to Campaign resource '%s', which this connection does not write; "
                     "add it under resources (resource and key) so that the parent's key can be resolved",
                     t->stream, name, json_string_value(json_object_get(json_object_get(t->meta, name), "resTarget")));
            return CS_FATAL;
        }
        if (!json_is_string(v) && !json_is_null(v)) {
            acs_fail(a, 0, "target %s: link '%s' of key %s is not the key of a linked record", t->stream, name,
                     cs_record_key(rec));
            return CS_REJECT;
        }
        json_object_set(body, name, v);
    }
    return CS_OK;
}

/* Resolve every link of `body`: the configured ones, then the record's own. */
static cs_status resolve_links(struct acs *a, const struct acs_target *t, const cs_record *rec, json_t *body, int fresh)
{
    const char *name;
    json_t *l;
    cs_status st = CS_OK;
    json_object_foreach (t->links, name, l) {
        if ((st = resolve_link(a, name, acs_target_find(a, json_string_value(json_object_get(l, "target"))), body,
                               fresh)) != CS_OK)
            return st;
    }
    json_object_foreach (cs_record_links(rec), name, l) {
        if (!json_object_get(t->links, name) &&
            (st = resolve_link(a, name, link_target(a, t, name), body, fresh)) != CS_OK)
            return st;
    }
    return CS_OK;
}

/* "<pid>.<start time>" of this daemon process: what a held-for-parent mark says counted it. */
static const char *process_tag(struct acs *a)
{
    unsigned long long start = 0;
    char line[1024], *paren;
    FILE *f;
    if (a->held_tag[0])
        return a->held_tag;
    if ((f = fopen("/proc/self/stat", "r"))) {
        /* field 22, starttime, counted after the ")" that ends the command name (field 2) */
        if (fgets(line, sizeof line, f) && (paren = strrchr(line, ')')))
            sscanf(paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                   &start);
        fclose(f);
    }
    snprintf(a->held_tag, sizeof a->held_tag, "%ld.%llu", (long)getpid(), start);
    return a->held_tag;
}

/* Keep the gauge held_for_parent: `held` after a CS_RETRY for a missing parent, else the record is done
 * (written, rejected or deleted) and its mark, if any, goes. */
static void track_held(struct acs *a, const struct acs_target *t, const char *key, int held)
{
    char *name = NULL, *mark;
    const char *tag = process_tag(a);
    if (asprintf(&name, "held:%s:%s:%s", t->resource, t->key, key) < 0)
        return;
    mark = a->host->kv_get(a->ctx, name);
    if (held && (!mark || strcmp(mark, tag) != 0) && a->host->kv_put(a->ctx, name, tag) == CS_OK)
        a->host->metric_add(a->ctx, "held_for_parent", 1);
    if (!held && mark && a->host->kv_put(a->ctx, name, NULL) == CS_OK && !strcmp(mark, tag))
        a->host->metric_add(a->ctx, "held_for_parent", -1);
    free(mark);
    free(name);
}

/* ---- a batch, written in rounds ------------------------------------------------------------------ */

enum step { STEP_DONE, STEP_LOOKUP, STEP_SEND };

/* One record of the batch on its way. */
struct job {
    const cs_record *rec;
    const struct acs_target *t;
    char *kvkey;
    struct cached c; /* the cached hash, and the PKey to write to (NULL: create) */
    json_t *body;    /* upserts: the body with the links as keys (what the hash covers) */
    json_t *send;    /* this attempt's body, links resolved to PKeys */
    char *body_text; /* upserts: the body's canonical text, which a create of `body` as it is sends */
    size_t body_len;
    char hash[ACS_HASH_LEN]; /* of body_text */
    enum step step;
    int stale_seen;   /* a stale PKey was resolved again already */
    int create_first; /* POSTed without a lookup: an answer that the key exists sends it to a lookup */
    int answered;     /* the service answered for this record (not only a failure to reach it) */
    char *written;    /* the PKey written */
    cs_status st;
    long http;
    int64_t retry_ms;
    int record_only; /* a CS_RETRY that concerns this record only (a linked record is missing) */
    char *err;
    char *url, *text; /* of its call in flight */
};

#define MAX_ROUNDS 4 /* create-first -> duplicate -> lookup -> PATCH -> stale -> lookup -> POST */

/* The record's outcome is `st`, with a->err as the reason when it is not CS_OK. */
static void job_end(struct acs *a, struct job *j, cs_status st)
{
    j->st = st;
    j->step = STEP_DONE;
    if (st != CS_OK) {
        free(j->err);
        j->err = strdup(a->err);
        j->http = a->err_http;
        j->retry_ms = a->err_retry_ms;
        j->record_only = a->err_record_only;
    }
}

/* Can the record's body hold links (the target's or the record's own)? */
static int has_links(const struct job *j)
{
    return j->t->links || cs_record_links(j->rec);
}

/* This attempt's body: the links resolved (again, past the cache, when `fresh`), each replacing a member
 * of a copy of the body; a body without links is sent as it is (write_call copies it before leaving a
 * member out). */
static cs_status job_body(struct acs *a, struct job *j, int fresh)
{
    json_decref(j->send);
    if (!has_links(j)) {
        j->send = json_incref(j->body);
        return CS_OK;
    }
    if (!(j->send = json_copy(j->body))) {
        acs_fail(a, 0, "out of memory");
        return CS_RETRY;
    }
    return resolve_links(a, j->t, j->rec, j->send, fresh);
}

/* What a record needs, before any call for it: its target, cached PKey and body; an unchanged record
 * is done here. A record of a full load or replay whose key this connection never resolved is sent
 * straight to POST. */
static void job_prepare(struct acs *a, struct job *j)
{
    cs_status st;
    int is_delete = cs_record_op(j->rec) == CS_OP_DELETE;
    if (!(j->t = acs_target_find(a, cs_record_stream(j->rec)))) {
        acs_fail(a, 0,
                 "no Campaign resource is configured for target stream '%s': add it under resources of "
                 "this connection",
                 cs_record_stream(j->rec));
        job_end(a, j, CS_REJECT);
        return;
    }
    if (!(j->kvkey = kv_name(j->t, cs_record_key(j->rec)))) {
        acs_fail(a, 0, "out of memory");
        job_end(a, j, CS_RETRY);
        return;
    }
    cache_get(a, j->kvkey, &j->c);
    if (is_delete) {
        j->step = j->c.pkey ? STEP_SEND : STEP_LOOKUP;
        return;
    }
    if (!(j->body = acs_body_new(a, j->t, j->rec))) {
        job_end(a, j, CS_REJECT);
        return;
    }
    if ((st = add_record_links(a, j->t, j->rec, j->body)) != CS_OK) {
        job_end(a, j, st);
        return;
    }
    if (!(j->body_text = acs_body_text(j->body, &j->body_len, j->hash))) {
        acs_fail(a, 0, "out of memory");
        job_end(a, j, CS_RETRY);
        return;
    }
    /* a full load or a replay writes even what crmsync wrote last: it also restores a field someone
     * changed in Campaign since */
    if (j->c.pkey && strcmp(j->c.hash, j->hash) == 0 && !cs_record_is_initial(j->rec)) {
        a->host->metric_add(a->ctx, "acs_unchanged", 1);
        job_end(a, j, CS_OK);
        return;
    }
    if ((st = job_body(a, j, 0)) != CS_OK) {
        job_end(a, j, st);
        return;
    }
    j->create_first = !j->c.pkey && cs_record_is_initial(j->rec);
    j->step = j->c.pkey || j->create_first ? STEP_SEND : STEP_LOOKUP;
}

/* The jobs at `step`, in `sel` (which holds n). */
static size_t jobs_at(struct job *jobs, size_t n, enum step step, struct job **sel)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].step == step)
            sel[m++] = &jobs[i];
    return m;
}

/* A call that got no answer: the record is retried (after the service's Retry-After when it was not
 * sent because of one). */
static void job_unanswered(struct acs *a, struct job *j, const struct cshttp_call *k)
{
    acs_fail(a, 0, "%s %s: %s", k->method, k->url, k->r.error);
    a->err_retry_ms = k->r.retry_after_ms;
    job_end(a, j, CS_RETRY);
}

/* Send the calls of the selected jobs at once; a failure to send any (no token, credentials refused)
 * ends each of them. 0 when the calls have their outcomes. */
static int send_all(struct acs *a, struct job **sel, struct cshttp_call *calls, size_t m)
{
    cs_status st = acs_call_all(a, calls, m, 0);
    if (st == CS_OK)
        return 0;
    for (size_t i = 0; i < m; i++)
        job_end(a, sel[i], st);
    return -1;
}

/* Out of memory building a round's calls: send none of them, retry those records later. */
static void out_of_memory(struct acs *a, struct job **sel, size_t m)
{
    acs_fail(a, 0, "out of memory");
    for (size_t k = 0; k < m; k++)
        job_end(a, sel[k], CS_RETRY);
}

/* Resolve the keys of every job waiting for it, at once. */
static void lookup_round(struct acs *a, struct job **sel, struct cshttp_call *calls, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        free(sel[i]->url);
        if (!(sel[i]->url = lookup_url(sel[i]->t, cs_record_key(sel[i]->rec)))) {
            out_of_memory(a, sel, m);
            return;
        }
        calls[i] = (struct cshttp_call){.method = "GET", .url = sel[i]->url};
        a->host->metric_add(a->ctx, "acs_lookup", 1);
    }
    if (send_all(a, sel, calls, m) != 0)
        return;
    for (size_t i = 0; i < m; i++) {
        struct job *j = sel[i];
        json_t *record = NULL;
        cs_status st;
        if (!calls[i].r.status) {
            job_unanswered(a, j, &calls[i]);
            continue;
        }
        j->answered = 1;
        st = found_record(a, j->t, cs_record_key(j->rec), &calls[i].r, &record);
        free(j->c.pkey);
        if (st == CS_OK)
            st = pkey_of(a, record, &j->c.pkey);
        json_decref(record);
        if (st != CS_OK)
            job_end(a, j, st);
        else if (!j->c.pkey && cs_record_op(j->rec) == CS_OP_DELETE)
            job_end(a, j, CS_OK); /* already gone: deleting is idempotent */
        else
            j->step = STEP_SEND;
    }
}

/* The call that writes job j: DELETE, PATCH (PKey known) or POST. -1 when out of memory. */
static int write_call(struct acs *a, struct job *j, struct cshttp_call *k)
{
    int is_delete = cs_record_op(j->rec) == CS_OP_DELETE;
    json_t *sent = NULL;
    free(j->text);
    free(j->url);
    j->text = j->url = NULL;
    if (!is_delete && j->c.pkey) { /* a custom key cannot be changed by PATCH; it is the same anyway */
        json_t *own = j->send == j->body ? json_copy(j->body) : json_incref(j->send);
        json_decref(j->send);
        if (!(j->send = own))
            return -1;
        json_object_del(j->send, j->t->key);
    }
    /* a create also carries the connection's organizational unit (org_unit) */
    if (!is_delete && !(sent = j->c.pkey ? json_incref(j->send) : acs_org_unit_body(a, j->t, j->send)))
        return -1;
    /* the body itself (a create without links or organizational unit) goes as the text its hash was
     * taken of; anything else is dumped */
    j->text = sent && sent != j->body ? json_dumps(sent, JSON_COMPACT) : NULL;
    json_decref(sent);
    if ((sent && sent != j->body && !j->text) ||
        asprintf(&j->url, j->c.pkey ? "%s/%s" : "%s", j->t->collection, j->c.pkey) < 0) {
        j->url = NULL;
        return -1;
    }
    *k = (struct cshttp_call){.method = is_delete   ? "DELETE"
                                        : j->c.pkey ? "PATCH"
                                                    : "POST",
                              .url = j->url,
                              .body = is_delete ? NULL
                                      : j->text ? j->text
                                                : j->body_text,
                              .body_len = is_delete ? 0
                                          : j->text ? strlen(j->text)
                                                    : j->body_len};
    a->host->metric_add(a->ctx, is_delete ? "acs_delete" : j->c.pkey ? "acs_update" : "acs_create", 1);
    return 0;
}

/* Campaign refused a create because a record already has the key. */
static int is_duplicate(const struct cshttp_response *r)
{
    return (r->status == 409 || r->status == 400 || r->status == 500) && r->body &&
           (strstr(r->body, "Duplicate key") || strstr(r->body, "duplicate key"));
}

/* Campaign no longer knows a PKey we sent: resolve this record (and its links) again, once. */
static int retry_stale(struct acs *a, struct job *j, const struct cshttp_response *r)
{
    cs_status st;
    if (j->stale_seen || !acs_is_stale_pkey(r))
        return 0;
    j->stale_seen = 1;
    a->host->metric_add(a->ctx, "acs_stale_pkey", 1);
    a->host->log(a->ctx, CS_LOG_INFO, "%s key %s: a cached PKey is no longer valid; resolving it again", j->t->stream,
                 cs_record_key(j->rec));
    free(j->c.pkey);
    j->c.pkey = NULL;
    if (cs_record_op(j->rec) != CS_OP_DELETE && (st = job_body(a, j, 1)) != CS_OK)
        job_end(a, j, st);
    else
        j->step = STEP_LOOKUP;
    return 1;
}

/* The outcome of a successful create or update: the PKey written. */
static cs_status written_pkey(struct acs *a, struct job *j, const struct cshttp_response *r)
{
    if (r->status == 204 && j->c.pkey) /* Campaign v8: an empty PATCH */
        return (j->written = strdup(j->c.pkey)) ? CS_OK : CS_RETRY;
    if (!(j->written = cshttp_response_member(r, "PKey")) && j->c.pkey)
        j->written = strdup(j->c.pkey);
    if (!j->written) {
        acs_fail(a, r->status, "creating: the answer carries no PKey");
        return CS_RETRY;
    }
    return CS_OK;
}

/* The answer to a job's write. */
static void write_answered(struct acs *a, struct job *j, const struct cshttp_response *r)
{
    int is_delete = cs_record_op(j->rec) == CS_OP_DELETE;
    cs_status st;
    j->answered = 1;
    if (!is_delete && !j->c.pkey && j->create_first && is_duplicate(r)) {
        a->host->metric_add(a->ctx, "acs_create_existing", 1);
        j->create_first = 0;
        j->step = STEP_LOOKUP;
    } else if (retry_stale(a, j, r)) {
        /* sent to a lookup again */
    } else if (is_delete) { /* 404: gone meanwhile, which is what a delete wants */
        job_end(a, j, r->status == 404 ? CS_OK : acs_classify(a, r, "deleting"));
    } else if ((st = acs_classify(a, r, j->c.pkey ? "updating" : "creating")) != CS_OK) {
        job_end(a, j, st);
    } else {
        job_end(a, j, written_pkey(a, j, r));
    }
}

/* Write every job ready for it, at once. */
static void write_round(struct acs *a, struct job **sel, struct cshttp_call *calls, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        if (write_call(a, sel[i], &calls[i]) != 0) {
            out_of_memory(a, sel, m);
            return;
        }
    }
    if (send_all(a, sel, calls, m) != 0)
        return;
    for (size_t i = 0; i < m; i++) {
        if (calls[i].r.status)
            write_answered(a, sel[i], &calls[i].r);
        else
            job_unanswered(a, sel[i], &calls[i]);
    }
}

/* Run lookups and writes until every job is done. */
static void run_rounds(struct acs *a, struct job *jobs, size_t n)
{
    struct job **sel = calloc(n ? n : 1, sizeof *sel);
    struct cshttp_call *calls = calloc(n ? n : 1, sizeof *calls);
    size_t m;
    for (int round = 0; sel && calls && round < MAX_ROUNDS; round++) {
        if ((m = jobs_at(jobs, n, STEP_LOOKUP, sel)))
            lookup_round(a, sel, calls, m);
        for (size_t i = 0; i < m; i++)
            cshttp_response_clear(&calls[i].r);
        if ((m = jobs_at(jobs, n, STEP_SEND, sel)))
            write_round(a, sel, calls, m);
        for (size_t i = 0; i < m; i++)
            cshttp_response_clear(&calls[i].r);
        if (!jobs_at(jobs, n, STEP_LOOKUP, sel) && !jobs_at(jobs, n, STEP_SEND, sel))
            break;
    }
    acs_fail(a, 0,
             sel && calls ? "the record was sent to a lookup and back more often than a write needs" : "out of memory");
    for (size_t i = 0; i < n; i++)
        if (jobs[i].step != STEP_DONE)
            job_end(a, &jobs[i], CS_RETRY);
    free(sel);
    free(calls);
}

/* Keep what a done job leaves behind: the key -> PKey cache and the held-for-parent mark. */
static void job_settle(struct acs *a, struct job *j)
{
    int is_delete = cs_record_op(j->rec) == CS_OP_DELETE;
    if (!j->t)
        return;
    if (j->st == CS_OK && (j->written || (is_delete && j->answered)) &&
        cache_put(a, j->kvkey, j->hash, is_delete ? NULL : j->written) != CS_OK)
        job_end(a, j, CS_RETRY);
    /* only a record with links can have been held; a delete may end one that was */
    if ((has_links(j) || is_delete) && (j->st == CS_OK || j->st == CS_REJECT || (j->st == CS_RETRY && j->record_only)))
        track_held(a, j->t, cs_record_key(j->rec), j->st == CS_RETRY);
}

static void job_free(struct job *j)
{
    free(j->kvkey);
    free(j->c.pkey);
    json_decref(j->body);
    json_decref(j->send);
    free(j->body_text);
    free(j->written);
    free(j->err);
    free(j->url);
    free(j->text);
}

/* The batch's outcome from its jobs': CS_FATAL when credentials were refused; CS_RETRY when the
 * service failed every record that needed it (so that the workflow backs off as a whole); otherwise
 * each failed record has its own result. */
static cs_status batch_outcome(struct acs *a, struct job *jobs, size_t n)
{
    const struct job *fatal = NULL, *down = NULL;
    int answered = 0; /* a record has its own outcome: written, rejected, or waiting for its parent */
    for (size_t i = 0; i < n; i++) {
        const struct job *j = &jobs[i];
        if (j->st == CS_FATAL) {
            fatal = fatal ? fatal : j;
        } else if (j->st == CS_RETRY && !j->record_only) {
            down = down ? down : j;
        } else if (j->st != CS_OK || j->answered) {
            answered = 1;
        }
    }
    if (fatal || (down && !answered)) {
        const struct job *j = fatal ? fatal : down;
        a->host->set_reason(a->ctx, (int)j->http, j->retry_ms, "%s", j->err ? j->err : "no reason given");
        if (!fatal)
            a->host->metric_add(a->ctx, "acs_retry", 1);
        return j->st;
    }
    for (size_t i = 0; i < n; i++)
        if (jobs[i].st != CS_OK)
            a->host->set_result(a->ctx, i, jobs[i].st, (int)jobs[i].http, jobs[i].retry_ms,
                                jobs[i].err ? jobs[i].err : "no reason given");
    return CS_OK;
}

/* Does record i need a wave of its own start: it has links, and an earlier record of the wave is of
 * another target (maybe its parent, which must be written before the link is resolved)? */
static int starts_wave(struct acs *a, cs_record *const *records, size_t first, size_t i)
{
    const struct acs_target *t = acs_target_find(a, cs_record_stream(records[i]));
    if (!t || (!t->links && !cs_record_links(records[i])))
        return 0;
    for (size_t k = first; k < i; k++)
        if (strcmp(cs_record_stream(records[k]), cs_record_stream(records[i])) != 0)
            return 1;
    return 0;
}

/* Write records [first, end): prepare, rounds of calls, settle. */
static void write_wave(struct acs *a, struct job *jobs, size_t first, size_t end)
{
    for (size_t i = first; i < end; i++)
        job_prepare(a, &jobs[i]);
    run_rounds(a, jobs + first, end - first);
    for (size_t i = first; i < end; i++)
        job_settle(a, &jobs[i]);
}

cs_status acs_write(void *inst, cs_record *const *records, size_t n)
{
    struct acs *a = inst;
    struct job *jobs = calloc(n ? n : 1, sizeof *jobs);
    size_t first = 0;
    cs_status st;
    if (!jobs) {
        a->host->set_reason(a->ctx, 0, -1, "out of memory");
        return CS_RETRY;
    }
    for (size_t i = 0; i < n; i++)
        jobs[i].rec = records[i];
    /* parents before their children: a batch is written in waves where a link could point back */
    for (size_t i = 1; i <= n; i++) {
        if (i == n || starts_wave(a, records, first, i)) {
            write_wave(a, jobs, first, i);
            first = i;
        }
    }
    st = batch_outcome(a, jobs, n);
    for (size_t i = 0; i < n; i++)
        job_free(&jobs[i]);
    free(jobs);
    return st;
}
