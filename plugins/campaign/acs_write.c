/*
 * acs_write.c - the sink: upsert and delete by key with as few engine calls as possible (reference
 * B3, B5.1, B7, B8). Campaign has no upsert, so the key is resolved to a PKey through the target's
 * identification filter, then PATCHed, or POSTed when absent. The connection's key/value store keeps
 * "<hash of the last body written> <PKey>" per (resource, key field, key): an update is then one PATCH
 * and an unchanged record no call at all. A PKey Campaign no longer accepts (the record was deleted or
 * re-created, or a v8 migration changed PKeys) is re-resolved once and the write resent; so are the
 * PKeys of linked records. Calls are counted by kind with metric_add.
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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaign.h"

#define NO_HASH "-" /* cached PKey of a record this instance did not write (resolved for a link) */

struct cached {
    char hash[24];
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
        snprintf(c->hash, sizeof c->hash, "%.*s", (int)(sp - v), v);
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
        acs_fail(a, 0, "cannot store the key -> PKey cache in the state database");
    return st;
}

/* FNV-1a 64 of the body as canonical JSON (sorted keys), which covers fields, values and link keys. */
static void body_hash(const json_t *body, char out[24])
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    snprintf(out, 24, "%016" PRIx64, h);
    free(s);
}

cs_status acs_find_by_key(struct acs *a, const struct acs_target *t, const char *key, json_t **record)
{
    struct cshttp_response r = {0};
    char *esc = cshttp_escape(key), *url = NULL;
    json_t *doc = NULL, *content;
    cs_status st;
    *record = NULL;
    if (!esc || asprintf(&url, "%s/%s?%s=%s&_lineCount=2", t->collection, t->filter, t->param, esc) < 0) {
        url = NULL;
        acs_fail(a, 0, "out of memory");
        st = CS_RETRY;
        goto out;
    }
    a->host->metric_add(a->ctx, "acs_lookup", 1);
    if ((st = acs_call(a, "GET", url, NULL, 0, &r)) != CS_OK || (st = acs_classify(a, &r, "resolving the key")) != CS_OK)
        goto out;
    doc = cshttp_response_json(&r);
    content = json_object_get(doc, "content");
    if (!json_is_array(content)) {
        acs_fail(a, r.status, "resolving the key: the answer has no content list");
        st = CS_RETRY;
    } else if (json_array_size(content) > 1) {
        acs_fail(a, 0, "key '%s' matches several %s records through filter %s: it does not identify one", key,
                 t->resource, t->filter);
        st = CS_REJECT;
    } else {
        *record = json_incref(json_array_get(content, 0));
    }
out:
    json_decref(doc);
    cshttp_response_clear(&r);
    free(url);
    free(esc);
    return st;
}

/* Resolve a key through the target's filter: CS_OK with *pkey (new, NULL when no record has it). */
static cs_status lookup(struct acs *a, const struct acs_target *t, const char *key, char **pkey)
{
    json_t *record = NULL;
    const char *pk;
    cs_status st = acs_find_by_key(a, t, key, &record);
    *pkey = NULL;
    if (st == CS_OK && record) {
        pk = json_string_value(json_object_get(record, "PKey"));
        if (!pk || !(*pkey = strdup(pk))) {
            acs_fail(a, 0, "resolving the key: the record found has no PKey");
            st = CS_RETRY;
        }
    }
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
    const json_t *links = json_object_get(rec, "links");
    const char *name;
    json_t *v;
    if (!links)
        return CS_OK;
    json_object_foreach((json_t *)links, name, v) {
        const char *type = json_string_value(json_object_get(json_object_get(t->meta, name), "type"));
        if (!type || strcmp(type, "link") != 0) {
            acs_fail(a, 0, "target %s: the record links '%s', which is not a link of Campaign resource '%s'; fix the "
                           "entity handler's links (or the resource in Campaign)", t->stream, name, t->resource);
            return CS_FATAL;
        }
        if (!link_target(a, t, name)) {
            acs_fail(a, 0, "target %s: link '%s' points to Campaign resource '%s', which this connection does not write; "
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
static cs_status resolve_links(struct acs *a, const struct acs_target *t, const cs_record *rec, json_t *body,
                               int fresh)
{
    const char *name;
    json_t *l;
    cs_status st = CS_OK;
    json_object_foreach(t->links, name, l) {
        if ((st = resolve_link(a, name, acs_target_find(a, json_string_value(json_object_get(l, "target"))), body,
                               fresh)) != CS_OK)
            return st;
    }
    json_object_foreach(json_object_get(rec, "links"), name, l) {
        if (!json_object_get(t->links, name) && (st = resolve_link(a, name, link_target(a, t, name), body, fresh)) != CS_OK)
            return st;
    }
    return CS_OK;
}

/* PATCH (pkey given) or POST; on success *out_pkey is the PKey written (new). */
static cs_status send_body(struct acs *a, const struct acs_target *t, const char *pkey, json_t *body,
                           struct cshttp_response *r, char **out_pkey)
{
    char *url = NULL, *text;
    json_t *doc;
    cs_status st;
    if (pkey)
        json_object_del(body, t->key); /* a custom key cannot be changed by PATCH; it is the same anyway */
    text = json_dumps(body, JSON_COMPACT);
    if (!text || asprintf(&url, pkey ? "%s/%s" : "%s", t->collection, pkey) < 0) {
        free(text);
        acs_fail(a, 0, "out of memory");
        return CS_RETRY;
    }
    a->host->metric_add(a->ctx, pkey ? "acs_update" : "acs_create", 1);
    st = acs_call(a, pkey ? "PATCH" : "POST", url, text, 0, r);
    free(url);
    free(text);
    if (st != CS_OK)
        return st;
    if (r->status == 204 && pkey) /* Campaign v8: an empty PATCH */
        return (*out_pkey = strdup(pkey)) ? CS_OK : CS_RETRY;
    if ((st = acs_classify(a, r, pkey ? "updating" : "creating")) != CS_OK)
        return st;
    doc = cshttp_response_json(r);
    *out_pkey = json_string_value(json_object_get(doc, "PKey")) ? strdup(json_string_value(json_object_get(doc, "PKey")))
                : pkey                                          ? strdup(pkey)
                                                                : NULL;
    json_decref(doc);
    if (!*out_pkey) {
        acs_fail(a, r->status, "creating: the answer carries no PKey");
        return CS_RETRY;
    }
    return CS_OK;
}

static cs_status upsert(struct acs *a, const struct acs_target *t, const cs_record *rec, const char *kvkey,
                        struct cached *c)
{
    json_t *body = acs_body_new(a, t, rec);
    struct cshttp_response r = {0};
    char hash[24], *written = NULL;
    cs_status st = CS_REJECT;
    if (!body || (st = add_record_links(a, t, rec, body)) != CS_OK)
        goto out;
    body_hash(body, hash);
    /* a full load or a replay writes even what crmsync wrote last: it also restores a field someone
     * changed in Campaign since */
    if (c->pkey && strcmp(c->hash, hash) == 0 && !cs_record_is_initial(rec)) {
        a->host->metric_add(a->ctx, "acs_unchanged", 1);
        st = CS_OK;
        goto out;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        json_t *send = json_deep_copy(body);
        if (!send) {
            st = CS_RETRY;
            break;
        }
        st = resolve_links(a, t, rec, send, attempt > 0);
        if (st == CS_OK && !c->pkey)
            st = lookup(a, t, cs_record_key(rec), &c->pkey);
        if (st == CS_OK)
            st = send_body(a, t, c->pkey, send, &r, &written);
        json_decref(send);
        if (st == CS_OK || attempt > 0 || !acs_is_stale_pkey(&r))
            break;
        /* Campaign no longer knows a PKey we sent: resolve this record and its links again */
        a->host->metric_add(a->ctx, "acs_stale_pkey", 1);
        a->host->log(a->ctx, CS_LOG_INFO, "%s key %s: a cached PKey is no longer valid; resolving it again",
                     t->stream, cs_record_key(rec));
        free(c->pkey);
        c->pkey = NULL;
    }
    if (st == CS_OK)
        st = cache_put(a, kvkey, hash, written);
out:
    free(written);
    cshttp_response_clear(&r);
    json_decref(body);
    return st;
}

static cs_status delete_by_key(struct acs *a, const struct acs_target *t, const char *key, const char *kvkey,
                               struct cached *c)
{
    struct cshttp_response r = {0};
    cs_status st = CS_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *url = NULL;
        if (!c->pkey && ((st = lookup(a, t, key, &c->pkey)) != CS_OK || !c->pkey))
            break; /* already gone: deleting is idempotent */
        if (asprintf(&url, "%s/%s", t->collection, c->pkey) < 0) {
            acs_fail(a, 0, "out of memory");
            st = CS_RETRY;
            break;
        }
        a->host->metric_add(a->ctx, "acs_delete", 1);
        st = acs_call(a, "DELETE", url, NULL, 0, &r);
        free(url);
        if (st == CS_OK && attempt == 0 && acs_is_stale_pkey(&r)) {
            a->host->metric_add(a->ctx, "acs_stale_pkey", 1);
            free(c->pkey);
            c->pkey = NULL;
            continue;
        }
        if (st == CS_OK && r.status != 404) /* 404: gone meanwhile, which is what a delete wants */
            st = acs_classify(a, &r, "deleting");
        break;
    }
    cshttp_response_clear(&r);
    return st == CS_OK ? cache_put(a, kvkey, NULL, NULL) : st;
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

static cs_status write_one(struct acs *a, const cs_record *rec)
{
    const struct acs_target *t = acs_target_find(a, cs_record_stream(rec));
    struct cached c = {0};
    char *kvkey;
    cs_status st;
    if (!t) {
        acs_fail(a, 0, "no Campaign resource is configured for target stream '%s': add it under resources of "
                       "this connection", cs_record_stream(rec));
        return CS_REJECT;
    }
    if (!(kvkey = kv_name(t, cs_record_key(rec)))) {
        acs_fail(a, 0, "out of memory");
        return CS_RETRY;
    }
    cache_get(a, kvkey, &c);
    st = cs_record_op(rec) == CS_OP_DELETE ? delete_by_key(a, t, cs_record_key(rec), kvkey, &c)
                                           : upsert(a, t, rec, kvkey, &c);
    /* only a record with links can have been held; a delete may end one that was */
    if ((t->links || json_object_get(rec, "links") || cs_record_op(rec) == CS_OP_DELETE) &&
        (st == CS_OK || st == CS_REJECT || (st == CS_RETRY && a->err_record_only)))
        track_held(a, t, cs_record_key(rec), st == CS_RETRY);
    free(c.pkey);
    free(kvkey);
    return st;
}

cs_status acs_write(void *inst, cs_record *const *records, size_t n)
{
    struct acs *a = inst;
    for (size_t i = 0; i < n; i++) {
        cs_status st = write_one(a, records[i]);
        if (st == CS_OK)
            continue;
        /* a record whose linked record is missing waits on its own; the service's trouble stops the batch */
        if (st == CS_REJECT || (st == CS_RETRY && a->err_record_only)) {
            a->host->set_result(a->ctx, i, st, (int)a->err_http, a->err_retry_ms, a->err);
            continue;
        }
        a->host->set_reason(a->ctx, (int)a->err_http, a->err_retry_ms, "%s", a->err);
        if (st == CS_RETRY)
            a->host->metric_add(a->ctx, "acs_retry", 1);
        return st;
    }
    return CS_OK;
}
